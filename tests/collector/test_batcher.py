"""When a batch is written, and which messages its write acknowledges."""

from __future__ import annotations

from collector.batcher import Batch, BatchLimits, Delivery, Entry

LIMITS = BatchLimits(max_points=10, max_messages=4, max_wait_s=1.0)


def entry(mid: int, points: int = 1, session: int = 1) -> Entry:
    return Entry(tuple(f"m{mid}p{i}" for i in range(points)), Delivery(mid, session))


def test_empty_batch_is_never_due():
    batch = Batch(LIMITS)
    assert not batch.is_due(now=1e9)
    assert batch.seconds_until_due(now=1e9) is None


def test_due_after_max_wait_from_the_first_entry():
    batch = Batch(LIMITS)
    batch.add(entry(1), now=100.0)
    batch.add(entry(2), now=100.9)
    assert not batch.is_due(100.99)
    assert batch.seconds_until_due(100.25) == 0.75
    assert batch.is_due(101.0)
    assert batch.seconds_until_due(101.5) == 0.0


def test_due_when_points_reach_max_points():
    batch = Batch(LIMITS)
    batch.add(entry(1, points=9), now=0)
    assert not batch.is_due(0)
    batch.add(entry(2, points=1), now=0)
    assert batch.is_due(0)
    assert batch.point_count == 10


def test_due_when_messages_reach_max_messages_even_without_points():
    """The broker sends no more than max_messages unacked: waiting would gain nothing."""
    batch = Batch(LIMITS)
    for mid in range(1, 4):
        batch.add(Entry((), Delivery(mid, 1)), now=0)
    assert not batch.is_due(0)
    batch.add(Entry((), Delivery(4, 1)), now=0)
    assert batch.is_due(0)


def test_own_points_are_not_messages_to_ack_but_still_fill_the_batch():
    batch = Batch(LIMITS)
    for _ in range(3):
        batch.add(Entry(("presence",)), now=0)
    assert (batch.message_count, batch.is_full(), batch.is_due(0)) == (0, False, False)
    batch.add(Entry(("presence",)), now=0)
    assert (batch.message_count, batch.is_full(), batch.is_due(0)) == (0, True, True)


def test_qos0_messages_fill_the_batch_like_any_other():
    """Nothing to ack, but memory all the same: a QoS 0 flood must not grow a batch."""
    batch = Batch(LIMITS)
    for _ in range(LIMITS.max_messages):
        assert not batch.is_full()
        batch.add(Entry(("qos0",)), now=0)
    assert batch.is_full() and batch.is_due(0)


def test_full_by_points_though_few_messages():
    batch = Batch(LIMITS)
    batch.add(entry(1, points=25), now=0)  # one message is never split
    assert batch.is_full() and batch.point_count == 25


def test_lines_and_acks_keep_the_order_received():
    batch = Batch(LIMITS)
    batch.add(entry(7, points=2), now=0)
    batch.add(Entry((), Delivery(3, 1)), now=0)  # refused: nothing to write, still acked
    batch.add(Entry(("presence",)), now=0)
    batch.add(entry(5), now=0)
    assert batch.lines == ["m7p0", "m7p1", "presence", "m5p0"]
    assert [d.mid for d in batch.deliveries(session=1)] == [7, 3, 5]


def test_deliveries_of_another_connection_are_not_acked():
    batch = Batch(LIMITS)
    batch.add(entry(1, session=1), now=0)
    batch.add(entry(1, session=3), now=0)
    assert batch.deliveries(session=3) == [Delivery(1, 3)]
    assert batch.deliveries(session=2) == []


def test_forgetting_earlier_sessions_keeps_own_points_and_recounts():
    batch = Batch(LIMITS)
    batch.add(entry(1, points=3, session=1), now=5.0)
    batch.add(Entry(("presence",)), now=5.0)
    batch.add(entry(2, points=2, session=3), now=5.0)
    assert batch.forget_sessions_before(3) == 1
    assert batch.lines == ["presence", "m2p0", "m2p1"]
    assert (batch.point_count, batch.message_count, len(batch)) == (3, 1, 2)
    assert batch.seconds_until_due(5.5) == 0.5  # keeps its age


def test_forgetting_everything_empties_the_batch():
    batch = Batch(LIMITS)
    batch.add(entry(1), now=0)
    assert batch.forget_sessions_before(2) == 1
    assert len(batch) == 0
    assert batch.seconds_until_due(100) is None

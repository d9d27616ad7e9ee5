"""Gathers received messages into one store write, and says when that write is due.

A message is acknowledged to the broker only after the write holding its points has
succeeded, so a batch keeps each message's delivery (its MQTT packet id) beside its
points, in the order the broker sent them: acknowledgements go back in that order.

No I/O and no clock of its own: the caller passes `now` (monotonic seconds).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Delivery:
    """A QoS 1 message the broker is waiting for us to acknowledge.

    `session` counts the connections to the broker: a packet id means something only on
    the connection it came in on, so a delivery from an earlier one is never acked."""

    mid: int
    session: int


@dataclass(frozen=True)
class Entry:
    """The lines one message became (none when refused or ignored) and who to ack.
    Lines the collector makes itself (presence) have no delivery."""

    lines: tuple[str, ...]
    delivery: Delivery | None = None


@dataclass(frozen=True)
class BatchLimits:
    """What one store write carries at most (a message's points are never split, so a
    batch may pass max_points by one message's worth). max_messages is also the MQTT
    Receive Maximum we announce: a broker that keeps to it hands us no more unacknowledged
    messages than that, so a batch holding that many has to be written now rather than
    wait for messages that cannot come."""

    max_points: int = 5000
    max_messages: int = 1000
    max_wait_s: float = 1.0


class Batch:
    """Entries waiting for one store write."""

    def __init__(self, limits: BatchLimits):
        self.limits = limits
        self.entries: list[Entry] = []
        self.point_count = 0
        self.message_count = 0
        self._opened_at: float | None = None

    def add(self, entry: Entry, now: float) -> None:
        if self._opened_at is None:
            self._opened_at = now
        self.entries.append(entry)
        self.point_count += len(entry.lines)
        self.message_count += entry.delivery is not None

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def lines(self) -> list[str]:
        return [line for entry in self.entries for line in entry.lines]

    def deliveries(self, session: int) -> list[Delivery]:
        """What to acknowledge on connection `session`, in the order received."""
        return [
            entry.delivery
            for entry in self.entries
            if entry.delivery is not None and entry.delivery.session == session
        ]

    def is_full(self) -> bool:
        """Take nothing more into this batch. Every entry counts here, QoS 0 and our own
        included: this bounds the memory a batch holds, whatever the broker sends."""
        return len(self.entries) >= self.limits.max_messages or self.point_count >= self.limits.max_points

    def is_due(self, now: float) -> bool:
        if not self.entries:
            return False
        return self.is_full() or now - self._opened_at >= self.limits.max_wait_s

    def seconds_until_due(self, now: float) -> float | None:
        """None when empty: nothing will become due without a new entry."""
        if not self.entries:
            return None
        if self.is_due(now):
            return 0.0
        return self._opened_at + self.limits.max_wait_s - now

    def forget_sessions_before(self, session: int) -> int:
        """Drops the entries delivered on connections before `session`; returns how many.

        Used when the broker kept our session across a reconnect: it sends every message
        we did not ack again, so keeping the old copies would only write them twice and
        hold twice the memory while the store is down."""
        kept = [e for e in self.entries if e.delivery is None or e.delivery.session >= session]
        dropped = len(self.entries) - len(kept)
        self.entries = kept
        self.point_count = sum(len(entry.lines) for entry in kept)
        self.message_count = sum(entry.delivery is not None for entry in kept)
        if not kept:
            self._opened_at = None
        return dropped

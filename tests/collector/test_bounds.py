"""However much the broker sends at once, the collector holds a bounded number of messages
and writes batches no larger than its limits.

mosquitto 2.0.11 does not keep to the Receive Maximum we announce: once a resumed session
has had its first acks, the broker sends everything it holds for us (bench/README.md).
These tests let that happen for real, with backlogs many times the collector's bound, and
count what the collector held and wrote at once.
"""

from __future__ import annotations

import time

from collector.metrics import Metrics
from collector.service import INBOX_BATCHES
from schoolnet_stack.processes import InProcessCollector, scrape, write_collector_config
from tests.collector.running import (
    Publisher,
    distinct_timestamps,
    samples_by_series,
    traffic,
)

WINDOW = 50  # batch.max_messages, also the Receive Maximum we announce
HELD_AT_MOST = WINDOW + WINDOW + INBOX_BATCHES * WINDOW
"""The batch being written, the filling batch and the inbox."""
SCHOOLS, PER_SCHOOL = 20, 150
BACKLOG = SCHOOLS * PER_SCHOOL  # 3,000 messages: 15 times the bound
CPU = 'schoolnet_health_cpu_pct{school=~"hx-school-.*"}'
NO_PRESENCE = {"silent_after_s": 7200, "report_every_s": 3600}  # so every line written is a message's


class Watched(Metrics):
    """The collector's counters, and the most it held and wrote at once."""

    def __init__(self) -> None:
        super().__init__()
        self.most_held = 0
        self.largest_write = 0
        self.writes = 0

    def set_pending(self, messages: int) -> None:
        self.most_held = max(self.most_held, messages)
        super().set_pending(messages)

    def wrote(self, points: int, seconds: float) -> None:
        self.largest_write = max(self.largest_write, points)
        self.writes += 1
        super().wrote(points, seconds)


def collector_config(tmp_path, mosquitto, victoria_metrics, client_id: str, **broker):
    return write_collector_config(tmp_path, mosquitto.port, victoria_metrics.url, client_id, broker=broker,
                                  batch={"max_messages": WINDOW}, presence=NO_PRESENCE)  # fmt: skip


def queue_backlog(config, mosquitto, count_per_school: int, start_ms: int) -> None:
    """Subscribes the collector's session once, then queues messages for it while it is away."""
    with InProcessCollector(config):
        pass
    publisher = Publisher(mosquitto.port)
    publisher.publish(traffic(SCHOOLS, count_per_school, start_ms))
    publisher.close()


def test_a_resumed_backlog_is_written_in_batches_within_the_limits(tmp_path, mosquitto, victoria_metrics):
    start_ms = int(time.time() * 1000) - 600_000
    config = collector_config(tmp_path, mosquitto, victoria_metrics, "c-backlog")
    queue_backlog(config, mosquitto, PER_SCHOOL, start_ms)
    watched = Watched()
    with InProcessCollector(config, watched) as running:
        victoria_metrics.wait_for(lambda: distinct_timestamps(victoria_metrics, CPU) == BACKLOG, timeout=60)
        victoria_metrics.wait_for(lambda: scrape(running.port).get("schoolnet_collector_pending_messages") == 0)

    assert watched.largest_write <= WINDOW  # one health message is one point
    assert watched.writes >= BACKLOG // WINDOW
    assert watched.most_held <= HELD_AT_MOST
    for by_ts in samples_by_series(victoria_metrics, CPU).values():
        assert by_ts == {start_ms + i: {float(i % 100)} for i in range(PER_SCHOOL)}


def test_store_outage_under_a_flood_holds_the_bound_and_a_keepalive_drop_loses_nothing(
    tmp_path, mosquitto, victoria_metrics, caplog
):
    """The store goes away while the broker floods us with a resumed backlog: the collector
    holds its bound, paho's thread waits on the full inbox and sends no PINGREQ, and after
    1.5 x keepalive the broker closes the connection. Once the store is back everything
    arrives, once per timestamp with its value."""
    keepalive_s, per_school = 5, 1000  # 20,000 messages: the store stops long before they are written
    start_ms = int(time.time() * 1000) - 600_000
    config = collector_config(tmp_path, mosquitto, victoria_metrics, "c-flood", keepalive_s=keepalive_s)
    queue_backlog(config, mosquitto, per_school, start_ms)
    watched = Watched()
    with InProcessCollector(config, watched) as running:
        victoria_metrics.wait_for(lambda: scrape(running.port).get("schoolnet_collector_written_points_total"))
        victoria_metrics.stop()
        held = victoria_metrics.wait_for(lambda: _stuck_at(running.port, HELD_AT_MOST), timeout=60)
        received = scrape(running.port)["schoolnet_collector_received_total"]
        mosquitto.wait_for(lambda: "Client c-flood has exceeded timeout" in mosquitto.log_path.read_text("utf-8", "replace"),
                           timeout=1.5 * keepalive_s + 15)  # the broker gives up on us meanwhile
        during_outage = scrape(running.port)
        victoria_metrics.start()
        victoria_metrics.wait_for(lambda: distinct_timestamps(victoria_metrics, CPU) == SCHOOLS * per_school,
                                  timeout=120)  # fmt: skip

    assert held == HELD_AT_MOST
    assert during_outage["schoolnet_collector_received_total"] == received, "took more while the store was down"
    assert watched.most_held <= HELD_AT_MOST
    assert watched.largest_write <= WINDOW
    dropped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("disconnected from")]
    assert dropped, "the broker did not give up on us: the keepalive case was not tested"
    for by_ts in samples_by_series(victoria_metrics, CPU).values():
        assert by_ts == {start_ms + i: {float(i % 100)} for i in range(per_school)}


def _stuck_at(port: int, bound: int) -> float | None:
    pending = scrape(port).get("schoolnet_collector_pending_messages")
    return pending if pending == bound else None

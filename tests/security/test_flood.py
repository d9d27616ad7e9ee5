"""One school floods its topics (a broken or hostile agent) while 20 others publish as
usual: every message of the 20 is stored, none lost, and each shows in the store within a
generous bound after it was published. A correctness check, not a benchmark; the figures
are printed (pytest -s) for the record.

The flood: 2000 valid results in one burst plus 500 messages that are not JSON, against
20 schools sending 4 results a second each for 5 seconds (400 in all).
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass, field

import pytest

from schoolnet_core import contract
from schoolnet_stack.processes import InProcessCollector, scrape, write_collector_config
from schoolnet_stack.servers import wait_until
from tests.collector.running import COUNTY, Publisher, health_message, school_id

pytestmark = pytest.mark.servers

SCHOOLS, ROUNDS, ROUND_S = 20, 20, 0.25
FLOOD, JUNK = 2000, 500
FLOODER = "hx-flood-01"
LATENCY_BOUND_S = 10.0


@dataclass
class Timeline:
    """When each normal result was published and when it was first seen in the store."""

    published: dict[tuple[str, int], float] = field(default_factory=dict)
    seen: dict[tuple[str, int], float] = field(default_factory=dict)
    flood_stored_at: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def latencies(self) -> list[float]:
        return [self.seen[key] - self.published[key] for key in self.published]


def publish_normally(port: int, start_ms: int, timeline: Timeline) -> None:
    """Each school on its own connection, one result per school every ROUND_S."""
    clients = {school_id(n): Publisher(port, client_id=f"agent-{COUNTY}-{school_id(n)}") for n in range(SCHOOLS)}
    sent = []
    try:
        started = time.monotonic()
        for round_number in range(ROUNDS):
            time.sleep(max(0.0, started + round_number * ROUND_S - time.monotonic()))
            for school, client in clients.items():
                topic, payload = health_message(school, start_ms + round_number, cpu_pct=float(round_number))
                with timeline.lock:
                    timeline.published[(school, start_ms + round_number)] = time.time()
                sent.append(client.client.publish(topic, payload, qos=1))
        for info in sent:  # every PUBACK, before the connections close
            info.wait_for_publish(timeout=30)
    finally:
        for client in clients.values():
            client.close()


def flood(port: int, start_ms: int) -> None:
    client = Publisher(port, client_id=f"agent-{COUNTY}-{FLOODER}")
    try:
        junk = [(contract.topic(COUNTY, FLOODER, "health"), b"\x00not json %d" % n) for n in range(JUNK)]
        valid = [health_message(FLOODER, start_ms + n) for n in range(FLOOD)]
        client.publish(valid[:1000] + junk + valid[1000:])  # a burst: no pause, every PUBACK awaited
    finally:
        client.close()


def watch_store(victoria_metrics, timeline: Timeline, done: threading.Event) -> None:
    """Polls the store and notes when each normal result first shows, and when the last
    of the flood's valid results does."""
    while not done.is_set():
        rows = victoria_metrics.export(f'schoolnet_health_cpu_pct{{school=~"hx-school-.*|{FLOODER}"}}')
        now = time.time()
        with timeline.lock:
            for row in rows:
                if row["metric"]["school"] == FLOODER:
                    if len(set(row["timestamps"])) == FLOOD and timeline.flood_stored_at is None:
                        timeline.flood_stored_at = now
                    continue
                for ts in row["timestamps"]:
                    timeline.seen.setdefault((row["metric"]["school"], ts), now)
            if len(timeline.seen) >= SCHOOLS * ROUNDS and timeline.flood_stored_at:
                return
        time.sleep(0.1)


def test_a_flooding_school_does_not_cost_the_others_a_message(mosquitto, victoria_metrics, tmp_path):
    config = write_collector_config(tmp_path, mosquitto.port, victoria_metrics.url, "flood-collector")
    start_ms = int(time.time() * 1000) - 60_000
    timeline, done = Timeline(), threading.Event()
    with InProcessCollector(config) as collector:
        watcher = threading.Thread(target=watch_store, args=(victoria_metrics, timeline, done), daemon=True)
        normal = threading.Thread(target=publish_normally, args=(mosquitto.port, start_ms, timeline), daemon=True)
        watcher.start()
        normal.start()
        wait_until(lambda: len(timeline.published) >= SCHOOLS * 4, timeout=30,
                   what="four rounds of normal traffic: the flood starts a second into it")
        flood_started = time.time()
        flood(mosquitto.port, start_ms)
        flood_published_s = time.time() - flood_started
        normal.join(30)
        watcher.join(30)
        done.set()
        counted = scrape(collector.port)

    assert len(timeline.published) == SCHOOLS * ROUNDS
    missing = sorted(set(timeline.published) - set(timeline.seen))
    assert missing == [], f"{len(missing)} results of the other schools never reached the store: {missing[:5]}"
    latencies = timeline.latencies()
    assert max(latencies) < LATENCY_BOUND_S, f"slowest result took {max(latencies):.1f} s to show"
    assert timeline.flood_stored_at is not None, "the flood's valid results are stored too"
    assert _stored(victoria_metrics, FLOODER) == FLOOD
    assert counted['schoolnet_collector_deadlettered_total{reason="bad_json"}'] == JUNK
    print(f"\nflood: {FLOOD} valid + {JUNK} junk published in {flood_published_s:.2f} s, all valid ones "
          f"stored {timeline.flood_stored_at - flood_started:.2f} s after the flood began; {SCHOOLS} schools "
          f"x {ROUNDS} results, publish-to-visible latency median {statistics.median(latencies):.2f} s, "
          f"p95 {statistics.quantiles(latencies, n=20)[-1]:.2f} s, max {max(latencies):.2f} s")


def _stored(victoria_metrics, school: str) -> int:
    rows = victoria_metrics.export(f'schoolnet_health_cpu_pct{{school="{school}"}}')
    return sum(len(set(row["timestamps"])) for row in rows)

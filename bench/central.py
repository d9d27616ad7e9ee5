"""The central side as the benchmarks run it: real collector processes
(schoolnet_stack.processes.CollectorProcess) against the stack's mosquitto and
VictoriaMetrics, a way to fill a broker queue quickly, and a way to give a store every
series of a county before it is measured.

A collector here is `python -m collector.cli run -c FILE`, exactly what systemd starts,
with its config written from the example's batch and store settings; the benchmark reads
its /metrics (received, written, pending) as county IT's monitoring would.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from pathlib import Path

import paho.mqtt.client as mqtt

from bench import schools
from schoolnet_stack.processes import write_collector_config
from schoolnet_stack.servers import VictoriaMetrics

EXAMPLE_BATCH = {"max_points": 5000, "max_messages": 1000, "max_wait_s": 1.0}
EXAMPLE_STORE_TIMINGS = {"timeout_s": 10, "retry_max_s": 30}
"""collector/example-config.yaml's batch and store settings: what a county deploys."""


def collector_config(folder: Path, client_id: str, group: str, broker_port: int, store_url: str,
                     **sections: dict) -> Path:
    """A collector config for the benchmark's servers: the stack's, with the example's batch
    and store settings and the benchmark's group."""
    config = {"broker": {"group": group, "keepalive_s": 30}, "store": dict(EXAMPLE_STORE_TIMINGS),
              "batch": dict(EXAMPLE_BATCH)}
    for section, values in sections.items():
        config.setdefault(section, {}).update(values)
    return write_collector_config(folder, broker_port, store_url, client_id, **config)


RECEIVED = "schoolnet_collector_received_total"
WRITTEN = "schoolnet_collector_written_points_total"
PENDING = "schoolnet_collector_pending_messages"


def store_every_series(store: VictoriaMetrics, school_count: int, per_request: int = 500) -> None:
    """One sample of each series of every school, an hour back, written straight into the
    store. A county's series exist long before any backlog or load test, and
    VictoriaMetrics is far slower at a series' first sample (it indexes the series; about
    6,500 new series/s on the 2-core test machine) than at the next ones."""
    ts = int(time.time() * 1000) - 3_600_000
    for first in range(0, school_count, per_request):
        numbers = range(first, min(school_count, first + per_request))
        store.write_lines("\n".join(schools.series_lines(number, ts) for number in numbers))


def publish_all(port: int, messages: Iterable[tuple[str, bytes]], qos: int = 1, window: int = 5000) -> int:
    """Publishes every message and returns once the broker acknowledged them all.

    At most `window` wait for their PUBACK at once: paho numbers messages 1-65535 and a
    larger backlog of its own would reuse numbers still waiting (and lose their acks)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-filler-{time.monotonic_ns()}",
                         protocol=mqtt.MQTTv5)  # fmt: skip
    client.max_inflight_messages_set(min(window, 1000))
    free = threading.Semaphore(window)
    client.on_publish = lambda *args: free.release()
    client.connect("127.0.0.1", port)
    client.loop_start()
    sent = 0
    try:
        for topic, payload in messages:
            _take_slot(free, sent)
            client.publish(topic, payload, qos=qos)
            sent += 1
        for _ in range(window):
            _take_slot(free, sent)
    finally:
        client.disconnect()
        client.loop_stop()
    return sent


def _take_slot(free: threading.Semaphore, sent: int) -> None:
    if not free.acquire(timeout=60):
        raise RuntimeError(f"the broker stopped acknowledging after {sent} messages")

"""Writes beside intake: while the store takes its time over one batch, the worker goes on
checking the next messages; that batch's messages are acked only after the store's 2xx.

The store is the real VictoriaMetrics behind a relay that holds a write until the test
lets it go, so "while the write is in flight" is a state the test controls, not a race.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from schoolnet_core import contract
from schoolnet_stack.processes import InProcessCollector, scrape, write_collector_config
from schoolnet_stack.servers import LOOPBACK
from tests.collector.running import (
    COUNTY,
    Publisher,
    distinct_timestamps,
    health_message,
)

HELD = 20
"""Health messages published first; the write holding (some of) them is kept waiting."""
WINDOW = 50
"""batch.max_messages, also our Receive Maximum: the broker sends no more unacked messages
than this, so it must leave room beyond HELD for the refused ones to reach us."""
CPU = 'schoolnet_health_cpu_pct{school="hx-held"}'


class HeldStore:
    """An HTTP relay to VictoriaMetrics that holds every write until release()."""

    def __init__(self, target: str):
        self.target = target
        self.released = threading.Event()
        self.arrived = threading.Semaphore(0)
        self.answers: list[int] = []
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                relay.arrived.release()
                relay.released.wait(60)
                request = urllib.request.Request(relay.target + self.path, data=body, method="POST")
                request.add_header("Content-Type", self.headers.get("Content-Type", "text/plain"))
                with urllib.request.urlopen(request, timeout=30) as answer:
                    status = answer.status
                relay.answers.append(status)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.url = f"http://{LOOPBACK}:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


def test_the_worker_checks_the_next_batch_while_a_write_is_in_flight(tmp_path, mosquitto, victoria_metrics):
    store = HeldStore(victoria_metrics.url)
    config = write_collector_config(tmp_path, mosquitto.port, victoria_metrics.url, "c-beside",
                                    store={"url": store.url, "timeout_s": 60}, batch={"max_messages": WINDOW, "max_wait_s": 0.2})  # fmt: skip
    start_ms = int(time.time() * 1000) - 600_000
    try:
        with InProcessCollector(config) as running:
            publisher = Publisher(mosquitto.port)
            publisher.publish([health_message("hx-held", start_ms + i) for i in range(HELD)])
            assert store.arrived.acquire(timeout=30), "the first batch never reached the store"

            # The write is held: refused messages are still checked and dead-lettered ...
            bad = [(contract.topic(COUNTY, f"hx-bad-{i}", "health"), b"{not json") for i in range(10)]
            publisher.publish(bad)
            victoria_metrics.wait_for(lambda: scrape(running.port).get('schoolnet_collector_deadlettered_total{reason="bad_json"}') == 10)
            # ... and nothing of the held batch is stored or acked yet.
            metrics = scrape(running.port)
            assert metrics["schoolnet_collector_pending_messages"] >= HELD
            assert metrics["schoolnet_collector_store_errors_total"] == 0  # still the first attempt
            assert store.answers == []
            assert metrics["schoolnet_collector_written_points_total"] == 0
            assert distinct_timestamps(victoria_metrics, CPU) == 0

            store.released.set()
            victoria_metrics.wait_for(lambda: distinct_timestamps(victoria_metrics, CPU) == HELD)
            victoria_metrics.wait_for(lambda: scrape(running.port)["schoolnet_collector_pending_messages"] == 0)
            publisher.close()
        assert store.answers and set(store.answers) == {204}
    finally:
        store.close()

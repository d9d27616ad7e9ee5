"""The collector's own numbers, for Prometheus/vmagent (/metrics) and for systemd or a
load balancer (/healthz). Written by hand: a dozen series do not need prometheus_client.

Counting (Metrics) is apart from the text format (exposition, health: pure functions of
a Snapshot) and from HTTP (MetricsServer), so each can be tested alone.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

log = logging.getLogger(__name__)

PREFIX = "schoolnet_collector_"
BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds (seconds) of the store-write histogram: a healthy local VictoriaMetrics
takes milliseconds, a struggling one seconds."""


@dataclass(frozen=True)
class Snapshot:
    received: int = 0
    written_points: int = 0
    deadlettered: tuple[tuple[str, int], ...] = ()
    ignored: int = 0
    dropped: int = 0
    store_errors: int = 0
    batch_bucket_counts: tuple[int, ...] = (0,) * len(BATCH_BUCKETS)
    batch_seconds_sum: float = 0.0
    batch_count: int = 0
    pending_messages: int = 0
    last_write_age_s: float = 0.0
    broker_connected: bool = False
    subscribed: bool = False
    store_error: str | None = None
    """The last store error while writes are failing; None once a write succeeds."""


@dataclass(frozen=True)
class Health:
    ok: bool
    reason: str


def health(snapshot: Snapshot) -> Health:
    """Healthy when connected to the broker, subscribed, and the last store write worked
    (or nothing has needed writing yet)."""
    if not snapshot.broker_connected:
        return Health(False, "broker not connected / 未连接消息服务器")
    if not snapshot.subscribed:
        return Health(False, "not subscribed yet, or refused by the broker's ACL / 未订阅")
    if snapshot.store_error is not None:
        return Health(False, f"store writes failing / 写入存储失败: {snapshot.store_error}")
    return Health(True, "ok")


def exposition(snapshot: Snapshot) -> str:
    """Prometheus text format 0.0.4."""
    s = snapshot
    lines: list[str] = []
    _counter(lines, "received_total", "MQTT messages received.", [((), s.received)])
    _counter(lines, "written_points_total", "Points the store confirmed.", [((), s.written_points)])
    _counter(
        lines,
        "deadlettered_total",
        "Messages refused, by reason.",
        [((("reason", reason),), count) for reason, count in s.deadlettered],
    )
    _counter(lines, "ignored_total", "Messages acked but not stored (cmd topics).", [((), s.ignored)])
    _counter(lines, "dropped_total", "QoS 0 messages dropped because the inbox was full (store slow or down).", [((), s.dropped)])
    _counter(lines, "store_errors_total", "Failed store writes (each retry counts).", [((), s.store_errors)])
    _histogram(lines, "batch_seconds", "Time of each successful store write.", s)
    _gauge(lines, "pending_messages", "Messages received but not yet acked.", s.pending_messages)
    _gauge(
        lines,
        "last_write_age_seconds",
        "Seconds since the last successful store write (since start before the first).",
        s.last_write_age_s,
    )
    _gauge(lines, "broker_connected", "1 while connected to the MQTT broker.", int(s.broker_connected))
    return "\n".join(lines) + "\n"


def _counter(lines: list[str], name: str, help_text: str, samples) -> None:
    _header(lines, name, help_text, "counter")
    lines.extend(f"{PREFIX}{name}{_labels(labels)} {_value(value)}" for labels, value in samples)


def _gauge(lines: list[str], name: str, help_text: str, value: float) -> None:
    _header(lines, name, help_text, "gauge")
    lines.append(f"{PREFIX}{name} {_value(value)}")


def _histogram(lines: list[str], name: str, help_text: str, s: Snapshot) -> None:
    _header(lines, name, help_text, "histogram")
    for bound, count in zip(BATCH_BUCKETS + (math.inf,), s.batch_bucket_counts + (s.batch_count,)):
        lines.append(f"{PREFIX}{name}_bucket{_labels((('le', _value(bound)),))} {count}")
    lines.append(f"{PREFIX}{name}_sum {_value(s.batch_seconds_sum)}")
    lines.append(f"{PREFIX}{name}_count {s.batch_count}")


def _header(lines: list[str], name: str, help_text: str, kind: str) -> None:
    lines.append(f"# HELP {PREFIX}{name} {help_text}")
    lines.append(f"# TYPE {PREFIX}{name} {kind}")


def _labels(labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{_escape(value)}"' for key, value in labels) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _value(value: float) -> str:
    if value == math.inf:
        return "+Inf"
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return repr(float(value))


@dataclass
class _Counts:
    received: int = 0
    written_points: int = 0
    deadlettered: dict[str, int] = field(default_factory=dict)
    ignored: int = 0
    dropped: int = 0
    store_errors: int = 0
    batch_bucket_counts: list[int] = field(default_factory=lambda: [0] * len(BATCH_BUCKETS))
    batch_seconds_sum: float = 0.0
    batch_count: int = 0
    pending_messages: int = 0
    broker_connected: bool = False
    subscribed: bool = False
    store_error: str | None = None


class Metrics:
    """Thread-safe counters: paho's thread, the worker and the HTTP server all touch them."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._counts = _Counts()
        self._last_write_at = clock()

    def received(self, count: int = 1) -> None:
        with self._lock:
            self._counts.received += count

    def ignored(self) -> None:
        with self._lock:
            self._counts.ignored += 1

    def dropped(self, count: int = 1) -> None:
        with self._lock:
            self._counts.dropped += count

    def deadlettered(self, reason: str) -> None:
        with self._lock:
            by_reason = self._counts.deadlettered
            by_reason[reason] = by_reason.get(reason, 0) + 1

    def wrote(self, points: int, seconds: float) -> None:
        with self._lock:
            c = self._counts
            c.written_points += points
            c.batch_count += 1
            c.batch_seconds_sum += seconds
            for index, bound in enumerate(BATCH_BUCKETS):
                c.batch_bucket_counts[index] += seconds <= bound
            c.store_error = None
            self._last_write_at = self._clock()

    def store_failed(self, error: str) -> None:
        with self._lock:
            self._counts.store_errors += 1
            self._counts.store_error = error

    def nothing_to_write(self) -> None:
        """A batch with no points (only refused or ignored messages) counts as success."""
        with self._lock:
            self._counts.store_error = None

    def set_pending(self, messages: int) -> None:
        with self._lock:
            self._counts.pending_messages = messages

    def set_connected(self, connected: bool) -> None:
        """Each new connection has to subscribe again before it is of use."""
        with self._lock:
            self._counts.broker_connected = connected
            self._counts.subscribed = False

    def set_subscribed(self, subscribed: bool) -> None:
        with self._lock:
            self._counts.subscribed = subscribed

    def snapshot(self) -> Snapshot:
        with self._lock:
            c = self._counts
            return Snapshot(
                received=c.received,
                written_points=c.written_points,
                deadlettered=tuple(sorted(c.deadlettered.items())),
                ignored=c.ignored,
                dropped=c.dropped,
                store_errors=c.store_errors,
                batch_bucket_counts=tuple(c.batch_bucket_counts),
                batch_seconds_sum=c.batch_seconds_sum,
                batch_count=c.batch_count,
                pending_messages=c.pending_messages,
                last_write_age_s=max(0.0, self._clock() - self._last_write_at),
                broker_connected=c.broker_connected,
                subscribed=c.subscribed,
                store_error=c.store_error,
            )


class MetricsServer:
    """/metrics and /healthz over HTTP, in a daemon thread."""

    def __init__(self, metrics: Metrics, host: str, port: int):
        handler = type("Handler", (_Handler,), {"metrics": metrics})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics-http", daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()  # waits for serve_forever: only when it runs
        self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    metrics: Metrics

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._reply(200, exposition(self.metrics.snapshot()), "text/plain; version=0.0.4")
        elif path == "/healthz":
            verdict = health(self.metrics.snapshot())
            self._reply(200 if verdict.ok else 503, verdict.reason + "\n", "text/plain")
        else:
            self._reply(404, "not found: try /metrics or /healthz\n", "text/plain")

    def _reply(self, status: int, text: str, content_type: str) -> None:
        body = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:
        log.debug("http: " + format, *args)

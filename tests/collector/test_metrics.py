"""The collector's /metrics text and /healthz verdicts, without the collector."""

from __future__ import annotations

import urllib.error
import urllib.request

from collector.metrics import (
    Health,
    Metrics,
    MetricsServer,
    Snapshot,
    exposition,
    health,
)


class FakeClock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def samples(text: str) -> dict[str, str]:
    """Sample lines as name{labels} -> value, comments left out."""
    pairs = (line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return dict(pairs)


def test_counters_and_histogram_as_prometheus_text():
    clock = FakeClock()
    metrics = Metrics(clock)
    for _ in range(3):
        metrics.received()
    metrics.deadlettered("bad_json")
    metrics.deadlettered("bad_json")
    metrics.deadlettered("ts_future")
    metrics.ignored()
    metrics.dropped()
    metrics.dropped()
    metrics.store_failed("refused")
    metrics.wrote(points=40, seconds=0.02)
    metrics.wrote(points=2, seconds=3.0)
    metrics.set_pending(7)
    metrics.set_connected(True)
    clock.now += 12.5
    text = exposition(metrics.snapshot())
    assert samples(text) == {
        "schoolnet_collector_received_total": "3",
        "schoolnet_collector_written_points_total": "42",
        'schoolnet_collector_deadlettered_total{reason="bad_json"}': "2",
        'schoolnet_collector_deadlettered_total{reason="ts_future"}': "1",
        "schoolnet_collector_ignored_total": "1",
        "schoolnet_collector_dropped_total": "2",
        "schoolnet_collector_store_errors_total": "1",
        'schoolnet_collector_batch_seconds_bucket{le="0.005"}': "0",
        'schoolnet_collector_batch_seconds_bucket{le="0.01"}': "0",
        'schoolnet_collector_batch_seconds_bucket{le="0.025"}': "1",
        'schoolnet_collector_batch_seconds_bucket{le="0.05"}': "1",
        'schoolnet_collector_batch_seconds_bucket{le="0.1"}': "1",
        'schoolnet_collector_batch_seconds_bucket{le="0.25"}': "1",
        'schoolnet_collector_batch_seconds_bucket{le="0.5"}': "1",
        'schoolnet_collector_batch_seconds_bucket{le="1"}': "1",
        'schoolnet_collector_batch_seconds_bucket{le="2.5"}': "1",
        'schoolnet_collector_batch_seconds_bucket{le="5"}': "2",
        'schoolnet_collector_batch_seconds_bucket{le="10"}': "2",
        'schoolnet_collector_batch_seconds_bucket{le="+Inf"}': "2",
        "schoolnet_collector_batch_seconds_sum": "3.02",
        "schoolnet_collector_batch_seconds_count": "2",
        "schoolnet_collector_pending_messages": "7",
        "schoolnet_collector_last_write_age_seconds": "12.5",
        "schoolnet_collector_broker_connected": "1",
    }
    assert "# TYPE schoolnet_collector_batch_seconds histogram" in text
    assert "# TYPE schoolnet_collector_received_total counter" in text
    assert "# TYPE schoolnet_collector_pending_messages gauge" in text
    assert text.endswith("\n")


def test_every_series_has_help_and_type():
    text = exposition(Snapshot())
    names = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
    helps = {line.split()[2] for line in text.splitlines() if line.startswith("# HELP")}
    assert names == helps
    assert len(names) == 10


def test_label_values_are_escaped():
    text = exposition(Snapshot(deadlettered=(('we"ird\\\n', 1),)))
    assert 'schoolnet_collector_deadlettered_total{reason="we\\"ird\\\\\\n"} 1' in text


def test_last_write_age_counts_from_start_until_the_first_write():
    clock = FakeClock(50.0)
    metrics = Metrics(clock)
    clock.now = 80.0
    assert metrics.snapshot().last_write_age_s == 30.0
    metrics.wrote(points=1, seconds=0.001)
    clock.now = 81.0
    assert metrics.snapshot().last_write_age_s == 1.0


def test_health_needs_the_broker_the_subscription_and_working_writes():
    assert health(Snapshot(broker_connected=True, subscribed=True)) == Health(True, "ok")
    down = health(Snapshot(broker_connected=False))
    assert not down.ok and "broker not connected" in down.reason
    unsubscribed = health(Snapshot(broker_connected=True, subscribed=False))
    assert not unsubscribed.ok and "not subscribed" in unsubscribed.reason
    failing = health(Snapshot(broker_connected=True, subscribed=True, store_error="HTTP 503: busy"))
    assert not failing.ok and failing.reason.endswith("HTTP 503: busy")


def test_a_new_connection_is_unsubscribed_until_the_broker_says_so():
    metrics = Metrics(FakeClock())
    metrics.set_connected(True)
    metrics.set_subscribed(True)
    metrics.set_connected(False)
    metrics.set_connected(True)
    assert not metrics.snapshot().subscribed


def test_a_good_write_or_nothing_to_write_clears_the_store_error():
    metrics = Metrics(FakeClock())
    metrics.set_connected(True)
    metrics.set_subscribed(True)
    metrics.store_failed("refused")
    assert not health(metrics.snapshot()).ok
    metrics.wrote(points=1, seconds=0.01)
    assert health(metrics.snapshot()).ok
    metrics.store_failed("refused")
    metrics.nothing_to_write()
    assert health(metrics.snapshot()).ok


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, reply.headers["Content-Type"], reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def test_http_server_serves_metrics_and_health():
    metrics = Metrics(FakeClock())
    server = MetricsServer(metrics, "127.0.0.1", 0)
    server.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        metrics.received()
        status, content_type, body = _get(base + "/metrics")
        assert (status, content_type) == (200, "text/plain; version=0.0.4; charset=utf-8")
        assert samples(body)["schoolnet_collector_received_total"] == "1"

        status, _, body = _get(base + "/healthz")
        assert (status, body) == (503, "broker not connected / 未连接消息服务器\n")
        metrics.set_connected(True)
        metrics.set_subscribed(True)
        assert _get(base + "/healthz")[::2] == (200, "ok\n")

        assert _get(base + "/nothing")[0] == 404
    finally:
        server.stop()

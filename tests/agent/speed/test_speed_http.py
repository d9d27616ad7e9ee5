"""http backend: endpoint and warm-up arithmetic (pure), then the LibreSpeed-style peer on loopback."""

from __future__ import annotations

import pytest

from agent.probes.speed_http import (
    CHUNK_MIB,
    PINGS,
    Endpoint,
    parse_endpoint,
    rate_after_warmup,
    run,
)
from agent.probes.speed_test import SpeedTestSettings
from schoolnet_stack.peers.speed_http_server import LibreSpeedHandler, SpeedHttpServer
from schoolnet_stack.peers.speedtest_server import SpeedtestServer


def settings(server: str, **changes) -> SpeedTestSettings:
    values = {"duration_s": 1, "streams": 2, "connect_timeout_s": 2.0}
    values.update(changes)
    return SpeedTestSettings("http", server, **values)


@pytest.fixture
def endpoint():
    peer = SpeedHttpServer().start()
    yield peer
    peer.stop()


@pytest.mark.parametrize(
    "server, expected",
    [
        ("http://10.0.0.5:8080/speed/", Endpoint("http", "10.0.0.5", 8080, "/speed")),
        ("https://speed.hx.edu.example", Endpoint("https", "speed.hx.edu.example", 443, "")),
        ("http://[2001:db8::5]/st", Endpoint("http", "2001:db8::5", 80, "/st")),
    ],
)
def test_the_endpoint_is_read_from_the_configured_url(server, expected):
    assert parse_endpoint(server) == expected
    assert expected.url("ping") == expected.path + "/ping"


@pytest.mark.parametrize(
    "server, message",
    [
        ("speed.hx.edu.example:8080", "is not an http:// or https:// URL"),
        ("ftp://speed.hx.edu.example/", "is not an http:// or https:// URL"),
        ("http://speed.hx.edu.example:99999/", "port that is not 1-65535"),
        ("https://user:pw@speed.hx.edu.example/", "without user, password"),
    ],
)
def test_a_url_that_cannot_be_an_endpoint_is_refused(server, message):
    with pytest.raises(ValueError, match=message):
        parse_endpoint(server)


def test_the_rate_leaves_out_the_warm_up():
    """Slow start: 1 MB in the first second, then 6.25 MB/s (50 Mbit/s) steady."""
    samples = [(0.0, 0), (1.0, 1_000_000), (1.5, 4_125_000), (2.5, 10_375_000), (3.5, 16_625_000)]
    assert rate_after_warmup(samples, warmup_s=1.5) == 50.0
    assert rate_after_warmup(samples, warmup_s=0.0) == 38.0  # what counting slow start would say


def test_no_rate_without_two_samples_after_the_warm_up():
    assert rate_after_warmup([(0.0, 0), (1.0, 10), (2.0, 20)], warmup_s=2.0) is None
    assert rate_after_warmup([], warmup_s=0.0) is None


def test_a_real_endpoint_gives_both_directions_latency_and_jitter(endpoint):
    result = run(settings(endpoint.url))
    assert result.ok, result.detail
    assert result.download_mbps > 0 and result.upload_mbps > 0
    assert result.bytes_down > 0 and result.bytes_up > 0
    assert result.latency_ms > 0 and result.jitter_ms >= 0
    paths = [path for _, path in endpoint.requests]
    assert paths[: PINGS + 1] == ["/ping"] * (PINGS + 1)  # pings first, on the idle line
    assert f"/garbage?ckSize={CHUNK_MIB}" in paths
    assert ("POST", "/empty") in endpoint.requests


def test_a_server_that_is_not_librespeed_style_is_a_protocol_error():
    peer = SpeedtestServer().start()
    try:
        result = run(settings(peer.url))
    finally:
        peer.stop()
    assert (result.ok, result.error) == (False, "protocol")
    assert "GET /ping answered 404" in result.detail


class RefusesUploads(LibreSpeedHandler):
    def do_POST(self) -> None:
        self.discard_body()
        self.reply(500, b"disk full\n")


class NoUploadServer(SpeedHttpServer):
    handler = RefusesUploads


def test_a_failed_upload_keeps_the_download_figure():
    peer = NoUploadServer().start()
    try:
        result = run(settings(peer.url))
    finally:
        peer.stop()
    assert (result.ok, result.error) == (False, "protocol")
    assert "POST /empty answered 500" in result.detail
    assert result.download_mbps > 0 and result.upload_mbps is None


def test_a_server_that_is_down_is_unreachable(closed_port):
    result = run(settings(f"http://127.0.0.1:{closed_port}"))
    assert (result.ok, result.error, result.download_mbps) == (False, "unreachable", None)
    assert "connection refused" in result.detail


def test_a_server_that_never_answers_times_out(silent_port):
    result = run(settings(f"http://127.0.0.1:{silent_port}", connect_timeout_s=0.5))
    assert (result.ok, result.error) == (False, "timeout")
    assert "no answer within 0.5 s" in result.detail

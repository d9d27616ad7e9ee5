from __future__ import annotations

import asyncio

import pytest

from agent import __version__
from agent.probes import http
from schoolnet_stack.peers.tcp import closed_port


def get(url: str, timeout: float = 2.0, ca_file: str | None = None) -> http.HttpResult:
    return asyncio.run(http.get(url, timeout, ca_file))


def test_a_page_answering_200_is_up(http_peer):
    peer = http_peer(status=200)

    result = get(peer.url("/health?token=abc"))

    assert (result.status, result.up, result.http_status) == ("ok", True, 200)
    assert 0 < result.rtt_ms < 1000
    assert result.detail == f"http://127.0.0.1:{peer.port}/health: HTTP 200"
    assert peer.requests == ["GET /health?token=abc HTTP/1.1"]


def test_a_login_page_answering_401_proves_the_device_is_up(http_peer):
    result = get(http_peer(status=401).url())

    assert (result.status, result.http_status) == ("ok", 401)


def test_a_device_answering_503_is_an_http_error(http_peer):
    peer = http_peer(status=503)

    result = get(peer.url("/"))

    assert (result.status, result.up, result.http_status) == ("http_error", False, 503)
    assert result.detail == f"http://127.0.0.1:{peer.port}/: HTTP 503 (server error)"


def test_a_server_that_never_answers_times_out(http_peer):
    peer = http_peer(hang=True)

    result = get(peer.url(), timeout=0.3)

    assert (result.status, result.http_status) == ("timeout", None)
    assert result.detail.endswith("no answer within 0.3 s")


def test_something_that_is_not_http_is_a_bad_reply(http_peer):
    result = get(http_peer(raw=b"SSH-2.0-OpenSSH_9.2\r\n").url())

    assert result.status == "bad_reply"
    assert "not an HTTP status line: b'SSH-2.0" in result.detail


def test_nothing_listening_is_refused():
    assert get(f"http://127.0.0.1:{closed_port()}/").status == "refused"


def test_https_with_the_county_ca_is_up_and_verified(http_peer, tls_files):
    peer = http_peer(tls=(tls_files["cert"], tls_files["key"]))

    result = get(peer.url("/"), ca_file=tls_files["ca"])

    assert (result.status, result.http_status) == ("ok", 200)


def test_https_with_a_certificate_no_trusted_ca_signed_is_a_bad_reply(http_peer, tls_files):
    peer = http_peer(tls=(tls_files["cert"], tls_files["key"]))

    result = get(peer.url("/"))  # system CAs only

    assert (result.status, result.up) == ("bad_reply", False)
    assert "TLS certificate not trusted (unable to get local issuer certificate)" in result.detail
    assert peer.requests == []  # nothing was sent over the unverified connection


def test_the_request_names_the_host_and_the_agent():
    parts = http.check_url("http://[::1]:8080/路径?q=1 2")

    assert http.request(parts).decode() == (
        "GET /%E8%B7%AF%E5%BE%84?q=1%202 HTTP/1.1\r\n"
        "Host: [::1]:8080\r\n"
        f"User-Agent: schoolnet-agent/{__version__}\r\n"
        "Accept: */*\r\n"
        "Connection: close\r\n\r\n"
    )


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://x/", "must start with http:// or https://"),
        ("192.0.2.1/health", "must start with http:// or https://"),
        ("http:///health", "has no host"),
        ("https://admin:secret@x/", "put no user name or password"),
        ("http://x:0/", "port 0"),
        ("http://x:99999/", "out of range"),
    ],
)
def test_a_url_the_probe_cannot_use_is_refused_with_the_reason(url, words):
    with pytest.raises(ValueError, match=words):
        http.check_url(url)


@pytest.mark.parametrize(
    ("line", "code"),
    [(b"HTTP/1.1 200 OK\r\n", 200), (b"HTTP/1.0 404 Not Found\r\n", 404), (b"HTTP/1.1 503\r\n", 503)],
)
def test_status_lines_are_read(line, code):
    assert http.read_status(line) == code


@pytest.mark.parametrize("line", [b"HTTP/2 200\r\n", b"HTTP/1.1 2000 OK\r\n", b"<html>\r\n", b""])
def test_lines_that_are_not_status_lines_are_refused(line):
    with pytest.raises(ValueError, match="not an HTTP status line"):
        http.read_status(line)

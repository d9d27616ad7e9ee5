from __future__ import annotations

import asyncio
import errno
import socket
import ssl

import pytest

from agent.probes import tcp


def test_a_listening_port_is_up_with_its_handshake_time(listener):
    peer = listener("127.0.0.1")

    result = asyncio.run(tcp.connect(peer.host, peer.port, timeout=2))

    assert (result.status, result.up) == ("ok", True)
    assert 0 < result.rtt_ms < 1000
    assert f"{peer.host}:{peer.port}: connected in" in result.detail


def test_a_stopped_device_is_refused(listener):
    peer = listener("127.0.0.1")
    peer.close()

    result = asyncio.run(tcp.connect(peer.host, peer.port, timeout=2))

    assert (result.status, result.up, result.rtt_ms) == ("refused", False, None)
    assert "connection refused" in result.detail


def test_a_device_that_never_answers_times_out(blackhole):
    peer = blackhole("127.0.0.1")

    result = asyncio.run(tcp.connect(peer.host, peer.port, timeout=0.3))

    assert (result.status, result.up) == ("timeout", False)
    assert result.detail == f"{peer.host}:{peer.port}: no answer within 0.3 s"


@pytest.mark.parametrize(
    ("error", "status", "words"),
    [
        (asyncio.TimeoutError(), "timeout", "no answer within 2 s"),
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), "refused", "nothing listening"),
        (OSError(errno.EHOSTUNREACH, "No route to host"), "down", "No route to host (no route"),
        (OSError(errno.ENETUNREACH, "Network is unreachable"), "down", "Network is unreachable"),
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "down", "cannot resolve"),
        (ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), "down", "reset by peer"),
    ],
)
def test_failures_read_as_statuses_with_a_reason(error, status, words):
    got_status, detail = tcp.failure(error, "10.0.0.9:80", timeout=2)

    assert got_status == status
    assert detail.startswith("10.0.0.9:80: ")
    assert words in detail


def test_an_untrusted_certificate_is_a_bad_reply_naming_the_cause():
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_message = "self-signed certificate"

    assert tcp.failure(error, "https://p/", 2) == (
        "bad_reply",
        "https://p/: TLS certificate not trusted (self-signed certificate)",
    )


def test_a_programming_error_is_not_mistaken_for_a_network_fault():
    with pytest.raises(KeyError):
        tcp.failure(KeyError("bug"), "x", 1)

"""The check registry (agent/probes/__init__.py): one Endpoint, five ways to ask."""

from __future__ import annotations

import asyncio

import pytest

from agent.probes import CHECKS, Endpoint, check
from agent.probes.icmp import PingResult
from schoolnet_stack.requirements import require_root


def run_check(endpoint: Endpoint, timeout: float = 1.0, tries: int = 1):
    return asyncio.run(check(endpoint, timeout, tries=tries))


def test_the_registry_knows_the_configs_check_names():
    assert sorted(CHECKS) == ["dns", "http", "icmp", "pjlink", "tcp"]


def test_each_check_kind_reaches_its_peer(listener, dns_peer, http_peer, pjlink_peer):
    tcp_peer, name_server, web, projector = listener(), dns_peer(), http_peer(status=204), pjlink_peer()
    endpoints = [
        Endpoint("tcp", "127.0.0.1", tcp_peer.port),
        Endpoint("dns", "127.0.0.1", name_server.port, query="www.moe.gov.cn"),
        Endpoint("http", url=web.url("/")),
        Endpoint("pjlink", "127.0.0.1", projector.port),
    ]

    replies = [run_check(endpoint) for endpoint in endpoints]

    assert [(reply.status, reply.up) for reply in replies] == [("ok", True)] * 4
    assert all(reply.rtt_ms > 0 for reply in replies)


def test_icmp_spreads_its_tries_over_the_timeout():
    require_root()

    reply = run_check(Endpoint("icmp", "127.0.0.1"), timeout=0.6, tries=3)

    assert isinstance(reply, PingResult)
    assert (reply.status, reply.sent, len(reply.rtts_ms)) == ("ok", 3, 3)


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        ({"method": "ping", "host": "x"}, "check 'ping' is not one of icmp, tcp, dns, http, pjlink"),
        ({"method": "icmp"}, "check icmp needs a host"),
        ({"method": "tcp", "host": "x"}, "check tcp needs a port, e.g. tcp:80"),
        ({"method": "tcp", "host": "x", "port": 70000}, "port 70000 is outside 1-65535"),
        ({"method": "http", "url": "x/health"}, "must start with http:// or https://"),
        ({"method": "dns", "host": "x", "query": "a..b"}, "not a valid host name"),
    ],
)
def test_an_endpoint_that_cannot_be_checked_says_what_is_wrong(arguments, words):
    with pytest.raises(ValueError, match=words):
        Endpoint(**arguments)


def test_endpoints_read_like_the_config_and_never_show_a_password():
    projector = Endpoint("pjlink", "10.1.2.3", password="jiaoyu-2024")

    assert str(projector) == "pjlink 10.1.2.3"
    assert str(Endpoint("tcp", "10.1.2.3", 80)) == "tcp 10.1.2.3:80"
    assert str(Endpoint("http", url="https://p.example/health?key=k")) == "https://p.example/health"
    assert "jiaoyu" not in repr(projector)


def test_an_https_endpoint_trusts_the_ca_it_names(http_peer, tls_files):
    peer = http_peer(tls=(tls_files["cert"], tls_files["key"]))

    trusted = run_check(Endpoint("http", url=peer.url("/"), ca_file=tls_files["ca"]))
    untrusted = run_check(Endpoint("http", url=peer.url("/")))

    assert (trusted.status, untrusted.status) == ("ok", "bad_reply")

from __future__ import annotations

import asyncio
import json

from agent.config import load_config
from agent.probes import Endpoint
from agent.probes.broadband import (
    Reachability,
    Target,
    broadband_body,
    burst_result,
    check_broadband,
)
from agent.probes.tcp import ConnectResult
from agent.wiring import broadband_targets
from schoolnet_core import contract
from schoolnet_stack.peers.tcp import closed_port
from schoolnet_stack.requirements import require_root

TS = 1_795_570_200_000


def encoded(result: Reachability) -> dict:
    """The body as the collector will read it: encoded, validated, decoded."""
    payload = contract.encode("broadband", "hx", "hx-dazhuang-zx", TS, broadband_body(result))
    message = contract.validate(contract.topic("hx", "hx-dazhuang-zx", "broadband"), payload, TS)
    assert isinstance(message, contract.Message), message
    return json.loads(payload)


def test_the_school_is_up_when_any_target_answers(dns_peer, http_peer):
    targets = [
        Target("阿里DNS", Endpoint("dns", "127.0.0.1", dns_peer().port)),
        Target("县数据中心", Endpoint("tcp", "127.0.0.1", closed_port())),
        Target("县同步课堂平台", Endpoint("http", url=http_peer(status=503).url("/health"))),
    ]

    result = asyncio.run(check_broadband(targets, timeout=1, count=3, interval=0.01))

    assert (result.up, result.targets_up) == (True, 1)
    assert [(t.status, t.sent, t.loss_pct) for t in result.targets] == [
        ("ok", 3, 0.0), ("refused", 3, 100.0), ("http_error", 3, 100.0)
    ]
    body = encoded(result)
    assert body["up"] is True and body["targets_up"] == 1
    assert body["targets"][0]["target"] == "阿里DNS" and body["targets"][0]["rtt_ms"] > 0
    assert body["targets"][1] == {"target": "县数据中心", "method": "tcp", "up": False, "loss_pct": 100.0}


def test_the_school_is_down_when_no_target_answers(blackhole):
    targets = [Target("县数据中心", Endpoint("tcp", "127.0.0.1", blackhole().port))]

    result = asyncio.run(check_broadband(targets, timeout=0.2, count=2, interval=0.01))

    assert (result.up, result.targets_up) == (False, 0)
    assert result.targets[0].status == "timeout"
    assert encoded(result)["up"] is False


def test_icmp_targets_ping_through_one_shared_socket():
    require_root()
    targets = [Target(f"网关{n}", Endpoint("icmp", f"127.0.8.{n}")) for n in range(1, 4)]

    result = asyncio.run(check_broadband(targets, timeout=0.5, count=3, interval=0.01))

    assert result.targets_up == 3
    assert all(len(t.rtts_ms) == 3 and t.loss_pct == 0.0 for t in result.targets)


def test_a_burst_is_up_when_any_check_answered_and_loses_the_rest():
    target = Target("县教育城域网", Endpoint("tcp", "10.0.0.1", 443))
    replies = [
        ConnectResult("timeout", None, "late"),
        ConnectResult("ok", 3.0, "fine"),
        ConnectResult("ok", 5.0, "fine too"),
    ]

    result = burst_result(target, replies)

    assert (result.up, result.status, result.detail) == (True, "ok", "fine")
    assert (result.rtt_ms, result.loss_pct) == (4.0, 33.333)


def test_a_burst_with_no_answer_tells_the_last_failure():
    target = Target("县教育城域网", Endpoint("tcp", "10.0.0.1", 443))
    replies = [ConnectResult("timeout", None, "a"), ConnectResult("refused", None, "b")]

    result = burst_result(target, replies)

    assert (result.up, result.status, result.detail, result.rtt_ms) == (False, "refused", "b", None)


def test_a_dns_target_written_with_its_port_reaches_a_resolver_on_that_port(dns_peer, tmp_path):
    """agent.yaml's `check: dns:PORT`, through the loader and the wiring, to a real answer."""
    peer = dns_peer()
    path = tmp_path / "agent.yaml"
    path.write_text(
        "school: {id: hx-test-xx, name: 测试中学, county: hx, rural: true}\n"
        "broker: {url: 'mqtts://mqtt.hx.example', password_env: SCHOOLNET_TEST_PW}\n"
        "timetable: {lessons: ['08:00-08:45']}\n"
        "broadband:\n  targets:\n"
        f"    - {{name: 县DNS, check: 'dns:{peer.port}', host: 127.0.0.1, query: www.moe.gov.cn}}\n",
        encoding="utf-8")
    targets = broadband_targets(load_config(path).broadband)
    assert targets[0].endpoint.port == peer.port

    result = asyncio.run(check_broadband(targets, timeout=1, count=2, interval=0.01))

    assert (result.up, [t.status for t in result.targets]) == (True, ["ok"])

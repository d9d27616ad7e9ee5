"""agent.rounds: when the agent may not ping, every other check still runs against real
peers and each ICMP check is reported down, saying why; blocking work runs in a thread."""

from __future__ import annotations

import asyncio
import threading

import pytest

from agent.probes import Endpoint
from agent.probes.broadband import Target
from agent.probes.devices import Classroom, Device
from agent.probes.sync_classroom import Thresholds
from agent.rounds import (
    NO_ICMP,
    broadband_round,
    classrooms_round,
    in_own_thread,
    sync_round,
)
from agent.wiring import ProbeSetup, SyncArguments
from schoolnet_stack.peers.tcp import Listener, closed_port
from schoolnet_stack.peers.udp_echo import UdpEcho

# 192.0.2.1 (TEST-NET-1): were a ping sent, nothing would answer and the check would read
# timeout, not the "down" of a check that was never made.
UNPINGED = "192.0.2.1"


@pytest.fixture
def listener():
    peers = []

    def listen() -> Listener:
        peers.append(Listener())
        return peers[-1]

    yield listen
    for peer in peers:
        peer.close()


@pytest.fixture
def echo():
    peer = UdpEcho().start()
    yield peer
    peer.stop()


def setup_of(targets=(), classrooms=(), sync=None) -> ProbeSetup:
    return ProbeSetup(targets=tuple(targets), broadband_timeout_s=1.0, classrooms=tuple(classrooms),
                      sweep_timeout_s=1.0, sync=sync, speed_test=None, speed_plan=None)


def test_broadband_without_ping_reports_the_icmp_target_down_and_probes_the_rest(listener):
    up = listener()
    targets = [
        Target("县教育城域网网关", Endpoint("icmp", host=UNPINGED)),
        Target("县数据中心", Endpoint("tcp", host="127.0.0.1", port=up.port)),
    ]

    result = asyncio.run(broadband_round(setup_of(targets), may_ping=False))

    gateway, data_centre = result.targets
    assert gateway.target.name == "县教育城域网网关"
    assert (gateway.status, gateway.up, gateway.loss_pct, gateway.detail) == ("down", False, 100.0, NO_ICMP)
    assert (data_centre.status, data_centre.up) == ("ok", True)
    assert result.up is True and result.targets_up == 1


def test_broadband_with_only_icmp_targets_and_no_ping_is_down_without_probing():
    targets = [Target("网关", Endpoint("icmp", host=UNPINGED))]

    result = asyncio.run(broadband_round(setup_of(targets), may_ping=False))

    assert result.up is False
    assert result.targets[0].detail == NO_ICMP


def test_a_sweep_without_ping_scores_classes_with_icmp_devices_down(listener):
    panel = listener()
    rooms = [
        Classroom("c8-2", "八年级(2)班", (
            Device("panel", "交互式一体机", "interactive_panel", Endpoint("tcp", host="127.0.0.1", port=panel.port)),
            Device("whiteboard", "电子白板", "electronic_whiteboard", Endpoint("icmp", host=UNPINGED)),
        )),
        Classroom("c9-1", "九年级(1)班", (
            Device("panel", "交互式一体机", "interactive_panel", Endpoint("tcp", host="127.0.0.1", port=panel.port)),
            Device("booth", "实物展台", "document_camera", Endpoint("icmp", host=UNPINGED), required=False),
        )),
    ]  # fmt: skip

    result = asyncio.run(classrooms_round(setup_of(classrooms=rooms), in_hours=True, may_ping=False))

    statuses = [(d.classroom, d.device.device, d.reply.status) for d in result.devices]
    assert statuses == [("c8-2", "panel", "ok"), ("c8-2", "whiteboard", "down"),
                        ("c9-1", "panel", "ok"), ("c9-1", "booth", "down")]
    assert NO_ICMP in result.devices[1].reply.detail
    assert [(c.classroom, c.ready, c.required_up, c.required_total) for c in result.classes] == [
        ("c8-2", False, 1, 2), ("c9-1", True, 1, 1)]
    assert (result.in_hours, result.coverage_pct) == (True, 50.0)


def sync_arguments(platform_port: int, endpoints, path_method="icmp", path_port=None) -> SyncArguments:
    return SyncArguments(platform_host="127.0.0.1", platform_port=platform_port, platform_tls=False,
                         path_method=path_method, path_host="127.0.0.1" if path_port else UNPINGED,
                         path_port=path_port, count=10, interval=0.01, endpoints=tuple(endpoints),
                         thresholds=Thresholds(), timeout=1.0)


def test_sync_without_ping_reports_the_icmp_path_unknown_and_not_ready(listener):
    platform, endpoint = listener(), listener()
    arguments = sync_arguments(platform.port, [("c7-1", Endpoint("tcp", host="127.0.0.1", port=endpoint.port))])

    result = asyncio.run(sync_round(arguments, may_ping=False))

    assert result.platform.up and result.endpoints[0].up
    assert (result.path.sent, result.path.received, result.path.loss_pct) == (10, 0, 100.0)
    assert result.path_detail == f"{UNPINGED}: {NO_ICMP}"
    assert result.ready is False
    assert result.problems[-1] == NO_ICMP


def test_sync_without_ping_still_measures_a_udp_echo_path(listener, echo):
    platform = listener()
    arguments = sync_arguments(platform.port, [("c7-1", Endpoint("icmp", host=UNPINGED))],
                               path_method="udp_echo", path_port=echo.port)

    result = asyncio.run(sync_round(arguments, may_ping=False))

    assert (result.path.sent, result.path.received) == (10, 10)
    assert (result.endpoints[0].reply.status, result.endpoints[0].up) == ("down", False)
    assert result.ready is False
    assert any("classroom c7-1 endpoint down" in problem for problem in result.problems)


def test_sync_without_ping_needs_none_when_nothing_pings(listener, echo):
    platform = listener()
    refused = closed_port()
    arguments = sync_arguments(platform.port, [("c7-1", Endpoint("tcp", host="127.0.0.1", port=refused))],
                               path_method="udp_echo", path_port=echo.port)

    result = asyncio.run(sync_round(arguments, may_ping=False))

    assert result.endpoints[0].reply.status == "refused"
    assert NO_ICMP not in result.problems


def test_work_in_its_own_thread_returns_its_result_or_raises_its_error():
    async def run(work):
        return await in_own_thread(work)

    assert asyncio.run(run(lambda: threading.current_thread().name)) == "speed-test"
    with pytest.raises(ZeroDivisionError):
        asyncio.run(run(lambda: 1 / 0))

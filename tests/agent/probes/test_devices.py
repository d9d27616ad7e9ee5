from __future__ import annotations

import asyncio
import json
import time

import pytest

from agent.probes import Endpoint
from agent.probes.devices import (
    ClassResult,
    Classroom,
    Device,
    DeviceResult,
    Sweep,
    classrooms_body,
    score_classes,
    sweep,
)
from agent.probes.tcp import ConnectResult
from schoolnet_core import contract
from schoolnet_stack.peers.tcp import Blackhole, Listener, closed_port
from schoolnet_stack.requirements import require_root

TS = 1_795_570_200_000


def encoded(result: Sweep) -> dict:
    """The body as the collector will read it: encoded, validated, decoded."""
    payload = contract.encode("classrooms", "hx", "hx-dazhuang-zx", TS, classrooms_body(result))
    message = contract.validate(contract.topic("hx", "hx-dazhuang-zx", "classrooms"), payload, TS)
    assert isinstance(message, contract.Message), message
    return json.loads(payload)


def panel(device: str, port: int, host: str = "127.0.0.1", required: bool = True) -> Device:
    return Device(device, "交互式一体机", "interactive_panel", Endpoint("tcp", host, port), required)


# --- one school's sweep against real peers -------------------------------------------------------


def test_a_sweep_reads_every_kind_of_device(listener, pjlink_peer, http_peer):
    require_root()  # one device is checked by icmp
    stopped = listener()
    stopped.close()
    projector = pjlink_peer(power=1, errors="200000", lamp_hours=1234)
    locked = pjlink_peer(password="right")
    classrooms = [
        Classroom("c7-1", "七年级(1)班", (
            panel("panel", listener().port),
            Device("projector", "投影仪", "projector", Endpoint("pjlink", "127.0.0.1", projector.port)),
            Device("pc", "班级电脑", "classroom_pc", Endpoint("icmp", "127.0.0.1"), required=False),
        )),
        Classroom("c7-2", "七年级(2)班", (panel("panel", stopped.port),)),
        Classroom("c8-1", "八年级(1)班", (
            Device("board", "智慧黑板", "smart_blackboard", Endpoint("http", url=http_peer(status=503).url())),
            Device("projector", "投影仪", "projector",
                   Endpoint("pjlink", "127.0.0.1", locked.port, password="wrong")),
        )),
    ]

    result = asyncio.run(sweep(classrooms, timeout=1.0, in_hours=True))

    statuses = {(d.classroom, d.device.device): d.reply.status for d in result.devices}
    assert statuses == {
        ("c7-1", "panel"): "ok",
        ("c7-1", "projector"): "device_error",  # its fan has stopped: it answers, cannot teach
        ("c7-1", "pc"): "ok",
        ("c7-2", "panel"): "refused",
        ("c8-1", "board"): "http_error",
        ("c8-1", "projector"): "auth_failed",
    }
    assert [(c.classroom, c.ready) for c in result.classes] == [("c7-1", False), ("c7-2", False), ("c8-1", False)]
    body = encoded(result)
    assert (body["classes_ready"], body["coverage_pct"], body["devices_up"]) == (0, 0.0, 2)
    projector_item = body["devices"][1]
    assert projector_item["lamp_hours"] == 1234 and projector_item["power_on"] is True
    assert (projector_item["err_fan"], projector_item["err_lamp"], projector_item["err_filter"]) == (2, 0, 0)
    assert body["devices"][3] == {
        "classroom": "c7-2", "device": "panel", "name": "交互式一体机", "kind": "interactive_panel",
        "method": "tcp", "required": True, "status": "refused", "up": False,
    }


def test_out_of_hours_sweeps_are_still_reported_and_flagged(listener):
    classrooms = [Classroom("c7-1", "七年级(1)班", (panel("panel", listener().port),))]

    body = encoded(asyncio.run(sweep(classrooms, timeout=1.0, in_hours=False)))

    assert (body["in_hours"], body["classes_ready"]) == (False, 1)


def test_500_devices_sweep_in_about_one_timeout_with_exact_counts(started):
    """100 classes of 5 devices on their own 127.1.x.y addresses: classes 0-59 all up,
    60-79 all refused (nothing listening), 80-99 all blackholed (SYNs dropped)."""
    classrooms = []
    for room in range(100):
        devices = []
        for slot in range(5):
            host = f"127.1.{room}.{slot + 1}"
            if room < 60:
                started.append(Listener(host, backlog=4))
                port = started[-1].port
            elif room < 80:
                port = closed_port(host)
            else:
                started.append(Blackhole(host))
                port = started[-1].port
            devices.append(panel(f"p{slot}", port, host))
        classrooms.append(Classroom(f"c{room}", f"{room}班", tuple(devices)))
    timeout = 1.0

    began = time.monotonic()
    result = asyncio.run(sweep(classrooms, timeout=timeout, in_hours=True))
    took = time.monotonic() - began

    assert took < 3 * timeout, f"the sweep took {took:.1f} s: devices were not checked concurrently"
    statuses = [d.reply.status for d in result.devices]
    assert (statuses.count("ok"), statuses.count("refused"), statuses.count("timeout")) == (300, 100, 100)
    assert (result.devices_up, result.classes_ready, result.coverage_pct) == (300, 60, 60.0)
    assert encoded(result)["devices_total"] == 500


# --- scoring (pure) ------------------------------------------------------------------------------


def _results(room: str, states: dict[str, tuple[bool, str]]) -> list[DeviceResult]:
    """DeviceResults for devices named in `states`: name -> (required, status)."""
    return [
        DeviceResult(room, panel(name, 80, required=required), ConnectResult(status))
        for name, (required, status) in states.items()
    ]


def test_a_class_is_ready_when_all_its_required_devices_are_up():
    results = _results("c1", {"a": (True, "ok"), "b": (True, "ok"), "pc": (False, "timeout")})
    room = Classroom("c1", "一班", tuple(r.device for r in results))

    assert score_classes([room], results) == (ClassResult("c1", "一班", 2, 2),)
    assert score_classes([room], results)[0].ready


def test_one_required_device_down_makes_the_class_not_ready():
    results = _results("c1", {"a": (True, "ok"), "b": (True, "refused")})
    room = Classroom("c1", "一班", tuple(r.device for r in results))

    (scored,) = score_classes([room], results)

    assert (scored.required_up, scored.required_total, scored.ready) == (1, 2, False)


def test_a_class_without_required_devices_is_not_ready():
    results = _results("c1", {"pc": (False, "ok")})
    room = Classroom("c1", "一班", tuple(r.device for r in results))

    (scored,) = score_classes([room], results)

    assert (scored.required_total, scored.ready) == (0, False)


def test_coverage_is_ready_classes_over_classes_and_none_without_classes():
    ready, not_ready = ClassResult("c1", "一班", 1, 1), ClassResult("c2", "二班", 2, 1)

    assert Sweep(True, (ready, not_ready, ready), ()).coverage_pct == 66.667
    assert Sweep(True, (), ()).coverage_pct is None
    assert "coverage_pct" not in encoded(Sweep(True, (), ()))


def test_a_device_kind_the_contract_does_not_know_is_refused():
    with pytest.raises(ValueError, match="kind 'beamer' is not one of interactive_panel"):
        Device("x", "X", "beamer", Endpoint("icmp", "10.0.0.1"))

"""Multimedia classes: do every classroom's devices answer?

A class is ready when all its required devices answer: the panel, projector or smart
blackboard that brings lessons to the class (班班通). Coverage = ready classes / classes,
the county's "multimedia teaching equipment in 100% of classes".

The sweep checks every device at once (at most `concurrency` at a time), so 500 devices
take about one timeout, not 500. It runs out of school hours too, where a device switched
off is not a fault; the caller says which it is with in_hours.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from agent.probes import Endpoint, Reply, check
from agent.probes.icmp import Pinger, pinger_if
from agent.probes.pjlink import ProjectorState
from schoolnet_core.contract import DEVICE_KINDS

ICMP_TRIES = 3  # echoes per icmp device within the timeout; one lost datagram is no fault


@dataclass(frozen=True)
class Device:
    """One device of a classroom. `kind` is one of contract.DEVICE_KINDS; a device that is
    not `required` is reported but does not decide whether its class is ready."""

    device: str
    name: str
    kind: str
    endpoint: Endpoint
    required: bool = True

    def __post_init__(self) -> None:
        if self.kind not in DEVICE_KINDS:
            kinds = ", ".join(DEVICE_KINDS)
            raise ValueError(f"device {self.device}: kind {self.kind!r} is not one of {kinds}")


@dataclass(frozen=True)
class Classroom:
    classroom: str
    name: str
    devices: tuple[Device, ...]


@dataclass(frozen=True)
class DeviceResult:
    classroom: str
    device: Device
    reply: Reply

    @property
    def up(self) -> bool:
        return self.reply.up


@dataclass(frozen=True)
class ClassResult:
    classroom: str
    name: str
    required_total: int
    required_up: int

    @property
    def ready(self) -> bool:
        """All required devices up. A class with none configured is not ready: nothing
        shows that it has working equipment."""
        return 0 < self.required_up == self.required_total


@dataclass(frozen=True)
class Sweep:
    in_hours: bool
    classes: tuple[ClassResult, ...]
    devices: tuple[DeviceResult, ...]

    @property
    def classes_ready(self) -> int:
        return sum(result.ready for result in self.classes)

    @property
    def devices_up(self) -> int:
        return sum(result.up for result in self.devices)

    @property
    def coverage_pct(self) -> float | None:
        """Ready classes in % of classes; None for a school without classes."""
        if not self.classes:
            return None
        return round(100 * self.classes_ready / len(self.classes), 3)


async def sweep(
    classrooms: Sequence[Classroom], timeout: float, in_hours: bool, concurrency: int = 256
) -> Sweep:
    """Checks every device of every classroom, each within `timeout` s, and scores the
    classes. Raises PermissionError when some device is checked by icmp and the agent may
    not ping, rather than report those devices down."""
    limit = asyncio.Semaphore(concurrency)
    pairs = [(room.classroom, device) for room in classrooms for device in room.devices]
    async with pinger_if(any(d.endpoint.method == "icmp" for _, d in pairs)) as pinger:
        replies = await asyncio.gather(
            *(_check_device(device, timeout, pinger, limit) for _, device in pairs)
        )
    results = tuple(
        DeviceResult(room, device, reply) for (room, device), reply in zip(pairs, replies)
    )
    return Sweep(in_hours, score_classes(classrooms, results), results)


async def _check_device(
    device: Device, timeout: float, pinger: Pinger | None, limit: asyncio.Semaphore
) -> Reply:
    """The limit bounds open sockets; icmp checks share the pinger's one socket, so they
    go past it and 500 switched-off devices still take one timeout, not two."""
    if device.endpoint.method == "icmp":
        return await check(device.endpoint, timeout, pinger, tries=ICMP_TRIES)
    async with limit:
        return await check(device.endpoint, timeout, pinger)


def score_classes(
    classrooms: Sequence[Classroom], results: Sequence[DeviceResult]
) -> tuple[ClassResult, ...]:
    """Each class's required devices and how many of them are up."""
    up = {(result.classroom, result.device.device): result.up for result in results}
    scored = []
    for room in classrooms:
        required = [device for device in room.devices if device.required]
        answering = sum(up.get((room.classroom, device.device), False) for device in required)
        scored.append(ClassResult(room.classroom, room.name, len(required), answering))
    return tuple(scored)


def classrooms_body(result: Sweep) -> dict:
    """The contract's "classrooms" body for `result`."""
    return {
        "in_hours": result.in_hours,
        "classes_total": len(result.classes),
        "classes_ready": result.classes_ready,
        "coverage_pct": result.coverage_pct,
        "devices_total": len(result.devices),
        "devices_up": result.devices_up,
        "classes": [_class_item(room) for room in result.classes],
        "devices": [_device_item(device) for device in result.devices],
    }


def _class_item(room: ClassResult) -> dict:
    return {
        "classroom": room.classroom,
        "name": room.name,
        "ready": room.ready,
        "required_total": room.required_total,
        "required_up": room.required_up,
    }


def _device_item(result: DeviceResult) -> dict:
    device = result.device
    item = {
        "classroom": result.classroom,
        "device": device.device,
        "name": device.name,
        "kind": device.kind,
        "method": device.endpoint.method,
        "required": device.required,
        "status": result.reply.status,
        "up": result.up,
        "rtt_ms": result.reply.rtt_ms,
    }
    if isinstance(result.reply, ProjectorState):
        item.update(_projector_fields(result.reply))
    return {key: value for key, value in item.items() if value is not None}


def _projector_fields(state: ProjectorState) -> dict:
    fields = {"power_on": state.power_on, "lamp_hours": state.lamp_hours}
    if state.errors is not None:
        fields.update({f"err_{name}": level for name, level in vars(state.errors).items()})
    return fields

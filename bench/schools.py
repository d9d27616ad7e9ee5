"""Simulated schools for the load benchmarks: what each sends, how often, and how big.

A county has schools of every size, so the mix is fixed by the school's number:
    4 in 10  teaching points and small primaries   6 classes,  8 devices
    4 in 10  primaries                            12 classes, 20 devices
    2 in 10  middle schools                       30 classes, 60 devices
7 in 10 are rural and so report their synchronous classroom. Per minute, as the example
agent config has it: broadband twice (every 30 s), classrooms once, sync once (rural
schools), health once; the birth status once at connect. Every message is built through
the contract (contract.encode), so the collector does exactly the work it would do for
real agents.

Payloads are made from a template per school and kind, with only `ts` changing, so a
publisher that sends thousands per second spends its time sending, not building JSON.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass

from schoolnet_core import contract

SCHOOLS_PER_COUNTY = 100
MARKER_EVERY = 100
"""Every 100th school is a marker: its id starts with "m", so the fleet benchmark can follow
its points into the store."""
AGENT_VERSION = "0.1.0"
MINUTE_KINDS = ("broadband", "broadband", "classrooms", "sync", "health")


@dataclass(frozen=True)
class SchoolShape:
    classes: int
    devices: int
    rural: bool


def shape_of(number: int) -> SchoolShape:
    size = number % 10
    classes, devices = (6, 8) if size < 4 else (12, 20) if size < 8 else (30, 60)
    return SchoolShape(classes, devices, rural=(number * 7) % 10 < 7)


def county_of(number: int) -> str:
    return f"c{number // SCHOOLS_PER_COUNTY:03d}"


def school_of(number: int) -> str:
    return f"{'m' if number % MARKER_EVERY == 0 else 's'}{number:05d}"


def is_marker(school: str) -> bool:
    return school.startswith("m")


def minute_kinds(shape: SchoolShape) -> tuple[str, ...]:
    """What a school sends in one minute (sync only from rural schools)."""
    return tuple(kind for kind in MINUTE_KINDS if kind != "sync" or shape.rural)


# --- bodies --------------------------------------------------------------------------------


def broadband_body(rng: random.Random) -> dict:
    targets = [
        {"target": "县教育城域网网关", "method": "icmp", "up": True, "rtt_ms": round(rng.uniform(1, 5), 2), "loss_pct": 0.0},
        {"target": "县数据中心", "method": "tcp", "up": True, "rtt_ms": round(rng.uniform(2, 8), 2)},
        {"target": "阿里公共DNS", "method": "dns", "up": True, "rtt_ms": round(rng.uniform(8, 20), 2)},
        {"target": "县同步课堂平台", "method": "http", "up": True, "rtt_ms": round(rng.uniform(20, 60), 2)},
    ]  # fmt: skip
    return {"up": True, "targets_up": len(targets), "targets": targets}


def classrooms_body(shape: SchoolShape, rng: random.Random) -> dict:
    """Devices spread over the classes: panels (tcp), PCs (icmp), projectors (pjlink)."""
    classes = [f"c{index + 1:02d}" for index in range(shape.classes)]
    devices = []
    for index in range(shape.devices):
        room = classes[index % shape.classes]
        kind, method = (("interactive_panel", "tcp"), ("classroom_pc", "icmp"), ("projector", "pjlink"))[index % 3]
        device = {"classroom": room, "device": f"d{index // shape.classes}-{kind[:4]}", "name": f"{kind}-{index}",
                  "kind": kind, "method": method, "required": method != "icmp", "status": "ok", "up": True,
                  "rtt_ms": round(rng.uniform(0.3, 3), 2)}  # fmt: skip
        if method == "pjlink":
            device.update(power_on=True, lamp_hours=rng.randrange(100, 6000), err_fan=0, err_lamp=0,
                          err_temperature=0, err_cover=0, err_filter=0, err_other=0)  # fmt: skip
        devices.append(device)
    required = {room: sum(d["required"] for d in devices if d["classroom"] == room) for room in classes}
    class_items = [{"classroom": room, "name": f"{index + 1}班", "ready": True,
                    "required_total": required[room], "required_up": required[room]}
                   for index, room in enumerate(classes)]  # fmt: skip
    return {"in_hours": True, "classes_total": len(classes), "classes_ready": len(classes), "coverage_pct": 100.0,
            "devices_total": len(devices), "devices_up": len(devices), "classes": class_items, "devices": devices}


def sync_body(rng: random.Random) -> dict:
    return {"rural": True, "session_active": False, "ready": True, "platform_up": True,
            "platform_connect_ms": round(rng.uniform(10, 30), 1), "platform_tls_ms": round(rng.uniform(15, 40), 1),
            "rtt_ms": round(rng.uniform(20, 60), 1), "jitter_ms": round(rng.uniform(1, 5), 1), "loss_pct": 0.0,
            "r_factor": 89.1, "mos": 4.3, "endpoints_up": 1, "endpoints_total": 1,
            "endpoints": [{"classroom": "c01", "up": True, "rtt_ms": 0.9}]}  # fmt: skip


def health_body(rng: random.Random) -> dict:
    return {"agent_version": AGENT_VERSION, "cpu_pct": round(rng.uniform(1, 15), 1),
            "mem_pct": round(rng.uniform(20, 60), 1), "disk_pct": 41.0, "uptime_s": rng.randrange(1000, 10**6),
            "spool_depth": 0, "spool_oldest_age_s": 0, "spool_dropped_total": 0}  # fmt: skip


def body_of(kind: str, shape: SchoolShape, rng: random.Random) -> dict:
    if kind == "broadband":
        return broadband_body(rng)
    if kind == "classrooms":
        return classrooms_body(shape, rng)
    if kind == "sync":
        return sync_body(rng)
    if kind == "health":
        return health_body(rng)
    if kind == contract.STATUS:
        return {"online": True, "agent_version": AGENT_VERSION}
    raise ValueError(f"no simulated body for kind {kind!r}")


# --- payloads ----------------------------------------------------------------------------------

_TS_PLACEHOLDER = 1_700_000_000_000


@dataclass(frozen=True)
class Template:
    """A message of one school and kind, ready but for its timestamp."""

    topic: str
    prefix: bytes
    suffix: bytes
    points: int
    """Points the collector makes of it (contract.to_points)."""

    def payload(self, ts_ms: int) -> bytes:
        return self.prefix + str(ts_ms).encode() + self.suffix


def template(kind: str, number: int) -> Template:
    """The school's message of `kind`. Built from its shape's message (checked against the
    contract once per shape) with the school's own ids: ten thousand schools in a second."""
    county, school = county_of(number), school_of(number)
    model = _shape_template(kind, number % 10)
    model_county, model_school = county_of(number % 10), school_of(number % 10)
    envelope = model.prefix.replace(f'"county":"{model_county}","school":"{model_school}"'.encode(),
                                    f'"county":"{county}","school":"{school}"'.encode())  # fmt: skip
    return Template(contract.topic(county, school, kind), envelope, model.suffix, model.points)


@functools.cache
def _shape_template(kind: str, number: int) -> Template:
    county, school = county_of(number), school_of(number)
    body = body_of(kind, shape_of(number), random.Random(f"{kind}-{number}"))
    payload = contract.encode(kind, county, school, _TS_PLACEHOLDER, body)
    marker = f'"ts":{_TS_PLACEHOLDER}'.encode()
    head, tail = payload.split(marker)
    message = contract.validate(contract.topic(county, school, kind), payload, _TS_PLACEHOLDER)
    if not isinstance(message, contract.Message) or tail.count(marker):
        raise ValueError(f"cannot template {kind} of {school}: {message}")
    return Template(contract.topic(county, school, kind), head + b'"ts":', tail, len(contract.to_points(message)))


def school_templates(number: int) -> dict[str, Template]:
    """Every kind the school sends, status (its birth) included."""
    kinds = {*minute_kinds(shape_of(number)), contract.STATUS}
    return {kind: template(kind, number) for kind in sorted(kinds)}


def minute_load(schools: int) -> tuple[float, float]:
    """(messages, points) per minute from schools 0..schools-1 (sampled every 10th
    school: the shapes repeat every 10)."""
    messages = points = 0.0
    for number in range(10):
        templates = school_templates(number)
        kinds = minute_kinds(shape_of(number))
        messages += len(kinds)
        points += sum(templates[kind].points for kind in kinds)
    return messages * schools / 10, points * schools / 10


def series_lines(number: int, ts_ms: int) -> str:
    """Line protocol with one sample of every series the school writes (one message of
    each kind), for filling a store with a county's series before a benchmark measures it."""
    model = number % 10
    text = _model_lines(model, ts_ms)
    for label, old, new in (("county", county_of(model), county_of(number)),
                            ("school", school_of(model), school_of(number))):  # fmt: skip
        for end in (",", " "):
            text = text.replace(f"{label}={old}{end}", f"{label}={new}{end}")
    return text


@functools.cache
def _model_lines(number: int, ts_ms: int) -> str:
    lines = []
    for made in school_templates(number).values():
        message = contract.validate(made.topic, made.payload(ts_ms), ts_ms)
        lines += [point.to_line_protocol() for point in contract.to_points(message, received_ms=ts_ms)]
    return "\n".join(lines)

"""A term of history for 300 schools, as line protocol, for the report benchmark.

The roster: 3 counties of 100 schools, sized as bench/schools.py sizes them (6, 12 or 30
classes, 7 in 10 rural). The term: school days from 2026-03-02 (the spring term of
2025-2026, in the past, so the store takes it), holidays 清明, 劳动节 and 端午 left out,
one county-wide maintenance window declared. Faults, each on a fixed share of schools, so
that every path of the report runs: outages in school hours (outage exports), schools
silent one day in four (completeness 75 %), schools below their egress target, a class
not ready for 3 days, sync sessions whose endpoint fails halfway.

Every line is made by contract.to_lines from a contract message (checked by the contract's
own encoder and validator once per school and kind), then repeated with other
timestamps. Only the measurements and fields the report reads are written (KEPT): the
per-target, per-device and per-endpoint lines and the other fields are left out (never read
by the report; whole messages are ~10x the volume, beyond one write on this machine). Samples are written for 07:00-18:00 of school days (the
report counts 08:00-17:00; the agents also report at night and at weekends, which the
report does not count).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bench.schools import shape_of
from roster.model import (
    Classroom,
    County,
    Device,
    Maintenance,
    ReportSettings,
    Roster,
    School,
    Settings,
    Term,
)
from schoolnet_core import contract
from schoolnet_core.config.parsers import Check, DateRange

ZONE_NAME = "Asia/Shanghai"
ZONE = ZoneInfo(ZONE_NAME)
TERM_NAME = "2025-2026学年第二学期"
TERM_FIRST = date(2026, 3, 2)
HOLIDAYS = (DateRange(date(2026, 4, 4), date(2026, 4, 6)), DateRange(date(2026, 5, 1), date(2026, 5, 5)),
            DateRange(date(2026, 6, 19), date(2026, 6, 21)))  # fmt: skip
COUNTIES = (("c000", "东山县"), ("c001", "西河县"), ("c002", "南岭县"))
SCHOOLS_PER_COUNTY = 100
WRITTEN_HOURS = (time(7, 0), time(18, 0))
KEPT = {
    "schoolnet_broadband": ("up",),
    "schoolnet_classrooms": ("classes_total",),
    "schoolnet_classrooms_class": ("ready",),
    "schoolnet_speedtest": ("ok", "download_mbps", "upload_mbps"),
    "schoolnet_sync": ("session_active", "ready", "mos"),
}
"""The measurements and fields the report reads (report/gather.py); nothing else is written."""
FIELD = re.compile(r'([A-Za-z0-9_]+)=("(?:[^"\\]|\\.)*"|[^,]*)')
TS0 = 1_772_000_000_000


@dataclass(frozen=True)
class Cadence:
    broadband_s: int = 30
    classrooms_s: int = 60
    sync_s: int = 60


def school_days(count: int) -> list[date]:
    settings = Settings(holidays=HOLIDAYS)
    days, day = [], TERM_FIRST
    while len(days) < count:
        if settings.is_school_day(day):
            days.append(day)
        day += timedelta(days=1)
    return days


def roster(days: int, cadence: Cadence) -> Roster:
    """300 schools and the term of `days` school days, with the cadence as the settings'."""
    taught = school_days(days)
    window_day = taught[len(taught) // 2]
    maintenance = Maintenance(datetime.combine(window_day, time(12, 0), ZONE),
                              datetime.combine(window_day, time(14, 0), ZONE), county="c001",
                              reason="城域网割接 metro cut-over")  # fmt: skip
    settings = Settings(
        holidays=HOLIDAYS, terms=(Term(TERM_NAME, DateRange(taught[0], taught[-1])),), maintenance=(maintenance,),
        report=ReportSettings(broadband_interval_s=cadence.broadband_s, classroom_interval_s=cadence.classrooms_s,
                              sync_interval_s=cadence.sync_s),
    )  # fmt: skip
    schools = tuple(_school(number) for number in range(len(COUNTIES) * SCHOOLS_PER_COUNTY))
    return Roster(tuple(County(cid, name) for cid, name in COUNTIES), schools, settings)


def _school(number: int) -> School:
    shape = shape_of(number)
    county, county_name = COUNTIES[number // SCHOOLS_PER_COUNTY]
    kind = {6: "教学点", 12: "小学", 30: "初中"}[shape.classes]
    rooms = []
    for index in range(shape.classes):
        devices = tuple(Device(f"d{n}", ("interactive_panel", "projector")[n % 2], f"10.{number % 250}.{index}.{n}",
                               Check("tcp", port=80)) for n in range(index, shape.devices, shape.classes))  # fmt: skip
        rooms.append(Classroom(f"c{index + 1:02d}", f"{index + 1}班", devices))
    name = f"{county_name[:2]}第{number % SCHOOLS_PER_COUNTY + 1}{kind}"
    return School(county, f"s{number:05d}", name, kind, shape.rural, enrolment=40 * shape.classes,
                  contracted_mbps=200.0, timezone=ZONE_NAME, classrooms=tuple(rooms))  # fmt: skip


# --- faults: each on a fixed share of schools ---------------------------------------------------


def number_of(school: School) -> int:
    return int(school.id[1:])


def outage_on(school: School, day_index: int) -> bool:
    """One in 10 schools: down 10:00-10:20 every 5th school day."""
    return number_of(school) % 10 == 3 and day_index % 5 == 2


def silent_on(school: School, day_index: int) -> bool:
    """One in 50 schools: nothing arrives one school day in four (completeness 75 %)."""
    return number_of(school) % 50 == 7 and day_index % 4 == 0


def slow(school: School) -> bool:
    """One in 20 schools measures below its egress target."""
    return number_of(school) % 20 == 5


def dead_room(school: School, day_index: int) -> bool:
    """One in 25 schools: class c01 not ready on school days 10-12."""
    return number_of(school) % 25 == 1 and 10 <= day_index <= 12


def sync_fails(school: School, day_index: int) -> bool:
    """One in 30 schools: the endpoint fails at 10:20 in that day's session, every 10th day."""
    return number_of(school) % 30 == 11 and day_index % 10 == 3


# --- line protocol ---------------------------------------------------------------------------


def lines_of(kind: str, school: School, body: dict) -> list[str]:
    """The kept lines of one real message at TS0, each without its timestamp (ends in a space)."""
    payload = contract.encode(kind, school.county, school.id, TS0, body)
    message = contract.validate(contract.topic(school.county, school.id, kind), payload, now_ms=TS0)
    assert isinstance(message, contract.Message), message
    heads = []
    for line in contract.to_lines(message):
        measurement = line.split(",", 1)[0]
        if measurement in KEPT:
            series, fields, stamp = _parts(line)
            assert stamp == str(TS0), line
            kept = ",".join(f"{name}={value}" for name, value in FIELD.findall(fields) if name in KEPT[measurement])
            heads.append(f"{series} {kept} ")
    return heads


def _parts(line: str) -> tuple[str, str, str]:
    """(measurement and tags, fields, timestamp): tags never hold an unescaped space."""
    index = 0
    while True:
        index = line.index(" ", index)
        if line[index - 1] != "\\":
            break
        index += 1
    fields, stamp = line[index + 1:].rsplit(" ", 1)
    return line[:index], fields, stamp


def broadband_body(up: bool) -> dict:
    target = {"target": "县教育城域网", "method": "icmp", "up": up, "loss_pct": 0.0 if up else 100.0}
    return {"up": up, "targets_up": int(up), "targets": [target]}


def classrooms_body(school: School, not_ready: str | None) -> dict:
    classes, devices = [], []
    for room in school.classrooms:
        ready = room.id != not_ready
        for device in room.devices:
            devices.append({"classroom": room.id, "device": device.id, "name": device.id, "kind": device.kind,
                            "method": "tcp", "required": True, "status": "ok" if ready else "device_error",
                            "up": ready})  # fmt: skip
        classes.append({"classroom": room.id, "name": room.name, "ready": ready,
                        "required_total": len(room.devices), "required_up": len(room.devices) if ready else 0})
    ready_count = sum(item["ready"] for item in classes)
    return {"in_hours": True, "classes_total": len(classes), "classes_ready": ready_count,
            "coverage_pct": 100.0 * ready_count / len(classes), "devices_total": len(devices),
            "devices_up": sum(d["up"] for d in devices), "classes": classes, "devices": devices}  # fmt: skip


def speedtest_body(ok: bool, download: float) -> dict:
    body = {"backend": "iperf3", "server": "iperf.county.example:5201", "trigger": "scheduled", "ok": ok,
            "target_mbps": 100}
    body.update({"download_mbps": download, "upload_mbps": round(download / 2, 2)} if ok else {"error": "unreachable"})
    return body


def sync_body(active: bool, ready: bool) -> dict:
    return {"rural": True, "session": "s-math", "session_active": active, "ready": ready, "platform_up": True,
            "rtt_ms": 40.0, "jitter_ms": 3.0, "loss_pct": 0.0, "mos": 4.3 if ready else 2.1,
            "endpoints_up": int(ready), "endpoints_total": 1, "endpoints": [{"classroom": "c01", "up": ready}]}


@dataclass(frozen=True)
class Heads:
    """One school's line heads, per kind and state."""

    up: list[str]
    down: list[str]
    sweep: list[str]
    sweep_dead: list[str]
    sync: dict[tuple[bool, bool], list[str]]

    @classmethod
    def of(cls, school: School) -> Heads:
        sync = {(a, r): lines_of("sync", school, sync_body(a, r)) for a in (True, False) for r in (True, False)}
        return cls(lines_of("broadband", school, broadband_body(True)),
                   lines_of("broadband", school, broadband_body(False)),
                   lines_of("classrooms", school, classrooms_body(school, None)),
                   lines_of("classrooms", school, classrooms_body(school, "c01")), sync)


def _stamped(heads: list[str], stamps: range | list[int]) -> str:
    return "".join(f"{head}{ts}\n" for ts in stamps for head in heads)


def at(day: date, hour: int, minute: int = 0) -> int:
    return int(datetime.combine(day, time(hour, minute), ZONE).timestamp() * 1000)


def school_day_text(school: School, heads: Heads, day: date, day_index: int, cadence: Cadence) -> str:
    """Everything one school sent on one school day (07:00-18:00), as line protocol."""
    if silent_on(school, day_index):
        return ""
    start, end = at(day, WRITTEN_HOURS[0].hour), at(day, WRITTEN_HOURS[1].hour)
    parts = []
    if outage_on(school, day_index):
        cut, back = at(day, 10), at(day, 10, 20)
        step = cadence.broadband_s * 1000
        parts += [_stamped(heads.up, range(start, cut, step)), _stamped(heads.down, range(cut, back, step)),
                  _stamped(heads.up, range(back, end, step))]  # fmt: skip
    else:
        parts.append(_stamped(heads.up, range(start, end, cadence.broadband_s * 1000)))
    sweep = heads.sweep_dead if dead_room(school, day_index) else heads.sweep
    parts.append(_stamped(sweep, range(start, end, cadence.classrooms_s * 1000)))
    parts.append(_speed_test(school, day, day_index))
    if school.rural and day.weekday() in (1, 3):
        parts.append(_session(school, heads, day, day_index, cadence))
    return "".join(parts)


def _speed_test(school: School, day: date, day_index: int) -> str:
    ok = day_index % 9 != 4
    download = (60.0 if slow(school) else 150.0) + (number_of(school) % 7) * 3.5 - (day_index % 5) * 2.25
    heads = lines_of("speedtest", school, speedtest_body(ok, download))
    return _stamped(heads, [at(day, 17, 30) + number_of(school) * 1000])


def _session(school: School, heads: Heads, day: date, day_index: int, cadence: Cadence) -> str:
    """Announced 15 min before, then 45 active minutes, one sample every sync_s."""
    begin, fail_at = at(day, 10), at(day, 10, 20) if sync_fails(school, day_index) else None
    out = []
    for ts in range(begin - 15 * 60_000, begin + 45 * 60_000, cadence.sync_s * 1000):
        ready = fail_at is None or ts < fail_at
        out.append(_stamped(heads.sync[(ts >= begin, ready)], [ts]))
    return "".join(out)


def history(plan: Roster, cadence: Cadence) -> Iterator[bytes]:
    """The term's line protocol, one chunk per school day (every school's), in time order."""
    term = plan.settings.terms[0].days
    taught = [day for day in school_days(400) if term.first <= day <= term.last]
    heads = {school.key: Heads.of(school) for school in plan.schools}
    for index, day in enumerate(taught):
        yield "".join(school_day_text(school, heads[school.key], day, index, cadence)
                      for school in plan.schools).encode()

"""31 days of October 2026 for 12 schools in 2 counties, as the agents would have sent it.

Every message is a real contract message (the first of each kind and school is encoded and
validated by the contract) turned into line protocol by contract.to_lines, as the collector
does. The faults the issue lists are here, each in one place, and `Plan` answers "what did
school X send at time T", from which the test computes every figure by hand.

Cadence: broadband every 5 min, classroom sweeps every 10 min, sync every minute around
sessions (the report's expected intervals are settings; the test declares these), so that
the month is ~0.5 M lines and one write.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from roster.model import (
    Classroom,
    County,
    Device,
    Maintenance,
    ReportSettings,
    Roster,
    School,
    Settings,
)
from schoolnet_core import contract
from schoolnet_core.config.parsers import Check, DateRange, TimeRange

ZONE = ZoneInfo("Asia/Shanghai")
MONTH_START = datetime(2026, 10, 1, tzinfo=ZONE)
DAYS = 31
BB_S, SWEEP_S, SYNC_S = 300, 600, 60
HOLIDAY = DateRange(date(2026, 10, 1), date(2026, 10, 7))  # 国庆
MAKEUP = DateRange(date(2026, 10, 10), date(2026, 10, 10))  # 调休: a Saturday taught
MAINTENANCE = Maintenance(datetime(2026, 10, 14, 12, 0, tzinfo=ZONE), datetime(2026, 10, 14, 14, 0, tzinfo=ZONE),
                          county="hx", reason="城域网割接 metro cut-over")


def at(day: int, hour: int, minute: int = 0) -> int:
    return int(datetime(2026, 10, day, hour, minute, tzinfo=ZONE).timestamp() * 1000)


# Faults, each once ---------------------------------------------------------------------
OUTAGE_SCHOOL = ("hx", "hx-dazhuang-zx")
OUTAGES_IN_HOURS = ((at(13, 10, 0), at(13, 10, 45)), (at(20, 9, 0), at(20, 9, 10)))  # 45 and 10 min
OUTAGE_AT_NIGHT = (at(15, 2, 0), at(15, 4, 0))
HOLIDAY_DOWN = (("hx", "hx-xiaowan-xx"), (at(3, 0, 0), at(4, 0, 0)))  # a power cut on 10-03
MAINTENANCE_DOWN = (at(14, 12, 0), at(14, 14, 0))  # every hx school's link is down in the window
DEAD_PROJECTOR = (("hx", "hx-hexi-xx"), "c2", (at(19, 0, 0), at(22, 0, 0)))  # 19th, 20th, 21st
SLOW_SCHOOL = ("ly", "ly-shanbei-cz")
SYNC_FAIL = (("ly", "ly-gaoshan-xx"), at(15, 10, 23))  # Thursday 15th: endpoint fails at 10:23
SILENT = (("ly", "ly-tangxia-xx"), (at(19, 0, 0), at(26, 0, 0)))  # no message for a week
NEVER = ("ly", "ly-yuantou-jxd")  # declared, never reported


def _school(county: str, sid: str, name: str, kind: str, rural: bool, pupils: int | None, contracted: float | None,
            rooms: tuple[Classroom, ...]) -> School:
    return School(county, sid, name, kind, rural, enrolment=pupils, contracted_mbps=contracted, classrooms=rooms)


def _room(rid: str, name: str, devices: int) -> Classroom:
    kinds = ("interactive_panel", "projector")
    return Classroom(rid, name, tuple(
        Device(kinds[n], kinds[n], f"10.0.{n}.{len(rid)}", Check("tcp", port=80)) for n in range(devices)))


ROOMS = (_room("c1", "一年级(1)班", 1), _room("c2", "一年级(2)班", 2))
ROOMS_UNEQUIPPED = ROOMS + (_room("c3", "二年级(1)班", 0),)

SCHOOLS = (
    _school("hx", "hx-dazhuang-zx", "大庄中学", "初中", False, 820, 200.0, ROOMS),
    _school("hx", "hx-xiaowan-xx", "小湾小学", "小学", True, 310, 100.0, ROOMS),
    _school("hx", "hx-hexi-xx", "河西小学", "小学", True, 405, 100.0, ROOMS),
    _school("hx", "hx-chengguan-zx", "城关中学", "完全中学", False, 1500, 1000.0, ROOMS_UNEQUIPPED),
    _school("hx", "hx-liushu-jxd", "柳树教学点", "教学点", True, 38, None, ROOMS[:1]),
    _school("hx", "hx-nanmen-xx", "南门小学", "小学", False, None, 300.0, ROOMS),
    _school("ly", "ly-gaoshan-xx", "高山小学", "小学", True, 260, 100.0, ROOMS),
    _school("ly", "ly-shanbei-cz", "山北初级中学", "初中", True, 540, 100.0, ROOMS),
    _school("ly", "ly-tangxia-xx", "塘下小学", "小学", True, 190, 100.0, ROOMS),
    _school("ly", "ly-xincheng-zx", "新城中学", "高中", False, 2100, 1000.0, ROOMS),
    _school("ly", "ly-dongfang-xx", "东方小学", "小学", False, 700, 200.0, ROOMS),
    _school("ly", "ly-yuantou-jxd", "源头教学点", "教学点", True, 25, 50.0, ROOMS[:1]),
)

SETTINGS = Settings(
    default_target_mbps=100.0,
    target_by_type={"高中": 500.0, "完全中学": 500.0},
    school_hours=TimeRange(time(8, 0), time(17, 0)),
    holidays=(HOLIDAY,),
    extra_school_days=(MAKEUP,),
    maintenance=(MAINTENANCE,),
    report=ReportSettings(broadband_interval_s=BB_S, classroom_interval_s=SWEEP_S, sync_interval_s=SYNC_S),
)
ROSTER = Roster((County("hx", "华县"), County("ly", "林阳县")), SCHOOLS, SETTINGS)

# Download speeds per school: the base, and a repeating variation (Mbps).
BASE_MBPS = {s.id: b for s, b in zip(SCHOOLS, (230, 120, 140, 620, 105, 310, 150, 60, 130, 900, 240, 0))}
VARIATION = (-12.5, 3.0, 7.25, -4.0, 0.0, 9.5, -20.0)
SPEED_TEST_FAILS_EVERY = 9  # every 9th day's test fails (unreachable)


@dataclass(frozen=True)
class Plan:
    """What each school sent; `sent`, `bb_up`, `class_ready` answer for one instant."""

    def sent(self, school: School, ts: int) -> bool:
        if school.key == NEVER:
            return False
        if school.key == SILENT[0]:
            return not SILENT[1][0] <= ts < SILENT[1][1]
        return True

    def bb_up(self, school: School, ts: int) -> bool:
        outages = OUTAGES_IN_HOURS + (OUTAGE_AT_NIGHT,)
        if school.key == OUTAGE_SCHOOL and any(a <= ts < b for a, b in outages):
            return False
        if school.key == HOLIDAY_DOWN[0] and HOLIDAY_DOWN[1][0] <= ts < HOLIDAY_DOWN[1][1]:
            return False
        return not (school.county == "hx" and MAINTENANCE_DOWN[0] <= ts < MAINTENANCE_DOWN[1])

    def device_up(self, school: School, room: str, device: str, ts: int) -> bool:
        key, dead_room, (start, end) = DEAD_PROJECTOR
        return not (school.key == key and room == dead_room and device == "projector" and start <= ts < end)

    def speed(self, school: School, day: int) -> tuple[bool, float, float]:
        ok = day % SPEED_TEST_FAILS_EVERY != 0
        down = BASE_MBPS[school.id] + VARIATION[day % len(VARIATION)]
        return ok, down, round(down / 2, 2)

    def sync_ready(self, school: School, ts: int) -> bool:
        key, fails_at = SYNC_FAIL
        return not (school.key == key and fails_at <= ts < fails_at + 3_600_000)


PLAN = Plan()


def session_starts(school: School) -> list[int]:
    """Rural schools teach a synchronous session 10:00-10:45 every Tuesday and Thursday
    that is a school day (the agent's timetable knows the holidays)."""
    starts = []
    for n in range(DAYS):
        day = date(2026, 10, 1) + timedelta(days=n)
        if school.rural and day.weekday() in (1, 3) and not HOLIDAY.contains(day):
            starts.append(at(day.day, 10, 0))
    return starts


def speed_test_time(school: School, day: int) -> int:
    return at(day, 12, 30) if day == 14 else at(day, 18, SCHOOLS.index(school))  # 14th: in the window


def messages(school: School) -> list[contract.Message]:
    out = []
    start = int(MONTH_START.timestamp() * 1000)
    end = start + DAYS * 86_400_000
    for ts in range(start, end, BB_S * 1000):
        if PLAN.sent(school, ts):
            out.append(_broadband(school, ts))
    for ts in range(start, end, SWEEP_S * 1000):
        if PLAN.sent(school, ts):
            out.append(_sweep(school, ts))
    for day in range(1, DAYS + 1):
        ts = speed_test_time(school, day)
        if PLAN.sent(school, ts):
            out.append(_speed_test(school, day, ts))
    for session_start in session_starts(school):
        out.extend(_sync(school, session_start))
    return out


def _message(kind: str, school: School, ts: int, body: dict) -> contract.Message:
    return contract.Message(kind, school.county, school.id, ts, body)


def _broadband(school: School, ts: int) -> contract.Message:
    up = PLAN.bb_up(school, ts)
    target = {"target": "县教育城域网", "method": "icmp", "up": up, "loss_pct": 0.0 if up else 100.0}
    return _message("broadband", school, ts, {"up": up, "targets_up": int(up), "targets": [target]})


def _sweep(school: School, ts: int) -> contract.Message:
    local = datetime.fromtimestamp(ts / 1000, ZONE)
    in_hours = SETTINGS.is_school_day(local.date()) and time(8) <= local.time() < time(17)
    classes, devices = [], []
    for room in school.classrooms:
        states = [PLAN.device_up(school, room.id, device.id, ts) for device in room.devices]
        for device, up in zip(room.devices, states):
            devices.append({"classroom": room.id, "device": device.id, "name": device.id, "kind": device.kind,
                            "method": "tcp", "required": True, "status": "ok" if up else "device_error", "up": up})
        if room.devices:
            classes.append({"classroom": room.id, "name": room.name, "ready": all(states),
                            "required_total": len(states), "required_up": sum(states)})
    ready = sum(item["ready"] for item in classes)
    return _message("classrooms", school, ts, {
        "in_hours": in_hours, "classes_total": len(classes), "classes_ready": ready,
        "coverage_pct": 100.0 * ready / len(classes) if classes else None,
        "devices_total": len(devices), "devices_up": sum(d["up"] for d in devices),
        "classes": classes, "devices": devices,
    })


def _speed_test(school: School, day: int, ts: int) -> contract.Message:
    ok, down, up = PLAN.speed(school, day)
    body = {"backend": "iperf3", "server": "iperf.county.example:5201", "trigger": "scheduled", "ok": ok,
            "target_mbps": 100}
    body.update({"download_mbps": down, "upload_mbps": up} if ok else {"error": "unreachable"})
    return _message("speedtest", school, ts, body)


def _sync(school: School, session_start: int) -> list[contract.Message]:
    """15 minutes announced before, then 45 active minutes, one sample a minute."""
    out = []
    for minute in range(-15, 45):
        ts = session_start + minute * 60_000
        if not PLAN.sent(school, ts):
            continue
        active = minute >= 0
        ready = PLAN.sync_ready(school, ts)
        out.append(_message("sync", school, ts, {
            "rural": True, "session": "s-math", "session_active": active, "ready": ready,
            "platform_up": True, "rtt_ms": 40.0, "jitter_ms": 3.0, "loss_pct": 0.0,
            "mos": 4.3 if ready else 2.1, "endpoints_up": int(ready), "endpoints_total": 1,
            "endpoints": [{"classroom": "c1", "up": ready}],
        }))
    return out


def check_real(all_messages: list[contract.Message]) -> None:
    """The first message of each kind and school goes through the contract's own encoder
    and validator: the history is what an agent could have sent, not just any lines."""
    seen = set()
    for message in all_messages:
        key = (message.kind, message.county, message.school)
        if key in seen:
            continue
        seen.add(key)
        payload = contract.encode(message.kind, message.county, message.school, message.ts_ms, message.body)
        topic = contract.topic(message.county, message.school, message.kind)
        checked = contract.validate(topic, payload, now_ms=message.ts_ms)
        assert isinstance(checked, contract.Message), checked


def line_protocol() -> str:
    all_messages = [message for school in SCHOOLS for message in messages(school)]
    check_real(all_messages)
    return "\n".join(line for message in all_messages for line in contract.to_lines(message))

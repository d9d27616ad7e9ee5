"""The demo's simulated schools, their faults, and the agent config each one gets.

Pure: nothing here opens a socket or a file. `Place` says where a school's emulated devices
answer (demo.peers decides that); `agent_config` turns a school and its place into the
dict a school IT teacher would have written as YAML.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

GOOD_LINE_MBPS = 200.0
SLOW_LINE_MBPS = 40.0
TARGET_MBPS = 100.0
BROKER_PASSWORD_ENV = "SCHOOLNET_DEMO_MQTT_PASSWORD"
"""The agent insists on a broker password; the demo's broker admits anyone, so the demo
makes one up per run and hands it over in this variable."""


@dataclass(frozen=True)
class School:
    """One simulated school; the flags are the faults the demo plants in it."""

    county: str
    id: str
    name: str
    rural: bool
    line_mbps: float = GOOD_LINE_MBPS
    projector_dead: bool = False
    panel_off: bool = False
    uplink_down: bool = False
    sync_endpoint_off: bool = False

    @property
    def fault(self) -> str:
        """What is wrong here, zh-CN with English, for the on-screen list."""
        faults = [
            (self.line_mbps < TARGET_MBPS, f"出口线路仅 {self.line_mbps:g} Mbps / line gives {self.line_mbps:g} Mbps"),
            (self.projector_dead, "投影仪坏了，不应答 / projector dead, does not answer"),
            (self.panel_off, "一体机未开机 / interactive panel switched off"),
            (self.uplink_down, "上联全部不通 / every uplink target unreachable"),
            (self.sync_endpoint_off, "同步课堂终端无响应 / sync-classroom endpoint silent"),
        ]
        return "；".join(text for wrong, text in faults if wrong) or "正常 / healthy"


SCHOOLS = (
    School("hx", "hx-huaxi-zx", "花溪中学", rural=False),
    School("hx", "hx-dazhuang-zx", "大庄中学", rural=True, projector_dead=True),
    School("hx", "hx-qingyan-xx", "青岩小学", rural=True, line_mbps=SLOW_LINE_MBPS),
    School("ly", "ly-chengguan-xx", "城关小学", rural=False),
    School("ly", "ly-baisha-xx", "白沙小学", rural=True, panel_off=True, uplink_down=True),
    School("ly", "ly-gutian-zx", "古田中学", rural=True, sync_endpoint_off=True),
)
COUNTY_NAMES = {"hx": "花溪区", "ly": "龙游县"}


@dataclass(frozen=True)
class Place:
    """Where one school's emulated world answers (hosts on 127.0.0.0/8, real ports)."""

    panel: tuple[str, int]
    projector: tuple[str, int]
    sync_endpoint: tuple[str, int]
    uplink_tcp: tuple[str, int]
    uplink_dns: str
    platform: tuple[str, int]
    echo: tuple[str, int]
    speed_url: str


@dataclass(frozen=True)
class DemoClock:
    """The timetable's time zone, chosen so that it is midday there now: classes are in
    school hours and a synchronous session is on whatever the hour of the demo."""

    zone: str
    local_now: datetime


def midday_zone(now_utc: datetime) -> DemoClock:
    """A fixed-offset zone (Etc/GMT±N, whose sign is inverted) where `now_utc` is 12:xx."""
    shift = 12 - now_utc.hour  # -11 .. +12, all of which exist as Etc/GMT zones
    zone = "Etc/UTC" if shift == 0 else f"Etc/GMT{'-' if shift > 0 else '+'}{abs(shift)}"
    local = (now_utc + timedelta(hours=shift)).replace(tzinfo=timezone(timedelta(hours=shift)))
    return DemoClock(zone, local)


def speed_test_slot(local_now: datetime, lead_s: float) -> str:
    """The first whole minute at least `lead_s` from now, as HH:MM: the agent schedules
    tests at minutes of the day, so this is the soonest all agents are surely up for."""
    due = local_now + timedelta(seconds=lead_s)
    midnight = due.replace(hour=0, minute=0, second=0, microsecond=0)
    minute = math.ceil((due - midnight).total_seconds() / 60)
    return (midnight + timedelta(minutes=minute)).strftime("%H:%M")


def agent_config(school: School, place: Place, clock: DemoClock, speed_at: str,
                 broker_port: int, spool_path: str) -> dict:
    """The school's agent config, with the shortest intervals the config loader allows."""
    return {
        "school": {"id": school.id, "name": school.name, "county": school.county, "rural": school.rural},
        "broker": {"url": f"mqtt://127.0.0.1:{broker_port}", "allow_plaintext": True, "keepalive_s": 10,
                   "password_env": BROKER_PASSWORD_ENV},
        "spool": {"path": spool_path},
        "timetable": {
            "timezone": clock.zone,
            "school_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "lessons": ["08:00-08:45", "15:00-15:45"],
            "school_hours": "07:30-17:30",
        },
        "broadband": {"interval_s": 5, "timeout_s": 1, "targets": _broadband_targets(place)},
        "speed_test": {
            "backend": "http", "server": place.speed_url, "streams": 2, "duration_s": 3,
            "times": [speed_at], "stagger_window_min": 0, "target_mbps": TARGET_MBPS,
        },
        "sweep": {"interval_s": 10, "timeout_s": 1},
        "classrooms": _classrooms(place),
        "sync_classroom": _sync_classroom(place),
        "health": {"interval_s": 10},
    }  # fmt: skip


def _broadband_targets(place: Place) -> list[dict]:
    return [
        {"name": "县数据中心 county data centre", "check": f"tcp:{place.uplink_tcp[1]}", "host": place.uplink_tcp[0]},
        {"name": "县DNS county DNS", "check": "dns", "host": place.uplink_dns, "query": "www.moe.gov.cn"},
    ]


def _classrooms(place: Place) -> list[dict]:
    return [
        {"id": "c1", "name": "一年级(1)班", "devices": [
            {"id": "panel", "name": "交互式一体机", "kind": "interactive_panel",
             "host": place.panel[0], "check": f"tcp:{place.panel[1]}"}]},
        {"id": "c2", "name": "一年级(2)班", "devices": [
            {"id": "projector", "name": "投影仪", "kind": "projector",
             "host": place.projector[0], "check": "pjlink", "port": place.projector[1]}]},
    ]  # fmt: skip


def _sync_classroom(place: Place) -> dict:
    return {
        "platform": {"host": place.platform[0], "port": place.platform[1], "tls": False},
        "probe": {"method": "udp_echo", "host": place.echo[0], "port": place.echo[1], "count": 20, "interval_ms": 10},
        "endpoints": [{"classroom": "c1", "host": place.sync_endpoint[0], "check": f"tcp:{place.sync_endpoint[1]}"}],
        "sessions": [{"id": "s-c1-daily", "name": "每日同步课 daily sync lesson", "classroom": "c1",
                      "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                      "start": "10:00", "end": "14:30", "remote_school": "central-school"}],
    }  # fmt: skip


@dataclass(frozen=True)
class CountyFigures:
    schools: int
    broadband_pct: float
    egress_pct: float
    classes_pct: float
    rural_sync_pct: float


def expected_figures(schools: tuple[School, ...], county: str) -> CountyFigures:
    """What the rules should compute for a county once every school has reported and
    tested (each school has two classes, one of them with the projector)."""
    mine = [school for school in schools if school.county == county]
    rural = [school for school in mine if school.rural]
    ready_classes = sum(2 - school.panel_off - school.projector_dead for school in mine)
    return CountyFigures(
        schools=len(mine),
        broadband_pct=_pct(sum(not s.uplink_down for s in mine), len(mine)),
        egress_pct=_pct(sum(s.line_mbps >= TARGET_MBPS for s in mine), len(mine)),
        classes_pct=_pct(ready_classes, 2 * len(mine)),
        rural_sync_pct=_pct(sum(not s.sync_endpoint_off for s in rural), len(rural)),
    )


def _pct(part: int, whole: int) -> float:
    return round(100 * part / whole, 1) if whole else 0.0

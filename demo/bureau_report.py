"""The demo's last step: the bureau's report for the demo's day, made by schoolnet-report
from the same store, so that a county engineer trying schoolnet sees the document they
would file (HTML and XLSX, and the PDF where Chromium is installed)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from pathlib import Path

from demo.schools import COUNTY_NAMES, SCHOOLS, TARGET_MBPS
from report import cli, pdf, periods
from report.query import Store
from roster.model import (
    Classroom,
    County,
    Device,
    ReportSettings,
    Roster,
    School,
    Settings,
)
from schoolnet_core.config.parsers import WEEKDAYS, Check, TimeRange

SCHOOL_DAY = TimeRange(time(7, 30), time(17, 30))


def demo_roster(zone: str, hours: TimeRange = SCHOOL_DAY) -> Roster:
    """The demo's schools as a county would declare them, with the agents' demo cadence;
    `hours` are the school hours the figures are counted in."""
    rooms = (Classroom("c1", "一年级(1)班", (Device("panel", "interactive_panel", "127.0.0.1", Check("tcp", 1)),)),
             Classroom("c2", "一年级(2)班", (Device("projector", "projector", "127.0.0.1", Check("pjlink", 4352)),)))
    schools = tuple(School(s.county, s.id, s.name, "小学" if s.id.endswith("-xx") else "初中", s.rural,
                           timezone=zone, classrooms=rooms) for s in SCHOOLS)
    settings = Settings(default_target_mbps=TARGET_MBPS, school_days=WEEKDAYS, school_hours=hours,
                        report=ReportSettings(broadband_interval_s=5, classroom_interval_s=10, sync_interval_s=10))
    return Roster(tuple(County(cid, name) for cid, name in COUNTY_NAMES.items()), schools, settings)


def demo_hours(started: datetime, now: datetime) -> TimeRange:
    """The whole minutes the demo's agents have been measuring (their first round comes a
    few seconds after they start): counting the whole school day would show a two-minute
    demo as a school whose agent was silent all day. Less than a minute: the school day."""
    first = (started + timedelta(seconds=75)).replace(second=0, microsecond=0)
    last = now.replace(second=0, microsecond=0)
    if last <= first or first.date() != last.date():
        return SCHOOL_DAY
    return TimeRange(first.time(), last.time())


def write_reports(store_url: str, zone: str, local_now: datetime, out: Path,
                  now: datetime | None = None) -> list[Path]:
    """`local_now` is when the agents started, in the demo's zone; `now` defaults to the clock."""
    now = now or datetime.now(local_now.tzinfo)
    roster = demo_roster(zone, demo_hours(local_now, now))
    today = local_now.date()
    period = periods.day_range(today, today)
    formats = ["html", "xlsx"] + (["pdf"] if pdf.browser() else [])
    paths = []
    for county in roster.counties:
        paths += cli.make_report(Store(store_url), roster, county.id, period, formats, out)
    return paths

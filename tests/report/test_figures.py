"""Every figure of every school of October 2026, against values computed here by hand
from what tests/report/history.py wrote (and, for the faults, against literal numbers)."""

from __future__ import annotations

import math
import statistics
from datetime import date, datetime, timedelta

import pytest

from tests.report import history as h

SCHOOL_DAYS = [date(2026, 10, d) for d in (8, 9, 10, 12, 13, 14, 15, 16, 19, 20, 21, 22, 23, 26, 27, 28, 29, 30)]
HX_WINDOW = (h.at(14, 12), h.at(14, 14))


def counted(school, ts: int) -> bool:
    """08:00-17:00 on the 18 school days, minus hx's maintenance window, by hand."""
    moment = datetime.fromtimestamp(ts / 1000, h.ZONE)
    if moment.date() not in SCHOOL_DAYS or not 8 <= moment.hour < 17:
        return False
    return not (school.county == "hx" and HX_WINDOW[0] <= ts < HX_WINDOW[1])


def grid(step_s: int) -> range:
    start = h.at(1, 0)
    return range(start, start + h.DAYS * 86_400_000, step_s * 1000)


def expected(school) -> dict:
    bb = [ts for ts in grid(h.BB_S) if counted(school, ts)]
    sweeps = [ts for ts in grid(h.SWEEP_S) if counted(school, ts)]
    bb_sent = [ts for ts in bb if h.PLAN.sent(school, ts)]
    bb_up = [ts for ts in bb_sent if h.PLAN.bb_up(school, ts)]
    sweeps_sent = [ts for ts in sweeps if h.PLAN.sent(school, ts)]
    completeness = 100 * (len(bb_sent) + len(sweeps_sent)) / (len(bb) + len(sweeps))
    availability = 100 * len(bb_up) / len(bb_sent) if bb_sent else None
    runs = _runs([h.PLAN.bb_up(school, ts) for ts in bb_sent], bb_sent)
    return {
        "completeness_pct": round(completeness, 2),
        "counted_hours": round(len(bb) * h.BB_S / 3600, 2),
        "availability_pct": None if availability is None else round(availability, 2),
        "outages": len(runs),
        "outage_total_min": round(sum(runs) * h.BB_S / 60, 1),
        "outage_longest_min": round(max(runs, default=0) * h.BB_S / 60, 1),
        "broadband_ok": availability is not None and availability >= 99 and completeness >= 90,
        "reported": bool(bb_sent),
        **_egress(school), **_classes(school, sweeps_sent), **_sync(school),
    }


def _runs(states: list[bool], stamps: list[int]) -> list[int]:
    """Down runs, split where counted time is interrupted (a new day or the window)."""
    runs, current, previous = [], 0, None
    for up, ts in zip(states, stamps):
        contiguous = previous is not None and ts - previous == h.BB_S * 1000
        if (up or not contiguous) and current:
            runs.append(current)
            current = 0
        current += 0 if up else 1
        previous = ts
    return runs + ([current] if current else [])


def _egress(school) -> dict:
    tests = []
    for day in range(1, 32):
        ts = h.speed_test_time(school, day)
        if h.PLAN.sent(school, ts) and not (school.county == "hx" and HX_WINDOW[0] <= ts < HX_WINDOW[1]):
            tests.append(h.PLAN.speed(school, day))
    good = [t for t in tests if t[0]]
    down, up = sorted(t[1] for t in good), sorted(t[2] for t in good)
    target = {"高中": 500.0, "完全中学": 500.0}.get(school.type, 100.0)

    def p10(values):
        return values[math.ceil(len(values) / 10) - 1] if values else None

    def r1(value):
        return None if value is None else round(value, 1)

    median = statistics.median(down) if down else None
    return {"tests": len(tests), "tests_ok": len(good), "download_median": r1(median), "download_p10": r1(p10(down)),
            "upload_median": r1(statistics.median(up) if up else None), "upload_p10": r1(p10(up)),
            "target_mbps": target, "contracted_mbps": school.contracted_mbps,
            "egress_ok": median is not None and median >= target}


def _classes(school, sweeps_sent: list[int]) -> dict:
    ready = []
    for room in school.classrooms:
        ok = [ts for ts in sweeps_sent
              if room.devices and all(h.PLAN.device_up(school, room.id, d.id, ts) for d in room.devices)]
        ready.append(100 * len(ok) / len(sweeps_sent) if sweeps_sent else None)
    working = sum(1 for room, pct in zip(school.classrooms, ready) if room.devices and pct is not None and pct >= 90)
    equipped = sum(1 for room in school.classrooms if room.devices)
    declared = len(school.classrooms)
    return {"classes": declared, "equipped": equipped, "equipped_pct": round(100 * equipped / declared, 1),
            "ready_pct": round(sum(ready) / declared, 1) if sweeps_sent else None, "working": working,
            "working_per_100": round(100 * working / school.enrolment, 2) if school.enrolment else None,
            "classes_ok": equipped == declared == working}


def _sync(school) -> dict:
    if not school.rural:
        return {"sessions": None, "sessions_ready": None, "sessions_ready_pct": None, "mos_median": None,
                "sync_ok": None}
    sessions, ready, scores = 0, 0, []
    for start in h.session_starts(school):
        minutes = [start + m * 60_000 for m in range(45) if h.PLAN.sent(school, start + m * 60_000)]
        if not minutes:
            continue
        sessions += 1
        states = [h.PLAN.sync_ready(school, ts) for ts in minutes]
        ready += all(states) and len(minutes) == 45
        scores += [4.3 if state else 2.1 for state in states]
    pct = 100 * ready / sessions if sessions else None
    return {"sessions": sessions, "sessions_ready": ready, "sessions_ready_pct": None if pct is None else round(pct, 1),
            "mos_median": round(statistics.median(scores), 2) if scores else None,
            "sync_ok": pct is not None and pct >= 90}


@pytest.mark.parametrize("school", h.SCHOOLS, ids=lambda s: s.id)
def test_every_figure_of_every_school(october, school):
    row = next(row for row in october.schools if row.school == school.id)
    for name, value in expected(school).items():
        assert getattr(row, name) == value, f"{school.id}: {name}"


def figures(october, school_id):
    return next(row for row in october.schools if row.school == school_id)


def test_the_faults_show_as_a_county_engineer_would_count_them(october):
    """Literal numbers, so that a mistake shared by the report and the hand count still fails."""
    outage = figures(october, "hx-dazhuang-zx")
    assert (outage.outages, outage.outage_total_min, outage.outage_longest_min) == (2, 55.0, 45.0)
    assert outage.counted_hours == 160.0  # 18 days x 9 h - the 2 h window
    assert outage.availability_pct == round(100 * (1920 - 11) / 1920, 2) == 99.43
    holiday = figures(october, "hx-xiaowan-xx")  # down all of 10-03, a holiday
    assert (holiday.availability_pct, holiday.outages, holiday.completeness_pct) == (100.0, 0, 100.0)
    projector = figures(october, "hx-hexi-xx")
    # c2 is dead 3 school days (3 x 54 sweeps) of 960 counted sweeps: (100 + 83.125) / 2
    assert (projector.ready_pct, projector.working, projector.classes_ok) == (91.6, 1, False)
    slow = figures(october, "ly-shanbei-cz")
    assert (slow.egress_ok, slow.download_median, slow.tests, slow.tests_ok) == (False, 60.0, 31, 28)
    sync = figures(october, "ly-gaoshan-xx")
    assert (sync.sessions, sync.sessions_ready, sync.sync_ok) == (7, 6, False)
    silent = figures(october, "ly-tangxia-xx")
    assert silent.completeness_pct == round(100 * 13 / 18, 2) and not silent.broadband_ok
    assert (silent.sessions, silent.sessions_ready) == (5, 5)
    never = figures(october, "ly-yuantou-jxd")
    assert (never.reported, never.completeness_pct, never.availability_pct) == (False, 0.0, None)
    assert not (never.broadband_ok or never.egress_ok or never.classes_ok or never.sync_ok)
    unequipped = figures(october, "hx-chengguan-zx")
    assert (unequipped.classes, unequipped.equipped, unequipped.equipped_pct) == (3, 2, 66.7)


def test_county_summary_and_ledger(october):
    hx, ly = october.counties
    assert (hx.county, hx.schools, hx.reported, ly.schools, ly.reported) == ("hx", 6, 6, 6, 5)
    assert hx.never_reported == () and ly.never_reported == ("源头教学点",)
    for county in october.counties:
        rows = [row for row in october.schools if row.county == county.county]
        assert county.broadband_pct == round(100 * sum(r.broadband_ok for r in rows) / 6, 1)
        assert county.egress_pct == round(100 * sum(r.egress_ok for r in rows) / 6, 1)
        assert county.failing_egress == tuple(r.name for r in rows if not r.egress_ok)
        rural = [r for r in rows if r.rural]
        assert county.sync_pct == round(100 * sum(bool(r.sync_ok) for r in rural) / len(rural), 1)
    assert (hx.classes, hx.equipped, hx.equipped_pct) == (12, 11, 91.7)
    assert hx.failing_broadband == () and ly.failing_broadband == ("塘下小学", "源头教学点")
    assert [row.school for row in october.ledger] == ["ly-shanbei-cz", "ly-yuantou-jxd"]
    assert october.ledger[0].download_median == 60.0 and october.ledger[0].tests_ok == 28


def test_sessions_sheet_rows(october):
    failed = [s for s in october.sessions if s.school == "ly-gaoshan-xx" and not s.ready]
    assert [(s.day, s.start, s.minutes) for s in failed] == [("2026-10-15", "10:00", 45.0)]
    assert len([s for s in october.sessions if s.school == "ly-tangxia-xx"]) == 5
    assert date(2026, 10, 20) - timedelta(days=0) not in [date.fromisoformat(s.day) for s in october.sessions
                                                         if s.school == "ly-tangxia-xx"]

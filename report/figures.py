"""The report's figures: pure computation from the roster and the observations.

The roster is the denominator: every declared school gets a row, and a school that sent
nothing is not compliant and shows completeness 0 %. Compliance is judged on unrounded
values; the rows hold values rounded as they are shown, so that every format shows the
same numbers (style.md: one computed table, thin writers).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from report import periods
from report.gather import Observations, SchoolKey, SyncSample
from report.periods import Period
from roster.model import Roster, School


@dataclass(frozen=True)
class SchoolFigures:
    county: str
    county_name: str
    school: str
    name: str
    type: str
    rural: bool
    enrolment: int | None
    counted_hours: float
    reported: bool
    completeness_pct: float
    availability_pct: float | None
    outages: int
    outage_total_min: float
    outage_longest_min: float
    broadband_ok: bool
    tests: int
    tests_ok: int
    download_median: float | None
    download_p10: float | None
    upload_median: float | None
    upload_p10: float | None
    target_mbps: float
    contracted_mbps: float | None
    egress_ok: bool
    classes: int
    equipped: int
    equipped_pct: float | None
    ready_pct: float | None
    working: int
    working_per_100: float | None
    classes_ok: bool
    sessions: int | None  # None: not a rural school
    sessions_ready: int | None
    sessions_ready_pct: float | None
    mos_median: float | None
    sync_ok: bool | None


@dataclass(frozen=True)
class ClassFigures:
    county: str
    school: str
    school_name: str
    classroom: str
    name: str
    devices: int
    equipped: bool
    ready_pct: float | None
    working: bool


@dataclass(frozen=True)
class SessionFigures:
    county: str
    school: str
    school_name: str
    session: str
    day: str
    start: str
    minutes: float
    ready: bool
    mos_median: float | None


@dataclass(frozen=True)
class CountyFigures:
    county: str
    name: str
    schools: int
    reported: int
    broadband_pct: float | None
    egress_pct: float | None
    classes: int
    equipped: int
    equipped_pct: float | None
    ready_pct: float | None
    working_per_100: float | None
    rural: int
    sync_pct: float | None
    failing_broadband: tuple[str, ...]
    failing_egress: tuple[str, ...]
    failing_classes: tuple[str, ...]
    failing_sync: tuple[str, ...]
    never_reported: tuple[str, ...]


@dataclass(frozen=True)
class Report:
    period: Period
    generated: datetime
    counties: tuple[CountyFigures, ...]
    schools: tuple[SchoolFigures, ...]
    classes: tuple[ClassFigures, ...]
    sessions: tuple[SessionFigures, ...]
    roster: Roster

    @property
    def ledger(self) -> tuple[SchoolFigures, ...]:
        """带宽不达标台账: the schools whose egress is below target (or untested)."""
        return tuple(row for row in self.schools if not row.egress_ok)


def build(roster: Roster, schools: tuple[School, ...], period: Period,
          observed: dict[SchoolKey, Observations], generated: datetime | None = None) -> Report:
    school_rows, class_rows, session_rows = [], [], []
    for school in schools:
        found = observed.get(school.key, Observations())
        school_rows.append(school_figures(roster, school, period, found))
        class_rows.extend(class_figures(roster, school, found))
        session_rows.extend(session_figures(roster, school, found.sync))
    counties = tuple(
        county_figures(county.id, county.name, [row for row in school_rows if row.county == county.id], class_rows)
        for county in roster.counties if any(school.county == county.id for school in schools)
    )
    return Report(period, generated or datetime.now(timezone.utc), counties, tuple(school_rows),
                  tuple(class_rows), tuple(session_rows), roster)


def school_figures(roster: Roster, school: School, period: Period, found: Observations) -> SchoolFigures:
    settings = roster.settings.report
    counted_ms = periods.total_ms(periods.counted_intervals(period, roster.settings, school))
    completeness = _completeness(roster, school, counted_ms, found)
    availability = _pct(found.broadband_up, found.broadband_samples)
    outage_min = [run * settings.broadband_interval_s / 60 for run in found.down_runs]
    egress = _egress(roster, school, found)
    classes = _classes(roster, school, found)
    sync = _sync(roster, school, found.sync)
    reported = bool(found.broadband_samples or found.sweeps or found.speed_tests or found.sync)
    broadband_ok = (availability is not None and availability >= settings.availability_target_pct
                    and completeness >= settings.completeness_min_pct)
    county = roster.county(school.county)
    return SchoolFigures(
        school.county, county.name, school.id, school.name, school.type, school.rural, school.enrolment,
        round(counted_ms / 3_600_000, 2), reported, round(completeness, 2), _round(availability, 2),
        len(outage_min), round(sum(outage_min), 1), round(max(outage_min, default=0.0), 1), broadband_ok,
        *egress, *classes, *sync,
    )


def _completeness(roster: Roster, school: School, counted_ms: int, found: Observations) -> float:
    """Share of the expected broadband samples and classroom sweeps that arrived, each
    kind capped at what was expected (a re-sent sample is not extra evidence)."""
    settings = roster.settings.report
    expected_bb = counted_ms / (settings.broadband_interval_s * 1000)
    got = min(found.broadband_samples, expected_bb)
    expected = expected_bb
    if school.classrooms:
        expected_sweeps = counted_ms / (settings.classroom_interval_s * 1000)
        got += min(found.sweeps, expected_sweeps)
        expected += expected_sweeps
    return 100.0 * got / expected if expected else 0.0


def _egress(roster: Roster, school: School, found: Observations) -> tuple:
    ok_tests = [test for test in found.speed_tests if test.ok and test.download_mbps is not None]
    downloads = sorted(test.download_mbps for test in ok_tests)
    uploads = sorted(test.upload_mbps for test in ok_tests if test.upload_mbps is not None)
    target = roster.egress_target(school)
    median = statistics.median(downloads) if downloads else None
    return (
        len(found.speed_tests), len(ok_tests),
        _round(median, 1), _round(p10(downloads), 1),
        _round(statistics.median(uploads) if uploads else None, 1), _round(p10(uploads), 1),
        target, school.contracted_mbps, median is not None and median >= target,
    )


def p10(values: list[float]) -> float | None:
    """10th percentile, nearest rank: the value 90 % of tests reached (a real test's result)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(0.10 * len(ordered))) - 1]


def _classes(roster: Roster, school: School, found: Observations) -> tuple:
    settings = roster.settings.report
    declared = len(school.classrooms)
    equipped = sum(1 for room in school.classrooms if room.equipped)
    ready = [_class_ready_pct(found, room.id) if room.equipped else (0.0 if found.sweeps else None)
             for room in school.classrooms]
    working = sum(1 for room, pct in zip(school.classrooms, ready)
                  if room.equipped and pct is not None and pct >= settings.class_working_pct)
    school_ready = statistics.fmean(ready) if ready and found.sweeps else None
    per_100 = 100.0 * working / school.enrolment if school.enrolment else None
    ok = declared > 0 and equipped == declared and working == declared
    return (declared, equipped, _round(_pct(equipped, declared), 1), _round(school_ready, 1),
            working, _round(per_100, 2), ok)


def _class_ready_pct(found: Observations, room: str) -> float | None:
    """Ready sweeps over the school's sweeps: a class the agent never reported is not ready."""
    return _pct(found.class_ready.get(room, 0.0), found.sweeps)


def _sync(roster: Roster, school: School, samples: list[SyncSample]) -> tuple:
    if not school.rural:
        return (None, None, None, None, None)
    occurrences = sessions(roster, school, samples)
    ready = sum(1 for occurrence in occurrences if _whole_ready(roster, occurrence))
    pct = _pct(ready, len(occurrences))
    scores = [sample.mos for sample in samples if sample.mos is not None]
    ok = pct is not None and pct >= roster.settings.report.sync_ready_target_pct
    return (len(occurrences), ready, _round(pct, 1),
            _round(statistics.median(scores) if scores else None, 2), ok)


def sessions(roster: Roster, school: School, samples: list[SyncSample]) -> list[list[SyncSample]]:
    """Samples grouped into occurrences: one session id on one local day."""
    zone = ZoneInfo(school.timezone)
    grouped: dict[tuple[str, str], list[SyncSample]] = defaultdict(list)
    for sample in sorted(samples, key=lambda s: s.ts_ms):
        day = datetime.fromtimestamp(sample.ts_ms / 1000, zone).date().isoformat()
        grouped[(day, sample.session)].append(sample)
    return [grouped[key] for key in sorted(grouped)]


def _whole_ready(roster: Roster, occurrence: list[SyncSample]) -> bool:
    """Ready at every sample, with no gap longer than two intervals (a gap is not known ready)."""
    limit = 2 * roster.settings.report.sync_interval_s * 1000
    gaps = (b.ts_ms - a.ts_ms for a, b in zip(occurrence, occurrence[1:]))
    return all(sample.ready for sample in occurrence) and all(gap <= limit for gap in gaps)


def class_figures(roster: Roster, school: School, found: Observations) -> list[ClassFigures]:
    rows = []
    for room in school.classrooms:
        pct = _class_ready_pct(found, room.id) if room.equipped else (0.0 if found.sweeps else None)
        working = room.equipped and pct is not None and pct >= roster.settings.report.class_working_pct
        rows.append(ClassFigures(school.county, school.id, school.name, room.id, room.name,
                                 len(room.devices), room.equipped, _round(pct, 1), working))
    return rows


def session_figures(roster: Roster, school: School, samples: list[SyncSample]) -> list[SessionFigures]:
    if not school.rural:
        return []
    zone, interval_min = ZoneInfo(school.timezone), roster.settings.report.sync_interval_s / 60
    rows = []
    for occurrence in sessions(roster, school, samples):
        first = datetime.fromtimestamp(occurrence[0].ts_ms / 1000, zone)
        scores = [sample.mos for sample in occurrence if sample.mos is not None]
        rows.append(SessionFigures(
            school.county, school.id, school.name, occurrence[0].session, first.date().isoformat(),
            f"{first:%H:%M}", round(len(occurrence) * interval_min, 1), _whole_ready(roster, occurrence),
            _round(statistics.median(scores) if scores else None, 2),
        ))
    return rows


def county_figures(county: str, name: str, rows: list[SchoolFigures],
                   class_rows: list[ClassFigures]) -> CountyFigures:
    rural = [row for row in rows if row.rural]
    classes = sum(row.classes for row in rows)
    equipped = sum(row.equipped for row in rows)
    weighted = [(row.ready_pct or 0.0) * row.classes for row in rows if row.classes]
    enrolled = [row for row in rows if row.enrolment]
    pupils = sum(row.enrolment or 0 for row in enrolled)
    return CountyFigures(
        county, name, len(rows), sum(row.reported for row in rows),
        _round(_pct(sum(row.broadband_ok for row in rows), len(rows)), 1),
        _round(_pct(sum(row.egress_ok for row in rows), len(rows)), 1),
        classes, equipped, _round(_pct(equipped, classes), 1),
        _round(sum(weighted) / classes if classes else None, 1),
        _round(100.0 * sum(row.working for row in enrolled) / pupils if pupils else None, 2),
        len(rural), _round(_pct(sum(bool(row.sync_ok) for row in rural), len(rural)), 1),
        tuple(row.name for row in rows if not row.broadband_ok),
        tuple(row.name for row in rows if not row.egress_ok),
        tuple(row.name for row in rows if not row.classes_ok),
        tuple(row.name for row in rural if not row.sync_ok),
        tuple(row.name for row in rows if not row.reported),
    )


def _pct(part: float, whole: float) -> float | None:
    return 100.0 * part / whole if whole else None


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)

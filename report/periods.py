"""Report periods (a month, a term, any range of days) and the time that counts in them.

A bureau judges a school on the hours it teaches: availability is counted inside school
hours of school days, and holidays and declared maintenance windows are left out. This
module turns a period and the roster's settings into, per school, the list of those
intervals ("counted time"); everything else in the report asks it questions.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from roster.model import DEFAULT_SCHOOL_HOURS, Maintenance, School, Settings

Interval = tuple[int, int]
"""UTC milliseconds, the start inside and the end outside."""

_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")


@dataclass(frozen=True)
class Period:
    """Calendar days, both ends included, with the label people see (2026-10, a term's name)."""

    label: str
    first: date
    last: date

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    @property
    def slug(self) -> str:
        """The label as a file-name part (term names may hold spaces or slashes)."""
        return re.sub(r"[^0-9A-Za-z\u4e00-\u9fff_-]+", "_", self.label).strip("_") or "period"


def month(text: str) -> Period:
    match = _MONTH.fullmatch(text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"month {text!r} is not YYYY-MM, e.g. 2026-09")
    year, number = int(match.group(1)), int(match.group(2))
    last_day = calendar.monthrange(year, number)[1]
    return Period(f"{year:04d}-{number:02d}", date(year, number, 1), date(year, number, last_day))


def last_month(today: date) -> Period:
    """The month before `today`'s: what the timer on the 1st reports on."""
    previous = today.replace(day=1) - timedelta(days=1)
    return month(f"{previous:%Y-%m}")


def term(settings: Settings, name: str) -> Period:
    days = settings.term(name).days
    return Period(name, days.first, days.last)


def day_range(first: date, last: date) -> Period:
    if last < first:
        raise ValueError(f"--to {last} is before --from {first}")
    return Period(f"{first}..{last}", first, last)


def bounds_ms(period: Period, timezone: str) -> Interval:
    """The whole period, midnight to midnight in `timezone`."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(period.first, datetime.min.time(), zone)
    end = datetime.combine(period.last + timedelta(days=1), datetime.min.time(), zone)
    return _ms(start), _ms(end)


def school_days(period: Period, settings: Settings) -> list[date]:
    return [day for day in period.days() if settings.is_school_day(day)]


def counted_intervals(period: Period, settings: Settings, school: School) -> tuple[Interval, ...]:
    """School hours of the period's school days for this school, minus the maintenance
    windows that cover it: the only time availability and readiness are judged in."""
    zone = ZoneInfo(school.timezone)
    hours = settings.school_hours or DEFAULT_SCHOOL_HOURS
    intervals = [
        (_ms(datetime.combine(day, hours.start, zone)), _ms(datetime.combine(day, hours.end, zone)))
        for day in school_days(period, settings)
    ]
    windows = [window for window in settings.maintenance if window.covers(school.county, school.id)]
    return tuple(subtract(intervals, [window_ms(window) for window in windows]))


def maintenance_in(period: Period, settings: Settings, school: School) -> tuple[Maintenance, ...]:
    start, end = bounds_ms(period, school.timezone)
    return tuple(
        window for window in settings.maintenance
        if window.covers(school.county, school.id) and _overlap(window_ms(window), (start, end))
    )


def subtract(intervals: list[Interval], holes: list[Interval]) -> list[Interval]:
    """`intervals` with every hole cut out; empty pieces dropped."""
    result = list(intervals)
    for hole_start, hole_end in holes:
        pieces: list[Interval] = []
        for start, end in result:
            if hole_end <= start or hole_start >= end:
                pieces.append((start, end))
                continue
            if start < hole_start:
                pieces.append((start, hole_start))
            if hole_end < end:
                pieces.append((hole_end, end))
        result = pieces
    return sorted(result)


def total_ms(intervals: tuple[Interval, ...] | list[Interval]) -> int:
    return sum(end - start for start, end in intervals)


def inside(ts_ms: int, intervals: tuple[Interval, ...]) -> bool:
    return any(start <= ts_ms < end for start, end in intervals)


def _overlap(a: Interval, b: Interval) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def window_ms(window: Maintenance) -> Interval:
    return _ms(window.start), _ms(window.end)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)

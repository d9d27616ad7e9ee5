"""The school calendar question both sides ask: is this a school day?

A school's timetable (agent.yaml) and a county's settings (the roster) declare the same
things, weekdays, holidays and make-up days (调休), and must answer alike."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from schoolnet_core.config.parsers import WEEKDAYS, DateRange


def is_school_day(day: date, school_days: Sequence[str], holidays: Sequence[DateRange],
                  extra_school_days: Sequence[DateRange]) -> bool:
    """Make-up days are school days even at weekends; holidays never are."""
    if any(days.contains(day) for days in extra_school_days):
        return True
    if any(days.contains(day) for days in holidays):
        return False
    return WEEKDAYS[day.weekday()] in school_days

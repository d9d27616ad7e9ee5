"""When a school runs its speed tests: outside lessons, staggered across the county.

A county's schools share the county's uplink and its test server, so if they all tested at
12:10 they would measure each other. Each school's slots are shifted by an offset derived
from its ids (stagger_offset), the same on every start and different for each school, so
the county's schools spread over the stagger window without talking to each other. A slot
that would overlap a lesson moves to the end of that lesson, keeping its offset, so the
schools whose slots fell in one lesson do not all start together when it ends.

Everything here but SpeedTestGuard is pure: times in, times out.

    plan = SpeedTestPlan(times=(time(12, 10), time(17, 10)), lessons=(...), ...)
    when = next_run(plan, "hx", "hx-dazhuang-zx", after=datetime.now(timezone.utc))
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Callable, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

T = TypeVar("T")

DAY = timedelta(days=1)
LOOKAHEAD_DAYS = 8
"""A plan with a slot on any day finds its next run within a week; a day of margin."""
MAX_MOVES = 100
"""Lesson-ends a slot may be moved past before the plan is declared impossible."""


def weekdays(day: date) -> bool:
    """Monday to Friday: the default school days when no timetable says otherwise."""
    return day.weekday() < 5


@dataclass(frozen=True)
class Lesson:
    """A lesson's local start and end. The config's TimeRange (same fields) fits as well."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ValueError(f"lesson {self.start:%H:%M}-{self.end:%H:%M} must end after it starts")


@dataclass(frozen=True)
class SpeedTestPlan:
    """The schedule part of the `speed_test` config, with the timetable's lessons.

    times: fixed local times (HH:MM) every day. interval: also every `interval` from local
    midnight (00:00, 04:00, ... for 4 h). school_day(date) says whether lessons are held
    that day (Timetable.is_school_day knows holidays and make-up days). test_length: how
    long a test takes; a slot whose test would run into a lesson is moved too."""

    times: tuple[time, ...] = ()
    interval: timedelta | None = None
    timezone: str = "Asia/Shanghai"
    lessons: tuple[Lesson, ...] = ()
    school_day: Callable[[date], bool] = field(default=weekdays, compare=False)
    during_lessons: bool = False
    stagger_window: timedelta = timedelta(minutes=30)
    test_length: timedelta = timedelta(minutes=1)

    def __post_init__(self) -> None:
        if not self.times and self.interval is None:
            raise ValueError("speed_test: give times (e.g. [\"12:10\"]) or interval_min, or both")
        if self.interval is not None and not timedelta(minutes=1) <= self.interval <= DAY:
            raise ValueError(f"speed_test.interval_min: {self.interval} is not within 1 min-24 h")
        if not timedelta(0) <= self.stagger_window <= DAY:
            raise ValueError(f"speed_test.stagger_window_min: {self.stagger_window} is not within 0-24 h")
        if self.test_length < timedelta(0):
            raise ValueError("test_length must not be negative")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timetable.timezone: {self.timezone!r} is not a time zone; e.g. Asia/Shanghai") from None


def parse_hhmm(text: str) -> time:
    """A local time of day from "HH:MM" (the config's notation); ValueError says how to write it."""
    try:
        hours, minutes = text.strip().split(":")
        if len(minutes) != 2:
            raise ValueError
        return time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f"{text!r} is not a time of day; write HH:MM, e.g. \"12:10\"") from None


def stagger_offset(county: str, school: str, window: timedelta) -> timedelta:
    """This school's shift within the window, in whole seconds: sha256 of "county/school",
    so it never changes for a school and the county's schools spread evenly over it."""
    seconds = int(window.total_seconds())
    if seconds <= 0:
        return timedelta(0)
    digest = hashlib.sha256(f"{county}/{school}".encode()).digest()
    return timedelta(seconds=int.from_bytes(digest[:8], "big") % seconds)


def next_run(plan: SpeedTestPlan, county: str, school: str, after: datetime) -> datetime:
    """The school's first test time strictly after `after` (an aware datetime), in UTC.

    UTC because arithmetic between two aware datetimes of the same zone ignores a DST fold:
    subtract `after` from the result to get the seconds to wait."""
    if after.utcoffset() is None:
        raise ValueError("pass an aware datetime, e.g. datetime.now(timezone.utc)")
    zone = ZoneInfo(plan.timezone)
    offset = stagger_offset(county, school, plan.stagger_window)
    after_utc = after.astimezone(timezone.utc)
    today = after_utc.astimezone(zone).date()
    candidates: list[datetime] = []
    for days in range(-1, LOOKAHEAD_DAYS):
        day = today + timedelta(days=days)
        if candidates and datetime.combine(day, time(0), tzinfo=zone) > min(candidates):
            break  # every slot of this day or later starts after its midnight: none is earlier
        for base in day_slots(plan, day):
            slot = _outside_lessons(plan, base + offset, offset)
            slot_utc = slot.replace(tzinfo=zone).astimezone(timezone.utc)
            if slot_utc > after_utc:
                candidates.append(slot_utc)
    if not candidates:
        raise ValueError("speed_test: no test time in the next week; check times, interval and lessons")
    return min(candidates)


def day_slots(plan: SpeedTestPlan, day: date) -> list[datetime]:
    """The unshifted local wall-clock slots of one day (naive datetimes)."""
    midnight = datetime.combine(day, time(0))
    slots = {datetime.combine(day, moment) for moment in plan.times}
    if plan.interval is not None:
        step = midnight
        while step < midnight + DAY:
            slots.add(step)
            step += plan.interval
    return sorted(slots)


def _outside_lessons(plan: SpeedTestPlan, slot: datetime, offset: timedelta) -> datetime:
    """The slot, or - if its test would overlap a lesson - that lesson's end plus the
    school's offset, repeated while that lands in another lesson."""
    if plan.during_lessons:
        return slot
    for _ in range(MAX_MOVES):
        lesson = overlapping_lesson(plan, slot)
        if lesson is None:
            return slot
        slot = datetime.combine(slot.date(), lesson.end) + offset
    raise ValueError("speed_test: the lessons leave no time for a test; set during_lessons: true")


def overlapping_lesson(plan: SpeedTestPlan, slot: datetime) -> Lesson | None:
    """The lesson that a test starting at `slot` (local wall clock) would run into, if any."""
    if not plan.school_day(slot.date()):
        return None
    end = slot + plan.test_length
    for lesson in plan.lessons:
        start = datetime.combine(slot.date(), lesson.start)
        stop = datetime.combine(slot.date(), lesson.end)
        if start <= slot < stop or slot < start < end:  # starts in it, or runs into it
            return lesson
    return None


# --- on demand ------------------------------------------------------------------------------


@dataclass(frozen=True)
class OnDemandDecision:
    """Whether county IT's "test now" runs; if not, when to ask again."""

    allowed: bool
    retry_after_s: float = 0.0


def on_demand_decision(last_started: float | None, now: float, min_gap_s: float = 600.0) -> OnDemandDecision:
    """At most one on-demand test per `min_gap_s` per school (times from time.monotonic()).

    A test moves tens of megabytes over the county uplink; a dashboard button pressed ten
    times must not become ten tests."""
    if last_started is None:
        return OnDemandDecision(True)
    waited = max(0.0, now - last_started)
    if waited >= min_gap_s:
        return OnDemandDecision(True)
    return OnDemandDecision(False, round(min_gap_s - waited, 1))


# --- never two at once ----------------------------------------------------------------------


@dataclass(frozen=True)
class AlreadyRunning:
    """The answer when a test is asked for while one runs: which one, since when (UTC)."""

    trigger: str
    since: datetime

    def __str__(self) -> str:
        return f"a {self.trigger} speed test has been running since {self.since:%H:%M:%S} UTC"


class SpeedTestGuard:
    """Lets one speed test run at a time in the daemon: two tests at once would each
    measure half the line. A second request is answered AlreadyRunning, never queued -
    a queued test would run late, maybe in a lesson."""

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self._clock = clock
        self._lock: asyncio.Lock | None = None  # made in the running loop (Python 3.9 binds it)
        self.running: AlreadyRunning | None = None

    async def run(self, trigger: str, test: Callable[[], Awaitable[T]]) -> T | AlreadyRunning:
        """Runs `test` unless one runs already. Cancelling this cancels the test; a test in a
        thread (asyncio.to_thread) still runs to its end, so cancel only when exiting."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        if self._lock.locked():
            assert self.running is not None  # set in the same step the lock was taken
            return self.running
        async with self._lock:
            self.running = AlreadyRunning(trigger, self._clock())
            try:
                return await test()
            finally:
                self.running = None

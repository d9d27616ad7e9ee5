"""When speed tests run: stagger, lessons, zones, on-demand limits, one test at a time."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.schedule import (
    AlreadyRunning,
    Lesson,
    OnDemandDecision,
    SpeedTestGuard,
    SpeedTestPlan,
    next_run,
    on_demand_decision,
    overlapping_lesson,
    parse_hhmm,
    stagger_offset,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
WINDOW = timedelta(minutes=30)
COUNTY_SCHOOLS = [f"hx-{number:03d}" for number in range(1, 201)]  # similar ids, the hard case
LESSONS = tuple(
    Lesson(parse_hhmm(start), parse_hhmm(end))
    for start, end in [
        ("08:00", "08:45"), ("08:55", "09:40"), ("10:00", "10:45"), ("10:55", "11:40"),
        ("14:00", "14:45"), ("14:55", "15:40"), ("15:50", "16:35"),
    ]
)  # fmt: skip
MONDAY = date(2026, 3, 2)
SATURDAY = date(2026, 3, 7)


def local(day: date, hhmm: str, zone: ZoneInfo = SHANGHAI) -> datetime:
    return datetime.combine(day, parse_hhmm(hhmm), tzinfo=zone)


def offset_of(school: str, window: timedelta = WINDOW) -> timedelta:
    return stagger_offset("hx", school, window)


# --- HH:MM ---------------------------------------------------------------------------------


def test_times_of_day_are_read_as_the_config_writes_them():
    assert parse_hhmm("12:10") == time(12, 10)
    assert parse_hhmm(" 07:05 ") == time(7, 5)


@pytest.mark.parametrize("text", ["12", "12:1", "24:00", "12:60", "noon", "12:10:00"])
def test_a_time_of_day_that_is_not_hh_mm_says_how_to_write_it(text):
    with pytest.raises(ValueError, match="write HH:MM"):
        parse_hhmm(text)


# --- stagger --------------------------------------------------------------------------------


def test_a_schools_offset_never_changes_and_stays_in_the_window():
    assert offset_of("hx-dazhuang-zx") == offset_of("hx-dazhuang-zx") == timedelta(seconds=575)
    assert timedelta(0) <= offset_of("hx-dazhuang-zx") < WINDOW


def test_the_same_school_id_in_two_counties_gets_different_offsets():
    assert stagger_offset("hx", "no1-zx", WINDOW) != stagger_offset("gy", "no1-zx", WINDOW)


def test_no_window_means_no_offset():
    assert stagger_offset("hx", "hx-001", timedelta(0)) == timedelta(0)


@given(county=st.from_regex(r"[a-z0-9][a-z0-9_-]{0,20}", fullmatch=True),
       school=st.from_regex(r"[a-z0-9][a-z0-9_-]{0,63}", fullmatch=True),
       minutes=st.integers(1, 240))  # fmt: skip
def test_every_offset_is_whole_seconds_inside_its_window(county, school, minutes):
    offset = stagger_offset(county, school, timedelta(minutes=minutes))
    assert timedelta(0) <= offset < timedelta(minutes=minutes)
    assert offset.microseconds == 0


def test_200_schools_spread_evenly_over_a_30_minute_window():
    """Uniform in six 5-minute bins: 33.3 expected each, binomial sd 5.3; +-2.5 sd allowed.

    Chi-square with 5 degrees of freedom stays under 20.5 (p = 0.001) for a fair spread."""
    bins = Counter(int(offset_of(school).total_seconds()) // 300 for school in COUNTY_SCHOOLS)
    assert sorted(bins) == [0, 1, 2, 3, 4, 5]
    assert all(20 <= count <= 47 for count in bins.values()), bins
    expected = len(COUNTY_SCHOOLS) / 6
    assert sum((count - expected) ** 2 / expected for count in bins.values()) < 20.5


def test_200_schools_never_crowd_into_the_same_10_seconds():
    """200 schools in 180 ten-second buckets cannot all be apart (pigeonhole), and a school
    does not know the others' ids. What a fair hash promises is Poisson crowding: 1.1 schools
    per bucket on average, and more than 7 in any of the 180 buckets for only 0.4 % of id
    sets (180 * P(X >= 8), X ~ Poisson(1.1)). A weak hash of similar ids would crowd far more."""
    buckets = Counter(int(offset_of(school).total_seconds()) // 10 for school in COUNTY_SCHOOLS)
    assert max(buckets.values()) <= 7, buckets.most_common(3)


def test_200_schools_rarely_overlap_their_25_second_tests():
    """On average 200 * 25 s / 1800 s = 2.8 tests run at once. The busiest 25 s of the window
    holds more than 11 starts for 1.4 % of uniformly random id sets (2000 simulated), against
    200 if all started together."""
    starts = sorted(offset_of(school).total_seconds() for school in COUNTY_SCHOOLS)
    most = max(sum(1 for other in starts if start <= other < start + 25) for start in starts)
    assert most <= 11


# --- next run -------------------------------------------------------------------------------


def plan(**changes) -> SpeedTestPlan:
    values = {"times": (time(12, 10), time(17, 10)), "lessons": LESSONS, "stagger_window": WINDOW}
    values.update(changes)
    return SpeedTestPlan(**values)


def test_the_next_run_is_todays_slot_shifted_by_the_schools_offset():
    school = "hx-dazhuang-zx"
    when = next_run(plan(), "hx", school, after=local(MONDAY, "09:00"))
    assert when == local(MONDAY, "12:10") + offset_of(school)
    assert when.tzinfo == timezone.utc


def test_after_a_run_the_next_one_is_the_following_slot():
    school = "hx-dazhuang-zx"
    first = next_run(plan(), "hx", school, after=local(MONDAY, "09:00"))
    second = next_run(plan(), "hx", school, after=first)
    third = next_run(plan(), "hx", school, after=second)
    assert second == local(MONDAY, "17:10") + offset_of(school)
    assert third == local(MONDAY + timedelta(days=1), "12:10") + offset_of(school)


THIRD_LESSON = (Lesson(time(10, 0), time(10, 45)),)


def test_a_slot_in_a_lesson_moves_to_the_lessons_end_keeping_its_offset():
    school = "hx-dazhuang-zx"  # offset 9 min 35 s: 10:00 + offset is in the lesson
    when = next_run(plan(times=(time(10, 0),), lessons=THIRD_LESSON), "hx", school, after=local(MONDAY, "07:00"))
    assert when == local(MONDAY, "10:45") + offset_of(school)


def test_a_slot_whose_test_would_run_into_a_lesson_moves_too():
    school = "hx-dazhuang-zx"
    start = (datetime.combine(MONDAY, time(10, 0)) - offset_of(school) - timedelta(seconds=30)).time()
    when = next_run(plan(times=(start,), lessons=THIRD_LESSON), "hx", school, after=local(MONDAY, "07:00"))
    assert when == local(MONDAY, "10:45") + offset_of(school)  # 30 s before the lesson, 60 s test


def test_the_moved_slot_leaves_room_for_the_test_before_the_next_lesson():
    school = "hx-dazhuang-zx"  # 10:45 + 9:35 = 10:54:35; a 1-minute test would end in lesson 4
    when = next_run(plan(times=(time(10, 0),)), "hx", school, after=local(MONDAY, "07:00"))
    assert when == local(MONDAY, "11:40") + offset_of(school)


def test_moves_go_on_through_back_to_back_lessons():
    lessons = (Lesson(time(10, 0), time(10, 45)), Lesson(time(10, 50), time(11, 35)))
    school = "hx-dazhuang-zx"  # 10:45 + 9:35 falls in the second lesson
    when = next_run(plan(times=(time(10, 20),), lessons=lessons), "hx", school, after=local(MONDAY, "07:00"))
    assert when == local(MONDAY, "11:35") + offset_of(school)


def test_no_lessons_at_weekends_and_on_holidays():
    school = "hx-dazhuang-zx"
    saturday = next_run(plan(times=(time(10, 0),)), "hx", school, after=local(SATURDAY, "07:00"))
    assert saturday == local(SATURDAY, "10:00") + offset_of(school)
    holiday = plan(times=(time(10, 0),), school_day=lambda day: day != MONDAY)
    assert next_run(holiday, "hx", school, after=local(MONDAY, "07:00")) == local(MONDAY, "10:00") + offset_of(school)


def test_during_lessons_true_keeps_the_slot():
    school = "hx-dazhuang-zx"
    when = next_run(plan(times=(time(10, 0),), during_lessons=True), "hx", school, after=local(MONDAY, "07:00"))
    assert when == local(MONDAY, "10:00") + offset_of(school)


def test_an_interval_counts_from_local_midnight_and_still_avoids_lessons():
    school = "hx-dazhuang-zx"
    every_6h = plan(times=(), interval=timedelta(hours=6))
    runs = [local(MONDAY, "00:00")]
    for _ in range(4):
        runs.append(next_run(every_6h, "hx", school, after=runs[-1]))
    offset = offset_of(school)
    assert runs[1:] == [
        local(MONDAY, "00:00") + offset,
        local(MONDAY, "06:00") + offset,
        local(MONDAY, "12:00") + offset,
        local(MONDAY, "18:00") + offset,
    ]
    hourly = plan(times=(), interval=timedelta(hours=1))
    assert next_run(hourly, "hx", school, after=local(MONDAY, "08:30")) == local(MONDAY, "09:40") + offset


def test_county_schools_whose_slots_fall_in_a_lesson_do_not_pile_up_at_its_end():
    """Slot 10:00 (+0-30 min) is inside lesson 3 (10:00-10:45) for every school."""
    morning = plan(times=(time(10, 0),))
    runs = [next_run(morning, "hx", school, after=local(MONDAY, "07:00")) for school in COUNTY_SCHOOLS]
    assert all(run >= local(MONDAY, "10:45") for run in runs)
    assert max(Counter(run.timestamp() // 10 for run in runs).values()) <= 7  # as without lessons


def test_slots_are_local_times_of_the_plans_zone():
    school = "hx-dazhuang-zx"
    urumqi = next_run(plan(timezone="Asia/Urumqi"), "hx", school, after=local(MONDAY, "00:00"))
    shanghai = next_run(plan(), "hx", school, after=local(MONDAY, "00:00"))
    assert urumqi - shanghai == timedelta(hours=2)  # UTC+6 against UTC+8
    assert urumqi.astimezone(ZoneInfo("Asia/Urumqi")).time() == (datetime.combine(MONDAY, time(12, 10)) + offset_of(school)).time()


def test_shanghai_has_no_dst_so_a_daily_slot_is_24_hours_apart_all_year():
    daily = plan(times=(time(17, 10),))
    runs = [local(date(2026, 1, 1), "00:00")]
    for _ in range(365):
        runs.append(next_run(daily, "hx", "hx-001", after=runs[-1]))
    assert {later - earlier for earlier, later in zip(runs[1:], runs[2:])} == {timedelta(days=1)}


def test_a_dst_zone_runs_once_a_day_even_when_the_clock_jumps():
    """New York, 2026: 02:30 does not exist on 8 March (clocks jump 02:00 -> 03:00), 01:30
    happens twice on 1 November. Each day still gets exactly one run."""
    for time_of_day, day in ((time(2, 30), date(2026, 3, 8)), (time(1, 30), date(2026, 11, 1))):
        daily = plan(times=(time_of_day,), timezone="America/New_York", stagger_window=timedelta(0))
        runs = [datetime.combine(day - timedelta(days=2), time(12), tzinfo=NEW_YORK)]
        for _ in range(4):
            runs.append(next_run(daily, "hx", "hx-001", after=runs[-1]))
        days = [run.astimezone(NEW_YORK).date() for run in runs[1:]]
        assert days == [day - timedelta(days=1), day, day + timedelta(days=1), day + timedelta(days=2)]
    spring = next_run(plan(times=(time(2, 30),), timezone="America/New_York", stagger_window=timedelta(0)),
                      "hx", "hx-001", after=datetime(2026, 3, 8, 0, 0, tzinfo=NEW_YORK))  # fmt: skip
    assert spring.astimezone(NEW_YORK).time() == time(3, 30)


def test_lessons_all_day_every_day_are_refused():
    always = plan(lessons=(Lesson(time(0, 0), time(23, 59)),), school_day=lambda day: True)
    with pytest.raises(ValueError, match="during_lessons"):
        next_run(always, "hx", "hx-001", after=local(MONDAY, "00:00"))


def test_a_naive_time_is_refused():
    with pytest.raises(ValueError, match="aware"):
        next_run(plan(), "hx", "hx-001", after=datetime(2026, 3, 2, 9, 0))


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"times": ()}, "give times"),
        ({"interval": timedelta(seconds=10)}, "interval_min"),
        ({"stagger_window": timedelta(days=2)}, "stagger_window_min"),
        ({"timezone": "Asia/Beijing"}, "timetable.timezone"),
    ],
)
def test_impossible_plans_are_refused_in_config_terms(changes, message):
    with pytest.raises(ValueError, match=message):
        plan(**changes)


def test_a_lesson_must_end_after_it_starts():
    with pytest.raises(ValueError, match="must end after it starts"):
        Lesson(time(9, 0), time(8, 0))


@settings(max_examples=200, deadline=None)
@given(
    times=st.lists(st.times(), min_size=1, max_size=3),
    after=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(SHANGHAI)),
    school=st.sampled_from(COUNTY_SCHOOLS),
)
def test_every_run_is_later_outside_lessons_and_none_is_skipped(times, after, school):
    the_plan = plan(times=tuple(times))
    when = next_run(the_plan, "hx", school, after=after)
    assert after < when <= after + timedelta(days=2)
    wall = when.astimezone(SHANGHAI).replace(tzinfo=None)
    assert overlapping_lesson(the_plan, wall) is None
    assert next_run(the_plan, "hx", school, after=when - timedelta(microseconds=1)) == when


# --- on demand ------------------------------------------------------------------------------


def test_the_first_on_demand_test_is_allowed():
    assert on_demand_decision(None, now=1000.0) == OnDemandDecision(True)


def test_a_second_within_ten_minutes_is_told_when_to_retry():
    assert on_demand_decision(1000.0, now=1100.0) == OnDemandDecision(False, 500.0)
    assert on_demand_decision(1000.0, now=1600.0) == OnDemandDecision(True)


def test_a_clock_that_went_backwards_counts_as_no_time_waited():
    assert on_demand_decision(1000.0, now=900.0, min_gap_s=600) == OnDemandDecision(False, 600.0)


# --- one at a time --------------------------------------------------------------------------


def test_a_second_test_while_one_runs_is_answered_already_running():
    since = datetime(2026, 3, 2, 4, 19, 35, tzinfo=timezone.utc)

    async def scenario():
        guard = SpeedTestGuard(clock=lambda: since)
        release = asyncio.Event()

        async def long_test():
            await release.wait()
            return "first result"

        first = asyncio.ensure_future(guard.run("scheduled", long_test))
        await asyncio.sleep(0)  # the first test starts and waits
        second = await guard.run("on_demand", long_test)
        release.set()
        first_result = await first
        third = await guard.run("on_demand", lambda: asyncio.sleep(0, result="third result"))
        return first_result, second, third

    first, second, third = asyncio.run(scenario())
    assert first == "first result"
    assert second == AlreadyRunning("scheduled", since)
    assert str(second) == "a scheduled speed test has been running since 04:19:35 UTC"
    assert third == "third result"


def test_a_test_that_fails_frees_the_guard():
    async def scenario():
        guard = SpeedTestGuard()

        async def broken():
            raise RuntimeError("iperf3 crashed")

        with pytest.raises(RuntimeError):
            await guard.run("scheduled", broken)
        assert guard.running is None
        return await guard.run("on_demand", lambda: asyncio.sleep(0, result="ran"))

    assert asyncio.run(scenario()) == "ran"

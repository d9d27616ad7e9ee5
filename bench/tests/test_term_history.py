"""The term report benchmark's history (bench/term_history.py): the term, the lines, the faults."""

from __future__ import annotations

from datetime import date

from bench import term_history as th
from report import periods

CADENCE = th.Cadence(broadband_s=60, classrooms_s=600, sync_s=60)


def test_the_term_has_the_school_days_asked_for_and_skips_the_holidays():
    roster = th.roster(120, CADENCE)
    period = periods.term(roster.settings, th.TERM_NAME)
    days = periods.school_days(period, roster.settings)
    assert len(days) == 120 and days[0] == date(2026, 3, 2)
    assert date(2026, 4, 6) not in days and date(2026, 5, 4) not in days and date(2026, 4, 7) in days
    assert len(roster.schools) == 300 and [county.id for county in roster.counties] == ["c000", "c001", "c002"]


def test_only_the_fields_the_report_reads_are_kept():
    school = th.roster(3, CADENCE).schools[4]  # 12 classes
    heads = th.Heads.of(school)
    assert heads.up == ["schoolnet_broadband,county=c000,school=s00004 up=true "]
    assert heads.sweep[0] == "schoolnet_classrooms,county=c000,school=s00004 classes_total=12i "
    assert heads.sweep[1] == "schoolnet_classrooms_class,classroom=c01,county=c000,name=1班,school=s00004 ready=true "
    assert len(heads.sweep) == 13 and heads.sweep_dead[1].endswith(" ready=false ")
    assert heads.sync[(True, False)] == [
        "schoolnet_sync,county=c000,rural=true,school=s00004,session=s-math mos=2.1,ready=false,session_active=true "]


def test_a_school_day_of_lines_with_its_faults():
    roster = th.roster(10, CADENCE)
    day = th.school_days(1)[0]
    by_number = {th.number_of(school): school for school in roster.schools}
    plain = th.school_day_text(by_number[0], th.Heads.of(by_number[0]), day, 1, CADENCE).splitlines()
    assert sum(line.startswith("schoolnet_broadband,") for line in plain) == 11 * 60  # 07:00-18:00 every minute
    assert sum(line.startswith("schoolnet_classrooms,") for line in plain) == 11 * 6
    assert sum(line.startswith("schoolnet_classrooms_class,") for line in plain) == 11 * 6 * 6
    outage = th.school_day_text(by_number[3], th.Heads.of(by_number[3]), day, 2, CADENCE)
    assert outage.count(" up=false ") == 20  # 10:00-10:20
    assert th.school_day_text(by_number[7], th.Heads.of(by_number[7]), day, 0, CADENCE) == ""  # silent

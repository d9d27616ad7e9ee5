"""Silent schools: pure last-seen tracking and its line protocol."""

from __future__ import annotations

from collector.presence import LastSeen, SchoolPresence, presence_lines


def test_school_turns_silent_after_silent_after_s():
    seen = LastSeen(silent_after_s=180)
    seen.heard("hx", "hx-01", at_s=1000.0)
    assert seen.report(1180.0) == [SchoolPresence("hx", "hx-01", False, 180.0)]
    assert seen.report(1180.5) == [SchoolPresence("hx", "hx-01", True, 180.5)]


def test_hearing_again_resets_and_never_goes_back_in_time():
    seen = LastSeen(silent_after_s=60)
    seen.heard("hx", "a", at_s=100.0)
    seen.heard("hx", "a", at_s=500.0)
    seen.heard("hx", "a", at_s=300.0)  # a late-processed message cannot make it older
    assert seen.report(520.0) == [SchoolPresence("hx", "a", False, 20.0)]


def test_report_covers_every_school_heard_sorted_by_county_then_school():
    seen = LastSeen(silent_after_s=60)
    seen.heard("zy", "b", 10.0)
    seen.heard("hx", "c", 50.0)
    seen.heard("hx", "a", 0.0)
    report = seen.report(100.0)
    assert [(r.county, r.school, r.silent) for r in report] == [
        ("hx", "a", True),
        ("hx", "c", False),
        ("zy", "b", True),
    ]
    assert len(seen) == 3


def test_an_expected_school_turns_silent_from_when_it_was_expected_unless_heard():
    seen = LastSeen(silent_after_s=60)
    seen.expect("hx", "hung", at_s=100.0)  # retained online=true, then nothing
    seen.heard("hx", "talks", at_s=90.0)
    seen.expect("hx", "talks", at_s=100.0)  # already heard: expecting changes nothing
    assert seen.report(170.0) == [SchoolPresence("hx", "hung", True, 70.0), SchoolPresence("hx", "talks", True, 80.0)]
    seen.heard("hx", "hung", at_s=175.0)
    assert seen.report(180.0)[0] == SchoolPresence("hx", "hung", False, 5.0)


def test_nobody_heard_nothing_reported():
    assert LastSeen(silent_after_s=60).report(1e6) == []


def test_presence_lines_name_the_series_the_rules_use():
    lines = presence_lines(
        [SchoolPresence("hx", "hx-01", True, 200.25), SchoolPresence("hx", "hx-02", False, 3.0)],
        ts_ms=1795570200000,
        collector="c-1",
    )
    assert lines == [
        "schoolnet_presence,collector=c-1,county=hx,school=hx-01 last_seen_age_s=200.25,silent=1i 1795570200000",
        "schoolnet_presence,collector=c-1,county=hx,school=hx-02 last_seen_age_s=3,silent=0i 1795570200000",
    ]

from __future__ import annotations

import json

import pytest

from bench.report import (
    INFO,
    MISS,
    MISSING,
    PASS,
    Figure,
    Outcome,
    Target,
    failed_outcome,
    number_text,
    render_markdown,
    summary_rows,
    to_json,
)


def test_a_target_compares_the_value_or_the_ratio_to_the_anchor():
    at_least = Target(">=", 0.95)
    assert (at_least.met_by(0.95), at_least.met_by(0.949)) == (True, False)
    assert Target("<", 10).met_by(9.99) and not Target("<", 10).met_by(10)

    on_ratio = Figure("x", 3.0, "s", "fping", 2.0, Target("<=", 1.5, "ratio"))
    assert (on_ratio.ratio, on_ratio.verdict) == (1.5, PASS)
    assert Figure("x", 3.1, "s", "fping", 2.0, Target("<=", 1.5, "ratio")).verdict == MISS


def test_a_figure_without_target_is_information_and_without_value_has_no_verdict():
    assert Figure("x", 1.0).verdict == INFO
    assert Figure("x", None, target=Target(">=", 1)).verdict == MISSING
    assert Figure("x", 1.0, anchor="a", anchor_value=0.0).ratio is None


def test_a_target_refuses_an_unknown_comparison():
    with pytest.raises(ValueError, match="compare must be one of"):
        Target("==", 1)


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [(None, "s", "—"), (18741.3, "points/s", "18,741 points/s"), (2.0874, "s", "2.09 s"),
     (34.12, "MB", "34.1 MB"), (0.0713, "s", "0.0713 s"), (0.967, "", "0.967")],
)
def test_numbers_read_as_three_significant_digits(value, unit, text):
    assert number_text(value, unit) == text


def test_the_report_table_has_a_row_per_figure_and_one_for_a_benchmark_that_failed():
    outcomes = [
        Outcome("sweep", "t", (Figure("wall", 2.0, "s", "fping", 4.0, Target("<=", 1.5, "ratio", "<= 1.5x")),)),
        failed_outcome("fleet", "t", "TimeoutError: no births"),
    ]

    rows = summary_rows(outcomes)

    assert rows[0] == ["sweep", "wall", "2 s", "fping: 4 s", "0.50x", "<= 1.5x", "pass 达标"]
    assert rows[1][:2] == ["fleet", "(did not finish)"] and "no births" in rows[1][-1]
    markdown = render_markdown(outcomes, {"mode": "quick", "started": "2026-11-25 17:00", "duration_s": 300})
    assert "| sweep | wall | 2 s | fping: 4 s | 0.50x | <= 1.5x | pass 达标 |" in markdown
    assert "Targets: 1 pass 达标, 0 miss 未达标" in markdown
    assert "Did not finish: `TimeoutError: no births`" in markdown


def test_the_json_report_carries_ratio_and_verdict_beside_the_raw_details():
    outcome = Outcome("sweep", "t", (Figure("wall", 3.0, "s", "fping", 2.0, Target("<=", 1.5, "ratio")),),
                      details={"runs": [1, 2]})

    document = json.loads(to_json([outcome], {"mode": "full"}))

    figure = document["benchmarks"][0]["figures"][0]
    assert (figure["ratio"], figure["verdict"]) == (1.5, PASS)
    assert document["benchmarks"][0]["details"] == {"runs": [1, 2]}


def test_a_floor_anchor_is_shown_without_a_ratio():
    figure = Figure("lag p99", 4.35, "s", "broker PUBACK p99", 0.09, Target("<", 10), like_for_like=False)
    assert (figure.ratio, figure.verdict) == (None, PASS)

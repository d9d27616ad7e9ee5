from __future__ import annotations

import pytest

from bench.fleet import Part, collectors_needed, percentile, project


def test_nearest_rank_percentiles():
    values = [float(n) for n in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 99), percentile(values, 100)) == (50.0, 99.0, 100.0)
    assert percentile([3.0], 99) == 3.0 and percentile([], 50) is None


def test_the_province_is_the_county_times_five_against_what_each_part_can_use():
    parts = [Part("broker", 5.0, 43, 1), Part("collector", 28.0, 60, 1), Part("victoria-metrics", 9.0, 740, 2)]

    projections = project(parts, 10_000, 50_000)

    assert [p.name for p in projections] == ["collector", "broker", "victoria-metrics"]
    assert projections[0].cpu_pct_then == pytest.approx(140.0) and projections[0].load == pytest.approx(1.4)
    assert projections[2].capacity_pct == 200


def test_collectors_needed_keeps_each_under_70_percent_of_a_core():
    assert (collectors_needed(140.0), collectors_needed(70.0), collectors_needed(5.0)) == (2, 1, 1)

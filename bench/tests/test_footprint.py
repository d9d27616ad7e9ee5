from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bench.footprint import cpu_pct_between, first_test_minute
from bench.usage import Sample, usage_of


def test_the_speed_test_goes_to_the_first_whole_minute_far_enough_ahead():
    now = datetime(2026, 11, 25, 16, 51, 50, tzinfo=timezone.utc)
    at = first_test_minute(now, lead_s=15)
    assert (at.hour, at.minute, at.second, at.utcoffset().total_seconds()) == (0, 53, 0, 8 * 3600)
    assert first_test_minute(datetime(2026, 11, 25, 16, 51, 40, tzinfo=timezone.utc), 15).minute == 52



def test_usage_and_cpu_inside_and_outside_a_window():
    samples = [Sample(float(t), 30_000_000 + t * 1_000_000, cpu) for t, cpu in ((0, 1.0), (10, 1.1), (20, 3.1), (30, 3.2))]
    usage = usage_of(samples)
    assert (usage.seconds, round(usage.cpu_s, 6), usage.cpu_pct) == (30.0, 2.2, pytest.approx(2.2 / 30 * 100))
    assert usage.rss_peak_mb == pytest.approx(60_000_000 / 2**20)
    assert cpu_pct_between(samples, 10, 20, inside=True) == pytest.approx(20.0)
    assert cpu_pct_between(samples, 10, 20, inside=False) == pytest.approx(1.0)
    assert usage_of(samples[:1]) is None


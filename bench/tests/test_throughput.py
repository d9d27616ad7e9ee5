"""bench/throughput.py's arithmetic."""

from __future__ import annotations

import pytest

from bench.throughput import steady_rate


def test_the_steady_drain_rate_leaves_out_the_first_batch_and_the_last_ones_wait():
    total = 12_000
    polled = [(0.0, 0), (0.1, 0), (0.2, 5000), (0.3, 5000), (0.4, 10_000),  # steady: 5000 in 0.2 s
              (0.5, 10_000), (0.9, 10_000), (1.4, 12_000)]  # the last 2,000 waited for max_wait_s
    assert steady_rate(polled, total) == pytest.approx(25_000)
    assert steady_rate([(0.0, 0), (1.0, total)], total) is None  # one write: no rate in between
    assert steady_rate([], total) is None

"""Fuzzing settings shared by tests/fuzz: reproducible (derandomized, no example database,
so CI and a laptop run the same examples), no per-example deadline (CI machines vary)."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

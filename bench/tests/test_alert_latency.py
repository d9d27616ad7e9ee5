from __future__ import annotations

import pytest

from bench.alert_latency import Timeline, median_after_kill, rules_without_for

RULES = """groups:
  - name: g
    rules:
      - alert: AgentOffline
        expr: up == 0
        for: 10m
      - alert: CountyOutage
        expr: x > 1
        for: 2m
        annotations:
          description: "for: 10m is not touched in text"
"""


def test_every_for_becomes_0s_and_nothing_else_changes():
    changed = rules_without_for(RULES)
    assert changed.count("for: 0s") == 2
    assert changed.replace("for: 0s", "for: X") == RULES.replace("for: 10m\n", "for: X\n").replace(
        "for: 2m\n", "for: X\n")
    assert 'description: "for: 10m is not touched in text"' in changed



def test_stage_times_are_counted_from_the_kill():
    first = Timeline(100.0, {"will": 100.1, "webhook": 250.0})
    second = Timeline(120.0, {"will": 120.2})
    assert first.after_kill("webhook") == 150.0 and second.after_kill("webhook") is None
    assert (first.done, second.done) == (True, False)
    assert median_after_kill([first, second], "will") == pytest.approx(0.15)
    assert median_after_kill([second], "webhook") is None


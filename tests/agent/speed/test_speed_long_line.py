"""speedtest backend on a long lossy line: the engine's figure is flagged, not passed off as
the line's (issue 15). One real shaped link, 100 Mbit/s with a 300 ms round trip and 2 %
loss: its upload waits for its last requests' answers well past the test's length."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agent.probes.speed_test import ENGINE_LIMITED_TEXT, human_report
from schoolnet_core import contract
from tests.agent.speed.test_speed_netns import CountySide, as_message, county_side

pytestmark = pytest.mark.netns


@pytest.fixture(scope="module")
def long_line() -> Iterator[CountySide]:
    with county_side(rate_mbit=100, delay_ms=150, loss_pct=2) as side:
        yield side


def test_the_engine_on_a_long_lossy_line_is_flagged_in_the_message_and_for_people(long_line):
    result = long_line.speed_test("speedtest")

    assert result.ok, result.detail
    assert result.engine_limited is True, result
    message = as_message(result)
    assert isinstance(message, contract.Message), message
    assert message.body["engine_limited"] is True
    assert ENGINE_LIMITED_TEXT in human_report(result)

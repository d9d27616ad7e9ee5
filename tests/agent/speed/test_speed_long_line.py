"""speedtest backend on a long lossy line: the engine's figure is flagged, not passed off as
the line's (issue 15). One real shaped link, 100 Mbit/s with a 300 ms round trip and 2 %
loss: its upload waits for its last requests' answers well past the test's length."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agent.probes.speed_test import ENGINE_LIMITED_TEXT, human_report, speedtest_body
from schoolnet_core import contract
from schoolnet_stack.netns import Link
from schoolnet_stack.requirements import require_binary, require_netns
from tests.agent.speed.test_speed_netns import CountySide

pytestmark = pytest.mark.netns


@pytest.fixture(scope="module")
def long_line() -> Iterator[CountySide]:
    require_netns()
    require_binary("iperf3")  # CountySide serves iperf3 too
    with Link(rate_mbit=100, delay_ms=150, loss_pct=2) as link:
        link.run_in("a", ["ip", "route", "add", "default", "via", link.b_ip], check=True)
        side = CountySide(link)
        try:
            side.start()
            yield side
        finally:
            side.stop()


def test_the_engine_on_a_long_lossy_line_is_flagged_in_the_message_and_for_people(long_line):
    result = long_line.speed_test("speedtest")

    assert result.ok, result.detail
    assert result.engine_limited is True, result
    body = speedtest_body(result, "scheduled", target_mbps=100)
    message = contract.validate(
        contract.topic("hx", "hx-dazhuang-zx", "speedtest"),
        contract.encode("speedtest", "hx", "hx-dazhuang-zx", 1795570200000, body),
        now_ms=1795570200000,
    )
    assert isinstance(message, contract.Message), message
    assert message.body["engine_limited"] is True
    assert ENGINE_LIMITED_TEXT in human_report(result)

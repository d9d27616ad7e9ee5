"""Store, refuse or ignore: one message at a time, no servers."""

from __future__ import annotations

import json

import pytest

from collector import intake
from collector.service import retry_delay
from schoolnet_core import contract
from tests.contract.examples import example_bytes

NOW = 1795570200000
TOPIC = contract.topic("hx", "hx-dazhuang-zx", "speedtest")


def test_valid_message_becomes_line_protocol_with_its_school():
    outcome = intake.examine(TOPIC, example_bytes("speedtest"), NOW)
    assert isinstance(outcome, intake.Accepted)
    assert (outcome.county, outcome.school) == ("hx", "hx-dazhuang-zx")
    assert len(outcome.lines) == 1
    line = outcome.lines[0]
    assert line.startswith("schoolnet_speedtest,backend=iperf3,county=hx,")
    assert "download_mbps=94.2" in line
    assert line.endswith(f" {NOW}")


def test_status_is_stamped_with_the_receive_time():
    received = NOW + 3_600_000
    outcome = intake.examine(contract.topic("hx", "hx-dazhuang-zx", "status"), example_bytes("status"), received)
    assert outcome.lines == (
        f"schoolnet_agent,agent_version=0.1.0,county=hx,school=hx-dazhuang-zx,school_name=大庄中学 online=true {received}",
    )


def test_commands_are_ignored_whatever_they_hold():
    assert intake.examine("schoolnet/v1/hx/hx-01/cmd", b"\xff", NOW) == intake.Ignored("command topic")
    assert intake.is_command("schoolnet/v1/hx/hx-01/cmd")
    assert not intake.is_command("schoolnet/v1/hx/hx-01/cmd/x")
    assert not intake.is_command("other/v1/hx/hx-01/cmd")


def test_an_empty_status_clears_a_retired_schools_retained_one_and_is_ignored():
    assert intake.examine("schoolnet/v1/hx/hx-01/status", b"", NOW) == intake.Ignored("retained status cleared")
    assert isinstance(intake.examine("schoolnet/v1/hx/hx-01/broadband", b"", NOW), intake.Refused)


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        (TOPIC, b"{", "bad_json"),
        (TOPIC, example_bytes("speedtest", schema=2), "schema_version"),
        (TOPIC, example_bytes("speedtest", school="hx-other"), "identity_mismatch"),
        ("schoolnet/v1/hx/hx-01/weather", b"{}", "unknown_kind"),
    ],
)
def test_invalid_messages_are_refused_with_the_contracts_reason(topic, payload, reason):
    outcome = intake.examine(topic, payload, NOW)
    assert isinstance(outcome, intake.Refused)
    assert outcome.reason == reason
    assert outcome.detail


def test_a_backslash_in_a_name_is_refused_not_lost_in_the_store():
    """influxdb-client does not escape it; VictoriaMetrics would skip the line yet answer 204."""
    document = json.loads(example_bytes("broadband"))
    document["targets"][1]["target"] = "C:\\ 机房"
    outcome = intake.examine(contract.topic("hx", "hx-dazhuang-zx", "broadband"), json.dumps(document).encode(), NOW)
    assert outcome == intake.Refused("bad_text", "targets[1].target: must not contain a backslash")


def test_a_bug_refuses_the_message_as_internal_error(monkeypatch):
    def broken(message, received_ms=None):
        raise KeyError("surprise")

    monkeypatch.setattr(contract, "to_lines", broken)
    outcome = intake.examine(TOPIC, example_bytes("speedtest"), NOW)
    assert outcome == intake.Refused("internal_error", "KeyError: 'surprise'")


def test_store_retries_back_off_exponentially_up_to_the_cap():
    assert [retry_delay(n, cap_s=30) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert retry_delay(10_000, cap_s=5) == 5

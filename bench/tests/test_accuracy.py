from __future__ import annotations

import json

import pytest

from bench.accuracy import (
    IPERF3_RESET_NOTE,
    LinkCase,
    Throughput,
    failure_notes,
    goodput_ceiling_mbit,
    link_figures,
    parse_agent,
    parse_iperf3,
    target_for,
)
from bench.report import INFO, MISS, PASS


def test_the_goodput_ceiling_is_the_payload_share_of_a_full_packet():
    assert goodput_ceiling_mbit(100) == pytest.approx(100 * 1448 / 1500)


@pytest.mark.parametrize(
    ("backend", "case", "limit"),
    [("iperf3", LinkCase(20), 0.95), ("http", LinkCase(500), 0.95), ("speedtest", LinkCase(100), 0.90),
     ("speedtest", LinkCase(500), None), ("http", LinkCase(100, delay_ms=30, loss_pct=0.5), None)],
)
def test_targets_are_the_issues_and_none_on_the_lossy_link(backend, case, limit):
    target = target_for(backend, case)
    assert (target.limit if target else None) == limit


def test_backends_are_read_against_iperf3_on_the_same_link():
    case = LinkCase(100)
    anchor = {"download": Throughput("iperf3 anchor", "download", 96.7),
              "upload": Throughput("iperf3 anchor", "upload", 96.0)}
    results = [Throughput("http", "download", 91.3, 100.0), Throughput("http", "upload", None, problem="timeout")]

    anchor_down, _, http_down, http_up = link_figures(case, anchor, results)

    assert anchor_down.value == pytest.approx(0.967) and anchor_down.ratio == pytest.approx(0.967 / (1448 / 1500))
    assert anchor_down.verdict == INFO
    assert (http_down.value, http_down.anchor_value) == (pytest.approx(0.913), pytest.approx(0.967))
    assert http_down.verdict == MISS and "busiest core 100%" in http_down.note
    assert http_up.value is None and "failed: timeout" in http_up.note
    assert link_figures(case, anchor, [Throughput("iperf3", "upload", 96.5)])[2].verdict == PASS


def test_iperf3_and_agent_output_are_parsed_or_say_why_not():
    report = json.dumps({"end": {"sum_received": {"bits_per_second": 96.7e6, "bytes": 1}}})
    assert parse_iperf3(report, "download").mbps == pytest.approx(96.7)
    assert parse_iperf3("iperf3: error - unable to connect", "upload").problem.startswith("iperf3: error")

    agent = json.dumps({"ok": False, "error": "timeout", "detail": "no answer", "download_mbps": 12.5})
    down, up = parse_agent(agent, "http")
    assert (down.mbps, up.mbps, down.problem) == (12.5, None, "timeout: no answer")
    assert all(result.problem == "Traceback" for result in parse_agent("Traceback", "http"))


def test_failed_runs_are_named_and_iperf3s_own_reset_explained():
    details = {"100 Mbit/s, 30 ms, 0.5% loss": {"agent": [
        {"tool": "iperf3", "direction": "upload", "problem": "protocol: iperf3: unable to receive control message"},
        {"tool": "http", "direction": "upload", "problem": ""},
    ]}}

    notes = failure_notes(details)

    assert notes[0].startswith("100 Mbit/s, 30 ms, 0.5% loss: agent iperf3 upload failed: protocol:")
    assert notes[1] == IPERF3_RESET_NOTE
    assert failure_notes({"20 Mbit/s": {"agent": []}}) == ()

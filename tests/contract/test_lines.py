"""contract.to_lines writes exactly, byte for byte, what influxdb-client writes for the
Points of contract.to_points: the collector stores the first, the documentation and the
store round-trip test describe the second, so they must never drift apart.

2,400 generated valid messages (400 of every kind, through JSON and validate() as the
collector receives them), every CONTRACT.md example, and the number and text edge cases
written out. Reproducible: tests/fuzz/reproducible.py.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schoolnet_core import contract
from tests.contract.examples import contract_examples
from tests.contract.influx_points import to_points
from tests.fuzz.messages import (
    NOW_MS,
    TRICKY_TEXT,
    body_of,
    ids,
    payload_of,
    timestamps,
)
from tests.fuzz.reproducible import FUZZ

RECEIVED_MS = NOW_MS + 1234
"""When the collector received it: status lines carry this time instead of the agent's."""


def library_lines(message: contract.Message, received_ms: int | None = None) -> list[str]:
    return [point.to_line_protocol() for point in to_points(message, received_ms=received_ms)]


def assert_same_lines(message: contract.Message) -> None:
    for received_ms in (None, RECEIVED_MS):
        ours, theirs = contract.to_lines(message, received_ms), library_lines(message, received_ms)
        assert ours == theirs, f"received_ms={received_ms}\nto_lines:\n{ours}\nto_points:\n{theirs}"


def accepted(kind: str, county: str, school: str, ts: int, body: dict, ensure_ascii: bool = False):
    document = {"schema": 1, "kind": kind, "county": county, "school": school, "ts": ts, **body}
    answer = contract.validate(contract.topic(county, school, kind), payload_of(document, ensure_ascii), NOW_MS)
    assert isinstance(answer, contract.Message), answer
    return answer


@pytest.mark.parametrize("kind", list(contract.KINDS))
@settings(FUZZ, max_examples=400)
@given(data=st.data())
def test_generated_messages_of_every_kind_give_the_librarys_lines(kind, data):
    body = data.draw(body_of(contract.KINDS[kind]), label="body")
    ts = data.draw(timestamps(kind), label="ts")
    ascii_only = data.draw(st.booleans(), label="ensure_ascii")
    message = accepted(kind, data.draw(ids, label="county"), data.draw(ids, label="school"), ts, body, ascii_only)
    assert_same_lines(message)


@pytest.mark.parametrize("kind", list(contract_examples()))
def test_every_contract_example_gives_the_librarys_lines(kind):
    document = contract_examples()[kind]
    message = contract.validate(contract.topic(document["county"], document["school"], kind),
                                json.dumps(document).encode(), NOW_MS)  # fmt: skip
    assert isinstance(message, contract.Message), message
    lines = contract.to_lines(message)
    assert lines and all(line.startswith(f"schoolnet_{'agent' if kind == 'status' else kind}") for line in lines)
    assert_same_lines(message)


def test_the_examples_cover_every_kind():
    assert set(contract_examples()) == set(contract.KINDS)


SPEEDTEST = {"backend": "iperf3", "server": "10.0.0.1", "trigger": "scheduled", "ok": True, "target_mbps": 100}


@pytest.mark.parametrize(
    "mbps", [0, 0.0, -0.0, 5e-324, 2.2250738585072014e-308, 1e-05, 0.1, 94.2, 100, 100.0, 1e4 + 0.5,
             99_999.99999999999, 100_000],
)  # fmt: skip
def test_float_fields_are_formatted_as_the_library_formats_them(mbps):
    message = accepted("speedtest", "hx", "s1", NOW_MS, {**SPEEDTEST, "download_mbps": mbps})
    assert_same_lines(message)


@pytest.mark.parametrize("count", [0, 1, 10**15])
def test_integer_fields_carry_the_i_suffix(count):
    message = accepted("speedtest", "hx", "s1", NOW_MS, {**SPEEDTEST, "bytes_down": count})
    (line,) = contract.to_lines(message)
    assert f"bytes_down={count}i" in line
    assert_same_lines(message)


@pytest.mark.parametrize("text", [f"a{special}z" for special in TRICKY_TEXT] + ["a,b c=d", 'say "hi"', "＝，　Ａ", "#1", "x=", "=x", "a  b"])
def test_line_protocol_specials_in_text_tags_are_escaped_as_the_library_escapes_them(text):
    body = {"up": True, "targets_up": 1, "targets": [{"target": text, "method": "icmp", "up": True}]}
    message = accepted("broadband", "hx", "s1", NOW_MS, body)
    assert_same_lines(message)


def test_a_list_item_inherits_its_parents_tags_in_sorted_order():
    body = {"rural": True, "session": "math-7", "session_active": True, "ready": False, "platform_up": True,
            "endpoints_up": 0, "endpoints_total": 1, "endpoints": [{"classroom": "c1", "up": False}]}  # fmt: skip
    message = accepted("sync", "hx", "s1", NOW_MS, body)
    assert contract.to_lines(message) == [
        (f"schoolnet_sync,county=hx,rural=true,school=s1,session=math-7 endpoints_total=1i,endpoints_up=0i,"
         f"platform_up=true,ready=false,session_active=true {NOW_MS}"),
        f"schoolnet_sync_endpoint,classroom=c1,county=hx,rural=true,school=s1,session=math-7 up=false {NOW_MS}",
    ]
    assert_same_lines(message)


def test_status_lines_carry_the_receive_time_and_others_their_own():
    status = accepted("status", "hx", "s1", NOW_MS - 86_400_000, {"online": False, "agent_version": "0.1.0"})
    assert contract.to_lines(status, RECEIVED_MS) == [
        f"schoolnet_agent,agent_version=0.1.0,county=hx,school=s1 online=false {RECEIVED_MS}"
    ]
    health = contract.validate(*_example("health"), NOW_MS)
    assert all(line.endswith(f" {health.ts_ms}") for line in contract.to_lines(health, RECEIVED_MS))


def _example(kind: str) -> tuple[str, bytes]:
    document = contract_examples()[kind]
    return contract.topic(document["county"], document["school"], kind), json.dumps(document).encode()

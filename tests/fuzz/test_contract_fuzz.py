"""Fuzzing the wire contract: whatever arrives, validate() answers without raising; every
refusal carries a reason CONTRACT.md documents and a detail; and nothing accepted produces a
point that differs from its payload.

10,100 generated payloads (2,000 more in test_intake_fuzz.py), the same in every run
(tests/fuzz/reproducible.py).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from schoolnet_core import contract
from tests.contract.influx_points import to_points
from tests.fuzz.expected_points import describe, expected_points, stored_points
from tests.fuzz.lineprotocol import LineProtocolError, parse_line
from tests.fuzz.messages import (
    NOW_MS,
    OVERFLOWING_INTEGERS,
    Case,
    any_json_payload,
    any_topic,
    byte_mutated_cases,
    documented_reasons,
    mutated_cases,
    valid_cases,
)
from tests.fuzz.reproducible import FUZZ

REASONS = documented_reasons()


def check_answer(topic: str, payload: bytes, answer: object) -> None:
    """The properties every answer of validate() must have, whatever the input."""
    event(answer.reason if isinstance(answer, contract.Rejection) else "accepted")
    if isinstance(answer, contract.Rejection):
        assert answer.reason in REASONS, f"undocumented reason {answer.reason!r} ({answer.detail})"
        assert answer.detail.strip(), f"{answer.reason} without a detail"
        return
    assert isinstance(answer, contract.Message), f"validate returned {answer!r}"
    check_points_match_payload(topic, payload, answer)


def check_points_match_payload(topic: str, payload: bytes, message: contract.Message) -> None:
    """Nothing accepted produces a point that differs from its payload."""
    parts = contract.parse_topic(topic)
    document = json.loads(payload)
    assert (message.kind, message.county, message.school) == (parts.kind, parts.county, parts.school)
    assert (message.kind, message.county, message.school, message.ts_ms) == (
        document["kind"], document["county"], document["school"], document["ts"])  # fmt: skip
    lines = [point.to_line_protocol() for point in to_points(message)]
    stored, expected = stored_points(lines), expected_points(payload)
    assert stored == expected, (
        f"points differ from the payload\nlines:\n{lines}\nstored:\n{describe(stored)}\n"
        f"expected:\n{describe(expected)}"
    )


def check_case(case: Case) -> contract.Message | contract.Rejection:
    answer = contract.validate(case.topic, case.payload, NOW_MS)
    event(f"{case.kind}: {case.expect or 'accepted'}")
    check_answer(case.topic, case.payload, answer)
    if case.expect is None:
        assert isinstance(answer, contract.Message), f"{case.change}: refused with {answer}"
    else:
        assert isinstance(answer, contract.Rejection), f"{case.change}: accepted, expected {case.expect}"
        assert answer.reason == case.expect, f"{case.change}: got {answer}, expected {case.expect}"
    return answer


# --- input with no promises ------------------------------------------------------------


@settings(FUZZ, max_examples=3000)
@given(topic=any_topic(), payload=st.binary(max_size=600))
def test_arbitrary_bytes_get_an_answer_with_a_documented_reason(topic, payload):
    check_answer(topic, payload, contract.validate(topic, payload, NOW_MS))


@settings(FUZZ, max_examples=800)
@given(message=any_json_payload())
def test_arbitrary_json_gets_an_answer_with_a_documented_reason(message):
    topic, payload = message
    check_answer(topic, payload, contract.validate(topic, payload, NOW_MS))


@settings(FUZZ, max_examples=1300)
@given(message=byte_mutated_cases())
def test_valid_payloads_with_bytes_changed_get_an_answer_and_stay_exact(message):
    topic, payload = message
    check_answer(topic, payload, contract.validate(topic, payload, NOW_MS))


# --- valid messages, and one change -------------------------------------------------------


@settings(FUZZ, max_examples=1300)
@given(case=valid_cases())
def test_every_valid_message_is_accepted_and_stored_exactly(case):
    message = check_case(case)
    assert message.body == case.body


@settings(FUZZ, max_examples=700)
@given(case=valid_cases())
def test_encode_of_a_valid_body_round_trips_through_validate_unchanged(case):
    message = contract.validate(case.topic, case.payload, NOW_MS)
    payload = contract.encode(message.kind, message.county, message.school, message.ts_ms, message.body)
    again = contract.validate(case.topic, payload, NOW_MS)
    assert isinstance(again, contract.Message), again
    without_nulls = {key: value for key, value in message.body.items() if value is not None}
    assert (again.kind, again.county, again.school, again.ts_ms) == (
        message.kind, message.county, message.school, message.ts_ms)  # fmt: skip
    assert again.body == without_nulls
    assert stored_points(_lines(again)) == stored_points(_lines(message))


@settings(FUZZ, max_examples=2200)
@given(case=mutated_cases())
def test_one_change_gets_exactly_the_reason_the_contract_names(case):
    check_case(case)


@settings(FUZZ, max_examples=800)
@given(case=mutated_cases())
def test_encode_refuses_what_validate_refuses(case):
    """The agent's encode() and the collector's validate() are one rule: an agent never
    spools a message the collector would dead-letter."""
    if case.body is None:  # a change to the envelope or topic, or raw JSON text
        return
    if case.expect is None:
        payload = contract.encode(case.kind, *_identity(case), case.body)
        assert isinstance(contract.validate(case.topic, payload, NOW_MS), contract.Message)
        return
    with pytest.raises(ValueError) as refused:
        contract.encode(case.kind, *_identity(case), case.body)
    if case.expect == "oversize":  # said in other words: "<kind> message is N bytes; the limit is M"
        assert f"the limit is {contract.MAX_PAYLOAD_BYTES}" in str(refused.value) or ": too_many_items: " in str(
            refused.value), (case.change, str(refused.value))  # fmt: skip
    else:
        assert f": {case.expect}: " in str(refused.value), (case.change, str(refused.value))


def _identity(case: Case) -> tuple[str, str, int]:
    document = json.loads(case.payload)
    return document["county"], document["school"], document["ts"]


def _lines(message: contract.Message) -> list[str]:
    return [point.to_line_protocol() for point in to_points(message)]


# --- the cases the generators reach rarely, written out ------------------------------------


def _large_school_sweep() -> dict:
    """100 classes with 10 PJLink projectors each: 1000 devices, the contract's limit, with
    ordinary ids and names; every field within its range."""
    def device(n: int) -> dict:
        return {"classroom": f"c{n // 10:03d}", "device": f"projector-{n % 10}", "name": "投影仪",
                "kind": "projector", "method": "pjlink", "required": True, "status": "ok", "up": True,
                "rtt_ms": 4.0, "power_on": True, "lamp_hours": 1234, "err_fan": 0, "err_lamp": 0,
                "err_temperature": 0, "err_cover": 0, "err_filter": 0, "err_other": 0}  # fmt: skip

    classes = [{"classroom": f"c{n:03d}", "name": f"{n}班", "ready": True, "required_total": 10,
                "required_up": 10} for n in range(100)]  # fmt: skip
    return {"in_hours": True, "classes_total": 100, "classes_ready": 100, "coverage_pct": 100.0,
            "devices_total": 1000, "devices_up": 1000, "classes": classes,
            "devices": [device(n) for n in range(1000)]}  # fmt: skip


def test_encode_refuses_a_message_the_collector_would_refuse_as_oversize():
    """1000 devices is the contract's own limit, yet their sweep is ~284 KB: the agent must
    learn that from encode(), not from a dead letter at the county."""
    body = _large_school_sweep()
    document = {"schema": 1, "kind": "classrooms", "county": "hx", "school": "s1", "ts": NOW_MS, **body}
    payload = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    answer = contract.validate(contract.topic("hx", "s1", "classrooms"), payload, NOW_MS)
    assert (answer.reason, len(payload) > contract.MAX_PAYLOAD_BYTES) == ("oversize", True)
    with pytest.raises(ValueError, match=f"the limit is {contract.MAX_PAYLOAD_BYTES}"):
        contract.encode("classrooms", "hx", "s1", NOW_MS, body)


def test_a_duplicate_key_inside_a_list_item_is_bad_json():
    item = '{"target":"a","method":"icmp","up":true,"up":false}'
    payload = (f'{{"schema":1,"kind":"broadband","county":"hx","school":"s1","ts":{NOW_MS},"up":true,'
               f'"targets_up":1,"targets":[{item}]}}').encode()  # fmt: skip
    answer = contract.validate(contract.topic("hx", "s1", "broadband"), payload, NOW_MS)
    assert (answer.reason, answer.detail) == ("bad_json", "key 'up' appears twice")


@pytest.mark.parametrize("text", ['a,b c=d', 'say "hi"', "＝，　Ａ", "e\u0301", "#1", "x=", "=x", "t", "1i"])
def test_line_protocol_specials_in_a_text_tag_come_back_exactly(text):
    body = {"up": True, "targets_up": 1, "targets": [{"target": text, "method": "icmp", "up": True}]}
    payload = contract.encode("broadband", "hx", "s1", NOW_MS, body)
    message = contract.validate(contract.topic("hx", "s1", "broadband"), payload, NOW_MS)
    lines = _lines(message)
    assert parse_line(lines[1]).tags["target"] == text
    assert stored_points(lines) == expected_points(payload)


# --- the line-protocol reader the fuzz tests rely on -----------------------------------------


def test_the_line_protocol_reader_follows_the_spec():
    point = parse_line(r'm\,x\ y,t\=k=v\,1\ 2\=3,u=\é f\ k="a \"q\" \\ b",i=-12i,u2=7u,b=T,x=1.5e-3 1700')
    assert point.measurement == "m,x y"
    assert point.tags == {"t=k": "v,1 2=3", "u": "\\é"}
    assert point.fields == {"f k": 'a "q" \\ b', "i": -12, "u2": 7, "b": True, "x": 0.0015}
    assert point.timestamp == 1700
    assert parse_line("m f=-0").fields["f"].hex() == (-0.0).hex()
    assert parse_line("m f=5e-324").fields["f"] == 5e-324


@pytest.mark.parametrize(
    "line",
    [
        "m,t=a=b f=1",  # unescaped = in a tag value
        "m,t= f=1",  # empty tag value
        "m,t=a f=1,f=2",  # field twice
        "m,t=a,t=b f=1",  # tag twice
        "m f=1  1700",  # two spaces
        "m f=1.5i",  # not an integer
        "m f=abc",  # unquoted string
        'm f="a\\b"',  # lone backslash in a string
        'm f="open',  # unclosed string
        "m f=1 17.5",  # timestamp not an integer
        "m",  # no fields
        "#m f=1",  # a comment, not a point
        "m f=1\nm f=2",  # two lines
    ],
)
def test_the_line_protocol_reader_refuses_what_the_spec_forbids(line):
    with pytest.raises(LineProtocolError):
        parse_line(line)


@pytest.mark.parametrize("literal", OVERFLOWING_INTEGERS)
def test_an_integer_beyond_float_range_is_out_of_range(literal):
    payload = (f'{{"schema":1,"kind":"health","county":"hx","school":"s1","ts":{NOW_MS},"agent_version":"0.1.0",'
               f'"cpu_pct":1,"mem_pct":1,"disk_pct":1,"uptime_s":1,"spool_depth":{literal},"spool_oldest_age_s":0,'
               '"spool_dropped_total":0}').encode()  # fmt: skip
    answer = contract.validate(contract.topic("hx", "s1", "health"), payload, NOW_MS)
    assert answer.reason == "out_of_range"

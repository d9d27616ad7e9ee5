"""Fuzzing the collector's intake (collector.intake.examine) with the contract's generators:
it never raises, refuses only with reasons CONTRACT.md documents (internal_error, its
last-resort reason, means a bug and fails here), ignores commands, and every line it would
write parses back to exactly the payload's values, status stamped when received.
"""

from __future__ import annotations

from hypothesis import event, given, settings
from hypothesis import strategies as st

from collector import intake
from schoolnet_core import contract
from tests.fuzz.expected_points import describe, expected_points, stored_points
from tests.fuzz.messages import (
    NOW_MS,
    OVERFLOWING_INTEGERS,
    any_json_payload,
    any_topic,
    byte_mutated_cases,
    documented_reasons,
    ids,
    mutated_cases,
    valid_cases,
)
from tests.fuzz.reproducible import FUZZ

REASONS = documented_reasons()
RECEIVED_MS = NOW_MS  # the clock the generators build their window around


def check_outcome(topic: str, payload: bytes, outcome: object) -> None:
    event(type(outcome).__name__ + (f": {outcome.reason}" if isinstance(outcome, intake.Refused) else ""))
    if isinstance(outcome, intake.Refused):
        assert outcome.reason in REASONS, f"undocumented reason {outcome.reason!r}: {outcome.detail}"
        assert outcome.detail.strip()
    elif isinstance(outcome, intake.Accepted):
        parts = contract.parse_topic(topic)
        assert (outcome.county, outcome.school) == (parts.county, parts.school)
        stored, expected = stored_points(outcome.lines), expected_points(payload, RECEIVED_MS)
        assert stored == expected, f"stored:\n{describe(stored)}\nexpected:\n{describe(expected)}"
    else:
        assert isinstance(outcome, intake.Ignored), outcome
        cleared = not payload and intake.is_status(topic) and isinstance(contract.parse_topic(topic), contract.TopicParts)
        assert intake.is_command(topic) or cleared, f"ignored a message that is neither a command nor a clearing: {topic!r}"


@settings(FUZZ, max_examples=600)
@given(topic=any_topic(), payload=st.binary(max_size=400))
def test_arbitrary_bytes(topic, payload):
    check_outcome(topic, payload, intake.examine(topic, payload, RECEIVED_MS))


@settings(FUZZ, max_examples=400)
@given(message=st.one_of(any_json_payload(), byte_mutated_cases()))
def test_arbitrary_json_and_damaged_payloads(message):
    topic, payload = message
    check_outcome(topic, payload, intake.examine(topic, payload, RECEIVED_MS))


@settings(FUZZ, max_examples=800)
@given(case=st.one_of(valid_cases(), mutated_cases()))
def test_valid_and_once_changed_messages_get_the_contracts_answer(case):
    outcome = intake.examine(case.topic, case.payload, RECEIVED_MS)
    check_outcome(case.topic, case.payload, outcome)
    if intake.is_command(case.topic):  # the contract's unknown kind "cmd": commands are not ours
        assert outcome == intake.Ignored("command topic"), f"{case.change}: {outcome}"
    elif case.expect is None:
        assert isinstance(outcome, intake.Accepted), f"{case.change}: {outcome}"
    else:
        assert isinstance(outcome, intake.Refused), f"{case.change}: accepted, expected {case.expect}"
        assert outcome.reason == case.expect, f"{case.change}: {outcome}"


@settings(FUZZ, max_examples=200)
@given(county=ids, school=ids, payload=st.binary(max_size=200))
def test_commands_to_schools_are_ignored_whatever_they_hold(county, school, payload):
    outcome = intake.examine(contract.topic(county, school, contract.COMMAND), payload, RECEIVED_MS)
    assert outcome == intake.Ignored("command topic")


def test_an_integer_beyond_float_range_is_refused_as_out_of_range():
    payload = (f'{{"schema":1,"kind":"sync","county":"hx","school":"s1","ts":{NOW_MS},"rural":true,'
               f'"session_active":false,"ready":false,"platform_up":false,"endpoints_up":{OVERFLOWING_INTEGERS[0]},'
               '"endpoints_total":0,"endpoints":[]}').encode()  # fmt: skip
    outcome = intake.examine(contract.topic("hx", "s1", "sync"), payload, RECEIVED_MS)
    assert (type(outcome), outcome.reason) == (intake.Refused, "out_of_range"), outcome

"""agent.commands: county IT's command to run a speed test is accepted only when well
formed, fresh, authentic (HMAC-SHA256 of request_id|ts with the shared key) and new;
then at most one test per min_gap_s. Every refusal says why, never with the token."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.commands import (
    MAX_AGE_MS,
    Command,
    CommandDoor,
    Refusal,
    command_token,
    read_command,
)

KEY = b"shared-key-0123456789-county-hx"
NOW_MS = 1_795_570_200_000


def county_token(request_id: str, ts_ms: int, key: bytes = KEY) -> str:
    """The token as county IT's tool computes it, written here from the documented rule."""
    return hmac.new(key, f"{request_id}|{ts_ms}".encode(), hashlib.sha256).hexdigest()


def command(request_id: str = "req-1", ts: int = NOW_MS, key: bytes = KEY, **changes) -> bytes:
    document = {"schema": 1, "command": "speedtest", "request_id": request_id, "ts": ts,
                "token": county_token(request_id, ts, key)}
    document.update(changes)
    return json.dumps({k: v for k, v in document.items() if v is not ...}).encode()


def test_the_token_is_the_hmac_sha256_of_request_id_and_ts():
    assert command_token(KEY, "req-1", NOW_MS) == county_token("req-1", NOW_MS)


def test_a_well_signed_fresh_command_is_accepted():
    assert read_command(command(), NOW_MS, KEY) == Command("speedtest", "req-1", NOW_MS)


def test_the_token_may_be_written_in_capitals():
    upper = command(token=county_token("req-1", NOW_MS).upper())

    assert read_command(upper, NOW_MS, KEY) == Command("speedtest", "req-1", NOW_MS)


def test_without_a_key_the_broker_acl_alone_vouches_and_no_token_is_needed():
    assert read_command(command(token=...), NOW_MS, None) == Command("speedtest", "req-1", NOW_MS)


REFUSED = [
    pytest.param(command(key=b"another-county-key-000000"), "bad_token", "token does not match", id="wrong-key"),
    pytest.param(command(token=...), "bad_token", "token is missing", id="no-token"),
    pytest.param(command(token="abc"), "bad_token", "not 64 hex digits", id="short-token"),
    pytest.param(command(request_id="req-2", token=county_token("req-1", NOW_MS)), "bad_token",
                 "token does not match", id="token-of-another-request"),
    pytest.param(command(ts=NOW_MS - MAX_AGE_MS - 1000), "stale", "301 s old; the limit is 300 s", id="stale"),
    pytest.param(command(ts=NOW_MS + MAX_AGE_MS + 1000), "stale", "301 s ahead of the agent's clock",
                 id="from-the-future"),
    pytest.param(command(command="reboot"), "unknown_command", "'reboot'; known: speedtest", id="unknown"),
    pytest.param(b'{"schema": 1, "command": "speedtest"', "bad_json", "not UTF-8 JSON", id="bad-json"),
    pytest.param(b"\xff\xfe", "bad_json", "not UTF-8 JSON", id="not-utf8"),
    pytest.param(b"[1, 2]", "bad_json", "not a JSON object", id="not-object"),
    pytest.param(command(extra=1), "unknown_field", "'extra' is not a command field", id="unknown-field"),
    pytest.param(command(schema=2), "schema_version", "this agent reads 1", id="schema-2"),
    pytest.param(command(schema=True), "schema_version", "schema is 'True'", id="schema-bool"),
    pytest.param(command(request_id="a|b"), "bad_request_id", "1-64 characters", id="pipe-in-id"),
    pytest.param(command(request_id=""), "bad_request_id", "1-64 characters", id="empty-id"),
    pytest.param(command(ts=str(NOW_MS)), "bad_ts", "integer of UTC milliseconds", id="ts-text"),
    pytest.param(command(ts=True), "bad_ts", "integer of UTC milliseconds", id="ts-bool"),
    pytest.param(b" " * 5000, "oversize", "5000 bytes", id="oversize"),
]


@pytest.mark.parametrize(("payload", "reason", "detail"), REFUSED)
def test_refused_commands_say_why(payload, reason, detail):
    refusal = read_command(payload, NOW_MS, KEY)

    assert isinstance(refusal, Refusal)
    assert refusal.reason == reason
    assert detail in refusal.detail


@pytest.mark.parametrize(("payload", "reason", "detail"), REFUSED)
def test_a_refusal_never_holds_the_token(payload, reason, detail):
    refusal = read_command(payload, NOW_MS, KEY)
    text = payload.decode("utf-8", "replace")
    sent_token = json.loads(text).get("token") if text.startswith("{") and text.endswith("}") else None

    assert sent_token is None or sent_token.lower() not in str(refusal).lower()
    assert county_token("req-1", NOW_MS) not in str(refusal)


def test_exactly_five_minutes_old_is_still_fresh():
    assert read_command(command(ts=NOW_MS - MAX_AGE_MS), NOW_MS, KEY) == Command("speedtest", "req-1",
                                                                                  NOW_MS - MAX_AGE_MS)


@given(st.binary(max_size=600))
def test_any_payload_is_answered_not_raised(payload):
    assert isinstance(read_command(payload, NOW_MS, KEY), (Command, Refusal))


# --- the door: replays and the rate limit -------------------------------------------------------


def test_a_replayed_request_id_is_refused():
    door = CommandDoor(KEY, min_gap_s=600)

    assert door.admit(command(), NOW_MS) == Command("speedtest", "req-1", NOW_MS)
    replay = door.admit(command(), NOW_MS + 1000)

    assert replay == Refusal("replayed", "request_id req-1 was already received")


def test_a_replay_after_the_freshness_window_is_refused_as_stale():
    door = CommandDoor(KEY, min_gap_s=600)
    door.admit(command(), NOW_MS)

    late = door.admit(command(), NOW_MS + MAX_AGE_MS + 1)

    assert isinstance(late, Refusal) and late.reason == "stale"


def test_a_forged_command_does_not_use_up_its_request_id():
    door = CommandDoor(KEY, min_gap_s=600)

    assert door.admit(command(key=b"forged-key-forged-key-000"), NOW_MS).reason == "bad_token"
    assert door.admit(command(), NOW_MS) == Command("speedtest", "req-1", NOW_MS)


def test_one_on_demand_test_per_min_gap():
    door = CommandDoor(KEY, min_gap_s=600)

    assert door.take_test_slot(1000.0) is None
    refused = door.take_test_slot(1000.0 + 599)
    assert refused == Refusal("rate_limited", "one on-demand test per 600 s; ask again in 1 s")
    assert door.take_test_slot(1000.0 + 600) is None
    assert door.take_test_slot(1000.0 + 601).reason == "rate_limited"

"""County IT's commands to one school: read, authenticate, and rate-limit them.

A command arrives on the school's own topic (contract.topic(county, school, "cmd")) as

    {"schema": 1, "command": "speedtest", "request_id": "<id>", "ts": <UTC ms>, "token": "<hex>"}

Two locks on that door. The broker's ACL lets only the county's operator account publish
to cmd topics (deploy/). And, when the school's config has `commands.key_file` or
`key_env`, token must be the hex HMAC-SHA256, keyed with that shared key, of
"<request_id>|<ts>" (UTF-8): a leaked school password then still cannot start tests. A
command older (or further ahead) than MAX_AGE_MS is refused, so one held back by the
broker while the school was offline does not run hours later; a request_id seen within
that time is refused, so a captured command cannot be replayed. Only then does the rate
limit (schedule.on_demand_decision) count it.

Refusals carry a reason code and a detail for the log; neither ever holds the token.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

from agent.schedule import on_demand_decision

SCHEMA = 1
COMMANDS = ("speedtest",)
MAX_AGE_MS = 5 * 60 * 1000
MAX_PAYLOAD_BYTES = 4096
FIELDS = ("schema", "command", "request_id", "ts", "token")
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_TOKEN = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True)
class Command:
    command: str
    request_id: str
    ts_ms: int


@dataclass(frozen=True)
class Refusal:
    """Why a command was not run: `reason` a short code, `detail` for the log."""

    reason: str
    detail: str

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"


class _Refused(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(reason, detail)
        self.refusal = Refusal(reason, detail)


def command_token(key: bytes, request_id: str, ts_ms: int) -> str:
    """What county IT's tool puts in `token`."""
    return hmac.new(key, f"{request_id}|{ts_ms}".encode(), hashlib.sha256).hexdigest()


def read_command(payload: bytes, now_ms: int, key: bytes | None) -> Command | Refusal:
    """The command in `payload` if it is well formed, fresh and (with a key) authentic."""
    try:
        document = _document(payload)
        command = _command(document)
        _check_fresh(command.ts_ms, now_ms)
        if key is not None:
            _check_token(document.get("token"), key, command)
    except _Refused as refused:
        return refused.refusal
    return command


def _document(payload: bytes) -> dict[str, Any]:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise _Refused("oversize", f"{len(payload)} bytes; a command is at most {MAX_PAYLOAD_BYTES}")
    try:
        document = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _Refused("bad_json", "the payload is not UTF-8 JSON") from None
    if not isinstance(document, dict):
        raise _Refused("bad_json", "the payload is not a JSON object")
    unknown = sorted(set(document) - set(FIELDS))
    if unknown:
        raise _Refused("unknown_field", f"{unknown[0][:40]!r} is not a command field; known: {', '.join(FIELDS)}")
    return document


def _command(document: dict[str, Any]) -> Command:
    schema, name = document.get("schema"), document.get("command")
    if type(schema) is not int or schema != SCHEMA:
        raise _Refused("schema_version", f"schema is {str(schema)[:20]!r}; this agent reads {SCHEMA}")
    if name not in COMMANDS:
        raise _Refused("unknown_command", f"{str(name)[:40]!r}; known: {', '.join(COMMANDS)}")
    request_id, ts = document.get("request_id"), document.get("ts")
    if not isinstance(request_id, str) or not _REQUEST_ID.fullmatch(request_id):
        raise _Refused("bad_request_id", "request_id must be 1-64 characters of A-Z a-z 0-9 . _ : -")
    if type(ts) is not int:
        raise _Refused("bad_ts", "ts must be an integer of UTC milliseconds")
    return Command(name, request_id, ts)


def _check_fresh(ts_ms: int, now_ms: int) -> None:
    age_s = (now_ms - ts_ms) / 1000
    if abs(now_ms - ts_ms) > MAX_AGE_MS:
        when = f"{age_s:.0f} s old" if age_s > 0 else f"{-age_s:.0f} s ahead of the agent's clock"
        raise _Refused("stale", f"the command is {when}; the limit is {MAX_AGE_MS // 1000} s either way")


def _check_token(token: object, key: bytes, command: Command) -> None:
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise _Refused("bad_token", "token is missing or not 64 hex digits (HMAC-SHA256 of request_id|ts)")
    expected = command_token(key, command.request_id, command.ts_ms)
    if not hmac.compare_digest(expected, token.lower()):
        raise _Refused("bad_token", "token does not match: the county's key differs from "
                                    "commands.key_file/key_env here, or the command was altered")


class CommandDoor:
    """The school's side of the cmd topic: remembers which request_ids it has accepted
    (for MAX_AGE_MS, after which read_command refuses them as stale anyway) and when the
    last on-demand test started. Times: `now_ms` UTC ms, `now_s` time.monotonic()."""

    def __init__(self, key: bytes | None, min_gap_s: float) -> None:
        self._key = key
        self._min_gap_s = min_gap_s
        self._seen: dict[str, int] = {}  # request_id -> ts_ms
        self._last_started: float | None = None

    def admit(self, payload: bytes, now_ms: int) -> Command | Refusal:
        """A well-formed, fresh, authentic command not seen before; the request_id is
        remembered even if the test is then refused (busy, rate limit), so a copy of a
        refused command cannot run later."""
        command = read_command(payload, now_ms, self._key)
        if isinstance(command, Refusal):
            return command
        self._forget_older_than(now_ms - MAX_AGE_MS)
        if command.request_id in self._seen:
            return Refusal("replayed", f"request_id {command.request_id} was already received")
        self._seen[command.request_id] = command.ts_ms
        return command

    def take_test_slot(self, now_s: float) -> Refusal | None:
        """None, and the slot is taken, when an on-demand test may start now."""
        decision = on_demand_decision(self._last_started, now_s, self._min_gap_s)
        if not decision.allowed:
            return Refusal("rate_limited", f"one on-demand test per {self._min_gap_s:g} s; "
                                           f"ask again in {decision.retry_after_s:g} s")
        self._last_started = now_s
        return None

    def _forget_older_than(self, oldest_ms: int) -> None:
        for request_id, ts_ms in list(self._seen.items()):
            if ts_ms < oldest_ms:
                del self._seen[request_id]

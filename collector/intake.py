"""What to do with one received message: store it, refuse it (dead-letter), or ignore it.

Pure: the contract decides what is valid; this module only turns its answer into the
lines to write. Most valid messages are proved valid and formatted by the contract compiled
with msgspec (collector/fastpath.py); everything else, every refusal included, is the
contract's own validate(), so the reasons and lines are the contract's. A bug here must cost one message, not the collector, so any exception is
turned into a refusal with reason internal_error.
"""

from __future__ import annotations

from dataclasses import dataclass

from schoolnet_core import contract

try:  # the collector extra; without it every message takes the contract's own path
    from collector import fastpath
except ImportError:  # pragma: no cover - msgspec not installed
    fastpath = None

INTERNAL_ERROR = "internal_error"


@dataclass(frozen=True)
class Accepted:
    county: str
    school: str
    lines: tuple[str, ...]
    says_online: bool = False
    """A status message with online=true (the agent's birth)."""


@dataclass(frozen=True)
class Refused:
    reason: str
    detail: str


@dataclass(frozen=True)
class Ignored:
    """Commands to schools share the topic tree, and an empty status clears a retired
    school's retained one: not ours to store, and not mistakes either."""

    why: str


def examine(topic: str, payload: bytes, received_ms: int) -> Accepted | Refused | Ignored:
    try:
        return _examine(topic, payload, received_ms)
    except Exception as error:  # noqa: BLE001 - a bug refuses this one message, not the rest
        return Refused(INTERNAL_ERROR, f"{type(error).__name__}: {error}"[:300])


def _examine(topic: str, payload: bytes, received_ms: int) -> Accepted | Refused | Ignored:
    if is_command(topic):
        return Ignored("command topic")
    if not payload and is_status(topic) and not isinstance(contract.parse_topic(topic), contract.Rejection):
        return Ignored("retained status cleared")  # how MQTT deletes a retained message
    if fastpath is not None:
        parts = contract.parse_topic(topic)
        if isinstance(parts, contract.TopicParts):
            fast = fastpath.examine(parts, payload, received_ms)
            if fast is not None:
                return Accepted(fast.county, fast.school, fast.lines, fast.says_online)
    verdict = contract.validate(topic, payload, received_ms)
    if isinstance(verdict, contract.Rejection):
        return Refused(verdict.reason, verdict.detail)
    lines = tuple(contract.to_lines(verdict, received_ms=received_ms))
    says_online = verdict.kind == contract.STATUS and verdict.body.get("online") is True
    return Accepted(verdict.county, verdict.school, lines, says_online)


def is_command(topic: str) -> bool:
    return _kind_of(topic) == contract.COMMAND


def is_status(topic: str) -> bool:
    return _kind_of(topic) == contract.STATUS


def _kind_of(topic: str) -> str | None:
    parts = topic.split("/")
    return parts[4] if len(parts) == 5 and "/".join(parts[:2]) == contract.TOPIC_ROOT else None

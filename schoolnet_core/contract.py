"""The wire contract between agent and collector: topics, payloads, validation, points.

Both sides import this one module, so a payload the agent builds is exactly what the
collector accepts. CONTRACT.md beside the repository root shows one real message per kind.

Topics:   schoolnet/v1/<county>/<school>/<kind>    kind in KINDS, plus "status" and "cmd"
Payload:  UTF-8 JSON object, at most MAX_PAYLOAD_BYTES:
          {"schema": 1, "kind": ..., "county": ..., "school": ..., "ts": <UTC ms>, ...fields}
Points:   one measurement per kind (schoolnet_<kind>) and one per list inside it
          (schoolnet_<kind>_<item>); VictoriaMetrics names series <measurement>_<field>.

Validation never raises on bad input: it returns a Rejection with a reason code (for
dead-letter counts) and a detail naming the field and what was wrong.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Union

SCHEMA_VERSION = 1
TOPIC_ROOT = "schoolnet/v1"
SUBSCRIPTION = TOPIC_ROOT + "/+/+/+"
DEADLETTER_ROOT = TOPIC_ROOT + "/_deadletter"
STATUS = "status"
COMMAND = "cmd"
MAX_PAYLOAD_BYTES = 256 * 1024
MAX_CLOCK_AHEAD_MS = 10 * 60 * 1000
"""An agent clock more than this ahead of the collector's is rejected (ts_future): a
point from the future would hide the real present in every "last value" query."""
MAX_AGE_MS = 31 * 24 * 3600 * 1000
"""Older points are rejected (ts_past): the store's default retention is one month."""

ID_MAX_LEN = 64
_ID_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
ID_RULE = "1-64 characters of a-z, 0-9, '-' and '_', starting with a letter or digit"


def id_problem(value: object) -> str | None:
    """Why `value` is not a valid county/school/classroom/device id, or None when it is."""
    if not isinstance(value, str):
        return f"must be a string ({ID_RULE})"
    if not _ID_RE.fullmatch(value):
        return f"{value!r} is not a valid id: {ID_RULE}"
    return None


_FORBIDDEN_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def text_problem(value: object, max_len: int = 64) -> str | None:
    """Why `value` is not acceptable display text (Chinese welcome; control, format and
    bidi characters not, since they disguise a label on a dashboard), or None."""
    if not isinstance(value, str):
        return "must be a string"
    if not 1 <= len(value) <= max_len:
        return f"must be 1-{max_len} characters long, got {len(value)}"
    if value != value.strip():
        return "must not start or end with whitespace"
    if "\\" in value:
        # influxdb-client leaves a backslash in a tag unescaped; VictoriaMetrics then
        # skips the line while answering 204, and the point would vanish after the ack.
        return "must not contain a backslash"
    for char in value:
        if unicodedata.category(char) in _FORBIDDEN_CATEGORIES:
            return f"contains the invisible or control character U+{ord(char):04X}"
    return None


# --- field types -------------------------------------------------------------------


@dataclass(frozen=True)
class Id:
    tag: bool = True
    required: bool = True


@dataclass(frozen=True)
class Text:
    max_len: int = 64
    tag: bool = True
    required: bool = True


@dataclass(frozen=True)
class Choice:
    values: tuple[str, ...]
    tag: bool = True
    required: bool = True


@dataclass(frozen=True)
class Flag:
    """A boolean; a field (1/0 in VictoriaMetrics) unless tag=True ("true"/"false")."""

    tag: bool = False
    required: bool = True


@dataclass(frozen=True)
class Num:
    low: float = 0
    high: float = 1e12
    integer: bool = False
    required: bool = True
    tag: bool = False


@dataclass(frozen=True)
class Items:
    """A list of objects; each becomes a point of measurement schoolnet_<kind>_<item>."""

    item: str
    spec: dict[str, Any]
    max_items: int
    required: bool = True
    tag: bool = False


FieldType = Union[Id, Text, Choice, Flag, Num, Items]

PERCENT = Num(0, 100)
OPT_PERCENT = Num(0, 100, required=False)
OPT_MS = Num(0, 600_000, required=False)
COUNT = Num(0, 1e9, integer=True)
METHODS = ("icmp", "tcp", "dns", "http", "pjlink", "udp_echo")
DEVICE_KINDS = (
    "interactive_panel",
    "projector",
    "electronic_whiteboard",
    "smart_blackboard",
    "classroom_pc",
    "document_camera",
    "sync_endpoint",
    "other",
)
PROBE_STATUSES = (
    "ok", "down", "timeout", "refused", "auth_failed", "bad_reply", "http_error", "device_error",
)
"""device_error: the device answers but reports a fault (a PJLink error digit 2)."""
PJLINK_ERROR = Num(0, 2, integer=True, required=False)
"""PJLink ERST digit: 0 no error, 1 warning, 2 error."""

KINDS: dict[str, dict[str, FieldType]] = {
    "broadband": {
        "up": Flag(),
        "targets_up": COUNT,
        "targets": Items(
            "target",
            {
                "target": Text(),
                "method": Choice(METHODS),
                "up": Flag(),
                "rtt_ms": OPT_MS,
                "loss_pct": OPT_PERCENT,
            },
            max_items=32,
        ),
    },
    "speedtest": {
        "backend": Choice(("iperf3", "speedtest", "http")),
        "server": Text(max_len=200),
        "trigger": Choice(("scheduled", "on_demand")),
        "ok": Flag(),
        "error": Choice(("unreachable", "timeout", "protocol", "other"), required=False),
        "download_mbps": Num(0, 100_000, required=False),
        "upload_mbps": Num(0, 100_000, required=False),
        "latency_ms": OPT_MS,
        "jitter_ms": OPT_MS,
        "bytes_down": Num(0, 1e15, integer=True, required=False),
        "bytes_up": Num(0, 1e15, integer=True, required=False),
        "duration_s": Num(0, 3600, required=False),
        "wan_rx_bytes": Num(0, 1e15, integer=True, required=False),
        "wan_tx_bytes": Num(0, 1e15, integer=True, required=False),
        "background_pct": OPT_PERCENT,
        "cpu_max_pct": OPT_PERCENT,
        "cpu_bound": Flag(required=False),
        "engine_limited": Flag(required=False),
        "target_mbps": Num(1, 100_000),
    },
    "classrooms": {
        "in_hours": Flag(),
        "classes_total": COUNT,
        "classes_ready": COUNT,
        "coverage_pct": OPT_PERCENT,
        "devices_total": COUNT,
        "devices_up": COUNT,
        "classes": Items(
            "class",
            {
                "classroom": Id(),
                "name": Text(),
                "ready": Flag(),
                "required_total": COUNT,
                "required_up": COUNT,
            },
            max_items=500,
        ),
        "devices": Items(
            "device",
            {
                "classroom": Id(),
                "device": Id(),
                "name": Text(),
                "kind": Choice(DEVICE_KINDS),
                "method": Choice(METHODS),
                "required": Flag(tag=True),
                "status": Choice(PROBE_STATUSES),
                "up": Flag(),
                "rtt_ms": OPT_MS,
                "power_on": Flag(required=False),
                "lamp_hours": Num(0, 1e6, integer=True, required=False),
                "err_fan": PJLINK_ERROR,
                "err_lamp": PJLINK_ERROR,
                "err_temperature": PJLINK_ERROR,
                "err_cover": PJLINK_ERROR,
                "err_filter": PJLINK_ERROR,
                "err_other": PJLINK_ERROR,
            },
            max_items=1000,
        ),
    },
    "sync": {
        "rural": Flag(tag=True),
        "session": Id(required=False),
        "session_active": Flag(),
        "ready": Flag(),
        "platform_up": Flag(),
        "platform_connect_ms": OPT_MS,
        "platform_tls_ms": OPT_MS,
        "rtt_ms": OPT_MS,
        "jitter_ms": OPT_MS,
        "loss_pct": OPT_PERCENT,
        "r_factor": Num(0, 100, required=False),
        "mos": Num(1, 5, required=False),
        "bandwidth_mbps": Num(0, 100_000, required=False),
        "endpoints_up": COUNT,
        "endpoints_total": COUNT,
        "endpoints": Items(
            "endpoint",
            {"classroom": Id(), "up": Flag(), "rtt_ms": OPT_MS},
            max_items=200,
        ),
    },
    "health": {
        "agent_version": Text(max_len=32),
        "cpu_pct": PERCENT,
        "mem_pct": PERCENT,
        "disk_pct": PERCENT,
        "uptime_s": Num(0, 1e10),
        "spool_depth": COUNT,
        "spool_oldest_age_s": Num(0, 1e10),
        "spool_dropped_total": COUNT,
    },
    STATUS: {
        "online": Flag(),
        "agent_version": Text(max_len=32),
        # The school's display name from the agent's config (school.name): sent with the
        # birth and the will, so the rules can name a school in alerts and boards even
        # while it is offline (deploy/rules/names.yml). Optional: older agents omit it.
        "school_name": Text(required=False),
    },
}
"""Per kind, the fields after the envelope (schema, kind, county, school, ts)."""
BUILT_IN_KINDS = frozenset(KINDS)
"""The kinds defined here; more are added by register_kind (schoolnet_core.kinds)."""

ENVELOPE = ("schema", "kind", "county", "school", "ts")


# --- topics ---------------------------------------------------------------------------


def topic(county: str, school: str, kind: str) -> str:
    """The topic a school publishes `kind` on (also "status"; "cmd" is for commands)."""
    return f"{TOPIC_ROOT}/{county}/{school}/{kind}"


def deadletter_topic(reason: str) -> str:
    return f"{DEADLETTER_ROOT}/{reason}"


@dataclass(frozen=True)
class TopicParts:
    county: str
    school: str
    kind: str


# --- validation -----------------------------------------------------------------------


@dataclass(frozen=True)
class Rejection:
    """Why a message was refused: `reason` is a short code, `detail` says which field."""

    reason: str
    detail: str

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"


@dataclass(frozen=True)
class Message:
    """A validated message. `body` holds the kind's fields (envelope removed)."""

    kind: str
    county: str
    school: str
    ts_ms: int
    body: dict[str, Any] = field(hash=False)


def parse_topic(name: str) -> TopicParts | Rejection:
    parts = name.split("/")
    if len(parts) != 5 or "/".join(parts[:2]) != TOPIC_ROOT:
        return Rejection("bad_topic", f"{name[:200]!r} is not {TOPIC_ROOT}/<county>/<school>/<kind>")
    county, school, kind = parts[2:]
    for label, value in (("county", county), ("school", school)):
        problem = id_problem(value)
        if problem:
            return Rejection("bad_topic", f"topic {label}: {problem}")
    if kind not in KINDS:
        return Rejection("unknown_kind", f"topic kind {kind[:40]!r}; known: {', '.join(KINDS)}")
    return TopicParts(county, school, kind)


class _Invalid(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(reason, detail)
        self.rejection = Rejection(reason, detail)


def validate(topic_name: str, payload: bytes, now_ms: int) -> Message | Rejection:
    """Check a received message against the contract; never raises on bad input."""
    parts = parse_topic(topic_name)
    if isinstance(parts, Rejection):
        return parts
    try:
        document = _decode(payload)
        return _check_document(parts, document, now_ms)
    except _Invalid as invalid:
        return invalid.rejection


def _reject_constant(name: str) -> None:
    raise _Invalid("not_finite", f"JSON constant {name} is not a number the store can hold")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise _Invalid("bad_json", f"key {key[:40]!r} appears twice")
        document[key] = value
    return document


def _decode(payload: bytes) -> dict[str, Any]:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise _Invalid("oversize", f"{len(payload)} bytes; the limit is {MAX_PAYLOAD_BYTES}")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _Invalid("bad_json", f"not UTF-8 at byte {error.start}") from None
    try:
        document = json.loads(
            text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys
        )
    except ValueError as error:
        raise _Invalid("bad_json", str(error)[:200]) from None
    except RecursionError:
        raise _Invalid("bad_json", "nested too deeply") from None
    if not isinstance(document, dict):
        raise _Invalid("not_object", f"payload is a JSON {type(document).__name__}, not an object")
    return document


def _check_document(parts: TopicParts, document: dict[str, Any], now_ms: int) -> Message:
    _check_envelope(parts, document, now_ms)
    spec = KINDS[parts.kind]
    body = {key: value for key, value in document.items() if key not in ENVELOPE}
    _check_object(body, spec, path="")
    return Message(parts.kind, parts.county, parts.school, document["ts"], body)


def _check_envelope(parts: TopicParts, document: dict[str, Any], now_ms: int) -> None:
    for key in ENVELOPE:
        if key not in document:
            raise _Invalid("missing_field", f"{key} is required")
    schema = document["schema"]
    if type(schema) is not int or schema != SCHEMA_VERSION:
        raise _Invalid("schema_version", f"schema is {schema!r:.40}; this collector reads {SCHEMA_VERSION}")
    for key, expected in (("kind", parts.kind), ("county", parts.county), ("school", parts.school)):
        if document[key] != expected:
            raise _Invalid(
                "identity_mismatch",
                f"payload {key} {str(document[key])[:70]!r} differs from the topic's {expected!r}",
            )
    _check_timestamp(parts.kind, document["ts"], now_ms)


def _check_timestamp(kind: str, ts: object, now_ms: int) -> None:
    if type(ts) is not int:
        raise _Invalid("wrong_type", f"ts must be an integer of UTC milliseconds, got {_json_type(ts)}")
    if ts > now_ms + MAX_CLOCK_AHEAD_MS:
        ahead_s = (ts - now_ms) // 1000
        raise _Invalid("ts_future", f"ts is {ahead_s} s ahead of the collector's clock (agent clock wrong?)")
    # A retained last will carries the time its session began, which may be long ago.
    if kind != STATUS and ts < now_ms - MAX_AGE_MS:
        age_days = (now_ms - ts) // 86_400_000
        raise _Invalid("ts_past", f"ts is {age_days} days old; the limit is {MAX_AGE_MS // 86_400_000}")


def _check_object(value: object, spec: dict[str, FieldType], path: str) -> None:
    if not isinstance(value, dict):
        raise _Invalid("wrong_type", f"{path or 'payload'} must be an object, got {_json_type(value)}")
    for key in value:
        if key not in spec:
            raise _Invalid("unknown_field", f"{path}{key[:40]!r} is not a field of this kind")
    for key, field_type in spec.items():
        item = value.get(key)
        if item is None:
            if field_type.required:
                raise _Invalid("missing_field", f"{path}{key} is required")
            continue
        _check_value(item, field_type, f"{path}{key}")


def _check_value(value: object, field_type: FieldType, path: str) -> None:
    problem = _value_problem(value, field_type, path)
    if problem:
        raise _Invalid(*problem)


def _value_problem(value: object, field_type: FieldType, path: str) -> tuple[str, str] | None:
    if isinstance(field_type, Id):
        problem = id_problem(value)
        return ("bad_id", f"{path}: {problem}") if problem else None
    if isinstance(field_type, Text):
        problem = text_problem(value, field_type.max_len)
        return ("bad_text", f"{path}: {problem}") if problem else None
    if isinstance(field_type, Choice):
        if value not in field_type.values:
            return ("bad_choice", f"{path}: {str(value)[:40]!r} is not one of {', '.join(field_type.values)}")
        return None
    if isinstance(field_type, Flag):
        if type(value) is not bool:
            return ("wrong_type", f"{path}: expected true or false, got {_json_type(value)}")
        return None
    if isinstance(field_type, Num):
        return _number_problem(value, field_type, path)
    return _items_problem(value, field_type, path)


def _number_problem(value: object, spec: Num, path: str) -> tuple[str, str] | None:
    if type(value) not in (int, float):
        return ("wrong_type", f"{path}: expected a number, got {_json_type(value)}")
    if type(value) is float and not math.isfinite(value):
        return ("not_finite", f"{path}: {value} is not a finite number")
    if spec.integer and type(value) is not int:
        return ("wrong_type", f"{path}: expected an integer, got {value}")
    if not spec.low <= value <= spec.high:
        return ("out_of_range", f"{path}: {_shown(value)} is outside {spec.low:g}..{spec.high:g}")
    return None


def _shown(number: float) -> str:
    """The number for a rejection's detail, without quoting a thousand-digit integer."""
    if type(number) is int and number.bit_length() > 100:
        return f"an integer of about {int(number.bit_length() * 0.30103)} digits"
    return str(number)


def _items_problem(value: object, spec: Items, path: str) -> tuple[str, str] | None:
    if not isinstance(value, list):
        return ("wrong_type", f"{path}: expected a list, got {_json_type(value)}")
    if len(value) > spec.max_items:
        return ("too_many_items", f"{path}: {len(value)} items; the limit is {spec.max_items}")
    for index, item in enumerate(value):
        _check_object(item, spec.spec, f"{path}[{index}].")
    return None


def _json_type(value: object) -> str:
    names = {bool: "boolean", int: "number", float: "number", str: "string", list: "list", dict: "object"}
    return names.get(type(value), "null")


# --- building (agent side) ------------------------------------------------------------


def encode(kind: str, county: str, school: str, ts_ms: int, body: dict[str, Any]) -> bytes:
    """The payload bytes for a message; raises ValueError if it would be rejected, since
    an agent that builds an invalid message has a bug worth failing loudly on."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}")
    document = {"schema": SCHEMA_VERSION, "kind": kind, "county": county, "school": school, "ts": ts_ms}
    document.update({key: value for key, value in body.items() if value is not None})
    try:
        _check_document(TopicParts(county, school, kind), document, now_ms=ts_ms)
    except _Invalid as invalid:
        raise ValueError(f"invalid {kind} message: {invalid.rejection}") from None
    payload = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    if len(payload) > MAX_PAYLOAD_BYTES:
        # The broker would refuse it for ever and the spool would offer it for ever.
        raise ValueError(f"{kind} message is {len(payload)} bytes; the limit is {MAX_PAYLOAD_BYTES}")
    return payload


# --- line protocol straight from a message (collector side, the fast path) ----------------
#
# The reference, to_points (tests/contract/influx_points.py), builds an influxdb-client
# Point per line and escapes every name of every line again; at county scale that was half the collector's CPU. A kind's measurement, tag and
# field names are constants of its spec, so they are escaped once here, and only values are
# formatted per message. The result is byte for byte what to_points' Points would write
# (tests/contract/test_lines.py holds the two together).

_ESCAPE_MEASUREMENT = str.maketrans({",": "\\,", " ": "\\ ", "\n": "\\n", "\t": "\\t", "\r": "\\r"})
_ESCAPE_KEY = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ ", "\n": "\\n", "\t": "\\t", "\r": "\\r"})
_ESCAPE_STRING = str.maketrans({'"': '\\"', "\\": "\\\\"})


def _tag_text(value: object) -> str:
    text = str(value).translate(_ESCAPE_KEY)
    return text + " " if text.endswith("\\") else text  # as influxdb-client does


def _flag_text(value: bool) -> str:
    return "true" if value else "false"


def _float_text(value: float) -> str:
    text = str(float(value))
    return text.removesuffix(".0")


def _integer_text(value: int) -> str:
    return f"{value}i"


def _string_text(value: str) -> str:
    return '"' + value.translate(_ESCAPE_STRING) + '"'


def _tag_writer(field_type: FieldType):
    """value -> its tag text. Ids need no escaping (validation allows none of , = space)."""
    if isinstance(field_type, Flag):
        return _flag_text
    if isinstance(field_type, Id):
        return str
    if isinstance(field_type, Choice):
        return {choice: _tag_text(choice) for choice in field_type.values}.__getitem__
    return _tag_text


def _field_writer(field_type: FieldType):
    """value -> its field text, typed as to_points types it."""
    if isinstance(field_type, Flag):
        return _flag_text
    if isinstance(field_type, Num):
        return _integer_text if field_type.integer else _float_text
    return _string_text


@dataclass(frozen=True)
class _Layout:
    """One object of a kind as a line: names escaped, in the order the line needs them."""

    measurement: str
    tags: tuple[tuple[str, str, Any], ...]
    """(key, 'key=', writer) for the object's own tags."""
    tag_order: tuple[str, ...]
    """Every tag key a line can carry, inherited ones included, sorted as influxdb-client sorts."""
    fields: tuple[tuple[str, str, Any], ...]
    """(key, 'key=', writer), sorted by key."""
    lists: tuple[tuple[str, _Layout], ...]
    """(key, layout of its items), in spec order: the order to_points yields them."""


def _layout(measurement: str, spec: dict[str, FieldType], inherited: tuple[str, ...]) -> _Layout:
    own = [key for key, field_type in spec.items() if field_type.tag and not isinstance(field_type, Items)]
    tag_keys = tuple(sorted(set(inherited) | set(own)))
    return _Layout(
        measurement=measurement.translate(_ESCAPE_MEASUREMENT),
        tags=tuple((key, key.translate(_ESCAPE_KEY) + "=", _tag_writer(spec[key])) for key in own),
        tag_order=tag_keys,
        fields=tuple(
            (key, key.translate(_ESCAPE_KEY) + "=", _field_writer(spec[key]))
            for key in sorted(spec)
            if not spec[key].tag and not isinstance(spec[key], Items)
        ),
        lists=tuple(
            (key, _layout(f"{measurement}_{field_type.item}", field_type.spec, tag_keys))
            for key, field_type in spec.items()
            if isinstance(field_type, Items)
        ),
    )


def _measurement_of(kind: str) -> str:
    return "schoolnet_agent" if kind == STATUS else f"schoolnet_{kind}"


_LAYOUTS = {kind: _layout(_measurement_of(kind), spec, ("county", "school")) for kind, spec in KINDS.items()}


def register_kind(kind: str, spec: dict[str, FieldType]) -> None:
    """Adds a measurement kind defined outside this module (schoolnet_core.kinds does
    this for a kind's folder). Both sides register it before they build or validate its
    messages; a name already taken is refused rather than silently redefined."""
    problem = id_problem(kind)
    if problem or kind in (COMMAND, "_deadletter"):
        raise ValueError(f"kind name: {problem or f'{kind!r} is reserved'}")
    if kind in KINDS:
        if KINDS[kind] is spec:
            return
        raise ValueError(f"kind {kind!r} is already defined; choose another name")
    KINDS[kind] = spec
    _LAYOUTS[kind] = _layout(_measurement_of(kind), spec, ("county", "school"))


def unregister_kind(kind: str) -> None:
    """Takes a registered kind away again (a test's, when it ends); built-in kinds stay."""
    if kind in BUILT_IN_KINDS:
        raise ValueError(f"{kind!r} is a built-in kind")
    KINDS.pop(kind, None)
    _LAYOUTS.pop(kind, None)


def to_lines(message: Message, received_ms: int | None = None) -> list[str]:
    """InfluxDB line protocol for a message that validate() accepted: the same lines, in the
    same order, as the Points of to_points(message, received_ms), made at a fraction of the
    CPU. Only for validated messages: it relies on validation for types and ids."""
    ts = received_ms if message.kind == STATUS and received_ms is not None else message.ts_ms
    base_tags = {"county": "county=" + message.county, "school": "school=" + message.school}
    lines: list[str] = []
    _object_lines(_LAYOUTS[message.kind], message.body, base_tags, f" {ts}", lines)
    return lines


def _object_lines(layout: _Layout, values: dict, parent_tags: dict, ts_text: str, lines: list[str]) -> None:
    tags = dict(parent_tags)
    for key, name, write in layout.tags:
        value = values.get(key)
        if value is not None:
            tags[key] = name + write(value)
    fields = []
    for key, name, write in layout.fields:
        value = values.get(key)
        if value is not None:
            fields.append(name + write(value))
    if fields:
        tag_text = ",".join([tags[key] for key in layout.tag_order if key in tags])
        lines.append(f"{layout.measurement}{',' if tag_text else ''}{tag_text} {','.join(fields)}{ts_text}")
    for key, items_layout in layout.lists:
        for item in values.get(key) or ():
            _object_lines(items_layout, item, tags, ts_text, lines)

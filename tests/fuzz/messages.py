"""Hypothesis strategies for wire-contract messages, made by walking schoolnet_core.contract.KINDS.

    valid_cases()    a structurally valid message of any kind: random ids, topic, timestamp
                     inside the window, every optional field present, null or absent, texts
                     full of line-protocol specials (commas, '=', spaces, quotes, CJK,
                     fullwidth and combining characters)
    mutated_cases()  a valid message with exactly one thing changed, and the rejection reason
                     CONTRACT.md says it must get (None: it must still be accepted)
    any_topic(), any_json_payload(), byte_mutated_cases(): input with no such promise

With one change in an otherwise valid message, the reason is fully determined, so the fuzz
tests can assert it rather than just "some rejection".
"""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from hypothesis import strategies as st

from schoolnet_core import contract

NOW_MS = 1_795_570_200_000
"""The collector's clock in these tests (2026-11-25): the window is fixed, so runs repeat."""
OLDEST_MS = NOW_MS - contract.MAX_AGE_MS
NEWEST_MS = NOW_MS + contract.MAX_CLOCK_AHEAD_MS
CONTRACT_MD = Path(__file__).resolve().parents[2] / "CONTRACT.md"


def documented_reasons() -> frozenset[str]:
    """The rejection reasons CONTRACT.md lists: the dead-letter counters county IT reads."""
    section = CONTRACT_MD.read_text("utf-8").split("## Rejection reasons", 1)[1].split("\n## ", 1)[0]
    return frozenset(re.findall(r"`([a-z_]+)`", section))


@dataclass(frozen=True)
class Case:
    """One message to offer the validator, and what it must answer."""

    topic: str
    payload: bytes
    expect: str | None
    """The rejection reason it must get, or None when it must be accepted."""
    change: str
    """What was done to a valid message, for the failure report."""
    kind: str = ""
    body: dict | None = field(default=None, hash=False)
    """The body as Python values, when encode() can be asked about it too."""


# --- ids, texts, numbers ---------------------------------------------------------------

_ID_FIRST = "abcdefghijklmnopqrstuvwxyz0123456789"
ids = st.builds(str.__add__, st.sampled_from(_ID_FIRST), st.text(_ID_FIRST + "-_", max_size=63))
"""Valid ids (CONTRACT.md: 1-64 of a-z 0-9 - _, starting with a letter or digit)."""

_INVISIBLE = ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")  # CONTRACT.md: control or invisible
_TEXT_CHARACTERS = st.characters(exclude_categories=_INVISIBLE, exclude_characters="\\")
TRICKY_TEXT = (
    ",", "=", " ", '"', "'", "a=b", "x,y z", "#", "i", "1i", "t", "true", "-", "_",
    "县教育城域网", "七年级(1)班", "，", "＝", "\u3000", "Ａｂ", "e\u0301", "\u0301", "\u00a0",
    "🙂", "ﬁ", "ß", "İ", "\u2003", "{", "}", "[", "]", ":", "/", "+", "*", "%", "&",
)  # fmt: skip
BAD_TEXT_INSERTS = (
    "\u202e",  # right-to-left override: disguises a label
    "\u200b", "\u200d", "\ufeff", "\u2066", "\u00ad",  # zero-width, BOM, isolate, soft hyphen
    "\ud800", "\udfff",  # lone surrogates, only writable as JSON escapes
    "\n", "\r", "\t", "\x00", "\x7f", "\x85", "\u2028", "\u2029",
    "\ue000", "\U000f0000", "\u0378",  # private use, unassigned
    "\\", "a\\", "\\,", "\\ ", "\\n",  # a backslash would be left unescaped in a tag
)  # fmt: skip


def texts(max_len: int) -> st.SearchStrategy[str]:
    """Display text the contract accepts: no invisible characters, no backslash, no space
    at either end, 1..max_len characters."""
    raw = st.one_of(
        st.text(_TEXT_CHARACTERS, min_size=1, max_size=max_len),
        st.lists(st.sampled_from(TRICKY_TEXT), min_size=1, max_size=8).map("".join),
    )
    return raw.map(lambda text: text[:max_len].strip()).filter(bool)


def bad_texts(max_len: int) -> st.SearchStrategy[str]:
    inserted = st.tuples(texts(8) | st.just(""), st.sampled_from(BAD_TEXT_INSERTS), texts(8) | st.just(""))
    return st.one_of(
        inserted.map("".join),
        st.sampled_from(["", " ", " x", "x ", "\u3000x", "x\u00a0", "\tx"]),
        st.just("x" * (max_len + 1)),
        st.just("县" * (max_len + 1)),
    )


BAD_IDS = ("", "A", "Hx", "-a", "_a", "a" * 65, "ａ", "a b", "a/b", "a+b", "a.b", "a#", "ı", "é", "a\n", "县")

EXTREME_NUMBERS = (
    math.nan, math.inf, -math.inf, 1e308, -1e308, sys.float_info.max, -sys.float_info.max,
    5e-324, -5e-324, sys.float_info.min, -0.0, 0.0, 1e-300, 0.1, 1.5, 2**53 + 1, 2**63, 2**64,
    -(2**63), 10**30, -(10**30), -1, 0, 1, 1e12 + 0.5, 10**15 + 1, 4.999999999999999,
    5.000000000000001, 100.00000000000001,
)  # fmt: skip
NUMBER_LITERALS = (
    "1e999", "-1e999", "1e-999", "-0", "-0.0", "0e0", "1E2", "1.0000000000000000000001",
    "9" * 300, "-" + "9" * 300,  # Python reads these; they are just out of range
    "9" * 5000,  # more digits than Python's int() reads (4300): not a number we can read
)  # fmt: skip
OVERFLOWING_INTEGERS = ("9" * 309, "-" + "9" * 309, "9" * 4000)
"""Integers beyond float range: validate() once raised OverflowError on them (kept as
test_an_integer_beyond_float_range_is_out_of_range); now also drawn by the generators."""
NUMBER_LITERALS += OVERFLOWING_INTEGERS
any_integer = st.integers(-(10**4000), 10**4000)
"""Up to 4,000 digits, within what json.dumps writes (Python refuses ints over 4,300)."""


def numbers(spec: contract.Num) -> st.SearchStrategy:
    """Numbers inside the field's range: boundaries, subnormals and -0.0 included."""
    if spec.integer:
        return st.integers(int(spec.low), int(spec.high))
    edges = [spec.low, spec.high, float(spec.low), float(spec.high)]
    if spec.low == 0:
        edges += [-0.0, 5e-324, sys.float_info.min]
    return st.one_of(
        st.floats(spec.low, spec.high, allow_nan=False, allow_infinity=False),
        st.integers(math.ceil(spec.low), math.floor(spec.high)),
        st.sampled_from(edges),
    )


def number_outcome(value: object, spec: contract.Num) -> str | None:
    """CONTRACT.md's rule for a number in a number field: NaN/Infinity are not_finite; a
    fraction where an integer belongs is wrong_type; else the range decides."""
    if isinstance(value, float) and not math.isfinite(value):
        return "not_finite"
    if spec.integer and isinstance(value, float):
        return "wrong_type"
    return None if spec.low <= value <= spec.high else "out_of_range"


# --- valid messages ----------------------------------------------------------------------


def value_of(field_type: contract.FieldType) -> st.SearchStrategy:
    if isinstance(field_type, contract.Id):
        return ids
    if isinstance(field_type, contract.Text):
        return texts(field_type.max_len)
    if isinstance(field_type, contract.Choice):
        return st.sampled_from(field_type.values)
    if isinstance(field_type, contract.Flag):
        return st.booleans()
    if isinstance(field_type, contract.Num):
        return numbers(field_type)
    return st.lists(body_of(field_type.spec), max_size=min(3, field_type.max_items))


_ABSENT = object()
_BODIES: dict[int, st.SearchStrategy] = {}


def body_of(spec: dict) -> st.SearchStrategy[dict]:
    """An object of `spec`: every required field, each optional one present, null or absent.
    Built once per spec: hypothesis spends its time validating freshly built strategies."""
    if id(spec) not in _BODIES:
        fields = {
            key: value_of(field_type) if field_type.required
            else st.one_of(value_of(field_type), st.none(), st.just(_ABSENT))
            for key, field_type in spec.items()
        }  # fmt: skip
        _BODIES[id(spec)] = st.fixed_dictionaries(fields).map(
            lambda body: {key: value for key, value in body.items() if value is not _ABSENT})
    return _BODIES[id(spec)]


def timestamps(kind: str) -> st.SearchStrategy[int]:
    """Inside the window; a status may be from any time before it (its will is old)."""
    if kind == contract.STATUS:
        return st.integers(max_value=NEWEST_MS)
    return st.integers(OLDEST_MS, NEWEST_MS)


@dataclass(frozen=True)
class Draft:
    """A message before it becomes bytes, so one thing in it can be changed."""

    kind: str
    county: str
    school: str
    ts: int
    body: dict = field(hash=False)

    @property
    def topic(self) -> str:
        return contract.topic(self.county, self.school, self.kind)

    def document(self) -> dict:
        envelope = {"schema": contract.SCHEMA_VERSION, "kind": self.kind, "county": self.county,
                    "school": self.school, "ts": self.ts}  # fmt: skip
        return {**envelope, **self.body}


@st.composite
def drafts(draw) -> Draft:
    kind = draw(st.sampled_from(tuple(contract.KINDS)))
    body = draw(body_of(contract.KINDS[kind]))
    return Draft(kind, draw(ids), draw(ids), draw(timestamps(kind)), body)


def payload_of(document: object, ensure_ascii: bool = False, literals: dict[str, str] | None = None) -> bytes:
    """JSON bytes as an agent (or an attacker) might write them. NaN and Infinity come out
    as JavaScript writes them; `literals` replaces placeholder strings with raw JSON text
    (numbers Python cannot write, e.g. 5000 digits); lone surrogates become \\u escapes."""
    try:
        text = json.dumps(document, ensure_ascii=ensure_ascii)
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(document, ensure_ascii=True)
    for placeholder, literal in (literals or {}).items():
        text = text.replace(json.dumps(placeholder), literal)
    return text.encode("utf-8")


@st.composite
def valid_cases(draw) -> Case:
    draft = draw(drafts())
    payload = payload_of(draft.document(), ensure_ascii=draw(st.booleans()))
    return Case(draft.topic, payload, None, "none: valid", draft.kind, draft.body)


# --- one change in a valid message ----------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """Where a field sits: the object holding it, its key, its type and its path."""

    holder: dict = field(hash=False)
    key: str
    field_type: contract.FieldType
    path: str


def places(values: dict, spec: dict, path: str = "") -> list[Place]:
    found = []
    for key, field_type in spec.items():
        found.append(Place(values, key, field_type, f"{path}{key}"))
        if isinstance(field_type, contract.Items) and isinstance(values.get(key), list):
            for index, item in enumerate(values[key]):
                found += places(item, field_type.spec, f"{path}{key}[{index}].")
    return found


OTHER_JSON = {
    "string": st.sampled_from(["", "1", "true", "null", "NaN", "up"]),
    "number": st.sampled_from([0, 1, -1, 1.5, 10**20]),
    "boolean": st.booleans(),
    "list": st.sampled_from([[], [1], ["a"], [{}]]),
    "object": st.sampled_from([{}, {"a": 1}]),
}
"""A value of each JSON type but null, to put where another type belongs."""
_TYPE_OF_FIELD = {contract.Id: "string", contract.Text: "string", contract.Choice: "string",
                  contract.Flag: "boolean", contract.Num: "number", contract.Items: "list"}  # fmt: skip
_REASON_FOR_WRONG_TYPE = {contract.Id: "bad_id", contract.Text: "bad_text", contract.Choice: "bad_choice"}


@st.composite
def mutated_cases(draw) -> Case:
    """A valid message with one field changed, or the envelope, or the topic."""
    draft = draw(drafts())
    mutation = draw(st.sampled_from(["field"] * 6 + ["unknown_field", "envelope", "envelope", "topic"]))
    if mutation == "field":
        return draw(_field_changed(draft))
    if mutation == "unknown_field":
        return draw(_unknown_field_added(draft))
    if mutation == "envelope":
        return draw(_envelope_changed(draft))
    return draw(_topic_changed(draft))


@st.composite
def _field_changed(draw, draft: Draft) -> Case:
    """One change of one field: first the kind of change, then a field it applies to (so
    rare field types such as ids get their share)."""
    change = draw(st.sampled_from(sorted(_CHANGERS)))
    fitting = [place for place in places(draft.body, contract.KINDS[draft.kind])
               if isinstance(place.field_type, _CHANGERS[change][0])]  # fmt: skip
    if not fitting:  # e.g. no ids in a health message
        change, fitting = "wrong_type", places(draft.body, contract.KINDS[draft.kind])
    place = draw(st.sampled_from(fitting))
    literals: dict[str, str] = {}
    expect = draw(_CHANGERS[change][1](place, literals))
    payload = payload_of(draft.document(), ensure_ascii=draw(st.booleans()), literals=literals)
    if len(payload) > contract.MAX_PAYLOAD_BYTES:  # e.g. 1001 devices with long CJK names
        expect = "oversize"
    body = None if literals else draft.body
    return Case(draft.topic, payload, expect, f"{change} at {place.path}", draft.kind, body)


@st.composite
def _dropped(draw, place: Place, literals: dict) -> str | None:
    if draw(st.booleans()):
        place.holder.pop(place.key, None)
    else:
        place.holder[place.key] = None
    return "missing_field" if place.field_type.required else None


@st.composite
def _wrong_type(draw, place: Place, literals: dict) -> str:
    own = _TYPE_OF_FIELD[type(place.field_type)]
    other = draw(st.sampled_from(sorted(set(OTHER_JSON) - {own})))
    place.holder[place.key] = draw(OTHER_JSON[other])
    return _REASON_FOR_WRONG_TYPE.get(type(place.field_type), "wrong_type")


@st.composite
def _extreme_number(draw, place: Place, literals: dict) -> str | None:
    spec = place.field_type
    if draw(st.integers(0, 3)) == 0:
        literal = draw(st.sampled_from(NUMBER_LITERALS))
        placeholder = f"@literal{len(literals)}@"
        literals[placeholder] = literal
        place.holder[place.key] = placeholder
        try:
            value = json.loads(literal)
        except ValueError:
            return "bad_json"
        return number_outcome(value, spec)
    value = draw(st.one_of(st.sampled_from(EXTREME_NUMBERS), st.floats(), any_integer))
    place.holder[place.key] = value
    return number_outcome(value, spec)


@st.composite
def _bad_text(draw, place: Place, literals: dict) -> str:
    place.holder[place.key] = draw(bad_texts(place.field_type.max_len))
    return "bad_text"


@st.composite
def _bad_id(draw, place: Place, literals: dict) -> str:
    place.holder[place.key] = draw(st.sampled_from(BAD_IDS))
    return "bad_id"


@st.composite
def _bad_choice(draw, place: Place, literals: dict) -> str:
    values = place.field_type.values
    near = draw(st.sampled_from(values))
    wrong = draw(st.sampled_from([near.upper(), f" {near}", f"{near} ", near[:-1], near + "\u200b",
                                  "".join(chr(ord(c) + 0xFEE0) for c in near if c.isalnum())]))  # fullwidth
    place.holder[place.key] = wrong
    return "bad_choice"


@st.composite
def _too_many_items(draw, place: Place, literals: dict) -> str:
    spec = place.field_type
    item = draw(body_of(spec.spec))
    place.holder[place.key] = [item] * (spec.max_items + 1)
    return "too_many_items"


@st.composite
def _item_not_an_object(draw, place: Place, literals: dict) -> str:
    spec = place.field_type
    items = list(draw(st.lists(body_of(spec.spec), max_size=2)))
    items.insert(draw(st.integers(0, len(items))), draw(st.sampled_from([1, "x", None, True, [], [{}]])))
    place.holder[place.key] = items
    return "wrong_type"


_ANY_FIELD = (contract.Id, contract.Text, contract.Choice, contract.Flag, contract.Num, contract.Items)
_CHANGERS = {
    # change: (the field types it applies to, what it does and which reason it expects)
    "drop_or_null": (_ANY_FIELD, _dropped),
    "wrong_type": (_ANY_FIELD, _wrong_type),
    "number": (contract.Num, _extreme_number),
    "bad_text": (contract.Text, _bad_text),
    "bad_id": (contract.Id, _bad_id),
    "bad_choice": (contract.Choice, _bad_choice),
    "too_many_items": (contract.Items, _too_many_items),
    "item_not_an_object": (contract.Items, _item_not_an_object),
}


def objects(values: dict, spec: dict, path: str = "") -> list[tuple[dict, dict, str]]:
    """The message's objects (the body and every list item) with their specs and paths."""
    found = [(values, spec, path or "(top level)")]
    for key, field_type in spec.items():
        if isinstance(field_type, contract.Items) and isinstance(values.get(key), list):
            for index, item in enumerate(values[key]):
                found += objects(item, field_type.spec, f"{path}{key}[{index}].")
    return found


@st.composite
def _unknown_field_added(draw, draft: Draft) -> Case:
    """A key the kind does not have, at the top or inside a list item."""
    holder, spec, path = draw(st.sampled_from(objects(draft.body, contract.KINDS[draft.kind])))
    key = draw(st.one_of(st.sampled_from(["Up", "up ", "extra", "__proto__", "schema_v", "ts_ms", "县"]),
                         st.text(max_size=12)))  # fmt: skip
    if key in spec or key in contract.ENVELOPE or key in holder:
        key = f"{key}-unknown"
    holder[key] = draw(st.sampled_from([1, "x", True, {}, []]))  # not null: encode() leaves nulls out
    payload = payload_of(draft.document(), ensure_ascii=draw(st.booleans()))
    return Case(draft.topic, payload, "unknown_field", f"unknown key {key!r} in {path}", draft.kind, draft.body)


@st.composite
def _envelope_changed(draw, draft: Draft) -> Case:
    document = draft.document()
    key = draw(st.sampled_from(contract.ENVELOPE))
    change = draw(st.sampled_from(["drop", "other"] + (["future", "past", "edge"] if key == "ts" else [])))
    if change == "drop":
        del document[key]
        expect = "missing_field"
    elif change == "other":
        document[key], expect = draw(_other_envelope_value(key, document[key]))
    elif change == "future":
        document["ts"] = NEWEST_MS + draw(st.integers(1, 10**15))
        expect = "ts_future"
    elif change == "past":
        document["ts"] = OLDEST_MS - draw(st.integers(1, 10**15))
        expect = None if draft.kind == contract.STATUS else "ts_past"
    else:
        document["ts"] = draw(st.sampled_from([OLDEST_MS, NEWEST_MS]))
        expect = None
    payload = payload_of(document, ensure_ascii=draw(st.booleans()))
    return Case(draft.topic, payload, expect, f"envelope {key}: {change}", draft.kind)


@st.composite
def _other_envelope_value(draw, key: str, current: object):
    if key == "schema":
        return draw(st.sampled_from([2, 0, -1, "1", 1.0, True, None, [1]])), "schema_version"
    if key == "ts":
        value = draw(st.sampled_from([float(NOW_MS), str(NOW_MS), True, None, [NOW_MS], {"ms": NOW_MS}]))
        return value, "wrong_type"
    other = draw(st.one_of(ids, st.sampled_from([None, 1, True, [], current.upper() + "X", current + " "])))
    if other == current:
        other = current + "-x"
    return other, "identity_mismatch"


@st.composite
def _topic_changed(draw, draft: Draft) -> Case:
    change = draw(st.sampled_from(["root", "levels", "id", "unknown_kind", "other_kind"]))
    levels = ["schoolnet", "v1", draft.county, draft.school, draft.kind]
    expect = "bad_topic"
    if change == "root":
        levels[draw(st.integers(0, 1))] = draw(st.sampled_from(["SchoolNet", "v2", "", "+", "#", "$share"]))
    elif change == "levels":
        position = draw(st.integers(0, len(levels)))
        if draw(st.booleans()):
            levels.insert(position, draw(st.sampled_from(["", "x", "+", "#"])))
        else:
            del levels[min(position, len(levels) - 1)]
    elif change == "id":
        levels[draw(st.integers(2, 3))] = draw(st.sampled_from(BAD_IDS + ("+", "#")))
    elif change == "unknown_kind":
        levels[4] = draw(st.sampled_from(["cmd", "Health", "health ", "_deadletter", "", "+", "#", "weather"]))
        expect = "unknown_kind"
    else:
        levels[4] = draw(st.sampled_from(sorted(set(contract.KINDS) - {draft.kind})))
        expect = "identity_mismatch"
    payload = payload_of(draft.document())
    return Case("/".join(levels), payload, expect, f"topic {change}", draft.kind)


# --- input with no promises ---------------------------------------------------------------

TOPIC_WORDS = ("schoolnet", "v1", "v2", "hx", "hx-01", "HX", "ｈｘ", "health", "status", "cmd",
               "_deadletter", "+", "#", "", " ", "..", "$SYS")  # fmt: skip


def any_topic() -> st.SearchStrategy[str]:
    words = st.one_of(st.sampled_from(TOPIC_WORDS), st.sampled_from(tuple(contract.KINDS)), ids, st.text(max_size=8))
    return st.one_of(
        st.text(max_size=60),
        st.lists(words, max_size=7).map("/".join),
        st.builds(contract.topic, ids, ids, st.sampled_from(tuple(contract.KINDS) + ("cmd",))),
    )


_JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), any_integer, st.floats(), st.text(max_size=20),
    st.sampled_from(["health", "hx", 1, NOW_MS, "true"]),
)  # fmt: skip
json_values = st.recursive(
    _JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)


@st.composite
def any_json_payload(draw) -> tuple[str, bytes]:
    """Any JSON value; or an envelope that fits its topic with random values in the kind's
    fields, so the search reaches the field checks instead of stopping at the envelope."""
    if draw(st.booleans()):
        return draw(any_topic()), payload_of(draw(json_values), ensure_ascii=draw(st.booleans()))
    draft = draw(drafts())
    keys = list(contract.KINDS[draft.kind]) + ["extra"]
    body = draw(st.dictionaries(st.sampled_from(keys), json_values, max_size=len(keys)))
    return draft.topic, payload_of(replace(draft, body=body).document())


@st.composite
def damaged(draw, payload: bytes) -> bytes:
    """`payload` with a few bytes replaced, inserted or deleted."""
    data = bytearray(payload)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(0, len(data) - 1)))
        edit = draw(st.sampled_from(["replace", "insert", "delete"]))
        byte = draw(st.sampled_from(b'{}[]",:\\ 0123456789-.eE') | st.integers(0, 255))
        if edit == "replace" and data:
            data[at] = byte
        elif edit == "insert":
            data.insert(at, byte)
        elif data:
            del data[at]
    return bytes(data)


@st.composite
def byte_mutated_cases(draw) -> tuple[str, bytes]:
    """A valid payload with a few bytes replaced, inserted or deleted."""
    case = draw(valid_cases())
    return case.topic, draw(damaged(case.payload))

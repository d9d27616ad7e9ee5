"""The contract, compiled: msgspec Structs and a line formatter generated per kind.

Why: the contract's validator walks every field in Python (about 125 us for a message of
the benchmark's mix); msgspec checks the same types, ranges, lengths, patterns and
choices in C while it decodes. The Structs are generated from contract.KINDS, the one
definition, never written by hand, and rebuilt whenever a kind is (re)registered.

The fast path only ever says "accepted, and here are the lines" or "not sure". Anything
it is not sure about (every rejection, and a few valid messages it cannot prove valid:
colons or non-ASCII spaces in texts, kinds it cannot compile) goes to
contract.validate, which decides and names the reason. So the verdicts, the dead-letter
reasons and the lines are the contract's by construction, as long as the fast path
never accepts what the contract refuses (tests/fuzz/test_fastpath_equivalence.py).

Duplicate keys: msgspec keeps the last value silently. Every key in a JSON document is
followed by exactly one structural ':', so payload.count(b':') >= the number of keys
written >= the number of distinct keys decoded. Only when the first equals the keys
decoded (counted while formatting) is the message accepted here; a duplicate key, or a
colon inside a string, sends it to the contract.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Optional, Union

import msgspec
from msgspec import UNSET, Meta, UnsetType

from schoolnet_core import contract

_ID_PATTERN = r"\A[a-z0-9][a-z0-9_-]{0,63}\Z"
_EXACT_FLOAT = 2.0**53
"""Beyond this an int read into a float field could round across a bound: not compiled."""


class NotCompiled(Exception):
    """A spec the fast path cannot mirror exactly: its kind stays on the contract's path."""


@dataclass(frozen=True)
class _Layout:
    """One object of a kind as a line, read from a Struct: (attribute, 'key=', writer)."""

    measurement: str
    tags: tuple[tuple[str, str, str, Any], ...]
    """(attribute, key, 'key=', writer) of the object's own tags."""
    tag_order: tuple[str, ...]
    fields: tuple[tuple[str, str, Any], ...]
    lists: tuple[tuple[str, _Layout], ...]
    texts: tuple[str, ...]
    """Attributes holding contract Text: checked here for what msgspec cannot say."""


@dataclass(frozen=True)
class Compiled:
    spec: dict
    decoder: msgspec.json.Decoder
    layout: _Layout
    online: str | None
    """The attribute of status's "online" (intake reports a birth)."""
    format: Any
    """format(message, base_tags, stamp, lines) -> keys in the message, or None."""


def _number_type(spec: contract.Num) -> Any:
    if max(abs(spec.low), abs(spec.high)) > _EXACT_FLOAT:
        raise NotCompiled("bounds beyond exact floats")
    whole = Annotated[int, Meta(ge=math.ceil(spec.low), le=math.floor(spec.high))]
    if spec.integer:
        return whole
    # int stays int (as json.loads keeps it) so a tag's text is the same; floats are
    # compared with the same float bounds as the contract's low <= value <= high.
    return Union[whole, Annotated[float, Meta(ge=float(spec.low), le=float(spec.high))]]


def _value_type(field_type: contract.FieldType, name: str) -> Any:
    if isinstance(field_type, contract.Id):
        return Annotated[str, Meta(pattern=_ID_PATTERN)]
    if isinstance(field_type, contract.Text):
        return Annotated[str, Meta(min_length=1, max_length=field_type.max_len)]
    if isinstance(field_type, contract.Choice):
        if not field_type.values or not all(isinstance(v, str) for v in field_type.values):
            raise NotCompiled("choices must be strings")
        return Literal[field_type.values]  # type: ignore[valid-type]
    if isinstance(field_type, contract.Flag):
        return bool
    if isinstance(field_type, contract.Num):
        return _number_type(field_type)
    if isinstance(field_type, contract.Items):
        item = _struct(f"{name}_{field_type.item}", field_type.spec)
        return Annotated[list[item], Meta(max_length=field_type.max_items)]
    raise NotCompiled(f"unknown field type {type(field_type).__name__}")


def _fields(name: str, spec: dict, top: bool = False) -> tuple[list[tuple], dict[str, str]]:
    """Struct fields for one object: attributes f0, f1, ... renamed to the contract's keys,
    so any key (a keyword, a dash) works. Optional fields default to UNSET, so a key that
    was present (even as null) can be told from one that was absent when keys are counted."""
    fields: list[tuple] = []
    rename: dict[str, str] = {}
    for index, (key, field_type) in enumerate(spec.items()):
        if not isinstance(key, str) or ":" in key or (top and key in contract.ENVELOPE):
            raise NotCompiled(f"key {key!r}")
        attr = f"f{index}"
        rename[attr] = key
        value_type = _value_type(field_type, f"{name}_{index}")
        if field_type.required:
            fields.append((attr, value_type))
        else:
            fields.append((attr, Optional[Union[value_type, UnsetType]], UNSET))
    return fields, rename


def _struct(name: str, spec: dict) -> type:
    fields, rename = _fields(name, spec)
    return msgspec.defstruct(name, fields, rename=rename, forbid_unknown_fields=True, kw_only=True)


def _envelope(kind: str) -> tuple:
    """(attribute, key, type) of the envelope; identity and ts are checked after decoding."""
    return (
        ("e_schema", "schema", Literal[contract.SCHEMA_VERSION]),
        ("e_kind", "kind", Literal[(kind,)]),  # type: ignore[valid-type]
        ("e_county", "county", str),
        ("e_school", "school", str),
        ("e_ts", "ts", int),
    )


def _layout(measurement: str, spec: dict, inherited: tuple[str, ...]) -> _Layout:
    attrs = {key: f"f{index}" for index, key in enumerate(spec)}
    reference = contract._layout(measurement, spec, inherited)
    return _Layout(
        measurement=reference.measurement,
        tags=tuple((attrs[key], key, name, write) for key, name, write in reference.tags),
        tag_order=reference.tag_order,
        fields=tuple((attrs[key], name, write) for key, name, write in reference.fields),
        lists=tuple(
            (attrs[key], _layout(items.measurement, spec[key].spec, reference.tag_order))
            for key, items in reference.lists
        ),
        texts=tuple(attrs[key] for key, t in spec.items() if isinstance(t, contract.Text)),
    )


def compile_kind(kind: str, spec: dict) -> Compiled:
    """Builds the decoder and formatter of one kind; raises NotCompiled when it cannot
    mirror the spec exactly."""
    envelope = _envelope(kind)
    body, rename = _fields(f"{kind}_message", spec, top=True)
    rename.update({attr: key for attr, key, _t in envelope})
    fields = [(attr, value_type) for attr, _key, value_type in envelope] + body
    struct = msgspec.defstruct(f"{kind}_message", fields, rename=rename, forbid_unknown_fields=True, kw_only=True)
    layout = _layout(contract._measurement_of(kind), spec, ("county", "school"))
    online = f"f{list(spec).index('online')}" if kind == contract.STATUS and "online" in spec else None
    return Compiled(spec, msgspec.json.Decoder(struct), layout, online, _formatter(layout, spec))


_ENVELOPE_KEYS = len(contract.ENVELOPE)
_compiled: dict[str, tuple[dict, Compiled | None]] = {}
"""kind -> (the contract's spec it was built from, its compiled form or None when it stays
on the contract's path); rebuilt when KINDS holds another spec (register_kind)."""


def compiled_for(kind: str) -> Compiled | None:
    spec = contract.KINDS.get(kind)
    if spec is None:
        return None
    known = _compiled.get(kind)
    if known is not None and known[0] is spec:
        return known[1]
    try:
        built: Compiled | None = compile_kind(kind, spec)
    except (NotCompiled, TypeError, ValueError):
        built = None
    _compiled[kind] = (spec, built)
    return built


@dataclass(frozen=True)
class Fast:
    """A message the fast path proved valid: what intake.Accepted needs."""

    county: str
    school: str
    lines: tuple[str, ...]
    says_online: bool


def examine(parts: contract.TopicParts, payload: bytes, received_ms: int) -> Fast | None:
    """The accepted message's lines, or None when the contract has to decide."""
    compiled = compiled_for(parts.kind)
    if compiled is None or len(payload) > contract.MAX_PAYLOAD_BYTES:
        return None
    try:
        message = compiled.decoder.decode(payload)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    if message.e_county != parts.county or message.e_school != parts.school:
        return None
    ts = message.e_ts
    if ts > received_ms + contract.MAX_CLOCK_AHEAD_MS:
        return None
    status = parts.kind == contract.STATUS
    if not status and ts < received_ms - contract.MAX_AGE_MS:
        return None
    stamp = f" {received_ms if status else ts}"
    base_tags = {"county": "county=" + parts.county, "school": "school=" + parts.school}
    lines: list[str] = []
    keys = compiled.format(message, base_tags, stamp, lines)
    if keys is None or keys + _ENVELOPE_KEYS != payload.count(b":"):
        return None
    says_online = compiled.online is not None and getattr(message, compiled.online) is True
    return Fast(parts.county, parts.school, tuple(lines), says_online)


def _text_ok(value: str) -> bool:
    """What msgspec's length check leaves of contract.text_problem. isprintable() is False
    for every forbidden category (and for non-ASCII spaces, which the contract allows:
    those go to the contract, which accepts them)."""
    return value.isprintable() and "\\" not in value and value.strip() == value


# --- the formatter, generated per object of a kind --------------------------------------
#
# A generic walk over the layout (as contract.to_lines does) spent ~50 us a message in
# getattr, loops and tuple unpacking. The generated function reads each attribute once,
# by name, and writes flags, integers and ids inline; the layout's names come escaped
# from contract._layout, so the bytes are the reference's (tests/fuzz equivalence test).


class _Source:
    """Lines of generated code and the values they refer to by name."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[str, Any] = {"UNSET": UNSET, "_text_ok": _text_ok}

    def add(self, indent: int, text: str) -> None:
        self.lines.append("    " * indent + text)

    def ref(self, value: Any) -> str:
        name = f"_v{len(self.names)}"
        self.names[name] = value
        return name


_TEXT_CACHE_SIZE = 4096


def _cached_text_tag(write: Any) -> Any:
    """Text tag -> its escaped text, or None when it needs the contract (_text_ok). Names
    of targets, classes and devices repeat in every message of a school, so the answers
    are kept; bounded (emptied when full), since texts come from the network."""
    cache: dict[str, str | None] = {}

    def text_tag(value: str) -> str | None:
        known = cache.get(value, cache)
        if known is not cache:
            return known
        if len(cache) >= _TEXT_CACHE_SIZE:
            cache.clear()
        text = cache[value] = write(value) if _text_ok(value) else None
        return text

    return text_tag


def _inline(source: _Source, write: Any, name: str) -> str:
    """An expression for 'key=' + the value's text, for a value held in v."""
    if write is contract._float_text:
        return f'({name!r} + str(float(v)).removesuffix(".0"))'
    if write is contract._flag_text:
        return f'({name!r} + ("true" if v else "false"))'
    if write is contract._integer_text:
        return f'({name!r} + str(v) + "i")'
    if write is str:
        return f"({name!r} + v)"
    return f"({name!r} + {source.ref(write)}(v))"


def _read(source: _Source, attr: str, required: bool, target: str, expression: str) -> None:
    """target = expression of the attribute (None when absent or null); counts the key."""
    source.add(1, f"v = o.{attr}")
    if required:
        source.add(1, f"k += 1; {target} = {expression}")
        return
    source.add(1, f"if v is UNSET: {target} = None")
    source.add(1, f"else: k += 1; {target} = None if v is None else {expression}")


_ALWAYS_INHERITED = ("county", "school")
"""Tags every object's parent tags hold: examine() puts them in, and they are kept down."""


def _generate(layout: _Layout, required: dict[str, bool], children: dict[str, Any]) -> Any:
    """The formatter of one object: fmt(o, parent_tags, stamp, lines) -> keys or None."""
    source = _Source()
    source.add(0, "def fmt(o, pt, stamp, lines):")
    source.add(1, "k = 0")
    text_tags = {attr for attr, _key, _name, _write in layout.tags if attr in layout.texts}
    for attr in layout.texts:
        if attr in text_tags:
            continue
        check = "not _text_ok(v)" if required[attr] else "v is not None and v is not UNSET and not _text_ok(v)"
        source.add(1, f"v = o.{attr}")
        source.add(1, f"if {check}: return None")
    own, own_attrs = {}, {}
    for index, (attr, key, name, write) in enumerate(layout.tags):
        own[key], own_attrs[key] = f"t{index}", attr
        if attr in text_tags:
            _read(source, attr, required[attr], f"t{index}", f"{source.ref(_cached_text_tag(write))}(v)")
            source.add(1, f"if t{index} is None and v is not None and v is not UNSET: return None")
            source.add(1, f"if t{index} is not None: t{index} = {name!r} + t{index}")
            continue
        _read(source, attr, required[attr], f"t{index}", _inline(source, write, name))
    source.add(1, "fs = []")
    for attr, name, write in layout.fields:
        expression = _inline(source, write, name)  # never None: every writer returns text
        source.add(1, f"v = o.{attr}")
        if required[attr]:
            source.add(1, f"k += 1; fs.append({expression})")
            continue
        source.add(1, "if v is not UNSET:")
        source.add(2, "k += 1")
        source.add(2, f"if v is not None: fs.append({expression})")
    source.add(1, "if fs:")
    head = [repr(layout.measurement)]
    for index, key in enumerate(layout.tag_order):
        if key in own and required[own_attrs[key]]:
            head.append(f"',' + {own[key]}")  # required: checked above, never None
        elif key in _ALWAYS_INHERITED and key not in own:
            head.append(f"',' + pt[{key!r}]")
        else:  # the object's own optional tag, else the parent's, if either is there
            mine = f"{own[key]} if {own[key]} is not None else " if key in own else ""
            source.add(2, f"c{index} = {mine}pt.get({key!r})")
            head.append(f"(',' + c{index} if c{index} is not None else '')")
    source.add(2, f"lines.append({' + '.join(head)} + ' ' + ','.join(fs) + stamp)")
    if layout.lists:
        source.add(1, "ct = dict(pt)")
        for key, variable in own.items():
            source.add(1, f"if {variable} is not None: ct[{key!r}] = {variable}")
    for attr, _items in layout.lists:
        source.add(1, f"v = o.{attr}")
        source.add(1, "if v is not UNSET:")
        source.add(2, "k += 1")
        source.add(2, "for item in v or ():")
        source.add(3, f"r = {source.ref(children[attr])}(item, ct, stamp, lines)")
        source.add(3, "if r is None: return None")
        source.add(3, "k += r")
    source.add(1, "return k")
    namespace = dict(source.names)
    exec(compile("\n".join(source.lines), f"<fastpath {layout.measurement}>", "exec"), namespace)  # noqa: S102
    return namespace["fmt"]


def _formatter(layout: _Layout, spec: dict) -> Any:
    attrs = {f"f{index}": key for index, key in enumerate(spec)}
    required = {attr: spec[key].required for attr, key in attrs.items()}
    children = {attr: _formatter(items, spec[attrs[attr]].spec) for attr, items in layout.lists}
    return _generate(layout, required, children)

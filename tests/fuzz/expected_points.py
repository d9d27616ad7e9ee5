"""What the store must receive for an accepted payload, worked out from the payload itself.

CONTRACT.md's rule, restated independently of schoolnet_core.contract.to_points: each kind is a
measurement schoolnet_<kind> (status: schoolnet_agent), each list inside it a measurement
schoolnet_<kind>_<item> inheriting the parent's tags; ids, texts, choices and tag flags are
tags; numbers and flags are fields (integers as integers, other numbers as floats); every
point carries county and school. The payload bytes are decoded here with plain json, so a
value the validator altered on its way to the store would show as a difference.

Points compare as canonical tuples: floats by their hex form, so -0.0 is not 0.0 and a
subnormal is not rounded away.
"""

from __future__ import annotations

import json
from collections import Counter

from schoolnet_core import contract
from tests.fuzz.lineprotocol import ParsedPoint, parse_line

Canonical = tuple


def expected_points(payload: bytes, received_ms: int | None = None) -> Counter:
    """The points (as canonical tuples) an accepted payload must become."""
    document = json.loads(payload)
    kind = document["kind"]
    measurement = "schoolnet_agent" if kind == contract.STATUS else f"schoolnet_{kind}"
    ts = document["ts"]
    if kind == contract.STATUS and received_ms is not None:
        ts = received_ms  # CONTRACT.md: status points are stamped when received
    tags = {"county": document["county"], "school": document["school"]}
    points: list[Canonical] = []
    _collect(points, measurement, contract.KINDS[kind], document, tags, ts)
    return Counter(points)


def stored_points(lines: list[str] | tuple[str, ...]) -> Counter:
    """The points the line-protocol lines say, read with the strict parser."""
    return Counter(_canonical_parsed(parse_line(line)) for line in lines)


def _collect(points: list, measurement: str, spec: dict, values: dict, parent_tags: dict, ts: int) -> None:
    tags, fields = dict(parent_tags), {}
    for key, field_type in spec.items():
        value = values.get(key)
        if value is None or isinstance(field_type, contract.Items):
            continue
        if field_type.tag:
            tags[key] = ("true" if value else "false") if isinstance(field_type, contract.Flag) else value
        elif isinstance(field_type, contract.Num) and not field_type.integer:
            fields[key] = float(value)
        else:
            fields[key] = value
    if fields:
        points.append(_canonical(measurement, tags, fields, ts))
    for key, field_type in spec.items():
        if isinstance(field_type, contract.Items):
            for item in values.get(key) or ():
                _collect(points, f"{measurement}_{field_type.item}", field_type.spec, item, tags, ts)


def _canonical(measurement: str, tags: dict, fields: dict, ts: int | None) -> Canonical:
    return (
        measurement,
        tuple(sorted(tags.items())),
        tuple(sorted((key, _typed(value)) for key, value in fields.items())),
        ts,
    )


def _canonical_parsed(point: ParsedPoint) -> Canonical:
    return _canonical(point.measurement, point.tags, point.fields, point.timestamp)


def _typed(value: object) -> tuple[str, object]:
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int):
        return ("int", value)
    if isinstance(value, float):
        return ("float", value.hex())
    return ("string", value)


def describe(points: Counter) -> str:
    return "\n".join(f"  {count} x {point}" for point, count in sorted(points.items(), key=repr))

"""The reference mapping of a message to influxdb-client Points.

The collector writes contract.to_lines (the fast path); these Points, built by the library
that does its own escaping, are what those lines must equal byte for byte. Kept beside the
tests because only the tests need influxdb-client's Point: the contract is stdlib only.
"""

from __future__ import annotations

from schoolnet_core import contract


def to_points(message: contract.Message, received_ms: int | None = None) -> list:
    """influxdb-client Points for a validated message (the library does the escaping).

    Status messages are stamped with `received_ms`: a retained birth or last will says
    what is true now, not when the agent's session began."""
    from influxdb_client import Point, WritePrecision

    ts = message.ts_ms
    if message.kind == contract.STATUS and received_ms is not None:
        ts = received_ms
    base_tags = {"county": message.county, "school": message.school}
    measurement = "schoolnet_agent" if message.kind == contract.STATUS else f"schoolnet_{message.kind}"
    return list(
        _object_points(Point, WritePrecision.MS, measurement, contract.KINDS[message.kind], message.body, base_tags, ts)
    )


def _object_points(point_cls, precision, measurement, spec, values, parent_tags, ts):
    tags = dict(parent_tags)
    fields = {}
    for key, field_type in spec.items():
        value = values.get(key)
        if value is None or isinstance(field_type, contract.Items):
            continue
        if field_type.tag:
            tags[key] = ("true" if value else "false") if isinstance(field_type, contract.Flag) else value
        else:
            fields[key] = float(value) if isinstance(field_type, contract.Num) and not field_type.integer else value
    if fields:
        point = point_cls(measurement)
        for key in sorted(tags):
            point.tag(key, tags[key])
        for key in sorted(fields):
            point.field(key, fields[key])
        yield point.time(ts, precision)
    for key, field_type in spec.items():
        if isinstance(field_type, contract.Items):
            for item in values.get(key) or ():
                yield from _object_points(
                    point_cls, precision, f"{measurement}_{field_type.item}", field_type.spec, item, tags, ts
                )

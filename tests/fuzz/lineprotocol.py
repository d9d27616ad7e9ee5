"""A strict reader of InfluxDB line protocol, written from the spec, not from a library.

The fuzz tests read back what influxdb-client wrote for the contract's points with this,
so a value escaped wrongly (a comma in a classroom's name, a quote in a target) shows up as
a parse error or a different value instead of a silently split tag. The spec:
https://docs.influxdata.com/influxdb/v2/reference/syntax/line-protocol/

    measurement[,tag_key=tag_value...] field_key=field_value[,field_key=field_value...] [timestamp]

Escapes: measurement `\\,` `\\ `; tag keys, tag values and field keys `\\,` `\\=` `\\ `
(a backslash before any other character is itself); string field values `\\"` `\\\\`.
Strict where the spec says "must": no empty keys or tag values, no unescaped `=` in a tag
value, no lone backslash in a string, no newline, no duplicate keys, single spaces between
the three sections.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_FLOAT = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_INTEGER = re.compile(r"[-+]?[0-9]+i")
_UNSIGNED = re.compile(r"[0-9]+u")
_TIMESTAMP = re.compile(r"-?[0-9]+")
_TRUE = ("t", "T", "true", "True", "TRUE")
_FALSE = ("f", "F", "false", "False", "FALSE")


class LineProtocolError(ValueError):
    """The line breaks the spec; the message says where."""


@dataclass(frozen=True)
class ParsedPoint:
    measurement: str
    tags: dict[str, str] = field(hash=False)
    fields: dict[str, float | int | bool | str] = field(hash=False)
    timestamp: int | None


def parse_line(line: str) -> ParsedPoint:
    if "\n" in line or "\r" in line:
        raise LineProtocolError(f"a point is one line: {line!r}")
    reader = _Reader(line)
    measurement = reader.name(stops=", ", escapable=", ", forbidden="")
    if measurement.startswith("#"):
        raise LineProtocolError(f"measurement {measurement!r} would make the line a comment")
    tags: dict[str, str] = {}
    while reader.take(","):
        key = reader.name(stops="=", escapable=",= ", forbidden=", ")
        reader.expect("=")
        _put(tags, key, reader.name(stops=", ", escapable=",= ", forbidden="="), "tag")
    reader.expect(" ")
    fields: dict[str, float | int | bool | str] = {}
    while True:
        key = reader.name(stops="=", escapable=",= ", forbidden=", ")
        reader.expect("=")
        _put(fields, key, reader.field_value(), "field")
        if not reader.take(","):
            break
    timestamp = None
    if not reader.at_end():
        reader.expect(" ")
        text = reader.rest()
        if not _TIMESTAMP.fullmatch(text):
            raise LineProtocolError(f"timestamp {text!r} is not an integer")
        timestamp = int(text)
    return ParsedPoint(measurement, tags, fields, timestamp)


def _put(into: dict, key: str, value: object, what: str) -> None:
    if key in into:
        raise LineProtocolError(f"{what} key {key!r} appears twice")
    into[key] = value


def field_value(text: str) -> float | int | bool:
    """An unquoted field value: float, integer (i), unsigned (u) or boolean."""
    if _INTEGER.fullmatch(text):
        return int(text[:-1])
    if _UNSIGNED.fullmatch(text):
        return int(text[:-1])
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if _FLOAT.fullmatch(text):
        return float(text)
    raise LineProtocolError(f"field value {text!r} is not a float, integer, boolean or string")


class _Reader:
    def __init__(self, line: str):
        self.line, self.at = line, 0

    def at_end(self) -> bool:
        return self.at >= len(self.line)

    def peek(self) -> str:
        return self.line[self.at] if not self.at_end() else ""

    def take(self, char: str) -> bool:
        if self.peek() == char:
            self.at += 1
            return True
        return False

    def expect(self, char: str) -> None:
        if not self.take(char):
            raise LineProtocolError(f"expected {char!r} at column {self.at} of {self.line!r}")

    def rest(self) -> str:
        text, self.at = self.line[self.at:], len(self.line)
        return text

    def name(self, stops: str, escapable: str, forbidden: str) -> str:
        """A measurement, key or tag value: up to an unescaped stop character."""
        out: list[str] = []
        while not self.at_end():
            char = self.peek()
            if char == "\\" and self.at + 1 < len(self.line) and self.line[self.at + 1] in escapable:
                out.append(self.line[self.at + 1])
                self.at += 2
                continue
            if char in stops:
                break
            if char in forbidden:
                raise LineProtocolError(f"unescaped {char!r} at column {self.at} of {self.line!r}")
            out.append(char)
            self.at += 1
        if not out:
            raise LineProtocolError(f"empty name or tag value at column {self.at} of {self.line!r}")
        return "".join(out)

    def field_value(self) -> float | int | bool | str:
        if self.take('"'):
            return self._string()
        start = self.at
        while not self.at_end() and self.peek() not in ", ":
            self.at += 1
        return field_value(self.line[start:self.at])

    def _string(self) -> str:
        out: list[str] = []
        while not self.at_end():
            char = self.peek()
            self.at += 1
            if char == '"':
                return "".join(out)
            if char == "\\" and self.peek() in ('"', "\\"):
                out.append(self.peek())
                self.at += 1
            elif char == "\\":
                raise LineProtocolError(f"a backslash in a string field must be escaped: {self.line!r}")
            else:
                out.append(char)
        raise LineProtocolError(f"string field value never closed: {self.line!r}")

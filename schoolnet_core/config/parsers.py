"""Value parsers for config scalars: each turns one YAML scalar into a value or raises
Invalid with what is allowed, in the words of the file's author."""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import unicodedata
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, time
from typing import Any, Callable
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import yaml

from schoolnet_core.config.walker import Invalid, Parse, not_allowed
from schoolnet_core.contract import id_problem

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PJLINK_PORT = 4352
DEFAULT_TIMEZONE = "Asia/Shanghai"


@dataclass(frozen=True)
class Check:
    """How to tell that something answers: icmp, tcp:PORT, dns[:PORT], http(s)://URL or pjlink."""

    method: str
    port: int | None = None
    url: str | None = None

    def __str__(self) -> str:
        if self.method in ("tcp", "dns") and self.port is not None:
            return f"{self.method}:{self.port}"
        return self.url if self.method == "http" else self.method


@dataclass(frozen=True)
class TimeRange:
    """Local times of day; the start is inside the range, the end is not."""

    start: time
    end: time

    def contains(self, moment: time) -> bool:
        return self.start <= moment < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class DateRange:
    """Calendar days, both ends included (a single day has first == last)."""

    first: date
    last: date

    def contains(self, day: date) -> bool:
        return self.first <= day <= self.last

    def overlaps(self, other: DateRange) -> bool:
        return self.first <= other.last and other.first <= self.last

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}..{self.last}"


_YAML = yaml.constructor.SafeConstructor()
_INT_TAG, _FLOAT_TAG = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
_CLOCK = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CHECK_FORMS = {"icmp": "icmp", "tcp": "tcp:PORT", "dns": "dns[:PORT]", "http": "http(s)://URL",
                "pjlink": "pjlink"}


_MAX_NUMBER_CHARS = 30


def _construct(construct: Callable[[yaml.ScalarNode], Any], node: yaml.ScalarNode, what: str) -> Any:
    """PyYAML's own conversion, with what it cannot convert (0x_, !!float x, 5000 digits)
    turned into a problem instead of a traceback."""
    if len(node.value) > _MAX_NUMBER_CHARS:
        raise Invalid(f"must be {what}, got a value of {len(node.value)} characters")
    try:
        return construct(node)
    except (ValueError, KeyError, TypeError, IndexError):
        raise Invalid(f"must be {what}, got {node.value[:_MAX_NUMBER_CHARS]!r}") from None


def integer(lo: int, hi: int) -> Parse:
    def parse(node: yaml.ScalarNode) -> int:
        if node.tag != _INT_TAG:
            raise Invalid(f"must be a whole number, got {node.value!r}{_quote_hint(node)}")
        return _in_range(_construct(_YAML.construct_yaml_int, node, "a whole number"), lo, hi)
    return parse


def number(lo: float, hi: float, above: bool = False) -> Parse:
    """A decimal number; with `above`, `lo` itself is excluded (for 'more than 0')."""
    def parse(node: yaml.ScalarNode) -> float:
        if node.tag == _INT_TAG:
            return float(_in_range(_construct(_YAML.construct_yaml_int, node, "a number"), lo, hi, above))
        if node.tag == _FLOAT_TAG and node.value.lower().lstrip("+-") not in (".inf", ".nan"):
            return _in_range(_construct(_YAML.construct_yaml_float, node, "a number"), lo, hi, above)
        raise Invalid(f"must be a number, got {node.value!r}{_quote_hint(node)}")
    return parse


def _in_range(value: Any, lo: float, hi: float, above: bool = False) -> Any:
    if (value > lo if above else value >= lo) and value <= hi:
        return value
    bounds = f"more than {lo} and at most {hi}" if above else f"between {lo} and {hi}"
    raise Invalid(f"must be {bounds}, got {value}")


def _quote_hint(node: yaml.ScalarNode) -> str:
    looks_numeric = re.fullmatch(r"[-+]?[0-9][0-9_.]*", node.value.strip())
    return "; remove the quotes" if node.style in ("'", '"') and looks_numeric else ""


def boolean(node: yaml.ScalarNode) -> bool:
    if node.tag != "tag:yaml.org,2002:bool":
        raise Invalid(f"must be true or false, got {node.value!r}")
    return _construct(_YAML.construct_yaml_bool, node, "true or false")


def identifier(node: yaml.ScalarNode) -> str:
    text = node.value.strip()
    problem = id_problem(text)
    if problem:
        raise Invalid(problem + _id_hint(text))
    return text


def _id_hint(text: str) -> str:
    if not text.isascii():
        return "; write ids in pinyin or Latin letters and put the Chinese name in 'name'"
    fixed = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")
    return f"; try {fixed!r}" if fixed and id_problem(fixed) is None else ""


def display_name(node: yaml.ScalarNode) -> str:
    text = node.value.strip()
    if not 1 <= len(text) <= 64:
        raise Invalid(f"must be 1 to 64 characters, got {len(text)}")
    bad = next((char for char in text if _is_control(char)), None)
    if bad is not None:
        raise Invalid(f"contains a control character (U+{ord(bad):04X}); remove it")
    return text


def _is_control(char: str) -> bool:
    category = unicodedata.category(char)
    return category.startswith("C") or category in ("Zl", "Zp")


def choice(*options: str) -> Parse:
    def parse(node: yaml.ScalarNode) -> str:
        text = node.value.strip()
        if text not in options:
            raise Invalid(not_allowed(f"{text!r} is not one of the choices", text, options))
        return text
    return parse


weekday = choice(*WEEKDAYS)


def host(node: yaml.ScalarNode) -> str:
    text = node.value.strip()
    if is_ip(text):
        return text
    if not text or len(text) > 253 or any(c.isspace() or c in "/:@" for c in text):
        raise Invalid(f"{text!r} is not a host name or IP address; give just the name or "
                       "address (no spaces, port or http://), e.g. 192.0.2.10")
    return text


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


_MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def module_name(node: yaml.ScalarNode) -> str:
    """A dotted Python module name, as a kind's module is named under `kinds:`."""
    text = node.value.strip()
    if not _MODULE_NAME.fullmatch(text):
        raise Invalid(f"{text!r} is not a Python module name, e.g. schoolnet_kinds.room_temperature")
    return text


def env_name(node: yaml.ScalarNode) -> str:
    text = node.value.strip()
    if not _ENV_NAME.fullmatch(text):
        raise Invalid(f"{text!r} is not an environment variable name (letters, digits and "
                       "'_'), e.g. SCHOOLNET_MQTT_PASSWORD")
    return text


def file_path(base_dir: str) -> Parse:
    """A file path; a relative one is taken from the config file's folder, not the cwd."""
    def parse(node: yaml.ScalarNode) -> str:
        text = node.value.strip()
        if not text or "\0" in text:
            raise Invalid("must be a file path, e.g. /etc/schoolnet/mqtt.password")
        return os.path.normpath(os.path.join(base_dir, text))
    return parse


def interface(node: yaml.ScalarNode) -> str:
    text = node.value.strip()
    if not 1 <= len(text) <= 15 or any(c.isspace() or c in "/:" for c in text):
        raise Invalid(f"{text!r} is not a network interface name, e.g. eth0 (see `ip link`)")
    return text


def timezone(node: yaml.ScalarNode) -> str:
    name = node.value.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise Invalid(f"unknown time zone {name!r}{_zone_hint(name)}") from None
    return name


def _zone_hint(name: str) -> str:
    close = difflib.get_close_matches(name, sorted(available_timezones()), n=1)
    suggestion = f"; did you mean {close[0]!r}?" if close else ";"
    return f"{suggestion} use an IANA name such as {DEFAULT_TIMEZONE}"


def parse_clock(text: str) -> time:
    match = _CLOCK.fullmatch(text.strip())
    if not match:
        raise Invalid(f"{text.strip()!r} is not a time of day; use HH:MM from 00:00 to "
                       "23:59, e.g. 08:00")
    return time(int(match[1]), int(match[2]))


def clock(node: yaml.ScalarNode) -> time:
    return parse_clock(node.value)


def time_range(node: yaml.ScalarNode) -> TimeRange:
    text = node.value.strip()
    start, dash, end = text.partition("-")
    if not dash:
        raise Invalid(f"{text!r} is not a time range; use HH:MM-HH:MM, e.g. 08:00-08:45")
    period = TimeRange(parse_clock(start), parse_clock(end))
    if period.start >= period.end:
        raise Invalid(f"{text!r}: the end must be after the start")
    return period


def parse_date(text: str) -> date:
    text = text.strip()
    if _ISO_DATE.fullmatch(text):
        with suppress(ValueError):  # e.g. 2026-02-30
            return date.fromisoformat(text)
    raise Invalid(f"{text!r} is not a date; use YYYY-MM-DD, or FIRST..LAST for a range, "
                   "e.g. 2026-10-01..2026-10-07")


def date_range(node: yaml.ScalarNode) -> DateRange:
    text = node.value.strip()
    first, dots, last = text.partition("..")
    days = DateRange(parse_date(first), parse_date(last) if dots else parse_date(first))
    if days.last < days.first:
        raise Invalid(f"{text!r}: the range ends before it starts; write FIRST..LAST")
    return days


def _check_port(spec: str) -> int:
    """The PORT of tcp:PORT or dns:PORT."""
    method, _, digits = spec.partition(":")
    if re.fullmatch(r"[0-9]{1,5}", digits) and 1 <= int(digits) <= 65535:
        return int(digits)
    example = "tcp:443" if method == "tcp" else "dns:5353"
    raise Invalid(f"{spec!r}: the port must be a number from 1 to 65535, e.g. {example}")


def url(text: str) -> str:
    try:
        parts = urlsplit(text)
        valid = (parts.scheme in ("http", "https") and bool(parts.hostname)
                 and parts.port != 0 and " " not in text)
    except ValueError:  # a port out of range, an unclosed [IPv6 bracket
        valid = False
    if not valid:
        raise Invalid(f"{text!r} is not an http(s) URL with a host, "
                       "e.g. https://sync.county.example/health")
    return text


def check(*methods: str) -> Parse:
    """The shared check vocabulary, limited to the `methods` that make sense where used."""
    forms = ", ".join(_CHECK_FORMS[method] for method in methods)

    def parse(node: yaml.ScalarNode) -> Check:
        text = node.value.strip()
        check = _parse_check(text, forms)
        if check.method not in methods:
            raise Invalid(f"check {text!r} cannot be used here; allowed: {forms}")
        return check
    return parse


def _parse_check(text: str, forms: str) -> Check:
    if text in ("icmp", "dns"):
        return Check(text)
    if text == "pjlink":
        return Check("pjlink", port=PJLINK_PORT)
    if text.startswith(("tcp:", "dns:")):
        return Check(text[:3], port=_check_port(text))
    if text.startswith(("http://", "https://")):
        return Check("http", url=url(text))
    raise Invalid(f"unknown check {text!r}; allowed: {forms}")


_USERINFO = re.compile(r"(?<=//)[^/?#]*@")


def shown_url(text: str) -> str:
    """The URL as an error message may quote it: a user:password@ part becomes ***@, since
    config errors go to the terminal and the journal."""
    return _USERINFO.sub("***@", text)


def broker_url(node: yaml.ScalarNode) -> tuple[str, str, str, int]:
    """(url, scheme, host, port) of mqtt[s]://host[:port]; credentials belong elsewhere."""
    text = node.value.strip()
    shown = shown_url(text)
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise Invalid(f"{shown!r}: the port must be a number from 1 to 65535") from None
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname or port == 0:
        raise Invalid(f"{shown!r} is not a broker URL; use mqtts://HOST[:PORT], "
                       "e.g. mqtts://mqtt.county.example:8883")
    if parts.username or parts.password:
        raise Invalid("do not put user names or passwords in the URL; use username and "
                       "password_file or password_env")
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise Invalid(f"{shown!r}: give only scheme://host[:port]")
    default_port = 8883 if parts.scheme == "mqtts" else 1883
    return text, parts.scheme, parts.hostname, port or default_port


def reference(known: Sequence[str], what: str) -> Parse:
    """An id that must name something defined elsewhere in the file."""
    def parse(node: yaml.ScalarNode) -> str:
        text = node.value.strip()
        if text in known:
            return text
        if not known:
            raise Invalid(f"unknown {what} {text!r}; no {what}s are defined yet")
        raise Invalid(not_allowed(f"unknown {what} {text!r}", text, known, f"known {what}s"))
    return parse

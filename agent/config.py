"""The agent's configuration: one YAML file, read into frozen values.

A school's IT teacher edits this file by hand, often with nobody to ask, so the loader reports
every mistake at once, each as ``FILE:LINE: KEY.PATH: what is wrong; how to fix it``. To keep
those line numbers it walks PyYAML's node tree itself instead of loading plain dicts. Text
values are taken as written, so ``12:10`` is a time and ``no`` is a word (YAML 1.1 would read
a base-60 number and ``False``). Relative file paths are relative to the config file.
Secrets are only referenced here; read_secret() reads them when they are needed.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import unicodedata
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from functools import partial
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import yaml

from agent.contract import id_problem

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEVICE_KINDS = (
    "interactive_panel", "projector", "electronic_whiteboard", "smart_blackboard",
    "classroom_pc", "document_camera", "sync_endpoint", "other",
)
SPEED_TEST_BACKENDS = ("iperf3", "speedtest", "http")
PROBE_METHODS = ("udp_echo", "icmp")
PJLINK_PORT = 4352
IPERF3_PORT = 5201
DEFAULT_TIMEZONE = "Asia/Shanghai"
EXAMPLE_CONFIG = Path(__file__).with_name("example-config.yaml")


# ---------------------------------------------------------------- problems


@dataclass(frozen=True)
class ConfigProblem:
    """One mistake in the config file. `line` is 1-based; 0 means the file as a whole."""

    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.path}: {self.message}"


class ConfigError(Exception):
    """All the problems found in one config file, one per line when printed."""

    def __init__(self, problems: Sequence[ConfigProblem]):
        self.problems = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


# ----------------------------------------------------------------- secrets


@dataclass(frozen=True)
class SecretRef:
    """Where a secret lives (a file or an environment variable) and which key named it."""

    key_path: str
    file: str | None = None
    env: str | None = None
    config_file: str = ""
    line: int = 0


class Secret:
    """A secret string that prints as *** so it cannot end up in a log line by accident."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "***"

    __str__ = __repr__


def read_secret(ref: SecretRef) -> Secret:
    """Read a secret only when it is needed, so it never sits in the config values."""
    value, where = _secret_text(ref)
    if not value:
        raise _secret_error(ref, f"{where} is empty; put the secret in it")
    return Secret(value)


def _secret_text(ref: SecretRef) -> tuple[str, str]:
    if ref.file is not None:
        where = f"secret file {ref.file}"
        try:
            return Path(ref.file).read_text(encoding="utf-8").strip(), where
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or "not UTF-8 text"
            raise _secret_error(ref, f"cannot read {where}: {reason}; create it "
                                     "(readable only by the agent: chmod 600) or fix the path"
                                ) from None
    where = f"environment variable {ref.env}"
    if ref.env not in os.environ:
        raise _secret_error(ref, f"{where} is not set; set it in the agent's service "
                                 "environment, or use a file instead")
    return os.environ[ref.env].strip(), where


def _secret_error(ref: SecretRef, message: str) -> ConfigError:
    return ConfigError([ConfigProblem(ref.config_file, ref.line, ref.key_path, message)])


# ------------------------------------------------------------------ values


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


@dataclass(frozen=True)
class School:
    id: str
    name: str
    county: str
    rural: bool


@dataclass(frozen=True)
class Broker:
    url: str
    host: str
    port: int
    tls: bool
    ca_file: str | None
    cert_file: str | None
    key_file: str | None
    username: str
    password: SecretRef
    keepalive_s: int
    allow_plaintext: bool


@dataclass(frozen=True)
class Spool:
    path: str
    max_messages: int


@dataclass(frozen=True)
class Timetable:
    """When the school works. The questions take aware datetimes and answer in local time."""

    timezone: str
    school_days: tuple[str, ...]
    lessons: tuple[TimeRange, ...]
    school_hours: TimeRange
    holidays: tuple[DateRange, ...]
    extra_school_days: tuple[DateRange, ...]

    def is_school_day(self, day: date) -> bool:
        """Make-up days (调休) are school days even at weekends; holidays never are."""
        if any(days.contains(day) for days in self.extra_school_days):
            return True
        if any(days.contains(day) for days in self.holidays):
            return False
        return WEEKDAYS[day.weekday()] in self.school_days

    def in_school_hours(self, moment: datetime) -> bool:
        local = self._local(moment)
        return self.is_school_day(local.date()) and self.school_hours.contains(local.time())

    def in_lesson(self, moment: datetime) -> bool:
        local = self._local(moment)
        return self.is_school_day(local.date()) and any(
            lesson.contains(local.time()) for lesson in self.lessons)

    def _local(self, moment: datetime) -> datetime:
        if moment.utcoffset() is None:
            raise ValueError("pass an aware datetime, e.g. datetime.now(timezone.utc)")
        return moment.astimezone(ZoneInfo(self.timezone))


@dataclass(frozen=True)
class Target:
    """Something beyond the school's uplink; any target answering means broadband is up."""

    name: str
    check: Check
    host: str | None
    query: str | None


@dataclass(frozen=True)
class Broadband:
    interval_s: int
    timeout_s: float
    targets: tuple[Target, ...]


@dataclass(frozen=True)
class SpeedTest:
    """Scheduled throughput tests. `server` is as written: HOST[:PORT] for iperf3, a URL
    for http and speedtest; None (speedtest only) runs no tests: the agent never lets
    speedtest.net choose a server outside the county's network."""

    backend: str
    server: str | None
    streams: int
    duration_s: int
    times: tuple[time, ...]
    interval_min: int
    stagger_window_min: int
    during_lessons: bool
    target_mbps: float
    wan_interface: str | None


@dataclass(frozen=True)
class Sweep:
    interval_s: int
    timeout_s: float


@dataclass(frozen=True)
class Device:
    id: str
    name: str
    kind: str
    host: str | None
    check: Check
    required: bool
    password: SecretRef | None


@dataclass(frozen=True)
class Classroom:
    """A class and its multimedia devices; with no devices it can never count as ready."""

    id: str
    name: str
    devices: tuple[Device, ...]


@dataclass(frozen=True)
class Platform:
    host: str
    port: int
    tls: bool


@dataclass(frozen=True)
class Probe:
    """Path-quality probe towards the county: `port` is set only for udp_echo."""

    method: str
    host: str
    port: int | None
    count: int
    interval_ms: int


@dataclass(frozen=True)
class Endpoint:
    classroom: str
    host: str | None
    check: Check


@dataclass(frozen=True)
class Session:
    id: str
    name: str
    classroom: str
    days: tuple[str, ...]
    start: time
    end: time
    remote_school: str | None


@dataclass(frozen=True)
class Thresholds:
    rtt_ms: float
    jitter_ms: float
    loss_pct: float
    mos_min: float
    bandwidth_mbps: float


@dataclass(frozen=True)
class SyncClassroom:
    platform: Platform
    probe: Probe
    endpoints: tuple[Endpoint, ...]
    sessions: tuple[Session, ...]
    thresholds: Thresholds
    bandwidth_check: bool


@dataclass(frozen=True)
class Health:
    interval_s: int


@dataclass(frozen=True)
class Commands:
    """County IT's commands to this school (e.g. "run a speed test now"). `key` is the
    shared key their HMAC is checked with; without one, only the broker's ACL (which
    lets only the county's operator account publish commands) vouches for them."""

    key: SecretRef | None
    min_gap_s: int


DEFAULT_COMMAND_GAP_S = 600
COMMAND_GAP_LIMITS_S = (60, 86_400)


@dataclass(frozen=True)
class AgentConfig:
    source: str
    school: School
    broker: Broker
    spool: Spool
    timetable: Timetable
    broadband: Broadband
    speed_test: SpeedTest
    sweep: Sweep
    classrooms: tuple[Classroom, ...]
    sync_classroom: SyncClassroom | None
    health: Health
    commands: Commands = Commands(None, DEFAULT_COMMAND_GAP_S)

    def secret_refs(self) -> tuple[SecretRef, ...]:
        """Every secret the agent will need, so a check can read them all up front."""
        devices = (device for room in self.classrooms for device in room.devices)
        command_key = (self.commands.key,) if self.commands.key else ()
        return (self.broker.password, *(d.password for d in devices if d.password), *command_key)


DEFAULT_TARGETS = (
    Target("阿里公共DNS", Check("dns"), "223.5.5.5", "www.moe.gov.cn"),
    Target("腾讯公共DNS", Check("dns"), "119.29.29.29", "www.moe.gov.cn"),
)


# ------------------------------------------------------------------ loading


def load_config(path: str | os.PathLike) -> AgentConfig:
    """Read and check the agent's YAML file; raise ConfigError listing every problem."""
    return load_yaml(path, _read_config)


def load_yaml(path: str | os.PathLike, read: Callable[[Walk, yaml.Node], Any],
              example: Path | None = None) -> Any:
    """Walk a YAML file with `read`, the one entry point for the agent's and the collector's
    loaders: every problem is collected, then raised together in file order."""
    file = os.fspath(path)
    walk = Walk(file, os.path.dirname(os.path.abspath(file)))
    config = read(walk, compose(file, example or EXAMPLE_CONFIG))
    if walk.problems:
        raise ConfigError(sorted(walk.problems, key=lambda problem: problem.line))
    return config


def compose(file: str, example: Path = EXAMPLE_CONFIG) -> yaml.Node:
    """The file's YAML node tree; a file that cannot be read or parsed is one problem."""
    try:
        data = Path(file).read_bytes()
    except FileNotFoundError:
        raise _file_error(file, 0, f"file not found; start from {example}") from None
    except OSError as error:
        raise _file_error(file, 0, f"cannot read the file: {error.strerror}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise _file_error(file, line, "not UTF-8 text (saved as GBK/ANSI?); "
                                      "save the file as UTF-8") from None
    try:
        _refuse_aliases(file, text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        raise _yaml_error(file, text, error) from None
    except RecursionError:
        raise _file_error(file, 1, "nested too deeply to be a schoolnet config") from None
    if root is None:
        raise _file_error(file, 1, f"the file is empty; start from {example}")
    return root


def _refuse_aliases(file: str, text: str) -> None:
    """YAML aliases (*name) would let a small file expand into a huge walk; no schoolnet
    config needs them, so the first one is a problem at its line."""
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            raise _file_error(file, event.start_mark.line + 1,
                              f"YAML aliases (*{event.anchor}) are not supported; write the value out")


def _yaml_error(file: str, text: str, error: yaml.YAMLError) -> ConfigError:
    if isinstance(error, yaml.reader.ReaderError):  # knows its offset, not its line
        line = text[:error.position].count("\n") + 1
        return _file_error(file, line, f"character U+{error.character:04X} is not allowed "
                                       "in YAML; remove it")
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    line = mark.line + 1 if mark else 1
    problem = getattr(error, "problem", None) or str(error)
    context = getattr(error, "context", None)
    message = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
    if "\\t" in message:
        message += "; indent with spaces, not tabs"
    return _file_error(file, line, message)


def _file_error(file: str, line: int, message: str) -> ConfigError:
    return ConfigError([ConfigProblem(file, line, "(file)", message)])


# ------------------------------------------------------------------ walker

_REQUIRED: Any = object()  # default= marker: the key must be given
_NULL_TAG = "tag:yaml.org,2002:null"
_SECRET_KEYS = {"password": "do not put secrets in the config; use password_file or password_env"}
_KEY_KEYS = {"key": "do not put the key in the config; use key_file or key_env"}

Parse = Callable[[yaml.ScalarNode], Any]
Read = Callable[["Walk", Optional[yaml.Node], str], Any]


class Invalid(ValueError):
    """A value is wrong; the message says what is allowed."""


class Walk:
    """One load in progress: the problems found so far and the line each node belongs to."""

    def __init__(self, file: str, base_dir: str):
        self.file, self.base_dir = file, base_dir
        self.problems: list[ConfigProblem] = []
        self.key_lines: dict[int, int] = {}

    def problem(self, line: int, path: str, message: str) -> None:
        self.problems.append(ConfigProblem(self.file, line, path or "(top level)", message))

    def line(self, node: yaml.Node) -> int:
        """The line of the key that owns `node`, where a reader looks; else the node's own."""
        return self.key_lines.get(id(node), node.start_mark.line + 1)

    def mapping(self, node: yaml.Node | None, path: str, allowed: Sequence[str],
                refused: dict[str, str] | None = None) -> Section:
        return Section(self, node, path, allowed, refused or {})

    def scalar(self, node: yaml.Node, path: str, parse: Parse) -> Any:
        if _is_null(node):
            self.problem(self.line(node), path, "needs a value")
            return None
        if not isinstance(node, yaml.ScalarNode):
            self.problem(self.line(node), path, f"must be a single value, found {_kind(node)}")
            return None
        try:
            return parse(node)
        except Invalid as error:
            self.problem(self.line(node), path, str(error))
            return None


class Section:
    """One YAML mapping being read. Unknown, refused and repeated keys are reported up
    front; then readers ask for keys by name, type and default. A mapping that is absent
    (node None) reads as empty, so every key takes its default."""

    def __init__(self, walk: Walk, node: yaml.Node | None, path: str,
                 allowed: Sequence[str], refused: dict[str, str]):
        self.walk, self.path = walk, path
        self.line = walk.line(node) if node is not None else 1
        self.broken = node is not None and not isinstance(node, yaml.MappingNode)
        self._pairs: dict[str, tuple[int, yaml.Node]] = {}
        if self.broken:
            walk.problem(self.line, path, f"must be a mapping (key: value lines), found "
                                          f"{_kind(node)}; allowed keys: {', '.join(allowed)}")
        elif node is not None:
            for key_node, value_node in node.value:
                self._index(key_node, value_node, allowed, refused)

    def _index(self, key_node: yaml.Node, value_node: yaml.Node, allowed: Sequence[str],
               refused: dict[str, str]) -> None:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else "(complex key)"
        line, path = key_node.start_mark.line + 1, self.child(key)
        if key in refused:
            self.walk.problem(line, path, refused[key])
        elif key not in allowed:
            self.walk.problem(line, path, _not_allowed(f"unknown key {key!r}", key, allowed))
        elif key in self._pairs:
            first = self._pairs[key][0]
            self.walk.problem(line, path, f"{key!r} is given twice (first on line {first}); "
                                          "keep one")
        else:
            self._pairs[key] = (line, value_node)
            self.walk.key_lines[id(value_node)] = line

    def child(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return key in self._pairs and not _is_null(self._pairs[key][1])

    def line_of(self, key: str | None) -> int:
        return self._pairs[key][0] if key in self._pairs else self.line

    def problem(self, key: str | None, message: str) -> None:
        """Report a rule that spans keys: at `key` when given, else at the mapping."""
        path = self.child(key) if key in self._pairs else self.path
        self.walk.problem(self.line_of(key), path, message)

    def _node(self, key: str, required: bool) -> yaml.Node | None:
        if self.has(key):
            return self._pairs[key][1]
        if required and not self.broken:
            given = key in self._pairs
            self.problem(key, "needs a value" if given else f"missing required key {key!r}")
        return None

    def value(self, key: str, parse: Parse, default: Any = _REQUIRED) -> Any:
        node = self._node(key, required=default is _REQUIRED)
        if node is None:
            return None if default is _REQUIRED else default
        return self.walk.scalar(node, self.child(key), parse)

    def section(self, key: str, read: Read, required: bool = False) -> Any:
        node = self._node(key, required)
        if node is None and required:
            return None
        return read(self.walk, node, self.child(key))

    def items(self, key: str, required: bool = False, min_items: int = 0,
              unique: str | None = None) -> list[tuple[yaml.Node, str]]:
        """The entries of a list as (node, path) pairs, with duplicates of `unique` reported."""
        node, path = self._node(key, required), self.child(key)
        if node is None:
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.walk.problem(self.walk.line(node), path,
                              f"must be a list (one '- ' line per entry), found {_kind(node)}")
            return []
        if len(node.value) < min_items:
            self.walk.problem(self.walk.line(node), path, "must not be empty; add an entry")
        pairs = [(item, f"{path}[{index}]") for index, item in enumerate(node.value)]
        if unique:
            self._check_unique(pairs, unique)
        return pairs

    def _check_unique(self, pairs: list[tuple[yaml.Node, str]], field: str) -> None:
        seen: dict[str, int] = {}
        for node, path in pairs:
            value = _field_node(node, field)
            if value is None:
                continue
            line = value.start_mark.line + 1
            if value.value in seen:
                self.walk.problem(line, f"{path}.{field}",
                                  f"duplicate {field} {value.value!r} (already used on line "
                                  f"{seen[value.value]}); give each entry its own {field}")
            seen.setdefault(value.value, line)

    def entries(self, key: str, read: Read, default: Any = (), min_items: int = 0,
                unique: str | None = None) -> Any:
        if not self.has(key) and default is not _REQUIRED:
            return default
        pairs = self.items(key, default is _REQUIRED, min_items, unique)
        return tuple(read(self.walk, node, path) for node, path in pairs)

    def values(self, key: str, parse: Parse, default: Any = (), min_items: int = 0) -> Any:
        if not self.has(key) and default is not _REQUIRED:
            return default
        pairs = self.items(key, default is _REQUIRED, min_items)
        return tuple(self.walk.scalar(node, path, parse) for node, path in pairs)

    def only_with(self, key: str, allowed: bool, reason: str) -> None:
        if self.has(key) and not allowed:
            self.problem(key, f"{key!r} is only used {reason}; remove it")

    def require_with(self, key: str, needed: bool, reason: str) -> None:
        if needed and not self.has(key) and not self.broken:
            self.problem(None, f"missing required key {key!r}: {reason}")

    def one_of(self, keys: Sequence[str], required: bool, reason: str) -> None:
        given = [key for key in keys if self.has(key)]
        if len(given) > 1:
            self.problem(given[-1], f"give only one of {' or '.join(keys)}, not both")
        elif required and not given and not self.broken:
            self.problem(None, f"missing {' or '.join(keys)}: {reason}")

    def together(self, keys: Sequence[str], reason: str) -> None:
        given = [key for key in keys if self.has(key)]
        missing = [key for key in keys if key not in given]
        if given and missing:
            self.problem(given[0], f"{given[0]!r} also needs {missing[0]!r} ({reason})")


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return "an empty value" if _is_null(node) else repr(node.value)


def _field_node(node: yaml.Node, field: str) -> yaml.ScalarNode | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == field and isinstance(value, yaml.ScalarNode):
                return value
    return None


def _not_allowed(what: str, word: str, options: Sequence[str], label: str = "allowed") -> str:
    close = difflib.get_close_matches(word, options, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ";"
    return f"{what}{hint} {label}: {', '.join(options)}"


# ---------------------------------------------------------- scalar parsers

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


def _identifier(node: yaml.ScalarNode) -> str:
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


def _display_name(node: yaml.ScalarNode) -> str:
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


def _choice(*options: str) -> Parse:
    def parse(node: yaml.ScalarNode) -> str:
        text = node.value.strip()
        if text not in options:
            raise Invalid(_not_allowed(f"{text!r} is not one of the choices", text, options))
        return text
    return parse


_weekday = _choice(*WEEKDAYS)


def _host(node: yaml.ScalarNode) -> str:
    text = node.value.strip()
    if _is_ip(text):
        return text
    if not text or len(text) > 253 or any(c.isspace() or c in "/:@" for c in text):
        raise Invalid(f"{text!r} is not a host name or IP address; give just the name or "
                       "address (no spaces, port or http://), e.g. 192.0.2.10")
    return text


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


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


def _interface(node: yaml.ScalarNode) -> str:
    text = node.value.strip()
    if not 1 <= len(text) <= 15 or any(c.isspace() or c in "/:" for c in text):
        raise Invalid(f"{text!r} is not a network interface name, e.g. eth0 (see `ip link`)")
    return text


def _timezone(node: yaml.ScalarNode) -> str:
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


def _parse_clock(text: str) -> time:
    match = _CLOCK.fullmatch(text.strip())
    if not match:
        raise Invalid(f"{text.strip()!r} is not a time of day; use HH:MM from 00:00 to "
                       "23:59, e.g. 08:00")
    return time(int(match[1]), int(match[2]))


def _clock(node: yaml.ScalarNode) -> time:
    return _parse_clock(node.value)


def _time_range(node: yaml.ScalarNode) -> TimeRange:
    text = node.value.strip()
    start, dash, end = text.partition("-")
    if not dash:
        raise Invalid(f"{text!r} is not a time range; use HH:MM-HH:MM, e.g. 08:00-08:45")
    period = TimeRange(_parse_clock(start), _parse_clock(end))
    if period.start >= period.end:
        raise Invalid(f"{text!r}: the end must be after the start")
    return period


def _parse_date(text: str) -> date:
    text = text.strip()
    if _ISO_DATE.fullmatch(text):
        with suppress(ValueError):  # e.g. 2026-02-30
            return date.fromisoformat(text)
    raise Invalid(f"{text!r} is not a date; use YYYY-MM-DD, or FIRST..LAST for a range, "
                   "e.g. 2026-10-01..2026-10-07")


def _date_range(node: yaml.ScalarNode) -> DateRange:
    text = node.value.strip()
    first, dots, last = text.partition("..")
    days = DateRange(_parse_date(first), _parse_date(last) if dots else _parse_date(first))
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


def _url(text: str) -> str:
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


def _check(*methods: str) -> Parse:
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
        return Check("http", url=_url(text))
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


def _iperf3_server(node: yaml.ScalarNode) -> str:
    text = node.value.strip()
    try:
        parts = urlsplit("//" + text)
        valid = (bool(parts.hostname) and parts.port != 0 and not parts.path
                 and not parts.username and not text.endswith(":"))
    except ValueError:  # a port out of range, an unclosed [IPv6 bracket
        valid = False
    if not valid:
        raise Invalid(f"{text!r} is not HOST[:PORT] of an iperf3 server, "
                       f"e.g. iperf.county.example:{IPERF3_PORT}")
    return text


def _http_server(node: yaml.ScalarNode) -> str:
    return _url(node.value.strip())


def _speedtest_server(node: yaml.ScalarNode) -> str:
    """A URL only: a speedtest.net server id would make the engine fetch speedtest.net's
    server list, and the test would leave the county's network."""
    text = node.value.strip()
    if text.isdigit() and text.isascii():
        raise Invalid(f"{text!r} is a speedtest.net server id; the agent only tests against the "
                      "county's own server: give its URL, e.g. http://speed.county.example/speedtest/upload.php")
    if text.startswith(("http://", "https://")):
        return _url(text)
    raise Invalid(f"{text!r} must be the http:// or https:// URL of the county's speedtest server")


def _reference(known: Sequence[str], what: str) -> Parse:
    """An id that must name something defined elsewhere in the file."""
    def parse(node: yaml.ScalarNode) -> str:
        text = node.value.strip()
        if text in known:
            return text
        if not known:
            raise Invalid(f"unknown {what} {text!r}; no {what}s are defined yet")
        raise Invalid(_not_allowed(f"unknown {what} {text!r}", text, known, f"known {what}s"))
    return parse


# ----------------------------------------------------------------- sections

_SECTIONS = ("school", "broker", "spool", "timetable", "broadband", "speed_test", "sweep",
             "classrooms", "sync_classroom", "health", "commands")


def _read_config(walk: Walk, root: yaml.Node) -> AgentConfig:
    top = walk.mapping(root, "", _SECTIONS)
    school = top.section("school", _read_school, required=True)
    timetable = top.section("timetable", _read_timetable, required=True)
    classrooms = top.entries("classrooms", _read_classroom, unique="id")
    known_rooms = tuple(dict.fromkeys(room.id for room in classrooms if room.id))
    return AgentConfig(
        source=walk.file,
        school=school,
        broker=top.section("broker", partial(_read_broker, school_id=school and school.id),
                           required=True),
        spool=top.section("spool", _read_spool),
        timetable=timetable,
        broadband=top.section("broadband", _read_broadband),
        speed_test=top.section("speed_test", partial(_read_speed_test, timetable=timetable)),
        sweep=top.section("sweep", _read_sweep),
        classrooms=classrooms,
        sync_classroom=top.section("sync_classroom",
                                   partial(_read_sync_classroom, classrooms=known_rooms)),
        health=top.section("health", _read_health),
        commands=top.section("commands", _read_commands),
    )


def _read_school(walk: Walk, node: yaml.Node | None, path: str) -> School:
    m = walk.mapping(node, path, ("id", "name", "county", "rural"))
    return School(
        id=m.value("id", _identifier),
        name=m.value("name", _display_name),
        county=m.value("county", _identifier),
        rural=m.value("rural", boolean),
    )


_BROKER_KEYS = ("url", "ca_file", "cert_file", "key_file", "username", "password_file",
                "password_env", "keepalive_s", "allow_plaintext")


def _read_broker(walk: Walk, node: yaml.Node | None, path: str,
                 school_id: str | None) -> Broker:
    m = walk.mapping(node, path, _BROKER_KEYS, refused=_SECRET_KEYS)
    url, scheme, host, port = m.value("url", broker_url) or (None, None, None, None)
    tls = scheme == "mqtts"
    allow_plaintext = m.value("allow_plaintext", boolean, default=False)
    if scheme == "mqtt" and not allow_plaintext:
        m.problem("url", "mqtt:// sends the password and results unencrypted; use mqtts://, "
                         "or set allow_plaintext: true if the network path is trusted")
    for key in ("ca_file", "cert_file", "key_file"):
        m.only_with(key, tls or scheme is None, "with an mqtts:// (TLS) url")
    m.together(("cert_file", "key_file"), "a client certificate needs its private key")
    in_dir = file_path(walk.base_dir)
    return Broker(
        url=url, host=host, port=port, tls=tls,
        ca_file=m.value("ca_file", in_dir, None),
        cert_file=m.value("cert_file", in_dir, None),
        key_file=m.value("key_file", in_dir, None),
        username=m.value("username", _display_name, school_id),
        password=_secret_ref(m, required=True),
        keepalive_s=m.value("keepalive_s", integer(5, 3600), 60),
        allow_plaintext=allow_plaintext,
    )


def _secret_ref(m: Section, required: bool, name: str = "password") -> SecretRef | None:
    """<name>_file or <name>_env, never the secret itself (refused elsewhere)."""
    file_key, env_key = f"{name}_file", f"{name}_env"
    m.one_of((file_key, env_key), required,
             f"name a file holding the {name} (chmod 600) or an environment variable")
    file = m.value(file_key, file_path(m.walk.base_dir), None)
    env = m.value(env_key, env_name, None)
    if file is None and env is None:
        return None
    key = file_key if file is not None else env_key
    return SecretRef(m.child(key), file=file, env=None if file else env,
                     config_file=m.walk.file, line=m.line_of(key))


def _read_spool(walk: Walk, node: yaml.Node | None, path: str) -> Spool:
    m = walk.mapping(node, path, ("path", "max_messages"))
    return Spool(
        path=m.value("path", file_path(walk.base_dir), "/var/lib/schoolnet/spool.sqlite"),
        max_messages=m.value("max_messages", integer(100, 100_000_000), 100_000),
    )


_TIMETABLE_KEYS = ("timezone", "school_days", "lessons", "school_hours", "holidays",
                   "extra_school_days")


def _read_timetable(walk: Walk, node: yaml.Node | None, path: str) -> Timetable:
    m = walk.mapping(node, path, _TIMETABLE_KEYS)
    lessons = _read_lessons(m)
    holidays = m.values("holidays", _date_range)
    return Timetable(
        timezone=m.value("timezone", _timezone, DEFAULT_TIMEZONE),
        school_days=_weekdays(m.values("school_days", _weekday, WEEKDAYS[:5], min_items=1)),
        lessons=lessons,
        school_hours=m.value("school_hours", _covering(lessons), _around(lessons)),
        holidays=holidays,
        extra_school_days=m.values("extra_school_days", _not_in(holidays)),
    )


def _read_lessons(m: Section) -> tuple[TimeRange, ...]:
    """Lessons in time order; an overlap is nearly always a typo, so it is refused."""
    lessons: list[TimeRange | None] = []
    for node, path in m.items("lessons", required=True, min_items=1):
        lesson = m.walk.scalar(node, path, _time_range)
        previous = next((earlier for earlier in reversed(lessons) if earlier), None)
        if lesson and previous and lesson.start < previous.end:
            m.walk.problem(m.walk.line(node), path,
                           f"{str(lesson)!r} starts before the previous lesson "
                           f"{str(previous)!r} ends; list lessons in time order without overlap")
        lessons.append(lesson)
    return tuple(lessons)


def _weekdays(names: Sequence[str] | None) -> tuple[str, ...]:
    return tuple(day for day in WEEKDAYS if day in (names or ()))


def _around(lessons: Sequence[TimeRange | None]) -> TimeRange | None:
    """Default school hours: 30 minutes before the first lesson to 30 after the last."""
    valid = [lesson for lesson in lessons if lesson]
    if not valid:
        return None
    start = min(lesson.start for lesson in valid)
    end = max(lesson.end for lesson in valid)
    return TimeRange(_shift(start, -30), _shift(end, 30))


def _shift(moment: time, minutes: int) -> time:
    total = min(max(moment.hour * 60 + moment.minute + minutes, 0), 23 * 60 + 59)
    return time(total // 60, total % 60)


def _covering(lessons: Sequence[TimeRange | None]) -> Parse:
    def parse(node: yaml.ScalarNode) -> TimeRange:
        hours = _time_range(node)
        for lesson in filter(None, lessons):
            if not (hours.start <= lesson.start and lesson.end <= hours.end):
                raise Invalid(f"{str(hours)!r} does not include lesson {str(lesson)!r}; "
                               "school hours must cover every lesson")
        return hours
    return parse


def _not_in(holidays: Sequence[DateRange | None]) -> Parse:
    def parse(node: yaml.ScalarNode) -> DateRange:
        days = _date_range(node)
        clash = next((h for h in holidays if h and h.overlaps(days)), None)
        if clash:
            raise Invalid(f"{str(days)!r} is also in holidays ({clash}); a day cannot be both")
        return days
    return parse


def _read_broadband(walk: Walk, node: yaml.Node | None, path: str) -> Broadband:
    m = walk.mapping(node, path, ("interval_s", "timeout_s", "targets"))
    interval = m.value("interval_s", integer(5, 3600), 30)
    return Broadband(
        interval_s=interval,
        timeout_s=_timeout(m, interval, 2.0),
        targets=m.entries("targets", _read_target, DEFAULT_TARGETS, min_items=1, unique="name"),
    )


def _timeout(m: Section, interval: int | None, default: float) -> float:
    """A round must time out before the next one is due, or rounds pile up."""
    timeout = m.value("timeout_s", number(0, 60, above=True), default)
    if timeout and interval and timeout >= interval:
        m.problem("timeout_s", f"must be shorter than interval_s ({interval})")
    return timeout


def _read_target(walk: Walk, node: yaml.Node | None, path: str) -> Target:
    m = walk.mapping(node, path, ("name", "check", "host", "query"))
    check = m.value("check", _check("icmp", "tcp", "dns", "http"))
    _check_companions(m, check)
    return Target(
        name=m.value("name", _display_name),
        check=check,
        host=m.value("host", _host, None),
        query=m.value("query", _host, None),
    )


def _check_companions(m: Section, check: Check | None) -> None:
    """The keys that go with a check: a host unless the URL names it; query with dns."""
    if check is None:
        return
    is_url = check.method == "http"
    m.require_with("host", not is_url, f"check {str(check)!r} needs the host to reach")
    m.only_with("host", not is_url, "when the check is not a URL (the URL names the host)")
    is_dns = check.method == "dns"
    m.require_with("query", is_dns, "check 'dns' needs a name to look up, e.g. www.moe.gov.cn")
    m.only_with("query", is_dns, "with check: dns")
    m.only_with("port", check.method == "pjlink", "with check: pjlink (tcp is written tcp:PORT)")


_SPEED_TEST_KEYS = ("backend", "server", "streams", "duration_s", "times", "interval_min",
                    "stagger_window_min", "during_lessons", "target_mbps", "wan_interface")
_SERVERS = {
    "iperf3": (_iperf3_server, f"the iperf3 server, e.g. iperf.county.example:{IPERF3_PORT}"),
    "http": (_http_server, "the URL of a large file, e.g. https://speed.county.example/1G"),
    "speedtest": (_speedtest_server, ""),
}


def _read_speed_test(walk: Walk, node: yaml.Node | None, path: str,
                     timetable: Timetable | None) -> SpeedTest:
    m = walk.mapping(node, path, _SPEED_TEST_KEYS)
    backend = m.value("backend", _choice(*SPEED_TEST_BACKENDS), "speedtest")
    server = _speed_server(m, backend)
    during_lessons = m.value("during_lessons", boolean, False)
    lessons = () if during_lessons or timetable is None else timetable.lessons
    times = m.values("times", _outside(lessons), (time(12, 10), time(18, 30)))
    return SpeedTest(
        backend=backend, server=server,
        streams=m.value("streams", integer(1, 32), 4),
        duration_s=m.value("duration_s", integer(3, 60), 10),
        times=tuple(sorted(set(filter(None, times)))),
        interval_min=m.value("interval_min", _interval_min, 0),
        stagger_window_min=m.value("stagger_window_min", integer(0, 240), 30),
        during_lessons=during_lessons,
        target_mbps=m.value("target_mbps", number(0, 100_000, above=True), 100.0),
        wan_interface=m.value("wan_interface", _interface, None),
    )


def _speed_server(m: Section, backend: str | None) -> str | None:
    """Where tests go: required for iperf3 and http, optional for speedtest.net."""
    if backend is None:
        return None
    parse, needed = _SERVERS[backend]
    m.require_with("server", bool(needed), f"backend {backend} needs {needed}")
    return m.value("server", parse, None)


def _outside(lessons: Sequence[TimeRange | None]) -> Parse:
    def parse(node: yaml.ScalarNode) -> time:
        moment = _clock(node)
        lesson = next((x for x in lessons if x and x.contains(moment)), None)
        if lesson:
            raise Invalid(f"{moment:%H:%M} is during lesson {str(lesson)!r}; tests load the "
                           "uplink, so pick a time outside lessons or set during_lessons: true")
        return moment
    return parse


def _interval_min(node: yaml.ScalarNode) -> int:
    minutes = integer(0, 7 * 24 * 60)(node)
    if 0 < minutes < 30:
        raise Invalid(f"must be 0 (off) or at least 30 minutes, got {minutes}")
    return minutes


def _read_sweep(walk: Walk, node: yaml.Node | None, path: str) -> Sweep:
    m = walk.mapping(node, path, ("interval_s", "timeout_s"))
    interval = m.value("interval_s", integer(5, 3600), 60)
    return Sweep(interval_s=interval, timeout_s=_timeout(m, interval, 2.0))


def _read_health(walk: Walk, node: yaml.Node | None, path: str) -> Health:
    m = walk.mapping(node, path, ("interval_s",))
    return Health(interval_s=m.value("interval_s", integer(10, 3600), 60))


def _read_commands(walk: Walk, node: yaml.Node | None, path: str) -> Commands:
    """Optional: without it commands are trusted on the broker's ACL alone, at most one
    on-demand speed test per DEFAULT_COMMAND_GAP_S."""
    m = walk.mapping(node, path, ("key_file", "key_env", "min_gap_s"), refused=_KEY_KEYS)
    return Commands(
        key=_secret_ref(m, required=False, name="key"),
        min_gap_s=m.value("min_gap_s", integer(*COMMAND_GAP_LIMITS_S), DEFAULT_COMMAND_GAP_S),
    )


def _read_classroom(walk: Walk, node: yaml.Node | None, path: str) -> Classroom:
    m = walk.mapping(node, path, ("id", "name", "devices"))
    return Classroom(
        id=m.value("id", _identifier),
        name=m.value("name", _display_name),
        devices=m.entries("devices", _read_device, unique="id"),
    )


_DEVICE_KEYS = ("id", "name", "kind", "host", "check", "port", "required", "password_file",
                "password_env")


def _read_device(walk: Walk, node: yaml.Node | None, path: str) -> Device:
    m = walk.mapping(node, path, _DEVICE_KEYS, refused=_SECRET_KEYS)
    check = m.value("check", _check("icmp", "tcp", "http", "pjlink"))
    _check_companions(m, check)
    is_pjlink = check is not None and check.method == "pjlink"
    for key in ("password_file", "password_env"):
        m.only_with(key, is_pjlink or check is None, "with check: pjlink")
    port = m.value("port", integer(1, 65535), None)
    device_id = m.value("id", _identifier)
    return Device(
        id=device_id,
        name=m.value("name", _display_name, device_id),
        kind=m.value("kind", _choice(*DEVICE_KINDS)),
        host=m.value("host", _host, None),
        check=replace(check, port=port) if is_pjlink and port else check,
        required=m.value("required", boolean, True),
        password=_secret_ref(m, required=False),
    )


_SYNC_KEYS = ("platform", "probe", "endpoints", "sessions", "thresholds", "bandwidth_check")


def _read_sync_classroom(walk: Walk, node: yaml.Node | None, path: str,
                         classrooms: Sequence[str]) -> SyncClassroom | None:
    """Optional: absent (or empty) means the school has no synchronous classroom."""
    if node is None:
        return None
    m = walk.mapping(node, path, _SYNC_KEYS)
    platform = m.section("platform", _read_platform, required=True)
    in_school = _reference(classrooms, "classroom")
    return SyncClassroom(
        platform=platform,
        probe=m.section("probe", partial(_read_probe, platform=platform)),
        endpoints=m.entries("endpoints", partial(_read_endpoint, in_school=in_school),
                         _REQUIRED, min_items=1),
        sessions=m.entries("sessions", partial(_read_session, in_school=in_school), unique="id"),
        thresholds=m.section("thresholds", _read_thresholds),
        bandwidth_check=m.value("bandwidth_check", boolean, False),
    )


def _read_platform(walk: Walk, node: yaml.Node | None, path: str) -> Platform:
    m = walk.mapping(node, path, ("host", "port", "tls"))
    tls = m.value("tls", boolean, True)
    return Platform(
        host=m.value("host", _host),
        port=m.value("port", integer(1, 65535), 443 if tls else 80),
        tls=tls,
    )


def _read_probe(walk: Walk, node: yaml.Node | None, path: str,
                platform: Platform | None) -> Probe:
    """Defaults to pinging the platform, which needs no echo server at the county."""
    m = walk.mapping(node, path, ("method", "host", "port", "count", "interval_ms"))
    method = m.value("method", _choice(*PROBE_METHODS), "icmp")
    m.only_with("port", method != "icmp", "with method: udp_echo")
    return Probe(
        method=method,
        host=m.value("host", _host, platform and platform.host),
        port=m.value("port", integer(1, 65535), 7) if method == "udp_echo" else None,
        count=m.value("count", integer(10, 1000), 50),
        interval_ms=m.value("interval_ms", integer(1, 1000), 20),
    )


def _read_endpoint(walk: Walk, node: yaml.Node | None, path: str,
                   in_school: Parse) -> Endpoint:
    m = walk.mapping(node, path, ("classroom", "host", "check"))
    check = m.value("check", _check("icmp", "tcp", "http"))
    _check_companions(m, check)
    return Endpoint(
        classroom=m.value("classroom", in_school),
        host=m.value("host", _host, None),
        check=check,
    )


_SESSION_KEYS = ("id", "name", "classroom", "days", "start", "end", "remote_school")


def _read_session(walk: Walk, node: yaml.Node | None, path: str,
                  in_school: Parse) -> Session:
    m = walk.mapping(node, path, _SESSION_KEYS)
    session_id = m.value("id", _identifier)
    start, end = m.value("start", _clock), m.value("end", _clock)
    if start and end and start >= end:
        m.problem("end", f"must be after start ({start:%H:%M})")
    return Session(
        id=session_id,
        name=m.value("name", _display_name, session_id),
        classroom=m.value("classroom", in_school),
        days=_weekdays(m.values("days", _weekday, _REQUIRED, min_items=1)),
        start=start,
        end=end,
        remote_school=m.value("remote_school", _identifier, None),
    )


def _read_thresholds(walk: Walk, node: yaml.Node | None, path: str) -> Thresholds:
    m = walk.mapping(node, path, ("rtt_ms", "jitter_ms", "loss_pct", "mos_min",
                                  "bandwidth_mbps"))
    return Thresholds(
        rtt_ms=m.value("rtt_ms", number(0, 10_000, above=True), 150.0),
        jitter_ms=m.value("jitter_ms", number(0, 10_000, above=True), 30.0),
        loss_pct=m.value("loss_pct", number(0, 100), 1.0),
        mos_min=m.value("mos_min", number(1, 5), 3.6),
        bandwidth_mbps=m.value("bandwidth_mbps", number(0, 10_000, above=True), 4.0),
    )

"""The agent's configuration: the one YAML file a school edits, read into frozen values.

This module holds the agent's own schema (its sections and values); the walker, the value
parsers and the secret references are schoolnet_core.config's, shared with the collector,
so both report mistakes the same way. Relative file paths are relative to the config file.
Secrets are only referenced here; read_secret() reads them when they are needed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import yaml

from schoolnet_core.calendar import is_school_day
from schoolnet_core.config import parsers
from schoolnet_core.config.parsers import (
    DEFAULT_TIMEZONE,
    WEEKDAYS,
    Check,
    DateRange,
    TimeRange,
    boolean,
    broker_url,
    env_name,
    file_path,
    integer,
    number,
)
from schoolnet_core.config.secrets import SecretRef
from schoolnet_core.config.walker import (
    KEY_KEYS,
    REQUIRED,
    SECRET_KEYS,
    Invalid,
    Parse,
    Section,
    Walk,
    load_yaml,
)
from schoolnet_core.contract import DEVICE_KINDS
from schoolnet_core.kinds import MeasurementKind, read_kinds

SPEED_TEST_BACKENDS = ("iperf3", "speedtest", "http")
PROBE_METHODS = ("udp_echo", "icmp")
IPERF3_PORT = 5201
EXAMPLE_CONFIG = Path(__file__).with_name("example-config.yaml")


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
        return is_school_day(day, self.school_days, self.holidays, self.extra_school_days)

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
    kinds: tuple[tuple[MeasurementKind, Any], ...] = ()
    """The extra measurement kinds named under `kinds:`, each with its section's settings."""

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
    return load_yaml(path, _read_config, example=EXAMPLE_CONFIG)


# ------------------------------------------------------ speed-test servers


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
    return parsers.url(node.value.strip())


def _speedtest_server(node: yaml.ScalarNode) -> str:
    """A URL only: a speedtest.net server id would make the engine fetch speedtest.net's
    server list, and the test would leave the county's network."""
    text = node.value.strip()
    if text.isdigit() and text.isascii():
        raise Invalid(f"{text!r} is a speedtest.net server id; the agent only tests against the "
                      "county's own server: give its URL, e.g. http://speed.county.example/speedtest/upload.php")
    if text.startswith(("http://", "https://")):
        return parsers.url(text)
    raise Invalid(f"{text!r} must be the http:// or https:// URL of the county's speedtest server")


# ----------------------------------------------------------------- sections

_SECTIONS = ("school", "broker", "spool", "timetable", "broadband", "speed_test", "sweep",
             "classrooms", "sync_classroom", "health", "commands")


def _read_config(walk: Walk, root: yaml.Node) -> AgentConfig:
    extra = read_kinds(walk, root, reserved=_SECTIONS)
    top = walk.mapping(root, "", (*_SECTIONS, "kinds", *(kind.name for kind in extra)))
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
        kinds=tuple((kind, settings) for kind in extra
                    if (settings := top.section(kind.name, kind.read_settings)) is not None),
    )


def _read_school(walk: Walk, node: yaml.Node | None, path: str) -> School:
    m = walk.mapping(node, path, ("id", "name", "county", "rural"))
    return School(
        id=m.value("id", parsers.identifier),
        name=m.value("name", parsers.display_name),
        county=m.value("county", parsers.identifier),
        rural=m.value("rural", boolean),
    )


_BROKER_KEYS = ("url", "ca_file", "cert_file", "key_file", "username", "password_file",
                "password_env", "keepalive_s", "allow_plaintext")


def _read_broker(walk: Walk, node: yaml.Node | None, path: str,
                 school_id: str | None) -> Broker:
    m = walk.mapping(node, path, _BROKER_KEYS, refused=SECRET_KEYS)
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
        username=m.value("username", parsers.display_name, school_id),
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
    holidays = m.values("holidays", parsers.date_range)
    return Timetable(
        timezone=m.value("timezone", parsers.timezone, DEFAULT_TIMEZONE),
        school_days=_weekdays(m.values("school_days", parsers.weekday, WEEKDAYS[:5], min_items=1)),
        lessons=lessons,
        school_hours=m.value("school_hours", _covering(lessons), _around(lessons)),
        holidays=holidays,
        extra_school_days=m.values("extra_school_days", _not_in(holidays)),
    )


def _read_lessons(m: Section) -> tuple[TimeRange, ...]:
    """Lessons in time order; an overlap is nearly always a typo, so it is refused."""
    lessons: list[TimeRange | None] = []
    for node, path in m.items("lessons", required=True, min_items=1):
        lesson = m.walk.scalar(node, path, parsers.time_range)
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
        hours = parsers.time_range(node)
        for lesson in filter(None, lessons):
            if not (hours.start <= lesson.start and lesson.end <= hours.end):
                raise Invalid(f"{str(hours)!r} does not include lesson {str(lesson)!r}; "
                               "school hours must cover every lesson")
        return hours
    return parse


def _not_in(holidays: Sequence[DateRange | None]) -> Parse:
    def parse(node: yaml.ScalarNode) -> DateRange:
        days = parsers.date_range(node)
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
    check = m.value("check", parsers.check("icmp", "tcp", "dns", "http"))
    _check_companions(m, check)
    return Target(
        name=m.value("name", parsers.display_name),
        check=check,
        host=m.value("host", parsers.host, None),
        query=m.value("query", parsers.host, None),
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
    backend = m.value("backend", parsers.choice(*SPEED_TEST_BACKENDS), "speedtest")
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
        wan_interface=m.value("wan_interface", parsers.interface, None),
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
        moment = parsers.clock(node)
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
    m = walk.mapping(node, path, ("key_file", "key_env", "min_gap_s"), refused=KEY_KEYS)
    return Commands(
        key=_secret_ref(m, required=False, name="key"),
        min_gap_s=m.value("min_gap_s", integer(*COMMAND_GAP_LIMITS_S), DEFAULT_COMMAND_GAP_S),
    )


def _read_classroom(walk: Walk, node: yaml.Node | None, path: str) -> Classroom:
    m = walk.mapping(node, path, ("id", "name", "devices"))
    return Classroom(
        id=m.value("id", parsers.identifier),
        name=m.value("name", parsers.display_name),
        devices=m.entries("devices", _read_device, unique="id"),
    )


_DEVICE_KEYS = ("id", "name", "kind", "host", "check", "port", "required", "password_file",
                "password_env")


def _read_device(walk: Walk, node: yaml.Node | None, path: str) -> Device:
    m = walk.mapping(node, path, _DEVICE_KEYS, refused=SECRET_KEYS)
    check = m.value("check", parsers.check("icmp", "tcp", "http", "pjlink"))
    _check_companions(m, check)
    is_pjlink = check is not None and check.method == "pjlink"
    for key in ("password_file", "password_env"):
        m.only_with(key, is_pjlink or check is None, "with check: pjlink")
    port = m.value("port", integer(1, 65535), None)
    device_id = m.value("id", parsers.identifier)
    return Device(
        id=device_id,
        name=m.value("name", parsers.display_name, device_id),
        kind=m.value("kind", parsers.choice(*DEVICE_KINDS)),
        host=m.value("host", parsers.host, None),
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
    in_school = parsers.reference(classrooms, "classroom")
    return SyncClassroom(
        platform=platform,
        probe=m.section("probe", partial(_read_probe, platform=platform)),
        endpoints=m.entries("endpoints", partial(_read_endpoint, in_school=in_school),
                         REQUIRED, min_items=1),
        sessions=m.entries("sessions", partial(_read_session, in_school=in_school), unique="id"),
        thresholds=m.section("thresholds", _read_thresholds),
        bandwidth_check=m.value("bandwidth_check", boolean, False),
    )


def _read_platform(walk: Walk, node: yaml.Node | None, path: str) -> Platform:
    m = walk.mapping(node, path, ("host", "port", "tls"))
    tls = m.value("tls", boolean, True)
    return Platform(
        host=m.value("host", parsers.host),
        port=m.value("port", integer(1, 65535), 443 if tls else 80),
        tls=tls,
    )


def _read_probe(walk: Walk, node: yaml.Node | None, path: str,
                platform: Platform | None) -> Probe:
    """Defaults to pinging the platform, which needs no echo server at the county."""
    m = walk.mapping(node, path, ("method", "host", "port", "count", "interval_ms"))
    method = m.value("method", parsers.choice(*PROBE_METHODS), "icmp")
    m.only_with("port", method != "icmp", "with method: udp_echo")
    return Probe(
        method=method,
        host=m.value("host", parsers.host, platform and platform.host),
        port=m.value("port", integer(1, 65535), 7) if method == "udp_echo" else None,
        count=m.value("count", integer(10, 1000), 50),
        interval_ms=m.value("interval_ms", integer(1, 1000), 20),
    )


def _read_endpoint(walk: Walk, node: yaml.Node | None, path: str,
                   in_school: Parse) -> Endpoint:
    m = walk.mapping(node, path, ("classroom", "host", "check"))
    check = m.value("check", parsers.check("icmp", "tcp", "http"))
    _check_companions(m, check)
    return Endpoint(
        classroom=m.value("classroom", in_school),
        host=m.value("host", parsers.host, None),
        check=check,
    )


_SESSION_KEYS = ("id", "name", "classroom", "days", "start", "end", "remote_school")


def _read_session(walk: Walk, node: yaml.Node | None, path: str,
                  in_school: Parse) -> Session:
    m = walk.mapping(node, path, _SESSION_KEYS)
    session_id = m.value("id", parsers.identifier)
    start, end = m.value("start", parsers.clock), m.value("end", parsers.clock)
    if start and end and start >= end:
        m.problem("end", f"must be after start ({start:%H:%M})")
    return Session(
        id=session_id,
        name=m.value("name", parsers.display_name, session_id),
        classroom=m.value("classroom", in_school),
        days=_weekdays(m.values("days", parsers.weekday, REQUIRED, min_items=1)),
        start=start,
        end=end,
        remote_school=m.value("remote_school", parsers.identifier, None),
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

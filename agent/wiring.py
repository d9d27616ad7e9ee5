"""From the school's config to what each probe is given: pure, no I/O.

The config says things the way a school's IT teacher writes them (`check: "tcp:80"`,
`interval_ms: 20`, a password file); the probes take plain values (an Endpoint, seconds,
the password itself). Everything here is a function of the config, the secrets already
read (cli reads them all at start, so a missing one stops the agent before it runs) and,
for the timetable questions, the time - so the daemon and the `check` command probe the
same things the same way, and every mapping is tested without a network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Callable
from zoneinfo import ZoneInfo

from agent import config as cfg
from agent.config import AgentConfig
from agent.probes import Endpoint, broadband, devices
from agent.probes.speed_test import SpeedTestResult, SpeedTestSettings
from agent.probes.sync_classroom import WEEKDAYS, SyncResult, Thresholds, sync_body
from agent.schedule import Lesson, SpeedTestPlan
from schoolnet_core.config import ConfigError, ConfigProblem, Secret, SecretRef

SESSION_LEAD = timedelta(minutes=15)
"""How long before a synchronous session the agent already names it in its sync report:
the alert rules page county IT when the classroom is not ready within this lead, while
there is still time to fix it or tell the teaching school."""
SPEED_TEST_MARGIN_S = 30
"""Added to a test's two directions for its latency probes and connections, when asking
the schedule whether a test would run into a lesson."""
MIN_COMMAND_KEY_CHARS = 16

Secrets = Mapping[SecretRef, Secret]


@dataclass(frozen=True)
class SyncArguments:
    """check_sync()'s keyword arguments: `check_sync(**vars(arguments))`."""

    platform_host: str
    platform_port: int
    platform_tls: bool
    path_method: str
    path_host: str
    path_port: int | None
    count: int
    interval: float
    endpoints: tuple[tuple[str, Endpoint], ...]
    thresholds: Thresholds
    timeout: float


@dataclass(frozen=True)
class ProbeSetup:
    """Everything the probes are given, read once from the config and the secrets."""

    targets: tuple[broadband.Target, ...]
    broadband_timeout_s: float
    classrooms: tuple[devices.Classroom, ...]
    sweep_timeout_s: float
    sync: SyncArguments | None
    speed_test: SpeedTestSettings | None
    speed_plan: SpeedTestPlan | None
    command_key: bytes | None = field(default=None, repr=False)

    @property
    def pings(self) -> bool:
        """Whether anything is checked by ICMP, so the agent needs permission to ping."""
        endpoints = [target.endpoint for target in self.targets]
        endpoints += [device.endpoint for room in self.classrooms for device in room.devices]
        if self.sync is not None:
            endpoints += [endpoint for _, endpoint in self.sync.endpoints]
            if self.sync.path_method == "icmp":
                return True
        return any(endpoint.method == "icmp" for endpoint in endpoints)


def probe_setup(config: AgentConfig, secrets: Secrets) -> ProbeSetup:
    """The probes' parameters; ConfigError if a secret is missing or unusable."""
    return ProbeSetup(
        targets=broadband_targets(config.broadband),
        broadband_timeout_s=config.broadband.timeout_s,
        classrooms=classrooms(config.classrooms, secrets),
        sweep_timeout_s=config.sweep.timeout_s,
        sync=sync_arguments(config.sync_classroom, config.broadband.timeout_s),
        speed_test=speed_test_settings(config.speed_test),
        speed_plan=speed_test_plan(config.speed_test, config.timetable),
        command_key=command_key(config.commands, secrets),
    )


def endpoint(host: str | None, check: cfg.Check, query: str | None = None,
             password: str | None = None) -> Endpoint:
    """A config check (icmp, tcp:PORT, dns[:PORT], http(s)://URL, pjlink) on `host`."""
    extra = {"query": query} if query else {}
    return Endpoint(method=check.method, host=host or "", port=check.port,
                    url=check.url or "", password=password, **extra)


def broadband_targets(section: cfg.Broadband) -> tuple[broadband.Target, ...]:
    return tuple(
        broadband.Target(target.name, endpoint(target.host, target.check, target.query))
        for target in section.targets
    )


def classrooms(rooms: Sequence[cfg.Classroom], secrets: Secrets) -> tuple[devices.Classroom, ...]:
    return tuple(
        devices.Classroom(room.id, room.name, tuple(_device(device, secrets) for device in room.devices))
        for room in rooms
    )


def _device(device: cfg.Device, secrets: Secrets) -> devices.Device:
    password = _secret(device.password, secrets)
    return devices.Device(
        device=device.id,
        name=device.name,
        kind=device.kind,
        endpoint=endpoint(device.host, device.check, password=password),
        required=device.required,
    )


def _secret(ref: SecretRef | None, secrets: Secrets) -> str | None:
    if ref is None:
        return None
    if ref not in secrets:
        raise ConfigError([ConfigProblem(ref.config_file, ref.line, ref.key_path,
                                         "this secret was not read; a bug in the agent")])
    return secrets[ref].reveal()


def sync_arguments(sync: cfg.SyncClassroom | None, timeout_s: float) -> SyncArguments | None:
    """None when the school has no synchronous classroom. The timeout is the broadband
    one: the platform and the path are beyond the same uplink."""
    if sync is None:
        return None
    return SyncArguments(
        platform_host=sync.platform.host,
        platform_port=sync.platform.port,
        platform_tls=sync.platform.tls,
        path_method=sync.probe.method,
        path_host=sync.probe.host,
        path_port=sync.probe.port,
        count=sync.probe.count,
        interval=sync.probe.interval_ms / 1000,
        endpoints=tuple((point.classroom, endpoint(point.host, point.check)) for point in sync.endpoints),
        thresholds=sync_thresholds(sync.thresholds),
        timeout=timeout_s,
    )


def sync_thresholds(limits: cfg.Thresholds) -> Thresholds:
    """The probe's limits for a live lesson. bandwidth_mbps is not one of them: the
    probe does not load the uplink; sync_bandwidth() reads the latest speed test instead."""
    return Thresholds(limits.rtt_ms, limits.jitter_ms, limits.loss_pct, limits.mos_min)


def speed_test_settings(section: cfg.SpeedTest) -> SpeedTestSettings | None:
    """None when no server is configured (allowed for backend speedtest, but the agent
    never lets speedtest.net pick a server: the test would leave the county's network)."""
    if section.server is None:
        return None
    return SpeedTestSettings(
        backend=section.backend,
        server=section.server,
        duration_s=section.duration_s,
        streams=section.streams,
        wan_interface=section.wan_interface,
    )


def speed_test_plan(section: cfg.SpeedTest, timetable: cfg.Timetable) -> SpeedTestPlan | None:
    """None when neither times nor interval_min ask for scheduled tests."""
    interval = timedelta(minutes=section.interval_min) if section.interval_min else None
    if not section.times and interval is None:
        return None
    return SpeedTestPlan(
        times=section.times,
        interval=interval,
        timezone=timetable.timezone,
        lessons=tuple(Lesson(lesson.start, lesson.end) for lesson in timetable.lessons),
        school_day=timetable.is_school_day,
        during_lessons=section.during_lessons,
        stagger_window=timedelta(minutes=section.stagger_window_min),
        test_length=timedelta(seconds=2 * section.duration_s + SPEED_TEST_MARGIN_S),
    )


def command_key(section: cfg.Commands, secrets: Secrets) -> bytes | None:
    """The HMAC key for county IT's commands; a short key is refused, since it could be
    guessed from one command seen on the wire."""
    text = _secret(section.key, secrets)
    if text is None:
        return None
    if len(text) < MIN_COMMAND_KEY_CHARS:
        ref = section.key
        raise ConfigError([ConfigProblem(
            ref.config_file, ref.line, ref.key_path,
            f"the key has {len(text)} characters; use at least {MIN_COMMAND_KEY_CHARS} "
            "random ones, e.g. from `openssl rand -hex 32`")])
    return text.encode()


# --- which synchronous session to report ----------------------------------------------------


@dataclass(frozen=True)
class SessionWindow:
    """The sync report's session fields: `session` names the session on now or starting
    within SESSION_LEAD (None: neither); `active` is true only while it is on."""

    session: str | None
    active: bool


NO_SESSION = SessionWindow(None, False)


def session_window(
    sessions: Sequence[cfg.Session],
    now: datetime,
    timezone_name: str,
    school_day: Callable[[date], bool],
    lead: timedelta = SESSION_LEAD,
) -> SessionWindow:
    """The session on at `now` (start inside, end outside), else the first one starting
    within `lead` after `now`, on a school day, in the timetable's local time.

    The alert rules treat a report naming a session as "a session is on or about to
    start" and count ready minutes only while `active`: so a classroom not ready 15
    minutes before its lesson pages county IT before the lesson, not during it."""
    if now.utcoffset() is None:
        raise ValueError("pass an aware datetime, e.g. datetime.now(timezone.utc)")
    zone = ZoneInfo(timezone_name)
    now_utc = now.astimezone(timezone.utc)
    on, upcoming = None, []
    for session, start, end in _occurrences(sessions, now_utc, zone, school_day, lead):
        if start <= now_utc < end:
            on = on or session
        elif now_utc < start <= now_utc + lead:
            upcoming.append((start, session.id))
    if on is not None:
        return SessionWindow(on.id, True)
    return SessionWindow(min(upcoming)[1], False) if upcoming else NO_SESSION


def _occurrences(sessions, now_utc: datetime, zone: ZoneInfo, school_day, lead: timedelta):
    """(session, start, end) in UTC on the local days of `now` and of `now + lead`, so a
    session just after midnight is seen coming from the evening before."""
    days = sorted({(now_utc + shift).astimezone(zone).date() for shift in (timedelta(0), lead)})
    for day in days:
        if not school_day(day):
            continue
        for session in sessions:
            if WEEKDAYS[day.weekday()] in session.days:
                start = datetime.combine(day, session.start, tzinfo=zone).astimezone(timezone.utc)
                end = datetime.combine(day, session.end, tzinfo=zone).astimezone(timezone.utc)
                yield session, start, end


BANDWIDTH_EVIDENCE_MAX_AGE = timedelta(hours=26)
"""A speed test older than this says nothing about today's bandwidth: tests run daily."""


@dataclass(frozen=True)
class Bandwidth:
    """What the sync classroom can count on: the slower direction of the latest good speed
    test (a live lesson sends and receives video), against the config's bandwidth_mbps."""

    mbps: float
    needed_mbps: float

    @property
    def enough(self) -> bool:
        return self.mbps >= self.needed_mbps


def sync_bandwidth(latest: SpeedTestResult | None, measured_at: datetime | None, now: datetime,
                   needed_mbps: float) -> Bandwidth | None:
    """None when there is no recent successful test with both directions: unknown is
    reported as unknown, not as too little."""
    if latest is None or measured_at is None or not latest.ok:
        return None
    if latest.download_mbps is None or latest.upload_mbps is None:
        return None
    if not timedelta(0) <= now - measured_at <= BANDWIDTH_EVIDENCE_MAX_AGE:
        return None
    return Bandwidth(min(latest.download_mbps, latest.upload_mbps), needed_mbps)


def sync_report(result: SyncResult, rural: bool, window: SessionWindow,
                bandwidth: Bandwidth | None = None) -> dict:
    """The contract's sync body with the session fields of `window` (sync_body() alone
    would mark an upcoming session active) and, with bandwidth_check, the bandwidth:
    too little of it makes the classroom not ready, however good the path."""
    body = sync_body(result, rural, window.session)
    body["session_active"] = window.active
    if bandwidth is not None:
        body["bandwidth_mbps"] = round(bandwidth.mbps, 2)
        body["ready"] = body["ready"] and bandwidth.enough
    return body

"""Synchronous classroom: could this school take part in a live two-way lesson now?

Ready when the county's platform accepts connections, every classroom endpoint answers
and the path meets the thresholds (round trip, jitter, loss, MOS; see quality.py). Which
scheduled session is on (session_now) is reported beside it, so the county can count
ready minutes against scheduled session minutes.

Path quality comes from a burst of echoes: UDP datagrams to the county's echo service,
or ICMP echoes to the platform where there is none. Each UDP datagram carries a random
burst token, its sequence number and its send time, so a reply is read without keeping
state per datagram, stray or duplicated ones are ignored, and it is 172 bytes, one
20 ms G.711 voice packet with its RTP header.
"""

from __future__ import annotations

import asyncio
import secrets
import ssl
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import time as clock
from zoneinfo import ZoneInfo

from agent.probes import Endpoint, Reply, check
from agent.probes.http import tls_context
from agent.probes.icmp import pinger_if, pinging
from agent.probes.quality import PathQuality, path_quality
from agent.probes.tcp import elapsed_ms, failure, open_socket

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PATH_METHODS = ("udp_echo", "icmp")
ECHO_SIZE = 172
_ECHO = struct.Struct("!4sIIQ")  # magic, burst token, sequence, send time (ns)
_MAGIC = b"SNE1"


@dataclass(frozen=True)
class Thresholds:
    """Limits for a live lesson; defaults as in the agent's config: ITU-T G.114's 150 ms
    one-way budget taken for the round trip, the 30 ms jitter and 1 % loss usual for
    video calls, and MOS 3.6 (R 70), below which G.107 Annex B expects many users to be
    dissatisfied."""

    rtt_ms: float = 150.0
    jitter_ms: float = 30.0
    loss_pct: float = 1.0
    mos_min: float = 3.6


DEFAULT_THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class Session:
    """A weekly session: `days` are mon..sun, times are the school's local wall clock.
    The config's sessions have the same attributes and can be passed as they are."""

    id: str
    days: tuple[str, ...]
    start: clock
    end: clock

    def __post_init__(self) -> None:
        unknown = sorted(set(self.days) - set(WEEKDAYS))
        if unknown:
            weekdays = ", ".join(WEEKDAYS)
            raise ValueError(f"session {self.id}: days {unknown} are not among {weekdays}")
        if self.start >= self.end:
            raise ValueError(
                f"session {self.id}: end {self.end:%H:%M} must be after start {self.start:%H:%M}"
            )


def session_now(
    sessions: Sequence[Session], now: datetime, timezone: str, school_day: bool = True
) -> Session | None:
    """The session on at `now` (start inside, end outside), or None.

    `timezone` is the timetable's (e.g. Asia/Shanghai), since sessions are local wall
    times; pass school_day=False on holidays (config Timetable.is_school_day), when no
    session is held."""
    if now.utcoffset() is None:
        raise ValueError("pass an aware datetime, e.g. datetime.now(timezone.utc)")
    if not school_day:
        return None
    local = now.astimezone(ZoneInfo(timezone))
    day, moment = WEEKDAYS[local.weekday()], local.time()
    return next((s for s in sessions if day in s.days and s.start <= moment < s.end), None)


# --- the county's platform -----------------------------------------------------------


@dataclass(frozen=True)
class PlatformResult:
    status: str
    connect_ms: float | None = None
    tls_ms: float | None = None
    detail: str = ""

    @property
    def up(self) -> bool:
        return self.status == "ok"


async def check_platform(
    host: str, port: int, timeout: float, tls: bool = False, ca_file: str | None = None
) -> PlatformResult:
    """TCP connect time and, with tls, the TLS handshake time (certificate verified).
    OSError for a CA file that cannot be read: a config mistake, not a platform fault."""
    where = f"platform {host}:{port}"
    context = tls_context(ca_file) if tls else None
    try:
        connect_ms, tls_ms = await asyncio.wait_for(_handshakes(host, port, context), timeout)
    except (OSError, asyncio.TimeoutError) as error:
        status, detail = failure(error, where, timeout)
        return PlatformResult(status, detail=detail)
    detail = f"{where}: connected in {connect_ms:.1f} ms"
    if tls_ms is not None:
        detail += f", TLS in {tls_ms:.1f} ms"
    return PlatformResult("ok", connect_ms, tls_ms, detail)


async def _handshakes(
    host: str, port: int, context: ssl.SSLContext | None
) -> tuple[float, float | None]:
    """(TCP connect ms, TLS handshake ms or None without TLS)."""
    sock, connect_ms = await open_socket(host, port)
    if context is None:
        sock.close()
        return connect_ms, None
    started = time.perf_counter()
    _, writer = await asyncio.open_connection(sock=sock, ssl=context, server_hostname=host)
    tls_ms = elapsed_ms(started)
    writer.close()
    return connect_ms, tls_ms


# --- echo bursts ----------------------------------------------------------------------


@dataclass(frozen=True)
class EchoBurst:
    """`sent` echoes; rtts_ms of the replies in arrival order; status as a check's."""

    sent: int
    rtts_ms: tuple[float, ...]
    status: str
    detail: str = ""


def echo_datagram(token: int, sequence: int, sent_ns: int, size: int = ECHO_SIZE) -> bytes:
    return _ECHO.pack(_MAGIC, token, sequence, sent_ns).ljust(size, b"\0")


def read_echo(data: bytes, token: int) -> tuple[int, int] | None:
    """(sequence, send time in ns) of a reply to our burst `token`, else None."""
    if len(data) < _ECHO.size:
        return None
    magic, burst, sequence, sent_ns = _ECHO.unpack_from(data)
    return (sequence, sent_ns) if magic == _MAGIC and burst == token else None


async def udp_echo(
    host: str, port: int, count: int, interval: float, timeout: float, size: int = ECHO_SIZE
) -> EchoBurst:
    """Sends `count` datagrams `interval` s apart and waits up to `timeout` s after the
    last for the echoes; one arriving later counts as lost."""
    if count < 1 or size < _ECHO.size:
        raise ValueError(f"need count >= 1 and size >= {_ECHO.size}, got {count} and {size}")
    where = f"udp echo {host}:{port}"
    loop = asyncio.get_running_loop()
    try:
        transport, client = await loop.create_datagram_endpoint(
            lambda: _EchoClient(secrets.randbits(32), count), remote_addr=(host, port)
        )
    except OSError as error:
        status, detail = failure(error, where, timeout)
        return EchoBurst(count, (), status, detail)
    try:
        await _send_burst(transport, client, count, interval, size)
        await client.wait_all(timeout)
    finally:
        transport.close()
    return client.result(where, timeout)


async def _send_burst(
    transport: asyncio.DatagramTransport,
    client: _EchoClient,
    count: int,
    interval: float,
    size: int,
) -> None:
    """Sends on a fixed schedule (start + n * interval), so a slow wake-up is not carried
    into every later send time."""
    start = time.perf_counter()
    for sequence in range(count):
        transport.sendto(echo_datagram(client.token, sequence, time.perf_counter_ns(), size))
        await asyncio.sleep(max(0.0, start + (sequence + 1) * interval - time.perf_counter()))


class _EchoClient(asyncio.DatagramProtocol):
    def __init__(self, token: int, count: int) -> None:
        self.token, self.count = token, count
        self.rtts_ms: list[float] = []
        self.seen: set[int] = set()
        self.refused = False
        self.all_back = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr) -> None:
        received_ns = time.perf_counter_ns()
        echo = read_echo(data, self.token)
        if echo is None or echo[0] in self.seen or echo[0] >= self.count:
            return
        self.seen.add(echo[0])
        self.rtts_ms.append(round((received_ns - echo[1]) / 1e6, 3))
        if len(self.seen) == self.count and not self.all_back.done():
            self.all_back.set_result(None)

    def error_received(self, exc: Exception) -> None:
        self.refused = self.refused or isinstance(exc, ConnectionRefusedError)

    async def wait_all(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(self.all_back), timeout)
        except asyncio.TimeoutError:
            pass  # the missing echoes are lost

    def result(self, where: str, timeout: float) -> EchoBurst:
        back = len(self.rtts_ms)
        detail = f"{where}: {back}/{self.count} echoes back within {timeout:g} s of the last"
        if back:
            return EchoBurst(self.count, tuple(self.rtts_ms), "ok", detail)
        if self.refused:
            detail = f"{where}: port unreachable (no echo service there)"
        return EchoBurst(self.count, (), "refused" if self.refused else "timeout", detail)


async def echo_burst(
    method: str, host: str, port: int | None, count: int, interval: float, timeout: float
) -> EchoBurst:
    """A burst by `method`: udp_echo to host:port, or icmp to host."""
    if method == "udp_echo":
        if port is None:
            raise ValueError("udp_echo needs the echo service's port")
        return await udp_echo(host, port, count, interval, timeout)
    if method != "icmp":
        raise ValueError(f"path method {method!r} is not one of {', '.join(PATH_METHODS)}")
    async with pinging() as pinger:
        result = await pinger.ping(host, count, timeout, interval)
    return EchoBurst(result.sent, result.rtts_ms, result.status, result.detail)


# --- readiness ----------------------------------------------------------------------------


@dataclass(frozen=True)
class EndpointResult:
    classroom: str
    reply: Reply

    @property
    def up(self) -> bool:
        return self.reply.up


@dataclass(frozen=True)
class SyncResult:
    """problems: why not ready, in English (empty when ready)."""

    platform: PlatformResult
    path: PathQuality
    path_detail: str
    endpoints: tuple[EndpointResult, ...]
    problems: tuple[str, ...]

    @property
    def ready(self) -> bool:
        return not self.problems


def assess(
    platform: PlatformResult,
    path: PathQuality,
    endpoints: Sequence[EndpointResult],
    limits: Thresholds,
) -> tuple[str, ...]:
    """Every reason the school is not ready for a live lesson (none: ready)."""
    problems = [] if platform.up else [f"platform {platform.status}: {platform.detail}"]
    for endpoint in endpoints:
        if not endpoint.up:
            room, reply = endpoint.classroom, endpoint.reply
            problems.append(f"classroom {room} endpoint {reply.status}: {reply.detail}")
    if path.rtt_ms is None:
        return (*problems, "no echo came back: the path quality is unknown")
    return (*problems, *_beyond_limits(path, limits))


def _beyond_limits(path: PathQuality, limits: Thresholds) -> list[str]:
    too_high = (
        ("round trip", path.rtt_ms, limits.rtt_ms, "ms"),
        ("jitter", path.jitter_ms, limits.jitter_ms, "ms"),
        ("loss", path.loss_pct, limits.loss_pct, "%"),
    )
    problems = [
        f"{name} {value:g}{unit} is above the limit {limit:g}{unit}"
        for name, value, limit, unit in too_high
        if value is not None and value > limit
    ]
    if path.mos < limits.mos_min:
        problems.append(f"MOS {path.mos:g} is below the limit {limits.mos_min:g}")
    return problems


async def check_sync(
    *,
    platform_host: str,
    platform_port: int,
    platform_tls: bool = False,
    path_method: str = "icmp",
    path_host: str,
    path_port: int | None = None,
    count: int = 50,
    interval: float = 0.02,
    endpoints: Sequence[tuple[str, Endpoint]] = (),
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    timeout: float = 2.0,
    ca_file: str | None = None,
) -> SyncResult:
    """Platform and endpoints first (at once), then the echo burst on its own, so the
    other checks' traffic and callbacks do not disturb its timing."""
    uses_icmp = any(endpoint.method == "icmp" for _, endpoint in endpoints)
    async with pinger_if(uses_icmp) as pinger:
        platform, *replies = await asyncio.gather(
            check_platform(platform_host, platform_port, timeout, platform_tls, ca_file),
            *(check(endpoint, timeout, pinger, tries=3) for _, endpoint in endpoints),
        )
    results = tuple(EndpointResult(room, reply) for (room, _), reply in zip(endpoints, replies))
    burst = await echo_burst(path_method, path_host, path_port, count, interval, timeout)
    path = path_quality(burst.sent, burst.rtts_ms)
    problems = assess(platform, path, results, thresholds)
    return SyncResult(platform, path, burst.detail, results, problems)


def sync_body(result: SyncResult, rural: bool, session: str | None) -> dict:
    """The contract's "sync" body; `session` is the id of the session on (session_now)."""
    path = result.path
    body = {
        "rural": rural,
        "session": session,
        "session_active": session is not None,
        "ready": result.ready,
        "platform_up": result.platform.up,
        "platform_connect_ms": result.platform.connect_ms,
        "platform_tls_ms": result.platform.tls_ms,
        "rtt_ms": path.rtt_ms,
        "jitter_ms": path.jitter_ms,
        "loss_pct": path.loss_pct,
        "r_factor": path.r_factor,
        "mos": path.mos,
        "endpoints_up": sum(endpoint.up for endpoint in result.endpoints),
        "endpoints_total": len(result.endpoints),
        "endpoints": [_endpoint_item(endpoint) for endpoint in result.endpoints],
    }
    return {key: value for key, value in body.items() if value is not None}


def _endpoint_item(result: EndpointResult) -> dict:
    item = {"classroom": result.classroom, "up": result.up, "rtt_ms": result.reply.rtt_ms}
    return {key: value for key, value in item.items() if value is not None}

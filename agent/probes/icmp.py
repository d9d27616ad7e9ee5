"""ICMP echo (ping) without the ping binary: one socket shared by every target at once.

Why our own: a sweep pings hundreds of classroom devices concurrently; a process per
device would cost more than the devices' answers, and we want numbers, not ping's text.

The socket, in the order mode="auto" tries them (IPv4 only):
  dgram  SOCK_DGRAM + IPPROTO_ICMP, Linux's unprivileged "ping socket". Allowed when the
         agent's group is inside sysctl net.ipv4.ping_group_range (Debian's default
         "1 0" allows nobody). The kernel sets the identifier and the checksum and gives
         the socket only the replies to its own requests, without the IP header.
  raw    SOCK_RAW, needs root or CAP_NET_RAW. It sees every ICMP packet the host
         receives (IP header included), so replies are matched on our identifier and on
         a random token in the payload.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import struct
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from agent.probes.tcp import elapsed_ms

MODES = ("auto", "dgram", "raw")
ECHO_REQUEST, ECHO_REPLY = 8, 0
_HEADER = struct.Struct("!BBHHH")  # type, code, checksum, identifier, sequence
_TOKEN_BYTES = 8
_PAYLOAD_BYTES = 56  # what ping sends: 64-byte ICMP packets
RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class PingResult:
    """One burst of echo requests to one host. rtts_ms: the replies in arrival order."""

    host: str
    sent: int
    rtts_ms: tuple[float, ...]
    status: str
    detail: str = ""

    @property
    def up(self) -> bool:
        return self.status == "ok"

    @property
    def rtt_ms(self) -> float | None:
        """Mean round trip of the replies, as ping's "avg"."""
        return round(sum(self.rtts_ms) / len(self.rtts_ms), 3) if self.rtts_ms else None

    @property
    def loss_pct(self) -> float:
        return round(100 * (self.sent - len(self.rtts_ms)) / self.sent, 3) if self.sent else 100.0


@dataclass(frozen=True, order=True)
class _Arrival:
    """When an echo reply arrived (time.perf_counter()) and its round trip."""

    arrived: float
    rtt_ms: float


@dataclass(frozen=True)
class Echo:
    """An echo reply (or request) as read off the wire."""

    kind: int
    identifier: int
    sequence: int
    payload: bytes


# --- packets (pure) ------------------------------------------------------------------


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071): one's complement of the one's complement sum."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo_request(identifier: int, sequence: int, payload: bytes) -> bytes:
    unsummed = _HEADER.pack(ECHO_REQUEST, 0, 0, identifier, sequence) + payload
    return _HEADER.pack(ECHO_REQUEST, 0, checksum(unsummed), identifier, sequence) + payload


def parse_echo(packet: bytes, with_ip_header: bool) -> Echo | None:
    """The echo message in `packet`, or None for anything else (errors, short packets,
    other ICMP types). Raw sockets deliver the IP header first; ping sockets do not."""
    if with_ip_header:
        if len(packet) < 20 or packet[0] >> 4 != 4:
            return None
        packet = packet[(packet[0] & 0x0F) * 4 :]
    if len(packet) < _HEADER.size:
        return None
    kind, code, _, identifier, sequence = _HEADER.unpack_from(packet)
    if kind not in (ECHO_REQUEST, ECHO_REPLY) or code != 0:
        return None
    return Echo(kind, identifier, sequence, packet[_HEADER.size :])


# --- the socket ------------------------------------------------------------------------


def open_icmp_socket(mode: str = "auto") -> tuple[socket.socket, str]:
    """An ICMP socket and its kind ("dgram" or "raw"); PermissionError says how to allow one."""
    if mode not in MODES:
        raise ValueError(f"ICMP mode must be one of {', '.join(MODES)}, got {mode!r}")
    refusals = []
    for kind, sock_type in (("dgram", socket.SOCK_DGRAM), ("raw", socket.SOCK_RAW)):
        if mode not in ("auto", kind):
            continue
        try:
            return socket.socket(socket.AF_INET, sock_type, socket.IPPROTO_ICMP), kind
        except PermissionError as error:
            refusals.append(f"{kind}: {error.strerror}")
    raise PermissionError(
        f"cannot open an ICMP socket ({'; '.join(refusals)}). Run the agent as root or with "
        f"CAP_NET_RAW, or allow ping sockets for its group {os.getgid()}: "
        f"sysctl -w net.ipv4.ping_group_range='0 2147483647'"
    )


class Pinger:
    """Pings many hosts concurrently through one ICMP socket; open it with pinging():

        async with pinging() as pinger:
            results = await asyncio.gather(*(pinger.ping(h) for h in hosts))
    """

    def __init__(self, mode: str = "auto") -> None:
        self.mode = mode
        self.kind = ""
        self._sock: socket.socket | None = None
        self._identifier = secrets.randbelow(0x10000)
        self._token = secrets.token_bytes(_TOKEN_BYTES)
        self._sequence = secrets.randbelow(0x10000)
        self._waiting: dict[tuple[str, int], tuple[float, asyncio.Future]] = {}

    def open(self) -> None:
        """Opens the socket in the running loop; raises PermissionError (see open_icmp_socket)."""
        self._sock, self.kind = open_icmp_socket(self.mode)
        self._sock.setblocking(False)
        _enlarge_receive_buffer(self._sock)
        asyncio.get_running_loop().add_reader(self._sock.fileno(), self._read_replies)

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            asyncio.get_running_loop().remove_reader(sock.fileno())
            sock.close()

    async def ping(
        self, host: str, count: int = 3, timeout: float = 1.0, interval: float = 0.2
    ) -> PingResult:
        """`count` echo requests `interval` s apart, each awaited at most `timeout` s."""
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        address = await _ipv4_address(host)
        if address is None:
            return PingResult(host, 0, (), "down", f"{host}: cannot resolve to an IPv4 address")
        replies = await asyncio.gather(
            *(self._echo(address, index * interval, timeout) for index in range(count))
        )
        return _burst_result(host, count, replies, timeout)

    async def _echo(self, address: str, delay: float, timeout: float) -> _Arrival | str | None:
        """The reply's arrival, None when lost, or the send error's text."""
        await asyncio.sleep(delay)
        if self._sock is None:
            raise RuntimeError("the Pinger is closed; use it inside `async with pinging()`")
        key = self._next_key(address)
        future = asyncio.get_running_loop().create_future()
        self._waiting[key] = (time.perf_counter(), future)
        try:
            self._sock.sendto(self._request(key[1]), (address, 0))
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            return None
        except OSError as error:
            return error.strerror or str(error)
        finally:
            self._waiting.pop(key, None)

    def _next_key(self, address: str) -> tuple[str, int]:
        """The next sequence number not already waiting for a reply from `address`."""
        while True:
            self._sequence = (self._sequence + 1) & 0xFFFF
            if (address, self._sequence) not in self._waiting:
                return address, self._sequence

    def _request(self, sequence: int) -> bytes:
        payload = self._token + bytes(_PAYLOAD_BYTES - _TOKEN_BYTES)
        return echo_request(self._identifier, sequence, payload)

    def _read_replies(self) -> None:
        """Reads every packet waiting on the socket and settles the matching echoes."""
        while self._sock is not None:
            try:
                packet, (source, _) = self._sock.recvfrom(65535)
            except OSError:  # none left, or an ICMP error reported once on a ping socket;
                return  # the reader is level-triggered: it is called again for what remains
            self._settle(source, packet)

    def _settle(self, source: str, packet: bytes) -> None:
        echo = parse_echo(packet, with_ip_header=self.kind == "raw")
        if echo is None or echo.kind != ECHO_REPLY or not echo.payload.startswith(self._token):
            return
        if self.kind == "raw" and echo.identifier != self._identifier:
            return  # the kernel rewrites identifiers on ping sockets, so check raw ones only
        started, future = self._waiting.get((source, echo.sequence), (0.0, None))
        if future is not None and not future.done():
            future.set_result(_Arrival(time.perf_counter(), elapsed_ms(started)))


def _enlarge_receive_buffer(sock: socket.socket) -> None:
    """Room for a sweep's replies arriving at once (and, on a raw socket, every other
    ICMP packet the host receives meanwhile): the default ~200 KiB holds only about 300
    packets, and the kernel drops the rest silently, which reads as devices down."""
    for option in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, RECEIVE_BUFFER_BYTES)
            return
        except (OSError, TypeError):  # FORCE needs CAP_NET_ADMIN; plain is capped by rmem_max
            continue


@contextlib.asynccontextmanager
async def pinging(mode: str = "auto") -> AsyncIterator[Pinger]:
    """An open Pinger, closed on leaving; PermissionError as open_icmp_socket."""
    pinger = Pinger(mode)
    pinger.open()
    try:
        yield pinger
    finally:
        pinger.close()


@contextlib.asynccontextmanager
async def pinger_if(needed: bool) -> AsyncIterator[Pinger | None]:
    """A Pinger when something will be pinged, else None: no ICMP socket is opened, so
    no permission is needed, when a school checks nothing by icmp."""
    if not needed:
        yield None
        return
    async with pinging() as pinger:
        yield pinger


async def ping(
    host: str, count: int = 3, timeout: float = 1.0, interval: float = 0.2, mode: str = "auto"
) -> PingResult:
    """One burst to one host through a socket of its own (use pinging() for many hosts)."""
    async with pinging(mode) as pinger:
        return await pinger.ping(host, count, timeout, interval)


async def _ipv4_address(host: str) -> str | None:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None, family=socket.AF_INET, type=socket.SOCK_RAW)
    except socket.gaierror:
        return None
    return infos[0][4][0]


def _burst_result(host: str, sent: int, replies: list, timeout: float) -> PingResult:
    arrived = sorted(reply for reply in replies if isinstance(reply, _Arrival))
    errors = sorted({reply for reply in replies if isinstance(reply, str)})
    if arrived:
        status = "ok"
    else:
        status = "down" if errors else "timeout"
    detail = f"{host}: {len(arrived)}/{sent} echo replies within {timeout:g} s"
    if errors:
        detail += f"; sending failed: {', '.join(errors)}"
    return PingResult(host, sent, tuple(reply.rtt_ms for reply in arrived), status, detail)

"""TCP connect: is something listening on host:port?

The cheapest proof that a device and one of its services are alive. The http, pjlink and
sync-classroom probes open their connections here too, so every probe reads a failed
socket the same way (`failure`) and reports the same status for the same fault.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
import time
from dataclasses import dataclass

_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN}


@dataclass(frozen=True)
class ConnectResult:
    """status is one of contract.PROBE_STATUSES; rtt_ms is the TCP handshake time."""

    status: str
    rtt_ms: float | None = None
    detail: str = ""

    @property
    def up(self) -> bool:
        return self.status == "ok"


async def connect(host: str, port: int, timeout: float) -> ConnectResult:
    """Opens one connection and closes it at once, sending no data."""
    try:
        sock, connect_ms = await asyncio.wait_for(open_socket(host, port), timeout)
    except (OSError, asyncio.TimeoutError) as error:
        status, detail = failure(error, f"{host}:{port}", timeout)
        return ConnectResult(status, detail=detail)
    sock.close()
    return ConnectResult("ok", connect_ms, f"{host}:{port}: connected in {connect_ms:.1f} ms")


async def open_socket(host: str, port: int) -> tuple[socket.socket, float]:
    """A connected non-blocking socket and the handshake time in ms (name lookup excluded).

    Raises OSError; the caller bounds the time (asyncio.wait_for)."""
    loop = asyncio.get_running_loop()
    family, kind, proto, _, address = (
        await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setblocking(False)
        started = time.perf_counter()
        await loop.sock_connect(sock, address)
        return sock, elapsed_ms(started)
    except BaseException:  # includes the cancellation by a timeout: never leak the socket
        sock.close()
        raise


def failure(error: BaseException, where: str, timeout: float) -> tuple[str, str]:
    """(status, detail) for a failed exchange with `where`, worded for a county engineer."""
    if isinstance(error, asyncio.TimeoutError):
        return "timeout", f"{where}: no answer within {timeout:g} s"
    if isinstance(error, ConnectionRefusedError):
        return "refused", f"{where}: connection refused (nothing listening on that port)"
    if isinstance(error, ssl.SSLCertVerificationError):
        return "bad_reply", f"{where}: TLS certificate not trusted ({error.verify_message})"
    if isinstance(error, ssl.SSLError):
        return "bad_reply", f"{where}: TLS handshake failed ({error.reason or error})"
    if isinstance(error, socket.gaierror):
        return "down", f"{where}: cannot resolve the host name ({error.strerror})"
    if isinstance(error, OSError) and error.errno in _UNREACHABLE:
        return "down", f"{where}: {error.strerror} (no route: cable, switch or address?)"
    if isinstance(error, OSError):
        return "down", f"{where}: {error.strerror or error}"
    raise error  # not a network failure: a bug, let it be seen


def elapsed_ms(started: float) -> float:
    """Milliseconds since `started` (a time.perf_counter() value), rounded to 0.001 ms."""
    return round((time.perf_counter() - started) * 1000, 3)

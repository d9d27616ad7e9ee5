"""HTTP(S) GET: does a web endpoint answer?

One request on asyncio streams, reading only the status line: enough to know the server
answers, and cheap for a panel's web page or a platform's health URL. TLS certificates
are verified (system CAs, or `ca_file` for a county's own CA); redirects are not
followed, since any answer already proves the path.

Up means a status below 500. A 4xx still proves the path and the server work (a panel's
web page that wants a login answers 401). A 5xx reads as http_error: the service is
broken, or a proxy on the way says it could not reach it.
"""

from __future__ import annotations

import asyncio
import functools
import re
import ssl
import time
from dataclasses import dataclass
from urllib.parse import SplitResult, quote, urlsplit

from agent import __version__
from agent.probes.tcp import elapsed_ms, failure, open_socket

_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([1-5][0-9][0-9])(?: |\r?\n|$)")
_MAX_LINE = 8192
_SAFE = "/?&=%:@!$'()*+,;~"  # already meaningful in a URL: left as written


@dataclass(frozen=True)
class HttpResult:
    """status is one of contract.PROBE_STATUSES; rtt_ms runs from connecting to the
    status line (TCP, TLS and the server's first byte), what a browser waits for."""

    status: str
    rtt_ms: float | None = None
    http_status: int | None = None
    detail: str = ""

    @property
    def up(self) -> bool:
        return self.status == "ok"


def check_url(url: str) -> SplitResult:
    """The parts of an http(s) URL; ValueError with the reason when it is not one."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{url!r} must start with http:// or https://")
    if not parts.hostname:
        raise ValueError(f"{url!r} has no host")
    if parts.username or parts.password:
        raise ValueError("put no user name or password in a probe URL: it would end up in logs")
    if parts.port == 0:  # reading .port also raises ValueError for one out of range
        raise ValueError(f"{url!r}: port 0 is not a port")
    return parts


def port(parts: SplitResult) -> int:
    return parts.port or (443 if parts.scheme == "https" else 80)


def where(parts: SplitResult) -> str:
    """The URL for messages: scheme, host and path only, never the query string."""
    return f"{parts.scheme}://{parts.netloc}{parts.path or '/'}"


def request(parts: SplitResult) -> bytes:
    target = quote(parts.path or "/", safe=_SAFE)
    if parts.query:
        target += "?" + quote(parts.query, safe=_SAFE)
    host = parts.hostname.encode("idna").decode("ascii")
    if ":" in host:
        host = f"[{host}]"  # IPv6
    if parts.port:
        host += f":{parts.port}"
    lines = (
        f"GET {target} HTTP/1.1",
        f"Host: {host}",
        f"User-Agent: schoolnet-agent/{__version__}",
        "Accept: */*",
        "Connection: close",
    )
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def read_status(line: bytes) -> int:
    """The status code of an HTTP/1.x status line; ValueError when it is not one."""
    match = _STATUS_LINE.match(line)
    if not match:
        raise ValueError(f"not an HTTP status line: {line[:60]!r}")
    return int(match.group(1))


async def get(url: str, timeout: float, ca_file: str | None = None) -> HttpResult:
    """One GET of `url`. ValueError for a URL that is not http(s), OSError for a CA file
    that cannot be read: mistakes in the config, not faults of the device."""
    parts = check_url(url)
    tls = tls_context(ca_file) if parts.scheme == "https" else None
    try:
        return await asyncio.wait_for(_exchange(parts, tls), timeout)
    except (OSError, asyncio.TimeoutError) as error:
        status, detail = failure(error, where(parts), timeout)
        return HttpResult(status, detail=detail)


async def _exchange(parts: SplitResult, tls: ssl.SSLContext | None) -> HttpResult:
    started = time.perf_counter()
    sock, _ = await open_socket(parts.hostname, port(parts))
    reader, writer = await asyncio.open_connection(
        sock=sock, ssl=tls, server_hostname=parts.hostname if tls else None, limit=_MAX_LINE
    )
    try:
        writer.write(request(parts))
        await writer.drain()
        line = await reader.readline()
        rtt_ms = elapsed_ms(started)
    except ValueError:  # the line overran the limit
        line, rtt_ms = b"", None
    finally:
        writer.close()
    return _result(line, rtt_ms, where(parts))


def _result(line: bytes, rtt_ms: float | None, url: str) -> HttpResult:
    if not line:
        return HttpResult("bad_reply", detail=f"{url}: closed or garbled before any HTTP status")
    try:
        code = read_status(line)
    except ValueError as error:
        return HttpResult("bad_reply", rtt_ms, detail=f"{url}: {error}")
    if code >= 500:
        return HttpResult("http_error", rtt_ms, code, f"{url}: HTTP {code} (server error)")
    return HttpResult("ok", rtt_ms, code, f"{url}: HTTP {code}")


@functools.lru_cache(maxsize=16)
def tls_context(ca_file: str | None = None) -> ssl.SSLContext:
    """Verifying context: system CAs, or only `ca_file` when given. Kept, since loading
    the system's CAs costs milliseconds of CPU, per device of a sweep otherwise."""
    return ssl.create_default_context(cafile=ca_file)

"""The agent's probes: each looks at one thing and returns a frozen result.

    broadband.py       is the school's uplink reachable?            -> "broadband" messages
    devices.py         do the classroom devices answer?             -> "classrooms" messages
    sync_classroom.py  is the path good enough for live lessons?    -> "sync" messages
    health.py          the gateway and the agent themselves         -> "health" messages
    quality.py         jitter, loss, R-factor and MOS (pure arithmetic)
    speed_test*.py     egress throughput                            -> "speedtest" messages

How to tell that one thing answers is a check, one module each: icmp, tcp, dns, http,
pjlink. CHECKS maps the config's check names to them, so a new kind of check is one
module and one line here. Every check's result has .status (one of
contract.PROBE_STATUSES), .up, .rtt_ms and .detail (English, for logs and the CLI).
Probes never publish: they return values, and each kind's *_body() function turns a
value into the contract's message body.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Callable, Optional, Protocol

from agent.probes import dns, http, icmp, pjlink, tcp
from agent.probes.icmp import Pinger

DEFAULT_DNS_QUERY = "www.moe.gov.cn"


class Reply(Protocol):
    """What every check returns."""

    status: str
    rtt_ms: float | None
    detail: str

    @property
    def up(self) -> bool: ...


@dataclass(frozen=True)
class Endpoint:
    """Where to look and how: a config entry's host and check (icmp, tcp:PORT, dns[:PORT],
    http(s)://URL, pjlink). `query` is the name a dns check looks up, `password` a
    pjlink one's, `ca_file` the CA an https check trusts instead of the system's.
    ValueError names what is missing or wrong."""

    method: str
    host: str = ""
    port: int | None = None
    url: str = ""
    query: str = DEFAULT_DNS_QUERY
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None

    def __post_init__(self) -> None:
        if self.method not in CHECKS:
            raise ValueError(f"check {self.method!r} is not one of {', '.join(CHECKS)}")
        if self.method == "http":
            http.check_url(self.url)
        elif not self.host:
            raise ValueError(f"check {self.method} needs a host")
        if self.method == "tcp" and self.port is None:
            raise ValueError("check tcp needs a port, e.g. tcp:80")
        if self.port is not None and not 1 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is outside 1-65535")
        if self.method == "dns":
            dns.encode_name(self.query)

    def __str__(self) -> str:
        if self.method == "http":
            return http.where(http.check_url(self.url))
        port = f":{self.port}" if self.port else ""
        return f"{self.method} {self.host}{port}"


Check = Callable[[Endpoint, float, Optional[Pinger], int], Awaitable[Reply]]


async def check(
    endpoint: Endpoint, timeout: float, pinger: Pinger | None = None, tries: int = 1
) -> Reply:
    """One check of `endpoint`, within `timeout` s.

    `pinger` shares one ICMP socket between many checks (one is opened if None). `tries`
    counts only for icmp: that many echoes are spread over the timeout and any answer
    means up, so one lost datagram does not read as a device down (TCP resends its SYN
    within the timeout by itself)."""
    return await CHECKS[endpoint.method](endpoint, timeout, pinger, tries)


async def _icmp(endpoint: Endpoint, timeout: float, pinger: Pinger | None, tries: int) -> Reply:
    interval = timeout / (2 * tries)
    wait = timeout - (tries - 1) * interval  # the last echo's answer is due at `timeout`
    if pinger is None:
        return await icmp.ping(endpoint.host, tries, wait, interval)
    return await pinger.ping(endpoint.host, tries, wait, interval)


async def _tcp(endpoint: Endpoint, timeout: float, pinger: Pinger | None, tries: int) -> Reply:
    return await tcp.connect(endpoint.host, endpoint.port, timeout)


async def _dns(endpoint: Endpoint, timeout: float, pinger: Pinger | None, tries: int) -> Reply:
    return await dns.query(endpoint.host, endpoint.query, timeout, endpoint.port or dns.PORT)


async def _http(endpoint: Endpoint, timeout: float, pinger: Pinger | None, tries: int) -> Reply:
    return await http.get(endpoint.url, timeout, endpoint.ca_file)


async def _pjlink(endpoint: Endpoint, timeout: float, pinger: Pinger | None, tries: int) -> Reply:
    port = endpoint.port or pjlink.PORT
    return await pjlink.query(endpoint.host, timeout, port, endpoint.password)


CHECKS: dict[str, Check] = {
    "icmp": _icmp,
    "tcp": _tcp,
    "dns": _dns,
    "http": _http,
    "pjlink": _pjlink,
}

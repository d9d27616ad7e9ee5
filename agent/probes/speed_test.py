"""Egress speed test: one interface over three backends, with the WAN counters beside it.

The county's target is egress >= 100 Mbps. A figure alone cannot tell a slow line from a busy
one, so every test also reads the WAN interface's own byte counters before and after:
`background_pct` is the share of the WAN traffic during the test that was not the test. And
since speedtest-cli and iperf3 < 3.16 are CPU-bound on small gateways, the busiest CPU core is
sampled during the test; `cpu_bound` flags a result that measured the gateway, not the line.

Backends (config `speed_test.backend`), each a module with `run(settings) -> SpeedTestResult`:
  iperf3     speed_iperf3.py     `server: HOST[:PORT]` of the county's iperf3 server (-s)
  http       speed_http.py       `server: URL` of a LibreSpeed-style endpoint
                                 (URL/garbage?ckSize=N, URL/empty, URL/ping)
  speedtest  speed_speedtest.py  `server: URL` of a legacy speedtest.net-protocol server
                                 (its .../speedtest/upload.php, or just http://HOST:PORT)
Every figure is in megabits (10^6 bit) per second, from the receiving side where it can be.

By hand, on the gateway (the agent's `check` command runs the same):
    python -m agent.probes.speed_test --backend iperf3 --server iperf.hx.edu.example:5201
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import socket
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psutil

log = logging.getLogger(__name__)

BACKENDS = {
    "iperf3": "agent.probes.speed_iperf3",
    "http": "agent.probes.speed_http",
    "speedtest": "agent.probes.speed_speedtest",
}
ERRORS = ("unreachable", "timeout", "protocol", "other")
CPU_BOUND_PCT = 90.0
CPU_SAMPLE_S = 0.5
MIN_CPU_SAMPLE_S = 0.2
PROTOCOL_OVERHEAD = 0.055
"""What the interface counts beyond the test's payload, per payload byte: TCP/IPv4 headers
with timestamps (52 bytes per 1448) and the ACKs coming back (a 52-byte ACK per two
segments). Without it an idle line would show ~5 % "background" that is the test's own."""
ROUTE_TABLE = Path("/proc/net/route")
_RTF_UP = 0x1


@dataclass(frozen=True)
class SpeedTestSettings:
    """What to test against; mirrors the `speed_test` section of the agent config."""

    backend: str
    server: str
    duration_s: float = 10.0
    streams: int = 4
    connect_timeout_s: float = 5.0
    wan_interface: str | None = None

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"speed_test.backend: {self.backend!r} is not one of {', '.join(BACKENDS)}")
        if not self.server.strip():
            raise ValueError("speed_test.server: give the county's test server")
        if not 1 <= self.duration_s <= 600:
            raise ValueError(f"speed_test.duration_s: {self.duration_s} is not within 1-600 s")
        if not 1 <= self.streams <= 32:
            raise ValueError(f"speed_test.streams: {self.streams} is not within 1-32")
        if not 0 < self.connect_timeout_s <= 60:
            raise ValueError(f"connect timeout {self.connect_timeout_s} s is not within 0-60 s")


@dataclass(frozen=True)
class SpeedTestResult:
    """One speed test. `error` is a contract code (ERRORS) and `detail` says why in words, for
    logs and the check command; figures measured before a failure are kept, not dropped."""

    backend: str
    server: str
    ok: bool
    error: str | None = None
    detail: str | None = None
    download_mbps: float | None = None
    upload_mbps: float | None = None
    latency_ms: float | None = None
    jitter_ms: float | None = None
    bytes_down: int | None = None
    bytes_up: int | None = None
    duration_s: float | None = None
    wan_interface: str | None = None
    wan_rx_bytes: int | None = None
    wan_tx_bytes: int | None = None
    background_pct: float | None = None
    cpu_max_pct: float | None = None
    cpu_bound: bool | None = None
    engine_limited: bool | None = None
    """speedtest backend only: the line is too long for speedtest-cli's engine, whose figure
    then reads low (speed_speedtest.engine_limited); None for the other backends."""

    def __post_init__(self) -> None:
        if self.ok == (self.error is not None):
            raise ValueError(f"a result is ok or has an error, not both or neither: {self.error!r}")
        if self.error is not None and self.error not in ERRORS:
            raise ValueError(f"error {self.error!r} is not one of {', '.join(ERRORS)}")


def measured(settings: SpeedTestSettings, **figures: Any) -> SpeedTestResult:
    return SpeedTestResult(settings.backend, display_server(settings.server), ok=True, **figures)


def failed(settings: SpeedTestSettings, error: str, detail: str, **figures: Any) -> SpeedTestResult:
    return SpeedTestResult(
        settings.backend, display_server(settings.server), ok=False, error=error, detail=detail, **figures
    )


@dataclass(frozen=True)
class Direction:
    """One direction of a test: its figures, or a contract error code and why.

    `bytes` is all the test moved that way, warm-up included, so that it can be set against
    the WAN counters; `mbps` may be computed over a shorter window (after the warm-up)."""

    mbps: float | None = None
    bytes: int | None = None
    error: str | None = None
    detail: str | None = None


def from_directions(
    settings: SpeedTestSettings,
    download: Direction,
    upload: Direction | None,
    latency_ms: float | None = None,
    jitter_ms: float | None = None,
) -> SpeedTestResult:
    """A result from the two directions; the first failure (download runs first) decides."""
    upload = upload or Direction()
    figures = {
        "download_mbps": download.mbps,
        "upload_mbps": upload.mbps,
        "bytes_down": download.bytes,
        "bytes_up": upload.bytes,
        "latency_ms": latency_ms,
        "jitter_ms": jitter_ms,
    }
    for direction in (download, upload):
        if direction.error:
            return failed(settings, direction.error, direction.detail or direction.error, **figures)
    return measured(settings, **figures)


def display_server(server: str) -> str:
    """The server as it may appear in a log line or on a dashboard: a URL's user and password
    (allowed by URL syntax, sometimes used for a county endpoint) are never shown."""
    text = server.strip()
    if "://" in text:
        parts = urlsplit(text)
        host = parts.netloc.rpartition("@")[2]
        text = urlunsplit((parts.scheme, host, parts.path, "", ""))
    return text[:200]


# --- running one test --------------------------------------------------------------------


def run_speed_test(settings: SpeedTestSettings, route_table: Path = ROUTE_TABLE) -> SpeedTestResult:
    """Runs the configured backend with the WAN counters and the CPU watched around it.

    Never raises for a network problem or a backend bug: the daemon must go on, and the
    failure is worth publishing (ok false, error other) rather than losing."""
    backend = importlib.import_module(BACKENDS[settings.backend])
    interface = settings.wan_interface or default_route_interface(_read_text(route_table))
    before = read_wan_counters(interface)
    started = time.monotonic()
    cpu = CpuWatch().start()
    try:
        result = backend.run(settings)
    except Exception as error:  # see the docstring
        log.exception("speed test against %s failed unexpectedly", display_server(settings.server))
        result = failed(settings, "other", f"unexpected {type(error).__name__}: {error}")
    finally:
        cpu.stop()
    after = read_wan_counters(interface)
    return with_wan_and_cpu(result, interface, before, after, cpu.busiest_pct, time.monotonic() - started)


def with_wan_and_cpu(
    result: SpeedTestResult,
    interface: str | None,
    before: WanCounters | None,
    after: WanCounters | None,
    cpu_max_pct: float | None,
    duration_s: float,
) -> SpeedTestResult:
    """The result with what was seen around it: WAN traffic, busiest core, wall time."""
    wan: dict[str, Any] = {"wan_interface": interface}
    if before is not None and after is not None:
        rx, tx = max(0, after.rx_bytes - before.rx_bytes), max(0, after.tx_bytes - before.tx_bytes)
        test_bytes = (result.bytes_down or 0) + (result.bytes_up or 0)
        wan.update(wan_rx_bytes=rx, wan_tx_bytes=tx, background_pct=background_pct(test_bytes, rx + tx))
    cpu_bound = None if cpu_max_pct is None else cpu_max_pct > CPU_BOUND_PCT
    return replace(result, duration_s=round(duration_s, 2), cpu_max_pct=cpu_max_pct, cpu_bound=cpu_bound, **wan)


def background_pct(test_bytes: int, wan_bytes: int) -> float | None:
    """Share (%) of the WAN interface's traffic that was not the test.

    None when it cannot be told: nothing crossed the interface, or far less than the test
    moved (the test went out another interface - wan_interface is wrong in the config)."""
    if wan_bytes <= 0 or wan_bytes < test_bytes / 2:
        return None
    test_on_wire = test_bytes * (1 + PROTOCOL_OVERHEAD)
    return round(max(0.0, wan_bytes - test_on_wire) / wan_bytes * 100, 1)


def latency_and_jitter(samples_ms: list[float]) -> tuple[float | None, float | None]:
    """(latency, jitter) in ms from round-trip samples taken on an idle line.

    Latency is the median, so one retransmitted SYN (1 s) does not make a line look slow;
    jitter is the mean difference between consecutive samples, as RFC 3550 and speedtest
    apps define it."""
    if not samples_ms:
        return None, None
    latency = round(statistics.median(samples_ms), 2)
    if len(samples_ms) < 2:
        return latency, None
    steps = [abs(b - a) for a, b in zip(samples_ms, samples_ms[1:])]
    return latency, round(sum(steps) / len(steps), 2)


def mbps(byte_count: float, seconds: float) -> float:
    return round(byte_count * 8 / seconds / 1e6, 2) if seconds > 0 else 0.0


def connect_error(error: BaseException, where: str, timeout_s: float) -> tuple[str, str]:
    """(contract error code, detail) for a failed connection to the test server."""
    if isinstance(error, (socket.timeout, TimeoutError)):
        return "timeout", f"{where}: no answer within {timeout_s:g} s (server down or a firewall drops it)"
    if isinstance(error, ConnectionRefusedError):
        return "unreachable", f"{where}: connection refused (is the test server running on that port?)"
    if isinstance(error, socket.gaierror):
        return "unreachable", f"{where}: cannot resolve the host name ({error.strerror})"
    if isinstance(error, OSError):
        return "unreachable", f"{where}: {error.strerror or error}"
    return "other", f"{where}: {type(error).__name__}: {error}"


def connect_rtt_ms(host: str, port: int, timeout_s: float) -> float:
    """One TCP handshake time in ms (name lookup excluded); raises OSError."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, kind, proto) as sock:
        sock.settimeout(timeout_s)
        started = time.perf_counter()
        sock.connect(address)
        return (time.perf_counter() - started) * 1000


def split_host_port(server: str, default_port: int) -> tuple[str, int]:
    """HOST, HOST:PORT or [IPv6]:PORT; raises ValueError naming the config key."""
    parts = urlsplit("//" + server.strip())
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host = None
    if not host or parts.path or parts.username:
        raise ValueError(f"speed_test.server: {server!r} is not HOST[:PORT]")
    return host, port or default_port


# --- the WAN interface -------------------------------------------------------------------


@dataclass(frozen=True)
class WanCounters:
    rx_bytes: int
    tx_bytes: int


def default_route_interface(route_table: str) -> str | None:
    """The interface of the IPv4 default route in /proc/net/route text (lowest metric wins),
    or None. This is the WAN interface when the config does not name one."""
    best: tuple[int, str] | None = None
    for line in route_table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        iface, destination, flags, metric, mask = fields[0], fields[1], fields[3], fields[6], fields[7]
        try:
            is_up = int(flags, 16) & _RTF_UP
            rank = int(metric)
        except ValueError:
            continue
        if destination == mask == "00000000" and is_up and (best is None or rank < best[0]):
            best = (rank, iface)
    return best[1] if best else None


def read_wan_counters(interface: str | None) -> WanCounters | None:
    """The interface's byte counters since boot (psutil corrects 32-bit wraps), or None."""
    if interface is None:
        return None
    counters = psutil.net_io_counters(pernic=True).get(interface)
    if counters is None:
        log.warning("WAN interface %r does not exist; background traffic not measured", interface)
        return None
    return WanCounters(counters.bytes_recv, counters.bytes_sent)


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


class CpuWatch:
    """Samples per-core CPU use in a thread while a test runs; `busiest_pct` is the highest.

    Per core, not the average: a single-threaded client saturating one of four cores shows
    25 % on average and would hide that the gateway, not the line, set the limit. It keeps
    its own previous sample (psutil.cpu_times), so other probes calling psutil.cpu_percent
    in the same process neither disturb it nor are disturbed."""

    def __init__(self, every_s: float = CPU_SAMPLE_S) -> None:
        self.every_s = every_s
        self.busiest_pct: float | None = None
        self._previous: list[Any] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="cpu-watch", daemon=True)

    def start(self) -> CpuWatch:
        self._previous = psutil.cpu_times(percpu=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._take_sample()

    def _sample(self) -> None:
        while not self._stop.wait(self.every_s):
            self._take_sample()

    def _take_sample(self) -> None:
        now = psutil.cpu_times(percpu=True)
        busiest = busiest_core_pct(self._previous, now)
        if busiest is None:
            return  # too short to tell: the next sample covers this time too
        self._previous = now
        self.busiest_pct = busiest if self.busiest_pct is None else max(self.busiest_pct, busiest)


def busiest_core_pct(before: list[Any], after: list[Any], min_seconds: float = MIN_CPU_SAMPLE_S) -> float | None:
    """Highest per-core busy % between two psutil.cpu_times(percpu=True) samples, or None.

    Busy is everything but idle and iowait, as psutil counts it; guest time is already inside
    user and nice, so it is not added twice. The kernel counts in 10 ms ticks: over a few
    milliseconds one tick reads as 100 %, so a core with less than `min_seconds` counted
    gives no figure."""
    busiest = None
    for old, new in zip(before, after):
        delta = {name: getattr(new, name) - getattr(old, name) for name in old._fields}
        total = sum(value for name, value in delta.items() if name not in ("guest", "guest_nice"))
        idle = delta.get("idle", 0.0) + delta.get("iowait", 0.0)
        if total >= min_seconds:
            pct = min(100.0, max(0.0, (total - idle) / total * 100))
            busiest = pct if busiest is None else max(busiest, pct)
    return None if busiest is None else round(busiest, 1)


# --- the contract body ----------------------------------------------------------------------


def speedtest_body(result: SpeedTestResult, trigger: str, target_mbps: float) -> dict[str, Any]:
    """The contract's "speedtest" fields for a result (contract.encode adds the envelope).

    trigger is "scheduled" or "on_demand"; unknown figures are left out, as the contract asks."""
    body = {
        "backend": result.backend,
        "server": result.server,
        "trigger": trigger,
        "ok": result.ok,
        "error": result.error,
        "download_mbps": _rounded(result.download_mbps, 2),
        "upload_mbps": _rounded(result.upload_mbps, 2),
        "latency_ms": _rounded(result.latency_ms, 2),
        "jitter_ms": _rounded(result.jitter_ms, 2),
        "bytes_down": result.bytes_down,
        "bytes_up": result.bytes_up,
        "duration_s": _rounded(result.duration_s, 2),
        "wan_rx_bytes": result.wan_rx_bytes,
        "wan_tx_bytes": result.wan_tx_bytes,
        "background_pct": _rounded(result.background_pct, 1),
        "cpu_max_pct": _rounded(result.cpu_max_pct, 1),
        "cpu_bound": result.cpu_bound,
        "engine_limited": result.engine_limited,
        "target_mbps": target_mbps,
    }
    return {key: value for key, value in body.items() if value is not None}


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


# --- by hand: python -m agent.probes.speed_test ------------------------------------------

ENGINE_LIMITED_TEXT = ("线路往返时延长（带宽×时延 ≥ 1.25 MB）或上传计时超出测试时长 10% 以上，speedtest-cli "
                       "引擎在此类线路上测得偏低，请改用 iperf3 或 http 方式测速 (a long line: rate x round trip "
                       ">= 1.25 MB, or the upload timed 10 % or more past the test's length; speedtest-cli's "
                       "engine reads low on such lines: use the iperf3 or http backend)")
"""Why an engine_limited figure is not the line's (speed_speedtest.engine_limited)."""
_ERROR_TEXT = {
    "unreachable": "测速服务器不可达 server unreachable",
    "timeout": "测速服务器无响应 server timed out",
    "protocol": "测速服务器应答异常 unexpected answer from the server",
    "other": "测速失败 test failed",
}


def human_report(result: SpeedTestResult) -> str:
    """What the school's IT teacher reads: Chinese first, English alongside."""
    lines = [f"测速 Speed test ({result.backend}, {result.server}): " + ("成功 OK" if result.ok else "失败 FAILED")]
    if not result.ok:
        lines.append(f"  原因 Reason: {_ERROR_TEXT[result.error or 'other']} - {result.detail}")
    for label, value, unit in (
        ("下载 Download", result.download_mbps, "Mbit/s"),
        ("上传 Upload", result.upload_mbps, "Mbit/s"),
        ("时延 Latency", result.latency_ms, "ms"),
        ("抖动 Jitter", result.jitter_ms, "ms"),
        (f"出口网卡 WAN {result.wan_interface} 其他流量 background", result.background_pct, "%"),
        ("最忙CPU核心 Busiest CPU core", result.cpu_max_pct, "%"),
    ):
        if value is not None:
            lines.append(f"  {label}: {value:g} {unit}")
    if result.cpu_bound:
        lines.append("  注意 Note: CPU 满载，结果可能偏低 a CPU core was saturated; the result may be low")
    if result.engine_limited:
        lines.append(f"  注意 Note: {ENGINE_LIMITED_TEXT}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="出口带宽测速 Egress speed test")
    parser.add_argument("--backend", required=True, choices=sorted(BACKENDS))
    parser.add_argument("--server", required=True, help="HOST[:PORT] (iperf3) or URL (http, speedtest)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per direction")
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--connect-timeout", type=float, default=5.0)
    parser.add_argument("--wan-interface", help="default: the interface of the default route")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    args = parser.parse_args(argv)
    try:
        settings = SpeedTestSettings(
            args.backend, args.server, args.duration, args.streams, args.connect_timeout, args.wan_interface
        )
    except ValueError as error:
        parser.error(str(error))
    result = run_speed_test(settings)
    print(json.dumps(asdict(result), ensure_ascii=False) if args.json else human_report(result))
    return 0 if result.ok else 1


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # The imported module, not this __main__ copy, so that the backends share its classes.
    sys.exit(importlib.import_module("agent.probes.speed_test").main())

"""iperf3 backend: the county's own iperf3 server, one run per direction.

Config: `backend: iperf3`, `server: HOST[:PORT]` (port 5201 by default), `streams`,
`duration_s` (per direction). Needs the iperf3 program on the gateway (apt install iperf3).

Download is `iperf3 -R` (the server sends), upload a plain run; each figure is the
receiving side's (end.sum_received), which counts only what arrived. iperf3 before 3.16
(Debian 12 ships 3.12) moves all its streams in one thread, so on a small gateway look at
cpu_bound before blaming the line.

iperf3's TCP runs report no latency for the receiving side, so latency and jitter come from a
few TCP handshakes with the server's port on the idle line before the runs. Each one is an
empty connection the server logs as "unable to receive parameters from client": harmless
for a server started with `iperf3 -s`, but it would end a one-off server (`iperf3 -s -1`),
which could not serve two runs anyway.

An iperf3 server runs one test at a time; while another school tests it answers "the server
is busy" (error "other"). That is what the staggered schedule (agent/schedule.py) avoids.

A run whose control connection breaks ("unable to receive control message: Connection
reset by peer", seen in 2 of 10 tests on a 30 ms, 0.5 % loss link) is run once more after
a pause: the line is not at fault, and a lost daily figure would be. The cause is the
server: after each test or empty connection iperf3 3.12 closes its listening socket and
opens a new one, resetting whatever waited in the old one's queue; so the first run also
waits a moment after the handshakes.
"""

from __future__ import annotations

import json
import subprocess
import time

from agent.probes.speed_test import (
    Direction,
    SpeedTestResult,
    SpeedTestSettings,
    connect_error,
    connect_rtt_ms,
    failed,
    from_directions,
    latency_and_jitter,
    split_host_port,
)

IPERF3_PORT = 5201
HANDSHAKES = 5
"""TCP handshakes sampled for latency and jitter: a second of work at most on a slow line."""
SETTLE_S = 0.5
"""Between the last handshake and the first run: the server's moment to listen again."""
RETRY_PAUSE_S = 2.0
"""Before running a direction again whose control connection broke."""
SLACK_S = 15.0
"""Beyond duration and connect timeout, how long an iperf3 run may take before it is killed
(its own end-of-test exchange, a stalled link)."""


def run(settings: SpeedTestSettings) -> SpeedTestResult:
    try:
        host, port = split_host_port(settings.server, IPERF3_PORT)
    except ValueError as error:
        return failed(settings, "other", str(error))
    samples, problem = handshake_samples(host, port, settings.connect_timeout_s)
    if problem:
        return failed(settings, *problem)
    latency_ms, jitter_ms = latency_and_jitter(samples)
    time.sleep(SETTLE_S)
    download = run_direction(iperf3_argv(host, port, settings, reverse=True), settings)
    upload = None if download.error else run_direction(iperf3_argv(host, port, settings, reverse=False), settings)
    return from_directions(settings, download, upload, latency_ms, jitter_ms)


def handshake_samples(host: str, port: int, timeout_s: float) -> tuple[list[float], tuple[str, str] | None]:
    """Handshake times in ms; stops at the first failure, which is the problem only when no
    handshake succeeded (a server that cannot be reached is not worth a 2-run test)."""
    samples: list[float] = []
    for _ in range(HANDSHAKES):
        try:
            samples.append(connect_rtt_ms(host, port, timeout_s))
        except OSError as error:
            if not samples:
                return [], connect_error(error, f"iperf3 server {host}:{port}", timeout_s)
            break
    return samples, None


def iperf3_argv(host: str, port: int, settings: SpeedTestSettings, reverse: bool) -> list[str]:
    argv = [
        "iperf3", "-c", host, "-p", str(port), "-J",
        "-t", str(max(1, round(settings.duration_s))),
        "-P", str(settings.streams),
        "--connect-timeout", str(round(settings.connect_timeout_s * 1000)),
    ]  # fmt: skip
    return argv + ["-R"] if reverse else argv


def run_direction(argv: list[str], settings: SpeedTestSettings) -> Direction:
    """One iperf3 run, and a second one if the first lost its control connection."""
    direction = run_iperf3(argv, settings)
    if control_connection_broke(direction):
        time.sleep(RETRY_PAUSE_S)
        direction = run_iperf3(argv, settings)
    return direction


def control_connection_broke(direction: Direction) -> bool:
    text = (direction.detail or "").lower() if direction.error else ""
    return "control message" in text or "reset by peer" in text


def run_iperf3(argv: list[str], settings: SpeedTestSettings) -> Direction:
    limit_s = settings.duration_s + settings.connect_timeout_s + SLACK_S
    try:
        finished = subprocess.run(argv, capture_output=True, text=True, timeout=limit_s, check=False)
    except FileNotFoundError:
        return Direction(error="other", detail="iperf3 is not installed on this gateway (apt install iperf3)")
    except subprocess.TimeoutExpired:
        return Direction(error="timeout", detail=f"iperf3 did not finish within {limit_s:g} s (link stalled?)")
    return parse_iperf3_json(finished.stdout, finished.stderr)


def parse_iperf3_json(stdout: str, stderr: str = "") -> Direction:
    """One run's receiving-side figures from `iperf3 -J` output, or why it failed."""
    try:
        report = json.loads(stdout)
    except ValueError:
        said = (stderr or stdout).strip()[:200] or "nothing"
        return Direction(error="protocol", detail=f"iperf3 printed no JSON report; it said: {said}")
    if not isinstance(report, dict):
        return Direction(error="protocol", detail="iperf3's report is not a JSON object")
    if report.get("error"):
        message = str(report["error"])[:200]
        code = iperf3_error_code(message)
        if "busy" in message:
            return Direction(error=code, detail=f"iperf3 server busy with another test (another school?): {message}")
        return Direction(error=code, detail=f"iperf3: {message}")
    received = (report.get("end") or {}).get("sum_received") or {}
    try:
        bits_per_second, byte_count = float(received["bits_per_second"]), int(received["bytes"])
    except (KeyError, TypeError, ValueError):
        return Direction(error="protocol", detail="iperf3's report has no end.sum_received figures")
    return Direction(mbps=round(bits_per_second / 1e6, 2), bytes=byte_count)


def iperf3_error_code(message: str) -> str:
    """The contract error code for iperf3's "error" text (its wording since 3.0)."""
    text = message.lower()
    if "busy" in text:
        return "other"
    if "timed out" in text or "timeout" in text:
        return "timeout"
    unreachable = ("refused", "no route", "unreachable", "name or service", "resolve", "unable to connect")
    if any(words in text for words in unreachable):
        return "unreachable"
    if "control" in text or "cookie" in text or "parameters" in text or "results" in text:
        return "protocol"
    return "other"

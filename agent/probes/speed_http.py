"""http backend: a LibreSpeed-style endpoint the county hosts; standard library only.

Config: `backend: http`, `server: URL` of the endpoint, e.g. https://speed.hx.edu.example/st,
which answers:
    GET  URL/garbage?ckSize=N   N MiB of incompressible bytes      (download)
    POST URL/empty              reads the body and discards it      (upload)
    GET  URL/ping               an empty answer                     (latency)

Measured the way LibreSpeed does: `streams` parallel connections move bytes for `duration_s`,
and the first WARMUP_S are left out of the figure - TCP slow start is still growing the
window then, and the figure should be the line's steady rate. Latency and jitter come from
small GETs on one kept-alive connection on the idle line, before the transfers.
"""

from __future__ import annotations

import http.client
import os
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

from agent.probes.speed_test import (
    Direction,
    SpeedTestResult,
    SpeedTestSettings,
    connect_error,
    failed,
    from_directions,
    latency_and_jitter,
    mbps,
)

WARMUP_S = 1.5
"""Left out of each direction's figure (at most a third of the duration)."""
SAMPLE_EVERY_S = 0.1
PINGS = 10
CHUNK_MIB = 25
"""Size of each download request: short enough that a stream soon asks again, long enough
that the pause between requests (one round trip) costs under 1 % at 100 Mbit/s."""
UPLOAD_BODY_BYTES = 8 * 1024 * 1024
BLOCK_BYTES = 64 * 1024
_UPLOAD_BLOCK = os.urandom(BLOCK_BYTES)  # incompressible, in case a middlebox compresses

Stream = Callable[["Endpoint", http.client.HTTPConnection, threading.Event, Callable[[int], None]], None]


class BadAnswer(Exception):
    """The server answered, but not as a LibreSpeed-style endpoint would."""


TRANSFER_ERRORS = (OSError, http.client.HTTPException, BadAnswer)


@dataclass(frozen=True)
class Endpoint:
    scheme: str
    host: str
    port: int
    path: str

    def url(self, name: str) -> str:
        return f"{self.path}/{name}"

    def connect(self, timeout_s: float) -> http.client.HTTPConnection:
        if self.scheme == "https":
            context = ssl.create_default_context()
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout_s, context=context)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout_s)


def parse_endpoint(server: str) -> Endpoint:
    """The endpoint of `server: URL`; raises ValueError naming the config key."""
    parts = urlsplit(server.strip())
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"speed_test.server: {server!r} has a port that is not 1-65535") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"speed_test.server: {server!r} is not an http:// or https:// URL")
    if parts.username or parts.password or parts.query:
        raise ValueError("speed_test.server: give the endpoint's URL without user, password or ?query")
    default_port = 443 if parts.scheme == "https" else 80
    return Endpoint(parts.scheme, parts.hostname, port or default_port, parts.path.rstrip("/"))


def run(settings: SpeedTestSettings) -> SpeedTestResult:
    try:
        endpoint = parse_endpoint(settings.server)
    except ValueError as error:
        return failed(settings, "other", str(error))
    samples, problem = ping_samples(endpoint, settings.connect_timeout_s)
    if problem:
        return failed(settings, *problem)
    latency_ms, jitter_ms = latency_and_jitter(samples)
    download = transfer(endpoint, settings, download_stream)
    upload = None if download.error else transfer(endpoint, settings, upload_stream)
    return from_directions(settings, download, upload, latency_ms, jitter_ms)


def ping_samples(endpoint: Endpoint, timeout_s: float) -> tuple[list[float], tuple[str, str] | None]:
    """Round trips (ms) of small GETs on one connection; the first, which includes the
    handshake, is left out."""
    connection = endpoint.connect(timeout_s)
    samples: list[float] = []
    try:
        for _ in range(PINGS + 1):
            started = time.perf_counter()
            connection.request("GET", endpoint.url("ping"))
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise BadAnswer(f"GET {endpoint.url('ping')} answered {response.status} {response.reason}")
            samples.append((time.perf_counter() - started) * 1000)
    except TRANSFER_ERRORS as error:
        return [], stream_error(error, endpoint, timeout_s)
    finally:
        connection.close()
    return samples[1:], None


def transfer(endpoint: Endpoint, settings: SpeedTestSettings, stream: Stream) -> Direction:
    """Runs `streams` copies of `stream` for duration_s; the figure leaves out the warm-up."""
    moved = [0] * settings.streams
    errors: list[BaseException | None] = [None] * settings.streams
    stop = threading.Event()
    workers = [
        threading.Thread(
            target=_keep_streaming,
            args=(stream, endpoint, settings.connect_timeout_s, moved, errors, index, stop),
            name=f"speed-http-{index}",
            daemon=True,
        )
        for index in range(settings.streams)
    ]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    samples = [(0.0, 0)]
    while samples[-1][0] < settings.duration_s and not all(errors):
        stop.wait(SAMPLE_EVERY_S)
        samples.append((time.monotonic() - started, sum(moved)))
    stop.set()
    for worker in workers:
        worker.join(settings.connect_timeout_s + 1)
    return _direction(samples, sum(moved), errors, endpoint, settings)


def _direction(
    samples: list[tuple[float, int]],
    total_bytes: int,
    errors: list[BaseException | None],
    endpoint: Endpoint,
    settings: SpeedTestSettings,
) -> Direction:
    failure = next((error for error in errors if error is not None), None)
    if failure is not None:
        code, detail = stream_error(failure, endpoint, settings.connect_timeout_s)
        return Direction(bytes=total_bytes, error=code, detail=detail)
    rate = rate_after_warmup(samples, min(WARMUP_S, settings.duration_s / 3))
    if not total_bytes or rate is None:
        return Direction(bytes=total_bytes, error="protocol", detail="no bytes moved; is it a LibreSpeed-style endpoint?")
    return Direction(mbps=rate, bytes=total_bytes)


def rate_after_warmup(samples: list[tuple[float, int]], warmup_s: float) -> float | None:
    """Mbit/s between the first (seconds, bytes so far) sample at or after the warm-up and
    the last sample; None when fewer than two samples are left."""
    steady = [sample for sample in samples if sample[0] >= warmup_s]
    if len(steady) < 2 or steady[-1][0] <= steady[0][0]:
        return None
    (first_s, first_bytes), (last_s, last_bytes) = steady[0], steady[-1]
    return mbps(last_bytes - first_bytes, last_s - first_s)


def _keep_streaming(
    stream: Stream,
    endpoint: Endpoint,
    timeout_s: float,
    moved: list[int],
    errors: list[BaseException | None],
    index: int,
    stop: threading.Event,
) -> None:
    """One stream: request after request on one connection until told to stop."""

    def count(byte_count: int) -> None:
        moved[index] += byte_count  # one writer per slot; the sampler only reads

    connection = endpoint.connect(timeout_s)
    try:
        while not stop.is_set():
            stream(endpoint, connection, stop, count)
    except TRANSFER_ERRORS as error:  # the caller classifies it
        if not stop.is_set():
            errors[index] = error
    finally:
        connection.close()


def download_stream(
    endpoint: Endpoint, connection: http.client.HTTPConnection, stop: threading.Event, count: Callable[[int], None]
) -> None:
    path = endpoint.url(f"garbage?ckSize={CHUNK_MIB}")
    connection.request("GET", path)
    response = connection.getresponse()
    if response.status != 200:
        raise BadAnswer(f"GET {path} answered {response.status} {response.reason}")
    buffer = bytearray(BLOCK_BYTES)
    while not stop.is_set():
        received = response.readinto(buffer)
        if not received:
            return
        count(received)


def upload_stream(
    endpoint: Endpoint, connection: http.client.HTTPConnection, stop: threading.Event, count: Callable[[int], None]
) -> None:
    """POSTs one body block by block, so that stopping never waits for a whole body."""
    path = endpoint.url("empty")
    connection.putrequest("POST", path)
    connection.putheader("Content-Type", "application/octet-stream")
    connection.putheader("Content-Length", str(UPLOAD_BODY_BYTES))
    connection.endheaders()
    for _ in range(UPLOAD_BODY_BYTES // BLOCK_BYTES):
        if stop.is_set():
            return
        connection.send(_UPLOAD_BLOCK)
        count(BLOCK_BYTES)
    response = connection.getresponse()
    response.read()
    if response.status != 200:
        raise BadAnswer(f"POST {path} answered {response.status} {response.reason}")


def stream_error(error: BaseException, endpoint: Endpoint, timeout_s: float) -> tuple[str, str]:
    where = f"speed test endpoint {endpoint.scheme}://{endpoint.host}:{endpoint.port}{endpoint.path}"
    if isinstance(error, BadAnswer):
        return "protocol", f"{where}: {error} (is it a LibreSpeed-style endpoint?)"
    if isinstance(error, ssl.SSLError):
        return "protocol", f"{where}: TLS failed ({error.reason or error})"
    if isinstance(error, http.client.HTTPException):
        return "protocol", f"{where}: not a valid HTTP answer ({type(error).__name__})"
    return connect_error(error, where, timeout_s)

"""speedtest backend: speedtest-cli's engine (2.1.3) against one known server, offline.

Config: `backend: speedtest`, `server: URL` of a server speaking the legacy speedtest.net
HTTP protocol - its .../speedtest/upload.php as speedtest.net lists it, or just
http://HOST[:PORT], to which /speedtest/upload.php is added. The engine then asks for
DIR/latency.txt, DIR/random{350..4000}x{...}.jpg and POSTs to DIR/upload.php.

Nothing reaches speedtest.net: Speedtest.__init__ always calls get_config(), which would
download the config (HTTP 403 without secure=True since 2022) - CountySpeedtest supplies the
stock speedtest.net values instead, takes its server list from us, and opens connections
without the environment's proxies and without following redirects.

Read its figures with care (upstream issues #730, #716, #649, #675):
- it under-reports above ~200 Mbit/s and is CPU-bound on small boards (see cpu_bound);
- it keeps TCP slow start inside the figure (no warm-up is discarded), so short tests read
  low, and the time it divides by includes waiting for the last request to finish;
- its latency is the mean time of three GETs of latency.txt, each on a new connection
  (handshake + request: about two round trips), divided by six - about one round trip. It is
  reported as it comes; it gives no jitter, so none is reported.
The figures are reported as measured: no correction factor is applied. `streams` is not
used: the engine keeps its own threads (8 down; 2 up, raised to 8 once download passes 0.1
Mbit/s), so results compare with speedtest-cli's.

Long lines (issue 15; bench/REPORT.md, "accuracy grid"). Every request is a new TCP
connection, so each pays a handshake, slow start and a response round trip; with stock
sizes (0.25-2 MB images first, 0.5 and 1 MB uploads) most requests end before slow start
does once the round trip is tens of ms, and loss makes it worse: at 160 ms and 2 % loss the
stock engine read 0.30x iperf3's upload. So the engine runs with the largest sizes its
protocol has (LARGEST_SIZES): the same as stock on short lines, much closer to iperf3 on
long ones - which also means that there it reads above what speedtest-cli run by hand
would. What remains (round trips of 160 ms read 0.83-1.01x iperf3, and an upload that
times itself past the test's end) is flagged: engine_limited().
"""

from __future__ import annotations

import io
import math
import urllib.request
from dataclasses import replace
from urllib.parse import urlsplit, urlunsplit

import speedtest

from agent.probes.speed_test import (
    Direction,
    SpeedTestResult,
    SpeedTestSettings,
    connect_error,
    connect_rtt_ms,
    failed,
    from_directions,
)

UPLOAD_PATH = "/speedtest/upload.php"
FAILED_LATENCY_MS = 3600 / 6 * 1000
"""speedtest-cli counts a failed latency GET as 3600 s; any one of them pushes the reported
latency (sum / 6) to at least this."""

# The values speedtest.net's own config has served for years (threadcount 4, threadsperurl
# 4, upload ratio 5, maxchunkcount 50, 2 upload threads), so the engine runs as it would
# against speedtest.net; only the test length comes from our duration_s.
STOCK_CONFIG = {
    "server_threadcount": 4,
    "download_threadsperurl": 4,
    "upload_ratio": 5,
    "upload_maxchunkcount": 50,
    "upload_threads": 2,
}
_DOWNLOAD_SIZES = [350, 500, 750, 1000, 1500, 2000, 2500, 3000, 3500, 4000]
_UPLOAD_SIZES = [32768, 65536, 131072, 262144, 524288, 1048576, 7340032]
LARGEST_SIZES = {"upload_ratio": 7, "upload_maxchunkcount": 25, "download_from": 2000}
"""What we change: upload only the 7 MB chunk (the ratio speedtest.net's config sets), 25 of
them, and download only the images from random2000x2000.jpg (8 MB) up. The engine would
build every upload body in memory first (25 x 7 MB; stock sizes 144 MB): SharedUploadBody
keeps one. 25 chunks and 20
images (380 MB) fill a 10 s test up to about 130 Mbit/s up and 300 down (stock: 115 and
330); on a faster line the engine runs out of requests early and divides by the shorter
time, as before."""


def engine_config(duration_s: float) -> dict:
    """The config dict get_config() would build from speedtest.net's XML (same keys), with
    LARGEST_SIZES instead of the stock sizes."""
    upload_sizes = _UPLOAD_SIZES[LARGEST_SIZES["upload_ratio"] - 1 :]
    download_sizes = [side for side in _DOWNLOAD_SIZES if side >= LARGEST_SIZES["download_from"]]
    upload_count = math.ceil(LARGEST_SIZES["upload_maxchunkcount"] / len(upload_sizes))
    return {
        "client": {"ip": "", "lat": "0", "lon": "0", "isp": "", "isprating": "0"},
        "ignore_servers": [],
        "sizes": {"upload": upload_sizes, "download": download_sizes},
        "counts": {"upload": upload_count, "download": STOCK_CONFIG["download_threadsperurl"]},
        "threads": {"upload": STOCK_CONFIG["upload_threads"], "download": STOCK_CONFIG["server_threadcount"] * 2},
        "length": {"upload": duration_s, "download": duration_s},
        "upload_max": upload_count * len(upload_sizes),
    }


def upload_url(server: str) -> str:
    """The server's upload.php URL, as speedtest.net's server list gives it."""
    parts = urlsplit(server.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"speed_test.server: {server!r} is not the http:// or https:// URL of a speedtest server")
    if parts.username or parts.password:
        raise ValueError("speed_test.server: give the URL without user or password")
    path = parts.path if parts.path.endswith(".php") else parts.path.rstrip("/") + UPLOAD_PATH
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def server_entry(url: str) -> dict:
    """One entry of the server list, in the shape get_servers() builds from speedtest.net."""
    host = urlsplit(url).netloc
    return {"url": url, "host": host, "id": "0", "name": "county", "sponsor": "county", "country": "CN", "d": 0.0}


class CountySpeedtest(speedtest.Speedtest):
    """speedtest.Speedtest that never fetches anything from speedtest.net."""

    def __init__(self, url: str, duration_s: float, timeout_s: float) -> None:
        self._fixed_config = engine_config(duration_s)
        self._server = server_entry(url)
        super().__init__(timeout=timeout_s, secure=True)
        self._opener = direct_opener(timeout_s)
        self.results._opener = self._opener

    def get_config(self) -> dict:
        self.config.update(self._fixed_config)
        self.lat_lon = (0.0, 0.0)
        return self.config

    def get_servers(self, servers=None, exclude=None) -> dict:
        self.servers = {0.0: [self._server]}
        return self.servers


class SharedUploadBody(urllib.request.BaseHandler):
    """Every upload request reads the same bytes from one copy.

    Why: speedtest-cli builds each upload's body in memory before the test starts (its
    pre_allocate), 25 x 7 MB = 183 MB in the agent's process, on gateways whose agent keeps
    under 40 MB. The bodies are all alike (speedtest-cli's own filler for one size), so the
    first request of a size makes it once and each request reads it through its own
    BytesIO, which shares the bytes rather than copying them. Counting is untouched: the
    engine still counts what each request's data object hands to the socket."""

    def __init__(self) -> None:
        self._bodies: dict[int, bytes] = {}

    def http_request(self, request: urllib.request.Request) -> urllib.request.Request:
        data = request.data
        if isinstance(data, speedtest.HTTPUploaderData) and data._data is None:
            body = self._bodies.get(data.length)
            if body is None:
                filler = speedtest.HTTPUploaderData(data.length, 0, 0)
                filler.pre_allocate()  # the engine's own bytes for this size
                body = self._bodies[data.length] = filler._data.getvalue()
            data._data = io.BytesIO(body)
        return request

    https_request = http_request


def direct_opener(timeout_s: float) -> urllib.request.OpenerDirector:
    """speedtest.build_opener() without the environment's proxies (http_proxy would send the
    test elsewhere) and without following redirects (they could lead off the county's server)."""
    opener = urllib.request.OpenerDirector()
    opener.addheaders = [("User-agent", speedtest.build_user_agent())]
    for handler in (
        urllib.request.ProxyHandler({}),
        speedtest.SpeedtestHTTPHandler(timeout=timeout_s),
        speedtest.SpeedtestHTTPSHandler(timeout=timeout_s),
        SharedUploadBody(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


def run(settings: SpeedTestSettings) -> SpeedTestResult:
    try:
        url = upload_url(settings.server)
    except ValueError as error:
        return failed(settings, "other", str(error))
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        rtt_ms = path_rtt_ms(parts.hostname or "", port, settings.connect_timeout_s)
    except OSError as error:
        return failed(settings, *connect_error(error, f"speedtest server {parts.netloc}", settings.connect_timeout_s))
    engine = CountySpeedtest(url, settings.duration_s, settings.connect_timeout_s)
    best = engine.get_best_server(engine.get_closest_servers())
    if best["latency"] >= FAILED_LATENCY_MS:
        return failed(settings, "protocol", f"{url}: latency.txt did not answer 'test=test' (not a speedtest server?)")
    download = _direction(engine.download(), engine.results.bytes_received, url, "download")
    upload, upload_timed_s = None, None
    if not download.error:
        upload_bps = engine.upload(pre_allocate=False)  # SharedUploadBody gives each request its body
        upload = _direction(upload_bps, engine.results.bytes_sent, url, "upload")
        upload_timed_s = timed_s(engine.results.bytes_sent, upload_bps)
    result = from_directions(settings, download, upload, latency_ms=round(best["latency"], 2))
    if upload is None or upload.error:
        return result
    limited = engine_limited(settings.duration_s, upload_timed_s, rtt_ms, result.download_mbps, result.upload_mbps)
    return replace(result, engine_limited=limited)


def _direction(bits_per_second: float, byte_count: int, url: str, what: str) -> Direction:
    """speedtest-cli swallows HTTP errors in its threads; zero bytes is how they show."""
    if not byte_count:
        return Direction(bytes=0, error="protocol", detail=f"{url}: the {what} moved no bytes (wrong server or path?)")
    return Direction(mbps=round(bits_per_second / 1e6, 2), bytes=int(byte_count))


OVERRUN_LIMIT = 0.10
"""How far past the test's length the engine's upload may time itself: dividing by 1.1x the
length takes 9 % off the figure."""
LONG_LINE_MBIT_MS = 10_000
"""Rate x round trip (Mbit/s x ms; 10,000 = 1.25 MB in flight) from which the engine is not
to be trusted, overrun or not. On the accuracy grid at 100 Mbit/s (bench/REPORT.md,
"accuracy grid") it read 0.92-0.99x iperf3 at round trips of 40 and 100 ms, and anywhere
from 0.83x to 1.01x at 160 ms."""
HANDSHAKES = 3


def timed_s(byte_count: int, bits_per_second: float) -> float | None:
    """The time the engine divided by: it reports bytes x 8 / (stop - start), nothing else."""
    return byte_count * 8 / bits_per_second if byte_count and bits_per_second > 0 else None


def engine_limited(
    length_s: float,
    upload_timed_s: float | None,
    rtt_ms: float,
    download_mbps: float | None,
    upload_mbps: float | None,
) -> bool:
    """Whether the result is the engine's artefact rather than the line's.

    Two marks of a line too long for it. Its upload counts bytes until the test's length is
    up but divides them by the time until its last request has its answer: on a long lossy
    line the last requests wait for their data (up to a socket buffer each) to cross, and
    for retransmissions, seconds in which nothing more is counted. And every request is a
    new connection starting slowly: the more the line holds in flight (rate x round trip,
    the faster direction standing for the rate), the more of the test is ramp, both ways."""
    overran = upload_timed_s is not None and upload_timed_s >= length_s * (1 + OVERRUN_LIMIT)
    rates = [rate for rate in (download_mbps, upload_mbps) if rate]
    in_flight = rtt_ms * max(rates, default=0.0)
    return overran or in_flight >= LONG_LINE_MBIT_MS


def path_rtt_ms(host: str, port: int, timeout_s: float, handshakes: int = HANDSHAKES) -> float:
    """The line's round trip: the quickest of a few TCP handshakes, so that a lost SYN (a
    second's wait on a lossy line) does not make a line look long. Raises OSError."""
    return min(connect_rtt_ms(host, port, timeout_s) for _ in range(handshakes))

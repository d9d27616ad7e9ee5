"""The three backends on a 50 Mbit/s shaped link, as on a school gateway.

Namespace b is the county's side: an iperf3 server, the LibreSpeed-style endpoint and the
legacy speedtest server, all real. Namespace a is the gateway: each test runs
`python -m agent.probes.speed_test --json` there, and its default route (via b) makes the
link the WAN interface the agent finds by itself. One link and one set of servers serve
the whole module; each backend's idle run is done once and shared by the tests reading it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from agent.probes.speed_test import SpeedTestResult, speedtest_body
from schoolnet_core import contract
from schoolnet_stack.netns import Link
from schoolnet_stack.requirements import require_binary, require_netns
from tests.agent.speed.processes import wait_for_line

pytestmark = pytest.mark.netns

REPO = Path(__file__).resolve().parents[3]
RATE_MBIT = 50
DELAY_MS = 5  # one way: a 10 ms round trip
DURATION_S = 5
TOLERANCE = {"iperf3": 0.10, "http": 0.10, "speedtest": 0.15}
IPERF3_PORT, BACKGROUND_PORT, CLOSED_PORT = 5201, 5202, 5999


class CountySide:
    """The link and the servers running in its namespace b."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self.processes: list[subprocess.Popen] = []
        self.servers: dict[str, str] = {}
        self.idle: dict[str, SpeedTestResult] = {}

    def start(self) -> None:
        ip = self.link.b_ip
        for port in (IPERF3_PORT, BACKGROUND_PORT):
            self._serve(["iperf3", "-s", "-B", ip, "-p", str(port), "--forceflush"], "Server listening")
        self.servers = {
            "iperf3": f"{ip}:{IPERF3_PORT}",
            "http": self._serve([sys.executable, "-m", "schoolnet_stack.peers.speed_http_server", "--host", ip], "listening"),
            "speedtest": self._serve([sys.executable, "-m", "schoolnet_stack.peers.speedtest_server", "--host", ip], "listening"),
        }

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _serve(self, argv: list[str], ready: str) -> str:
        """Starts a server in b; returns the URL its ready line names, once it is printed."""
        process = self.link.popen_in("b", argv, cwd=REPO, stdout=subprocess.PIPE, text=True)
        self.processes.append(process)
        return wait_for_line(process, ready).split()[-1]

    def speed_test(self, backend: str, server: str | None = None, *extra: str) -> SpeedTestResult:
        """One test run by the agent's entry point in namespace a."""
        argv = [
            sys.executable, "-m", "agent.probes.speed_test", "--json",
            "--backend", backend, "--server", server or self.servers[backend],
            "--duration", str(DURATION_S), *extra,
        ]  # fmt: skip
        done = self.link.run_in("a", argv, cwd=REPO, timeout=120)
        assert done.stdout, f"no result printed; stderr: {done.stderr[-2000:]}"
        return SpeedTestResult(**json.loads(done.stdout))

    def idle_run(self, backend: str) -> SpeedTestResult:
        if backend not in self.idle:
            self.idle[backend] = self.speed_test(backend)
        return self.idle[backend]


@contextmanager
def county_side(**shaping) -> Iterator[CountySide]:
    """The gateway namespace routed over a link shaped so to the county's, serving every backend."""
    require_netns()
    require_binary("iperf3")
    with Link(**shaping) as link:
        link.run_in("a", ["ip", "route", "add", "default", "via", link.b_ip], check=True)
        side = CountySide(link)
        try:
            side.start()
            yield side
        finally:
            side.stop()


@pytest.fixture(scope="module")
def county() -> Iterator[CountySide]:
    with county_side(rate_mbit=RATE_MBIT, delay_ms=DELAY_MS) as side:
        yield side


@pytest.mark.parametrize("backend", ["iperf3", "http", "speedtest"])
def test_each_backend_measures_the_shaped_rate_both_ways(county, backend):
    result = county.idle_run(backend)
    assert result.ok, result.detail
    low, high = RATE_MBIT * (1 - TOLERANCE[backend]), RATE_MBIT * (1 + TOLERANCE[backend])
    assert low <= result.download_mbps <= high
    assert low <= result.upload_mbps <= high


@pytest.mark.parametrize("backend", ["iperf3", "http", "speedtest"])
def test_latency_is_about_the_links_round_trip(county, backend):
    result = county.idle_run(backend)
    # 10 ms of wire delay; the userspace wire and a Python client add a little, never less.
    assert 2 * DELAY_MS * 0.9 <= result.latency_ms <= 2 * DELAY_MS + 10


@pytest.mark.parametrize("backend", ["iperf3", "http", "speedtest"])
def test_an_idle_line_shows_little_background_and_the_counters_cover_the_test(county, backend):
    result = county.idle_run(backend)
    assert result.wan_interface == county.link.dev["a"]  # found from the default route
    assert result.wan_rx_bytes >= result.bytes_down
    assert result.wan_tx_bytes >= result.bytes_up
    assert result.background_pct < 8
    assert 0 <= result.cpu_max_pct <= 100
    assert result.cpu_bound == (result.cpu_max_pct > 90)


@pytest.mark.parametrize("backend", ["iperf3", "http", "speedtest"])
def test_a_real_result_is_a_valid_contract_message(county, backend):
    result = county.idle_run(backend)
    message = as_message(result)
    assert isinstance(message, contract.Message), message
    assert message.body["download_mbps"] == result.download_mbps


def as_message(result: SpeedTestResult) -> contract.Message | contract.Rejection:
    """The result as the agent would publish it, read back by the contract."""
    body = speedtest_body(result, "scheduled", target_mbps=100)
    return contract.validate(
        contract.topic("hx", "hx-dazhuang-zx", "speedtest"),
        contract.encode("speedtest", "hx", "hx-dazhuang-zx", 1795570200000, body),
        now_ms=1795570200000,
    )


def test_traffic_beside_the_test_shows_as_background(county):
    """A school downloading during the test: the figure drops and background_pct says why."""
    background = county.link.popen_in(
        "a",
        ["iperf3", "-c", county.link.b_ip, "-p", str(BACKGROUND_PORT), "-R", "-P", "2", "-t", "60", "--forceflush"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        wait_for_line(background, "[SUM]")  # both background flows carried a second of data: they own the link
        busy = county.speed_test("iperf3")
    finally:
        background.terminate()
        background.wait(timeout=10)
    idle = county.idle_run("iperf3")
    assert busy.ok, busy.detail
    assert busy.download_mbps < idle.download_mbps * 0.9
    assert busy.background_pct > 25
    assert busy.background_pct > idle.background_pct + 20


@pytest.mark.parametrize(
    "backend, server",
    [
        ("iperf3", "{ip}:{port}"),
        ("http", "http://{ip}:{port}"),
        ("speedtest", "http://{ip}:{port}/speedtest/upload.php"),
    ],
)
def test_a_server_that_is_down_is_unreachable(county, backend, server):
    result = county.speed_test(backend, server.format(ip=county.link.b_ip, port=CLOSED_PORT))
    assert (result.ok, result.error) == (False, "unreachable")
    assert "refused" in result.detail
    assert result.download_mbps is None


@pytest.mark.parametrize("backend", ["iperf3", "http", "speedtest"])
def test_a_cut_line_times_out(county, backend):
    county.link.cut()
    try:
        result = county.speed_test(backend, None, "--connect-timeout", "1")
    finally:
        county.link.restore()
    assert (result.ok, result.error) == (False, "timeout")
    assert "no answer within 1 s" in result.detail

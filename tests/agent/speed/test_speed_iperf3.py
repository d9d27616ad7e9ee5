"""iperf3 backend: its command line and report (pure), then a real iperf3 server on loopback."""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import threading
import time

import pytest

from agent.probes.speed_iperf3 import (
    HANDSHAKES,
    control_connection_broke,
    iperf3_argv,
    iperf3_error_code,
    parse_iperf3_json,
    run,
)
from agent.probes.speed_test import Direction, SpeedTestSettings
from tests.agent.speed.processes import wait_for_line

# What iperf3 3.12 printed for `iperf3 -c 127.0.0.1 -J -t 1 -P 2 -R`, trimmed to the keys read.
REPORT = {
    "start": {"version": "iperf 3.12"},
    "intervals": [],
    "end": {
        "sum_sent": {"seconds": 1.000507, "bytes": 2668625920, "bits_per_second": 21338188898.2286, "retransmits": 4},
        "sum_received": {"seconds": 1.00004, "bytes": 2666921984, "bits_per_second": 21334522491.100353},
    },
}


def settings(server: str, **changes) -> SpeedTestSettings:
    values = {"duration_s": 1, "streams": 2, "connect_timeout_s": 2.0}
    values.update(changes)
    return SpeedTestSettings("iperf3", server, **values)


def test_download_is_the_reverse_run_with_the_configured_streams_and_time():
    assert iperf3_argv("iperf.hx.edu.example", 5201, settings("x", duration_s=10, streams=4), reverse=True) == [
        "iperf3", "-c", "iperf.hx.edu.example", "-p", "5201", "-J", "-t", "10", "-P", "4",
        "--connect-timeout", "2000", "-R",
    ]  # fmt: skip
    assert "-R" not in iperf3_argv("h", 5201, settings("x"), reverse=False)


def test_the_figure_is_the_receiving_sides():
    assert parse_iperf3_json(json.dumps(REPORT)) == Direction(mbps=21334.52, bytes=2666921984)


@pytest.mark.parametrize(
    "error, code",
    [
        ("the server is busy running a test. try again later", "other"),
        ("unable to connect to server: Connection refused", "unreachable"),
        ("unable to connect to server: No route to host", "unreachable"),
        ("unable to connect to server - server may have stopped running: Connection timed out", "timeout"),
        ("control socket has closed unexpectedly", "protocol"),
        ("unable to receive results from the server", "protocol"),
        ("out of memory", "other"),
    ],
)
def test_iperf3_errors_get_contract_codes(error, code):
    assert iperf3_error_code(error) == code
    failed = parse_iperf3_json(json.dumps({"start": {}, "intervals": [], "end": {}, "error": error}))
    assert (failed.error, failed.mbps) == (code, None)
    assert error in failed.detail


@pytest.mark.parametrize(
    "stdout, detail",
    [
        ("iperf3: parameter error - must either be a client (-c) or server (-s)", "printed no JSON report"),
        ("[1, 2]", "not a JSON object"),
        (json.dumps({"end": {"sum_received": {"bytes": 10}}}), "no end.sum_received figures"),
    ],
)
def test_a_report_that_is_not_iperf3s_is_a_protocol_error(stdout, detail):
    failed = parse_iperf3_json(stdout)
    assert failed.error == "protocol"
    assert detail in failed.detail


def test_a_real_server_gives_both_directions_and_latency(iperf3_server):
    result = run(settings(iperf3_server))
    assert result.ok, result.detail
    assert result.download_mbps > 0 and result.upload_mbps > 0
    assert result.bytes_down > 0 and result.bytes_up > 0
    assert 0 < result.latency_ms < 100 and result.jitter_ms >= 0


def test_a_busy_server_is_reported_as_busy(iperf3_server):
    host, port = iperf3_server.split(":")
    other_school = subprocess.Popen(
        ["iperf3", "-c", host, "-p", port, "-t", "30", "--forceflush"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        wait_for_line(other_school, " connected to ")
        result = run(settings(iperf3_server))
    finally:
        other_school.terminate()
        other_school.wait(timeout=10)
    assert (result.ok, result.error) == (False, "other")
    assert "iperf3 server busy with another test" in result.detail
    assert result.latency_ms is not None  # the handshakes worked: the server is up, just busy


def test_a_server_that_is_down_is_unreachable(closed_port):
    result = run(settings(f"127.0.0.1:{closed_port}"))
    assert (result.ok, result.error, result.latency_ms) == (False, "unreachable", None)
    assert "connection refused" in result.detail


def test_without_the_iperf3_program_the_reason_says_how_to_install_it(iperf3_server, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    result = run(settings(iperf3_server))
    assert (result.ok, result.error) == (False, "other")
    assert "apt install iperf3" in result.detail


def test_a_server_that_is_not_host_port_is_a_config_error():
    result = run(settings("http://iperf.hx.edu.example/"))
    assert (result.ok, result.error) == (False, "other")
    assert "speed_test.server" in result.detail


class ResettingRelay:
    """Relays TCP connections to the iperf3 server, except connection number `reset_nth`,
    which it resets at once: a control connection broken the way a lossy line breaks it."""

    def __init__(self, upstream: str, reset_nth: int):
        host, port = upstream.split(":")
        self.upstream = (host, int(port))
        self.reset_nth = reset_nth
        self.accepted = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            if self.accepted == self.reset_nth:
                reset(client)
                continue
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        """iperf3 closes its listener for a moment after each test or empty connection:
        connect again until it listens."""
        deadline = time.monotonic() + 5
        while True:
            try:
                server = socket.create_connection(self.upstream)
                break
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    client.close()
                    return
                time.sleep(0.01)
        for source, sink in ((client, server), (server, client)):
            threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        """Bytes one way; an end as an end, a reset as a reset of both sides."""
        try:
            while data := source.recv(65536):
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            for side in (source, sink):
                reset(side)

    def close(self) -> None:
        self.listener.close()


def reset(side: socket.socket) -> None:
    try:
        side.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    side.close()


def test_a_run_whose_control_connection_is_reset_is_run_once_more(iperf3_server):
    relay = ResettingRelay(iperf3_server, reset_nth=HANDSHAKES + 1)  # the download's control connection
    try:
        result = run(settings(relay.address))
    finally:
        relay.close()
    assert result.ok, result.detail
    assert result.download_mbps > 0 and result.upload_mbps > 0


def test_only_a_broken_control_connection_is_worth_a_second_run():
    reset = Direction(error="protocol", detail="iperf3: unable to receive control message: Connection reset by peer")
    busy = Direction(error="other", detail="iperf3 server busy with another test (another school?): the server is busy")
    assert control_connection_broke(reset)
    assert not control_connection_broke(busy)
    assert not control_connection_broke(Direction(mbps=90.0, bytes=1))

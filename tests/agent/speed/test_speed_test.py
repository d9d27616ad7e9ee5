"""The speed-test interface: settings, result, WAN counters, CPU, the contract body, the CLI."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from dataclasses import replace

import psutil
import pytest

from agent.probes import speed_iperf3, speed_test
from agent.probes.speed_test import (
    Direction,
    SpeedTestResult,
    SpeedTestSettings,
    WanCounters,
    background_pct,
    busiest_core_pct,
    connect_error,
    default_route_interface,
    display_server,
    from_directions,
    human_report,
    latency_and_jitter,
    speedtest_body,
    split_host_port,
    with_wan_and_cpu,
)
from schoolnet_core import contract
from schoolnet_stack.peers.speed_http_server import SpeedHttpServer

NOW_MS = 1795570200000
ROUTES = """\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
wwan0\t00000000\t0100A8C0\t0003\t0\t0\t700\t00000000\t0\t0\t0
eth1\t0002A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0
ppp9\t00000000\t00000000\t0000\t0\t0\t0\t00000000\t0\t0\t0
"""
SETTINGS = SpeedTestSettings("iperf3", "iperf.hx.edu.example:5201")
MEASURED = SpeedTestResult(
    "iperf3", "iperf.hx.edu.example:5201", ok=True,
    download_mbps=94.2, upload_mbps=48.7, latency_ms=8.4, jitter_ms=1.3,
    bytes_down=117_750_000, bytes_up=60_875_000, duration_s=20.1, wan_interface="eth0",
    wan_rx_bytes=121_500_000, wan_tx_bytes=62_100_000, background_pct=3.1,
    cpu_max_pct=41.0, cpu_bound=False,
)  # fmt: skip


def encode(body: dict) -> contract.Message:
    payload = contract.encode("speedtest", "hx", "hx-dazhuang-zx", NOW_MS, body)
    message = contract.validate(contract.topic("hx", "hx-dazhuang-zx", "speedtest"), payload, NOW_MS)
    assert isinstance(message, contract.Message), message
    return message


# --- settings and results -----------------------------------------------------------------


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"backend": "iperf"}, "speed_test.backend"),
        ({"server": " "}, "speed_test.server"),
        ({"duration_s": 0}, "speed_test.duration_s"),
        ({"streams": 64}, "speed_test.streams"),
    ],
)
def test_settings_refuse_what_cannot_run_in_config_terms(changes, message):
    with pytest.raises(ValueError, match=message):
        replace(SETTINGS, **changes)


def test_a_result_is_either_ok_or_has_a_contract_error_code():
    with pytest.raises(ValueError, match="not both or neither"):
        SpeedTestResult("http", "x", ok=False)
    with pytest.raises(ValueError, match="not one of"):
        SpeedTestResult("http", "x", ok=False, error="busy")


def test_the_first_failing_direction_decides_and_measured_figures_are_kept():
    download = Direction(mbps=47.9, bytes=30_000_000)
    upload = Direction(bytes=1000, error="protocol", detail="POST /empty answered 500")
    result = from_directions(SETTINGS, download, upload, latency_ms=10.5, jitter_ms=0.2)
    assert (result.ok, result.error, result.detail) == (False, "protocol", "POST /empty answered 500")
    assert (result.download_mbps, result.bytes_down, result.bytes_up, result.latency_ms) == (47.9, 30_000_000, 1000, 10.5)
    assert from_directions(SETTINGS, download, Direction(mbps=40.0, bytes=1)).ok


@pytest.mark.parametrize(
    "server, shown",
    [
        ("iperf.hx.edu.example:5201", "iperf.hx.edu.example:5201"),
        ("https://speed:s3cret@speed.hx.edu.example/st?token=abc", "https://speed.hx.edu.example/st"),
        ("http://10.0.0.1:8080/speedtest/upload.php", "http://10.0.0.1:8080/speedtest/upload.php"),
    ],
)
def test_the_server_is_shown_without_user_password_or_query(server, shown):
    assert display_server(server) == shown
    assert "s3cret" not in speed_test.failed(replace(SETTINGS, server=server), "other", "x").server


@pytest.mark.parametrize(
    "server, expected",
    [("iperf.hx.edu.example", ("iperf.hx.edu.example", 5201)), ("10.0.0.1:5202", ("10.0.0.1", 5202)),
     ("[2001:db8::1]:5203", ("2001:db8::1", 5203))],
)  # fmt: skip
def test_host_and_port_are_read_like_the_config_writes_them(server, expected):
    assert split_host_port(server, 5201) == expected


@pytest.mark.parametrize("server", ["iperf:http", "http://iperf/", "user@iperf:5201", ":5201"])
def test_a_server_that_is_not_host_port_is_refused(server):
    with pytest.raises(ValueError, match="is not HOST"):
        split_host_port(server, 5201)


# --- latency, background, CPU ----------------------------------------------------------------


def test_latency_is_the_median_and_jitter_the_mean_step_between_samples():
    assert latency_and_jitter([10.0, 12.0, 11.0, 1000.0, 10.0]) == (11.0, 495.5)
    assert latency_and_jitter([10.0]) == (10.0, None)
    assert latency_and_jitter([]) == (None, None)


def test_background_is_the_wan_traffic_beyond_the_test_and_its_headers():
    assert background_pct(test_bytes=1_000_000, wan_bytes=1_055_000) == 0.0  # headers only
    assert background_pct(test_bytes=1_000_000, wan_bytes=2_110_000) == 50.0
    assert background_pct(test_bytes=0, wan_bytes=5_000) == 100.0


def test_background_cannot_be_told_when_the_test_did_not_cross_the_interface():
    assert background_pct(test_bytes=1_000_000, wan_bytes=0) is None
    assert background_pct(test_bytes=1_000_000, wan_bytes=400_000) is None  # wrong wan_interface


def test_the_result_gets_the_counters_cpu_and_wall_time_around_it():
    result = from_directions(SETTINGS, Direction(mbps=40.0, bytes=60_000_000), Direction(mbps=20.0, bytes=30_000_000))
    seen = with_wan_and_cpu(
        result, "eth0", WanCounters(1_000, 5_000), WanCounters(121_001_000, 31_505_000), 95.5, 21.234
    )
    assert (seen.wan_interface, seen.wan_rx_bytes, seen.wan_tx_bytes) == ("eth0", 121_000_000, 31_500_000)
    assert seen.background_pct == 37.7  # 152.5 MB crossed, 94.95 MB of it the test's
    assert (seen.cpu_max_pct, seen.cpu_bound, seen.duration_s) == (95.5, True, 21.23)
    unknown = with_wan_and_cpu(result, None, None, None, None, 1.0)
    assert (unknown.wan_rx_bytes, unknown.background_pct, unknown.cpu_bound) == (None, None, None)


def cpu_times(**seconds: float):
    """A psutil per-core sample with the given fields (others zero)."""
    fields = psutil.cpu_times(percpu=True)[0]._fields
    return psutil.cpu_times(percpu=True)[0]._make(seconds.get(name, 0.0) for name in fields)


def test_the_busiest_core_counts_everything_but_idle_and_iowait():
    before = [cpu_times(user=10, idle=100), cpu_times(user=10, idle=100)]
    after = [
        cpu_times(user=10.2, system=0.1, idle=100.2, iowait=0.5, guest=0.2),  # 30 % busy
        cpu_times(user=10.9, idle=100.1),  # 90 % busy
    ]
    assert busiest_core_pct(before, after) == 90.0


def test_a_few_milliseconds_of_cpu_time_give_no_figure():
    """One 10 ms kernel tick over 20 ms would read as 50 % or 100 %, whatever the load."""
    assert busiest_core_pct([cpu_times(idle=100)], [cpu_times(user=0.01, idle=100.01)]) is None


def test_the_cpu_watch_sees_a_busy_core():
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        psutil.Process(busy.pid).cpu_affinity([0])  # one core, kept busy
        watch = speed_test.CpuWatch(every_s=0.3).start()
        while psutil.Process(busy.pid).cpu_times().user < 1.0:  # a second burnt while watched
            time.sleep(0.05)
        watch.stop()
    finally:
        busy.kill()
        busy.wait()
    assert watch.busiest_pct > 80


# --- the WAN interface ----------------------------------------------------------------------


def test_the_default_route_with_the_lowest_metric_names_the_wan_interface():
    assert default_route_interface(ROUTES) == "eth0"


def test_no_default_route_no_interface():
    assert default_route_interface(ROUTES.splitlines()[0] + "\n" + ROUTES.splitlines()[2]) is None
    assert default_route_interface("") is None


def test_this_machines_route_table_agrees_with_ip_route():
    shown = subprocess.run(["ip", "-4", "-j", "route", "show", "default"], capture_output=True, text=True, check=True)
    routes = sorted(json.loads(shown.stdout), key=lambda route: route.get("metric", 0))
    expected = routes[0]["dev"] if routes else None
    with open("/proc/net/route") as table:
        assert default_route_interface(table.read()) == expected


def test_a_missing_wan_interface_leaves_the_counters_out():
    assert speed_test.read_wan_counters("nosuch0") is None
    assert speed_test.read_wan_counters(None) is None
    counters = speed_test.read_wan_counters("lo")
    assert counters.rx_bytes >= 0 and counters.tx_bytes >= 0


# --- errors ---------------------------------------------------------------------------------


def test_connection_failures_get_contract_codes_and_a_next_step():
    assert connect_error(ConnectionRefusedError(111, "refused"), "iperf3 server h:1", 5) == (
        "unreachable", "iperf3 server h:1: connection refused (is the test server running on that port?)"
    )  # fmt: skip
    assert connect_error(socket.timeout("timed out"), "h:1", 2)[0] == "timeout"
    assert connect_error(socket.gaierror(-2, "Name or service not known"), "h:1", 2) == (
        "unreachable", "h:1: cannot resolve the host name (Name or service not known)"
    )  # fmt: skip
    assert connect_error(OSError(113, "No route to host"), "h:1", 2) == ("unreachable", "h:1: No route to host")


def test_a_backend_bug_becomes_a_failed_result_not_a_dead_daemon(monkeypatch, caplog):
    def broken(settings):
        raise KeyError("end")

    monkeypatch.setattr(speed_iperf3, "run", broken)
    result = speed_test.run_speed_test(replace(SETTINGS, wan_interface="lo"))
    assert (result.ok, result.error, result.detail) == (False, "other", "unexpected KeyError: 'end'")
    assert result.wan_interface == "lo" and result.duration_s is not None
    assert "failed unexpectedly" in caplog.text


# --- the contract body ----------------------------------------------------------------------


def test_the_body_is_the_contracts_example_message():
    body = speedtest_body(MEASURED, "scheduled", target_mbps=100)
    example = {
        "backend": "iperf3", "server": "iperf.hx.edu.example:5201", "trigger": "scheduled", "ok": True,
        "download_mbps": 94.2, "upload_mbps": 48.7, "latency_ms": 8.4, "jitter_ms": 1.3,
        "bytes_down": 117750000, "bytes_up": 60875000, "duration_s": 20.1,
        "wan_rx_bytes": 121500000, "wan_tx_bytes": 62100000, "background_pct": 3.1,
        "cpu_max_pct": 41.0, "cpu_bound": False, "target_mbps": 100,
    }  # fmt: skip
    assert body == example
    assert encode(body).body == example


def test_a_failed_test_is_a_valid_message_without_the_figures_it_lacks():
    failed = speed_test.failed(SETTINGS, "unreachable", "connection refused")
    body = speedtest_body(failed, "on_demand", target_mbps=100)
    assert encode(body).body == {
        "backend": "iperf3", "server": "iperf.hx.edu.example:5201", "trigger": "on_demand",
        "ok": False, "error": "unreachable", "target_mbps": 100,
    }  # fmt: skip


def test_a_figure_outside_the_contract_fails_loudly_on_encoding():
    body = speedtest_body(replace(MEASURED, latency_ms=1_800_000.0), "scheduled", target_mbps=100)
    with pytest.raises(ValueError, match="latency_ms"):
        contract.encode("speedtest", "hx", "hx-dazhuang-zx", NOW_MS, body)


# --- by hand --------------------------------------------------------------------------------


def test_the_report_for_people_is_chinese_with_english():
    text = human_report(replace(MEASURED, cpu_bound=True))
    assert "下载 Download: 94.2 Mbit/s" in text
    assert "出口网卡 WAN eth0 其他流量 background: 3.1 %" in text
    assert "CPU 满载" in text and "saturated" in text
    failed = human_report(speed_test.failed(SETTINGS, "timeout", "iperf3 server: no answer within 5 s"))
    assert "失败 FAILED" in failed and "测速服务器无响应 server timed out - iperf3 server: no answer" in failed


def test_the_entry_point_prints_one_json_result(capsys):
    peer = SpeedHttpServer().start()
    try:
        code = speed_test.main(["--backend", "http", "--server", peer.url, "--duration", "1", "--json",
                                "--wan-interface", "lo"])  # fmt: skip
    finally:
        peer.stop()
    result = SpeedTestResult(**json.loads(capsys.readouterr().out))
    assert code == 0
    assert result.ok and result.download_mbps > 0 and result.upload_mbps > 0
    assert result.wan_interface == "lo" and result.wan_rx_bytes > 0


def test_the_entry_point_exits_1_with_the_reason_when_the_test_fails(capsys):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        port = closed.getsockname()[1]
        code = speed_test.main(["--backend", "iperf3", "--server", f"127.0.0.1:{port}", "--wan-interface", "lo"])
    assert code == 1
    assert "原因 Reason: 测速服务器不可达 server unreachable" in capsys.readouterr().out


def test_the_entry_point_refuses_bad_settings(capsys):
    with pytest.raises(SystemExit) as exit_info:
        speed_test.main(["--backend", "http", "--server", "http://x", "--streams", "0"])
    assert exit_info.value.code == 2
    assert "speed_test.streams" in capsys.readouterr().err

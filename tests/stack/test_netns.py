"""Shaped links: the tc commands (pure), then real namespaces measured with iperf3 and fping."""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import time

import pytest

from schoolnet_stack import netns
from schoolnet_stack.netns import Link, Shaping, stale_namespaces, tbf_argv
from schoolnet_stack.requirements import require_binary, require_netns

# -- pure: no root needed ------------------------------------------------------------------------


def test_tbf_argv_for_50_mbit_in_a_namespace():
    assert tbf_argv("sn0a", 50, "sn-1-ab-a") == [
        "tc", "-n", "sn-1-ab-a", "qdisc", "replace", "dev", "sn0a", "root",
        "tbf", "rate", "50000kbit", "burst", "62500", "latency", "100ms",
    ]  # fmt: skip


def test_tbf_argv_keeps_a_bucket_of_at_least_16_kib_for_slow_rates():
    assert tbf_argv("sn0a", 0.5)[-5:] == ["500kbit", "burst", "16384", "latency", "100ms"]


def test_tbf_argv_without_rate_resets_to_a_plain_fifo():
    assert tbf_argv("sn0a", None) == ["tc", "qdisc", "replace", "dev", "sn0a", "root", "pfifo", "limit", "1000"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"rate_mbit": 0}, "rate_mbit must be > 0"),
        ({"delay_ms": -1}, "delay_ms must be >= 0"),
        ({"loss_pct": 101}, "loss_pct must be <= 100"),
    ],
)
def test_shaping_refuses_impossible_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Shaping(**kwargs)


def test_shaping_tells_the_wire_what_to_do():
    assert Shaping(rate_mbit=10, delay_ms=40, loss_pct=1).wire_control(cut=False) == {
        "delay_ms": 40, "jitter_ms": 0, "loss_pct": 1, "cut": False,
    }  # fmt: skip


def test_only_namespaces_of_dead_processes_are_stale():
    names = ["sn-100-abc123-a", "sn-200-abc123-b", "sn-300-probe", "other-100", "sn-x-1-a"]
    assert stale_namespaces(names, pid_alive=lambda pid: pid == 200) == ["sn-100-abc123-a", "sn-300-probe"]


def test_device_names_fit_the_kernel_limit():
    link = Link()
    assert all(len(dev) <= 15 for dev in link.dev.values())
    assert link.dev["a"] != link.dev["b"]


# -- real links ----------------------------------------------------------------------------------


def fping_rtts(
    link: Link, target: str, count: int, period_ms: int = 100, timeout_ms: int = 1000, side: str = "a"
) -> list[float | None]:
    """Per-probe RTTs in ms (None = lost).

    -i 1: else fping's 10 ms minimum gap between probes overrides a shorter -p.
    -t always: with -C, fping's timeout otherwise drops to the period, and replies slower
    than that count as lost.
    """
    require_binary("fping")
    argv = ["fping", "-C", str(count), "-p", str(period_ms), "-i", "1", "-t", str(timeout_ms), "-q", target]
    result = link.run_in(side, argv, timeout=60)
    match = re.search(rf"^{re.escape(target)}\s*:\s*(.*)$", result.stderr, re.MULTILINE)
    assert match, f"unexpected fping output: {result.stdout}{result.stderr}"
    return [None if value == "-" else float(value) for value in match.group(1).split()]


def iperf3_mbit(link: Link, seconds: int, reverse: bool = False) -> float:
    """Goodput in Mbit/s that the receiver counted, slow start (first second) omitted."""
    require_binary("iperf3")
    server = link.popen_in("b", ["iperf3", "-s", "-1", "-B", link.b_ip], stdout=subprocess.DEVNULL)
    try:
        argv = ["iperf3", "-c", link.b_ip, "-t", str(seconds), "-O", "1", "-J"] + (["-R"] if reverse else [])
        for _ in range(50):  # until the server listens
            result = link.run_in("a", argv, timeout=seconds + 30)
            if "Connection refused" not in result.stdout:
                break
            time.sleep(0.1)
        report = json.loads(result.stdout)
        assert "error" not in report, report["error"]
        return report["end"]["sum_received"]["bits_per_second"] / 1e6
    finally:
        server.kill()
        server.wait()


@pytest.mark.netns
def test_a_50_mbit_link_measures_50_mbit_both_ways(netns_link):
    link = netns_link(rate_mbit=50)
    forward = iperf3_mbit(link, seconds=5)
    backward = iperf3_mbit(link, seconds=3, reverse=True)
    # TCP/IP headers take 3.5 % of a 1500-byte packet: expect about 48.3 Mbit/s of goodput.
    assert 45 <= forward <= 55, forward
    assert 45 <= backward <= 55, backward


@pytest.mark.netns
def test_a_40_ms_delay_gives_an_80_ms_round_trip_and_can_change(netns_link):
    link = netns_link(delay_ms=40)
    assert_round_trips(fping_rtts(link, link.b_ip, count=10), expected_ms=80)

    link.update_shaping(delay_ms=10)
    assert_round_trips(fping_rtts(link, link.b_ip, count=5), expected_ms=20)


def assert_round_trips(rtts: list[float | None], expected_ms: float) -> None:
    """None lost, none faster than the delay (impossible), the median within 4 ms of it;
    single probes may run late on a busy machine."""
    assert None not in rtts, rtts
    assert min(rtts) >= expected_ms - 0.5, rtts
    assert expected_ms - 0.5 <= statistics.median(rtts) <= expected_ms + 4, rtts
    # The first probe may also wait for a busy machine to schedule the wire process.
    assert sorted(rtts)[-2] <= expected_ms + 20, rtts


@pytest.mark.netns
def test_jitter_spreads_round_trips_without_losing_packets(netns_link):
    link = netns_link(delay_ms=40, jitter_ms=10)
    rtts = fping_rtts(link, link.b_ip, count=20, period_ms=50)
    assert None not in rtts, rtts
    assert min(rtts) >= 59.5, rtts  # 80 - 2 x 10: nothing can beat the delay
    assert sorted(rtts)[-2] <= 110, rtts  # 80 + 2 x 10, plus slack for one late probe
    assert max(rtts) - min(rtts) > 5, rtts  # 40 jittered packets cannot all agree


@pytest.mark.netns
def test_loss_applies_to_each_direction(netns_link):
    link = netns_link(loss_pct=30)
    rtts = fping_rtts(link, link.b_ip, count=400, period_ms=5, timeout_ms=200)
    lost = sum(rtt is None for rtt in rtts) / len(rtts)
    assert 0.40 <= lost <= 0.62, lost  # 1 - 0.7 ** 2 = 0.51 of round trips are lost
    counters = link.wire_counters()
    assert counters["dropped"] > 0 and counters["forwarded"] > 0, counters


@pytest.mark.netns
def test_cut_drops_everything_until_restored(netns_link):
    link = netns_link(delay_ms=5)
    link.cut()
    assert fping_rtts(link, link.b_ip, count=3) == [None, None, None]
    link.restore()
    assert_round_trips(fping_rtts(link, link.b_ip, count=3), expected_ms=10)


@pytest.mark.netns
def test_side_a_in_our_namespace_reaches_b_through_the_link(netns_link):
    link = netns_link(delay_ms=20, a_in_root=True)
    assert link.a_ns is None and link.b_ns is not None
    assert link.a_ip in subprocess.run(["ip", "-4", "addr", "show", "dev", link.dev["a"]], capture_output=True,
                                       text=True, check=True).stdout  # fmt: skip
    assert_round_trips(fping_rtts(link, link.b_ip, count=3), expected_ms=40)


@pytest.mark.netns
def test_closing_a_link_removes_namespaces_devices_and_wire():
    require_netns()
    with Link(delay_ms=1, a_in_root=True) as link:
        wire = link._wire
        leftover = link.popen_in("b", ["sleep", "60"])
        assert link.b_ns in netns.list_namespaces()
    assert link.b_ns not in netns.list_namespaces()
    assert wire.poll() is not None
    assert leftover.wait(timeout=5) == -9  # killed, not left holding the namespace
    devices = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    assert link.dev["a"] not in devices


@pytest.mark.netns
def test_cleanup_stale_removes_only_dead_runs_namespaces():
    require_netns()
    dead_pid = _unused_pid()
    dead = netns.namespace_name(dead_pid, "dead00", "a")
    alive = netns.namespace_name(os.getpid(), "live00", "a")
    for name in (dead, alive):
        subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        assert dead in netns.cleanup_stale()
        remaining = netns.list_namespaces()
        assert dead not in remaining and alive in remaining
    finally:
        for name in (dead, alive):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def _unused_pid() -> int:
    pid = 4_000_000
    while os.path.exists(f"/proc/{pid}"):
        pid += 1
    return pid

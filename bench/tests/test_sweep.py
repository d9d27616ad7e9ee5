from __future__ import annotations

import ipaddress
from collections import Counter
from pathlib import Path

import pytest

from bench.sweep import (
    ADDRESSES,
    FPING,
    FPING_FAST,
    FPING_SCHEDULE,
    LOCAL,
    Run,
    alive_count,
    device_plan,
    fping_anchors,
    interleave,
    median_run,
    per_echo_wait_s,
)


@pytest.mark.parametrize("method", ["icmp", "tcp"])
def test_500_devices_in_the_planned_mix_each_at_its_own_address(method):
    devices = device_plan(method)

    assert Counter(d.expected for d in devices) == {"up": 300, "down": 100, "slow": 100}
    assert len({(d.host, d.port) for d in devices}) == 500
    for device in devices:
        assert ipaddress.ip_address(device.host) in ipaddress.ip_network(ADDRESSES[method, device.expected])


def test_a_tcp_device_that_is_down_is_on_the_lan_with_its_port_closed():
    down = [d for d in device_plan("tcp") if d.expected == "down"]
    assert {d.port for d in down} == {81}
    assert all(ipaddress.ip_address(d.host) in ipaddress.ip_network(LOCAL) for d in down)
    assert {d.port for d in device_plan("icmp")} == {None}


def test_kinds_are_spread_evenly_not_grouped():
    order = interleave({"up": 6, "down": 2, "slow": 2})
    assert Counter(order) == {"up": 6, "down": 2, "slow": 2}
    assert all(Counter(order[start:start + 5])["up"] == 3 for start in (0, 5))


def test_fping_gets_the_agents_echoes_and_wait_per_echo():
    assert per_echo_wait_s(2.0) == pytest.approx(4 / 3)

    anchors = fping_anchors(Path("hosts.txt"), 2.0)

    assert anchors[FPING][:9] == ["fping", "-a", "-q", "-r", "2", "-B", "1", "-t", "1333"]
    assert anchors[FPING_FAST][-2:] == ["-i", "1"]
    assert " ".join(anchors[FPING_SCHEDULE]).startswith("fping -q -c 3 -p 333 -t 1333 -i 1")


def test_alive_hosts_are_counted_from_either_fping_output():
    assert alive_count("10.214.16.1\n10.214.16.2\n", "") == 2
    per_host = ("10.214.16.1 : xmt/rcv/%loss = 3/3/0%, min/avg/max = 0.016/0.069/0.164\n"
                "10.214.32.1 : xmt/rcv/%loss = 3/0/100%\n"
                "10.214.16.2 : xmt/rcv/%loss = 3/1/66%, min/avg/max = 0.024/0.026/0.029\n")
    assert alive_count("", per_host) == 2


def test_the_median_run_keeps_its_own_cpu_and_counts():
    runs = [Run("a", wall, cpu, 300, wall, {}) for wall, cpu in ((3.0, 0.3), (1.0, 0.1), (2.0, 0.2))]
    assert (median_run(runs).wall_s, median_run(runs).cpu_s) == (2.0, 0.2)

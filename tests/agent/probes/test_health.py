from __future__ import annotations

import asyncio
import json
from collections import namedtuple

import psutil

from agent import __version__
from agent.probes.health import (
    cpu_busy_pct,
    existing_ancestor,
    health_body,
    read_health,
)
from schoolnet_core import contract

TS = 1_795_570_200_000
Times = namedtuple("Times", "user nice system idle iowait irq softirq steal guest guest_nice")


def test_cpu_busy_share_counts_iowait_as_idle_and_guest_once():
    before = Times(100, 0, 50, 800, 50, 0, 0, 0, 10, 0)
    after = Times(160, 0, 70, 880, 70, 0, 0, 0, 30, 0)  # +80 busy, +100 idle or waiting

    assert cpu_busy_pct(before, after) == 44.4  # 80 / 180; guest is inside user already


def test_no_time_passing_reads_as_idle():
    same = Times(1, 0, 1, 1, 0, 0, 0, 0, 0, 0)

    assert cpu_busy_pct(same, same) == 0.0


def test_disk_use_is_read_where_the_spool_will_be(tmp_path):
    assert existing_ancestor(tmp_path / "not" / "yet" / "spool.sqlite") == tmp_path
    assert existing_ancestor(tmp_path) == tmp_path


def test_the_gateway_reads_in_range_and_encodes(tmp_path):
    health = asyncio.run(read_health(str(tmp_path / "spool.sqlite"), 12, 30.5, 2, cpu_sample_s=0.05))

    assert health.agent_version == __version__
    assert 0 <= health.cpu_pct <= 100 and 0 < health.mem_pct <= 100 and 0 < health.disk_pct <= 100
    assert health.disk_pct == psutil.disk_usage(str(tmp_path)).percent
    assert health.uptime_s > 0
    payload = contract.encode("health", "hx", "hx-dazhuang-zx", TS, health_body(health))
    body = json.loads(payload)
    assert (body["spool_depth"], body["spool_oldest_age_s"], body["spool_dropped_total"]) == (12, 30.5, 2)
    assert body["agent_version"] == __version__

"""Gateway and agent health: is the machine the agent runs on fit to measure?

A gateway with a full disk cannot spool, a busy CPU makes speed tests under-report, an
uptime near zero explains a gap on the boards. Disk use is that of the spool's own
filesystem, the one that must not fill; the spool's figures come from the caller, since
only the spool knows them.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from agent import __version__


@dataclass(frozen=True)
class Health:
    agent_version: str
    cpu_pct: float
    mem_pct: float
    disk_pct: float
    uptime_s: float
    spool_depth: int
    spool_oldest_age_s: float
    spool_dropped_total: int


async def read_health(
    spool_path: str,
    spool_depth: int,
    spool_oldest_age_s: float,
    spool_dropped_total: int,
    cpu_sample_s: float = 0.5,
) -> Health:
    """Samples the CPU over `cpu_sample_s` s without blocking the agent's other probes."""
    before = psutil.cpu_times()
    await asyncio.sleep(cpu_sample_s)
    cpu = cpu_busy_pct(before, psutil.cpu_times())
    return Health(
        agent_version=__version__,
        cpu_pct=cpu,
        mem_pct=psutil.virtual_memory().percent,
        disk_pct=psutil.disk_usage(str(existing_ancestor(Path(spool_path)))).percent,
        uptime_s=round(max(0.0, time.time() - psutil.boot_time()), 1),
        spool_depth=spool_depth,
        spool_oldest_age_s=spool_oldest_age_s,
        spool_dropped_total=spool_dropped_total,
    )


def cpu_busy_pct(before, after) -> float:
    """Busy share of all CPUs between two psutil.cpu_times() samples, as psutil counts
    it: idle and iowait are idle; guest time is already inside user time.

    Our own two samples, not psutil.cpu_percent(), whose module-wide last sample is
    shared with every other caller in the agent (the speed test watches the CPU too)."""
    total = _all_time(after) - _all_time(before)
    if total <= 0:
        return 0.0
    idle = _idle_time(after) - _idle_time(before)
    return round(min(100.0, max(0.0, 100 * (total - idle) / total)), 1)


def _all_time(times) -> float:
    return sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)


def _idle_time(times) -> float:
    return times.idle + getattr(times, "iowait", 0.0)


def existing_ancestor(path: Path) -> Path:
    """`path` or its nearest existing parent: before the first message the spool file
    may not exist yet, but the filesystem it will live on does."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def health_body(health: Health) -> dict:
    """The contract's "health" body for `health`."""
    return dict(vars(health))

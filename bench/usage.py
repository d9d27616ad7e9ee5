"""CPU and memory of the processes a benchmark runs, sampled with psutil.

CPU is counted from the kernel's own per-process totals (user + system, plus children the
process has waited for, such as the agent's iperf3), so a sample missed costs resolution,
never CPU time. Memory is the resident set (RSS) at each sample: its peak and its mean.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import psutil

MB = 1024 * 1024


@dataclass(frozen=True)
class Sample:
    at_s: float
    """time.monotonic() when taken."""
    rss_bytes: int
    cpu_s: float
    """CPU seconds used since the process started (user + system, waited-for children too)."""


@dataclass(frozen=True)
class Usage:
    """One process over a window: `seconds` of wall time, `cpu_s` of CPU in it."""

    seconds: float
    cpu_s: float
    rss_peak_mb: float
    rss_mean_mb: float
    samples: int

    @property
    def cpu_pct(self) -> float:
        """Average use in % of one core (100 = one core busy all the time)."""
        return 100 * self.cpu_s / self.seconds if self.seconds > 0 else 0.0


def usage_of(samples: Sequence[Sample]) -> Usage | None:
    """The window from the first sample to the last; None with fewer than two."""
    if len(samples) < 2:
        return None
    rss = [sample.rss_bytes for sample in samples]
    return Usage(
        seconds=samples[-1].at_s - samples[0].at_s,
        cpu_s=max(0.0, samples[-1].cpu_s - samples[0].cpu_s),
        rss_peak_mb=max(rss) / MB,
        rss_mean_mb=sum(rss) / len(rss) / MB,
        samples=len(samples),
    )


def sample(process: psutil.Process) -> Sample | None:
    """One sample, or None once the process is gone."""
    try:
        with process.oneshot():
            times = process.cpu_times()
            rss = process.memory_info().rss
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return None
    cpu = times.user + times.system + times.children_user + times.children_system
    return Sample(time.monotonic(), rss, cpu)


class UsageWatch:
    """Samples named processes every `every_s` seconds in a thread, until stop().

        watch = UsageWatch({"broker": broker_pid, "collector": collector_pid}).start()
        ...
        usage = watch.stop()   # {"broker": Usage, ...}
    """

    def __init__(self, pids: dict[str, int], every_s: float = 1.0) -> None:
        self.every_s = every_s
        self.samples: dict[str, list[Sample]] = {name: [] for name in pids}
        self._processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="usage-watch", daemon=True)

    def start(self) -> UsageWatch:
        self._take()
        self._thread.start()
        return self

    def stop(self) -> dict[str, Usage | None]:
        self._stop.set()
        self._thread.join()
        self._take()
        return {name: usage_of(samples) for name, samples in self.samples.items()}

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self._take()

    def _take(self) -> None:
        for name, process in self._processes.items():
            taken = sample(process)
            if taken is not None:
                self.samples[name].append(taken)


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / MB

"""5. Fleet: 10,000 simulated schools through one broker, the collector and VictoriaMetrics.

What is simulated: every school is one real MQTT v5 connection with its persistent
session, retained will, command subscription and birth, sending its realistic minute
(bench/schools.py: broadband every 30 s, classrooms, sync for rural schools, health; 4.7
messages and ~50 points a minute on average) with QoS 1, each message stamped with the
time it is sent. Four publisher processes carry 2,500 connections each
(bench/fleet_publisher.py), so the broker pays its real per-connection cost.

Measured after a warm-up (every school has sent each kind once, so every series exists in
the store), over a bounded window:
  lag   payload ts -> visible in VictoriaMetrics, for every point of the 100 marker schools
        (every 100th), found by polling the store's export API twice a second (without
        forcing a flush: what a dashboard would see, the store's own ~1 s flush included);
        beside it, the broker's PUBACK time seen by the publishers (the transport floor);
  use   CPU (% of one core) and RSS of the broker, the collector and VictoriaMetrics.
Then the arithmetic for a province of 50,000 schools: each part's CPU scaled by 5 against
what that part can use (the broker one core, a collector one core - Python - per process,
VictoriaMetrics every core of this machine), and which part runs out first.
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass

from bench import schools
from bench.central import WRITTEN, collector_config, store_every_series
from bench.plan import RunPlan, say
from bench.processes import Programs
from bench.report import Figure, Outcome, Target
from bench.usage import Usage, UsageWatch
from schoolnet_stack.processes import CollectorProcess
from schoolnet_stack.servers import Mosquitto, VictoriaMetrics, http_request

NAME = "fleet"
TITLE = "10,000 simulated schools end to end, and the arithmetic for 50,000 / 全省规模推算"


@dataclass(frozen=True)
class FleetSize:
    schools: int
    ramp_s: float
    warm_s: float
    window_s: float


FULL = FleetSize(schools=10_000, ramp_s=20, warm_s=70, window_s=180)
QUICK = FleetSize(schools=2_000, ramp_s=10, warm_s=65, window_s=40)
PUBLISHERS = 4
PROVINCE = 50_000
POLL_S = 0.5
LAG_TARGET = Target("<", 10, text="p99 < 10 s")
MARKER_SERIES = ("schoolnet_broadband_up", "schoolnet_classrooms_devices_total", "schoolnet_sync_ready",
                 "schoolnet_health_cpu_pct")  # fmt: skip
"""One series per kind: each message of a marker school puts one sample in one. (Not the
status: the collector stamps it with the time it received it.)"""
AFTER_WINDOW_S = 20
"""The store is still watched this long after the window, for the window's last points."""


# --- pure: percentiles and the province ---------------------------------------------------------


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (pct in 0-100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Part:
    """A production part under the fleet's load, and how many cores it can use at most."""

    name: str
    cpu_pct: float
    rss_mb: float
    cores: float


@dataclass(frozen=True)
class Projection:
    name: str
    cpu_pct_now: float
    cpu_pct_then: float
    capacity_pct: float

    @property
    def load(self) -> float:
        """Share of what the part can use (1.0 = saturated)."""
        return self.cpu_pct_then / self.capacity_pct if self.capacity_pct else math.inf


def project(parts: list[Part], schools_now: int, schools_then: int) -> list[Projection]:
    """CPU scales with messages, and messages with schools: linear, busiest part first."""
    factor = schools_then / schools_now
    projections = [Projection(p.name, p.cpu_pct, p.cpu_pct * factor, 100 * p.cores) for p in parts]
    return sorted(projections, key=lambda projection: projection.load, reverse=True)


def collectors_needed(collector_cpu_pct_then: float, per_collector_pct: float = 70.0) -> int:
    """Collector processes (one group) to carry the load with each under per_collector_pct
    of its core: Python runs one thread at a time, and the rest is headroom for backlogs."""
    return max(1, math.ceil(collector_cpu_pct_then / per_collector_pct))


# --- the lag -------------------------------------------------------------------------------------


class LagWatch:
    """Polls the store for the marker schools' samples and notes when each first shows."""

    def __init__(self, store_url: str) -> None:
        self.store_url = store_url
        self.seen: dict[tuple, float] = {}
        """(series labels, ts ms) -> wall time it was first seen."""
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lag-watch", daemon=True)

    def start(self) -> LagWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def lags_s(self, from_ms: int, to_ms: int) -> list[float]:
        """Seconds from ts to visible, for samples stamped in [from_ms, to_ms)."""
        seen_so_far = dict(self.seen)  # the poller may still be adding
        return [seen - ts / 1000 for (_, ts), seen in seen_so_far.items() if from_ms <= ts < to_ms]

    def _run(self) -> None:
        while not self._stop.wait(POLL_S):
            try:
                self._poll()
            except (OSError, ValueError):
                self.errors += 1

    def _poll(self) -> None:
        names = "|".join(MARKER_SERIES)
        params = {"match[]": f'{{__name__=~"{names}",school=~"m.*"}}', "start": f"{time.time() - 300:.0f}"}
        status, body = http_request(f"{self.store_url}/api/v1/export?{urllib.parse.urlencode(params)}")
        now = time.time()
        if status != 200:
            raise ValueError(f"export answered {status}")
        for line in body.splitlines():
            if line.strip():
                row = json.loads(line)
                labels = tuple(sorted(row["metric"].items()))
                for ts in row["timestamps"]:
                    self.seen.setdefault((labels, ts), now)


# --- running the fleet ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Observed:
    size: FleetSize
    lags_s: list
    ack_ms: list
    usage: dict
    sent: int
    written: float
    publishers: list
    late_s: float = 0.0
    """How much of the window went by waiting for footprint's speed test (normally none)."""


def raise_file_limit() -> None:
    """One socket per school: the broker (started by this process) needs 10,000 and more."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def observe(plan: RunPlan, size: FleetSize) -> Observed:
    raise_file_limit()
    with Mosquitto(plan.scratch("fleet-broker")) as broker, \
            VictoriaMetrics(plan.scratch("fleet-store")) as store, Programs() as programs:
        say(f"fleet: every school's series into the store first ({size.schools:,} schools)")
        store_every_series(store, size.schools)
        collector = CollectorProcess(collector_config(plan.scratch(NAME), "fleet-1", "fleet", broker.port, store.url))
        lag = LagWatch(store.url)
        try:
            collector.start()
            lag.start()
            return run_fleet(plan, size, programs, {"broker": broker, "collector": collector, "store": store}, lag)
        finally:
            lag.stop()
            collector.stop()


def run_fleet(plan: RunPlan, size: FleetSize, programs: Programs, parts: dict, lag: LagWatch) -> Observed:
    """Connects the schools, lets them warm up, then watches the window."""
    window_from = time.time() + size.ramp_s + size.warm_s
    say(f"fleet: {size.schools:,} schools connecting over {size.ramp_s:g} s, warming up {size.warm_s:g} s")
    publishers = start_publishers(programs, parts["broker"].port, size, window_from)
    plan.pause(window_from - time.time())
    plan.wait_links_quiet(NAME)  # footprint's speed test: normally long over by now
    late_s = max(0.0, time.time() - window_from)
    say(f"fleet: measuring for {size.window_s:g} s")
    pids = {"broker": parts["broker"].process.pid, "collector": parts["collector"].pid,
            "victoria-metrics": parts["store"].process.pid,
            **{f"publisher {index}": process.pid for index, process in enumerate(publishers)}}  # fmt: skip
    before, watch = parts["collector"].metrics(), UsageWatch(pids, every_s=2).start()
    plan.pause(size.window_s)
    usage, after = watch.stop(), parts["collector"].metrics()
    plan.pause(AFTER_WINDOW_S)
    counts = [json.loads(process.communicate(timeout=120)[0].splitlines()[-1]) for process in publishers]
    window = (int(window_from * 1000), int((window_from + size.window_s) * 1000))
    return Observed(size, lag.lags_s(*window), [ms for c in counts for ms in c.pop("ack_ms")], usage,
                    sum(c["sent_measured"] for c in counts), after.get(WRITTEN, 0) - before.get(WRITTEN, 0), counts,
                    late_s)


def start_publishers(programs: Programs, port: int, size: FleetSize, measure_after: float) -> list:
    per = size.schools // PUBLISHERS
    run_s = size.warm_s + size.window_s + AFTER_WINDOW_S / 2
    processes = []
    for index in range(PUBLISHERS):
        count = per if index < PUBLISHERS - 1 else size.schools - per * index
        argv = [sys.executable, "-m", "bench.fleet_publisher", "--port", str(port), "--first", str(index * per),
                "--count", str(count), "--ramp", str(size.ramp_s), "--run", str(run_s),
                "--measure-after", f"{measure_after:.3f}",
                "--measure-until", f"{measure_after + size.window_s:.3f}"]  # fmt: skip
        processes.append(programs.start(argv, stdout=subprocess.PIPE, text=True))
    return processes


def parts_of(usage: dict[str, Usage | None]) -> list[Part]:
    """The production parts (publishers are the simulation, not the system)."""
    cores = {"broker": 1, "collector": 1, "victoria-metrics": os.cpu_count() or 1}
    return [Part(name, usage[name].cpu_pct, usage[name].rss_peak_mb, cores[name])
            for name in cores if usage.get(name) is not None]  # fmt: skip


def fleet_figures(seen: Observed) -> list[Figure]:
    schools_now = seen.size.schools
    figures = [
        Figure(f"lag ts -> visible in store, p99, {schools_now:,} schools", percentile(seen.lags_s, 99), "s",
               "broker PUBACK p99", _ms_to_s(percentile(seen.ack_ms, 99)), LAG_TARGET, like_for_like=False),
        Figure(f"lag ts -> visible in store, p50, {schools_now:,} schools", percentile(seen.lags_s, 50), "s",
               "broker PUBACK p50", _ms_to_s(percentile(seen.ack_ms, 50)), like_for_like=False),
    ]
    for part in parts_of(seen.usage):
        figures.append(Figure(f"{part.name} CPU at {schools_now:,} schools", part.cpu_pct, "% of a core",
                              note=f"RSS peak {part.rss_mb:.0f} MB"))
    for projection in project(parts_of(seen.usage), schools_now, PROVINCE):
        figures.append(Figure(f"{projection.name} CPU at {PROVINCE:,} schools (projected)", projection.cpu_pct_then,
                              "% of a core", "what it can use", projection.capacity_pct,
                              note=f"{projection.load:.0%} of it"))
    return figures


def _ms_to_s(value: float | None) -> float | None:
    return None if value is None else value / 1000


def fleet_notes(seen: Observed) -> tuple[str, ...]:
    size = seen.size
    messages_min, points_min = schools.minute_load(size.schools)
    projections = project(parts_of(seen.usage), size.schools, PROVINCE)
    collector_then = next((p.cpu_pct_then for p in projections if p.name == "collector"), 0.0)
    first = projections[0] if projections else None
    refused = sum(c["refused"] + c["failed"] + c["lost_connections"] for c in seen.publishers)
    notes = [
        (f"{size.schools:,} schools ({PUBLISHERS} publisher processes), {messages_min / 60:,.0f} messages/s and "
         f"{points_min / 60:,.0f} points/s planned; connected over {size.ramp_s:g} s, {size.warm_s:g} s warm-up, "
         f"measured over {size.window_s:g} s: {seen.sent / size.window_s:,.0f} messages/s sent, "
         f"{seen.written / size.window_s:,.0f} points/s written. Connections refused, failed or lost: {refused}."),
        (f"Lag: {len(seen.lags_s)} samples of the {size.schools // schools.MARKER_EVERY} marker schools; "
         f"p50 {_text(percentile(seen.lags_s, 50))}, p90 {_text(percentile(seen.lags_s, 90))}, "
         f"p99 {_text(percentile(seen.lags_s, 99))}, max {_text(max(seen.lags_s, default=None))}; resolution "
         f"{POLL_S:g} s (the poll). It includes the collector's batch wait (max_wait_s 1 s) and the store's flush."),
        ("Usage (% of one core, RSS peak): " + "; ".join(
            f"{name} {u.cpu_pct:.1f}% {u.rss_peak_mb:.0f} MB" for name, u in seen.usage.items() if u)),
    ]
    if seen.late_s > 1:
        notes.append(f"The usage window began {seen.late_s:.0f} s late, after footprint's speed test ended.")
    if first is not None:
        notes.append(
            f"{PROVINCE:,} schools, linearly: {', '.join(f'{p.name} {p.cpu_pct_then:.0f}% of {p.capacity_pct:.0f}%' for p in projections)}. "
            f"First to saturate: {first.name} ({first.load:.0%} of what it can use). Collectors needed in one "
            f"shared group at <= 70% of a core each: {collectors_needed(collector_then)}.")
    return tuple(notes)


def _text(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds:.2f} s"


def run(plan: RunPlan) -> Outcome:
    seen = observe(plan, QUICK if plan.quick else FULL)
    details = {"lags_s": sorted(seen.lags_s), "usage": {k: vars(v) if v else None for k, v in seen.usage.items()},
               "publishers": seen.publishers}
    return Outcome(NAME, TITLE, tuple(fleet_figures(seen)), fleet_notes(seen), details)

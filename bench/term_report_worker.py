"""The process that makes the term report for the benchmark (bench/term_report.py):

    python -m bench.term_report_worker --store URL --days 120 --out DIR [--profile FILE]

It does what `schoolnet-report --all --term NAME --format xlsx,csv,html,pdf` does for each
county (report.cli.make_report: gather, build, write each format, Chromium for the PDF),
in stages so each is timed, and prints one JSON line: the stages, the time spent waiting
on VictoriaMetrics per endpoint (report.query.Store's own HTTP calls, timed around them),
and its peak RSS (getrusage: its own, and its children's, i.e. Chromium's).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import resource
import time
from collections import defaultdict
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from bench import term_history
from report import cli, gather, pdf, periods
from report.figures import build
from report.query import Store


class TimedStore(Store):
    """report.query.Store, its HTTP calls timed per endpoint (the logic is Store's own)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.by_path: dict[str, list[float]] = defaultdict(list)

    def _get(self, path: str, params: dict[str, str]) -> bytes:
        started = time.perf_counter()
        try:
            return super()._get(path, params)
        finally:
            self.by_path[path].append(time.perf_counter() - started)


class Stages:
    """Seconds per stage, summed over the counties."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def timing(self, stage: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - started


def make_all(store: TimedStore, days: int, cadence: term_history.Cadence, out: Path, formats: list[str]) -> dict:
    roster = term_history.roster(days, cadence)
    period = periods.term(roster.settings, term_history.TERM_NAME)
    stages, sizes = Stages(), defaultdict(int)
    for county in roster.counties:
        schools = roster.schools_of(county.id)
        with stages.timing("gather"):
            observed = gather.gather(store, roster, schools, period)
        with stages.timing("build"):
            report = build(roster, schools, period, observed, datetime.now(timezone.utc))
        stem = f"schoolnet_{county.id}_{period.slug}"
        for fmt in (f for f in ("xlsx", "csv", "html") if f in formats):
            with stages.timing(fmt):
                paths = cli.write(report, [fmt], out, stem)
            sizes[fmt] += sum(path.stat().st_size for path in paths)
        if "pdf" in formats:
            with stages.timing("pdf"):
                printed = pdf.print_pdf(out / f"{stem}.html", out / f"{stem}.pdf")
            sizes["pdf"] += printed.stat().st_size
    return {"stages": dict(stages.seconds), "sizes": dict(sizes), "schools": len(roster.schools),
            "school_days": len(periods.school_days(period, roster.settings))}


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM; unlike ru_maxrss it starts afresh at exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.term_report_worker")
    parser.add_argument("--store", required=True)
    parser.add_argument("--days", type=int, required=True)
    parser.add_argument("--cadence", default="30,60,60", help="broadband,classrooms,sync seconds")
    parser.add_argument("--out", required=True)
    parser.add_argument("--formats", default="xlsx,csv,html,pdf")
    parser.add_argument("--profile", help="write cProfile stats here")
    args = parser.parse_args(argv)
    cadence = term_history.Cadence(*(int(part) for part in args.cadence.split(",")))
    store = TimedStore(args.store)
    profiler = cProfile.Profile() if args.profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    result = make_all(store, args.days, cadence, Path(args.out), args.formats.split(","))
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile)
    wall = time.perf_counter() - started
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    result.update(wall_s=wall, store_s=store.seconds, requests=store.requests,
                  by_path={path: [len(times), sum(times), max(times)] for path, times in store.by_path.items()},
                  peak_rss_mb=peak_rss_mb(), children_peak_rss_mb=children.ru_maxrss / 1024,
                  cpu_s=own.ru_utime + own.ru_stime, children_cpu_s=children.ru_utime + children.ru_stime)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

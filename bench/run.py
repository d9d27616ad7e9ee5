"""The one command: `python -m bench.run [--quick] [--only NAME...]` (as root, from the
repository root, with .venv's python).

Runs the benchmarks of issue 7 and writes bench/results/<UTC time>/report.md and
report.json; a full run of all of them also writes bench/REPORT.md, the copy that is
committed. alert_latency and footprint mostly wait (for `for:`, for a schedule), so they
run in the background beside the others; the rest run one after another.

Everything it starts is stopped and every namespace deleted when it ends, also on Ctrl-C
or SIGTERM; namespaces left by a run that was killed outright are removed at the next.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from bench import (
    accuracy,
    alert_latency,
    fleet,
    footprint,
    roster,
    sweep,
    term_report,
    throughput,
)
from bench.plan import RunPlan, Stopped, say
from bench.report import Outcome, failed_outcome, render_markdown, summary_rows, to_json
from schoolnet_stack import netns

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
COMMITTED_REPORT = BENCH_DIR / "REPORT.md"
BENCHMARKS = {module.NAME: module for module in (accuracy, sweep, footprint, throughput, fleet, alert_latency,
                                                 roster, term_report)}
"""In the issue's order, which is the report's."""
BACKGROUND = ("alert_latency", "footprint")
FOREGROUND = ("sweep", "fleet", "accuracy", "throughput", "roster", "term_report")
"""sweep is made of timeouts, not CPU, and fleet's first minutes are set-up (it waits itself
before measuring), so both can go while footprint's speed test runs; the others wait for it."""
QUIET_LINKS_NEEDED = ("accuracy", "throughput", "term_report")
NEEDED_PROGRAMS = ("ip", "tc", "iperf3", "fping", "mosquitto", "mosquitto_sub", "victoria-metrics", "vmalert",
                   "prometheus-alertmanager")  # fmt: skip
SETUP_HINT = "./scripts/setup (as root, on Debian 12)"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    problem = missing_prerequisite()
    if problem:
        print(f"无法运行基准测试 / cannot run the benchmarks: {problem}. 请先运行 / run first: {SETUP_HINT}",
              file=sys.stderr)
        return 2
    chosen = args.only or list(BENCHMARKS)
    workdir = Path(tempfile.mkdtemp(prefix="schoolnet-bench-"))
    plan = RunPlan(quick=args.quick, workdir=workdir, grid_delays_ms=grid_delays(args.grid))
    for signum in (signal.SIGTERM, signal.SIGINT):  # SIGINT too: a shell may start us with it ignored
        signal.signal(signum, _interrupt)
    started = datetime.now(timezone.utc)
    try:
        outcomes, interrupted = run_all(plan, chosen)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    meta = run_meta(started, args, interrupted)
    folder = write_reports(outcomes, meta, publish=meta["published"])
    print(render_table(outcomes))
    print(f"\n报告 / report: {folder / 'report.md'}" + (f" and {COMMITTED_REPORT}" if meta["published"] else ""))
    return 130 if interrupted else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.run",
                                     description="性能基准测试 / schoolnet benchmarks against anchors (issue 7)")
    parser.add_argument("--quick", action="store_true",
                        help="短时运行（约5分钟）/ a short run, about 5 minutes (the full one takes about 30)")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), metavar="NAME",
                        help=f"只运行这些 / run only these: {', '.join(BENCHMARKS)}")
    parser.add_argument("--grid", nargs="*", type=float, metavar="DELAY_MS",
                        help="accuracy 只测丢包网格（可只选这些单向时延）/ accuracy runs only its lossy grid "
                             f"(issue 15), or only these one-way delays of it: {' '.join(f'{d:g}' for d in accuracy.GRID_DELAYS_MS)} "
                             "(about 5 minutes each)")
    return parser


def grid_delays(chosen: list[float] | None) -> tuple[float, ...]:
    """`--grid` alone means every delay of the grid; without it, none (the usual links)."""
    if chosen is None:
        return ()
    return tuple(chosen) or accuracy.GRID_DELAYS_MS


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def missing_prerequisite() -> str | None:
    """Why this machine cannot run the benchmarks, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, tc, ICMP) / 需要 root 权限"
    for program in NEEDED_PROGRAMS:
        if shutil.which(program) is None and not Path(f"/usr/sbin/{program}").exists():
            return f"{program} is not installed / 未安装 {program}"
    return None


def run_all(plan: RunPlan, chosen: list[str]) -> tuple[list[Outcome], bool]:
    """Background benchmarks in threads, the others in turn; (outcomes in report order,
    whether the run was interrupted)."""
    removed = netns.cleanup_stale()
    if removed:
        say(f"removed {len(removed)} network namespaces left by a killed run")
    outcomes: dict[str, Outcome] = {}
    threads = [threading.Thread(target=lambda n=name: outcomes.__setitem__(n, guarded(n, plan)), name=name)
               for name in BACKGROUND if name in chosen]  # fmt: skip
    interrupted, current = False, ""
    if "footprint" in chosen:
        plan.links_quiet.clear()  # footprint sets it once its speed test is over
    try:
        for thread in threads:
            thread.start()
        for current in (name for name in FOREGROUND if name in chosen):
            if current in QUIET_LINKS_NEEDED:
                plan.wait_links_quiet(current)
            outcomes[current] = guarded(current, plan)
        current = ""
        for thread in threads:
            while thread.is_alive():
                thread.join(1.0)
    except KeyboardInterrupt:
        interrupted = True
        say("interrupted: stopping every server and namespace / 已中断，正在清理")
        plan.stop.set()
        if current:
            outcomes[current] = failed_outcome(current, BENCHMARKS[current].TITLE, "interrupted")
        for thread in threads:
            thread.join()
    ordered = [outcomes[name] for name in BENCHMARKS if name in outcomes]
    return ordered, interrupted


def guarded(name: str, plan: RunPlan) -> Outcome:
    """One benchmark; whatever goes wrong becomes its outcome's error, not the run's end."""
    module = BENCHMARKS[name]
    say(f"{name}: starting")
    began = time.monotonic()
    try:
        outcome = module.run(plan)
    except Stopped:  # the run is stopping; Ctrl-C itself goes on up to run_all
        return failed_outcome(name, module.TITLE, "interrupted", time.monotonic() - began)
    except Exception as error:  # noqa: BLE001 - a broken benchmark must not hide the others' results
        traceback.print_exc()
        return failed_outcome(name, module.TITLE, f"{type(error).__name__}: {error}"[:500], time.monotonic() - began)
    seconds = time.monotonic() - began
    say(f"{name}: done in {seconds:.0f} s")
    return replace(outcome, seconds=seconds)


def run_meta(started: datetime, args: argparse.Namespace, interrupted: bool) -> dict:
    return {
        "started": started.strftime("%Y-%m-%d %H:%M"),
        "duration_s": (datetime.now(timezone.utc) - started).total_seconds(),
        "mode": ("quick" if args.quick else "full") + (f", only {' '.join(args.only)}" if args.only else "")
                + (f", grid {' '.join(map(str, args.grid))}".rstrip() if args.grid is not None else "")
                + (", INTERRUPTED" if interrupted else ""),
        "machine": machine_text(),
        "command": "python -m bench.run" + "".join(f" {shlex.quote(a)}" for a in sys.argv[1:]),
        "published": not (args.quick or args.only or interrupted or args.grid is not None),
    }


def machine_text() -> str:
    model = ""
    try:
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{os.cpu_count()} cores ({model or platform.machine()}), Linux {platform.release()}, "
            f"Python {platform.python_version()}")


def write_reports(outcomes: list[Outcome], meta: dict, publish: bool) -> Path:
    folder = RESULTS_DIR / datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    folder.mkdir(parents=True, exist_ok=True)
    markdown = render_markdown(outcomes, meta)
    (folder / "report.md").write_text(markdown, encoding="utf-8")
    (folder / "report.json").write_text(to_json(outcomes, meta), encoding="utf-8")
    if publish:
        COMMITTED_REPORT.write_text(markdown, encoding="utf-8")
    return folder


def render_table(outcomes: list[Outcome]) -> str:
    return "\n".join(" | ".join(row) for row in summary_rows(outcomes))


if __name__ == "__main__":
    sys.exit(main())

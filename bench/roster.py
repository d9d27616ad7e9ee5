"""Benchmark `roster`: plan and apply for a province-sized roster (issue 12): 50,000
schools in 250 counties (5,000 with --quick), as GBK CSV (a workbook cannot hold the ~880,000
device rows: Excel stops at 1,048,576 and openpyxl is far slower), each phase a fresh
`schoolnet-fleet` process so that its wall time and peak RSS are its own.

Anchors from the same run: reading the same CSV files with the csv module alone (the floor
of any roster reader), and `cp -a` of the state folder apply wrote (the floor of writing
that many files). There is no target in the issue: the figures are information.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.plan import RunPlan, say
from bench.report import Figure, Outcome
from roster import sample

NAME = "roster"
TITLE = "roster -> fleet: plan and apply for a province / 全省名单生成配置"
SCHOOLS, QUICK_SCHOOLS, COUNTIES = 50_000, 5_000, 250


def timed(argv: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MB and exit status of one child process."""
    started = time.monotonic()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return time.monotonic() - started, usage.ru_maxrss / 1024, process.returncode


def read_csv_only(folder: Path) -> int:
    rows = 0
    for path in folder.glob("*.csv"):
        with open(path, encoding="gb18030", newline="") as stream:
            rows += sum(1 for _ in csv.reader(stream))
    return rows


def run(plan: RunPlan) -> Outcome:
    schools = QUICK_SCHOOLS if plan.quick else SCHOOLS
    folder = plan.workdir / "roster-bench"
    roster, state = folder / "csv", folder / "state"
    say(f"roster: writing {schools} schools as GBK CSV")
    tables = sample.tables(schools, COUNTIES)
    sample.write_csv(roster, tables, "gbk")
    devices = len(tables[sample.CLASSROOMS])
    fleet = [sys.executable, "-m", "fleet.cli"]
    started = time.monotonic()
    rows = read_csv_only(roster)
    read_s = time.monotonic() - started
    figures, details = [], {"schools": schools, "counties": COUNTIES, "classroom_rows": devices, "csv_rows": rows}
    for label, argv in (("plan (empty state)", [*fleet, "plan", str(roster), "--state", str(state)]),
                        ("apply (first)", [*fleet, "apply", str(roster), "--state", str(state)]),
                        ("apply again (nothing to change)", [*fleet, "apply", str(roster), "--state", str(state)]),
                        ("plan (nothing to change)", [*fleet, "plan", str(roster), "--state", str(state)])):
        plan.check()
        say(f"roster: {label}")
        wall, rss, code = timed(argv)
        details[label] = {"wall_s": wall, "peak_rss_mb": rss, "exit": code}
        anchor = ("csv module reading the roster", read_s) if label.startswith("plan") else None
        figures.append(Figure(f"{label}: wall time, {schools} schools", wall if code == 0 else None, "s",
                              *(anchor or ("", None))))
        figures.append(Figure(f"{label}: peak RSS", rss, "MB"))
    started = time.monotonic()
    subprocess.run(["cp", "-a", str(state), str(folder / "copy")], check=True)
    copy_s = time.monotonic() - started
    files = sum(1 for _ in state.rglob("*") if _.is_file())
    figures.append(Figure(f"state folder written by apply: {files} files", details["apply (first)"]["wall_s"], "s",
                          "cp -a of the same folder", copy_s, like_for_like=False))
    shutil.rmtree(folder, ignore_errors=True)
    notes = ((f"{schools} schools in {COUNTIES} counties, {devices} classroom/device rows; each phase is a fresh "
             "`python -m fleet.cli` process on this machine's cores (the agent-loader check runs in parallel)."),
             ("plan and apply each check every new agent.yaml with the agent's own loader (about 25 ms a file, "
             "pure-Python YAML); a repeated run skips configs this agent version already accepted."))
    return Outcome(NAME, TITLE, tuple(figures), notes, details)

"""7. The term report (issue 16): 300 schools over one term, every format, against a real
VictoriaMetrics started here, beside what VictoriaMetrics itself needs to hand over the
same series raw.

How: VictoriaMetrics as deployed for reports (dedup per millisecond); the term of
bench/term_history.py (120 school days; 10 with --quick) written in one chunked POST
/write?precision=ms, as tests/report writes its month in one /write; then
  report   `python -m bench.term_report_worker` in its own process: what
           `schoolnet-report --all --term ... --format xlsx,csv,html,pdf` does per county,
           stage by stage; its peak RSS from getrusage, the time in VictoriaMetrics from
           report.query.Store's HTTP calls (timed around them per endpoint);
  anchor   GET /api/v1/export of every series the report reads over the whole term, read
           to the end and thrown away: what the store needs just to hand the data over.
"""

from __future__ import annotations

import http.client
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass

from bench import term_history
from bench.plan import RunPlan, say
from bench.processes import timed_run
from bench.report import Figure, Outcome
from report import pdf, periods
from schoolnet_stack.servers import VictoriaMetrics

NAME = "term_report"
TITLE = "term report for 300 schools (schoolnet-report, all formats) vs a raw export / 学期报告"

FULL_DAYS, QUICK_DAYS = 120, 10
CADENCE = term_history.Cadence(broadband_s=60, classrooms_s=600, sync_s=60)
"""The agents' cadence is 30 s / 60 s / 60 s; a term of it is ~380 M lines (~50 GB of line
protocol) for 300 schools, beyond one write on this machine. Broadband is kept at 60 s,
the sweeps at 10 min (as tests/report's month), sync at the agents' 60 s."""
READ_SERIES = ('{__name__=~"schoolnet_(broadband_up|classrooms_classes_total|classrooms_class_ready|'
               'speedtest_(ok|download_mbps|upload_mbps)|sync_(session_active|ready|mos))"}')
"""Every series report/gather.py reads."""
WORKER_TIMEOUT_S = 1800


@dataclass(frozen=True)
class Written:
    lines: int
    megabytes: float
    seconds: float


def write_history(store: VictoriaMetrics, days: int) -> Written:
    """The term in one POST, streamed (chunked) so that it never sits in memory whole."""
    roster = term_history.roster(days, CADENCE)
    counted = {"lines": 0, "bytes": 0}

    def body():
        for chunk in term_history.history(roster, CADENCE):
            counted["lines"] += chunk.count(b"\n")
            counted["bytes"] += len(chunk)
            yield chunk

    started = time.perf_counter()
    connection = http.client.HTTPConnection(store.host, store.port, timeout=WORKER_TIMEOUT_S)
    try:
        connection.request("POST", "/write?precision=ms", body=body(), encode_chunked=True)
        response = connection.getresponse()
        answer = response.read()
    finally:
        connection.close()
    if response.status != 204:
        raise RuntimeError(f"/write answered HTTP {response.status}: {answer[:300]!r}")
    store.flush()
    return Written(counted["lines"], counted["bytes"] / 1e6, time.perf_counter() - started)


def export_anchor(store: VictoriaMetrics, days: int) -> tuple[float, float, int]:
    """(seconds, MB, series lines) of GET /api/v1/export of the report's series over the term."""
    roster = term_history.roster(days, CADENCE)
    period = periods.term(roster.settings, term_history.TERM_NAME)
    start, end = periods.bounds_ms(period, term_history.ZONE_NAME)
    query = urllib.parse.urlencode({"match[]": READ_SERIES, "start": f"{start / 1000:.3f}", "end": f"{end / 1000:.3f}"})
    received = lines = 0
    started = time.perf_counter()
    with urllib.request.urlopen(f"{store.url}/api/v1/export?{query}", timeout=WORKER_TIMEOUT_S) as response:
        while block := response.read(1 << 20):
            received += len(block)
            lines += block.count(b"\n")
    return time.perf_counter() - started, received / 1e6, lines


def run_report(plan: RunPlan, store: VictoriaMetrics, days: int) -> dict:
    import json

    formats = "xlsx,csv,html" + (",pdf" if pdf.browser() else "")
    cadence = f"{CADENCE.broadband_s},{CADENCE.classrooms_s},{CADENCE.sync_s}"
    timed = timed_run([sys.executable, "-m", "bench.term_report_worker", "--store", store.url, "--days", str(days),
                       "--cadence", cadence, "--out", str(plan.scratch("term-report-out")), "--formats", formats],
                      timeout_s=WORKER_TIMEOUT_S)  # fmt: skip
    if timed.returncode != 0:
        raise RuntimeError(f"the report failed (exit {timed.returncode}): {timed.stderr[-1500:]}")
    result = json.loads(timed.stdout.strip().splitlines()[-1])
    result.update(process_wall_s=timed.wall_s, formats=formats)
    return result


def run(plan: RunPlan) -> Outcome:
    days = QUICK_DAYS if plan.quick else FULL_DAYS
    with VictoriaMetrics(plan.scratch("term-report-vm"), dedup_interval="1ms", retention_period="100y") as store:
        say(f"{NAME}: writing {days} school days of 300 schools")
        written = write_history(store, days)
        plan.check()
        say(f"{NAME}: {written.lines:,} lines in {written.seconds:.0f} s; exporting (anchor)")
        anchor_s, anchor_mb, anchor_series = export_anchor(store, days)
        plan.check()
        say(f"{NAME}: export {anchor_s:.1f} s; making the report")
        made = run_report(plan, store, days)
    return outcome(days, written, (anchor_s, anchor_mb, anchor_series), made)


def outcome(days: int, written: Written, anchor: tuple[float, float, int], made: dict) -> Outcome:
    anchor_s, anchor_mb, anchor_series = anchor
    export = "VictoriaMetrics /api/v1/export of the same series"
    what = f"300 schools, {made['school_days']} school days, {made['formats']}"
    stages = made["stages"]
    query_share = 100 * made["store_s"] / made["wall_s"]
    by_path = ", ".join(f"{path} {n} calls {total:.1f} s (longest {longest:.2f} s)"
                        for path, (n, total, longest) in made["by_path"].items())  # fmt: skip
    figures = (
        Figure(f"report wall time ({what})", made["wall_s"], "s", export, anchor_s),
        Figure("time waiting on VictoriaMetrics queries", made["store_s"], "s", export, anchor_s),
        Figure("share of the report's wall time in VictoriaMetrics queries", query_share, "%"),
        Figure("peak RSS of the report process", made["peak_rss_mb"], "MB",
               note=f"Chromium's peak {made['children_peak_rss_mb']:.0f} MB"),
    )
    notes = (
        (f"History: {written.lines:,} lines ({written.megabytes:,.0f} MB of line protocol) written in one chunked "
        f"POST /write in {written.seconds:.0f} s ({written.lines / max(written.seconds, 1e-9):,.0f} lines/s incl. "
        f"generating them). Cadence: broadband {CADENCE.broadband_s} s, sweeps {CADENCE.classrooms_s} s, sync "
        f"{CADENCE.sync_s} s, 07:00-18:00 of school days, only the measurements the report reads (see "
        "bench/term_history.py; the agents' own 30 s / 60 s would be 2x the broadband and 10x the sweeps)."),
        f"Anchor: the export returned {anchor_series:,} series blocks, {anchor_mb:,.0f} MB of JSON in {anchor_s:.1f} s.",
        "Stages (s): " + ", ".join(f"{name} {seconds:.1f}" for name, seconds in stages.items())
        + f"; process start to exit {made['process_wall_s']:.1f} s; CPU {made['cpu_s']:.1f} s (report) + "
        f"{made['children_cpu_s']:.1f} s (Chromium).",
        f"VictoriaMetrics calls: {made['requests']} ({by_path}).",
        "Output sizes (bytes, 3 counties): " + ", ".join(f"{k} {v:,}" for k, v in made["sizes"].items()) + ".",
    )
    return Outcome(NAME, TITLE, figures, notes, details={"days": days, "written": written.__dict__,
                                                          "anchor_s": anchor_s, "report": made})

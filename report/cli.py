"""schoolnet-report: a county's compliance report for a month, a term or any range of days.

    schoolnet-report --roster roster.xlsx --county hx --month 2026-09 --format xlsx,pdf --out reports/
    schoolnet-report --roster roster.yaml --all --term 2026-2027学年第一学期
    schoolnet-report --roster roster.xlsx --all --last-month --mail /etc/schoolnet/report-mail.yaml

One report per county (each county files its own), every format written from one computed
table. Exit status: 0 written, 1 the store or the browser failed, 2 a mistake in the
arguments, the roster or the mail config.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import date, datetime, timezone
from pathlib import Path

from report import gather, periods
from report.figures import Report, build
from report.periods import Period
from report.query import Store, StoreError
from roster.model import Roster
from schoolnet_core.config.problems import ConfigError

FORMATS = ("xlsx", "csv", "html", "pdf")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        roster = load_roster(args.roster)
        period = _period(args, roster)
        counties = _counties(args, roster)
        formats = _formats(args.format)
        mail = _mail_config(args.mail)
    except (ConfigError, ValueError, KeyError) as error:
        print(f"schoolnet-report: {_message(error)}", file=sys.stderr)
        return 2
    store = Store(args.store)
    started = time.perf_counter()
    try:
        for county in counties:
            paths = make_report(store, roster, county, period, formats, Path(args.out))
            for path in paths:
                print(path)
            if mail is not None:
                from report.mail import send_report
                send_report(mail, roster.county(county), period, paths)
    except (StoreError, RuntimeError, OSError) as error:
        print(f"schoolnet-report: {error}", file=sys.stderr)
        return 1
    _say(f"{len(counties)} 个县 counties, {time.perf_counter() - started:.1f} s "
         f"(VictoriaMetrics {store.seconds:.1f} s in {store.requests} requests)")
    return 0


def make_report(store: Store, roster: Roster, county: str, period: Period, formats: Sequence[str],
                out: Path) -> list[Path]:
    """Reads the store for one county, computes its table once and writes each format."""
    schools = roster.schools_of(county)
    name = roster.county(county).name
    observed = gather.gather(store, roster, schools, period, _progress(f"{name} {county}"))
    report = build(roster, schools, period, observed, datetime.now(timezone.utc))
    return write(report, formats, out, f"schoolnet_{county}_{period.slug}")


def write(report: Report, formats: Sequence[str], out: Path, stem: str) -> list[Path]:
    from report import csv, html, xlsx

    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    if "xlsx" in formats:
        paths.append(xlsx.write(report, out / f"{stem}.xlsx"))
    if "csv" in formats:
        paths.extend(csv.write(report, out, stem))
    if "html" in formats or "pdf" in formats:
        page = html.write(report, out / f"{stem}.html")
        if "html" in formats:
            paths.append(page)
        if "pdf" in formats:
            from report import pdf
            paths.append(pdf.print_pdf(page, out / f"{stem}.pdf"))
            if "html" not in formats:
                page.unlink()
    return paths


def load_roster(path: str) -> Roster:
    """A YAML roster here; the county workbook (or its CSV folder) through roster.load when
    that reader is installed, imported only then."""
    source = Path(path)
    if source.suffix.lower() in (".yaml", ".yml"):
        from report import roster_file
        return roster_file.load(source)
    try:
        from roster.load import load_roster as load_workbook
    except ImportError:
        raise ValueError(f"{path}: this installation reads rosters as YAML only (.yaml); "
                         "the workbook reader (roster.load) is not installed") from None
    roster, _notes = load_workbook(source)
    return roster


def _period(args: argparse.Namespace, roster: Roster) -> Period:
    if args.month:
        return periods.month(args.month)
    if args.term:
        return periods.term(roster.settings, args.term)
    if args.last_month:
        return periods.last_month(date.today())
    if args.date_from and args.date_to:
        return periods.day_range(date.fromisoformat(args.date_from), date.fromisoformat(args.date_to))
    raise ValueError("give a period: --month YYYY-MM, --term NAME, --last-month, or --from DAY --to DAY")


def _counties(args: argparse.Namespace, roster: Roster) -> list[str]:
    if args.all:
        return [county.id for county in roster.counties]
    if not args.county:
        raise ValueError("give --county ID (repeatable) or --all")
    for county in args.county:
        roster.county(county)  # KeyError names the unknown county
    return list(args.county)


def _formats(text: str) -> list[str]:
    formats = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [part for part in formats if part not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"--format {text!r}: use a comma-separated list of {', '.join(FORMATS)}")
    return formats


def _mail_config(path: str | None):
    if path is None:
        return None
    from report.mail import load_mail_config
    return load_mail_config(path)


def _progress(label: str):
    """Progress on a terminal only: a timer's log gets the summary line, not 120 updates."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        end = "\n" if done == total else ""
        print(f"\r{label}: {done}/{total} 个时段 stretches read", end=end, file=sys.stderr, flush=True)

    return show


def _say(text: str) -> None:
    print(f"schoolnet-report: {text}", file=sys.stderr)


def _message(error: Exception) -> str:
    return str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="schoolnet-report", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--roster", required=True, help="the county workbook (.xlsx), its CSV folder, or a roster .yaml")
    parser.add_argument("--store", default="http://127.0.0.1:8428", help="VictoriaMetrics URL (default %(default)s)")
    who = parser.add_mutually_exclusive_group()
    who.add_argument("--county", action="append", help="county id (repeat for several)")
    who.add_argument("--all", action="store_true", help="every county of the roster")
    when = parser.add_mutually_exclusive_group()
    when.add_argument("--month", help="YYYY-MM")
    when.add_argument("--term", help="a term's name from the roster's settings")
    when.add_argument("--last-month", action="store_true", help="the month before today (for the monthly timer)")
    when.add_argument("--from", dest="date_from", help="first day YYYY-MM-DD (with --to)")
    parser.add_argument("--to", dest="date_to", help="last day YYYY-MM-DD, included")
    parser.add_argument("--format", default="xlsx,csv,html,pdf", help="comma-separated: xlsx,csv,html,pdf")
    parser.add_argument("--out", default=".", help="directory for the files (created if missing)")
    parser.add_argument("--mail", help="mail config YAML: e-mail each county its report (XLSX and PDF attached)")
    return parser

"""Maintenance windows and holidays, declared once in the roster, as Alertmanager mute timings.

The same windows the reports leave out of availability must page nobody, so the
Alertmanager config is made from the roster rather than kept by hand:

    python -m report.mute --roster roster.xlsx --config deploy/alertmanager/alertmanager.yml \\
        --out /etc/alertmanager/alertmanager.yml && amtool check-config /etc/alertmanager/alertmanager.yml

- a county's window mutes every alert of that county (a window for all counties mutes every
  route); a school's window mutes that school's alerts only, through a route of its own that
  keeps the county's receiver and timings;
- holidays mute the classroom and synchronous-classroom alerts only: a gateway that dies in
  the holiday is still down on the first school day (deploy/README-alerts.md).

Alertmanager does not pass mute_time_intervals down to child routes, and an alert is
judged by the deepest route it matches, so every route of a muted subtree lists them.
"""

from __future__ import annotations

import argparse
import copy
import sys
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from roster.model import DEFAULT_TIMEZONE, Maintenance, Roster

HOLIDAY_ALERTS = 'alertname=~"ClassroomDeviceDown|SyncClassroomNotReady|SyncPathDegraded"'
HOLIDAYS = "schoolnet-holidays"


def apply(roster: Roster, config: dict) -> dict:
    """A copy of `config` with the roster's windows as time_intervals and mute timings."""
    config = copy.deepcopy(config)
    intervals = [interval for interval in config.get("time_intervals", []) if not interval["name"].startswith("schoolnet-")]
    named = [(f"schoolnet-maintenance-{n + 1}", window) for n, window in enumerate(roster.settings.maintenance)]
    intervals += [{"name": name, "time_intervals": window_intervals(window)} for name, window in named]
    holidays = holiday_intervals(roster)
    if holidays:
        intervals.append({"name": HOLIDAYS, "time_intervals": holidays})
    config["time_intervals"] = intervals
    root = config["route"]
    root["routes"] = [_county_route(route, named, bool(holidays), roster) for route in root.get("routes", [])]
    return config


def _county_route(route: dict, named: list[tuple[str, Maintenance]], holidays: bool, roster: Roster) -> dict:
    county = _county_of(route)
    everywhere = [name for name, window in named if window.county is None and window.school is None]
    county_wide = [name for name, window in named if county and window.county == county and window.school is None]
    children = copy.deepcopy(route.get("routes", []))  # counties share them (a YAML anchor)
    if holidays:
        children = [{"matchers": [HOLIDAY_ALERTS], "routes": copy.deepcopy(children),
                     "mute_time_intervals": [HOLIDAYS]}] + children
    per_school = []
    for school in sorted({window.school for _, window in named if window.school and window.county in (None, county)}):
        if county is None:
            continue
        own = [name for name, window in named if window.school == school and window.county in (None, county)]
        per_school.append(_mute_all({"matchers": [f'school="{school}"'], "routes": copy.deepcopy(children)}, own))
    route = dict(route, routes=per_school + children) if (per_school or children) else dict(route)
    return _mute_all(route, everywhere + county_wide)


def _mute_all(route: dict, names: list[str]) -> dict:
    """Adds `names` to the route and every route below it."""
    if names:
        route["mute_time_intervals"] = list(dict.fromkeys(route.get("mute_time_intervals", []) + names))
    for child in route.get("routes", []):
        _mute_all(child, names)
    return route


def _county_of(route: dict) -> str | None:
    for matcher in route.get("matchers", []):
        key, _, value = matcher.partition("=")
        if key.strip() == "county" and not value.startswith("~"):
            return value.strip().strip('"')
    return None


def window_intervals(window: Maintenance) -> list[dict]:
    """[start, end) as one Alertmanager time interval per local day (times are per day)."""
    zone = window.start.tzinfo
    location = getattr(zone, "key", None) or DEFAULT_TIMEZONE
    start, end = window.start, window.end.astimezone(zone)
    out, day = [], start.date()
    while day <= end.date():
        first = start.time() if day == start.date() else time(0)
        last = end.time() if day == end.date() else None
        if last is None or last > first:
            out.append({
                "times": [{"start_time": f"{first:%H:%M}", "end_time": f"{last:%H:%M}" if last else "24:00"}],
                "days_of_month": [str(day.day)], "months": [str(day.month)], "years": [str(day.year)],
                "location": location,
            })
        day += timedelta(days=1)
    return out


def holiday_intervals(roster: Roster) -> list[dict]:
    """Each holiday day as a whole local day (the schools' time zone)."""
    zone = ZoneInfo(roster.schools[0].timezone if roster.schools else DEFAULT_TIMEZONE)
    out = []
    for days in roster.settings.holidays:
        start = datetime.combine(days.first, time(0), zone)
        end = datetime.combine(days.last + timedelta(days=1), time(0), zone)
        out += window_intervals(Maintenance(start, end))
    return out


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data) -> bool:
        return True


def dump(config: dict) -> str:
    """YAML without anchors: each county's routes written out, as a person would read them."""
    return yaml.dump(config, Dumper=_NoAliases, allow_unicode=True, sort_keys=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m report.mute", description=__doc__.split("\n\n")[0])
    parser.add_argument("--roster", required=True)
    parser.add_argument("--config", required=True, help="the Alertmanager config to add the windows to")
    parser.add_argument("--out", required=True, help="where to write the result")
    args = parser.parse_args(argv)
    from report.cli import load_roster
    roster = load_roster(args.roster)
    config = yaml.safe_load(Path(args.config).read_text(encoding="utf-8"))
    Path(args.out).write_text(dump(apply(roster, config)), encoding="utf-8")
    print(f"{args.out}: {len(roster.settings.maintenance)} 维护窗口 maintenance windows, "
          f"{len(roster.settings.holidays)} 假期 holidays", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

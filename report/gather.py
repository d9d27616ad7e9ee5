"""What the store holds for each school in a period, reduced to what the figures need.

Counting is pushed to VictoriaMetrics: per stretch of counted time (school hours of one
day, cut by maintenance) one instant query returns, per school, the broadband samples and
how many were up, the classroom sweeps, and per class how many sweeps found it ready. Raw
samples are exported only where order matters: the broadband samples of a stretch that
had a down sample (to measure outages), the speed tests and the synchronous sessions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from report import periods
from report.periods import Interval, Period
from report.query import Store, selector
from roster.model import Roster, School

SchoolKey = tuple[str, str]


@dataclass(frozen=True)
class SpeedTest:
    ts_ms: int
    ok: bool
    download_mbps: float | None
    upload_mbps: float | None


@dataclass(frozen=True)
class SyncSample:
    ts_ms: int
    session: str
    ready: bool
    mos: float | None


@dataclass
class Observations:
    """One school's measurements in the period's counted time (speed tests and sync
    sessions in the whole period, maintenance left out)."""

    broadband_samples: int = 0
    broadband_up: int = 0
    down_runs: list[int] = field(default_factory=list)  # samples per outage
    sweeps: int = 0
    class_ready: dict[str, float] = field(default_factory=dict)  # classroom id -> ready sweeps
    speed_tests: list[SpeedTest] = field(default_factory=list)
    sync: list[SyncSample] = field(default_factory=list)


Progress = Callable[[int, int], None]


def gather(store: Store, roster: Roster, schools: tuple[School, ...], period: Period,
           progress: Progress | None = None) -> dict[SchoolKey, Observations]:
    """Every school's observations, read with one rollup query per distinct stretch."""
    found = {school.key: Observations() for school in schools}
    counted = {school.key: periods.counted_intervals(period, roster.settings, school) for school in schools}
    users: dict[Interval, list[SchoolKey]] = defaultdict(list)
    for key, intervals in counted.items():
        for interval in intervals:
            users[interval].append(key)
    counties = _regex(sorted({school.county for school in schools}))
    for done, (interval, keys) in enumerate(sorted(users.items()), start=1):
        _count_interval(store, counties, interval, keys, found)
        if progress:
            progress(done, len(users))
    _speed_tests(store, roster, schools, period, counties, found)
    _sync_samples(store, roster, schools, period, counties, found)
    return found


def _count_interval(store: Store, counties: str, interval: Interval, keys: list[SchoolKey],
                    found: dict[SchoolKey, Observations]) -> None:
    start, end = interval
    window = f"[{end - start}ms]"
    broadband = selector("schoolnet_broadband_up", county__re=counties)
    sweeps = selector("schoolnet_classrooms_classes_total", county__re=counties)
    classes = selector("schoolnet_classrooms_class_ready", county__re=counties)
    query = " or ".join([
        f'label_set(sum by (county, school) (count_over_time({broadband}{window})), "q", "bb_n")',
        f'label_set(sum by (county, school) (sum_over_time({broadband}{window})), "q", "bb_up")',
        f'label_set(sum by (county, school) (count_over_time({sweeps}{window})), "q", "sweeps")',
        f'label_set(sum by (county, school, classroom) (sum_over_time({classes}{window})), "q", "ready")',
    ])
    # The window (t - w, t] at t = end - 1 ms is [start, end) for millisecond timestamps.
    wanted = set(keys)
    stretch: dict[SchoolKey, dict[str, float]] = defaultdict(dict)
    for labels, value in store.instant(query, end - 1):
        key = (labels.get("county", ""), labels.get("school", ""))
        if key in wanted:
            _add(found[key], stretch[key], labels, value)
    with_downs = [key for key in keys if stretch[key].get("bb_up", 0) < stretch[key].get("bb_n", 0)]
    if with_downs:
        _outages(store, interval, with_downs, found)


def _add(observed: Observations, stretch: dict[str, float], labels: dict[str, str], value: float) -> None:
    kind = labels.get("q", "")
    if kind == "bb_n":
        observed.broadband_samples += int(value)
    elif kind == "bb_up":
        observed.broadband_up += int(value)
    elif kind == "sweeps":
        observed.sweeps += int(value)
    elif kind == "ready":
        room = labels.get("classroom", "")
        observed.class_ready[room] = observed.class_ready.get(room, 0.0) + value
    stretch[kind] = value


def _outages(store: Store, interval: Interval, keys: list[SchoolKey],
             found: dict[SchoolKey, Observations]) -> None:
    """Runs of down samples inside one stretch; a run ends at an up sample or the stretch's end."""
    start, end = interval
    match = selector("schoolnet_broadband_up", county__re=_regex(sorted({k[0] for k in keys})),
                     school__re=_regex(sorted({k[1] for k in keys})))
    samples: dict[SchoolKey, dict[int, float]] = defaultdict(dict)
    for labels, stamps, values in store.export(match, start, end - 1):
        key = (labels.get("county", ""), labels.get("school", ""))
        samples[key].update(zip(stamps, values))
    for key in keys:
        found[key].down_runs.extend(down_runs(samples.get(key, {})))


def down_runs(samples: dict[int, float]) -> list[int]:
    """Lengths (in samples) of the runs of down samples, in time order."""
    runs, current = [], 0
    for ts in sorted(samples):
        if samples[ts] >= 0.5:
            if current:
                runs.append(current)
            current = 0
        else:
            current += 1
    if current:
        runs.append(current)
    return runs


def _speed_tests(store: Store, roster: Roster, schools: tuple[School, ...], period: Period,
                 counties: str, found: dict[SchoolKey, Observations]) -> None:
    series = {}
    for field_name in ("ok", "download_mbps", "upload_mbps"):
        match = selector(f"schoolnet_speedtest_{field_name}", county__re=counties, trigger="scheduled")
        series[field_name] = _by_school_ts(store, match, _span(roster, schools, period))
    for school in schools:
        keep = _keeper(roster, school, period)
        ok = series["ok"].get(school.key, {})
        down = series["download_mbps"].get(school.key, {})
        up = series["upload_mbps"].get(school.key, {})
        found[school.key].speed_tests = [
            SpeedTest(ts, ok[ts] >= 0.5, down.get(ts), up.get(ts)) for ts in sorted(ok) if keep(ts)
        ]


def _sync_samples(store: Store, roster: Roster, schools: tuple[School, ...], period: Period,
                  counties: str, found: dict[SchoolKey, Observations]) -> None:
    """Samples taken while a session was on (session_active), per school and session."""
    span = _span(roster, schools, period)
    active = _by_school_ts(store, selector("schoolnet_sync_session_active", county__re=counties,
                                           session__re=".+"), span, with_label="session")
    ready = _by_school_ts(store, selector("schoolnet_sync_ready", county__re=counties,
                                          session__re=".+"), span)
    mos = _by_school_ts(store, selector("schoolnet_sync_mos", county__re=counties,
                                        session__re=".+"), span)
    for school in schools:
        keep = _keeper(roster, school, period)
        samples = []
        for ts, (value, session) in sorted(active.get(school.key, {}).items()):
            if value >= 0.5 and keep(ts):
                is_ready = ready.get(school.key, {}).get(ts, 0.0) >= 0.5
                samples.append(SyncSample(ts, session, is_ready, mos.get(school.key, {}).get(ts)))
        found[school.key].sync = samples


def _by_school_ts(store: Store, match: str, span: Interval, with_label: str | None = None) -> dict:
    """{school key: {ts: value}} (or {ts: (value, label)}); one sample per millisecond,
    as the store's dedup keeps, even where it was run without dedup."""
    result: dict[SchoolKey, dict] = defaultdict(dict)
    for labels, stamps, values in store.export(match, span[0], span[1] - 1):
        key = (labels.get("county", ""), labels.get("school", ""))
        if with_label:
            label = labels.get(with_label, "")
            result[key].update((ts, (value, label)) for ts, value in zip(stamps, values))
        else:
            result[key].update(zip(stamps, values))
    return result


def _span(roster: Roster, schools: Iterable[School], period: Period) -> Interval:
    bounds = [periods.bounds_ms(period, school.timezone) for school in schools] or [(0, 1)]
    return min(b[0] for b in bounds), max(b[1] for b in bounds)


def _keeper(roster: Roster, school: School, period: Period) -> Callable[[int], bool]:
    """In the school's period and outside the maintenance windows that cover it."""
    start, end = periods.bounds_ms(period, school.timezone)
    windows = tuple(periods.window_ms(w) for w in periods.maintenance_in(period, roster.settings, school))
    return lambda ts: start <= ts < end and not periods.inside(ts, windows)


def _regex(ids: list[str]) -> str:
    """Ids are [a-z0-9_-]: safe inside a regex alternation as they are."""
    return "|".join(ids) if ids else "^$"

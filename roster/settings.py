"""The 设置 sheet: one setting per row (设置项 | 对象 | 值 | 至 | 说明), so a county adds a
holiday or a per-type target by adding a row, never a column."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from zoneinfo import ZoneInfo

from roster import columns as cols
from roster.cells import Reader
from roster.model import DEFAULT_TIMEZONE, Maintenance, Settings, Term
from roster.tables import Row, Table
from schoolnet_core.config.parsers import DateRange, TimeRange

NAMES = {name: key for key, name in cols.SETTING_NAMES.items()}
NAMES.update({key: key for key in cols.SETTING_NAMES})
BACKENDS = {"iperf3": "iperf3", "http": "http", "speedtest": "speedtest"}


class SettingsReader:
    def __init__(self, table: Table, counties: set[str], schools: set[str]) -> None:
        self.table, self.read = table, Reader(table)
        self.counties, self.schools = counties, schools
        self.settings = Settings()
        self.changes: dict[str, object] = {}
        self.lists: dict[str, list] = {"terms": [], "holidays": [], "extra_school_days": [], "maintenance": [],
                                       "lessons": [], "broadband_targets": [], "target_by_type": []}

    def at(self, row: Row, key: str):
        return row.cell(key, self.table.column_index.get(key)), self.table.spec.column(key)

    def row(self, row: Row) -> None:
        setting = self.read.choice(*self.at(row, "setting"), NAMES)
        if setting is not None:
            HANDLERS[setting](self, row)

    def days(self, row: Row) -> DateRange | None:
        first = self.read.day(*self.at(row, "value"))
        last = self.read.day(*self.at(row, "until")) if self.at(row, "until")[0].value not in (None, "") else first
        if first is None or last is None:
            return None
        if last < first:
            self.read.problem(*self.at(row, "until"), f"{last} is before {first}", "the end must be on or after the start")
            return None
        return DateRange(first, last)

    def finish(self) -> Settings:
        targets = dict(self.lists.pop("target_by_type"))
        lists = {key: tuple(value) for key, value in self.lists.items()}
        return replace(self.settings, target_by_type=targets, **lists, **self.changes)


def _egress_target(reader: SettingsReader, row: Row) -> None:
    value = reader.read.number(*reader.at(row, "value"), 0.1, 100_000)
    subject = reader.read.name(*reader.at(row, "subject"))
    if value is None:
        return
    if subject is None:
        reader.changes["default_target_mbps"] = value
    elif subject in cols.SCHOOL_TYPES_ALL:
        reader.lists["target_by_type"].append((cols.SCHOOL_TYPES_ALL[subject], value))
    else:
        reader.read.problem(*reader.at(row, "subject"), f'"{subject}" is not a school type',
                            "leave it empty for the default target, or choose " + "/".join(cols.SCHOOL_TYPES_ALL))


def _term(reader: SettingsReader, row: Row) -> None:
    name, days = reader.read.name(*reader.at(row, "subject")), reader.days(row)
    if name is None:
        reader.read.problem(*reader.at(row, "subject"), "is empty", "name the term, e.g. 2026-2027学年第一学期")
    elif days is not None:
        reader.lists["terms"].append(Term(name, days))


def _day_list(key: str) -> Callable[[SettingsReader, Row], None]:
    def handle(reader: SettingsReader, row: Row) -> None:
        days = reader.days(row)
        if days is not None:
            reader.lists[key].append(days)
    return handle


def _maintenance(reader: SettingsReader, row: Row) -> None:
    start, end = reader.read.moment(*reader.at(row, "value")), reader.read.moment(*reader.at(row, "until"))
    subject = reader.read.code(*reader.at(row, "subject"))
    county, _, school = (subject or "").partition("/")
    if county and county not in reader.counties:
        reader.read.problem(*reader.at(row, "subject"), f'"{county}" is not in the sheet 县',
                            "leave it empty (every county), or type a county code, or 县代码/学校标识码")
        return
    if school and school not in reader.schools:
        reader.read.problem(*reader.at(row, "subject"), f'"{school}" is not in the sheet 学校', "correct the school id")
        return
    if start is None or end is None:
        if end is None and reader.at(row, "until")[0].value in (None, ""):
            reader.read.problem(*reader.at(row, "until"), "is empty", "type when the window ends, YYYY-MM-DD HH:MM")
        return
    zone = ZoneInfo(DEFAULT_TIMEZONE)
    start, end = start.replace(tzinfo=zone), end.replace(tzinfo=zone)
    if end <= start:
        reader.read.problem(*reader.at(row, "until"), "ends before it starts", "the end must be after the start")
        return
    note = reader.read.name(*reader.at(row, "note")) or ""
    reader.lists["maintenance"].append(Maintenance(start, end, county or None, school or None, note))


def _lesson(reader: SettingsReader, row: Row) -> None:
    start, end = reader.read.clock(*reader.at(row, "value")), reader.read.clock(*reader.at(row, "until"))
    if start is None or end is None:
        return
    if end <= start:
        reader.read.problem(*reader.at(row, "until"), f"{end:%H:%M} is not after {start:%H:%M}",
                            "a lesson ends after it starts")
        return
    reader.lists["lessons"].append(TimeRange(start, end))


def _school_hours(reader: SettingsReader, row: Row) -> None:
    start, end = reader.read.clock(*reader.at(row, "value")), reader.read.clock(*reader.at(row, "until"))
    if start is not None and end is not None and start < end:
        reader.changes["school_hours"] = TimeRange(start, end)


def _text(key: str, check: Callable[[str], bool], fix: str) -> Callable[[SettingsReader, Row], None]:
    def handle(reader: SettingsReader, row: Row) -> None:
        text = reader.read.code(*reader.at(row, "value"))
        if text is not None and not check(text):
            reader.read.problem(*reader.at(row, "value"), f'"{text}" is not allowed here', fix)
        elif text is not None:
            reader.changes[key] = text
    return handle


def _speed_times(reader: SettingsReader, row: Row) -> None:
    text = reader.read.code(*reader.at(row, "value"))
    if text is None:
        return
    times = tuple(part.strip() for part in text.replace("，", ",").split(",") if part.strip())

    if not times or not all(re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", t) for t in times):
        reader.read.problem(*reader.at(row, "value"), f'"{text}" is not a list of times', "type e.g. 12:10,17:10")
        return
    reader.changes["speed_test_times"] = times


def _broadband_target(reader: SettingsReader, row: Row) -> None:
    name = reader.read.name(*reader.at(row, "subject"))
    target = reader.read.code(*reader.at(row, "value"))
    if name is None:
        reader.read.problem(*reader.at(row, "subject"), "is empty", "name the target, e.g. 县数据中心")
    elif target is not None:
        reader.lists["broadband_targets"].append((name, target))


def _collectors(reader: SettingsReader, row: Row) -> None:
    """How many collectors get a broker account (schoolnet-collector-1..N), each its own:
    the broker binds each to its client id, so a third collector needs a third account."""
    count = reader.read.number(*reader.at(row, "value"), 1, 16, whole=True)
    if count is not None:
        reader.changes["collectors"] = int(count)


HANDLERS: dict[str, Callable[[SettingsReader, Row], None]] = {
    "egress_target": _egress_target, "term": _term, "holiday": _day_list("holidays"),
    "extra_school_day": _day_list("extra_school_days"), "maintenance": _maintenance, "lesson": _lesson,
    "school_hours": _school_hours,
    "broker_url": _text("broker_url", lambda t: t.startswith(("mqtts://", "mqtt://")),
                        "type the broker's URL, e.g. mqtts://mqtt.hx.edu.example:8883"),
    "speed_test_backend": _text("speed_test_backend", lambda t: t in BACKENDS, "choose iperf3, http or speedtest"),
    "speed_test_server": _text("speed_test_server", lambda t: " " not in t, "type HOST:PORT or a URL"),
    "speed_test_times": _speed_times, "broadband_target": _broadband_target, "collectors": _collectors,
}  # fmt: skip


def read_settings(table: Table | None, counties: set[str], schools: set[str]) -> Settings:
    if table is None:
        return Settings()
    reader = SettingsReader(table, counties, schools)
    for row in table.rows:
        reader.row(row)
    return reader.finish()




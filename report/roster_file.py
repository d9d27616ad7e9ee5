"""A roster as a YAML file, for counties that keep no workbook (or for the demo).

Same fields as roster.model, read with the shared walker, so every mistake reads
FILE:LINE: key: what is wrong; how to fix it. The county workbook (roster.load) is the
normal source; this reader exists so that a report never needs one.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from roster.model import (
    SCHOOL_TYPES,
    Classroom,
    Contacts,
    County,
    Device,
    Maintenance,
    ReportSettings,
    Roster,
    School,
    Settings,
    Term,
)
from schoolnet_core.config import parsers as p
from schoolnet_core.config.walker import Invalid, Walk, load_yaml
from schoolnet_core.contract import DEVICE_KINDS

EXAMPLE = Path(__file__).with_name("example-roster.yaml")
_MOMENT_FORMAT = "%Y-%m-%d %H:%M"


def load(path: str | Path) -> Roster:
    return load_yaml(path, _roster, example=EXAMPLE)


def _roster(walk: Walk, node: yaml.Node) -> Roster:
    top = walk.mapping(node, "", ["counties", "settings", "schools"])
    counties = top.entries("counties", _county, default=(), min_items=1, unique="id")
    settings = top.section("settings", _settings) or Settings()
    schools = top.entries("schools", _school, default=(), unique="id")
    known = {county.id for county in counties if county}
    for index, school in enumerate(schools):
        if school and school.county not in known:
            walk.problem(top.line_of("schools"), f"schools[{index}].county",
                         f"county {school.county!r} is not under counties:; add it there or fix the id")
    return Roster(tuple(c for c in counties if c), tuple(s for s in schools if s), settings)


def _county(walk: Walk, node: yaml.Node, path: str) -> County:
    section = walk.mapping(node, path, ["id", "name", "email"])
    return County(section.value("id", p.identifier), section.value("name", p.display_name),
                  Contacts(email=section.values("email", _email)))


def _email(node: yaml.ScalarNode) -> str:
    text = node.value.strip()
    if "@" not in text or " " in text:
        raise Invalid(f"{text!r} is not an e-mail address, e.g. dianjiao@hx.edu.cn")
    return text


def _settings(walk: Walk, node: yaml.Node | None, path: str) -> Settings:
    keys = ["default_target_mbps", "target_by_type", "school_days", "school_hours", "terms",
            "holidays", "extra_school_days", "maintenance", "report"]
    section = walk.mapping(node, path, keys)
    by_type = section.section("target_by_type", _targets_by_type) or {}
    return Settings(
        default_target_mbps=section.value("default_target_mbps", p.number(1, 100_000), 100.0),
        target_by_type=by_type,
        school_days=section.values("school_days", p.choice(*p.WEEKDAYS), default=p.WEEKDAYS[:5]),
        school_hours=section.value("school_hours", p.time_range, None),
        terms=section.entries("terms", _term, unique="name"),
        holidays=section.values("holidays", p.date_range),
        extra_school_days=section.values("extra_school_days", p.date_range),
        maintenance=section.entries("maintenance", _maintenance),
        report=section.section("report", _report_settings),
    )


def _targets_by_type(walk: Walk, node: yaml.Node | None, path: str) -> dict[str, float]:
    section = walk.mapping(node, path, list(SCHOOL_TYPES))
    return {kind: section.value(kind, p.number(1, 100_000)) for kind in SCHOOL_TYPES if section.has(kind)}


def _report_settings(walk: Walk, node: yaml.Node | None, path: str) -> ReportSettings:
    defaults = ReportSettings()
    names = list(vars(defaults))
    section = walk.mapping(node, path, names)
    values = {}
    for name in names:
        parse = p.integer(1, 86_400) if name.endswith("_s") else p.number(0, 100)
        values[name] = section.value(name, parse, getattr(defaults, name))
    return ReportSettings(**values)


def _term(walk: Walk, node: yaml.Node, path: str) -> Term:
    section = walk.mapping(node, path, ["name", "days"])
    return Term(section.value("name", p.display_name), section.value("days", p.date_range))


def _maintenance(walk: Walk, node: yaml.Node, path: str) -> Maintenance | None:
    section = walk.mapping(node, path, ["start", "end", "county", "school", "reason", "timezone"])
    zone = ZoneInfo(section.value("timezone", p.timezone, "Asia/Shanghai") or "Asia/Shanghai")
    start = section.value("start", _moment(zone))
    end = section.value("end", _moment(zone))
    if start and end and end <= start:
        section.problem("end", "the window ends before it starts; the end must be after the start")
    return Maintenance(start, end, section.value("county", p.identifier, None),
                       section.value("school", p.identifier, None), section.value("reason", p.display_name, ""))


def _moment(zone: ZoneInfo):
    def parse(node: yaml.ScalarNode) -> datetime:
        try:
            return datetime.strptime(node.value.strip(), _MOMENT_FORMAT).replace(tzinfo=zone)
        except ValueError:
            raise Invalid(f"{node.value.strip()!r} is not a moment; use YYYY-MM-DD HH:MM "
                          "(local time), e.g. 2026-10-14 12:00") from None
    return parse


def _school(walk: Walk, node: yaml.Node, path: str) -> School:
    keys = ["county", "id", "name", "type", "rural", "enrolment", "contracted_mbps",
            "egress_target_mbps", "timezone", "classrooms"]
    section = walk.mapping(node, path, keys)
    return School(
        county=section.value("county", p.identifier), id=section.value("id", p.identifier),
        name=section.value("name", p.display_name), type=section.value("type", p.choice(*SCHOOL_TYPES)),
        rural=section.value("rural", p.boolean), enrolment=section.value("enrolment", p.integer(0, 100_000), None),
        contracted_mbps=section.value("contracted_mbps", p.number(0, 100_000), None),
        egress_target_mbps=section.value("egress_target_mbps", p.number(1, 100_000), None),
        timezone=section.value("timezone", p.timezone, "Asia/Shanghai"),
        classrooms=section.entries("classrooms", _classroom, unique="id"),
    )


def _classroom(walk: Walk, node: yaml.Node, path: str) -> Classroom:
    section = walk.mapping(node, path, ["id", "name", "devices"])
    return Classroom(section.value("id", p.identifier), section.value("name", p.display_name),
                     section.entries("devices", _device, unique="id"))


def _device(walk: Walk, node: yaml.Node, path: str) -> Device:
    section = walk.mapping(node, path, ["id", "kind", "host", "check", "name", "required"])
    return Device(section.value("id", p.identifier), section.value("kind", p.choice(*DEVICE_KINDS)),
                  section.value("host", p.host), section.value("check", p.check("icmp", "tcp", "http", "pjlink")),
                  section.value("name", p.display_name, ""), section.value("required", p.boolean, True))

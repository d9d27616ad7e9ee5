"""Raw tables to the roster model, with every mistake found at once.

A clerk fixing a 300-school workbook wants the whole list, not the first problem and then
another run: each sheet is read to the end, rows with problems are left out of the
roster, and the roster is only returned when nothing but notes remain.
"""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from functools import partial

from roster import columns as cols
from roster.cells import Reader
from roster.model import Classroom, Contacts, County, Device, Roster, School
from roster.problems import RosterError, RosterProblem
from roster.settings import read_settings
from roster.tables import Row, Table, cell_at
from schoolnet_core.config.parsers import Check, timezone
from schoolnet_core.contract import DEVICE_KINDS

KINDS = {**{kind: kind for kind in DEVICE_KINDS}, **{name: kind for kind, name in cols.KIND_NAMES.items()},
         "panel": "interactive_panel", "whiteboard": "electronic_whiteboard", "pc": "classroom_pc",
         "一体机": "interactive_panel", "电脑": "classroom_pc", "白板": "electronic_whiteboard"}
DEVICE_IDS = {"interactive_panel": "panel", "projector": "projector", "electronic_whiteboard": "whiteboard",
              "smart_blackboard": "blackboard", "classroom_pc": "pc", "document_camera": "booth",
              "sync_endpoint": "sync", "other": "device"}  # fmt: skip
YES_NO = {"是": True, "否": False, "yes": True, "no": False, "y": True, "n": False, "true": True,
          "false": False, "1": True, "0": False, "必需": True, "可选": False}
RURAL = {"乡村": True, "农村": True, "rural": True, "城区": False, "城镇": False, "urban": False}
HOST_NAME = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*",
                       re.IGNORECASE)


@dataclass
class Where:
    """Where a value was read, for messages about it that come later (duplicates)."""

    table: Table
    cell: str
    column: str

    def problem(self, problem: str, fix: str) -> None:
        self.table.problem(self.cell, self.column, problem, fix)


@dataclass
class Building:
    counties: dict[str, County] = field(default_factory=dict)
    schools: dict[str, School] = field(default_factory=dict)
    school_cells: dict[str, Where] = field(default_factory=dict)
    rooms: dict[str, dict[str, Classroom]] = field(default_factory=lambda: defaultdict(dict))


def build_roster(tables: list[Table], extra: list[RosterProblem] | None = None) -> tuple[Roster, list[RosterProblem]]:
    """The roster and its notes; RosterError listing every problem when there is one."""
    by_key = {}
    for table in tables:
        by_key.setdefault(table.spec.key, table)
    problems = list(extra or [])
    for spec in cols.SHEETS:
        if spec.key not in by_key and spec.key != "settings":
            file = tables[0].file if tables else "roster"
            problems.append(RosterProblem(file, spec.title, "A1", "(sheet)", f"the sheet {spec.title} is missing",
                                          f"add a sheet named {spec.title} (schoolnet-fleet template shows it)"))
    built = Building()
    if "counties" in by_key:
        _read_counties(by_key["counties"], built)
    if "schools" in by_key:
        _read_schools(by_key["schools"], built)
    if "classrooms" in by_key:
        _read_classrooms(by_key["classrooms"], built)
    settings = read_settings(by_key.get("settings"), set(built.counties), set(built.schools))
    problems += [p for table in tables for p in table.problems]
    if any(not p.note for p in problems):
        raise RosterError(problems)
    schools = tuple(replace(school, classrooms=tuple(built.rooms[school.id].values()))
                    for school in built.schools.values())
    roster = Roster(tuple(built.counties.values()), schools, settings)
    return roster, sorted(problems, key=lambda p: p.sort_key)


def _read_counties(table: Table, built: Building) -> None:
    read, spec = Reader(table), table.spec
    for row in table.rows:
        at = partial(cell_at, table, row)
        county_id, name = read.ident(*at("id")), read.name(*at("name"))
        emails = _emails(read, *at("email"))
        wecom, dingtalk = read.code(*at("wecom_webhook_file")), read.code(*at("dingtalk_webhook_file"))
        if county_id is None or name is None:
            continue
        if county_id in built.counties:
            Where(table, at("id")[0].ref, spec.column("id").header).problem(
                f'"{county_id}" is listed twice', "keep one row per county")
            continue
        built.counties[county_id] = County(county_id, name, Contacts(tuple(emails or ()), wecom, dingtalk))


def _emails(read: Reader, cell, column) -> tuple[str, ...] | None:
    text = read.name(cell, column)
    if text is None:
        return ()
    found = tuple(part.strip() for part in re.split(r"[;,；，\s]+", text) if part.strip())
    bad = [address for address in found if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", address)]
    if bad:
        read.problem(cell, column, f'"{bad[0]}" is not an e-mail address', "type addresses like it@county.edu.cn, "
                     "separated by ;")
        return None
    return found


def _read_schools(table: Table, built: Building) -> None:
    read, spec = Reader(table), table.spec
    users: dict[str, Where] = {}
    for row in table.rows:
        school = _school(read, table, row, built)
        if school is None:
            continue
        where = Where(table, row.cell("id", table.column_index.get("id")).ref, spec.column("id").header)
        if school.id in built.schools:
            first = built.school_cells[school.id]
            where.problem(f'"{school.id}" is already the id of {built.schools[school.id].name} ({first.cell})',
                          "each school needs its own id: check the 学校标识码")
            continue
        user = school.broker_user or school.id
        if user in users:
            where.problem(f'the broker user "{user}" is also that of row {users[user].cell}',
                          "give each school its own broker user (or leave it empty)")
            continue
        users[user] = where
        built.schools[school.id] = school
        built.school_cells[school.id] = where


def _school(read: Reader, table: Table, row: Row, built: Building) -> School | None:
    at = partial(cell_at, table, row)
    county = read.ident(*at("county"))
    values = {
        "id": read.ident(*at("id")), "name": read.name(*at("name")),
        "type": read.choice(*at("type"), {t: t for t in cols.SCHOOL_TYPES_ALL}),
        "rural": read.choice(*at("rural"), RURAL),
        "enrolment": read.number(*at("enrolment"), 0, 100_000, whole=True),
        "contracted_mbps": read.number(*at("contracted_mbps"), 0.1, 100_000),
        "egress_target_mbps": read.number(*at("egress_target_mbps"), 0.1, 100_000),
        "broker_user": read.ident(*at("broker_user")),
        "speed_test_server": read.code(*at("speed_test_server")),
        "timezone": _timezone(read, *at("timezone")),
    }
    if county is not None and built.counties and county not in built.counties:
        read.problem(*at("county"), f'"{county}" is not in the sheet 县', "add the county to the sheet 县 "
                     "(with its alert contacts) or correct the code")
        county = None
    if county is None or any(values[key] is None for key in ("id", "name", "type", "rural")):
        return None
    values["timezone"] = values["timezone"] or "Asia/Shanghai"
    values["type"] = cols.SCHOOL_TYPES_ALL[values["type"]]
    return School(county=county, **values)


def _timezone(read: Reader, cell, column) -> str | None:
    text = read.code(cell, column)
    if text is None:
        return None
    import yaml
    try:
        return timezone(yaml.ScalarNode("tag:yaml.org,2002:str", text))
    except ValueError as error:
        read.problem(cell, column, str(error), "use a zone name such as Asia/Shanghai or Asia/Urumqi")
        return None


def _read_classrooms(table: Table, built: Building) -> None:
    read = Reader(table)
    names: dict[tuple[str, str], tuple[str, str]] = {}
    addresses: dict[tuple[str, str], str] = {}
    for row in table.rows:
        at = partial(cell_at, table, row)
        school_id, class_id, class_name = read.ident(*at("school")), read.ident(*at("class_id")), read.name(*at("class_name"))
        device = _device(read, at)
        if school_id is not None and school_id not in built.schools:
            if school_id not in built.school_cells:
                read.problem(*at("school"), f'"{school_id}" is not in the sheet 学校',
                             "add the school to the sheet 学校 or correct the id")
            continue
        if None in (school_id, class_id, class_name) or device is False:
            continue
        if _class_name_conflict(read, at, names, (school_id, class_id), class_name):
            continue
        if device is not None and _address_taken(read, at, addresses, school_id, device, at("class_id")[0]):
            continue
        _add_device(built.rooms[school_id], class_id, class_name, device)


def _class_name_conflict(read, at, names, key, class_name) -> bool:
    seen = names.setdefault(key, (class_name, at("class_name")[0].ref))
    if seen[0] != class_name:
        read.problem(*at("class_name"), f'class {key[1]} is called "{seen[0]}" in {seen[1]}',
                     'use one name for one class, or give this class its own 班级代码')
        return True
    return False


def _address_taken(read, at, addresses, school_id, device: Device, class_cell) -> bool:
    key = (school_id, device.host)
    if key in addresses:
        read.problem(*at("address"), f"{device.host} is also the address of the device in {addresses[key]}",
                     "each device has its own address: correct one of the two")
        return True
    addresses[key] = at("address")[0].ref
    return False


def _add_device(rooms: dict[str, Classroom], class_id: str, class_name: str, device: Device | None) -> None:
    room = rooms.get(class_id) or Classroom(class_id, class_name)
    if device is not None:
        taken = {d.id for d in room.devices}
        device_id, n = device.id, 1
        while device_id in taken:
            n += 1
            device_id = f"{device.id}-{n}"
        room = replace(room, devices=room.devices + (replace(device, id=device_id),))
    rooms[class_id] = room


def _device(read: Reader, at) -> Device | None | bool:
    """The row's device, None for a class without devices, False when the row has a problem."""
    kind = read.choice(*at("kind"), KINDS)
    address_cell, address_column = at("address")
    address = read.code(address_cell, address_column)
    check = _check(read, *at("check"), address)
    device_id, name = read.ident(*at("device_id")), read.name(*at("device_name"))
    required = read.choice(*at("required"), YES_NO)
    password = _password_file(read, *at("password_file"))
    if kind is None and address is None:
        return None if at("kind")[0].value in (None, "") else False
    if kind is None:
        read.problem(*at("kind"), "is empty but the row has an address", "choose the device kind from the list")
        return False
    if address is None:
        read.problem(address_cell, address_column, "is empty", "type the device's IP address or host name")
        return False
    host = _host(read, address_cell, address_column, address)
    if host is None or check is False or password is False:
        return False
    check = check or Check("icmp")
    if check.method == "http" and check.url is None:
        check = Check("http", url=address if "://" in address else f"http://{host}/")
    return Device(id=device_id or DEVICE_IDS[kind], kind=kind, host=host, check=check,
                  name=name or cols.KIND_NAMES[kind], required=True if required is None else bool(required),
                  password_file=password)


def _host(read: Reader, cell, column, address: str) -> str | None:
    if "://" in address:
        from urllib.parse import urlsplit
        try:
            host = urlsplit(address).hostname
        except ValueError:
            host = None
        if host:
            return host
    elif _is_ip(address) or (HOST_NAME.fullmatch(address) and not re.fullmatch(r"[\d.]+", address)):
        return address
    read.problem(cell, column, f'"{address}" is not an IP address or host name',
                 "type an address like 192.168.1.20 (four numbers 0-255), a host name, or an http:// URL")
    return None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _check(read: Reader, cell, column, address: str | None) -> Check | None | bool:
    text = read.code(cell, column)
    if text is None:
        return None
    lowered = text.lower()
    if lowered in ("icmp", "ping"):
        return Check("icmp")
    if lowered == "pjlink":
        return Check("pjlink", port=4352)
    if lowered in ("http", "https"):
        return Check("http", url=address if address and "://" in address else None)
    port = re.fullmatch(r"tcp[:：](\d{1,5})", lowered)
    if port and 1 <= int(port[1]) <= 65535:
        return Check("tcp", port=int(port[1]))
    if lowered.startswith(("http://", "https://")):
        return Check("http", url=text)
    read.problem(cell, column, f'"{text}" is not a check', "choose icmp, tcp:PORT (e.g. tcp:80), http or pjlink")
    return False


def _password_file(read: Reader, cell, column) -> str | None | bool:
    value = read.raw(cell, column)
    if value is None:
        return None
    text = str(value).strip()
    if not text.startswith("/") or any(char.isspace() for char in text):
        # never quote the cell: it may hold the password itself
        read.problem(cell, column, "is not a file path (it may be the password itself: the roster must not hold it)",
                     "put the password in a file on the gateway, e.g. /etc/schoolnet/pjlink.password, and type that path")
        return False
    return text

"""What the roster wants the fleet to be, and how that differs from what the state folder
holds: `plan` prints the difference and changes nothing; `apply` makes it so.

Each school's record (fleet.json) keeps what a county engineer reasons about: its fields,
its classes and devices, and a digest of its agent.yaml, so the plan says "device c7-1/panel
moved to 198.51.100.12" rather than "agent.yaml changed". A change of the settings (a new
holiday) reaches every school's agent.yaml and is one line, with the count.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from agent.config import load_config
from fleet import alerts, series
from fleet.agent_config import render
from fleet.state import State
from roster.model import Roster, School
from schoolnet_core.config.problems import ConfigError

FIELDS = {"name": "名称 name", "type": "类型 type", "rural": "城乡 rural", "enrolment": "在校生数 enrolment",
          "contracted_mbps": "签约带宽 contracted", "target_mbps": "出口带宽目标 target", "user": "账号 broker user",
          "speed_test_server": "测速服务器 speed-test server", "timezone": "时区 timezone"}  # fmt: skip
PARALLEL_FROM = 150  # below this many configs a process pool costs more than it saves


def digest(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


@dataclass(frozen=True)
class SchoolPlan:
    school: School
    config: str
    record: dict

    @property
    def key(self) -> str:
        return f"{self.school.county}/{self.school.id}"


@dataclass
class Desired:
    roster: Roster
    roster_name: str
    schools: dict[str, SchoolPlan]
    alertmanager: str
    series: str


def school_record(roster: Roster, school: School, config: str) -> dict:
    devices = {f"{room.id}/{d.id}": f"{d.kind} {d.host} {d.check}{'' if d.required else ' optional'}"
               f"{' pw=' + d.password_file if d.password_file else ''} {d.name}"
               for room in school.classrooms for d in room.devices}
    return {
        "county": school.county, "id": school.id,
        "fields": {"name": school.name, "type": school.type, "rural": school.rural, "enrolment": school.enrolment,
                   "contracted_mbps": school.contracted_mbps, "target_mbps": roster.egress_target(school),
                   "user": school.broker_user or school.id, "speed_test_server": school.speed_test_server,
                   "timezone": school.timezone},
        "classes": {room.id: room.name for room in school.classrooms},
        "devices": devices,
        "config_sha256": digest(config),
    }


def desired_state(roster: Roster, roster_name: str) -> Desired:
    schools = {}
    for school in roster.schools:
        config = render(roster, school, roster_name)
        plan = SchoolPlan(school, config, school_record(roster, school, config))
        schools[plan.key] = plan
    return Desired(roster, roster_name, schools, alerts.alertmanager_config(roster), series.roster_series(roster))


def agent_refusals(desired: Desired, checked: frozenset[str] = frozenset()) -> list[str]:
    """Every generated agent.yaml through the agent's own loader: what it refuses, per school.

    `checked` are digests of configs this agent version already accepted (recorded by the
    last apply), which need no second look; the rest are split over the machine's cores,
    since the loader takes some 25 ms a file and a province has 50,000."""
    work = [(key, plan.config) for key, plan in desired.schools.items() if plan.record["config_sha256"] not in checked]
    if len(work) < PARALLEL_FROM:
        return _refusals(work)
    workers = max(1, min(os.cpu_count() or 1, 8))
    chunks = [work[n::workers * 4] for n in range(workers * 4)]
    with ProcessPoolExecutor(workers) as pool:
        return [line for lines in pool.map(_refusals, chunks) for line in lines]


def _refusals(work: list[tuple[str, str]]) -> list[str]:
    refusals = []
    with tempfile.TemporaryDirectory(prefix="schoolnet-fleet-") as folder:
        path = Path(folder) / "agent.yaml"
        for key, config in work:
            path.write_text(config)
            try:
                load_config(path)
            except ConfigError as error:
                shown = f"schools/{key}/agent.yaml"
                refusals += [f"{shown}: {line.replace(str(path), shown)}" for line in str(error).splitlines()
                             if line.strip()]
    return refusals


def checked_digests(state: State) -> frozenset[str]:
    """Configs the agent's loader accepted at the last apply, if the agent has not changed since."""
    manifest = state.manifest()
    if manifest.get("agent_version") != agent_version():
        return frozenset()
    return frozenset(record["config_sha256"] for record in manifest.get("schools", {}).values())


def agent_version() -> str:
    try:
        return metadata.version("schoolnet")
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class Change:
    what: str  # see WORDS in fleet.cli
    subject: str  # county/school, county, or a file
    name: str = ""
    details: tuple[str, ...] = ()


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    settings_changed: list[str] = field(default_factory=list)  # schools whose config changed by settings only

    def of(self, what: str) -> list[Change]:
        return [change for change in self.changes if change.what == what]

    @property
    def empty(self) -> bool:
        return not self.changes and not self.settings_changed


def make_plan(desired: Desired, state: State, rotate: frozenset[str] = frozenset()) -> Plan:
    manifest = state.manifest()
    plan = Plan()
    _county_changes(desired, manifest, plan)
    known = manifest.get("schools", {})
    for key, school_plan in desired.schools.items():
        _school_changes(school_plan, known.get(key), state, plan, rotate)
    for key, record in known.items():
        if key not in desired.schools:
            plan.changes.append(Change("school_retired", key, record["fields"]["name"]))
    for what, text, recorded in (("alerts", desired.alertmanager, "alertmanager_sha256"),
                                 ("series", desired.series, "series_sha256")):
        if manifest.get(recorded) != digest(text):
            plan.changes.append(Change(what, what))
    return plan


def _county_changes(desired: Desired, manifest: dict, plan: Plan) -> None:
    known = manifest.get("counties", {})
    for county in desired.roster.counties:
        record = county_record(county)
        if county.id not in known:
            plan.changes.append(Change("county_added", county.id, county.name))
        elif known[county.id] != record:
            plan.changes.append(Change("county_changed", county.id, county.name))
        if not alerts.has_contacts(county):
            plan.changes.append(Change("county_no_contacts", county.id, county.name))
    for county_id, record in known.items():
        if county_id not in {c.id for c in desired.roster.counties}:
            plan.changes.append(Change("county_retired", county_id, record["name"]))


def county_record(county) -> dict:
    contacts = county.contacts
    return {"name": county.name, "email": list(contacts.email), "wecom": contacts.wecom_webhook_file,
            "dingtalk": contacts.dingtalk_webhook_file}


def _school_changes(new: SchoolPlan, old: dict | None, state: State, plan: Plan, rotate: frozenset[str]) -> None:
    school = new.school
    if old is None:
        plan.changes.append(Change("school_added", new.key, school.name))
        return
    fields = [f"{FIELDS[k]}: {old['fields'].get(k)} → {v}" for k, v in new.record["fields"].items()
              if old["fields"].get(k) != v]
    if fields:
        plan.changes.append(Change("school_changed", new.key, school.name, tuple(fields)))
    devices = _device_changes(old, new.record)
    if devices:
        plan.changes.append(Change("devices_changed", new.key, school.name, tuple(devices)))
    config_changed = old["config_sha256"] != new.record["config_sha256"]
    if config_changed and not fields and not devices:
        plan.settings_changed.append(new.key)
    path = state.config_path(school.county, school.id)
    if not config_changed and (not path.exists() or digest(path.read_bytes()) != new.record["config_sha256"]):
        plan.changes.append(Change("config_restored", new.key, school.name))
    if {school.id, new.key, school.broker_user} & rotate or not state.password_path(school.county, school.id).exists():
        plan.changes.append(Change("password_new", new.key, school.name))


def _device_changes(old: dict, new: dict) -> list[str]:
    lines = []
    for room, name in new["classes"].items():
        if room not in old["classes"]:
            lines.append(f"+ 班级 class {room} {name}")
        elif old["classes"][room] != name:
            lines.append(f"~ 班级 class {room}: {old['classes'][room]} → {name}")
    lines += [f"- 班级 class {room} {name}" for room, name in old["classes"].items() if room not in new["classes"]]
    for device, text in new["devices"].items():
        if device not in old["devices"]:
            lines.append(f"+ {device}: {text}")
        elif old["devices"][device] != text:
            lines.append(f"~ {device}: {old['devices'][device]} → {text}")
    lines += [f"- {device}: {text}" for device, text in old["devices"].items() if device not in new["devices"]]
    return lines

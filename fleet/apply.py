"""Makes the state folder what the roster wants: each school's agent.yaml and password,
the broker's accounts (the dynamic security plugin's state file, fleet/broker.py), the
Alertmanager routes and the roster series.

Idempotent: a file is written only when its content changes, and a password is made only
when there is none (or for `--rotate SCHOOL`), so a second apply writes nothing and no
school's credential changes under it. Passwords never leave their 0600 files: not to the
terminal, not to a log, not to an argument list.

A running broker keeps its own copy of the accounts (it rewrites its state file itself),
so every account change after the first apply is also recorded as pending in fleet.json
(user name and ids, never a password); fleet.sync sends the pending changes to the running
broker as the admin (`apply --broker`, or `schoolnet-fleet broker` later).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field

from fleet import alerts
from fleet.broker import (
    ADMIN_USER,
    DYNSEC_FILE,
    OPERATOR_PREFIX,
    BrokerAccount,
    broker_files,
    collector_users,
)
from fleet.plan import Desired, Plan, agent_version, county_record, digest
from fleet.retire import RetiredSchool
from fleet.state import (
    PUBLIC_MODE,
    SECRET_MODE,
    State,
    new_password,
    write_file,
)
from schoolnet_core.private import private_dir

OLD_BROKER_FILES = ("passwd", "acl")
"""The password file and ACL of the state folder's first format: hashes, deleted on sight."""


@dataclass
class Applied:
    written: list[str] = field(default_factory=list)  # paths relative to the state folder
    retired: list[RetiredSchool] = field(default_factory=list)
    renewed: set[str] = field(default_factory=set)  # user names given a new password by this apply

    def wrote(self, state: State, path, changed: bool) -> None:
        if changed:
            self.written.append(str(path.relative_to(state.root)))


def apply(desired: Desired, plan: Plan, state: State, rotate: frozenset[str] = frozenset()) -> Applied:
    private_dir(state.root)
    state.root.chmod(0o700)
    applied = Applied()
    manifest = state.manifest()
    accounts = _school_files(desired, state, rotate, applied)
    accounts += _service_accounts(desired, state, rotate, applied)
    applied.retired = _retire(plan, manifest, state, applied)
    _broker(accounts, manifest, state, applied)
    _pending(accounts, applied.renewed, manifest)
    _alertmanager(desired, state, applied)
    applied.wrote(state, state.root / "roster" / "roster.prom",
                  write_file(state.root / "roster" / "roster.prom", desired.series, PUBLIC_MODE))
    _record(desired, manifest, state, applied)
    return applied


def _password(state: State, path, rotate: bool, applied: Applied, user: str) -> str:
    password = None if rotate else state.read_password(path)
    if password is None:
        password = new_password()
        applied.wrote(state, path, write_file(path, password + "\n", SECRET_MODE))
        applied.renewed.add(user)
    return password


def _school_files(desired: Desired, state: State, rotate: frozenset[str], applied: Applied) -> list[BrokerAccount]:
    accounts = []
    for key, plan in desired.schools.items():
        school = plan.school
        config = state.config_path(school.county, school.id)
        applied.wrote(state, config, write_file(config, plan.config, PUBLIC_MODE))
        wanted = bool({school.id, key, school.broker_user} & rotate)
        user = school.broker_user or school.id
        password = _password(state, state.password_path(school.county, school.id), wanted, applied, user)
        accounts.append(BrokerAccount(user, password, "school", school.county, school.id))
    return accounts


def _service_accounts(desired: Desired, state: State, rotate: frozenset[str], applied: Applied) -> list[BrokerAccount]:
    """An operator per county, a collector account per collector (the roster's 汇聚服务数,
    default the scale-out pair), and the admin, whose password the fleet tool needs to change
    a running broker. The admin's password is never rotated here: the running broker knows
    only the current one (credentials.py --offline with the broker stopped makes a new one)."""
    accounts = []
    for county in desired.roster.counties:
        user = OPERATOR_PREFIX + county.id
        password = _password(state, state.account_password_path(user), user in rotate, applied, user)
        accounts.append(BrokerAccount(user, password, "operator", county.id))
    for user in collector_users(desired.roster.settings.collectors):
        password = _password(state, state.account_password_path(user), user in rotate, applied, user)
        accounts.append(BrokerAccount(user, password, "collector"))
    password = _password(state, state.account_password_path(ADMIN_USER), False, applied, ADMIN_USER)
    return accounts + [BrokerAccount(ADMIN_USER, password, "admin")]


def accounts_digest(accounts: list[BrokerAccount]) -> str:
    """Changes when an account, its grants or its password change; never holds a password."""
    rows = sorted(f"{a.username} {a.role} {a.county} {a.school} {digest(a.password)}" for a in accounts)
    return digest("\n".join(rows))


def _broker(accounts: list[BrokerAccount], manifest: dict, state: State, applied: Applied) -> None:
    """The plugin's hashes are salted afresh on every render, so the file is rewritten only
    when the accounts change (their digest, recorded in fleet.json): a second apply leaves it
    alone. 0600: it is the broker's (install it 0640, group mosquitto)."""
    folder = state.root / "broker"
    for name in OLD_BROKER_FILES:
        if (folder / name).exists():
            (folder / name).unlink()
            applied.written.append(f"broker/{name} (deleted)")
    fingerprint = accounts_digest(accounts)
    if manifest.get("accounts_sha256") == fingerprint and (folder / DYNSEC_FILE).exists():
        return
    for name, text in broker_files(accounts).items():
        applied.wrote(state, folder / name, write_file(folder / name, text, SECRET_MODE))
    manifest["accounts_sha256"] = fingerprint


def _ids(account: BrokerAccount) -> dict:
    return {"role": account.role, "county": account.county, "school": account.school}


def _pending(accounts: list[BrokerAccount], renewed: set[str], manifest: dict) -> None:
    """Records what a running broker still has to be told, against the accounts of the last
    apply: a new account or a new password is "put", an account no longer wanted "retire".
    The first apply records nothing: its file is what the broker first starts with."""
    known = manifest.get("accounts")
    current = {a.username: _ids(a) for a in accounts if a.role != "admin"}
    if known is not None:
        pending = manifest.get("broker_pending", {})
        for user, ids in current.items():
            if user in renewed or known.get(user) != ids:
                pending[user] = {"action": "put", **ids}
        for user, ids in known.items():
            if user not in current:
                pending[user] = {"action": "retire", **ids}
        if pending:  # fleet.json unchanged by an apply that changes nothing
            manifest["broker_pending"] = pending
    manifest["accounts"] = current


def _alertmanager(desired: Desired, state: State, applied: Applied) -> None:
    folder = state.root / "alertmanager"
    applied.wrote(state, folder / "alertmanager.yml",
                  write_file(folder / "alertmanager.yml", desired.alertmanager, SECRET_MODE))
    for template in sorted(alerts.TEMPLATES_DIR.glob("*.tmpl")):
        target = folder / "templates" / template.name
        applied.wrote(state, target, write_file(target, template.read_bytes(), PUBLIC_MODE))


def _retire(plan: Plan, manifest: dict, state: State, applied: Applied) -> list[RetiredSchool]:
    """A retired school's folder moves to retired/: its account leaves the broker files, and
    its password stays (0600) until its retained status is cleared (fleet.retire)."""
    retired = []
    for change in plan.of("school_retired"):
        county, school_id = change.subject.split("/", 1)
        source, target = state.school_dir(county, school_id), state.retired_dir(county, school_id)
        if source.exists():
            private_dir(target.parent)
            shutil.rmtree(target, ignore_errors=True)
            source.rename(target)
            applied.written.append(str(target.relative_to(state.root)))
        bundle = state.bundle_path(county, school_id)
        if bundle.exists():
            bundle.unlink()
            applied.written.append(str(bundle.relative_to(state.root)) + " (deleted)")
        record = manifest["schools"][change.subject]
        retired.append(RetiredSchool(county, school_id, record["fields"]["user"], change.name))
        manifest.setdefault("retired", {})[change.subject] = {"name": change.name, "user": record["fields"]["user"],
                                                              "status_cleared": False}
    return retired


def _record(desired: Desired, manifest: dict, state: State, applied: Applied) -> None:
    manifest["roster"] = desired.roster_name
    manifest["agent_version"] = agent_version()
    manifest["schools"] = {key: plan.record for key, plan in desired.schools.items()}
    manifest["counties"] = {county.id: county_record(county) for county in desired.roster.counties}
    manifest["alertmanager_sha256"] = digest(desired.alertmanager)
    manifest["series_sha256"] = digest(desired.series)
    for key in desired.schools:  # a school back in the roster is no longer retired
        manifest.get("retired", {}).pop(key, None)
    if state.save_manifest(manifest):
        applied.written.append("fleet.json")

"""Sends the account changes apply recorded as pending (fleet.json "broker_pending") to the
running broker, through its dynamic security plugin as the admin (fleet.dynsec, the same
code deploy/central/credentials.py uses).

A running broker keeps its own accounts and rewrites its state file itself: installing a
new broker/dynamic-security.json would need it stopped, and would leave the sessions of a
rotated or retired school in place (the plugin never ends parked sessions). So each change
goes to the broker as it is made: a new account is made; a new password is set, which
disconnects the account, and its parked sessions are ended; a retired account is deleted,
its sessions ended and, for a school, its retained status cleared. Passwords are read from
the state folder's 0600 files and go only to the broker, inside the TLS or loopback session.
A change the broker refused stays pending, so running it again finishes the job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fleet import dynsec
from fleet.broker import ADMIN_USER, BrokerAccount
from fleet.state import State
from schoolnet_core import contract


@dataclass
class Synced:
    done: list[str] = field(default_factory=list)  # one line per change, zh-CN first
    failed: list[str] = field(default_factory=list)


def pending(state: State) -> dict[str, dict]:
    return state.manifest().get("broker_pending", {})


def sync(state: State, url: str, ca: Path | None) -> Synced:
    """Every pending change, retirements first (a user name may pass to another school);
    each one done is dropped from fleet.json at once."""
    synced = Synced()
    manifest = state.manifest()
    work = manifest.get("broker_pending", {})
    if not work:
        return synced
    admin_password = state.read_password(state.account_password_path(ADMIN_USER))
    if admin_password is None:
        raise dynsec.Refused(f"{state.account_password_path(ADMIN_USER)} is missing: the admin's password is "
                             "needed to change a running broker")
    order = sorted(work, key=lambda user: (work[user]["action"] != "retire", user))
    with dynsec.Admin(url, admin_password, str(ca) if ca else None) as admin:
        dynsec.refresh_role(admin, BrokerAccount(ADMIN_USER, "", "admin"))  # its grants, if older
        for user in order:
            try:
                synced.done.append(_one(admin, state, manifest, user, work[user]))
            except dynsec.Refused as refusal:
                synced.failed.append(f"{user}: {refusal}")
                continue
            del work[user]
            if not work:
                del manifest["broker_pending"]
            state.save_manifest(manifest)
    return synced


def _one(admin: dynsec.Admin, state: State, manifest: dict, user: str, item: dict) -> str:
    if item["action"] == "retire":
        account = BrokerAccount(user, "", item["role"], item["county"], item["school"])
        ended = dynsec.retire(admin, account, gone_ok=True)
        line = f"已停用并结束会话 retired, sessions ended: {user}" + (f" (client id {ended})" if ended else "")
        if account.role == "school":
            admin.clear_retained(contract.topic(account.county, account.school, contract.STATUS))
            retired = manifest.get("retired", {}).get(f"{account.county}/{account.school}")
            if retired is not None:
                retired["status_cleared"] = True
            line += "; 已清除保留状态 retained status cleared"
        return line
    account = BrokerAccount(user, _password(state, user, item), item["role"], item["county"], item["school"])
    ended = dynsec.put(admin, account)
    if ended is None:
        return f"已建立账号 account made: {user}"
    return f"已换密码并结束会话 new password, sessions ended: {user} (client id {ended}, parked ones included)"


def _password(state: State, user: str, item: dict) -> str:
    path = (state.password_path(item["county"], item["school"]) if item["role"] == "school"
            else state.account_password_path(user))
    password = state.read_password(path)
    if password is None:
        raise dynsec.Refused(f"{path} is missing: run apply again to make it")
    return password

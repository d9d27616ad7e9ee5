"""The broker's accounts, rendered from a list of accounts (pure: no broker needed).

One definition of who may do what, in two renderings of the same records:

* ``broker_files(accounts)`` returns one file, ``dynamic-security.json``: the state of
  mosquitto's dynamic security plugin (Debian's mosquitto 2.0.11 ships it). mosquitto.conf
  loads it with two lines (deploy/central/mosquitto/mosquitto.conf)::

      plugin /usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so
      plugin_opt_config_file /etc/mosquitto/schoolnet/dynamic-security.json

  and no ``password_file``/``acl_file``. The broker reads the file when it starts and
  rewrites it itself after every change made through ``$CONTROL/dynamic-security/v1``,
  so the folder must be writable by the broker's user.
* ``control_commands(account)`` returns the same client and role as plugin commands, for a
  broker that is running (deploy/central/credentials.py sends them as the admin account).

Why the plugin and not password_file + acl_file (measured on 2.0.11, tests/deploy/
test_identity.py): a file ACL is checked when a message is delivered, so any account may
subscribe to ``$share/<collectors' group>/...`` and take a share of every school's
messages, which are then dropped while the agent gets PUBACK 0x00; and nothing ties a
client id to an account, so a school may take over the collectors' or another school's
session. The plugin checks subscriptions when they are made (SUBACK 0x87) and binds each
client to one client id; deleting a client or changing its password disconnects it.

Each account is bound to exactly one client id (a school: ``agent-<county>-<school>``, as
the agent uses; everyone else: its user name), so no account can use another's id. The
admin account is the exception: it manages the plugin and ends parked sessions by taking
their client id, so it is unbound; its password stays with root on the broker's host.
Passwords are hashed as the plugin does (PBKDF2-SHA512, 101 rounds, 12-byte salt), so a
county of 300 schools or a province of 50,000 is written without a program per account.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

from schoolnet_core import contract

ROLES = ("admin", "collector", "operator", "school")
ADMIN_USER = "schoolnet-admin"
COLLECTOR_PREFIX = "schoolnet-collector-"
DEFAULT_COLLECTORS = 2
"""The scale-out pair: deploy/central/collector.yaml is schoolnet-collector-1, deploy/
scale-out/collector-1.yaml and collector-2.yaml are -1 and -2."""
OPERATOR_PREFIX = "operator."
"""Operators are `operator.<county>`: a dot never occurs in a school id, so no school
can ever be given an operator's name or the other way round."""
RESERVED_PREFIX = "schoolnet-"
"""User names of the service accounts (admin, collectors); never a school's."""
PBKDF2_ROUNDS = 101
SALT_BYTES = 12
DYNSEC_FILE = "dynamic-security.json"
COLLECTOR_GROUP = "schoolnet-collectors"
CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
DEFAULT_ACCESS = {"publishClientSend": False, "publishClientReceive": False,
                  "subscribe": False, "unsubscribe": True}
"""Anything a role does not grant is refused, reading included."""


@dataclass(frozen=True)
class BrokerAccount:
    username: str
    password: str  # plain text: only its hash leaves this module (or a command to the broker)
    role: str  # one of ROLES
    county: str | None = None  # set for a school and an operator
    school: str | None = None  # set for a school only

    def __repr__(self) -> str:
        return f"BrokerAccount({self.role} {self.username!r})"


def password_record(password: str, salt: bytes | None = None) -> dict:
    """The plugin's password fields for `password` (what `mosquitto_ctrl dynsec init` writes)."""
    salt = salt if salt is not None else os.urandom(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ROUNDS)
    return {"password": base64.b64encode(digest).decode(), "salt": base64.b64encode(salt).decode(),
            "iterations": PBKDF2_ROUNDS}


def client_id(account: BrokerAccount) -> str | None:
    """The one client id the account may connect with; None: any (the admin only)."""
    if account.role == "school":
        return f"agent-{account.county}-{account.school}"  # agent/publish/mqtt.py client_id
    if account.role == "admin":
        return None
    return account.username


def role_name(account: BrokerAccount) -> str:
    """A school's and an operator's role are their own (they pin the county); collectors
    share one; dots never occur in an id, so names cannot collide."""
    if account.role == "school":
        return f"school.{account.county}.{account.school}"
    if account.role == "operator":
        return f"operator.{account.county}"
    return account.role


def _acl(acltype: str, topic: str) -> dict:
    return {"acltype": acltype, "topic": topic, "allow": True}


def role_acls(account: BrokerAccount) -> list[dict]:
    """What the account's role grants; everything else is refused (DEFAULT_ACCESS).

    A school: publish its own results and status, subscribe to exactly its own command
    topic (subscribeLiteral: `+`, `#` and `$share/...` are other strings, so refused).
    An operator: publish its own county's command topics. A collector: the shared group
    and plain subscriptions under schoolnet/v1, and its dead letters. The admin: the plugin,
    and the schools' status topics, to clear a retired school's retained status after its
    account is gone (its last will, fired when its session ends, would undo an earlier clear)."""
    if account.role == "school":
        command = contract.topic(account.county, account.school, contract.COMMAND)
        sends = [_acl("publishClientSend", contract.topic(account.county, account.school, kind))
                 for kind in contract.KINDS]
        return sends + [_acl("subscribeLiteral", command), _acl("publishClientReceive", command)]
    if account.role == "operator":
        return [_acl("publishClientSend", contract.topic(account.county, "+", contract.COMMAND))]
    if account.role == "collector":
        return [_acl("subscribePattern", f"$share/{COLLECTOR_GROUP}/schoolnet/v1/#"),
                _acl("subscribePattern", "schoolnet/v1/#"),
                _acl("publishClientReceive", "schoolnet/v1/#"),
                _acl("publishClientSend", contract.DEADLETTER_ROOT + "/#")]
    if account.role == "admin":
        return [_acl(kind, topic) for topic in ("$CONTROL/dynamic-security/#",)
                for kind in ("publishClientSend", "publishClientReceive", "subscribePattern")] + [
            _acl("subscribePattern", "$SYS/#"), _acl("publishClientReceive", "$SYS/#"),
            _acl("publishClientSend", contract.topic("+", "+", contract.STATUS))]
    raise ValueError(f"role {account.role!r} is not one of {ROLES}")


def account_problem(account: BrokerAccount) -> str | None:
    """Why this account cannot be rendered, or None."""
    if account.role not in ROLES:
        return f"role {account.role!r}: use one of {', '.join(ROLES)}"
    needs = {"school": ("county", "school"), "operator": ("county",)}.get(account.role, ())
    for field in needs:
        if not getattr(account, field):
            return f"{account.role} {account.username!r} needs a {field} id"
    for field in ("county", "school"):
        value = getattr(account, field)
        if value is not None and contract.id_problem(value):
            return f"{account.role} {account.username!r}: {field} id {contract.id_problem(value)}"
    if account.role == "school":
        return school_user_problem(account.username)
    return None


def school_user_problem(username: str) -> str | None:
    """Why `username` cannot be a school's user name, or None. It is the school's id unless
    the roster names another; either way never a service account's name (those start with
    schoolnet-) and never an operator's (a dot is not allowed in an id). The client id is
    bound to the school's ids, not to this name."""
    if contract.id_problem(username):
        return f"school user name: {contract.id_problem(username)}"
    if username.startswith(RESERVED_PREFIX):
        return f"school user name {username!r} is kept for the service accounts; choose another"
    return None


def collector_users(count: int = DEFAULT_COLLECTORS) -> list[str]:
    """The collectors' user names, each also its one client id: schoolnet-collector-1..N."""
    return [f"{COLLECTOR_PREFIX}{n}" for n in range(1, count + 1)]


def description(account: BrokerAccount) -> str:
    """The client's textname: its role and ids, for reading the file back."""
    ids = "/".join(part for part in (account.county, account.school) if part)
    return f"{account.role} {ids}".rstrip()


def client_record(account: BrokerAccount, salt: bytes | None = None) -> dict:
    record = {"username": account.username, "textname": description(account)}
    if client_id(account) is not None:
        record["clientid"] = client_id(account)
    record.update(password_record(account.password, salt))
    record["roles"] = [{"rolename": role_name(account)}]
    return record


def role_record(account: BrokerAccount) -> dict:
    return {"rolename": role_name(account), "acls": role_acls(account)}


def dynsec_config(accounts: Sequence[BrokerAccount]) -> dict:
    """The plugin's whole state for these accounts; refuses duplicates (one account per
    user name, one per client id) and accounts that are not well formed."""
    ordered = sorted(accounts, key=lambda a: (ROLES.index(a.role) if a.role in ROLES else -1,
                                             a.county or "", a.username))
    seen_users: set[str] = set()
    seen_ids: set[str] = set()
    roles: dict[str, dict] = {}
    clients = []
    for account in ordered:
        problem = account_problem(account)
        if problem:
            raise ValueError(problem)
        bound = client_id(account)
        if account.username in seen_users or (bound is not None and bound in seen_ids):
            raise ValueError(f"{account.username!r} (client id {bound!r}) is there twice; "
                             "user names and client ids must be unique on one broker")
        seen_users.add(account.username)
        seen_ids.add(bound) if bound else None
        clients.append(client_record(account))
        roles.setdefault(role_name(account), role_record(account))
    return {"clients": clients, "groups": [], "roles": list(roles.values()),
            "defaultACLAccess": dict(DEFAULT_ACCESS)}


def broker_files(accounts: Sequence[BrokerAccount]) -> dict[str, str]:
    """File name (relative to the broker's config folder) -> text, for these accounts only:
    {"dynamic-security.json": the plugin's state} (see the module's docstring)."""
    return {DYNSEC_FILE: json.dumps(dynsec_config(accounts), ensure_ascii=False, indent=2) + "\n"}


def control_commands(account: BrokerAccount) -> list[dict]:
    """The account as plugin commands for a running broker: its role (made if missing,
    its grants added), then the client (made; if it exists, its password set, which
    disconnects it). Errors such as "already exists" are expected and ignored by the caller
    for the idempotent steps (see IGNORABLE)."""
    role = role_record(account)
    commands = [{"command": "createRole", "rolename": role["rolename"]}]
    commands += [{"command": "addRoleACL", "rolename": role["rolename"], **acl} for acl in role["acls"]]
    create = {"command": "createClient", "username": account.username, "password": account.password,
              "textname": description(account), "roles": [{"rolename": role["rolename"]}]}
    if client_id(account) is not None:
        create["clientid"] = client_id(account)
    return commands + [create]


IGNORABLE = ("Role already exists", "ACL with this topic already exists", "Client already exists")
"""Plugin answers that mean "already as wanted" for control_commands' steps."""

"""Issues the broker credentials county IT hands out: one per school, one per county
operator, one per collector; retires them.

    python3 deploy/central/credentials.py school hx hx-dazhuang-zx [--rotate]
    python3 deploy/central/credentials.py operator hx
    python3 deploy/central/credentials.py collector [schoolnet-collector-2]
    python3 deploy/central/credentials.py retire hx-dazhuang-zx
    python3 deploy/central/credentials.py emqx-rules hx hx-dazhuang-zx   (scale-out/EMQX)

The accounts live in mosquitto's dynamic security plugin (its state file,
dynamic-security.json); the records and rules come from fleet/broker.py, the one definition
the roster tool uses too. Each run, as root on the broker's host:
  * a new account (or --rotate) gets a random password, saved in SECRETS_DIR/<user>.password
    (mode 0600) and printed once, never logged, never on a command line;
  * broker running (the default): the change goes to it as plugin commands over the
    loopback listener, as the admin account; the broker applies it at once and saves its
    state file itself. A rotated or retired account is disconnected, and its parked
    (persistent, offline) session is ended too: the admin takes its client id with a
    clean start, which throws the session and its queue away;
  * --offline (broker stopped, e.g. before its first start): the state file is rewritten.
The first run makes the admin account (schoolnet-admin) as well.
"""

from __future__ import annotations

import argparse
import grp
import json
import os
import secrets
import sys
import tempfile
from pathlib import Path

try:
    from fleet import broker as rules
    from fleet import dynsec
    from schoolnet_core import contract
except ImportError:  # run with a plain python3 from a clone of the repository
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from fleet import broker as rules
    from fleet import dynsec
    from schoolnet_core import contract

BrokerAccount = rules.BrokerAccount
ADMIN_USER = rules.ADMIN_USER
COLLECTOR_USER = rules.collector_users(1)[0]
OPERATOR_PREFIX = rules.OPERATOR_PREFIX
PASSWORD_BYTES = 24  # 32 URL-safe characters
EXIT_OK, EXIT_FAILED, EXIT_REFUSED = 0, 1, 2

DEFAULTS = {
    "dynsec": "/etc/mosquitto/schoolnet/dynamic-security.json",
    "secrets_dir": "/root/schoolnet-credentials",
    "broker": "127.0.0.1:1883",
    "broker_group": "mosquitto",
}


Refused = dynsec.Refused
"""A request the tool will not carry out; the message says why and what to do."""


# --- accounts (pure) ---------------------------------------------------------------------


def account_problem(role: str, username: str, county: str | None, school: str | None) -> str | None:
    """Why these ids cannot become an account, or None."""
    for label, value in (("county", county), ("school", school)):
        if value is not None and contract.id_problem(value):
            return f"{label} id: {contract.id_problem(value)}"
    if role == "collector" and not username.startswith("schoolnet-collector"):
        return f"collector name {username!r}: start it with schoolnet-collector (e.g. schoolnet-collector-2)"
    if role == "collector" and contract.id_problem(username):
        return f"collector name: {contract.id_problem(username)}"
    if role == "school" and (school.startswith("schoolnet-") or school == ADMIN_USER):
        return f"school id {school!r} is kept for the service accounts; choose another id"
    return None


def parse_textname(textname: str) -> tuple[str, str | None, str | None]:
    """(role, county, school) from a client's textname, as fleet.broker.description writes."""
    role, _, ids = textname.partition(" ")
    county, _, school = ids.partition("/")
    return role, county or None, school or None


def registered(state: dict) -> dict[str, dict]:
    """user name -> client record, for the clients this tool (or fleet) made."""
    return {client["username"]: client for client in state.get("clients", [])
            if parse_textname(client.get("textname", ""))[0] in rules.ROLES}


def with_account(state: dict, account: BrokerAccount) -> dict:
    """The plugin state with `account` added or replaced (its password hashed here), every
    other account's role refreshed from the contract; refuses a user name already used by
    an account of another kind (a school id taken in another county)."""
    known = registered(state)
    if account.username in known:
        role, county, school = parse_textname(known[account.username]["textname"])
        if (role, county, school) != (account.role, account.county, account.school):
            raise Refused(f"user {account.username!r} is already {known[account.username]['textname']!r}; "
                          "user names (a school's is its id) must be unique on one broker")
    clients = [client for client in state.get("clients", []) if client["username"] != account.username]
    clients.append(rules.client_record(account))
    return _rebuilt(state, clients)


def without_account(state: dict, username: str) -> dict:
    if username not in registered(state):
        raise Refused(f"no account {username!r} on this broker; nothing to retire")
    return _rebuilt(state, [client for client in state["clients"] if client["username"] != username])


def _rebuilt(state: dict, clients: list[dict]) -> dict:
    """Roles recomputed from the clients' textnames: a message kind added to the contract
    reaches every school; roles nobody holds any more are dropped."""
    roles: dict[str, dict] = {}
    for client in clients:
        role, county, school = parse_textname(client.get("textname", ""))
        if role in rules.ROLES:
            account = BrokerAccount(client["username"], "", role, county, school)
            roles.setdefault(rules.role_name(account), rules.role_record(account))
    kept = [role for role in state.get("roles", []) if role["rolename"] not in roles
            and any(r.get("rolename") == role["rolename"] for c in clients for r in c.get("roles", []))]
    ordered = sorted(clients, key=lambda c: c.get("textname", ""))
    return {"clients": ordered, "groups": state.get("groups", []), "roles": kept + list(roles.values()),
            "defaultACLAccess": dict(rules.DEFAULT_ACCESS)}


def emqx_rules(account: BrokerAccount) -> list[dict]:
    """The same rules as the body of EMQX 5's built-in-database authorization API
    (POST /api/v5/authorization/sources/built_in_database/rules/users)."""
    action = {"publishClientSend": "publish", "subscribeLiteral": "subscribe"}
    allowed = [{"topic": acl["topic"], "permission": "allow", "action": action[acl["acltype"]]}
               for acl in rules.role_acls(account) if acl["acltype"] in action]
    return [{"username": account.username, "rules": allowed}]


def new_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


# --- files ---------------------------------------------------------------------------------


def replace_file(path: Path, text: str, mode: int, group: int) -> None:
    """Write atomically, so nobody reads half a file; a bind-mounted folder shows it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)
        os.chown(temporary, 0, group)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save_secret(secrets_dir: Path, username: str, password: str) -> Path:
    secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(secrets_dir, 0o700)
    path = secrets_dir / f"{username}.password"
    replace_file(path, password + "\n", 0o600, 0)
    return path


def read_secret(secrets_dir: Path, username: str) -> str:
    path = secrets_dir / f"{username}.password"
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        raise Refused(f"{path} is missing: the admin's password is needed to change a running broker; "
                      "restore it, or stop the broker and run with --offline") from None


def read_state(path: Path) -> dict:
    if not path.exists():
        return {"clients": [], "groups": [], "roles": [], "defaultACLAccess": dict(rules.DEFAULT_ACCESS)}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise Refused(f"{path}: not the plugin's JSON ({error}); restore it from a backup") from None


def group_id(name: str) -> int:
    if name.isdigit():
        return int(name)
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise Refused(f"group {name!r} does not exist; give --broker-group with the group "
                      "mosquitto runs as (a number for the docker image: 1883)") from None


# --- the commands --------------------------------------------------------------------------


def account_from(args: argparse.Namespace) -> BrokerAccount:
    """The account the command names, with a placeholder password (set when issued)."""
    if args.command == "school":
        role, username, county, school = "school", args.school, args.county, args.school
    elif args.command == "operator":
        role, username, county, school = "operator", OPERATOR_PREFIX + args.county, args.county, None
    else:
        role, username, county, school = "collector", args.name, None, None
    problem = account_problem(role, username, county, school)
    if problem:
        raise Refused(problem)
    return BrokerAccount(username, "", role, county, school)


def issue(args: argparse.Namespace, account: BrokerAccount) -> None:
    """Admin first (a broker needs it to be changed while it runs), then the account. A
    password is saved before the broker gets it: a failure in between leaves a spare
    file, never an account whose password nobody has."""
    path, group = Path(args.dynsec), group_id(args.broker_group)
    state = read_state(path)
    known = registered(state)
    if ADMIN_USER not in known:
        if not args.offline:
            raise Refused(f"{path} has no {ADMIN_USER}: make the first accounts with --offline, "
                          "before the broker's first start")
        admin = BrokerAccount(ADMIN_USER, new_password(), "admin")
        save_secret(Path(args.secrets_dir), ADMIN_USER, admin.password)
        state = with_account(state, admin)
        print(f"{ADMIN_USER}: 管理账号已建立 / admin account made (password in {args.secrets_dir})")
    with_account(state, account)  # refuses a taken user name before anything changes
    new = account.username not in known or args.rotate
    if not new:
        print(f"{account.username}: 已有凭据，密码不变 / already has a password, left as it is "
              "(--rotate issues a new one)")
        account = _with_password(account, "")
    else:
        account = _with_password(account, new_password())
        saved = save_secret(Path(args.secrets_dir), account.username, account.password)
        print(f"{account.username}: 新密码 / new password (只显示这一次 / shown once): {account.password}")
        print(f"  已保存 / saved in {saved} (mode 0600)")
    if args.offline:
        if not new:  # keep its hash: the password is not in this process
            account = None
        state = with_account(state, account) if account else _rebuilt(state, state["clients"])
        replace_file(path, json.dumps(state, ensure_ascii=False, indent=2) + "\n", 0o640, group)
        print(f"  已写入 / written: {path} (the broker reads it when it starts)")
        return
    with dynsec.Admin(args.broker, read_secret(Path(args.secrets_dir), ADMIN_USER)) as admin:
        if account.username not in known:
            dynsec.add(admin, account)
        elif args.rotate:
            _said_ended(dynsec.rotate(admin, account))
        else:
            dynsec.refresh_role(admin, account)  # completed, if the contract grew
    print("  已生效 / applied to the running broker (it saves its own state file)")


def _with_password(account: BrokerAccount, password: str) -> BrokerAccount:
    return BrokerAccount(account.username, password, account.role, account.county, account.school)


def _said_ended(bound: str | None) -> None:
    if bound is not None:
        print(f"  会话已结束 / its sessions ended (client id {bound}, parked ones included)")


def retire(args: argparse.Namespace) -> None:
    """Deletes the account (the plugin disconnects it), its role, and its parked session."""
    state = read_state(Path(args.dynsec))
    known = registered(state)
    if args.username not in known or args.username == ADMIN_USER:
        raise Refused(f"no account {args.username!r} to retire on this broker")
    role, county, school = parse_textname(known[args.username]["textname"])
    account = BrokerAccount(args.username, "", role, county, school)
    if args.offline:
        replace_file(Path(args.dynsec), json.dumps(without_account(state, args.username), indent=2) + "\n",
                     0o640, group_id(args.broker_group))
        print(f"{args.username}: 已删除 / removed from {args.dynsec}; its parked session, if any, ends "
              "when you run `retire` again with the broker running")
        return
    with dynsec.Admin(args.broker, read_secret(Path(args.secrets_dir), ADMIN_USER)) as admin:
        _said_ended(dynsec.retire(admin, account))
    Path(args.secrets_dir, f"{args.username}.password").unlink(missing_ok=True)
    print(f"{args.username}: 已停用 / retired")


def require_root() -> None:
    if os.geteuid() != 0:
        raise Refused("run as root: the plugin's state file and the saved passwords are root's")


def run(args: argparse.Namespace) -> int:
    if args.command == "emqx-rules":
        problem = account_problem("school", args.school, args.county, args.school)
        if problem:
            raise Refused(problem)
        account = BrokerAccount(args.school, "", "school", args.county, args.school)
        print(json.dumps(emqx_rules(account), ensure_ascii=False, indent=2))
        return EXIT_OK
    require_root()
    if args.command == "retire":
        retire(args)
    else:
        issue(args, account_from(args))
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="credentials.py", description="发放、停用消息服务器账号 / issue and retire broker credentials")
    commands = main.add_subparsers(dest="command", required=True, metavar="COMMAND")
    school = commands.add_parser("school", help="学校账号 / a school's account")
    school.add_argument("county")
    school.add_argument("school")
    operator = commands.add_parser("operator", help="县运维账号（下发命令）/ a county operator (sends commands)")
    operator.add_argument("county")
    collector = commands.add_parser("collector", help="汇聚服务账号，每个一个 / one collector's account")
    collector.add_argument("name", nargs="?", default=COLLECTOR_USER,
                           help="its user name, also its client id (%(default)s)")
    retired = commands.add_parser("retire", help="停用账号并结束其会话 / retire an account, end its sessions")
    retired.add_argument("username")
    emqx = commands.add_parser("emqx-rules", help="打印 EMQX 授权规则 / print a school's rules for EMQX")
    emqx.add_argument("county")
    emqx.add_argument("school")
    for command in (school, operator, collector, retired):
        _add_options(command, rotate=command is not retired)
    return main


def _add_options(command: argparse.ArgumentParser, rotate: bool) -> None:
    add = command.add_argument
    add("--dynsec", default=DEFAULTS["dynsec"],
        help="动态安全插件的状态文件 / the plugin's plugin_opt_config_file (%(default)s)")
    add("--secrets-dir", default=DEFAULTS["secrets_dir"], help="保存密码的目录 / where passwords are kept (%(default)s)")
    add("--broker", default=DEFAULTS["broker"], help="运行中的 mosquitto 本机监听 / its loopback listener (%(default)s)")
    add("--broker-group", default=DEFAULTS["broker_group"],
        help="mosquitto 运行的组 / the group mosquitto runs as (%(default)s)")
    add("--offline", action="store_true",
        help="mosquitto 已停止：直接写状态文件 / the broker is stopped: write its state file")
    if rotate:
        add("--rotate", action="store_true", help="发放新密码并结束旧会话 / new password, old sessions ended")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return run(args)
    except Refused as refusal:
        print(f"拒绝 / refused: {refusal}", file=sys.stderr)
        return EXIT_REFUSED
    except OSError as error:
        print(f"失败 / failed: {error}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())

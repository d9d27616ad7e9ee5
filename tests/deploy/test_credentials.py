"""fleet/broker.py's rules and deploy/central/credentials.py, which renders them.

Pure parts (records, roles, merging, refusals) without any server; the offline command on
real files. That the broker enforces them is tests/deploy/test_broker.py and
test_identity.py (each attack of issue 13 against the running deploy broker).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from fleet import broker as rules
from fleet.broker import BrokerAccount
from schoolnet_core import contract
from schoolnet_stack.requirements import require_binary
from tests.deploy.county import CREDENTIALS, County


def _load_module():
    spec = importlib.util.spec_from_file_location("deploy_central_credentials", CREDENTIALS)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while decorating
    spec.loader.exec_module(module)
    return module


credentials = _load_module()
Refused = credentials.Refused
SCHOOL = BrokerAccount("hx-a", "pw-a", "school", "hx", "hx-a")
OPERATOR = BrokerAccount("operator.hx", "pw-o", "operator", "hx")
COLLECTOR = BrokerAccount("schoolnet-collector-1", "pw-c", "collector")


def _grants(account: BrokerAccount) -> list[tuple[str, str]]:
    assert {acl["allow"] for acl in rules.role_acls(account)} == {True}
    return [(acl["acltype"], acl["topic"]) for acl in rules.role_acls(account)]


# -- the rules -------------------------------------------------------------------------------------


def test_a_school_publishes_every_kind_of_its_own_and_subscribes_only_its_own_command_topic():
    assert _grants(SCHOOL) == [("publishClientSend", f"schoolnet/v1/hx/hx-a/{kind}") for kind in contract.KINDS] + [
        ("subscribeLiteral", "schoolnet/v1/hx/hx-a/cmd"), ("publishClientReceive", "schoolnet/v1/hx/hx-a/cmd")]
    assert "status" in contract.KINDS  # its birth and last will


def test_an_operator_publishes_commands_to_its_own_county_only_and_a_collector_reads_through_its_group():
    assert _grants(OPERATOR) == [("publishClientSend", "schoolnet/v1/hx/+/cmd")]
    assert _grants(COLLECTOR) == [
        ("subscribePattern", "$share/schoolnet-collectors/schoolnet/v1/#"), ("subscribePattern", "schoolnet/v1/#"),
        ("publishClientReceive", "schoolnet/v1/#"), ("publishClientSend", "schoolnet/v1/_deadletter/#")]


def test_every_account_but_the_admin_is_bound_to_one_client_id():
    assert rules.client_id(SCHOOL) == "agent-hx-hx-a"
    from agent.publish.mqtt import client_id as agents_client_id
    assert rules.client_id(SCHOOL) == agents_client_id("hx", "hx-a")  # what the agent connects with
    assert rules.client_id(OPERATOR) == "operator.hx"
    assert rules.client_id(COLLECTOR) == "schoolnet-collector-1"
    assert rules.client_id(BrokerAccount("schoolnet-admin", "x", "admin")) is None


def test_broker_files_is_one_plugin_state_that_denies_by_default():
    files = rules.broker_files([COLLECTOR, SCHOOL, OPERATOR])
    assert list(files) == ["dynamic-security.json"]
    state = json.loads(files["dynamic-security.json"])
    assert state["defaultACLAccess"] == {"publishClientSend": False, "publishClientReceive": False,
                                         "subscribe": False, "unsubscribe": True}
    clients = {client["username"]: client for client in state["clients"]}
    assert {name: (c["clientid"], [r["rolename"] for r in c["roles"]]) for name, c in clients.items()} == {
        "hx-a": ("agent-hx-hx-a", ["school.hx.hx-a"]), "operator.hx": ("operator.hx", ["operator.hx"]),
        "schoolnet-collector-1": ("schoolnet-collector-1", ["collector"])}
    assert "pw-a" not in files["dynamic-security.json"]  # only its hash


def test_the_password_hash_is_the_one_mosquitto_ctrl_writes(tmp_path):
    """mosquitto_ctrl reads the password from its standard input, never the command line."""
    require_binary("mosquitto_ctrl")
    made = tmp_path / "made.json"
    done = subprocess.run(["mosquitto_ctrl", "dynsec", "init", str(made), "someone"], input="s3cret\ns3cret\n",
                          text=True, capture_output=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    [theirs] = json.loads(made.read_text())["clients"]
    ours = rules.password_record("s3cret", base64.b64decode(theirs["salt"]))
    assert ours == {key: theirs[key] for key in ("password", "salt", "iterations")}


@pytest.mark.parametrize(("account", "problem"), [
    (BrokerAccount("hx-a", "x", "school", "hx", None), "needs a school id"),
    (BrokerAccount("schoolnet-admin", "x", "school", "hx", "hx-a"), "kept for the service accounts"),
    (BrokerAccount("Bad", "x", "school", "hx", "Bad"), "school id"),
    (BrokerAccount("x", "x", "root"), "role 'root'"),
])
def test_accounts_that_are_not_well_formed_are_refused(account, problem):
    with pytest.raises(ValueError, match=problem):
        rules.broker_files([account])


def test_a_user_name_or_client_id_given_twice_is_refused():
    with pytest.raises(ValueError, match="there twice"):
        rules.broker_files([SCHOOL, BrokerAccount("hx-a", "other", "school", "hx", "hx-a")])


# -- merging into the plugin's state ------------------------------------------------------------


def _state(*accounts: BrokerAccount) -> dict:
    state = credentials.read_state(Path("/nonexistent"))
    for account in accounts:
        state = credentials.with_account(state, account)
    return state


def test_a_stale_role_is_rewritten_with_the_contracts_kinds_and_the_order_is_stable():
    state = _state(SCHOOL)
    [role] = state["roles"]
    role["acls"] = role["acls"][:1]  # as if written before the other kinds existed
    refreshed = credentials.with_account(state, OPERATOR)
    assert rules.role_record(SCHOOL) in refreshed["roles"]
    backward = _state(OPERATOR, SCHOOL)
    assert [c["username"] for c in refreshed["clients"]] == [c["username"] for c in backward["clients"]]


def test_a_school_id_already_used_in_another_county_is_refused():
    with pytest.raises(Refused, match="must be unique"):
        credentials.with_account(_state(SCHOOL), BrokerAccount("hx-a", "", "school", "yy", "hx-a"))


def test_retiring_drops_the_client_and_its_role():
    state = credentials.without_account(_state(SCHOOL, OPERATOR), "hx-a")
    assert [c["username"] for c in state["clients"]] == ["operator.hx"]
    assert [r["rolename"] for r in state["roles"]] == ["operator.hx"]


def test_emqx_rules_are_the_same_rules():
    [entry] = credentials.emqx_rules(SCHOOL)
    assert entry["username"] == "hx-a"
    assert [(rule["action"], rule["topic"]) for rule in entry["rules"]] == [
        ("publish", f"schoolnet/v1/hx/hx-a/{kind}") for kind in contract.KINDS] + [
        ("subscribe", "schoolnet/v1/hx/hx-a/cmd")]
    assert {rule["permission"] for rule in entry["rules"]} == {"allow"}


# -- the command (offline: the broker's state file) ------------------------------------------------


@pytest.fixture
def county(tmp_path) -> County:
    return County(tmp_path)


def _client(county: County, username: str) -> dict:
    return {c["username"]: c for c in json.loads(county.dynsec.read_text())["clients"]}[username]


def test_a_password_is_issued_once_kept_on_a_second_run_and_replaced_on_rotate(county):
    first = county.credentials("school", "hx", "hx-a")
    assert first.returncode == 0, first.stderr
    password = county.password("hx-a")
    assert len(password) == 32 and password in first.stdout
    hashed = _client(county, "hx-a")["password"]
    assert rules.password_record(password, base64.b64decode(_client(county, "hx-a")["salt"]))["password"] == hashed
    assert _client(county, "schoolnet-admin")["roles"] == [{"rolename": "admin"}]  # made on the first run

    again = county.credentials("school", "hx", "hx-a")
    assert again.returncode == 0, again.stderr
    assert password not in again.stdout and "already has a password" in again.stdout
    assert _client(county, "hx-a")["password"] == hashed and county.password("hx-a") == password

    rotated = county.credentials("school", "hx", "hx-a", "--rotate")
    assert rotated.returncode == 0, rotated.stderr
    assert county.password("hx-a") != password and _client(county, "hx-a")["password"] != hashed


def test_files_are_readable_only_by_root_and_the_brokers_group_and_hold_no_password(county):
    assert county.credentials("school", "hx", "hx-a").returncode == 0
    assert county.credentials("operator", "hx").returncode == 0
    assert stat.S_IMODE(county.dynsec.stat().st_mode) == 0o640
    assert stat.S_IMODE(county.secrets.stat().st_mode) == 0o700
    for secret in county.secrets.iterdir():
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600, secret
    assert sorted(path.name for path in county.secrets.iterdir()) == [
        "hx-a.password", "operator.hx.password", "schoolnet-admin.password"]
    state = county.dynsec.read_text()
    assert not any(path.read_text().strip() in state for path in county.secrets.iterdir())


def test_a_refused_request_changes_no_file(county):
    assert county.credentials("school", "hx", "hx-a").returncode == 0
    before = county.dynsec.read_bytes()

    bad_id = county.credentials("school", "hx", "Hx-B")
    taken = county.credentials("school", "yy", "hx-a")
    service = county.credentials("school", "hx", "schoolnet-collector-3")
    assert (bad_id.returncode, taken.returncode, service.returncode) == (2, 2, 2)
    assert "is not a valid id" in bad_id.stderr and "must be unique" in taken.stderr
    assert "kept for the service accounts" in service.stderr
    assert county.dynsec.read_bytes() == before
    assert sorted(path.name for path in county.secrets.iterdir()) == ["hx-a.password", "schoolnet-admin.password"]


def test_each_collector_gets_its_own_account_bound_to_its_name(county):
    for name in ("schoolnet-collector-1", "schoolnet-collector-2"):
        done = county.credentials("collector", name)
        assert done.returncode == 0, done.stderr
        assert _client(county, name)["clientid"] == name
    assert county.credentials("collector", "hx-a").returncode == 2  # not a collector's name


def test_changing_a_running_broker_without_its_admin_is_refused(county):
    done = subprocess.run([sys.executable, str(CREDENTIALS), "school", "hx", "hx-a", "--dynsec", str(county.dynsec),
                           "--secrets-dir", str(county.secrets), "--broker", "127.0.0.1:9"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and "--offline" in done.stderr
    assert not county.dynsec.exists()


def test_emqx_rules_print_json_without_touching_any_file(tmp_path):
    done = subprocess.run([sys.executable, str(CREDENTIALS), "emqx-rules", "hx", "hx-a"],
                          capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["username"] == "hx-a"
    assert list(Path(tmp_path).iterdir()) == []

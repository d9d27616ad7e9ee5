"""deploy/central/credentials.py: the ACL blocks it writes, and the command county IT runs.

Pure parts (blocks, merging, refusals) without any server; the command against the real
mosquitto_passwd. That the broker then enforces these blocks is tests/deploy/test_broker.py.
"""

from __future__ import annotations

import importlib.util
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from agent import contract
from schoolnet_stack.requirements import require_binary
from tests.deploy.county import CREDENTIALS, County

TEMPLATE = CREDENTIALS.parent / "mosquitto" / "acl"


def _load_module():
    spec = importlib.util.spec_from_file_location("deploy_central_credentials", CREDENTIALS)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while decorating
    spec.loader.exec_module(module)
    return module


credentials = _load_module()
Account, Refused = credentials.Account, credentials.Refused


# -- the blocks ----------------------------------------------------------------------------------


def test_a_school_writes_every_kind_of_its_own_and_reads_only_its_own_commands():
    rules = Account("hx", "hx-a").rules()
    assert rules == [("write", f"schoolnet/v1/hx/hx-a/{kind}") for kind in contract.KINDS] + [
        ("read", "schoolnet/v1/hx/hx-a/cmd")]
    assert "status" in contract.KINDS  # its birth and last will
    assert ("write", "schoolnet/v1/hx/hx-a/cmd") not in rules


def test_an_operator_writes_commands_to_its_own_county_only():
    operator = Account("hx")
    assert operator.username == "operator.hx"
    assert operator.rules() == [("write", "schoolnet/v1/hx/+/cmd")]


def test_an_operator_name_can_never_be_a_school_id():
    assert contract.id_problem(Account("hx").username) is not None


def test_the_block_is_mosquitto_acl_syntax():
    assert credentials.acl_block(Account("yy", "yy-3")).splitlines() == [
        "# school yy/yy-3",
        "user yy-3",
        *(f"topic write schoolnet/v1/yy/yy-3/{kind}" for kind in contract.KINDS),
        "topic read schoolnet/v1/yy/yy-3/cmd",
    ]


# -- merging into the ACL file -----------------------------------------------------------------


def test_adding_keeps_the_hand_kept_part_and_running_again_changes_nothing():
    template = TEMPLATE.read_text()
    once = credentials.acl_with(template, Account("hx", "hx-a"))
    twice = credentials.acl_with(once, Account("hx", "hx-a"))
    assert twice == once
    head = template[: template.index(credentials.GENERATED_MARKER)]
    assert once.startswith(head)
    assert "user schoolnet-collector\ntopic read schoolnet/v1/#\n" in once


def test_blocks_are_in_a_stable_order_whatever_order_they_were_added_in():
    template = TEMPLATE.read_text()
    accounts = [Account("yy", "yy-1"), Account("hx", "hx-b"), Account("hx"), Account("hx", "hx-a")]
    forward, backward = template, template
    for account in accounts:
        forward = credentials.acl_with(forward, account)
    for account in reversed(accounts):
        backward = credentials.acl_with(backward, account)
    assert forward == backward
    _, listed = credentials.split_acl(forward)
    assert listed == [Account("hx"), Account("hx", "hx-a"), Account("hx", "hx-b"), Account("yy", "yy-1")]


def test_a_stale_block_is_rewritten_with_the_contracts_kinds():
    stale = TEMPLATE.read_text() + "\n# school hx/hx-a\nuser hx-a\ntopic write schoolnet/v1/hx/hx-a/broadband\n"
    refreshed = credentials.acl_with(stale, Account("hx", "hx-b"))
    assert credentials.acl_block(Account("hx", "hx-a")) in refreshed


def test_a_school_id_already_used_in_another_county_is_refused():
    acl = credentials.acl_with(TEMPLATE.read_text(), Account("hx", "hx-a"))
    with pytest.raises(Refused, match="already the school hx/hx-a"):
        credentials.acl_with(acl, Account("yy", "hx-a"))


@pytest.mark.parametrize(("county", "school", "problem"), [
    ("HX", "hx-a", "county id"), ("hx", "hx a", "school id"), ("hx", "-a", "school id"),
    ("hx", "a" * 65, "school id"), ("hx", "schoolnet-collector", "collectors' user name"),
])
def test_ids_the_contract_refuses_are_refused(county, school, problem):
    assert problem in credentials.account_problem(county, school)


def test_an_acl_without_the_marker_or_with_a_bad_header_is_refused():
    with pytest.raises(Refused, match="start from"):
        credentials.split_acl("user someone\ntopic read #\n")
    with pytest.raises(Refused, match="# school hx/Bad"):
        credentials.split_acl(TEMPLATE.read_text() + "\n# school hx/Bad\nuser Bad\n")


def test_emqx_rules_are_the_same_rules():
    account = Account("hx", "hx-a")
    [entry] = credentials.emqx_rules(account)
    assert entry["username"] == "hx-a"
    action = {"write": "publish", "read": "subscribe"}
    assert [(rule["action"], rule["topic"]) for rule in entry["rules"]] == [
        (action[access], topic) for access, topic in account.rules()]
    assert {rule["permission"] for rule in entry["rules"]} == {"allow"}


# -- the command -----------------------------------------------------------------------------------


@pytest.fixture
def county(tmp_path) -> County:
    require_binary("mosquitto_passwd")
    return County(tmp_path)


def _hash_of(county: County, username: str) -> str:
    lines = dict(line.split(":", 1) for line in county.passwd.read_text().splitlines())
    return lines[username]


def test_a_password_is_issued_once_kept_on_a_second_run_and_replaced_on_rotate(county):
    first = county.credentials("school", "hx", "hx-a")
    assert first.returncode == 0, first.stderr
    password = county.password("hx-a")
    assert len(password) == 32 and password in first.stdout
    hashed = _hash_of(county, "hx-a")
    assert hashed.startswith("$7$")  # mosquitto 2.0's PBKDF2-SHA512

    again = county.credentials("school", "hx", "hx-a")
    assert again.returncode == 0, again.stderr
    assert password not in again.stdout and "already has a password" in again.stdout
    assert _hash_of(county, "hx-a") == hashed and county.password("hx-a") == password

    rotated = county.credentials("school", "hx", "hx-a", "--rotate")
    assert rotated.returncode == 0, rotated.stderr
    assert county.password("hx-a") != password and _hash_of(county, "hx-a") != hashed


def test_files_are_readable_only_by_root_and_the_brokers_group(county):
    assert county.credentials("school", "hx", "hx-a").returncode == 0
    assert county.credentials("operator", "hx").returncode == 0
    assert stat.S_IMODE(county.passwd.stat().st_mode) == 0o640
    assert stat.S_IMODE(county.acl.stat().st_mode) == 0o640
    assert stat.S_IMODE(county.secrets.stat().st_mode) == 0o700
    for secret in county.secrets.iterdir():
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600, secret
    assert sorted(path.name for path in county.secrets.iterdir()) == ["hx-a.password", "operator.hx.password"]


def test_the_password_never_appears_on_mosquitto_passwds_command_line(county, tmp_path):
    seen = tmp_path / "argv.txt"
    tap = tmp_path / "mosquitto_passwd_tap"
    tap.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >> {seen}\nexec mosquitto_passwd "$@"\n')
    tap.chmod(0o755)
    done = county.credentials("school", "hx", "hx-a", "--mosquitto-passwd", str(tap))
    assert done.returncode == 0, done.stderr
    assert seen.read_text().splitlines() == [str(county.passwd), "hx-a"]
    assert county.password("hx-a") not in done.stderr


def test_a_refused_request_changes_no_file(county):
    assert county.credentials("school", "hx", "hx-a").returncode == 0
    before = {path: path.read_bytes() for path in (county.passwd, county.acl)}

    bad_id = county.credentials("school", "hx", "Hx-B")
    taken = county.credentials("school", "yy", "hx-a")
    assert (bad_id.returncode, taken.returncode) == (2, 2)
    assert "is not a valid id" in bad_id.stderr and "must be unique" in taken.stderr
    assert {path: path.read_bytes() for path in before} == before
    assert sorted(path.name for path in county.secrets.iterdir()) == ["hx-a.password"]


def test_the_collectors_account_gets_a_password_and_the_acl_its_block_is_in(county):
    done = county.credentials("collector")
    assert done.returncode == 0, done.stderr
    assert _hash_of(county, "schoolnet-collector").startswith("$7$")
    assert county.acl.read_text() == credentials.acl_with(TEMPLATE.read_text())
    assert "user schoolnet-collector\n" in county.acl.read_text()  # mosquitto starts with it


def test_emqx_rules_print_json_without_touching_any_file(tmp_path):
    done = subprocess.run([sys.executable, str(CREDENTIALS), "emqx-rules", "hx", "hx-a"],
                          capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert '"username": "hx-a"' in done.stdout
    assert list(Path(tmp_path).iterdir()) == []

"""plan and apply on a 300-school county (issue 12, part 3): every generated agent.yaml
loads with the agent's own loader, a second apply changes nothing, and plan shows exactly
what changed in the roster."""

from __future__ import annotations

import json
import shutil
import stat

import pytest

from agent.config import load_config
from agent.publish.mqtt import client_id as agent_client_id
from fleet.broker import DYNSEC_FILE
from fleet.state import State
from roster import sample
from tests.fleet.helpers import county_tables, edited, fleet, with_setting

SCHOOLS = 300


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    """The roster as a workbook and as GBK CSV, applied once into a state folder."""
    folder = tmp_path_factory.mktemp("county")
    tables = county_tables(SCHOOLS)
    workbook = sample.write_xlsx(folder / "roster.xlsx", tables)
    gbk = sample.write_csv(folder / "csv", tables, "gbk")
    state = folder / "state"
    assert fleet("apply", workbook, "--state", state) == 0
    return {"tables": tables, "xlsx": workbook, "gbk": gbk, "state": state, "folder": folder}


def test_every_generated_config_loads_with_the_agent_loader(county):
    configs = sorted((county["state"] / "schools").glob("*/*/agent.yaml"))
    assert len(configs) == SCHOOLS
    for path in configs:
        config = load_config(path)
        assert (config.school.county, config.school.id) == (path.parent.parent.name, path.parent.name)
        assert config.broker.password.file == "/etc/schoolnet/mqtt.password"
        assert len(config.classrooms) == sample.CLASS_COUNTS[int(config.school.id[-6:]) % 10]


def test_targets_and_names_come_from_the_roster(county):
    config = load_config(county["state"] / "schools/c01/3001000004/agent.yaml")  # school 4: a 高中
    assert config.speed_test.target_mbps == 1000.0
    assert config.school.name == "第4学校" and config.classrooms[0].name == "1年级(1)班"
    assert [str(day) for day in config.timetable.holidays] == ["2026-10-01..2026-10-07"]


def test_passwords_are_private_distinct_and_never_printed(county, capsys, tmp_path):
    state = tmp_path / "state"
    shutil.copytree(county["state"], state)
    assert fleet("apply", county["xlsx"], "--state", state, "--rotate", "3000000000") == 0
    printed = capsys.readouterr()
    files = sorted(state.glob("schools/*/*/mqtt.password")) + sorted(state.glob("accounts/*.password"))
    passwords = [path.read_text().strip() for path in files]
    assert len(set(passwords)) == len(files) == SCHOOLS + 3 + 2 + 1  # operators, the collector pair, admin
    assert sorted(path.name for path in state.glob("accounts/schoolnet-*")) == [
        "schoolnet-admin.password", "schoolnet-collector-1.password", "schoolnet-collector-2.password"]
    assert all(len(password) == 32 for password in passwords)
    for path in [*files, state / "broker" / DYNSEC_FILE, state / "alertmanager/alertmanager.yml"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert not any(password in printed.out + printed.err for password in passwords)
    rotated = (state / "schools/c00/3000000000/mqtt.password").read_text()
    assert rotated != (county["state"] / "schools/c00/3000000000/mqtt.password").read_text()
    assert (state / "schools/c01/3001000001/mqtt.password").read_text() == \
        (county["state"] / "schools/c01/3001000001/mqtt.password").read_text()
    assert f"written: broker/{DYNSEC_FILE}" in printed.out
    dynsec = (state / "broker" / DYNSEC_FILE).read_text()
    assert not any(password in dynsec for password in passwords)  # only their hashes
    # The running broker still has the old password: the change waits for it, and says how.
    assert State(state).manifest()["broker_pending"] == {
        "3000000000": {"action": "put", "role": "school", "county": "c00", "school": "3000000000"}}
    assert f"schoolnet-fleet broker --state {state} --broker mqtt://127.0.0.1:1883" in printed.out


def test_each_account_is_bound_to_the_client_id_its_program_uses(county):
    """A school's account to the agent's own client id (agent/publish/mqtt.py), each
    collector's to its user name, as deploy/central/collector.yaml and deploy/scale-out/
    collector-N.yaml connect; only the admin is unbound."""
    state = json.loads((county["state"] / "broker" / DYNSEC_FILE).read_text())
    clients = {client["username"]: client for client in state["clients"]}
    assert len(clients) == SCHOOLS + 3 + 2 + 1
    for path in sorted((county["state"] / "schools").glob("*/*/agent.yaml")):
        config = load_config(path)
        assert clients[config.broker.username]["clientid"] == agent_client_id(config.school.county, config.school.id)
    for name in ("schoolnet-collector-1", "schoolnet-collector-2", "operator.c00"):
        assert clients[name]["clientid"] == name
    assert "clientid" not in clients["schoolnet-admin"]
    assert [role["rolename"] for role in state["roles"]].count("collector") == 1
    assert stat.S_IMODE((county["state"] / "broker" / DYNSEC_FILE).stat().st_mode) == 0o600
    assert State(county["state"]).manifest().get("broker_pending", {}) == {}  # the first file is the start


def test_a_second_apply_changes_nothing(county, capsys):
    before = {path: path.stat().st_mtime_ns for path in county["state"].rglob("*") if path.is_file()}
    assert fleet("apply", county["xlsx"], "--state", county["state"]) == 0
    assert "nothing changed" in capsys.readouterr().out
    after = {path: path.stat().st_mtime_ns for path in county["state"].rglob("*") if path.is_file()}
    assert after == before


def test_the_same_roster_as_gbk_csv_plans_nothing(county, capsys):
    assert fleet("plan", county["gbk"], "--state", county["state"]) == 0
    assert "无变更 nothing to change" in capsys.readouterr().out


def test_adding_retiring_and_moving_show_exactly_those_three(county, capsys, tmp_path):
    tables = edited(county["tables"], add=True, retire="3001000004", move="3002000005")
    changed = sample.write_xlsx(tmp_path / "roster.xlsx", tables)
    capsys.readouterr()
    assert fleet("plan", changed, "--state", county["state"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines()
             if line.startswith(("+", "-", "~")) and "routes" not in line and "series" not in line]
    assert lines[0] == "+ 新增学校 school added: c00/3000999999 新建学校"
    assert lines[1] == "- 撤销学校 school retired: c01/3001000004 第4学校"
    assert lines[2] == "~ 班级设备变更 devices changed: c02/3002000005 第5学校"
    assert len(lines) == 3
    assert (county["state"] / "schools/c01/3001000004/agent.yaml").exists()  # plan changed nothing


def test_a_config_the_agent_would_refuse_stops_before_anything_is_written(capsys, tmp_path):
    tables = with_setting(county_tables(20), ["测速时间", None, "08:10", None, None])  # during lesson 1
    roster = sample.write_xlsx(tmp_path / "roster.xlsx", tables)
    state = tmp_path / "state"
    assert fleet("apply", roster, "--state", state) == 1
    err = capsys.readouterr().err
    assert "schools/c00/3000000000/agent.yaml:" in err and "speed_test.times" in err and "08:10 is during lesson" in err
    assert not state.exists()


def test_the_state_record_names_every_school(county):
    manifest = State(county["state"]).manifest()
    assert len(manifest["schools"]) == SCHOOLS
    assert manifest["schools"]["c00/3000000000"]["devices"]["c1/panel"].startswith("interactive_panel 10.0.0.11 icmp")


def test_the_number_of_collectors_is_a_setting_and_each_gets_its_own_account(tmp_path):
    state = tmp_path / "state"
    three = with_setting(county_tables(20), ["汇聚服务数", None, 3, None, None])
    assert fleet("apply", sample.write_xlsx(tmp_path / "three.xlsx", three), "--state", state) == 0
    clients = json.loads((state / "broker" / DYNSEC_FILE).read_text())["clients"]
    collectors = sorted((c["username"], c["clientid"]) for c in clients if c["textname"] == "collector")
    assert collectors == [(f"schoolnet-collector-{n}",) * 2 for n in (1, 2, 3)]
    assert fleet("apply", sample.write_xlsx(tmp_path / "two.xlsx", county_tables(20)), "--state", state) == 0
    assert State(state).manifest()["broker_pending"] == {
        "schoolnet-collector-3": {"action": "retire", "role": "collector", "county": None, "school": None}}

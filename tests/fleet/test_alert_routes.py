"""The generated Alertmanager config passes amtool and routes each county's alerts to that
county's receiver; a county without contacts reaches central-it (issue 12, part 3)."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from roster import sample
from roster.columns import COUNTIES
from schoolnet_stack.requirements import require_binary
from tests.fleet.helpers import county_tables, fleet


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    require_binary("amtool")
    folder = tmp_path_factory.mktemp("alerts")
    tables = county_tables(20, 4)
    tables[COUNTIES][3] = ["c03", "第3县", None, None, None]  # no contacts yet
    tables[COUNTIES][1][3] = "/etc/schoolnet-central/wecom-c01.secret"
    assert fleet("apply", sample.write_xlsx(folder / "roster.xlsx", tables), "--state", folder / "state") == 0
    return folder / "state" / "alertmanager" / "alertmanager.yml"


def amtool(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(["amtool", *argv], capture_output=True, text=True, timeout=30, check=False)


def test_amtool_accepts_the_generated_config(config):
    checked = amtool("check-config", str(config))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout and "4 receivers" in checked.stdout


@pytest.mark.parametrize(("county", "receiver"), [("c00", "c00-county-it"), ("c01", "c01-county-it"),
                                                  ("c02", "c02-county-it"), ("c03", "central-it")])
def test_each_county_reaches_its_own_receiver(config, county, receiver):
    for severity in ("critical", "warning", "info"):
        routed = amtool("config", "routes", "test", f"--config.file={config}", f"county={county}",
                        f"severity={severity}")
        assert routed.stdout.strip() == receiver, routed.stderr


def test_receivers_carry_the_roster_contacts_and_secrets_stay_placeholders(config):
    receivers = {r["name"]: r for r in yaml.safe_load(config.read_text())["receivers"]}
    assert receivers["c00-county-it"]["email_configs"][0]["to"] == "it@c00.edu.example.cn"
    assert receivers["c00-county-it"]["webhook_configs"][0]["url"] == "http://127.0.0.1:8060/dingtalk/c00/send"
    assert receivers["c01-county-it"]["wechat_configs"][0]["api_secret"] == "<WECOM_API_SECRET_C01>"
    assert "c03-county-it" not in receivers
    assert config.stat().st_mode & 0o077 == 0


def test_the_rosters_maintenance_window_mutes_its_county_only(config):
    document = yaml.safe_load(config.read_text())
    intervals = {interval["name"] for interval in document["time_intervals"]}
    assert "schoolnet-maintenance-1" in intervals

    def mutes(route: dict) -> set[str]:
        found = set(route.get("mute_time_intervals", []))
        for child in route.get("routes", []):
            found |= mutes(child)
        return found

    routes = {route["matchers"][0]: route for route in document["route"]["routes"] if route.get("matchers")}
    assert "schoolnet-maintenance-1" in mutes(routes['county="c00"'])
    assert "schoolnet-maintenance-1" not in mutes(routes['county="c01"'])

"""The deploy rule files and Alertmanager config, checked by the tools that will load
them (vmalert -dryRun, amtool) and by the conventions the boards and runbooks rely on."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from schoolnet_stack import deploy_files
from schoolnet_stack.requirements import require_binary
from schoolnet_stack.servers import Vmalert, check_alertmanager_config, check_rules
from tests.dashboards import panels

RULE_FILES = sorted(deploy_files.RULES_DIR.glob("*.yml"))
CJK = re.compile(r"[\u4e00-\u9fff]")
SEVERITIES = ("critical", "warning", "info")


def all_rules() -> list[dict]:
    return [
        rule
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
        for rule in group["rules"]
    ]


def alerts() -> dict[str, dict]:
    return {rule["alert"]: rule for rule in all_rules() if "alert" in rule}


def recorded_names() -> set[str]:
    return {rule["record"] for rule in all_rules() if "record" in rule}


# -- vmalert ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vmalert_binary():
    return require_binary(Vmalert.binary)


def test_vmalert_accepts_the_deploy_rules(vmalert_binary):
    result = check_rules(RULE_FILES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_vmalert_accepts_the_test_copies(vmalert_binary, tmp_path):
    copies = deploy_files.write_rule_copies(tmp_path, seconds_per_minute=2)
    result = check_rules(copies)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "broken",
    [
        ("sum by (county) (", "an unclosed expression"),
        ("{{ $labels.school ", "an unclosed template"),
    ],
    ids=["expression", "template"],
)
def test_vmalert_dry_run_would_catch_a_broken_rule(vmalert_binary, tmp_path, broken):
    """Proves the check above can fail: the same tool refuses a spoiled copy."""
    text, _ = broken
    source = (deploy_files.RULES_DIR / "broadband.yml").read_text(encoding="utf-8")
    spoiled = source.replace("avg by (county) (schoolnet:school_broadband_up:bool)", text, 1)
    if text.startswith("{{"):
        spoiled = source.replace("{{ $labels.school }}", text, 1)
    assert spoiled != source
    (tmp_path / "broadband.yml").write_text(spoiled, encoding="utf-8")
    assert check_rules([tmp_path / "broadband.yml"]).returncode != 0


# -- conventions ----------------------------------------------------------------------------------------


def test_recording_rules_are_named_schoolnet_level_metric_operation():
    for name in recorded_names():
        assert re.fullmatch(r"schoolnet:(classroom|school|county)(_[a-z0-9]+)*:[a-z0-9_]+", name), name


def test_every_recorded_name_a_board_reads_is_defined():
    used = {
        name
        for board in panels.boards().values()
        for query in panels.panel_queries(board)
        for name in re.findall(r"schoolnet:[a-z0-9_:]+", query.expr)
    }
    assert used, "the boards read recording rules"
    assert used <= recorded_names(), sorted(used - recorded_names())


def test_rules_read_only_defined_or_reported_series():
    reported = re.compile(r"schoolnet_(broadband|speedtest|classrooms|sync|health|agent|presence|roster)_[a-z_]+")
    for rule in all_rules():
        for name in re.findall(r"schoolnet:[a-z0-9_:]+", rule["expr"]):
            assert name in recorded_names(), (rule.get("alert") or rule.get("record"), name)
        for name in re.findall(r"\bschoolnet_[a-z_]+", rule["expr"]):
            assert reported.fullmatch(name), name


@pytest.mark.parametrize("name", sorted(alerts()))
def test_alert_has_severity_and_bilingual_texts(name):
    rule = alerts()[name]
    assert rule["labels"]["severity"] in SEVERITIES
    for key in ("summary", "description", "runbook"):
        text = rule["annotations"][key]
        assert CJK.search(text) and re.search(r"[A-Za-z]{3,} [A-Za-z]{3,}", text), (key, text)


def test_the_alerts_the_issue_asks_for():
    assert sorted(alerts()) == sorted([
        "AgentOffline", "BroadbandDown", "ClassroomDeviceDown", "CountyOutage", "EgressBelowTarget",
        "SpoolBacklog", "SpoolDropping", "SyncClassroomNotReady", "SyncPathDegraded",
    ])


WILL_SPREAD_S = 30
"""A county's links go dark: the broker publishes the wills over this long (it notices an
agent 1.5 keepalives after its last packet, and agents send at least every 30 s)."""
AGENT_OFFLINE_BUDGET_S = 90  # issue 7: a dead gateway at county IT within 90 s
AGENT_BACK_AFTER_RESTART_S = 5 + 10 + 15
"""The longest routine restart: 5 s waiting for acks (agent/publish/mqtt.py STOP_WAIT_S),
systemd's RestartSec=10 after a crash, 15 s for a slow gateway to start and connect."""


def groups() -> dict[str, dict]:
    return {group["name"]: group for path in RULE_FILES for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]}


def group_of(alert: str) -> dict:
    return next(group for group in groups().values() if any(r.get("alert") == alert for r in group["rules"]))


def seconds(text: str) -> float:
    return deploy_files.duration_seconds(text)


def agent_offline_group_wait_s() -> float:
    """AgentOffline's group_wait in deploy/alertmanager, on each county's route."""
    config = deploy_files.load_alertmanager_config()
    waits = {
        child.get("group_wait")
        for county in config["route"]["routes"]
        for child in county.get("routes") or []
        if 'alertname="AgentOffline"' in child.get("matchers", [])
    }
    assert len(waits) == 1 and None not in waits, waits
    return seconds(waits.pop())


def deployed_latency_offset_s() -> float:
    args = (deploy_files.REPO / "deploy" / "central" / "debian" / "victoria-metrics").read_text(encoding="utf-8")
    return seconds(re.search(r"-search\.latencyOffset=(\S+?)[\s\"]", args).group(1))


def test_county_outage_fires_before_the_school_alerts_it_inhibits():
    """Inhibition only holds back what reaches Alertmanager after the CountyOutage does:
    it is evaluated with AgentOffline, and its `for:` plus the wills' spread is shorter
    than AgentOffline's `for:` plus its group_wait."""
    rules = alerts()
    outage = seconds(rules["CountyOutage"]["for"])
    for name in ("AgentOffline", "BroadbandDown"):
        assert outage < seconds(rules[name]["for"]), name
    assert group_of("CountyOutage")["name"] == group_of("AgentOffline")["name"]
    order = [r.get("alert") for r in group_of("AgentOffline")["rules"]]
    assert order.index("CountyOutage") < order.index("AgentOffline")
    interval = seconds(group_of("AgentOffline")["interval"])
    assert outage + WILL_SPREAD_S + interval < seconds(rules["AgentOffline"]["for"]) + agent_offline_group_wait_s()


def test_agent_offline_fits_its_budget_in_the_worst_case():
    """Store visibility + a whole evaluation interval + `for:` + group_wait, all shipped
    values, leave a few seconds for the collector and the notifications."""
    interval = seconds(group_of("AgentOffline")["interval"])
    worst = deployed_latency_offset_s() + interval + seconds(alerts()["AgentOffline"]["for"]) + agent_offline_group_wait_s()
    assert worst <= AGENT_OFFLINE_BUDGET_S - 5, worst


def test_agent_offline_waits_out_a_routine_restart():
    """A restart says offline too (the agent's clean stop): it must be back before `for:`."""
    assert seconds(alerts()["AgentOffline"]["for"]) > AGENT_BACK_AFTER_RESTART_S


def test_short_copies_change_nothing_but_for_and_interval():
    for path in RULE_FILES:
        original = yaml.safe_load(path.read_text(encoding="utf-8"))
        copy = yaml.safe_load(deploy_files.rules_with_short_timings(path.read_text(encoding="utf-8"), 2))
        assert len(copy["groups"]) == len(original["groups"])
        for group, group_copy in zip(original["groups"], copy["groups"]):
            assert {k: v for k, v in group.items() if k not in ("rules", "interval")} == {
                k: v for k, v in group_copy.items() if k not in ("rules", "interval")
            }
            assert ("interval" in group) == ("interval" in group_copy)
            for rule, rule_copy in zip(group["rules"], group_copy["rules"]):
                assert {k: v for k, v in rule.items() if k != "for"} == {
                    k: v for k, v in rule_copy.items() if k != "for"
                }


# -- Alertmanager ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def amtool():
    return require_binary("amtool")


def test_amtool_accepts_the_deploy_config(amtool):
    result = check_alertmanager_config(deploy_files.ALERTMANAGER_CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 templates" in result.stdout


def test_amtool_accepts_the_test_copy(amtool, tmp_path):
    config = deploy_files.alertmanager_for_test(
        deploy_files.load_alertmanager_config(), lambda name: f"http://127.0.0.1:9/{name}", 1
    )
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    result = check_alertmanager_config(path)
    assert result.returncode == 0, result.stdout + result.stderr


def routed_to(amtool: str, *labels: str) -> str:
    result = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={deploy_files.ALERTMANAGER_CONFIG}", *labels],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


def test_each_county_is_routed_to_its_own_receiver(amtool):
    routes = deploy_files.county_routes(deploy_files.load_alertmanager_config())
    assert len(routes) >= 2
    for county, receiver in routes.items():
        for severity in SEVERITIES:
            assert routed_to(amtool, f"county={county}", f"severity={severity}", "alertname=X") == receiver
    assert routed_to(amtool, "county=not-configured", "severity=critical") == "central-it"


def test_county_outage_inhibits_school_alerts_of_its_county():
    config = deploy_files.load_alertmanager_config()
    assert config["route"]["group_by"] == ["county", "alertname"]
    assert {
        "source_matchers": ['alertname="CountyOutage"'],
        "target_matchers": ['school=~".+"'],
        "equal": ["county"],
    } in config["inhibit_rules"]


def test_no_secret_is_filled_in():
    text = deploy_files.ALERTMANAGER_CONFIG.read_text(encoding="utf-8")
    config = yaml.safe_load(text)
    assert "smtp_auth_password" not in config["global"]
    for receiver in config["receivers"]:
        for wechat in receiver.get("wechat_configs", []):
            assert re.fullmatch(r"<[A-Z_]+>", wechat["api_secret"]), receiver["name"]


@pytest.mark.parametrize("template", ["schoolnet.title", "schoolnet.text", "schoolnet.email.html"])
def test_notification_templates_render(amtool, template):
    result = subprocess.run(
        [amtool, "template", "render", f"--template.glob={deploy_files.ALERTMANAGER_DIR}/templates/*.tmpl",
         f'--template.text={{{{ template "{template}" . }}}}'],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "县" in result.stdout

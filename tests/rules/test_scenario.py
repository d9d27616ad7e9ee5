"""The scenario end to end, on real servers: six schools' reports -> mosquitto -> the
collector -> VictoriaMetrics ->
vmalert running deploy/rules -> Alertmanager running deploy/alertmanager's routing ->
one webhook per county; then every board's queries against the same VictoriaMetrics.

Counties are the first two county routes of the deploy Alertmanager config (A, B).
Expected before the outage (scenario.six_schools):
  A: EgressBelowTarget dongcun (median 60 Mbps), ClassroomDeviceDown nanhe (c7-1 projector,
     school hours), SyncClassroomNotReady xishan (endpoint off, session in 10 minutes).
  B: AgentOffline hekou, SyncPathDegraded shiqiao (poor path during its session; the agent
     says not ready, but the path alone is to blame, so not SyncClassroomNotReady too).
  Nothing for beiling's projector: it died after school hours.
Then all of B goes down: CountyOutage at B's receiver, and the AgentOffline alerts of
beiling and shiqiao are inhibited, never sent; A carries on untouched.
Last, in A: nanhe's agent restarts within AgentOffline's `for:` (seen, pending, never
sent), and xishan's is killed (AgentOffline fires once the `for:` has passed).

Timing: the rules' `for:` and group intervals run at 2 s per production minute and
Alertmanager's timings at 1 s per minute (deploy_files.py); vmalert evaluates the groups
without an interval every 2 s.
"""

from __future__ import annotations

import math
import re
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime

import pytest
import yaml

from schoolnet_stack import deploy_files
from schoolnet_stack.processes import InProcessCollector, write_collector_config
from schoolnet_stack.requirements import require_binary
from schoolnet_stack.servers import (
    Alertmanager,
    Mosquitto,
    VictoriaMetrics,
    Vmalert,
    WebhookReceiver,
    http_json,
    wait_until,
)
from tests.collector.running import Publisher
from tests.dashboards import panels
from tests.rules.scenario import (
    ALWAYS,
    Agents,
    Device,
    LiveReporting,
    six_schools,
    through_collector,
)

pytestmark = pytest.mark.servers

FOR_SECONDS_PER_MINUTE = 2
ALERTMANAGER_SECONDS_PER_MINUTE = 1
EVALUATION_INTERVAL = "2s"
ALERTS_TIMEOUT_S = 90


@dataclass
class Stack:
    vm: VictoriaMetrics
    vmalert: Vmalert
    alertmanager: Alertmanager
    webhooks: WebhookReceiver
    agents: Agents
    county_a: str
    county_b: str
    receiver: dict  # county -> receiver name (the webhook path)

    def school(self, county: str, name: str) -> str:
        return f"{county}-{name}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    for binary in (Mosquitto.binary, VictoriaMetrics.binary, Vmalert.binary, Alertmanager.binary):
        require_binary(binary)
    deploy_config = deploy_files.load_alertmanager_config()
    receiver = deploy_files.county_routes(deploy_config)
    county_a, county_b = list(receiver)[:2]
    workdir = tmp_path_factory.mktemp("scenario")
    with ExitStack() as servers:
        vm = servers.enter_context(VictoriaMetrics(workdir / "vm"))
        broker = servers.enter_context(Mosquitto(workdir / "mosquitto"))
        collector_config = write_collector_config(workdir, broker.port, vm.url, "scenario-collector")
        collector = servers.enter_context(InProcessCollector(collector_config))
        publisher = Publisher(broker.port, client_id="scenario-agents")
        servers.callback(publisher.close)
        agents = Agents(six_schools(county_a, county_b), through_collector(publisher, collector.port))
        agents.backfill()
        vm.flush()
        webhooks = servers.enter_context(WebhookReceiver())
        test_config = deploy_files.alertmanager_for_test(deploy_config, webhooks.url_for,
                                                          ALERTMANAGER_SECONDS_PER_MINUTE)
        alertmanager = servers.enter_context(
            Alertmanager(yaml.safe_dump(test_config, allow_unicode=True), workdir / "alertmanager")
        )
        rules = deploy_files.write_rule_copies(workdir / "rules", FOR_SECONDS_PER_MINUTE)
        record_names_first(vm, [path for path in rules if path.name == "names.yml"], alertmanager.url, workdir)
        vmalert = servers.enter_context(
            Vmalert(rules, vm.url, alertmanager.url, evaluation_interval=EVALUATION_INTERVAL,
                    workdir=workdir / "vmalert")
        )
        live = LiveReporting(agents)
        live.start()
        servers.callback(live.stop)
        yield Stack(vm, vmalert, alertmanager, webhooks, agents, county_a, county_b, receiver)


def record_names_first(vm: VictoriaMetrics, names_rules: list, notifier_url: str, workdir) -> None:
    """In a deployment the names (deploy/rules/names.yml) are recorded long before any
    alert fires; here the scenario's history makes alerts fire within seconds of vmalert's
    start, so the names are recorded once before, as they would already be."""
    with Vmalert(names_rules, vm.url, notifier_url, evaluation_interval=EVALUATION_INTERVAL,
                 workdir=workdir / "vmalert-names"):
        wait_until(lambda: len(vm.query("schoolnet:school_name:info")) == 6
                   and len(vm.query("schoolnet:classroom_name:info")) == 12,
                   timeout=30, what="the names of the six schools and their classes recorded")


def firing_sent(stack: Stack, county: str) -> set[tuple[str, str]]:
    """(alertname, school) of every alert sent firing to the county's receiver."""
    path = "/" + stack.receiver[county]
    return {
        (alert["labels"]["alertname"], alert["labels"].get("school", ""))
        for notification in list(stack.webhooks.received)
        if notification.path == path
        for alert in notification.alerts
        if alert["status"] == "firing"
    }


def held_by_vmalert(stack: Stack) -> set[tuple[str, str, str]]:
    """(alertname, school, state) of every alert vmalert holds, pending or firing."""
    return {(a["labels"]["alertname"], a["labels"].get("school", ""), a["state"]) for a in stack.vmalert.alerts()}


def expected_before_outage(stack: Stack) -> dict[str, set[tuple[str, str]]]:
    a, b = stack.county_a, stack.county_b
    return {
        a: {("EgressBelowTarget", f"{a}-dongcun-xx"), ("ClassroomDeviceDown", f"{a}-nanhe-zx"),
            ("SyncClassroomNotReady", f"{a}-xishan-xx")},
        b: {("AgentOffline", f"{b}-hekou-zx"), ("SyncPathDegraded", f"{b}-shiqiao-xx")},
    }


@pytest.fixture(scope="module")
def before_outage(stack):
    """Waits until both counties were told of their alerts (and vmalert holds no other)."""
    expected = expected_before_outage(stack)
    wanted = {(name, school, "firing") for alerts in expected.values() for name, school in alerts}
    wait_until(lambda: held_by_vmalert(stack) >= wanted, timeout=ALERTS_TIMEOUT_S,
               what=f"vmalert firing {sorted(wanted)}; holds {sorted(held_by_vmalert(stack))}")
    wait_until(lambda: all(firing_sent(stack, county) >= alerts for county, alerts in expected.items()),
               timeout=ALERTS_TIMEOUT_S, what="the notifications of both counties")
    # The boards count ALERTS series, which vmalert writes to VictoriaMetrics on its own
    # schedule: wait until the last alert to fire is stored too.
    stored = {county: len(alerts) for county, alerts in expected.items()}
    wait_until(lambda: firing_stored(stack) == stored, timeout=30, what=f"ALERTS firing {stored} stored")
    return expected


def firing_stored(stack: Stack) -> dict[str, int]:
    result = stack.vm.query('count by (county) (last_over_time(ALERTS{alertstate="firing"}[1m]))')
    return {series["metric"]["county"]: int(series["value"][1]) for series in result}


def test_each_county_is_told_exactly_its_alerts(stack, before_outage):
    for county, alerts in before_outage.items():
        assert firing_sent(stack, county) == alerts, county
    held = {(name, school) for name, school, _ in held_by_vmalert(stack)}
    assert held == set().union(*before_outage.values()), "vmalert holds an alert nobody expected"
    assert not [n for n in stack.webhooks.received if n.path == "/central-it"]


def test_no_alert_for_a_device_switched_off_at_night(stack, before_outage):
    beiling = f"{stack.county_b}-beiling-xx"
    night = stack.vm.query(f'schoolnet_classrooms_device_up{{school="{beiling}",classroom="c7-1",device="projector"}}')
    assert [float(series["value"][1]) for series in night] == [0.0], "the scenario must have the dead projector"
    assert not [alert for alert in held_by_vmalert(stack) if alert[1] == beiling]


def test_alerts_carry_labels_and_zh_cn_texts(stack, before_outage):
    alerts = [alert for n in stack.webhooks.received for alert in n.alerts if alert["status"] == "firing"]
    for alert in alerts:
        labels, annotations = alert["labels"], alert["annotations"]
        assert labels["severity"] in ("critical", "warning", "info"), labels
        assert labels["county"] in (stack.county_a, stack.county_b), labels
        if labels["alertname"] != "CountyOutage":
            assert labels["school"].startswith(labels["county"] + "-"), labels
        for key in ("summary", "description", "runbook"):
            assert re.search(r"[\u4e00-\u9fff]", annotations[key]), (key, annotations)
            assert "<no value>" not in annotations[key] and "{{" not in annotations[key], annotations[key]
    egress = next(a for a in alerts if a["labels"]["alertname"] == "EgressBelowTarget")
    assert "60.0 Mbps" in egress["annotations"]["description"]
    assert "低于目标 100 Mbps" in egress["annotations"]["description"]
    path = next(a for a in alerts if a["labels"]["alertname"] == "SyncPathDegraded")
    assert "RTT 220 ms" in path["annotations"]["description"] and "MOS 3.1" in path["annotations"]["description"]
    names = {plan.school: plan.name for plan in stack.agents.plans}
    for alert in alerts:
        school = alert["labels"].get("school")
        if school:
            assert f"{names[school]}（{school}）" in alert["annotations"]["description"], alert["annotations"]
    device = next(a for a in alerts if a["labels"]["alertname"] == "ClassroomDeviceDown")
    nanhe = stack.school(stack.county_a, "nanhe-zx")
    assert device["annotations"]["summary"] == (
        f"教室设备故障：南河中学 七年级(1)班 投影仪（{nanhe} c7-1 projector）/ Classroom device down: 南河中学 七年级(1)班 投影仪"
    )
    not_ready = next(a for a in alerts if a["labels"]["alertname"] == "SyncClassroomNotReady")
    assert "可达" in not_ready["annotations"]["description"] and "在线 0/1" in not_ready["annotations"]["description"]


# -- the boards, against the same data -------------------------------------------------------------


def board_variables(stack: Stack) -> dict[str, dict[str, str]]:
    """The $county/$school each board is looked at with: a school where its panels show
    something worth asserting."""
    a = stack.county_a
    return {
        "schoolnet-county": {"county": a},
        "schoolnet-school": {"county": a, "school": f"{a}-xishan-xx"},
        "schoolnet-classrooms": {"county": a, "school": f"{a}-nanhe-zx"},
        "schoolnet-sync": {"county": a, "school": f"{a}-xishan-xx"},
    }


ALL_QUERIES = [query for board in panels.boards().values() for query in panels.panel_queries(board)]


def run_panel_query(stack: Stack, query: panels.PanelQuery, variables: dict[str, str]) -> list[float]:
    """Every value the panel would show: the instant values, or each point of the range."""
    expr = panels.substitute(query.expr, variables)
    if query.instant:
        return [float(series["value"][1]) for series in stack.vm.query(expr)]
    seconds = deploy_files.duration_seconds(query.time_from or "24h")
    end = time.time()
    answer = http_json(f"{stack.vm.url}/api/v1/query_range", {
        "query": expr, "start": f"{end - seconds:.0f}", "end": f"{end:.0f}", "step": f"{max(seconds / 300, 30):.0f}",
        "nocache": "1",
    })
    return [float(value) for series in answer["data"]["result"] for _, value in series["values"]]


@pytest.mark.parametrize("query", ALL_QUERIES, ids=str)
def test_every_panel_returns_data_in_its_range(stack, before_outage, query):
    values = run_panel_query(stack, query, board_variables(stack)[query.board])
    assert values, f"{query}: no data for {query.expr}"
    finite = [value for value in values if not math.isnan(value)]
    assert finite, f"{query}: only NaN"
    assert all(query.low <= value <= query.high for value in finite), (query.low, query.high, finite[:10])


def panel_values(stack: Stack, board: str, title: str, variables: dict[str, str], ref: str = "A") -> dict:
    """{legend labels: value} of one panel query (instant)."""
    query = next(q for q in ALL_QUERIES if q.board == board and q.panel == title and q.ref == ref)
    result = stack.vm.query(panels.substitute(query.expr, variables))
    return {frozenset(series["metric"].items()): float(series["value"][1]) for series in result}


def single(values: dict) -> float:
    assert len(values) == 1, values
    return next(iter(values.values()))


@pytest.mark.parametrize(
    ("county", "title", "expected"),
    [
        ("a", "宽带接入率 Broadband access", 1.0),
        ("b", "宽带接入率 Broadband access", 2 / 3),  # hekou offline
        ("a", "出口带宽达标率 Egress ≥ 100 Mbps", 2 / 3),  # dongcun 60 Mbps
        ("b", "出口带宽达标率 Egress ≥ 100 Mbps", 1.0),
        ("a", "多媒体教学设备班级普及率 Multimedia classes", 5 / 6),  # nanhe: 1 of 2 classes
        ("b", "多媒体教学设备班级普及率 Multimedia classes", 1.0),  # beiling's projector died out of hours
        ("a", "乡村学校同步课堂覆盖率 Rural synchronous classrooms", 0.5),  # dongcun: no session
        ("b", "乡村学校同步课堂覆盖率 Rural synchronous classrooms", 2 / 3),  # shiqiao: poor path
        ("a", "出口带宽最低学校 Slowest school egress", 60.0),
        ("a", "监测代理在线率 Agents online", 1.0),
        ("b", "监测代理在线率 Agents online", 2 / 3),
        ("a", "学校数 Schools", 3),
        ("a", "当前告警 Alerts firing", 3),
        ("b", "当前告警 Alerts firing", 2),
    ],
)
def test_county_board_shows_the_scenario(stack, before_outage, county, title, expected):
    variables = {"county": stack.county_a if county == "a" else stack.county_b}
    assert single(panel_values(stack, "schoolnet-county", title, variables)) == pytest.approx(expected, abs=1e-6)


def test_county_table_passes_and_fails_each_school(stack, before_outage):
    a = stack.county_a
    title = "各校达标情况 Schools against the targets"

    def by_school(ref: str) -> dict[str, float]:
        values = panel_values(stack, "schoolnet-county", title, {"county": a}, ref)
        return {dict(labels)["school"]: value for labels, value in values.items()}

    assert by_school("D") == {f"{a}-dongcun-xx": 0, f"{a}-nanhe-zx": 1, f"{a}-xishan-xx": 1}
    assert by_school("C") == {f"{a}-dongcun-xx": 60, f"{a}-nanhe-zx": 150, f"{a}-xishan-xx": 190}
    assert by_school("E") == {f"{a}-dongcun-xx": 1, f"{a}-nanhe-zx": 0.5, f"{a}-xishan-xx": 1}
    assert by_school("F") == {f"{a}-xishan-xx": 1}, "only xishan has had a session"


def test_board_tables_and_legends_name_schools_and_classrooms(stack, before_outage):
    a = stack.county_a
    county_table = "各校达标情况 Schools against the targets"
    names = {f"{a}-dongcun-xx": "东村小学", f"{a}-nanhe-zx": "南河中学", f"{a}-xishan-xx": "西山小学"}
    for ref in "ABCDEFG":
        named = panel_values(stack, "schoolnet-county", county_table, {"county": a}, ref)
        shown = {dict(labels)["school"]: dict(labels)["school_name"] for labels in named}
        # F: only xishan has had a session (test_county_table_passes_and_fails_each_school)
        assert shown == ({f"{a}-xishan-xx": "西山小学"} if ref == "F" else names), ref
    rural = panel_values(stack, "schoolnet-sync", "本县乡村学校 Rural schools of the county", {"county": a})
    assert {dict(labels)["school_name"] for labels in rural} == {"西山小学"}
    variables = board_variables(stack)["schoolnet-classrooms"]
    grid = panel_values(stack, "schoolnet-classrooms", "各班就绪 Classes", variables)
    assert {dict(labels)["classroom"]: dict(labels)["classroom_name"] for labels in grid} == {
        "c7-1": "七年级(1)班", "c7-2": "七年级(2)班"}
    devices = panel_values(stack, "schoolnet-classrooms", "设备 Devices", variables)
    assert {(dict(labels)["classroom_name"], dict(labels)["name"]) for labels in devices} == {
        ("七年级(1)班", "交互式一体机"), ("七年级(1)班", "投影仪"), ("七年级(2)班", "投影仪"), ("七年级(2)班", "实物展台")}
    for board in ("schoolnet-school", "schoolnet-sync"):
        named = panel_values(stack, board, "学校 School", board_variables(stack)[board])
        assert [dict(labels)["school_name"] for labels in named] == ["西山小学"], board


def test_school_board_shows_the_scenario(stack, before_outage):
    variables = board_variables(stack)["schoolnet-school"]
    board = "schoolnet-school"
    assert single(panel_values(stack, board, "1 小时可用率 Availability 1h", variables)) == 1.0
    # Down 30 of the 120 history minutes; the live minutes since add a few "up" samples.
    assert single(panel_values(stack, board, "24 小时可用率 Availability 24h", variables)) == pytest.approx(0.75, abs=0.02)
    assert single(panel_values(stack, board, "出口带宽中位数 Egress median (7d)", variables)) == 190
    assert single(panel_values(stack, board, "当前宽带 Broadband now", variables)) == 1


def test_classrooms_board_shows_the_scenario(stack, before_outage):
    variables = board_variables(stack)["schoolnet-classrooms"]
    board = "schoolnet-classrooms"
    grid = panel_values(stack, board, "各班就绪 Classes", variables)
    assert {dict(labels)["classroom"]: value for labels, value in grid.items()} == {"c7-1": 0, "c7-2": 1}
    assert single(panel_values(stack, board, "当前班级就绪率 Classes ready now", variables)) == 0.5
    assert single(panel_values(stack, board, "7 天班级就绪率 Classes ready (7d)", variables)) == 0.5
    lamps = panel_values(stack, board, "投影仪灯泡时数 Projector lamp hours", variables)
    assert {dict(labels)["classroom"]: value for labels, value in lamps.items()} == {"c7-2": 2100}


def test_sync_board_shows_the_scenario(stack, before_outage):
    variables = board_variables(stack)["schoolnet-sync"]
    board = "schoolnet-sync"
    assert single(panel_values(stack, board, "7 天可用率 Availability (7d)", variables)) == 1.0
    assert single(panel_values(stack, board, "7 天排课分钟 Session minutes (7d)", variables)) == 40
    assert single(panel_values(stack, board, "最近一节课 Latest session", variables)) == 1
    assert single(panel_values(stack, board, "当前就绪 Ready now", variables)) == 0


def test_template_variables_list_the_counties_and_schools(stack, before_outage):
    a, b = stack.county_a, stack.county_b
    for board in panels.boards().values():
        for variable in board["templating"]["list"]:
            expr = panels.substitute(variable["query"]["query"], {"county": a})
            metric, label = re.fullmatch(r"label_values\((.+), (\w+)\)", expr).groups()
            answer = http_json(f"{stack.vm.url}/api/v1/label/{label}/values", {"match[]": metric})
            expected = [a, b] if label == "county" else [f"{a}-dongcun-xx", f"{a}-nanhe-zx", f"{a}-xishan-xx"]
            assert answer["data"] == sorted(expected), (board["uid"], variable["name"])


# -- the whole of county B goes down -------------------------------------------------------------------


@pytest.fixture(scope="module")
def county_b_down(stack, before_outage):
    b = stack.county_b
    gone = stack.agents.go_offline(b)
    assert sorted(gone) == [f"{b}-beiling-xx", f"{b}-shiqiao-xx"]
    wait_until(lambda: ("CountyOutage", "") in firing_sent(stack, b), timeout=ALERTS_TIMEOUT_S,
               what="CountyOutage at county B's receiver")
    inhibited = {("AgentOffline", school) for school in gone}
    wait_until(lambda: inhibited <= suppressed_in_alertmanager(stack), timeout=ALERTS_TIMEOUT_S,
               what=f"Alertmanager holding {sorted(inhibited)} as inhibited")
    # One more group interval: had the inhibition failed, they would be sent by now.
    time.sleep(group_interval_s() + 2)
    return inhibited


def group_interval_s() -> float:
    """Alertmanager's group_interval in the test copy of the deploy config."""
    deployed = deploy_files.load_alertmanager_config()["route"]["group_interval"]
    return deploy_files.duration_seconds(deployed) / 60 * ALERTMANAGER_SECONDS_PER_MINUTE


def suppressed_in_alertmanager(stack: Stack) -> set[tuple[str, str]]:
    return {
        (alert["labels"]["alertname"], alert["labels"].get("school", ""))
        for alert in stack.alertmanager.alerts()
        if alert["status"]["state"] == "suppressed" and alert["status"]["inhibitedBy"]
    }


def test_county_outage_pages_county_b_once(stack, before_outage, county_b_down):
    b = stack.county_b
    assert firing_sent(stack, b) == before_outage[b] | {("CountyOutage", "")}
    outage = next(
        alert for n in stack.webhooks.received for alert in n.alerts if alert["labels"]["alertname"] == "CountyOutage"
    )
    assert outage["labels"]["county"] == b and outage["labels"]["severity"] == "critical"
    assert "有 3 所学校" in outage["annotations"]["description"]


def test_county_outage_inhibits_only_its_own_county(stack, before_outage, county_b_down):
    a = stack.county_a
    assert firing_sent(stack, a) == before_outage[a]
    suppressed = suppressed_in_alertmanager(stack)
    assert county_b_down <= suppressed
    assert not [school for _, school in suppressed if school.startswith(a + "-")]
    assert not [n for n in stack.webhooks.received if n.path == "/central-it"]


# -- in county A, one agent restarts and another is killed ------------------------------------------


def agent_offline_for_s() -> float:
    """AgentOffline's `for:` in the test copy of the rules (1m in production)."""
    [rule] = [r for path in deploy_files.RULES_DIR.glob("*.yml")
              for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
              for r in group["rules"] if r.get("alert") == "AgentOffline"]  # fmt: skip
    return deploy_files.duration_seconds(rule["for"]) / 60 * FOR_SECONDS_PER_MINUTE


def agent_offline_states(stack: Stack, school: str) -> dict[str, list[int]]:
    """alertstate -> the evaluation times (ms) vmalert stored for the school's AgentOffline."""
    stack.vm.flush()
    states: dict[str, list[int]] = {}
    for row in stack.vm.export(f'ALERTS{{alertname="AgentOffline",school="{school}"}}'):
        states.setdefault(row["metric"]["alertstate"], []).extend(row["timestamps"])
    return {state: sorted(times) for state, times in states.items()}


def agent_offline_evaluated_ms(stack: Stack) -> int:
    """When vmalert last evaluated AgentOffline (its own clock, ms; 0 before it has)."""
    times = [rule.get("lastEvaluation", "") for group in stack.vmalert.rules() for rule in group["rules"]
             if rule.get("name") == "AgentOffline"]  # fmt: skip
    return max((rfc3339_ms(text) for text in times if text), default=0)


def rfc3339_ms(text: str) -> int:
    """Go's RFC 3339 with nanoseconds (2026-12-05T12:21:11.123456789Z) in ms since the epoch."""
    found = re.fullmatch(r"(.+T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", text)
    assert found, f"{text!r} is not an RFC 3339 time"
    whole, fraction, zone = found.groups()
    moment = datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone))
    return int(moment.timestamp()) * 1000 + int((fraction or "0")[:3].ljust(3, "0"))


@pytest.fixture(scope="module")
def restarted(stack, county_b_down):
    """nanhe's agent is stopped until vmalert holds AgentOffline pending and has evaluated it
    half its `for:` later (30 s in production, a slow restart), then is back; then the test
    waits until vmalert has evaluated it past the moment it would have been sent."""
    school = stack.school(stack.county_a, "nanhe-zx")
    stopped_ms = stack.agents.stop_agent(school)
    for_ms = agent_offline_for_s() * 1000
    wait_until(lambda: ("AgentOffline", school, "pending") in held_by_vmalert(stack)
               and agent_offline_evaluated_ms(stack) >= stopped_ms + for_ms / 2, timeout=30,
               what=f"vmalert holding AgentOffline pending for {school}, half its `for:` after the stop")
    stack.agents.start_agent(school)
    wait_until(lambda: agent_offline_evaluated_ms(stack) >= stopped_ms + for_ms + 2000, timeout=30,
               what="vmalert evaluating AgentOffline 2 s past the moment it would have fired")
    wait_until(lambda: "pending" in agent_offline_states(stack, school), timeout=10,
               what=f"vmalert storing AgentOffline pending for {school}")
    return school, stopped_ms


def test_an_agent_restart_within_agent_offlines_for_does_not_page(stack, restarted):
    school, stopped_ms = restarted
    states = agent_offline_states(stack, school)
    assert states["pending"][0] >= stopped_ms, "the rule saw the restart (pending)"
    assert "firing" not in states
    assert ("AgentOffline", school) not in firing_sent(stack, stack.county_a)


@pytest.fixture(scope="module")
def killed(stack, restarted):
    """xishan's agent is killed (the broker publishes its will) and stays down."""
    school = stack.school(stack.county_a, "xishan-xx")
    stopped_ms = stack.agents.stop_agent(school)
    wait_until(lambda: ("AgentOffline", school) in firing_sent(stack, stack.county_a), timeout=ALERTS_TIMEOUT_S,
               what=f"AgentOffline for {school} at county A's receiver")
    wait_until(lambda: "firing" in agent_offline_states(stack, school), timeout=10,
               what=f"vmalert storing AgentOffline firing for {school}")
    return school, stopped_ms


def test_a_killed_agent_pages_once_agent_offlines_for_has_passed(stack, killed):
    """Counted in vmalert's own evaluation times from the will's arrival; the upper bound
    allows for the store making a sample visible (>= 1 s) and a few evaluations."""
    school, stopped_ms = killed
    first_firing_ms = agent_offline_states(stack, school)["firing"][0]
    offline_for_ms = agent_offline_for_s() * 1000
    assert stopped_ms + offline_for_ms <= first_firing_ms < stopped_ms + offline_for_ms + 3000
    assert firing_sent(stack, stack.county_a) == expected_before_outage(stack)[stack.county_a] | {("AgentOffline", school)}


# -- a class renamed in the agent's config ---------------------------------------------------------


@pytest.fixture(scope="module")
def renamed(stack, killed):
    """nanhe's IT teacher renames class c7-1 in agent.yaml and adds its whiteboard, which
    does not answer: a new alert joins the ClassroomDeviceDown group, and county A gets the
    group's next notification (a new device: no earlier `ok` series keeps it up for 3 min)."""
    school = stack.school(stack.county_a, "nanhe-zx")
    plan = next(p for p in stack.agents.plans if p.school == school)
    board = Device("c7-1", "whiteboard", "电子白板", "electronic_whiteboard", "tcp")
    stack.agents.change(school, classes=(("c7-1", "七年级(1)班 301室"), plan.classes[1]),
                        devices=(*plan.devices, board), dead=(*plan.dead, (board.key, ALWAYS)))

    def whiteboard_notification() -> list:
        return [n for n in list(stack.webhooks.received) if n.path == "/" + stack.receiver[stack.county_a]
                and any(a["labels"].get("device") == "whiteboard" for a in n.alerts)]

    wait_until(whiteboard_notification, timeout=ALERTS_TIMEOUT_S, what=f"ClassroomDeviceDown for {school}'s whiteboard")
    return school, whiteboard_notification()[0]


def test_renaming_a_class_changes_the_next_alert_text(stack, renamed):
    school, notification = renamed
    summaries = sorted(alert["annotations"]["summary"] for alert in notification.alerts)
    assert summaries == [
        f"教室设备故障：南河中学 七年级(1)班 301室 投影仪（{school} c7-1 projector）/ Classroom device down: 南河中学 七年级(1)班 301室 投影仪",
        f"教室设备故障：南河中学 七年级(1)班 301室 电子白板（{school} c7-1 whiteboard）/ Classroom device down: 南河中学 七年级(1)班 301室 电子白板",
    ]

"""The alert rules with their production `for:` durations, over six hours of history.

vmalert's replay mode (-replay.timeFrom/-replay.timeTo) evaluates the rules minute by
minute over stored data and writes what would have fired as ALERTS series, so no test
waits for a `for:`. It covers what the live scenario does not: broadband reported down,
a spool backlog, a spool dropping data, an agent that hangs without a last will (only the
collector's presence report knows), agent restarts that must not page and a killed agent
that must, and a county outage at production timing, which must fire before the
per-school alerts it inhibits.
"""

from __future__ import annotations

import math
import subprocess
import time
from datetime import datetime, timezone

import pytest
import yaml

from collector.presence import SchoolPresence, presence_lines
from schoolnet_stack import deploy_files
from schoolnet_stack.requirements import require_binary
from schoolnet_stack.servers import ServerError, VictoriaMetrics, Vmalert, http_request
from tests.rules.scenario import Agents, Minutes, SchoolPlan, direct_to_store

pytestmark = pytest.mark.servers

HISTORY_MIN = 360
SILENT_AFTER_MIN = 3  # the collector's 180 s

PLANS = (
    SchoolPlan("rp", "rp-line-xx", broadband_down=Minutes(-200, -150)),
    SchoolPlan("rp", "rp-spool-xx", spool_backlog=Minutes(-240, -200)),
    SchoolPlan("rp", "rp-drop-xx", spool_dropping=Minutes(-100, -99)),
    SchoolPlan("rp", "rp-quiet-xx", hangs_from=-93),
    # systemctl restart (15 s) and a slow restart after a crash (50 s, systemd waits 10 s).
    SchoolPlan("rp", "rp-restart-xx", stopped=(Minutes(-200, -200 + 15 / 60), Minutes(-120, -120 + 50 / 60))),
    # Killed; the gateway comes back 5 minutes later.
    SchoolPlan("rp", "rp-killed-xx", stopped=(Minutes(-150, -145),)),
    *(SchoolPlan("cy", f"cy-{n}", offline_from=-60) for n in range(1, 5)),
    SchoolPlan("cy", "cy-5"),
)
EXPECTED_FIRST_FIRING = {
    ("BroadbandDown", "rp-line-xx"): -200 + 5,
    ("SpoolBacklog", "rp-spool-xx"): -240 + 15,
    ("SpoolDropping", "rp-drop-xx"): -99,
    ("AgentOffline", "rp-quiet-xx"): -89 + 1,  # silent: more than 3 minutes since its last report
    ("AgentOffline", "rp-killed-xx"): -150 + 1,
    **{("AgentOffline", f"cy-{n}"): -60 + 1 for n in range(1, 5)},
    ("CountyOutage", ""): -60 + 0.25,  # 4 of 5 schools: 80 %
}


def presence_reports(plan: SchoolPlan, agents: Agents) -> list[str]:
    """What the collector writes about the school each minute (collector/presence.py)."""
    lines = []
    for minute in range(-HISTORY_MIN, 0):
        quiet_from = min(plan.offline_from, plan.hangs_from, *(span.start for span in plan.stopped if minute in span))
        age_min = max(0.0, minute - quiet_from) if quiet_from < math.inf else 0.0
        report = SchoolPresence(plan.county, plan.school, age_min > SILENT_AFTER_MIN, age_min * 60)
        lines += presence_lines([report], agents.ts_ms(minute), collector="c1")
    return lines


def by_interval(rules: dict) -> dict[str, dict]:
    """The groups of a rule document split by their evaluation interval: replay queries
    every group at -datasource.queryStep, so each interval is replayed on its own."""
    split: dict[str, dict] = {}
    for group in rules["groups"]:
        split.setdefault(group.get("interval", "1m"), {"groups": []})["groups"].append(group)
    return split


def without_texts(rules: dict) -> dict:
    """The rules without their annotations: vmalert's replay mode cannot run the `query`
    the texts use to name schools (deploy/rules/names.yml), and this test is about when
    alerts fire; their texts are the scenario test's (tests/rules/test_scenario.py)."""
    return {"groups": [{**group, "rules": [{k: v for k, v in rule.items() if k != "annotations"}
                                           for rule in group["rules"]]} for group in rules["groups"]]}


def replay(vm: VictoriaMetrics, rules: dict, path, start_s: float, end_s: float, step: str = "1m") -> None:
    path.write_text(yaml.safe_dump(without_texts(rules), allow_unicode=True), encoding="utf-8")
    argv = [
        Vmalert.binary, f"-rule={path}", f"-datasource.url={vm.url}", f"-remoteWrite.url={vm.url}",
        f"-replay.timeFrom={_rfc3339(start_s)}", f"-replay.timeTo={_rfc3339(end_s)}",
        "-replay.disableProgressBar", "-replay.rulesDelay=0s", "-evaluationInterval=1m",
        f"-datasource.queryStep={step}", "-remoteWrite.flushInterval=100ms", "-loggerLevel=ERROR",
    ]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    vm.flush()


def _rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def replayed(tmp_path_factory) -> dict[tuple[str, str, str], list[float]]:
    """(alertstate, alertname, school) -> the scenario minutes at which it was in that state."""
    require_binary(Vmalert.binary)
    require_binary(VictoriaMetrics.binary)
    workdir = tmp_path_factory.mktemp("history")
    with VictoriaMetrics(workdir / "vm") as vm:
        agents = Agents(PLANS, direct_to_store(vm.url), start_ms=int(time.time() // 60 * 60_000))
        agents.backfill(history_min=HISTORY_MIN)
        presence = [line for plan in PLANS for line in presence_reports(plan, agents)]
        status, body = http_request(f"{vm.url}/write?precision=ms", data="\n".join(presence).encode())
        if status != 204:
            raise ServerError(f"writing presence -> HTTP {status}: {body[:300]!r}")
        vm.flush()
        start_s, end_s = agents.ts_ms(-HISTORY_MIN + 10) / 1000, agents.ts_ms(0) / 1000
        passes = deploy_files.replay_passes(sorted(deploy_files.RULES_DIR.glob("*.yml")))
        for index, rules in enumerate(passes):
            for step, part in by_interval(rules).items():
                replay(vm, part, workdir / f"pass-{index}-{step}.yml", start_s, end_s, step)
        states: dict[tuple[str, str, str], list[float]] = {}
        for row in vm.export("ALERTS"):
            labels = row["metric"]
            key = (labels["alertstate"], labels["alertname"], labels.get("school", ""))
            states.setdefault(key, []).extend((ts - agents.start_ms) / 60_000 for ts in row["timestamps"])
        return {key: sorted(minutes) for key, minutes in states.items()}


@pytest.fixture(scope="module")
def fired(replayed) -> dict[tuple[str, str], list[float]]:
    """(alertname, school) -> the scenario minutes at which it was firing."""
    return {(name, school): minutes for (state, name, school), minutes in replayed.items() if state == "firing"}


def test_exactly_the_expected_alerts_fired(fired):
    assert set(fired) == set(EXPECTED_FIRST_FIRING)


@pytest.mark.parametrize(("alert", "minute"), sorted(EXPECTED_FIRST_FIRING.items()), ids=str)
def test_each_alert_fires_after_its_for_duration(fired, alert, minute):
    assert minute <= fired[alert][0] < minute + 1.5, fired[alert][:3]


def test_alerts_resolve_when_the_fault_ends(fired):
    assert fired[("BroadbandDown", "rp-line-xx")][-1] < -149
    assert fired[("SpoolBacklog", "rp-spool-xx")][-1] < -199
    assert fired[("SpoolDropping", "rp-drop-xx")][-1] < -38, "an increase leaves the 1 h window"


def test_county_outage_fires_before_the_school_alerts_it_inhibits(fired):
    """By the difference of their `for:` (1m - 15s), less one evaluation (10 s)."""
    outage = fired[("CountyOutage", "")][0]
    schools = min(fired[("AgentOffline", f"cy-{n}")][0] for n in range(1, 5))
    assert schools - outage >= (60 - 15 - 10) / 60


PRESENCE_EVALUATION_MIN = 10 / 60  # deploy/rules/schools.yml, schoolnet-presence-alerts


def test_a_killed_agent_pages_one_minute_after_its_will_until_it_is_back(fired):
    minutes = fired[("AgentOffline", "rp-killed-xx")]
    assert -149 <= minutes[0] < -149 + PRESENCE_EVALUATION_MIN, minutes[:3]
    assert -145 - PRESENCE_EVALUATION_MIN <= minutes[-1] < -145, minutes[-3:]


@pytest.mark.parametrize(("start", "seconds"), [(-200, 15), (-120, 50)])
def test_an_agent_restart_shorter_than_a_minute_never_pages(replayed, fired, start, seconds):
    """It was seen (pending from the offline status on), and it did not fire."""
    pending = [m for m in replayed.get(("pending", "AgentOffline", "rp-restart-xx"), []) if start <= m < start + 1]
    assert pending and pending[0] == pytest.approx(start) and pending[-1] < start + seconds / 60, pending
    assert ("AgentOffline", "rp-restart-xx") not in fired

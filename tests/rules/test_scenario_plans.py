"""The scenario's schools report what their plans say, as valid contract messages, at the
agents' intervals; no server needed."""

from __future__ import annotations

import json

from schoolnet_core import contract
from tests.rules import scenario
from tests.rules.scenario import ALWAYS, Agents, Minutes, SchoolPlan, Session

START_MS = 1_795_000_000_000


class Recorder:
    """A deliver function that keeps the decoded messages."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, dict, int]] = []

    def __call__(self, deliveries) -> None:
        for delivery in deliveries:
            message = contract.validate(delivery.topic, delivery.payload, delivery.received_ms)
            assert isinstance(message, contract.Message), message
            self.messages.append((message.kind, json.loads(delivery.payload), delivery.received_ms))

    def of(self, kind: str) -> list[dict]:
        return [document for k, document, _ in self.messages if k == kind]


def test_minutes():
    span = Minutes(-10, 5)
    assert -10 in span and 4.9 in span and 5 not in span
    assert [span.elapsed(m) for m in (-20, -10, 0, 5, 100)] == [0, 0, 10, 15, 15]
    assert scenario.NEVER.elapsed(1e9) == 0 and 0 in ALWAYS


def test_a_session_is_named_from_fifteen_minutes_before_it_starts():
    plan = SchoolPlan("hx", "hx-a", sessions=(Session("s-1", Minutes(30, 75)),))
    assert plan.session_at(14) == (None, False)
    assert plan.session_at(15) == ("s-1", False)
    assert plan.session_at(30) == ("s-1", True)
    assert plan.session_at(75) == (None, False)


def test_sync_ready_is_the_agents_verdict():
    plan = SchoolPlan("hx", "hx-a", endpoint_down=Minutes(10, 20), poor_path=Minutes(30, 40))
    assert scenario.sync_body(plan, 0)["ready"] is True
    down = scenario.sync_body(plan, 10)
    assert (down["ready"], down["endpoints_up"], down["platform_up"]) == (False, 0, True)
    poor = scenario.sync_body(plan, 30)
    assert (poor["ready"], poor["endpoints_up"], poor["rtt_ms"]) == (False, 1, 220.0)


def test_a_dead_required_device_makes_its_class_not_ready():
    plan = SchoolPlan("hx", "hx-a", dead=(("c7-1/projector", Minutes(0)),))
    before, after = scenario.classrooms_body(plan, -1), scenario.classrooms_body(plan, 0)
    assert (before["classes_ready"], after["classes_ready"]) == (2, 1)
    projector = next(d for d in after["devices"] if d["classroom"] == "c7-1" and d["device"] == "projector")
    assert (projector["up"], projector["status"], "lamp_hours" in projector) == (False, "timeout", False)


def test_spool_figures():
    plan = SchoolPlan("hx", "hx-a", spool_backlog=Minutes(0, 10), spool_dropping=Minutes(20, 22))
    assert scenario.health_body(plan, 5)["spool_depth"] == scenario.BACKLOG
    assert scenario.health_body(plan, 10)["spool_depth"] == 0
    assert [scenario.health_body(plan, m)["spool_dropped_total"] for m in (19, 20, 21, 30)] == [0, 0, 5, 10]


def test_backfill_reports_at_the_agents_intervals():
    recorder = Recorder()
    agents = Agents([SchoolPlan("hx", "hx-a", scheduled_mbps=(90.0, 110.0), on_demand_mbps=(20.0,))],
                    recorder, start_ms=START_MS)
    agents.backfill(history_min=10)
    assert len(recorder.of("broadband")) == 20
    assert [len(recorder.of(kind)) for kind in ("classrooms", "sync", "health")] == [10, 10, 10]
    tests = recorder.of("speedtest")
    assert [(t["download_mbps"], t["trigger"]) for t in tests] == [(90.0, "scheduled"), (110.0, "scheduled"),
                                                                   (20.0, "on_demand")]
    assert recorder.of("status") == [{**recorder.of("status")[0], "online": True}]
    assert max(d["ts"] for d in recorder.of("broadband")) == START_MS - 30_000


def test_an_offline_agent_sends_its_will_and_then_nothing():
    recorder = Recorder()
    Agents([SchoolPlan("hx", "hx-a", offline_from=-4)], recorder, start_ms=START_MS).backfill(history_min=10)
    assert [s["online"] for s in recorder.of("status")] == [True, False]
    assert max(d["ts"] for d in recorder.of("health")) == START_MS - 5 * 60_000


def test_go_offline_takes_a_whole_county_down_once():
    recorder = Recorder()
    plans = scenario.six_schools("hx", "ly")
    agents = Agents(plans, recorder, start_ms=START_MS)
    assert sorted(agents.go_offline("ly")) == ["ly-beiling-xx", "ly-shiqiao-xx"]
    assert agents.go_offline("ly") == []
    wills = [(d["school"], d["online"]) for d in recorder.of("status")]
    assert wills == [("ly-beiling-xx", False), ("ly-shiqiao-xx", False)]


def test_every_scenario_message_passes_the_contract():
    recorder = Recorder()
    Agents(scenario.six_schools("hx", "ly"), recorder, start_ms=START_MS).backfill(history_min=30)
    assert {kind for kind, _, _ in recorder.messages} == {*contract.KINDS}

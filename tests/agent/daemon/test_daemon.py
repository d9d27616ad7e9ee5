"""`schoolnet-agent run` end to end: the real command in a process of its own, a real
mosquitto, real peers for every check. The county side sees every kind of message,
valid by the contract and with the values of the school's peers; a commanded speed test;
refused commands logged with their reasons; SIGTERM ends it with the status offline."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import paho.mqtt.publish as mqtt_publish
import pytest
from paho.mqtt.client import MQTTv5

from agent import __version__, daemon
from agent.config import load_config
from agent.daemon import run_agent
from agent.wiring import session_window
from schoolnet_core import contract
from schoolnet_core.config import read_secret
from schoolnet_stack.county_broker import CountyBroker, Listener, Received
from schoolnet_stack.processes import AgentProcess
from schoolnet_stack.school import (
    COMMAND_KEY,
    COUNTY,
    LAMP_HOURS,
    MQTT_PASSWORD,
    PJLINK_PASSWORD,
    SCHOOL,
    SESSION,
    UNMEETABLE_MBPS,
)

pytestmark = pytest.mark.servers
REPO = Path(__file__).resolve().parents[3]
KINDS = ("broadband", "classrooms", "sync", "health")


@pytest.fixture
def start_agent():
    started: list[AgentProcess] = []

    def start(config_path: Path, journal: bool = False) -> AgentProcess:
        started.append(AgentProcess(config_path, journal=journal))
        return started[-1]

    yield start
    for agent in started:
        agent.kill()


@pytest.fixture
def county(mosquitto):
    """County IT's side: every message of every school, in a persistent session."""
    listener = Listener(CountyBroker(mosquitto, mosquitto.port), "schoolnet/v1/#", client_id="county-it")
    yield listener
    listener.close()


def now_ms() -> int:
    return int(time.time() * 1000)


def of_kind(messages: list[Received], kind: str) -> list[Received]:
    return [m for m in messages if m.topic == contract.topic(COUNTY, SCHOOL, kind)]


def validated(message: Received) -> contract.Message:
    checked = contract.validate(message.topic, message.payload, now_ms())
    assert isinstance(checked, contract.Message), f"{checked} in {message.payload!r}"
    return checked


def command(request_id: str, key: bytes = COMMAND_KEY.encode(), ts: int | None = None) -> bytes:
    ts = now_ms() if ts is None else ts
    token = hmac.new(key, f"{request_id}|{ts}".encode(), hashlib.sha256).hexdigest()
    return json.dumps({"schema": 1, "command": "speedtest", "request_id": request_id, "ts": ts,
                       "token": token}).encode()


def send_command(port: int, payload: bytes) -> None:
    mqtt_publish.single(contract.topic(COUNTY, SCHOOL, contract.COMMAND), payload, qos=1,
                        hostname="127.0.0.1", port=port, protocol=MQTTv5)


def retained_status(mosquitto) -> dict:
    """What a client connecting now is told about the school's presence."""
    late = Listener(CountyBroker(mosquitto, mosquitto.port), contract.topic(COUNTY, SCHOOL, contract.STATUS),
                    client_id=f"late-{now_ms()}")
    try:
        (status,) = late.wait_for(lambda messages: messages)
    finally:
        late.close()
    assert status.retain is True
    return validated(status).body


def test_every_kind_arrives_valid_with_the_schools_values(mosquitto, county, school, start_agent):
    config_path = school.write_config(school.config(broker_port=mosquitto.port, failing=True))
    config = load_config(config_path)
    agent = start_agent(config_path)

    arrived = county.wait_for(lambda ms: all(of_kind(ms, kind) for kind in KINDS), timeout_s=30)

    first = {kind: validated(of_kind(arrived, kind)[0]) for kind in KINDS}
    broadband = first["broadband"].body
    assert (broadband["up"], broadband["targets_up"]) == (True, 4)
    assert [(t["target"], t["method"], t["up"]) for t in broadband["targets"]] == [
        ("县数据中心", "tcp", True), ("县教育城域网网关", "icmp", True), ("本地DNS", "dns", True),
        ("县同步课堂平台", "http", True), ("断线的目标", "tcp", False)]

    classrooms = first["classrooms"]
    measured_at = datetime.fromtimestamp(classrooms.ts_ms / 1000, timezone.utc)
    assert classrooms.body["in_hours"] is config.timetable.in_school_hours(measured_at)
    assert (classrooms.body["classes_ready"], classrooms.body["coverage_pct"]) == (1, 50.0)
    devices = {(d["classroom"], d["device"]): d for d in classrooms.body["devices"]}
    assert (devices["c7-2", "panel"]["status"], devices["c7-2", "panel"]["up"]) == ("refused", False)
    assert devices["c7-1", "projector"]["lamp_hours"] == LAMP_HOURS
    assert devices["c7-1", "projector"]["power_on"] is True
    assert devices["c7-1", "pc"]["up"] is True

    sync = first["sync"]
    expected = session_window(config.sync_classroom.sessions, datetime.fromtimestamp(sync.ts_ms / 1000, timezone.utc),
                              config.timetable.timezone, config.timetable.is_school_day)
    assert (sync.body.get("session"), sync.body["session_active"]) == (expected.session, expected.active)
    assert expected.session == SESSION  # the session runs 00:00-23:59 every day
    assert (sync.body["ready"], sync.body["platform_up"], sync.body["endpoints_up"]) == (True, True, 1)
    assert sync.body["loss_pct"] == 0.0 and sync.body["rural"] is True

    health = first["health"].body
    assert (health["agent_version"], health["spool_dropped_total"]) == (__version__, 0)
    assert retained_status(mosquitto) == {"online": True, "agent_version": __version__, "school_name": "测试中学"}

    assert agent.stop() == 0
    assert retained_status(mosquitto) == {"online": False, "agent_version": __version__, "school_name": "测试中学"}
    for secret in (MQTT_PASSWORD, PJLINK_PASSWORD, COMMAND_KEY):
        assert secret not in agent.log
    assert "收到 SIGTERM，正在停止 / SIGTERM received, stopping" in agent.log
    assert agent.lines[-1].endswith("已停止 / stopped")


def test_a_commanded_speed_test_runs_once_and_bad_commands_are_refused_with_reasons(
        mosquitto, county, school, start_agent):
    agent = start_agent(school.write_config(school.config(broker_port=mosquitto.port, failing=True)))
    agent.wait_for_log("listening for county IT's commands")
    good = command("req-1")

    send_command(mosquitto.port, good)
    agent.wait_for_log("on-demand speed test for request req-1")
    send_command(mosquitto.port, good)                                        # a copy
    send_command(mosquitto.port, command("req-2", key=b"not-the-county-key-000000"))
    send_command(mosquitto.port, command("req-3"))                            # while it runs
    send_command(mosquitto.port, command("req-4", ts=now_ms() - 10 * 60 * 1000))
    arrived = county.wait_for(lambda ms: of_kind(ms, "speedtest"), timeout_s=60)
    send_command(mosquitto.port, command("req-5"))                            # too soon after
    agent.wait_for_log("refused command req-5")

    (test,) = [validated(m).body for m in of_kind(arrived, "speedtest")]
    assert (test["trigger"], test["ok"], test["backend"]) == ("on_demand", True, "http")
    assert test["download_mbps"] > 100 and test["upload_mbps"] > 100
    assert test["target_mbps"] == UNMEETABLE_MBPS
    assert test["server"] == school.speed.url
    refusals = [line for line in agent.lines if "refused" in line]
    assert any("replayed: request_id req-1 was already received" in line for line in refusals)
    assert any("bad_token: token does not match" in line for line in refusals)
    assert any("refused command req-3: busy: a on_demand speed test has been running" in line for line in refusals)
    assert any("stale: the command is 600 s old" in line for line in refusals)
    assert any("refused command req-5: rate_limited: one on-demand test per 60 s" in line for line in refusals)
    assert agent.stop() == 0
    assert len(of_kind(county.wait_for(lambda ms: True), "speedtest")) == 1
    assert json.loads(good)["token"] not in agent.log


def test_sigterm_during_a_speed_test_exits_at_once_without_publishing_it(mosquitto, county, school, start_agent):
    agent = start_agent(school.write_config(school.config(broker_port=mosquitto.port)), journal=True)
    agent.wait_for_log("listening for county IT's commands")
    send_command(mosquitto.port, command("req-1"))
    agent.wait_for_log("on-demand speed test for request req-1")

    assert agent.stop(signal.SIGINT) == 0

    assert retained_status(mosquitto)["online"] is False
    assert not of_kind(county.wait_for(lambda ms: True), "speedtest")
    assert agent.lines[-1] == "<6>INFO agent.daemon: 已停止 / stopped"
    assert all(line.startswith("<") for line in agent.lines)


def test_a_scheduled_speed_test_runs_at_its_time_and_says_so(mosquitto, county, school, caplog, monkeypatch):
    """In this process, with the schedule's clock set to a second before the 03:00 slot.
    With bandwidth_check, the sync rounds after it carry the test's slower direction."""
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(daemon, "SYNC_EVERY_S", 1)
    document = school.config(broker_port=mosquitto.port)
    document["sync_classroom"] |= {"bandwidth_check": True, "thresholds": {"bandwidth_mbps": 10_000}}
    config = load_config(school.write_config(document))
    secrets = {ref: read_secret(ref) for ref in config.secret_refs()}
    real_now = datetime.now(timezone.utc)
    slot = real_now.astimezone(ZoneInfo(config.timetable.timezone)).replace(hour=3, minute=0, second=0,
                                                                             microsecond=0)
    offset = slot - timedelta(seconds=1) - real_now

    async def scenario() -> list[Received]:
        stop = asyncio.Event()
        agent = asyncio.ensure_future(run_agent(config, secrets, stop,
                                                schedule_clock=lambda: datetime.now(timezone.utc) + offset))
        try:
            return await asyncio.to_thread(county.wait_for, lambda ms: with_bandwidth(of_kind(ms, "sync")), 60)
        finally:
            stop.set()
            await agent

    arrived = asyncio.run(scenario())

    (test,) = [validated(m).body for m in of_kind(arrived, "speedtest")]
    assert (test["trigger"], test["ok"]) == ("scheduled", True)
    scheduled = [r.getMessage() for r in caplog.records if "next scheduled speed test" in r.getMessage()]
    assert scheduled[0].endswith(f"at {slot.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} UTC")
    assert "scheduled speed test done: download" in caplog.text
    assert retained_status(mosquitto)["online"] is False
    syncs = [message.body for message in sorted(map(validated, of_kind(arrived, "sync")), key=lambda m: m.ts_ms)]
    assert "bandwidth_mbps" not in syncs[0], "the first sync round comes while the test still runs"
    first_with_bandwidth = with_bandwidth(of_kind(arrived, "sync"))[0]
    slower = min(test["download_mbps"], test["upload_mbps"])
    assert first_with_bandwidth["bandwidth_mbps"] == pytest.approx(slower, abs=0.01)
    path_ready = syncs[0]["ready"]  # the same loopback path, without the bandwidth evidence
    assert first_with_bandwidth["ready"] is (path_ready and slower >= 10_000), (slower, path_ready)


def with_bandwidth(syncs) -> list[dict]:
    return [body for body in (validated(m).body for m in syncs) if "bandwidth_mbps" in body]


# --- refusing to start -------------------------------------------------------------------------

MINIMAL = """\
school: {{id: hx-test-xx, name: 测试中学, county: hx, rural: false}}
broker: {{url: "mqtt://127.0.0.1:1", allow_plaintext: true, password_env: SN_TEST_MQTT_PASSWORD}}
spool: {{path: {spool}}}
timetable: {{lessons: ["08:00-08:45"]}}
"""


def run_agent_command(tmp_path: Path, spool: str, **env: str) -> subprocess.CompletedProcess:
    config = tmp_path / "agent.yaml"
    config.write_text(MINIMAL.format(spool=spool), encoding="utf-8")
    environment = {k: v for k, v in os.environ.items() if k != "SN_TEST_MQTT_PASSWORD"} | env
    return subprocess.run([sys.executable, "-m", "agent.cli", "run", "-c", str(config)], cwd=REPO,
                          env=environment, capture_output=True, text=True, timeout=60, check=False)


def test_a_missing_secret_stops_the_agent_before_it_starts_naming_the_key(tmp_path):
    done = run_agent_command(tmp_path, "spool.sqlite")

    assert done.returncode == 2
    assert (f"配置错误 (config error): {tmp_path / 'agent.yaml'}:2: broker.password_env: "
            "environment variable SN_TEST_MQTT_PASSWORD is not set") in done.stderr
    assert not (tmp_path / "spool.sqlite").exists()


def test_a_spool_that_cannot_be_opened_stops_the_agent_naming_the_key(tmp_path):
    (tmp_path / "a-file").write_text("")

    done = run_agent_command(tmp_path, "a-file/spool.sqlite", SN_TEST_MQTT_PASSWORD="pw")

    assert done.returncode == 2
    assert f"{tmp_path / 'agent.yaml'}:0: spool.path: cannot open the spool" in done.stderr

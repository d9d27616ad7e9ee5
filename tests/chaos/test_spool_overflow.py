"""Issue 8, item 2, end to end: a school's line to the county is down for longer than its
spool holds. The agent keeps measuring, its full spool drops the oldest results and
counts them, and once the line is back the store holds exactly the newest results, the
drop count under the contract's metric, and county IT is paged by the shipped
SpoolDropping rule.

The school is the real agent in this process: its config file (spool.max_messages 100,
the smallest the config allows), the daemon's Agent rounds, Publisher and Spool. The test
calls the rounds itself instead of running their timers, so every count is exact. The
county is real too: mosquitto, the collector, VictoriaMetrics, vmalert on copies of
deploy/rules and Alertmanager on a copy of deploy/alertmanager, one webhook per receiver.

The line is a TCP relay between the agent and mosquitto that the test cuts: a cut line
is what a school sees, and the broker restart has its own test (tests/chaos/test_chaos.py).
About 20 s.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from agent.config import AgentConfig, load_config
from agent.daemon import Agent, CommandInbox
from agent.publish import Publisher, Spool, broker_settings
from agent.wiring import probe_setup
from schoolnet_core import contract
from schoolnet_core.config import read_secret
from schoolnet_stack import deploy_files
from schoolnet_stack.peers.tcp import Listener, closed_port
from schoolnet_stack.processes import InProcessCollector, write_collector_config
from schoolnet_stack.servers import wait_until

pytestmark = pytest.mark.timeout(180)

COUNTY, SCHOOL = "hx", "hx-huancun-xx"  # hx: a county the deploy Alertmanager routes
RECEIVER = "hx-county-it"
MQTT_PASSWORD = "pw-7Kd#spool-not-for-logs"
SPOOL_BOUND = 100
MEASURED_BEFORE = 3  # classroom sweeps delivered before the line goes down
MEASURED_DURING = 150  # classroom sweeps measured while it is down
SWEPT = "schoolnet_classrooms_classes_total"
"""One sample per sweep; the sweep (one panel on loopback) takes milliseconds, where a
broadband round takes 0.4 s (three checks 0.2 s apart)."""
DROPPED_METRIC = "schoolnet_health_spool_dropped_total"
"""The contract's health field spool_dropped_total, as VictoriaMetrics names it."""
FOR_SECONDS_PER_MINUTE = 2
ALERTMANAGER_SECONDS_PER_MINUTE = 1


# -- the school's line to the county ------------------------------------------------------------


class Line:
    """The school's line to the county broker: a TCP relay on loopback that can be cut.

    Cut, it closes every connection through it and closes new ones as soon as they
    arrive, which is what the agent sees of a dead uplink; the broker, its sessions and
    the collector's own connection are untouched."""

    def __init__(self, broker_port: int) -> None:
        self._broker_port = broker_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._cut = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        threading.Thread(target=self._accept, name="line", daemon=True).start()

    def cut(self) -> None:
        self._cut.set()
        with self._lock:
            for sock in self._open:
                _close(sock)
            self._open.clear()

    def restore(self) -> None:
        self._cut.clear()

    def close(self) -> None:
        self.cut()
        _close(self._listener)

    def _accept(self) -> None:
        while True:
            try:
                school_side, _ = self._listener.accept()
            except OSError:
                return  # closed
            if self._cut.is_set():
                _close(school_side)
                continue
            county_side = socket.create_connection(("127.0.0.1", self._broker_port))
            with self._lock:
                self._open.update((school_side, county_side))
            for source, sink in ((school_side, county_side), (county_side, school_side)):
                threading.Thread(target=_relay, args=(source, sink), daemon=True).start()


def _relay(source: socket.socket, sink: socket.socket) -> None:
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    _close(source)
    _close(sink)


def _close(sock: socket.socket) -> None:
    """shutdown() first: it wakes a thread blocked in recv() on the socket; close() does not."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


# -- the school ----------------------------------------------------------------------------------


def write_school_config(directory: Path, line_port: int, panel_port: int, spool: str = "spool.sqlite") -> Path:
    """agent.yaml of a school whose broker is behind `line_port`; JSON, which YAML reads."""
    (directory / "mqtt.password").write_text(MQTT_PASSWORD + "\n", encoding="utf-8")
    (directory / "mqtt.password").chmod(0o600)
    document = {
        "school": {"id": SCHOOL, "name": "缓存测试小学", "county": COUNTY, "rural": True},
        "broker": {"url": f"mqtt://127.0.0.1:{line_port}", "allow_plaintext": True,
                   "password_file": "mqtt.password", "keepalive_s": 5},
        "spool": {"path": spool, "max_messages": SPOOL_BOUND},
        "timetable": {"lessons": ["08:00-08:45"]},
        "broadband": {"targets": [{"name": "县数据中心", "check": f"tcp:{panel_port}", "host": "127.0.0.1"}]},
        "sweep": {"timeout_s": 1},
        "classrooms": [{"id": "c1-1", "name": "一年级(1)班", "devices": [
            {"id": "panel", "name": "交互式一体机", "kind": "interactive_panel", "host": "127.0.0.1",
             "check": f"tcp:{panel_port}"}]}],
    }  # fmt: skip
    path = directory / "agent.yaml"
    path.write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Spooled:
    """One message as the spool holds it: its seq, kind, measuring time and body."""

    seq: int
    kind: str
    ts_ms: int
    body: dict


def spooled(spool: Spool, after_seq: int = 0) -> list[Spooled]:
    found = []
    for message in spool.oldest(10 * SPOOL_BOUND, after_seq=after_seq):
        document = json.loads(message.payload)
        body = {key: value for key, value in document.items() if key not in contract.ENVELOPE}
        found.append(Spooled(message.seq, document["kind"], document["ts"], body))
    return found


class School:
    """The agent's pieces as agent.daemon.run_agent puts them together, its rounds called
    by the test. measure() returns the message a round spooled, read back from the spool:
    call it only while nothing is sent (publisher not started, or the line down)."""

    def __init__(self, config: AgentConfig) -> None:
        secrets = {ref: read_secret(ref) for ref in config.secret_refs()}
        password = secrets[config.broker.password].reveal()
        self.spool = Spool(config.spool.path, config.spool.max_messages)
        self.publisher = Publisher(broker_settings(config.broker, password), config.school.county,
                                   config.school.id, self.spool)
        self.agent = Agent(config, probe_setup(config, secrets), self.publisher,
                           CommandInbox(asyncio.get_running_loop()))
        self._last_seq = 0

    async def measure(self, kind: str) -> Spooled:
        await getattr(self.agent, kind)()
        [message] = spooled(self.spool, after_seq=self._last_seq)
        self._last_seq = message.seq
        await asyncio.sleep(0.002)  # the next result is measured at a later millisecond
        return message

    async def wait(self, what: str, condition) -> None:
        await asyncio.to_thread(wait_until, condition, 60, 0.05, what)

    def close(self) -> None:
        self.publisher.stop(wait_s=1)
        self.spool.close()


# -- the store ------------------------------------------------------------------------------------


def stored(victoria_metrics, metric: str) -> list[tuple[dict, list[int], list[float]]]:
    """(labels, timestamps, values) of each series of `metric` for the school, duplicates kept."""
    rows = victoria_metrics.export(f'{metric}{{school="{SCHOOL}"}}')
    return [(row["metric"], row["timestamps"], row["values"]) for row in rows]


def sweep_timestamps(victoria_metrics) -> list[int]:
    return sorted(ts for _, timestamps, _ in stored(victoria_metrics, SWEPT) for ts in timestamps)


def spool_dropping_alerts(webhooks) -> list[dict]:
    """SpoolDropping alerts about the school sent firing to its county's receiver."""
    return [alert for notification in list(webhooks.received) if notification.path == f"/{RECEIVER}"
            for alert in notification.alerts
            if (alert["labels"].get("alertname"), alert["labels"].get("school"), alert["status"])
            == ("SpoolDropping", SCHOOL, "firing")]


# -- the test -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outage:
    """What the agent measured, and what its spool held when the line came back."""

    before: list[Spooled]
    during: list[Spooled]
    health_during: Spooled
    left_in_spool: list[Spooled]
    health_after_ms: tuple[int, int]  # the last health report was measured in this window


async def run_school(config: AgentConfig, line: Line) -> tuple[Outage, int]:
    """The school's day: a health report and MEASURED_BEFORE sweeps delivered, the line
    down for MEASURED_DURING sweeps and a health report, the line back, one more health
    report once the spool is empty. Returns the outage and the agent's final drop count."""
    school = School(config)
    try:
        health_before = await school.measure("health")  # spooled before the first connect
        before = [health_before] + [await school.measure("classrooms") for _ in range(MEASURED_BEFORE)]
        school.publisher.start()
        await school.wait("the first results delivered", lambda: school.spool.depth() == 0)

        line.cut()
        await school.wait("the agent to see the line down", lambda: not school.publisher.stats().connected)
        during = [await school.measure("classrooms") for _ in range(MEASURED_DURING)]
        health_during = await school.measure("health")
        left_in_spool = spooled(school.spool)
        line.restore()

        await school.wait("the spool emptied", lambda: school.publisher.stats().connected
                          and school.spool.depth() == 0)
        started = int(time.time() * 1000)
        await school.agent.health()
        health_after_ms = (started, int(time.time() * 1000))
        await school.wait("the last report delivered", lambda: school.spool.depth() == 0)
        return Outage(before, during, health_during, left_in_spool, health_after_ms), school.spool.dropped_total
    finally:
        school.close()


def test_a_full_spool_drops_the_oldest_reports_the_count_and_pages_the_county(
        tmp_path, mosquitto, victoria_metrics, alertmanager_factory, webhook_receiver, vmalert_factory,
        caplog):
    caplog.set_level(logging.INFO)
    deploy = deploy_files.load_alertmanager_config()
    assert deploy_files.county_routes(deploy)[COUNTY] == RECEIVER
    alertmanager = alertmanager_factory(yaml.safe_dump(
        deploy_files.alertmanager_for_test(deploy, webhook_receiver.url_for, ALERTMANAGER_SECONDS_PER_MINUTE),
        allow_unicode=True))
    line, panel = Line(mosquitto.port), Listener(backlog=1024)  # never accepts: room for every sweep
    config = load_config(write_school_config(tmp_path, line.port, panel.port))
    assert config.spool.max_messages == SPOOL_BOUND
    collector_config = write_collector_config(tmp_path, mosquitto.port, victoria_metrics.url, "c-spool")
    try:
        with InProcessCollector(collector_config):
            outage, dropped_total = asyncio.run(run_school(config, line))
            wait_until(lambda: len(sweep_timestamps(victoria_metrics)) >= MEASURED_BEFORE + SPOOL_BOUND - 1
                       and sum(len(ts) for _, ts, _ in stored(victoria_metrics, DROPPED_METRIC)) >= 3,
                       timeout=30, what="the sweeps and three health reports in VictoriaMetrics")
    finally:
        line.close()
        panel.close()

    # The agent: 153 sweeps and 3 health reports measured; 51 sweeps dropped, oldest first.
    expected_dropped = MEASURED_DURING + 1 - SPOOL_BOUND
    assert dropped_total == expected_dropped == 51
    assert outage.health_during.body["spool_dropped_total"] == 50, "counted before its own message"
    assert outage.health_during.body["spool_depth"] == SPOOL_BOUND
    assert [m.seq for m in outage.left_in_spool] == (
        [m.seq for m in outage.during[expected_dropped:]] + [outage.health_during.seq])
    full = [r.getMessage() for r in caplog.records if "spool full" in r.getMessage()]
    assert len(full) == 1 and "缓存已满，丢弃最旧的消息" in full[0] and "limit 100 messages" in full[0]
    assert MQTT_PASSWORD not in caplog.text

    # The store: exactly the 3 sweeps from before and the newest 99 from during, once each.
    before_ts = [m.ts_ms for m in outage.before if m.kind == "classrooms"]
    measured_ts = before_ts + [m.ts_ms for m in outage.during]
    assert len(set(measured_ts)) == len(measured_ts) == 153, "each sweep has its own millisecond"
    newest_ts = [m.ts_ms for m in outage.during[expected_dropped:]]
    assert len(before_ts) == 3 and len(newest_ts) == 99
    assert sweep_timestamps(victoria_metrics) == sorted(before_ts + newest_ts)
    assert {value for _, _, values in stored(victoria_metrics, SWEPT) for value in values} == {1.0}
    [(labels, timestamps, values)] = stored(victoria_metrics, DROPPED_METRIC)
    assert (labels["county"], labels["school"]) == (COUNTY, SCHOOL)
    by_ts = dict(zip(timestamps, values))
    health_before_ts, health_during_ts = outage.before[0].ts_ms, outage.health_during.ts_ms
    [health_after_ts] = [ts for ts in timestamps if ts not in (health_before_ts, health_during_ts)]
    assert outage.health_after_ms[0] <= health_after_ts <= outage.health_after_ms[1]
    assert by_ts == {health_before_ts: 0.0, health_during_ts: 50.0, health_after_ts: 51.0}

    # The page: vmalert starts on the stored history; its first evaluation sees all 51.
    rules = deploy_files.write_rule_copies(tmp_path / "rules", FOR_SECONDS_PER_MINUTE)
    vmalert_factory(rules, notifier_url=alertmanager.url)
    webhook_receiver.wait_for(lambda _: spool_dropping_alerts(webhook_receiver), timeout=30)
    alert = spool_dropping_alerts(webhook_receiver)[0]
    assert alert["labels"]["county"] == COUNTY and alert["labels"]["severity"] == "warning"
    description = alert["annotations"]["description"]
    assert "过去 1 小时丢弃了 51 条数据" in description and "dropped 51 messages" in description


# -- a full disk ----------------------------------------------------------------------------------


def test_a_full_disk_loses_sweeps_with_one_clear_line_and_the_agent_keeps_measuring(tmp_path, tiny_disk, caplog):
    """The spool's own test (tests/agent/publish/test_spool.py) shows append() returning None
    on a full disk; this one shows the agent around it: every round still completes, the
    one log line says in Chinese and English what happened and what to do, and the next
    health report counts what was lost."""
    panel = Listener(backlog=1024)
    config = load_config(write_school_config(tmp_path, closed_port(), panel.port, str(tiny_disk / "spool.sqlite")))
    filler = tiny_disk / "filler"
    sweeps = 60

    async def measure() -> tuple[int, int, dict]:
        school = School(config)  # its publisher never starts: nothing leaves the spool
        try:
            free = os.statvfs(tiny_disk).f_bavail * os.statvfs(tiny_disk).f_frsize
            filler.write_bytes(b"\0" * (free - 48 * 1024))  # room for a few sweeps only
            for _ in range(sweeps):
                await school.agent.classrooms()  # raises if the agent cannot go on
            depth, lost = school.spool.depth(), school.spool.dropped_total
            filler.unlink()
            await school.agent.health()
            [health] = [m for m in spooled(school.spool) if m.kind == "health"]
            return depth, lost, health.body
        finally:
            school.close()
            panel.close()

    caplog.set_level(logging.INFO)
    depth, lost, health = asyncio.run(measure())

    assert depth > 0 and lost > 0, f"the disk should fill part way through: {depth} stored, {lost} lost"
    assert depth + lost == sweeps
    assert health["spool_dropped_total"] == lost
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, errors
    assert errors[0].startswith("缓存磁盘已满，消息丢失 / spool disk full: ")
    assert "Measuring continues. Free space on that disk or set spool.path to a larger one." in errors[0]
    assert str(tiny_disk / "spool.sqlite") in errors[0]
    assert any("缓存恢复写入 / spool writable again" in r.getMessage() for r in caplog.records)

"""Six schools in two counties, each with its own fault, reported as their agents would.

A SchoolPlan says what is true at each scenario minute (0 = the start of the live phase,
negative = history); message bodies are pure functions of a plan and a minute, built with
the wire contract. Agents plays the plans: it backfills HISTORY_MIN minutes (and a few days
of speed tests) at once, then reports live at the agents' own intervals.

Where messages go is one function, `deliver`: a list of Delivery (topic, payload, the time
it is received). `through_collector` publishes them to mosquitto and waits until the real
collector has stored them (the scenario test); `direct_to_store` validates and writes them
into VictoriaMetrics as the collector would, for replaying long histories fast.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable

from schoolnet_core import contract
from tests.contract.influx_points import to_points

HISTORY_MIN = 120
"""Minutes of history written before the live phase: enough for every 1 h window."""
PRE_ROLL_MIN = 15
"""The agent names an upcoming session this many minutes before it starts (see
deploy/rules/sync_classroom.yml: the assumption the rules make about the agent)."""
BROADBAND_EVERY_MIN = 0.5
OTHERS_EVERY_MIN = 1.0
DAY_MIN = 24 * 60
BACKLOG = 500
DROPPED_PER_MIN = 5
PATH_LIMITS = {"rtt_ms": 150.0, "jitter_ms": 30.0, "loss_pct": 1.0, "mos_min": 3.6}
"""The agent's default sync_classroom.thresholds: its `ready` verdict uses them."""


@dataclass(frozen=True)
class Minutes:
    """Scenario minutes [start, end)."""

    start: float
    end: float = math.inf

    def __contains__(self, minute: float) -> bool:
        return self.start <= minute < self.end

    def elapsed(self, minute: float) -> float:
        """Minutes of this span before `minute`."""
        return 0.0 if minute <= self.start else min(minute, self.end) - self.start


ALWAYS = Minutes(-math.inf)
NEVER = Minutes(math.inf)


@dataclass(frozen=True)
class SyncPath:
    rtt_ms: float
    jitter_ms: float
    loss_pct: float
    mos: float

    @property
    def good_enough(self) -> bool:
        limits = PATH_LIMITS
        return (self.rtt_ms <= limits["rtt_ms"] and self.jitter_ms <= limits["jitter_ms"]
                and self.loss_pct <= limits["loss_pct"] and self.mos >= limits["mos_min"])


GOOD_PATH = SyncPath(rtt_ms=38.0, jitter_ms=3.0, loss_pct=0.0, mos=4.3)
POOR_PATH = SyncPath(rtt_ms=220.0, jitter_ms=45.0, loss_pct=3.0, mos=3.1)


@dataclass(frozen=True)
class Session:
    id: str
    scheduled: Minutes


@dataclass(frozen=True)
class Device:
    classroom: str
    device: str
    name: str
    kind: str
    method: str
    required: bool = True
    lamp_hours: int | None = None

    @property
    def key(self) -> str:
        return f"{self.classroom}/{self.device}"


CLASSES = (("c7-1", "七年级(1)班"), ("c7-2", "七年级(2)班"))
DEVICES = (
    Device("c7-1", "panel", "交互式一体机", "interactive_panel", "tcp"),
    Device("c7-1", "projector", "投影仪", "projector", "pjlink", lamp_hours=1234),
    Device("c7-2", "projector", "投影仪", "projector", "pjlink", lamp_hours=2100),
    Device("c7-2", "booth", "实物展台", "document_camera", "icmp", required=False),
)


@dataclass(frozen=True)
class SchoolPlan:
    """One school and what goes wrong there, by scenario minute."""

    county: str
    school: str
    name: str = ""
    """The school's display name, sent in its status as the agent does (school.name)."""
    classes: tuple[tuple[str, str], ...] = CLASSES
    """(classroom id, display name) of each class, as in the agent's config."""
    devices: tuple[Device, ...] = DEVICES
    rural: bool = False
    scheduled_mbps: tuple[float, ...] = (150.0, 160.0, 170.0)
    """One scheduled speed test a day, oldest first, the newest yesterday."""
    on_demand_mbps: tuple[float, ...] = ()
    """Tests county IT ran by hand an hour ago (the egress figure leaves them out)."""
    engine_limited_mbps: tuple[float, ...] = ()
    """Hand-run tests of the speedtest-cli engine, 90 minutes ago, flagged engine_limited (a
    line too long for it): the school board marks them."""
    broadband_down: Minutes = NEVER
    school_hours: Minutes = ALWAYS
    dead: tuple[tuple[str, Minutes], ...] = ()
    """(device key, when it does not answer)."""
    sessions: tuple[Session, ...] = ()
    endpoint_down: Minutes = NEVER
    poor_path: Minutes = NEVER
    offline_from: float = math.inf
    """The minute the agent's last will arrives; it reports nothing from then on."""
    hangs_from: float = math.inf
    """The minute the gateway hangs: it reports nothing from then on, and no will comes."""
    stopped: tuple[Minutes, ...] = ()
    """History spans when the agent was stopped and came back (a restart, an upgrade, a
    kill that systemd restarted): offline status at the start, nothing in between, online
    status at the end, then its reports again."""
    spool_backlog: Minutes = NEVER
    """While the spool holds BACKLOG unsent messages."""
    spool_dropping: Minutes = NEVER
    """While the full spool drops DROPPED_PER_MIN messages a minute."""

    def running(self, minute: float) -> bool:
        return not any(minute in span for span in self.stopped)

    def device_up(self, device: Device, minute: float) -> bool:
        return not any(key == device.key and minute in when for key, when in self.dead)

    def path(self, minute: float) -> SyncPath:
        return POOR_PATH if minute in self.poor_path else GOOD_PATH

    def session_at(self, minute: float) -> tuple[str | None, bool]:
        """(session named in the report, whether it is on): named from PRE_ROLL_MIN
        minutes before its start until its end."""
        for session in self.sessions:
            if minute in session.scheduled:
                return session.id, True
            if session.scheduled.start - PRE_ROLL_MIN <= minute < session.scheduled.start:
                return session.id, False
        return None, False


# -- message bodies (pure) ---------------------------------------------------------------------


def broadband_body(plan: SchoolPlan, minute: float) -> dict[str, Any]:
    up = minute not in plan.broadband_down
    targets = [
        {"target": "县教育城域网", "method": "icmp", "up": up, "rtt_ms": 3.2 if up else None,
         "loss_pct": 0.0 if up else 100.0},
        {"target": "阿里DNS", "method": "dns", "up": up, "rtt_ms": 11.8 if up else None,
         "loss_pct": 0.0 if up else 100.0},
    ]
    return {"up": up, "targets_up": 2 if up else 0, "targets": targets}


def device_report(plan: SchoolPlan, device: Device, minute: float) -> dict[str, Any]:
    up = plan.device_up(device, minute)
    report = {
        "classroom": device.classroom, "device": device.device, "name": device.name, "kind": device.kind,
        "method": device.method, "required": device.required, "status": "ok" if up else "timeout",
        "up": up, "rtt_ms": 1.5 if up else None,
    }
    if up and device.method == "pjlink":
        report.update(power_on=True, lamp_hours=device.lamp_hours, err_fan=0, err_lamp=0, err_temperature=0,
                      err_cover=0, err_filter=0, err_other=0)
    return report


def classrooms_body(plan: SchoolPlan, minute: float) -> dict[str, Any]:
    devices = [device_report(plan, device, minute) for device in plan.devices]
    classes = []
    for classroom, name in plan.classes:
        required = [d for d in devices if d["classroom"] == classroom and d["required"]]
        up = sum(d["up"] for d in required)
        classes.append({"classroom": classroom, "name": name, "ready": up == len(required),
                        "required_total": len(required), "required_up": up})
    ready = sum(c["ready"] for c in classes)
    return {
        "in_hours": minute in plan.school_hours,
        "classes_total": len(classes), "classes_ready": ready, "coverage_pct": 100.0 * ready / len(classes),
        "devices_total": len(devices), "devices_up": sum(d["up"] for d in devices),
        "classes": classes, "devices": devices,
    }


def sync_body(plan: SchoolPlan, minute: float) -> dict[str, Any]:
    session, active = plan.session_at(minute)
    path = plan.path(minute)
    endpoint_up = minute not in plan.endpoint_down
    return {
        "rural": plan.rural, "session": session, "session_active": active,
        "ready": endpoint_up and path.good_enough, "platform_up": True, "platform_connect_ms": 18.5,
        "rtt_ms": path.rtt_ms, "jitter_ms": path.jitter_ms, "loss_pct": path.loss_pct, "mos": path.mos,
        "endpoints_up": int(endpoint_up), "endpoints_total": 1,
        "endpoints": [{"classroom": "c7-1", "up": endpoint_up, "rtt_ms": 0.9 if endpoint_up else None}],
    }


def health_body(plan: SchoolPlan, minute: float) -> dict[str, Any]:
    backlog = minute in plan.spool_backlog
    return {"agent_version": "0.1.0", "cpu_pct": 7.5, "mem_pct": 38.2, "disk_pct": 61.0,
            "uptime_s": 864000 + minute * 60, "spool_depth": BACKLOG if backlog else 0,
            "spool_oldest_age_s": 1800 if backlog else 0,
            "spool_dropped_total": math.ceil(plan.spool_dropping.elapsed(minute)) * DROPPED_PER_MIN}


def speedtest_body(mbps: float, trigger: str, engine_limited: bool = False) -> dict[str, Any]:
    backend = {"backend": "speedtest", "server": "http://speedtest.county.edu.example",
               "engine_limited": True} if engine_limited else {"backend": "iperf3", "server": "iperf.county.edu.example:5201"}
    return {**backend, "trigger": trigger, "ok": True,
            "download_mbps": mbps, "upload_mbps": mbps / 2, "latency_ms": 8.4, "jitter_ms": 1.3,
            "duration_s": 20.0, "background_pct": 3.1, "cpu_max_pct": 41.0, "cpu_bound": False,
            "target_mbps": 100}


REPORTS: dict[str, tuple[float, Callable[[SchoolPlan, float], dict]]] = {
    "broadband": (BROADBAND_EVERY_MIN, broadband_body),
    "classrooms": (OTHERS_EVERY_MIN, classrooms_body),
    "sync": (OTHERS_EVERY_MIN, sync_body),
    "health": (OTHERS_EVERY_MIN, health_body),
}
"""The periodic reports: kind -> (every how many minutes, body at a minute)."""


# -- the six schools --------------------------------------------------------------------------


def six_schools(county_a: str, county_b: str) -> tuple[SchoolPlan, ...]:
    """The scenario of tests/rules/test_scenario.py (its docstring lists the expectations)."""
    return (
        # Egress median 60 Mbps: below the 100 Mbps target.
        SchoolPlan(county_a, f"{county_a}-dongcun-xx", name="东村小学", rural=True, scheduled_mbps=(55.0, 60.0, 65.0)),
        # The projector of c7-1 is dead in school hours.
        SchoolPlan(county_a, f"{county_a}-nanhe-zx", name="南河中学", scheduled_mbps=(140.0, 150.0, 160.0),
                   dead=(("c7-1/projector", ALWAYS),)),
        # Broadband was down 100-70 minutes ago; fast line (slow hand-run tests ignored, one of
        # them the speedtest engine's, flagged);
        # a session ran 60-20 minutes ago, the next starts in 10 minutes and the classroom's
        # endpoint has been off for 10 minutes.
        SchoolPlan(county_a, f"{county_a}-xishan-xx", name="西山小学", rural=True, scheduled_mbps=(180.0, 190.0, 200.0),
                   on_demand_mbps=(20.0,), engine_limited_mbps=(70.0,), broadband_down=Minutes(-100, -70),
                   sessions=(Session("s-eng-c7-1", Minutes(-60, -20)), Session("s-eng-c7-1b", Minutes(10, 55))),
                   endpoint_down=Minutes(-10)),
        # School hours ended an hour ago; then the projector of c7-1 died (switched off at night).
        SchoolPlan(county_b, f"{county_b}-beiling-xx", name="北岭小学", rural=True, scheduled_mbps=(100.0, 110.0, 120.0),
                   school_hours=Minutes(-math.inf, -60), dead=(("c7-1/projector", Minutes(-60)),),
                   sessions=(Session("s-math-c7-1", Minutes(-110, -80)),)),
        # The agent went offline 20 minutes ago (its last will arrived).
        SchoolPlan(county_b, f"{county_b}-hekou-zx", name="河口中学", rural=True, scheduled_mbps=(120.0, 130.0, 140.0),
                   sessions=(Session("s-art-c7-1", Minutes(-90, -60)),), offline_from=-20),
        # A session is on since 10 minutes ago over a poor path (the agent says not ready).
        SchoolPlan(county_b, f"{county_b}-shiqiao-xx", name="石桥小学", rural=True,
                   sessions=(Session("s-eng-c7-1", Minutes(-100, -70)), Session("s-sci-c7-1", Minutes(-10, 60))),
                   poor_path=Minutes(-10)),
    )


# -- delivering ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    topic: str
    payload: bytes
    received_ms: int


Deliver = Callable[[Sequence[Delivery]], None]


def direct_to_store(store_url: str, batch_points: int = 5000) -> Deliver:
    """Validates each message and writes its points as the collector does (to_points,
    influxdb-client SYNCHRONOUS, bucket "schoolnet"); a refused message fails the test."""
    from influxdb_client import InfluxDBClient
    from influxdb_client.client.write_api import SYNCHRONOUS

    def deliver(deliveries: Sequence[Delivery]) -> None:
        points = []
        for delivery in deliveries:
            message = contract.validate(delivery.topic, delivery.payload, delivery.received_ms)
            assert isinstance(message, contract.Message), f"the contract refuses a scenario message: {message}"
            points.extend(to_points(message, received_ms=delivery.received_ms))
        with InfluxDBClient(url=store_url, token="unused", org="schoolnet") as client:
            write_api = client.write_api(write_options=SYNCHRONOUS)
            for start in range(0, len(points), batch_points):
                write_api.write(bucket="schoolnet", record=points[start : start + batch_points])

    return deliver


def through_collector(publisher, metrics_port: int, timeout_s: float = 120) -> Deliver:
    """Publishes each message to the broker as the agents do (QoS 1), then waits until the
    collector has received, written and acked every one of them (its /metrics counters).
    `publisher` is tests.collector.running.Publisher; deliveries are serialised by a lock,
    because the live reporter and the test thread both deliver."""
    from schoolnet_stack.processes import scrape
    from schoolnet_stack.servers import wait_until

    lock = threading.Lock()

    def drained(expected: float) -> bool:
        counters = scrape(metrics_port)
        received = counters.get("schoolnet_collector_received_total", 0)
        return received >= expected and counters.get("schoolnet_collector_pending_messages", 1) == 0

    def deliver(deliveries: Sequence[Delivery]) -> None:
        with lock:
            expected = scrape(metrics_port).get("schoolnet_collector_received_total", 0) + len(deliveries)
            publisher.publish([(delivery.topic, delivery.payload) for delivery in deliveries])
            wait_until(lambda: drained(expected), timeout_s, what="the collector to store the scenario's messages")

    return deliver


# -- playing the agents ---------------------------------------------------------------------------


class Agents:
    """The six agents: history at once, then live reports at their intervals."""

    def __init__(self, plans: Sequence[SchoolPlan], deliver: Deliver, start_ms: int | None = None) -> None:
        self.plans = list(plans)
        self.deliver = deliver
        self.start_ms = int(time.time() * 1000) if start_ms is None else start_ms
        self.offline_from = {plan.school: plan.offline_from for plan in self.plans}
        self._next_due = {(plan.school, kind): 0.0 for plan in self.plans for kind in REPORTS}
        self._lock = threading.Lock()

    def ts_ms(self, minute: float) -> int:
        return self.start_ms + round(minute * 60_000)

    def minute_now(self) -> float:
        return (time.time() * 1000 - self.start_ms) / 60_000

    def backfill(self, history_min: float = HISTORY_MIN) -> int:
        """History before minute 0: births, speed tests, the periodic reports, wills."""
        deliveries = [self._status(plan, -history_min, online=True) for plan in self.plans]
        for plan in self.plans:
            deliveries += self._speed_tests(plan)
            deliveries += self._reports(plan, -history_min, 0.0)
            if plan.offline_from < 0:
                deliveries.append(self._status(plan, plan.offline_from, online=False))
            for span in plan.stopped:
                deliveries += [self._status(plan, span.start, online=False), self._status(plan, span.end, online=True)]
        self.deliver(deliveries)
        return len(deliveries)

    def report_live(self) -> int:
        """Every report that has fallen due since the last call (or since minute 0)."""
        with self._lock:
            minute = self.minute_now()
            deliveries = []
            for plan in self.plans:
                deliveries += self._reports(plan, 0.0, minute, live=True)
            self.deliver(deliveries)
            return len(deliveries)

    def go_offline(self, county: str) -> list[str]:
        """Every agent of the county loses its line now: the broker delivers their last wills."""
        with self._lock:
            minute = self.minute_now()
            gone = [p for p in self.plans if p.county == county and self.offline_from[p.school] > minute]
            for plan in gone:
                self.offline_from[plan.school] = minute
            self.deliver([self._status(plan, minute, online=False) for plan in gone])
            return [plan.school for plan in gone]

    def stop_agent(self, school: str) -> int:
        """The school's agent stops now (cleanly or killed: either way the broker has its
        offline status); it reports nothing until start_agent. The received time in ms."""
        with self._lock:
            plan = next(p for p in self.plans if p.school == school)
            minute = self.minute_now()
            self.offline_from[school] = minute
            self.deliver([self._status(plan, minute, online=False)])
            return self.ts_ms(minute)

    def change(self, school: str, **changes: object) -> None:
        """What the school's IT teacher changes in the agent's config from now on (e.g. a
        class's name): its reports say so from the next one."""
        with self._lock:
            self.plans = [dataclasses.replace(p, **changes) if p.school == school else p for p in self.plans]

    def start_agent(self, school: str) -> None:
        """The agent is back: its birth (online), then its reports from now on (a stopped
        agent measured nothing meanwhile)."""
        with self._lock:
            plan = next(p for p in self.plans if p.school == school)
            minute = self.minute_now()
            self.offline_from[school] = plan.offline_from
            for kind in REPORTS:
                self._next_due[(school, kind)] = max(self._next_due[(school, kind)], minute)
            self.deliver([self._status(plan, minute, online=True)])

    def _reports(self, plan: SchoolPlan, start: float, end: float, live: bool = False) -> list[Delivery]:
        deliveries = []
        stop = min(end, self.offline_from[plan.school], plan.hangs_from)
        for kind, (every, body) in REPORTS.items():
            first = max(start, self._next_due[(plan.school, kind)]) if live else start
            minute = first
            while minute < stop:
                if plan.running(minute):
                    deliveries.append(self._message(plan, kind, minute, body(plan, minute)))
                minute += every
            if live:
                self._next_due[(plan.school, kind)] = minute
        return deliveries

    def _speed_tests(self, plan: SchoolPlan) -> list[Delivery]:
        count = len(plan.scheduled_mbps)
        tests = [(-(count - i) * DAY_MIN + 3 * 60, mbps, "scheduled") for i, mbps in enumerate(plan.scheduled_mbps)]
        tests += [(-60.0, mbps, "on_demand") for mbps in plan.on_demand_mbps]
        flagged = [self._message(plan, "speedtest", -90.0, speedtest_body(mbps, "on_demand", engine_limited=True))
                   for mbps in plan.engine_limited_mbps]
        return [self._message(plan, "speedtest", minute, speedtest_body(mbps, trigger))
                for minute, mbps, trigger in tests] + flagged

    def _status(self, plan: SchoolPlan, minute: float, online: bool) -> Delivery:
        body = {"online": online, "agent_version": "0.1.0", **({"school_name": plan.name} if plan.name else {})}
        return self._message(plan, contract.STATUS, minute, body)

    def _message(self, plan: SchoolPlan, kind: str, minute: float, body: dict) -> Delivery:
        ts = self.ts_ms(minute)
        payload = contract.encode(kind, plan.county, plan.school, ts, body)
        return Delivery(contract.topic(plan.county, plan.school, kind), payload, received_ms=ts)


class LiveReporting:
    """Runs Agents.report_live every `every_s` seconds in a thread, as real agents would
    keep reporting while the test waits; an error in the thread fails stop()."""

    def __init__(self, agents: Agents, every_s: float = 1.0) -> None:
        self.agents = agents
        self.every_s = every_s
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scenario-agents", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        if self.error is not None:
            raise AssertionError(f"the scenario's agents failed: {self.error!r}") from self.error

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.agents.report_live()
            except BaseException as error:  # noqa: BLE001 - handed to the test in stop()
                self.error = error
                return
            self._stop.wait(self.every_s)

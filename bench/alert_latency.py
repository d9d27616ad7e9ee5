"""6. Alert latency: a school's agent dies; how long until county IT's webhook is told?

Real agents (`schoolnet-agent run`, one per county so that Alertmanager groups each
alone) publish to mosquitto; each is killed with SIGKILL, a few seconds apart. The kernel
closes its socket, mosquitto publishes its retained last will (online=false), and two
pipelines side by side take it from there, each its own collector (own shared group),
VictoriaMetrics, vmalert and Alertmanager with a webhook receiver:
  production  deploy/rules/*.yml as they are (AgentOffline has `for: 1m`);
  for: 0s     the same rules with every `for:` set to 0s: the pipeline's own latency.
Both run as deployed: VictoriaMetrics with the flags of deploy/central/debian/victoria-metrics
(-search.latencyOffset among them; the harness's -search.latencyOffset=0s and
-search.disableCache undone), vmalert with -evaluationInterval=1m (the groups that set
their own `interval:` run at it) and its remote write/read (deploy/README-alerts.md; flush
interval left at its default), Alertmanager with deploy/alertmanager/alertmanager.yml's
routes and timings (receivers replaced by the webhook, schoolnet_stack/deploy_files.py).

Each step is timed as it becomes visible: the will at an MQTT subscriber (the anchor: no
alert can be faster), the status in the store, the alert firing in vmalert, in
Alertmanager, and the notification at the webhook; beside them the recorded
schoolnet:school_agent_up:bool the boards show (AgentOffline does not wait for it).
"""

from __future__ import annotations

import json
import re
import shlex
import statistics
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import yaml

from bench.central import collector_config
from bench.plan import RunPlan, say
from bench.processes import REPO
from bench.report import Figure, Outcome, Target
from schoolnet_core import contract
from schoolnet_stack import deploy_files
from schoolnet_stack.processes import AgentProcess, CollectorProcess
from schoolnet_stack.school import LoopbackSchool
from schoolnet_stack.servers import (
    Alertmanager,
    Mosquitto,
    VictoriaMetrics,
    Vmalert,
    WebhookReceiver,
)

NAME = "alert_latency"
TITLE = "agent killed -> alert at the county's webhook / 离线告警时延"
ALERT = "AgentOffline"
TARGET = Target("<=", 90, text="<= 90 s")
EVALUATION_INTERVAL = "1m"  # deploy/README-alerts.md
STORE_FLAGS_FILE = REPO / "deploy" / "central" / "debian" / "victoria-metrics"
PRODUCTION, FOR_ZERO = "production", "for: 0s"
SCHOOLS_FULL = (("hx", "hx-bench-a"), ("ly", "ly-bench-b"), ("zz", "zz-bench-c"))
SCHOOLS_QUICK = SCHOOLS_FULL[:2]
KILL_SPACING_S = 20
STEADY_S_FULL, STEADY_S_QUICK = 65, 5
"""How long the agents report before the first kill: in the full run long enough for every
rule to have seen them up once, as in a county where they have run for months."""
LIMIT_AFTER_KILL_S = {FOR_ZERO: 300, PRODUCTION: 900}
POLL_S = 0.5
STAGES = ("will", "stored", "recorded", "vmalert", "alertmanager", "webhook")
STAGE_TEXT = {
    "will": "last will at a subscriber",
    "stored": "online=0 in the store",
    "recorded": "schoolnet:school_agent_up:bool = 0 recorded (boards)",
    "vmalert": "firing in vmalert",
    "alertmanager": "in Alertmanager",
    "webhook": "notification at the webhook",
}
_FOR_LINE = re.compile(r"^(?P<indent>[ \t]*)for:[ \t]*\S+[ \t]*$", re.MULTILINE)


def deployed_store_flags(text: str) -> list[str]:
    """VictoriaMetrics' flags from the ARGS line of /etc/default/victoria-metrics as we ship
    it, less where it keeps its data and listens (the harness chooses those)."""
    [args] = re.findall(r'^ARGS="(.*)"$', text, re.MULTILINE)
    return [flag for flag in shlex.split(args) if not flag.startswith(("-storageDataPath=", "-httpListenAddr="))]


def flag_value(flags: list[str], name: str) -> str | None:
    values = [flag.split("=", 1)[1] for flag in flags if flag.startswith(f"{name}=")]
    return values[-1] if values else None


def rule_settings(alert: str) -> tuple[str, str]:
    """(`for:`, group `interval:`) of the alert as shipped in deploy/rules."""
    for path in sorted(deploy_files.RULES_DIR.glob("*.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") == alert:
                    return rule.get("for", "0s"), group.get("interval", EVALUATION_INTERVAL)
    raise ValueError(f"no alert {alert} in {deploy_files.RULES_DIR}")


def route_group_wait(route: dict, alert: str, inherited: str = "30s") -> str | None:
    """The group_wait Alertmanager applies to `alert` on the first route naming it."""
    wait = route.get("group_wait", inherited)
    if f'alertname="{alert}"' in route.get("matchers", []):
        return wait
    found = (route_group_wait(child, alert, wait) for child in route.get("routes") or [])
    return next((value for value in found if value is not None), None)


def rules_without_for(text: str) -> str:
    """The rule file with every `for:` set to 0s (1ms would still wait one evaluation)."""
    return _FOR_LINE.sub(lambda m: f"{m['indent']}for: 0s", text)


@dataclass
class Timeline:
    """When each stage was first seen for one school in one pipeline (wall seconds)."""

    killed_at: float
    seen: dict[str, float] = field(default_factory=dict)

    def after_kill(self, stage: str) -> float | None:
        return None if stage not in self.seen else self.seen[stage] - self.killed_at

    @property
    def done(self) -> bool:
        return "webhook" in self.seen


def median_after_kill(timelines: list[Timeline], stage: str) -> float | None:
    values = [t.after_kill(stage) for t in timelines if t.after_kill(stage) is not None]
    return statistics.median(values) if values else None


# --- a pipeline ----------------------------------------------------------------------------------


class Pipeline:
    """collector -> VictoriaMetrics -> vmalert -> Alertmanager -> webhook, for one rule variant."""

    def __init__(self, variant: str, folder: Path, broker_port: int, servers: ExitStack) -> None:
        self.variant = variant
        shipped = deployed_store_flags(STORE_FLAGS_FILE.read_text(encoding="utf-8"))
        offset = flag_value(shipped, "-search.latencyOffset") or "30s"  # VictoriaMetrics' default
        self.store = servers.enter_context(VictoriaMetrics(folder / "vm", extra_args=[
            *shipped, f"-search.latencyOffset={offset}", "-search.disableCache=false"]))  # the harness's undone
        self.webhook = servers.enter_context(WebhookReceiver())
        deploy = deploy_files.load_alertmanager_config()
        config = deploy_files.alertmanager_for_test(deploy, self.webhook.url_for, seconds_per_minute=60)
        self.alertmanager = servers.enter_context(
            Alertmanager(yaml.safe_dump(config, allow_unicode=True), folder / "alertmanager"))
        self.vmalert = servers.enter_context(Vmalert(
            self._rule_files(folder / "rules"), self.store.url, self.alertmanager.url,
            evaluation_interval=EVALUATION_INTERVAL, workdir=folder / "vmalert",
            extra_args=["-remoteWrite.flushInterval=5s"]))  # the default, which the harness shortens
        group = "alert-" + ("production" if variant == PRODUCTION else "for0")
        self.collector = CollectorProcess(collector_config(folder, group, group, broker_port, self.store.url))
        servers.callback(self.collector.stop)
        self.collector.start()

    def _rule_files(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        copies = []
        for source in sorted(deploy_files.RULES_DIR.glob("*.yml")):
            text = source.read_text(encoding="utf-8")
            copy = folder / source.name
            copy.write_text(text if self.variant == PRODUCTION else rules_without_for(text), encoding="utf-8")
            copies.append(copy)
        return copies

    def value(self, promql: str) -> float | None:
        """An instant query's single value, as a dashboard would see it (no forced flush)."""
        try:
            result = self.store.query(promql, flush=False)
        except (OSError, RuntimeError, ValueError):
            return None
        return float(result[0]["value"][1]) if result else None

    def look(self, school: str, timeline: Timeline, will_at: float | None) -> None:
        """Notes every stage newly visible for `school`."""
        now = time.time()
        checks = {
            "will": lambda: will_at is not None,
            "stored": lambda: self.value(f'last_over_time(schoolnet_agent_online{{school="{school}"}}[5m])') == 0,
            "recorded": lambda: self.value(f'schoolnet:school_agent_up:bool{{school="{school}"}}') == 0,
            "vmalert": lambda: any(_is_ours(a["labels"], school) and a.get("state") == "firing"
                                   for a in self.vmalert.alerts()),
            "alertmanager": lambda: bool(self.alertmanager.alerts(
                filter=[f'alertname="{ALERT}"', f'school="{school}"'], active=True)),
            "webhook": lambda: any(_is_ours(a["labels"], school) and a["status"] == "firing"
                                   for n in list(self.webhook.received) for a in n.alerts),
        }  # fmt: skip
        for stage, check in checks.items():
            if stage not in timeline.seen and check():
                timeline.seen[stage] = will_at if stage == "will" else now


def _is_ours(labels: dict, school: str) -> bool:
    return labels.get("alertname") == ALERT and labels.get("school") == school


class WillWatch:
    """Subscribes to every school's status like county IT's tools: when did each will arrive?"""

    def __init__(self, port: int) -> None:
        self.offline_at: dict[str, float] = {}
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *args: c.subscribe(contract.topic("+", "+", contract.STATUS), qos=1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, client, userdata, message) -> None:
        try:
            online = json.loads(message.payload).get("online")
        except ValueError:
            return
        if online is False and not message.retain:
            with self._lock:
                self.offline_at.setdefault(message.topic.split("/")[3], time.time())

    def at(self, school: str) -> float | None:
        with self._lock:
            return self.offline_at.get(school)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# --- the benchmark ---------------------------------------------------------------------------------


def follow(plan: RunPlan, pipelines: dict[str, Pipeline], timelines: dict[str, dict[str, Timeline]],
           wills: WillWatch, until: float) -> None:
    """Looks at every pipeline twice a second until `until`, or until every alert arrived or
    is past its limit."""
    while time.time() < until:
        waiting = False
        for variant, pipeline in pipelines.items():
            for school, timeline in timelines[variant].items():
                if timeline.done or time.time() > timeline.killed_at + LIMIT_AFTER_KILL_S[variant]:
                    continue
                waiting = True
                pipeline.look(school, timeline, wills.at(school))
        if not waiting:
            return
        plan.pause(POLL_S)


def run(plan: RunPlan) -> Outcome:
    schools = SCHOOLS_QUICK if plan.quick else SCHOOLS_FULL
    variants = (FOR_ZERO,) if plan.quick else (FOR_ZERO, PRODUCTION)
    folder = plan.scratch(NAME)
    with ExitStack() as servers:
        broker = servers.enter_context(Mosquitto(folder / "broker"))
        peers = servers.enter_context(LoopbackSchool(folder))
        pipelines = {v: Pipeline(v, folder / ("production" if v == PRODUCTION else "for0"), broker.port, servers)
                     for v in variants}  # fmt: skip
        wills = WillWatch(broker.port)
        servers.callback(wills.close)
        agents = {}
        for county, school in schools:
            config_path = peers.write_config(peers.example_config(broker.port, county, school))
            agents[school] = AgentProcess(config_path, log_path=config_path.with_suffix(".log"))
            servers.callback(agents[school].kill)
        plan.wait_for(lambda: all(p.value(f'last_over_time(schoolnet_agent_online{{school="{s}"}}[5m])') == 1
                                  for p in pipelines.values() for s in agents),
                      60, what="every agent's birth (online=1) in every store")  # fmt: skip
        plan.pause(STEADY_S_QUICK if plan.quick else STEADY_S_FULL)
        timelines: dict[str, dict[str, Timeline]] = {v: {} for v in variants}
        for school, agent in agents.items():
            killed_at = time.time()
            agent.kill()
            say(f"alert_latency: killed the agent of {school} (SIGKILL)")
            for variant in variants:
                timelines[variant][school] = Timeline(killed_at)
            follow(plan, pipelines, timelines, wills, time.time() + KILL_SPACING_S)
        say("alert_latency: waiting for the alerts" + ("" if plan.quick else " (production `for:` too)"))
        follow(plan, pipelines, timelines, wills, time.time() + max(LIMIT_AFTER_KILL_S[v] for v in variants))
    return alert_outcome(timelines, plan.quick)


def alert_outcome(timelines: dict[str, dict[str, Timeline]], quick: bool) -> Outcome:
    figures = []
    for variant, by_school in timelines.items():
        lines = list(by_school.values())
        totals = [t.after_kill("webhook") for t in lines]
        arrived = [total for total in totals if total is not None]
        will = median_after_kill(lines, "will")
        label = f"kill -> webhook, {variant} rules"
        figures.append(Figure(f"{label}, median of {len(lines)}", statistics.median(arrived) if arrived else None,
                              "s", "kill -> last will", will, TARGET, like_for_like=False))
        figures.append(Figure(f"{label}, worst of {len(lines)}",
                              max(arrived) if len(arrived) == len(totals) else None, "s",
                              "kill -> last will", will, TARGET, like_for_like=False))
    return Outcome(NAME, TITLE, tuple(figures), alert_notes(timelines, quick),
                   {variant: {school: {"killed_at": t.killed_at, "seen": t.seen} for school, t in by_school.items()}
                    for variant, by_school in timelines.items()})  # fmt: skip


def alert_notes(timelines: dict[str, dict[str, Timeline]], quick: bool) -> tuple[str, ...]:
    notes = []
    for variant, by_school in timelines.items():
        lines = list(by_school.values())
        stages = ", ".join(f"{STAGE_TEXT[stage]} {_seconds(median_after_kill(lines, stage))}" for stage in STAGES)
        notes.append(f"{variant}: median seconds after the kill: {stages}.")
        each = "; ".join(f"{school} {_seconds(t.after_kill('webhook'))}" for school, t in by_school.items())
        notes.append(f"{variant}, each school (kill -> webhook): {each}.")
    offline_for, interval = rule_settings(ALERT)
    wait = route_group_wait(deploy_files.load_alertmanager_config()["route"], ALERT) or "its default"
    offset = flag_value(deployed_store_flags(STORE_FLAGS_FILE.read_text(encoding="utf-8")),
                        "-search.latencyOffset") or "30s"
    if PRODUCTION in timelines:
        zero = median_after_kill(list(timelines[FOR_ZERO].values()), "webhook")
        production = median_after_kill(list(timelines[PRODUCTION].values()), "webhook")
        if zero is not None and production is not None:
            notes.append(f"{ALERT}'s `for: {offline_for}` adds {production - zero:.0f} s (production median minus "
                         f"for: 0s median).")
    else:
        notes.append(f"Quick run: production rules not measured; they add {ALERT}'s `for: {offline_for}` "
                     "to the for: 0s figure, as the full run shows.")
    notes.append("What the pipeline is made of, in the order the stages show: the collector's batch (<= 1 s) "
                 f"and the store's flush; VictoriaMetrics showing a sample to queries once it is {offset} old "
                 f"(-search.latencyOffset, deploy/central/debian/victoria-metrics); {ALERT}'s group evaluating "
                 f"every {interval} on the reported series (the will and the collector's presence report), so "
                 f"waiting up to {interval} for its tick; its `for:`; and Alertmanager's group_wait ({wait} for "
                 f"{ALERT}). The recorded schoolnet:school_agent_up:bool (every {EVALUATION_INTERVAL}, then "
                 "vmalert's remote write, flushed every 5 s) is what the boards show; the alert does not wait "
                 "for it.")
    return tuple(notes)


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"

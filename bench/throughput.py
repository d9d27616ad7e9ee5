"""4. Collector throughput: points per second from mosquitto into VictoriaMetrics, with QoS 1
and the ack only after the store confirmed the write, beside the broker's raw rate.

How: before anything is published, every consumer's persistent session is made and
subscribed, then left: mosquitto_sub's own (the anchor), one collector's (shared group
"bench-one") and two collectors' (shared group "bench-pair"). Then N messages of the
simulated schools' realistic mix (bench/schools.py) are published with QoS 1, so each
session holds its copy in the broker's queue. Each consumer then drains its queue alone:
  anchor      mosquitto_sub -V mqttv5 -q 1 -C N, with the collector's Receive Maximum
              (-D connect receive-maximum 1000), timed from start to exit;
  collectors  `python -m collector.cli run`, timed from the first message received to
              the moment everything was written and acked (its /metrics, read every 0.1 s).
The figure is points/s (what the store takes); messages/s are in the notes.

Then one more drain runs under py-spy (installed into the venv for the benchmarks only; see
README.md) and the busiest functions go into the report.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bench import profile, schools
from bench.central import (
    PENDING,
    RECEIVED,
    WRITTEN,
    collector_config,
    publish_all,
    store_every_series,
)
from bench.plan import RunPlan, say
from bench.processes import timed_run
from bench.report import Figure, Outcome, Target
from bench.usage import Usage, UsageWatch
from schoolnet_core import contract
from schoolnet_stack.processes import CollectorProcess
from schoolnet_stack.servers import Mosquitto, VictoriaMetrics

NAME = "throughput"
TITLE = "collector points/s, QoS 1 with ack after write, vs the raw broker rate / 汇聚吞吐"

FULL_MESSAGES, QUICK_MESSAGES = 60_000, 20_000
SCHOOLS = 2000
RECEIVE_MAXIMUM = 1000  # the collector's batch.max_messages, also its MQTT Receive Maximum
RAW_CLIENT = "bench-raw"
BATCHES = "schoolnet_collector_batch_seconds_count"
POINTS_TARGET = Target(">=", 20_000, text=">= 20,000 points/s")
RAW_TARGET = Target(">=", 0.5, "ratio", ">= 0.5x raw broker rate")
STEADY_TARGETS = {  # issue 15: a collector per core, on a quiet machine
    1: Target(">=", 100_000, text=">= 100,000 points/s (issue 15)"),
    2: Target(">=", 150_000, text=">= 150,000 points/s (issue 15)"),
}
PROVINCE_BACKLOG_POINTS = 150_000_000
"""A province's hour-long central outage (issue 15): the backlog when the collectors return."""
POLL_S = 0.1
DRAIN_LIMIT_S = 300


@dataclass(frozen=True)
class Drain:
    """One consumer emptying its queue: how long, and what its processes used meanwhile."""

    consumer: str
    seconds: float
    messages: int
    points: int
    usage: dict
    writes: int = 0
    """Store writes it took (collectors only): points / writes is the batch size in practice."""
    steady_points_per_s: float | None = None
    """Collectors only: see steady_rate()."""

    @property
    def points_per_s(self) -> float:
        return self.points / self.seconds if self.seconds > 0 else 0.0

    @property
    def messages_per_s(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0


def traffic(count: int, now_ms: int) -> Iterator[tuple[str, bytes, int]]:
    """(topic, payload, points) of `count` messages: SCHOOLS schools' minutes, one after
    another, newest last, each message with its own timestamp."""
    templates = [schools.school_templates(number) for number in range(SCHOOLS)]
    minutes = -(-count // sum(len(schools.minute_kinds(schools.shape_of(n))) for n in range(SCHOOLS)))
    produced = 0
    for minute in range(minutes):
        for number, school in enumerate(templates):
            for slot, kind in enumerate(schools.minute_kinds(schools.shape_of(number))):
                if produced == count:
                    return
                ts = now_ms - (minutes - minute) * 60_000 + slot * 10_000 + number % 1000
                produced += 1
                yield school[kind].topic, school[kind].payload(ts), school[kind].points


def steady_rate(written: list[tuple[float, int]], total: int) -> float | None:
    """Points/s from the first store write seen to the last write before the final one.

    Why: a drain of 60,000 messages takes a few seconds, and two parts of it do not grow
    with the backlog: filling the first batch before anything is written, and the last,
    partial batch, which waits batch.max_wait_s (1 s) for messages that never come. A
    province's backlog drains at the rate in between. `written` holds (time, points
    written so far) as polled."""
    seen = [(at, points) for at, points in written if points > 0]
    below = [points for _at, points in seen if points < total]
    if not seen or not below:
        return None
    start_at, start_points = seen[0]
    end_points = max(below)
    end_at = next(at for at, points in seen if points == end_points)
    if end_at <= start_at or end_points <= start_points:
        return None
    return (end_points - start_points) / (end_at - start_at)


def throughput_figures(raw: Drain, one: Drain, pair: Drain) -> list[Figure]:
    figures = []
    for drain, label, count in ((one, "1 collector", 1), (pair, "2 collectors, one shared group", 2)):
        figures.append(Figure(f"{label}: points/s into VictoriaMetrics, first message to last ack",
                              drain.points_per_s, "points/s",
                              "mosquitto_sub -q 1 (same stream)", raw.points_per_s, POINTS_TARGET))
        figures.append(Figure(f"{label}: steady drain rate (first write to last full batch)",
                              drain.steady_points_per_s, "points/s",
                              "mosquitto_sub -q 1 (same stream)", raw.points_per_s, STEADY_TARGETS[count]))
        figures.append(Figure(f"{label}: share of the raw broker rate", drain.points_per_s, "points/s",
                              "mosquitto_sub -q 1 (same stream)", raw.points_per_s, RAW_TARGET))
        minutes = PROVINCE_BACKLOG_POINTS / drain.steady_points_per_s / 60 if drain.steady_points_per_s else None
        figures.append(Figure(f"{label}: drain of a 150-million-point backlog at the steady rate",
                              minutes, "min"))
    return figures


# --- measuring ----------------------------------------------------------------------------------


class Backlog:
    """A backlog at the broker and the consumers that drain it: their sessions, the
    messages queued for them, and each drain timed."""

    def __init__(self, plan: RunPlan, broker: Mosquitto, store: VictoriaMetrics) -> None:
        self.plan, self.broker, self.store = plan, broker, store
        folder = plan.scratch(NAME)
        self.one = [CollectorProcess(collector_config(folder, "bench-one", "bench-one", broker.port, store.url))]
        self.pair = [CollectorProcess(collector_config(folder, f"bench-pair-{side}", "bench-pair", broker.port,
                                                       store.url)) for side in "ab"]  # fmt: skip

    def make_sessions(self) -> None:
        """Every consumer subscribes once and leaves: from now on the broker queues for it."""
        done = timed_run(self._raw_argv(["-E"]), timeout_s=30)
        if done.returncode != 0:
            raise RuntimeError(f"mosquitto_sub could not subscribe: {done.stderr[-500:]}")
        for collector in self.one + self.pair:
            collector.start()
            collector.stop()

    def _raw_argv(self, extra: list[str]) -> list[str]:
        return ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.broker.port), "-V", "mqttv5", "-c",
                "-x", "86400", "-i", RAW_CLIENT, "-q", "1", "-t", schools_subscription(),
                "-D", "connect", "receive-maximum", str(RECEIVE_MAXIMUM), *extra]  # fmt: skip

    def warm_store(self) -> None:
        """Every school's series into the store before the drain: see store_every_series."""
        store_every_series(self.store, SCHOOLS)

    def fill(self, count: int) -> int:
        """Publishes `count` messages; returns the points they make."""
        points = [0]

        def messages() -> Iterator[tuple[str, bytes]]:
            for topic, payload, message_points in traffic(count, int(time.time() * 1000)):
                points[0] += message_points
                yield topic, payload

        publish_all(self.broker.port, messages())
        return points[0]

    def drain_raw(self, count: int, points: int) -> Drain:
        watch = UsageWatch({"broker": self.broker.process.pid}, every_s=0.5).start()
        done = timed_run(self._raw_argv(["-C", str(count)]), timeout_s=600)
        usage = watch.stop()
        if done.returncode != 0:
            raise RuntimeError(f"mosquitto_sub failed ({done.returncode}): {done.stderr[-500:]}")
        return Drain("mosquitto_sub", done.wall_s, count, points, _cpu(usage))

    def drain_collectors(self, collectors: list[CollectorProcess], count: int, points: int,
                         name: str, during=None) -> Drain:
        """Starts the collectors and times them from the first message in to the last ack."""
        for collector in collectors:
            collector.start(wait=False)  # timed from the first message in, not from subscribing
        try:
            pids = {f"collector {c.config_path.stem}": c.pid for c in collectors}
            watch = UsageWatch({**pids, "broker": self.broker.process.pid,
                                "victoria-metrics": self.store.process.pid}, every_s=0.5).start()  # fmt: skip
            if during:
                during(collectors)
            written: list[tuple[float, int]] = []
            first, last = self._timed_drain(collectors, count, points, written)
            usage = watch.stop()
            writes = sum(c.metrics().get(BATCHES, 0) for c in collectors)
        finally:
            for collector in collectors:
                collector.stop()
        return Drain(name, last - first, count, points, _cpu(usage), int(writes), steady_rate(written, points))

    def _timed_drain(self, collectors: list[CollectorProcess], count: int, points: int,
                     written_log: list[tuple[float, int]]) -> tuple[float, float]:
        first = None
        deadline = time.monotonic() + DRAIN_LIMIT_S
        while time.monotonic() < deadline:
            readings = [collector.metrics() for collector in collectors]
            now = time.monotonic()
            received = sum(reading.get(RECEIVED, 0) for reading in readings)
            if first is None and received > 0:
                first = now - POLL_S / 2  # it began somewhere in the last poll interval
            written = sum(reading.get(WRITTEN, 0) for reading in readings)
            written_log.append((now, int(written)))
            # The pending gauge is only updated between batches, so it can read 0 while a
            # batch is still being built: the points written say when the drain is over.
            if received >= count and written >= points and all(r.get(PENDING, 1) == 0 for r in readings):
                return first, now
            self.plan.pause(POLL_S)
        logs = "\n".join(collector.log_tail() for collector in collectors)
        raise TimeoutError(f"the collectors did not drain {count} messages within {DRAIN_LIMIT_S} s:\n{logs}")


def receive_maximum_kept(port: int, receive_maximum: int = 10, queued: int = 100) -> tuple[int, int]:
    """(delivered before any ack, delivered after acking only those) to a resumed session
    announcing Receive Maximum `receive_maximum` with `queued` messages waiting. A broker that
    keeps to it answers (10, 20): the collector counts on that to bound its memory."""
    topic = "bench/receive-maximum"
    got: list[int] = []

    def connect() -> mqtt.Client:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-receive-maximum",
                             protocol=mqtt.MQTTv5, manual_ack=True)  # fmt: skip
        client.on_message = lambda _client, _userdata, message: got.append(message.mid)
        client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval, properties.ReceiveMaximum = 600, receive_maximum
        client.connect("127.0.0.1", port, clean_start=False, properties=properties)
        client.loop_start()
        return client

    def leave(client: mqtt.Client) -> None:
        client.disconnect()
        client.loop_stop()

    leave(_subscribed(connect))
    publish_all(port, ((topic, b"x") for _ in range(queued)))
    got.clear()
    client = connect()
    time.sleep(2)
    first = list(got)
    for mid in first:
        client.ack(mid, 1)
    time.sleep(2)
    leave(client)
    return len(first), len(got)


def _subscribed(connect) -> mqtt.Client:
    client = connect()
    time.sleep(1)
    return client


def schools_subscription() -> str:
    return contract.SUBSCRIPTION


def _cpu(usage: dict[str, Usage | None]) -> dict[str, str]:
    """CPU in % of one core and peak RSS per process (what the report shows): the
    collector's RSS shows whether its batches and inbox stay bounded under a backlog."""
    return {name: f"{u.cpu_pct:.1f} % CPU, {u.rss_peak_mb:.0f} MB peak"
            for name, u in usage.items() if u is not None}


def run(plan: RunPlan) -> Outcome:
    count = QUICK_MESSAGES if plan.quick else FULL_MESSAGES
    with Mosquitto(plan.scratch("throughput-broker")) as broker, \
            VictoriaMetrics(plan.scratch("throughput-store")) as store:
        backlog = Backlog(plan, broker, store)
        backlog.make_sessions()
        say("throughput: every school's series into the store first")
        backlog.warm_store()
        say(f"throughput: publishing {count:,} messages into every session's queue")
        points = backlog.fill(count)
        say("throughput: draining with mosquitto_sub (anchor)")
        raw = backlog.drain_raw(count, points)
        say("throughput: draining with 1 collector")
        one = backlog.drain_collectors(backlog.one, count, points, "1 collector")
        say("throughput: draining with 2 collectors in one group")
        pair = backlog.drain_collectors(backlog.pair, count, points, "2 collectors")
        figures = throughput_figures(raw, one, pair)
        kept = receive_maximum_kept(broker.port)
        say("throughput: one more drain with py-spy attached, for where the time goes")
        profiled = profile_drain(plan, backlog, min(count, 50_000))
    notes = throughput_notes(count, points, raw, one, pair, profiled, kept)
    return Outcome(NAME, TITLE, tuple(figures), notes,
                   {"raw": vars(raw), "one": vars(one), "pair": vars(pair), "receive_maximum_10": kept})


def profile_drain(plan: RunPlan, backlog: Backlog, count: int) -> profile.ProfileSummary | str:
    """The single collector drains `count` more messages with py-spy attached from its start."""
    if profile.py_spy() is None:
        return "py-spy is not installed (.venv/bin/pip install py-spy), so no profile was taken"
    points = backlog.fill(count)
    recording: list[profile.Recording] = []

    def attach(collectors: list[CollectorProcess]) -> None:
        recording.append(profile.Recording(collectors[0].pid, plan.scratch(NAME) / "collector.pyspy.txt"))

    try:
        backlog.drain_collectors(backlog.one, count, points, "1 collector under py-spy", during=attach)
    finally:
        summary = recording[0].stop() if recording else "py-spy did not start"
    return summary


def throughput_notes(count: int, points: int, raw: Drain, one: Drain, pair: Drain,
                     profiled: profile.ProfileSummary | str | None, kept: tuple[int, int]) -> tuple[str, ...]:
    notes = [
        (f"{count:,} QoS 1 messages ({points:,} points, {points / count:.1f} per message) of "
         f"{SCHOOLS:,} simulated schools' realistic minute (broadband x2, classrooms, sync, health), "
         "queued in each consumer's persistent session before it connects; mosquitto as the harness "
         "runs it (persistence on, autosave every second), VictoriaMetrics single node; batch settings "
         "of collector/example-config.yaml (5000 points, 1000 messages, 1 s)."),
        ("Two rates per collector run: first message in to last ack (what a drain this short takes), "
         "and the steady rate from the first store write to the last full batch, which leaves out "
         "filling the first batch and the last, partial one waiting max_wait_s (1 s) for more: the "
         "rate a backlog of millions drains at (steady_rate(); /metrics polled every 0.1 s)."),
    ]
    for drain in (raw, one, pair):
        writes = f", {drain.writes} store writes ({drain.points / drain.writes:,.0f} points each)" if drain.writes else ""
        steady = f" (steady: {drain.steady_points_per_s:,.0f} points/s)" if drain.steady_points_per_s else ""
        notes.append(f"{drain.consumer}: {drain.seconds:.2f} s, {drain.messages_per_s:,.0f} messages/s, "
                     f"{drain.points_per_s:,.0f} points/s{steady}{writes}; CPU (% of one core) and RSS: {drain.usage}.")
    notes.append(f"Receive Maximum: a resumed session announcing 10, with 100 messages queued, got {kept[0]} "
                 f"before acking and {kept[1]} after acking only those (a broker keeping to it: 10, then 20).")
    if isinstance(profiled, profile.ProfileSummary):
        notes += profiled.lines()
    elif profiled:
        notes.append(profiled)
    return tuple(notes)

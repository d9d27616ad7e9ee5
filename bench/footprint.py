"""3. Footprint: the agent's memory and CPU on a school gateway, over a realistic schedule.

The real daemon (`python -m agent.cli run`) runs the example config's schedule against
loopback peers (schoolnet_stack/school.py, bench/gateway.py: 4 uplink targets every 30 s, 56 classroom devices every
60 s, the sync path probe, health) for 10 minutes (2 with --quick), and one scheduled
iperf3 speed test (the example's backend, 4 streams, 10 s each way) against an iperf3
server behind a 100 Mbit/s netns link, as the county's would be. psutil samples the agent
every second: RSS, and CPU from the kernel's totals (its iperf3 children included once
they end). The floor beside it: a bare `python -c "import paho.mqtt.client"` process's RSS,
what any Python MQTT client costs before doing anything.
"""

from __future__ import annotations

import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt

from bench.gateway import speed_section
from bench.plan import RunPlan, say
from bench.processes import Programs
from bench.report import Figure, Outcome, Target
from bench.usage import Sample, UsageWatch, rss_mb, usage_of
from schoolnet_core import contract
from schoolnet_stack.netns import Link
from schoolnet_stack.processes import AgentProcess
from schoolnet_stack.school import TIMEZONE, LoopbackSchool
from schoolnet_stack.servers import Mosquitto

NAME = "footprint"
TITLE = "agent memory and CPU over the example schedule / 代理资源占用"
FULL_S, QUICK_S = 600, 120
COUNTY, SCHOOL = "hx", "hx-bench-zx"
SPEED_TEST_LEAD_S = 15
SPEED_TEST_SPAN_S = 2 * 10 + 15  # both directions of 10 s, handshakes and start-up
IPERF3_PORT = 5201
RSS_TARGET = Target("<=", 40, text="<= 40 MB")
CPU_TARGET = Target("<=", 1.0, text="<= 1% of a core")


def first_test_minute(now: datetime, lead_s: float = SPEED_TEST_LEAD_S) -> datetime:
    """The first whole minute at least lead_s ahead, in the timetable's zone: when the one
    speed test is scheduled (times are minutes of the school's own clock)."""
    moment = (now + timedelta(seconds=lead_s + 59.999)).astimezone(ZoneInfo(TIMEZONE))
    return moment.replace(second=0, microsecond=0)


def cpu_pct_between(samples: list[Sample], start_s: float, end_s: float, inside: bool) -> float | None:
    """Average CPU (% of one core) inside [start_s, end_s) (monotonic seconds), or outside it."""
    chosen = [(a, b) for a, b in zip(samples, samples[1:]) if (start_s <= a.at_s < end_s) == inside]
    seconds = sum(b.at_s - a.at_s for a, b in chosen)
    return 100 * sum(b.cpu_s - a.cpu_s for a, b in chosen) / seconds if seconds > 0 else None


class MessageCounter:
    """Counts what the agent publishes, by kind, as the county's broker sees it."""

    def __init__(self, port: int) -> None:
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()
        subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = self._count
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.on_connect = lambda c, *args: c.subscribe(contract.topic(COUNTY, SCHOOL, "+"), qos=1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not subscribed.wait(10):
            raise RuntimeError("the message counter could not subscribe")

    def _count(self, client, userdata, message) -> None:
        kind = message.topic.rsplit("/", 1)[-1]
        with self._lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1

    def close(self) -> dict[str, int]:
        self.client.disconnect()
        self.client.loop_stop()
        with self._lock:
            return dict(self.counts)


def bare_paho_rss_mb(programs: Programs) -> float:
    served = programs.serve(
        [sys.executable, "-c", "import paho.mqtt.client, time; print('ready', flush=True); time.sleep(600)"],
        "ready")  # fmt: skip
    time.sleep(0.5)
    rss = rss_mb(served.process.pid)
    served.process.kill()
    return rss


def run(plan: RunPlan) -> Outcome:
    try:
        return measure(plan, QUICK_S if plan.quick else FULL_S)
    finally:
        plan.links_quiet.set()  # whatever happened, the others need not wait for us


def measure(plan: RunPlan, duration: float) -> Outcome:
    folder = plan.scratch(NAME)
    with Mosquitto(plan.scratch("footprint-broker")) as broker, LoopbackSchool(folder) as peers, \
            Link(rate_mbit=100, a_in_root=True) as link, Programs() as programs:
        programs.serve(link.argv_in("b", ["iperf3", "-s", "-B", link.b_ip, "-p", str(IPERF3_PORT), "--forceflush"]),
                       "Server listening")
        floor = bare_paho_rss_mb(programs)
        test_at = first_test_minute(datetime.now(timezone.utc))
        speed = speed_section(f"{link.b_ip}:{IPERF3_PORT}", test_at, link.dev["a"])
        config_path = peers.write_config(peers.example_config(broker.port, COUNTY, SCHOOL, speed))
        counter = MessageCounter(broker.port)
        say(f"footprint: the agent runs {duration} s; its speed test at {test_at:%H:%M} {TIMEZONE}")
        agent = AgentProcess(config_path, log_path=config_path.with_suffix(".log"))
        monotonic_at_test = time.monotonic() + (test_at.timestamp() - time.time())
        quiet = threading.Timer(max(0.0, monotonic_at_test + SPEED_TEST_SPAN_S - time.monotonic()),
                                plan.links_quiet.set)
        quiet.start()
        try:
            samples = watch_agent(plan, agent.pid, duration)
        finally:
            quiet.cancel()
            agent.stop()
        published = counter.close()
    return footprint_outcome(samples, floor, published, (monotonic_at_test, monotonic_at_test + SPEED_TEST_SPAN_S),
                             duration, agent.log)


def watch_agent(plan: RunPlan, pid: int, duration: float) -> list[Sample]:
    watch = UsageWatch({"agent": pid}, every_s=1.0).start()
    try:
        plan.pause(duration)
    finally:
        watch.stop()
    return watch.samples["agent"]


def footprint_outcome(samples: list[Sample], floor_mb: float, published: dict[str, int],
                      test_window: tuple[float, float], duration: float, log: str) -> Outcome:
    usage = usage_of(samples)
    if usage is None:
        raise RuntimeError(f"the agent was not running long enough to measure; its log:\n{log[-2000:]}")
    outside = cpu_pct_between(samples, *test_window, inside=False)
    during = cpu_pct_between(samples, *test_window, inside=True)
    figures = (
        Figure("agent RSS, peak", usage.rss_peak_mb, "MB", "bare python + paho import", floor_mb, RSS_TARGET),
        Figure("agent RSS, mean", usage.rss_mean_mb, "MB", "bare python + paho import", floor_mb),
        Figure(f"agent CPU, average over {duration / 60:g} min", usage.cpu_pct, "% of a core", target=CPU_TARGET),
        Figure("agent CPU outside the speed test", outside, "% of a core"),
        Figure("agent CPU during the speed test (iperf3 children included)", during, "% of a core"),
    )
    tested = published.get("speedtest", 0)
    notes = (
        (f"{usage.samples} samples over {usage.seconds:.0f} s; CPU {usage.cpu_s:.1f} s in all. Published by kind "
         f"(as the broker delivered them): {published}."),
        ("The one speed test " + ("ran and was published." if tested else "did NOT run: see the agent's log.")
         + f" Its window for the during/outside figures: the scheduled minute + {SPEED_TEST_SPAN_S} s."),
        "The schedule is the example config's; the school has 24 classes (56 devices) as a rural middle school.",
        (f"Agent log lines: {len(log.splitlines())}, of which errors: "
         f"{sum(' ERROR ' in line for line in log.splitlines())}."),
    )
    return Outcome(NAME, TITLE, figures, notes, {"published": published, "floor_mb": floor_mb})

"""The agent itself: `schoolnet-agent run -c FILE`, until SIGTERM or SIGINT.

One asyncio loop measures, each probe on its own timer, and hands every result to the
publisher, which spools it and sends it when it can. The first round of every probe runs
at start, so a restarted agent reports at once:

    broadband    every broadband.interval_s
    classrooms   every sweep.interval_s, in_hours from the timetable (reported out of
                 hours too: the alert rules ignore those)
    sync         every SYNC_EVERY_S, a moment after the sweep (SYNC_DELAY_S) so the
                 sweep's burst of checks does not disturb its echo timing
    health       every health.interval_s, with the spool's figures
    speedtest    at schedule.next_run (never two at once), and on county IT's command

One probe failing never stops the others: its round is logged and nothing is published
for it. Logs are one line per event, on stderr; under systemd (JOURNAL_STREAM set) without
timestamps and with the syslog priority prefix journald reads. No secret is ever logged.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Awaitable, Iterator
from datetime import datetime, timezone
from functools import partial
from typing import Callable

from agent import __version__
from agent.commands import CommandDoor, Refusal
from agent.config import AgentConfig
from agent.probes.broadband import broadband_body
from agent.probes.devices import classrooms_body
from agent.probes.health import health_body
from agent.probes.speed_test import SpeedTestResult, speedtest_body
from agent.publish import Publisher, Spool, broker_settings
from agent.rounds import (
    broadband_round,
    classrooms_round,
    health_round,
    icmp_problem,
    speed_test_round,
    sync_round,
)
from agent.schedule import AlreadyRunning, SpeedTestGuard, next_run
from agent.wiring import (
    ProbeSetup,
    Secrets,
    probe_setup,
    session_window,
    sync_bandwidth,
    sync_report,
)
from schoolnet_core.config import ConfigError, ConfigProblem
from schoolnet_core.kinds import MeasurementKind

log = logging.getLogger("agent.daemon")

SYNC_EVERY_S = 60
SYNC_DELAY_S = 1.0
"""The first sync round waits for the sweep's timeout plus this."""
COMMAND_QUEUE = 100
CLOCK_RECHECK_S = 60
"""Waiting for a speed test, the wall clock is read again at least this often, so a clock
set at boot (NTP) or by hand moves the test with it."""
_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


def main(config: AgentConfig, secrets: Secrets) -> int:
    """Runs the agent until SIGTERM or SIGINT; 0 after a clean stop. ConfigError when it
    cannot start (a broker TLS file or the spool cannot be used)."""
    configure_logging()
    return asyncio.run(_until_signalled(config, secrets))


async def _until_signalled(config: AgentConfig, secrets: Secrets) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _stop_on, signum, stop)
    await run_agent(config, secrets, stop)
    log.info("已停止 / stopped")
    return 0


def _stop_on(signum: int, stop: asyncio.Event) -> None:
    log.info("收到 %s，正在停止 / %s received, stopping", signal.Signals(signum).name, signal.Signals(signum).name)
    stop.set()


async def run_agent(config: AgentConfig, secrets: Secrets, stop: asyncio.Event,
                    schedule_clock: Callable[[], datetime] | None = None) -> None:
    """Measures and publishes until `stop` is set; then stops the publisher, which says
    offline. `schedule_clock` is the wall clock the speed-test schedule reads."""
    setup = probe_setup(config, secrets)
    school = config.school
    log.info("schoolnet-agent %s 启动 / starting: %s [%s], county %s, broker %s, config %s",
             __version__, school.name, school.id, school.county, config.broker.url, config.source)
    may_ping = check_ping_permission(setup)
    inbox = CommandInbox(asyncio.get_running_loop())
    spool = _open_spool(config)
    try:
        publisher = _publisher(config, secrets, spool, inbox.post)
        agent = Agent(config, setup, publisher, inbox, may_ping=may_ping,
                      schedule_clock=schedule_clock or _utc_now)
        publisher.start()
        try:
            await agent.run(stop)
        finally:
            await asyncio.to_thread(publisher.stop)
    finally:
        spool.close()


def check_ping_permission(setup: ProbeSetup) -> bool:
    """Whether the agent may ping, asked once at start; when it may not, the log says
    how to allow it, and the rounds report the icmp checks down (see agent.rounds)."""
    if not setup.pings:
        return True
    problem = icmp_problem()
    if problem:
        log.error("无法发送 ICMP (ping)，icmp 检查将报告为不可达 / ICMP NOT PERMITTED: every icmp "
                  "check is reported down until this is fixed: %s", problem)
    return problem is None


def _open_spool(config: AgentConfig) -> Spool:
    try:
        return Spool(config.spool.path, config.spool.max_messages)
    except (OSError, sqlite3.Error) as error:
        raise _start_error(config, "spool.path", f"cannot open the spool {config.spool.path}: {error}; "
                                                 "check the folder exists and the agent may write it"
                           ) from None


def _publisher(config: AgentConfig, secrets: Secrets, spool: Spool,
               on_command: Callable[[bytes], None]) -> Publisher:
    password = secrets[config.broker.password].reveal()
    try:
        return Publisher(broker_settings(config.broker, password), config.school.county,
                         config.school.id, spool, on_command=on_command,
                         school_name=config.school.name)
    except ValueError as error:
        raise _start_error(config, "broker", str(error)) from None


def _start_error(config: AgentConfig, key: str, message: str) -> ConfigError:
    return ConfigError([ConfigProblem(config.source, 0, key, message)])


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class CommandInbox:
    """Carries command payloads from paho's network thread into the agent's loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(COMMAND_QUEUE)

    def post(self, payload: bytes) -> None:
        """Called in paho's thread."""
        self._loop.call_soon_threadsafe(self._put, payload)

    def _put(self, payload: bytes) -> None:
        if self._queue.full():
            log.warning("拒绝远程命令 / refused a command: flooded (%d waiting)", self._queue.qsize())
            return
        self._queue.put_nowait(payload)

    async def get(self) -> bytes:
        return await self._queue.get()


class Agent:
    """The probes' timers, the speed tests and the commands of one school."""

    def __init__(self, config: AgentConfig, setup: ProbeSetup, publisher: Publisher,
                 inbox: CommandInbox, *, may_ping: bool = True,
                 schedule_clock: Callable[[], datetime] = _utc_now) -> None:
        self._config, self._setup, self._publisher, self._inbox = config, setup, publisher, inbox
        self._may_ping = may_ping
        self._schedule_clock = schedule_clock
        self._guard = SpeedTestGuard()
        self._door = CommandDoor(setup.command_key, config.commands.min_gap_s)
        self._tests: set[asyncio.Task] = set()
        self._latest_speed_test: tuple[SpeedTestResult | None, datetime | None] = (None, None)
        """The last successful test and when: a sync classroom's bandwidth evidence."""

    async def run(self, stop: asyncio.Event) -> None:
        loops = [asyncio.ensure_future(loop) for loop in self._loops()]
        for task in loops:
            task.add_done_callback(log_if_ended)
        try:
            await stop.wait()
        finally:
            for task in (*loops, *self._tests):
                task.cancel()
            await asyncio.gather(*loops, *self._tests, return_exceptions=True)

    def _loops(self) -> Iterator[Awaitable[None]]:
        config = self._config
        yield every(config.broadband.interval_s, "broadband", self.broadband)
        yield every(config.sweep.interval_s, "classrooms", self.classrooms)
        if self._setup.sync is not None:
            yield every(SYNC_EVERY_S, "sync", self.sync, first_after_s=config.sweep.timeout_s + SYNC_DELAY_S)
        yield every(config.health.interval_s, "health", self.health)
        for kind, settings in config.kinds:
            yield every(kind.interval_s(settings), kind.name, partial(self.extra_kind, kind, settings))
        if self._setup.speed_test is None:
            log.warning("未配置测速服务器，不测速 / speed_test.server is not set: no speed tests")
        elif self._setup.speed_plan is not None:
            yield self._scheduled_speed_tests()
        yield self._serve_commands()

    # --- one round of each probe ----------------------------------------------------------

    async def broadband(self) -> None:
        ts_ms = _ms(_utc_now())
        result = await broadband_round(self._setup, self._may_ping)
        await self._publish("broadband", broadband_body(result), ts_ms)

    async def classrooms(self) -> None:
        now = _utc_now()
        in_hours = self._config.timetable.in_school_hours(now)
        result = await classrooms_round(self._setup, in_hours, self._may_ping)
        await self._publish("classrooms", classrooms_body(result), _ms(now))

    async def sync(self) -> None:
        now, timetable, sync = _utc_now(), self._config.timetable, self._config.sync_classroom
        window = session_window(sync.sessions, now, timetable.timezone, timetable.is_school_day)
        result = await sync_round(self._setup.sync, self._may_ping)
        bandwidth = None
        if sync.bandwidth_check:
            bandwidth = sync_bandwidth(*self._latest_speed_test, now, sync.thresholds.bandwidth_mbps)
        await self._publish("sync", sync_report(result, self._config.school.rural, window, bandwidth), _ms(now))

    async def health(self) -> None:
        ts_ms = _ms(_utc_now())
        result = await health_round(self._config.spool.path, self._publisher.stats().spool)
        await self._publish("health", health_body(result), ts_ms)

    async def extra_kind(self, kind: MeasurementKind, settings: object) -> None:
        """One round of a kind named under `kinds:` (schoolnet_core.kinds)."""
        ts_ms = _ms(_utc_now())
        await self._publish(kind.name, await kind.measure(settings), ts_ms)

    async def speed_test(self, trigger: str) -> None:
        ts_ms = _ms(_utc_now())
        settings = self._setup.speed_test
        outcome = await self._guard.run(trigger, lambda: speed_test_round(settings))
        if isinstance(outcome, AlreadyRunning):
            log.warning("跳过%s测速 / skipped a %s speed test: %s", trigger, trigger, outcome)
            return
        log.info("测速完成 / %s speed test done: %s", trigger, _speed_summary(outcome))
        if outcome.ok:
            self._latest_speed_test = (outcome, datetime.fromtimestamp(ts_ms / 1000, timezone.utc))
        body = speedtest_body(outcome, trigger, self._config.speed_test.target_mbps)
        await self._publish("speedtest", body, ts_ms)

    async def _publish(self, kind: str, body: dict, ts_ms: int) -> None:
        """In a thread: the spool writes to disk before it returns (synchronous=FULL)."""
        await asyncio.to_thread(self._publisher.submit, kind, body, ts_ms)

    # --- speed tests ------------------------------------------------------------------------

    async def _scheduled_speed_tests(self) -> None:
        school = self._config.school
        while True:
            when = next_run(self._setup.speed_plan, school.county, school.id, after=self._schedule_clock())
            log.info("下次定时测速 / next scheduled speed test at %s UTC", f"{when:%Y-%m-%d %H:%M:%S}")
            await self._sleep_until(when)
            await one_round("speedtest", lambda: self.speed_test("scheduled"))

    async def _sleep_until(self, when: datetime) -> None:
        while True:
            remaining = (when - self._schedule_clock()).total_seconds()
            if remaining <= 0:
                return
            await asyncio.sleep(min(remaining, CLOCK_RECHECK_S))

    async def _serve_commands(self) -> None:
        while True:
            payload = await self._inbox.get()
            try:
                self._on_command(payload)
            except Exception as error:  # a bad command must not end the inbox
                log.error("命令处理出错 / command handling failed: %s: %s", type(error).__name__, error)
                log.debug("command handling traceback", exc_info=True)

    def _on_command(self, payload: bytes) -> None:
        command = self._door.admit(payload, _ms(_utc_now()))
        if isinstance(command, Refusal):
            log.warning("拒绝远程命令 / refused a command: %s", command)
            return
        refusal = self._cannot_test_now() or self._door.take_test_slot(time.monotonic())
        if refusal is not None:
            log.warning("拒绝远程命令 / refused command %s: %s", command.request_id, refusal)
            return
        log.info("按需测速 / on-demand speed test for request %s", command.request_id)
        task = asyncio.ensure_future(one_round("speedtest", lambda: self.speed_test("on_demand")))
        self._tests.add(task)
        task.add_done_callback(self._tests.discard)

    def _cannot_test_now(self) -> Refusal | None:
        if self._setup.speed_test is None:
            return Refusal("not_configured", "speed_test.server is not set in this school's config")
        running = self._guard.running
        return Refusal("busy", str(running)) if running else None


def log_if_ended(task: asyncio.Future) -> None:
    """A timer ends only when the agent stops; any other end is a bug worth a line."""
    if not task.cancelled() and task.exception() is not None:
        error = task.exception()
        log.error("定时任务意外结束 / a timer ended unexpectedly: %s: %s", type(error).__name__, error)


def _speed_summary(result: SpeedTestResult) -> str:
    if not result.ok:
        return f"failed ({result.error}): {result.detail}"
    return f"download {result.download_mbps} Mbps, upload {result.upload_mbps} Mbps"


# --- timers ---------------------------------------------------------------------------------


async def every(interval_s: float, name: str, round_: Callable[[], Awaitable[None]],
                first_after_s: float = 0.0) -> None:
    """Runs `round_` now (or after first_after_s) and then every interval_s, measured from
    one start to the next; a round that overruns delays the next, never doubles it."""
    loop = asyncio.get_running_loop()
    due = loop.time() + first_after_s
    while True:
        await asyncio.sleep(max(0.0, due - loop.time()))
        await one_round(name, round_)
        due = max(due + interval_s, loop.time())


async def one_round(name: str, round_: Callable[[], Awaitable[None]]) -> bool:
    """One round; an exception is logged (one line; the traceback at DEBUG) and the
    agent goes on: a probe's bug must not stop the others. False when it failed."""
    try:
        await round_()
    except Exception as error:
        log.error("%s 本轮失败，未发布 / %s round failed, nothing published: %s: %s",
                  name, name, type(error).__name__, error)
        log.debug("%s round traceback", name, exc_info=True)
        return False
    return True


# --- logs --------------------------------------------------------------------------------------


class OneLineFormatter(logging.Formatter):
    """One event, one line (a traceback's lines joined by " | "), so journald and grep
    keep it together. Under journald, the syslog priority prefix and no timestamp."""

    def __init__(self, journal: bool) -> None:
        shown = "%(levelname)s %(name)s: %(message)s"
        super().__init__(shown if journal else "%(asctime)s " + shown)
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record).replace("\r", "").replace("\n", " | ")
        if self.journal:
            return f"<{_PRIORITY.get(record.levelno, 6)}>{text}"
        return text


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLineFormatter(journal=bool(os.environ.get("JOURNAL_STREAM"))))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


"""The daemon's plumbing: a failing round is logged and the timer goes on; commands cross
from paho's thread into the loop; log lines are one per event, journald-ready."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading

from agent import daemon
from agent.daemon import (
    COMMAND_QUEUE,
    CommandInbox,
    OneLineFormatter,
    configure_logging,
    every,
    log_if_ended,
    one_round,
)
from agent.probes import Endpoint
from agent.probes.broadband import Target
from agent.wiring import ProbeSetup


def test_a_failing_round_is_logged_on_one_line_and_reported(caplog):
    async def broken() -> None:
        raise KeyError("classroom c7-1")

    assert asyncio.run(one_round("classrooms", broken)) is False

    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == [
        "classrooms 本轮失败，未发布 / classrooms round failed, nothing published: KeyError: 'classroom c7-1'"]


def test_the_timer_goes_on_after_a_round_fails():
    calls: list[int] = []

    async def sometimes_broken() -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            raise RuntimeError("first round breaks")

    async def scenario() -> None:
        timer = asyncio.ensure_future(every(0.01, "broadband", sometimes_broken))
        while len(calls) < 3:
            await asyncio.sleep(0.01)
        timer.cancel()
        await asyncio.gather(timer, return_exceptions=True)

    asyncio.run(asyncio.wait_for(scenario(), timeout=10))

    assert calls[:3] == [0, 1, 2]


def test_a_cancelled_round_is_not_swallowed():
    async def scenario() -> str:
        started = asyncio.Event()

        async def slow() -> None:
            started.set()
            await asyncio.sleep(60)

        task = asyncio.ensure_future(one_round("speedtest", slow))
        await started.wait()
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return "cancelled"
        return "swallowed"

    assert asyncio.run(scenario()) == "cancelled"


def test_commands_posted_from_another_thread_arrive_in_order():
    async def scenario() -> list[bytes]:
        inbox = CommandInbox(asyncio.get_running_loop())
        sender = threading.Thread(target=lambda: [inbox.post(b"one"), inbox.post(b"two")])
        sender.start()
        received = [await inbox.get(), await inbox.get()]
        sender.join()
        return received

    assert asyncio.run(scenario()) == [b"one", b"two"]


def test_a_flood_of_commands_is_cut_at_the_queue_and_said(caplog):
    async def scenario() -> int:
        inbox = CommandInbox(asyncio.get_running_loop())
        for n in range(COMMAND_QUEUE + 5):
            inbox.post(str(n).encode())
        await asyncio.sleep(0)  # the posts run as loop callbacks
        return inbox._queue.qsize()

    assert asyncio.run(scenario()) == COMMAND_QUEUE
    assert sum("flooded" in r.getMessage() for r in caplog.records) == 5


def _record(message: str, level: int = logging.ERROR, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("agent.daemon", level, __file__, 1, message, (), exc_info)


def test_log_lines_are_one_per_event_even_with_a_traceback():
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        record = _record("round failed", exc_info=sys.exc_info())

    text = OneLineFormatter(journal=False).format(record)

    assert "\n" not in text
    assert "ERROR agent.daemon: round failed | Traceback (most recent call last):" in text
    assert text.endswith("ValueError: bad | value")


def test_under_journald_lines_carry_the_syslog_priority_and_no_timestamp():
    formatter = OneLineFormatter(journal=True)

    assert formatter.format(_record("光纤断了 / uplink down")) == "<3>ERROR agent.daemon: 光纤断了 / uplink down"
    assert formatter.format(_record("started", logging.INFO)) == "<6>INFO agent.daemon: started"
    assert formatter.format(_record("slow", logging.WARNING)) == "<4>WARNING agent.daemon: slow"


def test_journald_is_recognised_by_journal_stream(monkeypatch):
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        monkeypatch.setenv("JOURNAL_STREAM", "8:12345")
        configure_logging()
        assert root.handlers[0].formatter.journal is True
        monkeypatch.delenv("JOURNAL_STREAM")
        configure_logging()
        assert root.handlers[0].formatter.journal is False
        assert root.level == logging.INFO
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def test_a_timer_that_ends_by_itself_is_logged_and_one_cancelled_at_stop_is_not(caplog):
    async def scenario() -> None:
        async def broken_timer() -> None:
            raise ValueError("no test time in the next week")

        ended = asyncio.ensure_future(broken_timer())
        cancelled = asyncio.ensure_future(asyncio.sleep(60))
        for task in (ended, cancelled):
            task.add_done_callback(log_if_ended)
        cancelled.cancel()
        await asyncio.gather(ended, cancelled, return_exceptions=True)

    asyncio.run(scenario())

    assert [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR] == [
        "定时任务意外结束 / a timer ended unexpectedly: ValueError: no test time in the next week"]


def test_without_permission_to_ping_the_agent_says_so_once_at_start(monkeypatch, caplog):
    pings = ProbeSetup(targets=(Target("网关", Endpoint("icmp", host="192.0.2.1")),), broadband_timeout_s=1,
                       classrooms=(), sweep_timeout_s=1, sync=None, speed_test=None, speed_plan=None)
    monkeypatch.setattr(daemon, "icmp_problem", lambda: "cannot open an ICMP socket (raw: Operation not permitted)")

    assert daemon.check_ping_permission(pings) is False
    assert daemon.check_ping_permission(ProbeSetup((), 1, (), 1, None, None, None)) is True

    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("无法发送 ICMP (ping)，icmp 检查将报告为不可达 / ICMP NOT PERMITTED")
    assert line.endswith("cannot open an ICMP socket (raw: Operation not permitted)")

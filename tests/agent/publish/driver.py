"""A stand-in agent process for tests that kill it: submits numbered broadband results.

    python -m tests.agent.publish.driver --port P --spool FILE --school S --first 0 --count 100

Prints "connected" (if it connects within --connect-wait-s), "spooled <n>" after each
message is durably in the spool, "submitted" when all are; then waits for SIGTERM or for
stdin to close and stops cleanly ("stopped"). Message n's payload is
numbered_payload(school, n). driven_agent() runs it from a test, as a
schoolnet_stack.processes.AgentProcess.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

from agent.publish import BrokerSettings, Publisher, Spool
from schoolnet_core import contract
from schoolnet_stack.county_broker import AGENT_PASSWORD, AGENT_USER, COUNTY
from schoolnet_stack.processes import AgentProcess

FIRST_TS_MS = 1_795_570_200_000  # message n is measured at FIRST_TS_MS + n


def numbered_body(n: int) -> dict:
    rtt_ms = round(1 + n % 97 * 0.1, 1)  # varies, so a mixed-up payload would show
    target = {"target": "县教育城域网", "method": "icmp", "up": True, "rtt_ms": rtt_ms, "loss_pct": 0.0}
    return {"up": True, "targets_up": 1, "targets": [target]}


def numbered_payload(school: str, n: int) -> bytes:
    return contract.encode("broadband", COUNTY, school, FIRST_TS_MS + n, numbered_body(n))


def number_of(payload: bytes) -> int:
    return json.loads(payload)["ts"] - FIRST_TS_MS


def driven_agent(port: int, spool: Path, school: str, *options: str) -> AgentProcess:
    """This script as a separate agent process, so a test can kill or freeze it."""
    argv = [sys.executable, "-m", "tests.agent.publish.driver", "--port", str(port), "--spool", str(spool),
            "--school", school, *options]
    return AgentProcess(argv=argv, hold_stdin=True)


def said_spooled(agent: AgentProcess) -> int:
    """The last message it said was durably in its spool (-1: none yet)."""
    numbers = [int(line.split()[1]) for line in list(agent.lines) if line.startswith("spooled ")]
    return max(numbers, default=-1)


class Stopped(Exception):
    """SIGTERM arrived: stop the way an agent does."""


def _stop_on_sigterm(signum, frame) -> None:
    raise Stopped


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--spool", required=True)
    parser.add_argument("--school", required=True)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--interval-s", type=float, default=0.0)
    parser.add_argument("--keepalive-s", type=int, default=60)
    parser.add_argument("--connect-wait-s", type=float, default=0.0)
    args = parser.parse_args()
    broker = BrokerSettings(host="127.0.0.1", port=args.port, tls=False, allow_plaintext=True,
                            username=AGENT_USER, password=AGENT_PASSWORD,
                            keepalive_s=args.keepalive_s)
    publisher = Publisher(broker, COUNTY, args.school, Spool(args.spool), reconnect_max_s=1)
    publisher.start()
    if args.connect_wait_s and publisher.wait_until_connected(args.connect_wait_s):
        say("connected")
    for n in range(args.first, args.first + args.count):
        publisher.submit("broadband", numbered_body(n), FIRST_TS_MS + n)
        say(f"spooled {n}")
        time.sleep(args.interval_s)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    say("submitted")
    try:
        sys.stdin.read()
    except Stopped:
        pass
    publisher.stop()
    say("stopped")
    return 0


def say(line: str) -> None:
    print(line, flush=True)


if __name__ == "__main__":
    sys.exit(main())

"""One school's agent for the chaos test: the real Publisher and Spool, submitting numbered
broadband results until SIGTERM, then draining its spool before it stops.

    python -m tests.chaos.school --host H --port P --spool FILE --school S --interval-s 0.5

Unlike tests/agent/publish/driver.py it takes the broker's address (the school behind a
cut-able link reaches the broker on the link's address, not on 127.0.0.1) and stops on
SIGTERM the way the agent's systemd unit is stopped. It prints "spooled <n>" once message
n is durably in the spool, and finally "drained <depth>" (0 when everything was
acknowledged by the broker) and "stopped".
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time

from agent.publish import BrokerSettings, Publisher, Spool
from schoolnet_stack.county_broker import AGENT_PASSWORD, AGENT_USER, COUNTY
from tests.agent.publish.driver import FIRST_TS_MS, numbered_body

DRAIN_LIMIT_S = 120.0


def main() -> int:
    args = parse_args()
    broker = BrokerSettings(
        host=args.host,
        port=args.port,
        tls=False,
        allow_plaintext=True,
        username=AGENT_USER,
        password=AGENT_PASSWORD,
        keepalive_s=10,
    )
    spool = Spool(args.spool)
    publisher = Publisher(broker, COUNTY, args.school, spool, reconnect_max_s=1)
    terminated = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: terminated.set())
    publisher.start()
    n = 0
    while not terminated.is_set():
        publisher.submit("broadband", numbered_body(n), FIRST_TS_MS + n)
        say(f"spooled {n}")
        n += 1
        terminated.wait(args.interval_s)
    say(f"drained {drain(spool)}")
    publisher.stop()
    say("stopped")
    return 0


def drain(spool: Spool) -> int:
    """Waits until the broker has acknowledged every spooled result; returns what is left."""
    deadline = time.monotonic() + DRAIN_LIMIT_S
    while spool.stats().depth and time.monotonic() < deadline:
        time.sleep(0.1)
    return spool.stats().depth


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--spool", required=True)
    parser.add_argument("--school", required=True)
    parser.add_argument("--interval-s", type=float, default=0.5)
    return parser.parse_args()


def say(line: str) -> None:
    print(line, flush=True)


if __name__ == "__main__":
    sys.exit(main())

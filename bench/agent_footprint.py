"""The agent's memory and CPU on a gateway: `schoolnet-agent run` for a while, sampled.

The issue asks what the agent costs a school's gateway over a 10-minute run on the example
schedule. This runs the real command (a process of its own) with the example config's
intervals - broadband every 30 s, the classroom sweep, the sync classroom and health every
60 s, a 50-echo sync burst - against real peers and a real mosquitto on loopback
(schoolnet_stack/school.py, schoolnet_stack/processes.py), and samples the process with psutil every second:

    sudo .venv/bin/python bench/agent_footprint.py --duration 600
    sudo .venv/bin/python bench/agent_footprint.py --duration 180 --speed-test-at 90

CPU % is of one core (100 = one core busy), averaged over the run from the process's own
CPU time; RSS is the resident memory. --speed-test-at N commands an on-demand speed test N
s in (the http backend, 10 s each way on loopback - far heavier than a real line), to see
what a test adds. Root is needed (the school's icmp checks and a DNS peer on port 53).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import sys
import tempfile
import time
from pathlib import Path

import paho.mqtt.publish as mqtt_publish
import psutil
from paho.mqtt.client import MQTTv5

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from schoolnet_core import contract
from schoolnet_stack.county_broker import CountyBroker, Listener
from schoolnet_stack.processes import AgentProcess
from schoolnet_stack.school import (
    COMMAND_KEY,
    COMMAND_KEY_ENV,
    COUNTY,
    SCHOOL,
    LoopbackSchool,
)
from schoolnet_stack.servers import Mosquitto

MIB = 1024 * 1024


def example_schedule(school: LoopbackSchool, broker_port: int) -> dict:
    """The loopback school with the example config's intervals and probe sizes."""
    config = school.config(broker_port=broker_port)
    config["broadband"].update(interval_s=30, timeout_s=2)
    config["sweep"] = {"interval_s": 60, "timeout_s": 2}
    config["health"] = {"interval_s": 60}
    config["sync_classroom"]["probe"].update(count=50, interval_ms=20)
    config["speed_test"].update(duration_s=10, streams=4)
    return config


def speed_test_command() -> bytes:
    ts = int(time.time() * 1000)
    token = hmac.new(COMMAND_KEY.encode(), f"bench|{ts}".encode(), hashlib.sha256).hexdigest()
    return json.dumps({"schema": 1, "command": "speedtest", "request_id": "bench", "ts": ts,
                       "token": token}).encode()


def sample(agent: psutil.Process, duration_s: float, command_at_s: float | None, broker_port: int) -> dict:
    started = time.monotonic()
    cpu_start = sum(agent.cpu_times()[:2])
    rss = []
    commanded = False
    while time.monotonic() - started < duration_s:
        rss.append(agent.memory_info().rss)
        if command_at_s is not None and not commanded and time.monotonic() - started >= command_at_s:
            mqtt_publish.single(contract.topic(COUNTY, SCHOOL, contract.COMMAND), speed_test_command(),
                                qos=1, hostname="127.0.0.1", port=broker_port, protocol=MQTTv5)
            commanded = True
        time.sleep(1.0)
    elapsed = time.monotonic() - started
    cpu_s = sum(agent.cpu_times()[:2]) - cpu_start
    return {
        "seconds": round(elapsed, 1),
        "rss_first_mib": round(rss[0] / MIB, 1),
        "rss_max_mib": round(max(rss) / MIB, 1),
        "rss_last_mib": round(rss[-1] / MIB, 1),
        "cpu_seconds": round(cpu_s, 2),
        "cpu_avg_pct_of_one_core": round(100 * cpu_s / elapsed, 2),
        "threads_last": agent.num_threads(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=180.0, help="seconds to sample (default 180)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds after start before sampling")
    parser.add_argument("--speed-test-at", type=float, help="command one speed test this many seconds in")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="schoolnet-footprint-") as folder:
        directory = Path(folder)
        broker = Mosquitto(workdir=directory / "mosquitto").start()
        school = LoopbackSchool(directory)
        county = Listener(CountyBroker(broker, broker.port), "schoolnet/v1/#", client_id="bench-county")
        try:
            config = school.write_config(example_schedule(school, broker.port))
            agent = AgentProcess(config, env={COMMAND_KEY_ENV: COMMAND_KEY})
            time.sleep(args.warmup)
            figures = sample(psutil.Process(agent.pid), args.duration, args.speed_test_at, broker.port)
            figures["exit_code"] = agent.stop()
            kinds = [message.topic.rsplit("/", 1)[-1] for message in county.wait_for(lambda ms: True)]
            figures["messages"] = {kind: kinds.count(kind) for kind in sorted(set(kinds))}
        finally:
            county.close()
            school.close()
            broker.stop()
    figures.update(duration_arg=args.duration, speed_test_at=args.speed_test_at, python=sys.version.split()[0])
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

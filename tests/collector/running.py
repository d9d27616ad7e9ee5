"""Running real collectors in tests, and talking to them the way schools and county IT do.

A collector runs either in this process (threads: quick, and its counters are at hand)
or as a subprocess of `python -m collector.cli run` (for SIGKILL and SIGTERM). Either
way it is the real service with a real config file, against the harness's servers.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from pathlib import Path

import paho.mqtt.client as mqtt

from agent import contract
from collector.config import load_config
from collector.metrics import Metrics, MetricsServer
from collector.service import Collector
from schoolnet_stack.servers import free_port, wait_until
from tests.contract.examples import contract_examples

ROOT = Path(__file__).resolve().parents[2]
COUNTY = "hx"


# -- config --------------------------------------------------------------------------


def write_config(folder: Path, broker_port: int, store_url: str, client_id: str, **sections) -> Path:
    """A collector config for the test servers; `sections` override or add keys per section."""
    config = {
        "broker": {"url": f"mqtt://127.0.0.1:{broker_port}", "allow_plaintext": True,
                   "client_id": client_id, "group": "test-collectors", "keepalive_s": 10},
        "store": {"url": store_url, "retry_max_s": 1, "timeout_s": 5},
        "batch": {"max_wait_s": 0.2},
        "deadletter": {"path": str(folder / f"{client_id}-deadletter.jsonl")},
        "http": {"listen": f"127.0.0.1:{free_port()}"},
    }  # fmt: skip
    for section, values in sections.items():
        config.setdefault(section, {}).update(values)
    path = folder / f"{client_id}.yaml"
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")  # JSON is YAML
    return path


def http_port(config_path: Path) -> int:
    return load_config(config_path).http.port


# -- collectors -------------------------------------------------------------------------


class InProcessCollector:
    """The service and its /metrics server on threads of this process."""

    def __init__(self, config_path: Path, metrics: Metrics | None = None):
        self.config = load_config(config_path)
        self.metrics = metrics or Metrics()
        self.server = MetricsServer(self.metrics, self.config.http.host, self.config.http.port)
        self.collector = Collector(self.config, self.metrics)
        self.port = self.server.port

    def __enter__(self):
        self.server.start()
        self.collector.start()
        wait_until(lambda: healthz(self.port) == (200, "ok\n"), 30, what="the collector to subscribe")
        return self

    def __exit__(self, *exc_info) -> None:
        self.collector.stop()
        assert self.collector.wait(timeout=30), "collector did not stop within 30 s"
        self.server.stop()


class CollectorProcess:
    """`python -m collector.cli run -c FILE` as a subprocess, its log in a file."""

    def __init__(self, config_path: Path, log_path: Path):
        self.config_path, self.log_path = config_path, log_path
        self.port = http_port(config_path)
        self.process: subprocess.Popen | None = None

    def start(self) -> CollectorProcess:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "collector.cli", "run", "-c", str(self.config_path)],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        ready = (200, "ok\n")
        wait_until(lambda: self.exited() is not None or healthz(self.port) == ready, 30, what="the collector")
        assert self.exited() is None, self.log()
        return self

    def exited(self) -> int | None:
        return self.process.poll()

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self, timeout_s: float = 30) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout_s)

    def log(self) -> str:
        return self.log_path.read_text("utf-8", "replace") if self.log_path.exists() else ""

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()


def scrape(port: int) -> dict[str, float]:
    """The collector's /metrics as {name{labels}: value}; {} when it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            text = reply.read().decode()
    except OSError:
        return {}
    pairs = (line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {name: float(value) for name, value in pairs}


def healthz(port: int) -> tuple[int, str] | None:
    """(status, reason) from /healthz; None when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return None


# -- schools ----------------------------------------------------------------------------


def school_id(number: int) -> str:
    return f"hx-school-{number:02d}"


def health_message(school: str, ts_ms: int, cpu_pct: float = 7.5) -> tuple[str, bytes]:
    """A valid health message: one point, series schoolnet_health_* of this school."""
    body = {key: value for key, value in contract_examples()["health"].items() if key not in contract.ENVELOPE}
    body["cpu_pct"] = cpu_pct
    return contract.topic(COUNTY, school, "health"), contract.encode("health", COUNTY, school, ts_ms, body)


def traffic(schools: int, per_school: int, start_ms: int) -> list[tuple[str, bytes]]:
    """per_school health messages from each school, 1 ms apart, schools interleaved."""
    return [
        health_message(school_id(n), start_ms + i, cpu_pct=float(i % 100))
        for i in range(per_school)
        for n in range(schools)
    ]


class Publisher:
    """A plain MQTT v5 client standing in for schools (or for county IT's subscriber)."""

    def __init__(self, port: int, client_id: str = ""):
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self.client.max_inflight_messages_set(100)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(self, messages, qos: int = 1, per_second: float | None = None) -> None:
        """Publishes and waits for every PUBACK; `per_second` spreads them out in time."""
        infos = []
        started = time.monotonic()
        for index, (topic, payload) in enumerate(messages):
            if per_second:
                time.sleep(max(0.0, started + index / per_second - time.monotonic()))
            infos.append(self.client.publish(topic, payload, qos=qos))
        for info in infos:
            info.wait_for_publish(timeout=30)
            assert info.is_published(), f"broker did not acknowledge {info.mid}"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class DeadLetterWatcher:
    """Subscribes to the dead-letter topics like county IT's tools would."""

    def __init__(self, port: int):
        self.envelopes: list[tuple[str, dict]] = []
        self._lock = threading.Lock()
        subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.on_connect = lambda client, *args: client.subscribe(contract.DEADLETTER_ROOT + "/#", qos=1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert subscribed.wait(10), "dead-letter subscription not acknowledged"

    def _on_message(self, client, userdata, message) -> None:
        with self._lock:
            self.envelopes.append((message.topic, json.loads(message.payload)))

    def received(self) -> list[tuple[str, dict]]:
        with self._lock:
            return list(self.envelopes)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# -- the store ---------------------------------------------------------------------------


def samples_by_series(victoria_metrics, match: str) -> dict[tuple, dict[int, set[float]]]:
    """series labels -> timestamp -> the set of values stored at it (more than one value at
    one timestamp would be a corrupt duplicate; the same value twice is a harmless replay)."""
    series: dict[tuple, dict[int, set[float]]] = defaultdict(lambda: defaultdict(set))
    for row in victoria_metrics.export(match):
        labels = tuple(sorted(row["metric"].items()))
        for ts, value in zip(row["timestamps"], row["values"]):
            series[labels][ts].add(value)
    return series


def distinct_timestamps(victoria_metrics, match: str) -> int:
    return sum(len(by_ts) for by_ts in samples_by_series(victoria_metrics, match).values())

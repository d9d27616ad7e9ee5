"""Talking to real collectors the way schools and county IT do, and reading what they stored.

The collectors themselves (in this process or as `python -m collector.cli run`) and their
configs come from schoolnet_stack.processes, as for the demo and the benchmarks.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from pathlib import Path

import paho.mqtt.client as mqtt

from schoolnet_core import contract
from tests.contract.examples import contract_examples

ROOT = Path(__file__).resolve().parents[2]
COUNTY = "hx"


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

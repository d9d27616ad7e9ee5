"""A school gateway with a wrong clock, through a real broker, collector and store.

What the contract says (CONTRACT.md, envelope `ts`; schoolnet_core.contract.MAX_CLOCK_AHEAD_MS and
MAX_AGE_MS): a message measured more than 10 minutes ahead of the collector's clock is
refused as ts_future, its detail saying the agent's clock looks wrong, and dead-lettered
(topic, JSONL file, counter); status messages too, so a school whose clock is fast shows
no presence. Up to 10 minutes ahead is accepted and stored at the agent's time. A clock
behind is accepted and stored at the agent's own timestamp, up to 31 days back (status:
any age, stamped with the collector's receive time).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from agent.publish import BrokerSettings, Publisher, Spool
from schoolnet_core import contract
from schoolnet_stack.processes import InProcessCollector, scrape, write_collector_config
from schoolnet_stack.servers import wait_until
from tests.collector.running import COUNTY, DeadLetterWatcher
from tests.collector.running import Publisher as PlainClient
from tests.contract.examples import contract_examples

pytestmark = pytest.mark.servers

HOUR_MS = 3600 * 1000
FAST, SLOW, SLIGHTLY_FAST = "hx-fast-01", "hx-slow-01", "hx-fast-02"


def health_body(cpu_pct: float) -> dict:
    body = {key: value for key, value in contract_examples()["health"].items() if key not in contract.ENVELOPE}
    return {**body, "cpu_pct": cpu_pct}


def agent(port: int, school: str, spool_dir: Path) -> Publisher:
    settings = BrokerSettings(host="127.0.0.1", port=port, tls=False, allow_plaintext=True)
    publisher = Publisher(settings, COUNTY, school, Spool(spool_dir / f"{school}.db"), reconnect_max_s=1)
    publisher.start()
    assert publisher.wait_until_connected(15), publisher.stats().last_error
    return publisher


def stored(victoria_metrics, school: str) -> list[tuple[int, float]]:
    rows = victoria_metrics.export(f'schoolnet_health_cpu_pct{{school="{school}"}}')
    return sorted((ts, value) for row in rows for ts, value in zip(row["timestamps"], row["values"]))


def test_an_agent_clock_an_hour_ahead_is_dead_lettered_and_one_behind_is_stored_at_its_time(
    mosquitto, victoria_metrics, tmp_path
):
    config = write_collector_config(tmp_path, mosquitto.port, victoria_metrics.url, "skew-collector")
    deadletter_file = tmp_path / "skew-collector-deadletter.jsonl"
    watcher = DeadLetterWatcher(mosquitto.port)
    agents: list[Publisher] = []
    try:
        with InProcessCollector(config) as collector:
            agents += [agent(mosquitto.port, school, tmp_path) for school in (FAST, SLOW, SLIGHTLY_FAST)]
            now_ms = int(time.time() * 1000)
            agents[0].submit("health", health_body(11.0), now_ms + HOUR_MS)
            agents[1].submit("health", health_body(22.0), now_ms - HOUR_MS)
            agents[2].submit("health", health_body(33.0), now_ms + 9 * 60 * 1000)
            fast_status = contract.encode(contract.STATUS, COUNTY, FAST, now_ms + HOUR_MS,
                                          {"online": True, "agent_version": "0.1.0"})  # fmt: skip
            plain = PlainClient(mosquitto.port)
            plain.publish([(contract.topic(COUNTY, FAST, contract.STATUS), fast_status)])
            plain.close()

            refused = wait_until(lambda: _refused(watcher, FAST, 2), 15, what="the fast agent's 2 messages refused")
            wait_until(lambda: stored(victoria_metrics, SLOW) and stored(victoria_metrics, SLIGHTLY_FAST), 15,
                       what="the slow and the slightly fast agent's results stored")  # fmt: skip
            counted = scrape(collector.port)
    finally:
        for publisher in agents:
            publisher.stop(wait_s=1)
        watcher.close()

    for topic, envelope in refused:
        assert topic == contract.deadletter_topic("ts_future")
        assert envelope["reason"] == "ts_future"
        said = re.fullmatch(r"ts is (\d+) s ahead of the collector's clock \(agent clock wrong\?\)", envelope["detail"])
        assert said and 3590 <= int(said[1]) <= 3600, envelope["detail"]  # an hour, less the time in transit
    assert sorted(json.loads(envelope["payload"])["kind"] for _, envelope in refused) == ["health", "status"]
    assert counted['schoolnet_collector_deadlettered_total{reason="ts_future"}'] == 2
    kept = [json.loads(line) for line in deadletter_file.read_text("utf-8").splitlines()]
    assert sorted(record["payload"] for record in kept) == sorted(e["payload"] for _, e in refused)
    assert stored(victoria_metrics, FAST) == [], "nothing of the fast agent reached the store"
    assert stored(victoria_metrics, SLOW) == [(now_ms - HOUR_MS, 22.0)], "stored at the agent's own time"
    assert stored(victoria_metrics, SLIGHTLY_FAST) == [(now_ms + 9 * 60 * 1000, 33.0)]


def _refused(watcher: DeadLetterWatcher, school: str, count: int) -> list[tuple[str, dict]] | None:
    prefix = contract.topic(COUNTY, school, "")
    mine = [(topic, envelope) for topic, envelope in watcher.received() if envelope["topic"].startswith(prefix)]
    return mine if len(mine) >= count else None

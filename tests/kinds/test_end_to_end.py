"""The toy kind of tests/kinds/room_temperature through the real pipe: agent.yaml names it
-> the agent's probe -> its spool -> mosquitto -> the collector (whose config names it too)
-> VictoriaMetrics, with no file outside its folder naming it."""

from __future__ import annotations

import json

import pytest

from schoolnet_stack.processes import (
    AgentProcess,
    CollectorProcess,
    write_collector_config,
)
from schoolnet_stack.school import (
    COUNTY,
    SCHOOL,
)
from tests.kinds.conftest import KIND_MODULE

pytestmark = pytest.mark.servers


def collector_naming_the_kind(folder, broker_port: int, store_url: str):
    path = write_collector_config(folder, broker_port, store_url, "c-kinds")
    config = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**config, "kinds": [KIND_MODULE]}), encoding="utf-8")
    return path


def test_a_kind_from_its_folder_reaches_victoria_metrics(tmp_path, school, mosquitto, victoria_metrics):
    sensor = tmp_path / "thermal_zone0_temp"
    sensor.write_text("24500\n")
    collector = CollectorProcess(collector_naming_the_kind(tmp_path, mosquitto.port, victoria_metrics.url))
    collector.start()
    agent_yaml = school.write_config(school.config(
        broker_port=mosquitto.port, kinds=[KIND_MODULE],
        room_temperature={"sensor_file": str(sensor), "interval_s": 5, "max_celsius": 30}))
    agent = AgentProcess(agent_yaml)
    try:
        series = f'schoolnet_room_temperature_celsius{{county="{COUNTY}",school="{SCHOOL}"}}'

        def latest() -> float | None:
            found = victoria_metrics.query(series)
            return float(found[0]["value"][1]) if found else None

        assert victoria_metrics.wait_for(lambda: latest() == 24.5, timeout=60)
        sensor.write_text("31000\n")
        assert victoria_metrics.wait_for(lambda: latest() == 31.0, timeout=60)
        sensor.unlink()  # a missing sensor is a reading with its reason: valid, nothing stored
        received = collector.metrics()["schoolnet_collector_received_total"]
        assert victoria_metrics.wait_for(
            lambda: collector.metrics()["schoolnet_collector_received_total"] >= received + 3, timeout=30)
        deadlettered = {name: value for name, value in collector.metrics().items() if "deadlettered" in name}
        assert sum(deadlettered.values()) == 0, deadlettered
        assert latest() == 31.0
    finally:
        agent.stop()
        collector.stop()
    assert "Traceback" not in agent.log

"""The central pipe as deployed: a school's result goes through the deployed broker (TLS,
its own account and ACL) and the real collector, running deploy/central/collector.yaml,
into VictoriaMetrics; a message the contract refuses comes back as a dead letter, which
the collectors' account may publish.
"""

from __future__ import annotations

import time

import pytest

from schoolnet_core import contract
from schoolnet_stack.deploy_files import render
from schoolnet_stack.ports import reserve_port
from schoolnet_stack.processes import InProcessCollector
from schoolnet_stack.requirements import require_binary
from tests.deploy.county import (
    CENTRAL,
    COLLECTORS,
    DeployedMosquitto,
    Peer,
    make_county,
)


@pytest.fixture
def broker(server_starter, tmp_path) -> DeployedMosquitto:
    require_binary("openssl")
    require_binary("mosquitto_passwd")
    return server_starter.start(DeployedMosquitto, make_county(tmp_path / "county"))


def deployed_collector_config(broker: DeployedMosquitto, store_url: str, folder) -> str:
    """deploy/central/collector.yaml with the compose host names swapped for this test's."""
    county = broker.county
    path = folder / "collector.yaml"
    path.write_text(render((CENTRAL / "collector.yaml").read_text(), {
        "url: mqtts://mosquitto:8883": f"url: mqtts://localhost:{broker.tls_port}",
        "ca_file: /etc/schoolnet/ca.pem": f"ca_file: {county.ca}",
        "password_file: /etc/schoolnet/collector-mqtt.password":
            f"password_file: {county.secrets / 'schoolnet-collector-1.password'}",
        "url: http://victoriametrics:8428": f"url: {store_url}",
        "path: /var/lib/schoolnet/deadletter.jsonl": f"path: {folder / 'deadletter.jsonl'}",
        "listen: 127.0.0.1:9471": f"listen: 127.0.0.1:{reserve_port()}",
    }))
    return path


def test_a_schools_result_reaches_the_store_and_a_refused_one_becomes_a_dead_letter(
        broker, victoria_metrics, tmp_path):
    county = broker.county
    watcher = Peer(broker.tls_port, COLLECTORS[1], county.password(COLLECTORS[1]), ca=county.ca,
                   client_id=COLLECTORS[1])
    school = Peer(broker.tls_port, "hx-a", county.password("hx-a"), ca=county.ca, client_id="agent-hx-hx-a")
    try:
        assert watcher.connect() == 0 and school.connect() == 0
        assert watcher.subscribe(contract.DEADLETTER_ROOT + "/#") == [1]
        with InProcessCollector(deployed_collector_config(broker, victoria_metrics.url, tmp_path)):
            body = {"up": True, "targets_up": 1,
                    "targets": [{"target": "县教育城域网", "method": "icmp", "up": True, "rtt_ms": 3.2}]}
            result = contract.encode("broadband", "hx", "hx-a", int(time.time() * 1000), body)
            assert school.publish(contract.topic("hx", "hx-a", "broadband"), result) == 0
            assert school.publish(contract.topic("hx", "hx-a", "health"), b"not json") == 0

            stored = victoria_metrics.wait_for(lambda: victoria_metrics.query('schoolnet_broadband_up{school="hx-a"}'))
            [dead] = watcher.wait_for_messages(1)
    finally:
        watcher.close()
        school.close()
    assert stored[0]["metric"]["county"] == "hx" and stored[0]["value"][1] == "1"
    assert dead.topic == contract.deadletter_topic("bad_json")

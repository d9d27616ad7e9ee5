"""The central pipe as deployed: a school's result goes through the deployed broker (TLS,
its own account and ACL) and the real collector, running deploy/central/collector.yaml,
into VictoriaMetrics; a message the contract refuses comes back as a dead letter, which
the collectors' account may publish.
"""

from __future__ import annotations

import ssl
import time

import pytest

from collector.transport import BufferedSocket
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
    stored_samples,
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



def test_a_backlog_over_tls_is_read_through_the_buffer_a_read_at_a_time(broker, victoria_metrics, tmp_path):
    """Every deploy config speaks TLS: the collector's fast lane (collector/transport.py)
    serves it too, where each SSL_read would otherwise give up the GIL for one packet."""
    county, count = broker.county, 300
    config = deployed_collector_config(broker, victoria_metrics.url, tmp_path)
    with InProcessCollector(config):
        pass  # its persistent session: the broker queues for it from now on
    school = Peer(broker.tls_port, "hx-a", county.password("hx-a"), ca=county.ca, client_id="agent-hx-hx-a")
    start_ms = int(time.time() * 1000) - count
    body = {"up": True, "targets_up": 0, "targets": []}
    try:
        assert school.connect() == 0
        backlog = [contract.encode("broadband", "hx", "hx-a", start_ms + n, body) for n in range(count)]
        assert set(school.publish_all(contract.topic("hx", "hx-a", "broadband"), backlog)) == {0}
    finally:
        school.close()

    running = InProcessCollector(config)
    client, per_hand_over = running.collector._client, []
    fast_lane = client.on_publishes
    client.on_publishes = lambda publishes: (per_hand_over.append(len(publishes)), fast_lane(publishes))
    with running:
        assert isinstance(client._sock, BufferedSocket) and isinstance(client._sock._sock, ssl.SSLSocket)
        victoria_metrics.wait_for(lambda: len(stored_samples(victoria_metrics, "hx-a")) == count, timeout=30)
    assert sum(per_hand_over) >= count - 10, per_hand_over  # paho reads only what a read splits
    assert max(per_hand_over) > 1, "one message per hand-over: the buffer is not in front of TLS"

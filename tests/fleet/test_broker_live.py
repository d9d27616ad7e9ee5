"""The generated password file and ACL in a real mosquitto running the deploy config with
TLS (issue 12): sampled schools publish under their own topics and are refused under
another school's; retiring a school clears its retained status and its account."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import pytest

from roster import sample
from schoolnet_core import contract
from schoolnet_stack.requirements import require_binary
from schoolnet_stack.servers import LOOPBACK
from tests.deploy.county import MAKE_CERTS, County, DeployedMosquitto, Peer
from tests.fleet.helpers import county_tables, edited, fleet

ACCEPTED = (0x00, 0x10)  # 0x10: accepted, nobody subscribed
NOT_AUTHORIZED = 0x87
BAD_CREDENTIALS = (0x86, 0x87)
SAMPLED = ["3000000000", "3001000001", "3000000006", "3001000009", "3000000012"]
RETIRED = "3001000003"


@pytest.fixture(scope="module")
def fleet_state(tmp_path_factory):
    require_binary("openssl")
    folder = tmp_path_factory.mktemp("broker-fleet")
    tables = county_tables(14, 2)
    assert fleet("apply", sample.write_xlsx(folder / "roster.xlsx", tables), "--state", folder / "state") == 0
    county = County(folder / "county")
    subprocess.run(["sh", str(MAKE_CERTS), str(county.tls), "localhost", LOOPBACK], check=True, capture_output=True,
                   timeout=60, env={**os.environ, "BROKER_GROUP": str(os.getgid())})
    install_broker_files(folder / "state", county)
    return {"folder": folder, "tables": tables, "state": folder / "state", "county": county}


def install_broker_files(state, county: County) -> None:
    for name in ("passwd", "acl"):
        shutil.copyfile(state / "broker" / name, county.directory / name)


@pytest.fixture
def broker(server_starter, fleet_state) -> DeployedMosquitto:
    return server_starter.start(DeployedMosquitto, fleet_state["county"])


def peer(broker, fleet_state, user: str, password_path) -> Peer:
    return Peer(broker.tls_port, user, password_path.read_text().strip(), ca=fleet_state["county"].ca,
                client_id=f"agent-test-{user}-{time.monotonic_ns()}")


def school_peer(broker, fleet_state, county_id: str, school: str) -> Peer:
    return peer(broker, fleet_state, school, fleet_state["state"] / "schools" / county_id / school / "mqtt.password")


def county_of(school: str) -> str:
    return f"c{int(school[1:4]):02d}"


def test_each_school_publishes_under_its_own_topics_only(broker, fleet_state):
    peers = []
    try:
        for school in SAMPLED:
            client = school_peer(broker, fleet_state, county_of(school), school)
            peers.append(client)
            assert client.connect() == 0
            own = contract.topic(county_of(school), school, "broadband")
            assert client.publish(own, b"{}") in ACCEPTED
            other = SAMPLED[(SAMPLED.index(school) + 1) % len(SAMPLED)]
            assert client.publish(contract.topic(county_of(other), other, "broadband"), b"{}") == NOT_AUTHORIZED
    finally:
        for client in peers:
            client.close()


def test_retiring_clears_the_retained_status_then_the_account(broker, fleet_state, tmp_path):
    state, county_id = fleet_state["state"], county_of(RETIRED)
    school = school_peer(broker, fleet_state, county_id, RETIRED)
    assert school.connect() == 0
    status = contract.topic(county_id, RETIRED, "status")
    assert school.publish(status, b'{"online": false}', retain=True) in ACCEPTED
    school.close()

    roster = sample.write_xlsx(tmp_path / "roster.xlsx", edited(fleet_state["tables"], retire=RETIRED))
    assert fleet("apply", roster, "--state", state, "--broker", f"mqtts://localhost:{broker.tls_port}",
                 "--ca", fleet_state["county"].ca) == 0
    assert (state / "retired" / county_id / RETIRED / "mqtt.password").exists()
    assert not (state / "schools" / county_id / RETIRED).exists()

    collector = peer(broker, fleet_state, "schoolnet-collector", state / "accounts/schoolnet-collector.password")
    try:
        assert collector.connect() == 0
        assert collector.subscribe(status) == [1]
        marker_topic = contract.topic(county_of(SAMPLED[0]), SAMPLED[0], "broadband")
        assert collector.subscribe(marker_topic) == [1]
        sender = school_peer(broker, fleet_state, county_of(SAMPLED[0]), SAMPLED[0])
        assert sender.connect() == 0 and sender.publish(marker_topic, b"marker") in ACCEPTED
        sender.close()
        assert [m.payload for m in collector.wait_for_messages(1)] == [b"marker"], "retained status still there"
    finally:
        collector.close()

    install_broker_files(state, fleet_state["county"])
    os.kill(broker.process.pid, signal.SIGHUP)
    broker.wait_for(lambda: _refused(broker, fleet_state, county_id), timeout=10)
    assert _refused(broker, fleet_state, county_id)
    still = school_peer(broker, fleet_state, county_of(SAMPLED[1]), SAMPLED[1])
    assert still.connect() == 0
    still.close()


def _refused(broker, fleet_state, county_id: str) -> bool:
    retired = peer(broker, fleet_state, RETIRED,
                   fleet_state["state"] / "retired" / county_id / RETIRED / "mqtt.password")
    try:
        return retired.connect() in BAD_CREDENTIALS
    finally:
        retired.close()

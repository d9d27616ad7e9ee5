"""Issue 13's attacks, each its own test, by a school holding only its own valid credential
against the deploy broker (deploy/central/mosquitto/mosquitto.conf with the dynamic security
plugin, TLS, accounts from credentials.py), the real collector running
deploy/central/collector.yaml and VictoriaMetrics.

With password_file + acl_file each of these lost other schools' data without a trace
(subscriptions are checked only at delivery, client ids are anyone's); here each is refused
when it is made, and the data it aimed at is counted in the store.
"""

from __future__ import annotations

import json
import time

import pytest

from fleet.broker import COLLECTOR_GROUP, BrokerAccount, client_id
from schoolnet_core import contract
from schoolnet_stack.processes import InProcessCollector
from schoolnet_stack.requirements import require_binary
from tests.deploy.county import (
    COLLECTORS,
    SCHOOLS,
    DeployedMosquitto,
    Peer,
    make_county,
    stored_samples,
)
from tests.deploy.test_stack import deployed_collector_config

GRANTED_QOS_1 = 0x01
NOT_AUTHORIZED = 0x87
ADMINISTRATIVE_ACTION = 0x98
ATTACKER, VICTIM = "hx-a", "hx-b"
SESSION_S = 3600


@pytest.fixture
def broker(server_starter, tmp_path) -> DeployedMosquitto:
    require_binary("openssl")
    return server_starter.start(DeployedMosquitto, make_county(tmp_path / "county"), workdir=tmp_path / "broker")


@pytest.fixture
def peers(broker):
    """peer(username, client_id=None, password=None, **options) -> a Peer on the TLS port,
    not yet connected; all closed at the end."""
    made: list[Peer] = []

    def peer(username, client_id=None, password=None, **options) -> Peer:
        made.append(Peer(broker.tls_port, username, password or broker.county.password(username),
                         ca=broker.county.ca, client_id=client_id or bound_id(username), **options))
        return made[-1]

    yield peer
    for each in made:
        each.close()


def bound_id(username: str) -> str:
    if username in SCHOOLS:
        return client_id(BrokerAccount(username, "", "school", SCHOOLS[username], username))
    return username


def results(school: str, count: int) -> list[bytes]:
    """`count` broadband results with distinct timestamps (the store keeps each once)."""
    start = int(time.time() * 1000) - count
    body = {"up": True, "targets_up": 1,
            "targets": [{"target": "县教育城域网", "method": "icmp", "up": True, "rtt_ms": 3.2}]}
    return [contract.encode("broadband", SCHOOLS[school], school, start + n, body) for n in range(count)]


def wait_for_count(store, school: str, count: int) -> list[float]:
    """Waits until `count` samples are stored, then returns all there are."""
    store.wait_for(lambda: len(stored_samples(store, school)) >= count, timeout=30)
    return stored_samples(store, school)


def test_a_school_cannot_join_the_collectors_group_or_subscribe_beyond_its_commands(
        broker, peers, victoria_metrics, tmp_path):
    filters = [f"$share/{COLLECTOR_GROUP}/{contract.SUBSCRIPTION}", "#",
               contract.topic(SCHOOLS[VICTIM], VICTIM, contract.COMMAND)]
    for attempt in filters:  # three sessions left persistent and offline, one per filter
        attacker = peers(ATTACKER, session_expiry_s=SESSION_S)
        assert attacker.connect() == 0
        assert attacker.subscribe(attempt) == [NOT_AUTHORIZED], attempt
        attacker.close()
    own = peers(ATTACKER, session_expiry_s=SESSION_S)  # what it may do is still granted
    assert own.connect() == 0
    assert own.subscribe(contract.topic(SCHOOLS[ATTACKER], ATTACKER, contract.COMMAND)) == [GRANTED_QOS_1]
    own.close()

    victim = peers(VICTIM)
    with InProcessCollector(deployed_collector_config(broker, victoria_metrics.url, tmp_path)):
        assert victim.connect() == 0
        codes = victim.publish_all(contract.topic(SCHOOLS[VICTIM], VICTIM, "broadband"), results(VICTIM, 200))
        assert set(codes) == {0}
        assert len(wait_for_count(victoria_metrics, VICTIM, 200)) == 200


def test_a_school_cannot_take_the_collectors_client_id_and_the_backlog_survives(
        broker, peers, victoria_metrics, tmp_path):
    config = deployed_collector_config(broker, victoria_metrics.url, tmp_path)
    with InProcessCollector(config):  # its persistent session and $share subscription
        pass
    victim = peers(VICTIM)
    assert victim.connect() == 0
    codes = victim.publish_all(contract.topic(SCHOOLS[VICTIM], VICTIM, "broadband"), results(VICTIM, 100))
    assert set(codes) == {0}  # 0, not 0x10: the stopped collector's session holds them

    for clean in (True, False):  # with a clean start it would throw the backlog away
        taker = peers(ATTACKER, client_id=COLLECTORS[0], session_expiry_s=None if clean else SESSION_S)
        assert taker.connect() == NOT_AUTHORIZED
        taker.close()
    assert stored_samples(victoria_metrics, VICTIM) == []  # nothing stored while it was down

    with InProcessCollector(config):
        assert len(wait_for_count(victoria_metrics, VICTIM, 100)) == 100


def test_a_school_cannot_take_another_schools_client_id_and_the_victim_does_not_flap(
        broker, peers, victoria_metrics, tmp_path):
    status_topic = contract.topic(SCHOOLS[VICTIM], VICTIM, contract.STATUS)

    def status(online: bool) -> bytes:
        return contract.encode("status", SCHOOLS[VICTIM], VICTIM, int(time.time() * 1000),
                               {"online": online, "agent_version": "0.1.0"})

    with InProcessCollector(deployed_collector_config(broker, victoria_metrics.url, tmp_path)):
        victim = peers(VICTIM, session_expiry_s=SESSION_S)
        victim.client.will_set(status_topic, status(False), qos=1, retain=True)  # as the agent does
        assert victim.connect() == 0
        assert victim.publish(status_topic, status(True), retain=True) == 0
        victoria_metrics.wait_for(lambda: stored_samples(victoria_metrics, VICTIM, "schoolnet_agent_online"))

        for attempt in range(3):
            taker = peers(ATTACKER, client_id=bound_id(VICTIM), session_expiry_s=SESSION_S if attempt else None)
            assert taker.connect() == NOT_AUTHORIZED
            taker.close()

        # A marker after the attempts: once it is stored, a will fired by a takeover
        # (published before it) would have been stored too.
        assert victim.publish(contract.topic(SCHOOLS[VICTIM], VICTIM, "broadband"), results(VICTIM, 1)[0]) == 0
        wait_for_count(victoria_metrics, VICTIM, 1)
        assert victim.disconnects == []
        assert stored_samples(victoria_metrics, VICTIM, "schoolnet_agent_online") == [1]


def _command(operator: Peer, school: str, note: str) -> None:
    payload = json.dumps({"schema": 1, "command": "speedtest", "request_id": note, "ts": 1}).encode()
    assert operator.publish(contract.topic(SCHOOLS[school], school, contract.COMMAND), payload) == 0


def _park_with_a_queued_command(peers, school: str) -> Peer:
    """A persistent session subscribed to its commands, offline, with one command queued."""
    parked = peers(school, session_expiry_s=SESSION_S)
    assert parked.connect() == 0
    assert parked.subscribe(contract.topic(SCHOOLS[school], school, contract.COMMAND)) == [GRANTED_QOS_1]
    parked.close()
    operator = peers("operator.hx")
    assert operator.connect() == 0
    _command(operator, school, "queued-while-parked")  # 0, not 0x10: the parked session holds it
    return operator


def _fresh_session_gets_only_new_commands(peers, school: str, operator: Peer, password: str | None = None) -> None:
    again = peers(school, password=password, session_expiry_s=SESSION_S)
    assert again.connect() == 0
    assert again.session_present is False
    assert again.subscribe(contract.topic(SCHOOLS[school], school, contract.COMMAND)) == [GRANTED_QOS_1]
    _command(operator, school, "after")
    # A queued command would have come first (one publisher's messages arrive in order).
    assert [json.loads(m.payload)["request_id"] for m in again.wait_for_messages(1)] == ["after"]


def test_rotating_a_school_ends_its_sessions_parked_ones_included(broker, peers):
    county = broker.county
    old_password = county.password(ATTACKER)
    operator = _park_with_a_queued_command(peers, ATTACKER)
    live = peers(VICTIM)
    assert live.connect() == 0

    for school in (ATTACKER, VICTIM):
        done = county.credentials("school", SCHOOLS[school], school, "--rotate", broker_port=broker.port)
        assert done.returncode == 0, done.stderr
        assert "its sessions ended" in done.stdout
    assert live.wait_for_disconnect() == ADMINISTRATIVE_ACTION  # the plugin's kick
    assert county.password(ATTACKER) != old_password
    assert peers(ATTACKER, password=old_password).connect() == NOT_AUTHORIZED
    _fresh_session_gets_only_new_commands(peers, ATTACKER, operator)
    assert old_password not in broker.log_path.read_text()


def test_retiring_a_school_ends_its_sessions_and_its_account(broker, peers):
    county = broker.county
    old_password, victims_password = county.password(ATTACKER), county.password(VICTIM)
    operator = _park_with_a_queued_command(peers, ATTACKER)
    live = peers(VICTIM)
    assert live.connect() == 0

    for school in (ATTACKER, VICTIM):
        done = county.credentials("retire", school, broker_port=broker.port)
        assert done.returncode == 0, done.stderr
    assert live.wait_for_disconnect() == ADMINISTRATIVE_ACTION
    assert peers(ATTACKER, password=old_password).connect() == NOT_AUTHORIZED
    assert peers(VICTIM, password=victims_password).connect() == NOT_AUTHORIZED
    assert not (county.secrets / f"{ATTACKER}.password").exists()
    # The same id registered again starts from nothing: the parked session was ended.
    done = county.credentials("school", SCHOOLS[ATTACKER], ATTACKER, broker_port=broker.port)
    assert done.returncode == 0, done.stderr
    _fresh_session_gets_only_new_commands(peers, ATTACKER, operator, county.password(ATTACKER))

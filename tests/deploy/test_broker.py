"""The county's broker as deployed: TLS, passwords and the per-school ACL hold.

mosquitto runs deploy/central/mosquitto/mosquitto.conf itself (tests/deploy/county.py swaps
only ports and paths), with certificates from make-certs.sh and accounts and ACL from
credentials.py (the dynamic security plugin). Reason codes asserted below are what
mosquitto 2.0.11 answers. The attacks of issue 13 are tests/deploy/test_identity.py.
"""

from __future__ import annotations

import json
import os
import re
import time

import pytest

from agent.publish.mqtt import MAX_IN_FLIGHT
from fleet.broker import BrokerAccount, client_id
from schoolnet_core import contract
from schoolnet_stack.requirements import require_binary
from tests.deploy.county import (
    COLLECTORS,
    DEPLOY_CONF,
    SCHOOLS,
    DeployedMosquitto,
    Peer,
    connack_over_plain_tcp,
    make_county,
)

GRANTED_QOS_1 = 0x01
NO_SUBSCRIBERS = 0x10
NOT_AUTHORIZED = 0x87
PROTOCOL_ERROR = 0x82
GROUP = "schoolnet-collectors"
COLLECTOR = COLLECTORS[0]
DEFAULT_QUEUE = 1000  # mosquitto's max_queued_messages when a config does not raise it


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    require_binary("openssl")
    require_binary("mosquitto_passwd")
    return make_county(tmp_path_factory.mktemp("county"))


@pytest.fixture
def broker(server_starter, county) -> DeployedMosquitto:
    return server_starter.start(DeployedMosquitto, county)


@pytest.fixture
def connect(broker, county):
    """connect(username, password=None, **options) -> a connected Peer on the TLS port
    (the password defaults to the one credentials.py issued, the client id to the one
    the account is bound to)."""
    peers: list[Peer] = []

    def open_peer(username, password=None, *, client_id=None, port=None, ca=county.ca, **options) -> Peer:
        password = password if password is not None or username is None else county.password(username)
        peer = Peer(port or broker.tls_port, username, password, ca=ca,
                    client_id=client_id or bound_id(username), **options)
        peers.append(peer)
        code = peer.connect()
        assert code == 0, f"{username}: CONNACK {code:#x}"
        return peer

    yield open_peer
    for peer in peers:
        peer.close()


def bound_id(username: str) -> str:
    """The one client id the plugin lets this account use."""
    if username in SCHOOLS:
        return client_id(BrokerAccount(username, "", "school", SCHOOLS[username], username))
    return username


def broadband(county_id: str, school: str) -> bytes:
    body = {"up": True, "targets_up": 1,
            "targets": [{"target": "县教育城域网", "method": "icmp", "up": True, "rtt_ms": 3.2, "loss_pct": 0.0}]}
    return contract.encode("broadband", county_id, school, int(time.time() * 1000), body)


def collector(connect) -> Peer:
    peer = connect(COLLECTOR)
    assert peer.subscribe(f"$share/{GROUP}/{contract.SUBSCRIPTION}") == [GRANTED_QOS_1]
    return peer


# -- the deploy file itself ---------------------------------------------------------------------


def _listeners(text: str) -> list[dict[str, str]]:
    """Each `listener` line and the settings after it, up to the next listener."""
    sections: list[dict[str, str]] = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if words[0] == "listener":
            sections.append({"port": words[1], "bind": words[2] if len(words) > 2 else "*"})
        elif sections:
            sections[-1][words[0]] = " ".join(words[1:])
    return sections


def _global(text: str, key: str) -> str:
    found = re.search(rf"^{key} (.+)$", text, re.MULTILINE)
    assert found, f"{key} is not set in {DEPLOY_CONF}"
    return found.group(1).strip()


def test_every_listener_is_tls_or_only_on_loopback():
    listeners = _listeners(DEPLOY_CONF.read_text())
    assert [(each["port"], each["bind"]) for each in listeners] == [("8883", "*"), ("1883", "127.0.0.1")]
    for listener in listeners:
        tls = {"cafile", "certfile", "keyfile"} <= listener.keys()
        assert tls or listener["bind"] == "127.0.0.1", listener


def test_the_settings_that_promise_no_loss_are_there():
    text = DEPLOY_CONF.read_text()
    assert _global(text, "allow_anonymous") == "false"
    assert _global(text, "per_listener_settings") == "false"  # the plugin covers both listeners
    assert _global(text, "plugin").endswith("/mosquitto_dynamic_security.so")
    assert re.search(r"^(password_file|acl_file) ", text, re.MULTILINE) is None  # the plugin alone decides
    assert _global(text, "persistence") == "true"
    assert int(_global(text, "autosave_interval")) <= 60
    assert int(_global(text, "max_queued_messages")) > DEFAULT_QUEUE  # and not 0: see the file
    assert int(_global(text, "max_queued_bytes")) >= 1 << 30
    assert int(_global(text, "message_size_limit")) == contract.MAX_PAYLOAD_BYTES
    assert _global(text, "persistent_client_expiration") == "14d"


# -- schools, operators, collectors ---------------------------------------------------------------


def test_a_school_publishes_its_results_and_status_to_the_collectors(connect):
    listening = collector(connect)
    school = connect("hx-a")
    result, status = broadband("hx", "hx-a"), contract.encode(
        "status", "hx", "hx-a", int(time.time() * 1000), {"online": True, "agent_version": "0.1.0"})

    assert school.publish(contract.topic("hx", "hx-a", "broadband"), result) == 0
    assert school.publish(contract.topic("hx", "hx-a", "status"), status, retain=True) == 0

    received = listening.wait_for_messages(2)
    assert [(m.topic, m.payload) for m in received] == [
        ("schoolnet/v1/hx/hx-a/broadband", result), ("schoolnet/v1/hx/hx-a/status", status)]
    # max_inflight_messages is what the broker offers publishers as Receive Maximum.
    assert school.receive_maximum == MAX_IN_FLIGHT  # the agent's own window


def test_a_school_cannot_report_as_another_school_or_under_another_county(connect):
    listening = collector(connect)
    school = connect("hx-a")

    assert school.publish(contract.topic("hx", "hx-b", "broadband"), broadband("hx", "hx-b")) == NOT_AUTHORIZED
    assert school.publish(contract.topic("yy", "hx-a", "broadband"), broadband("yy", "hx-a")) == NOT_AUTHORIZED
    assert school.publish(contract.topic("hx", "hx-a", "cmd"), b"{}") == NOT_AUTHORIZED
    # Still connected (max_queued_messages 0 would have dropped it), and its own topic works:
    assert school.publish(contract.topic("hx", "hx-a", "broadband"), broadband("hx", "hx-a")) == 0

    received = listening.wait_for_messages(1)
    assert [m.topic for m in received] == ["schoolnet/v1/hx/hx-a/broadband"]
    assert school.disconnects == []


def test_a_school_reads_its_own_commands_and_never_another_schools(connect):
    school_a, school_b = connect("hx-a"), connect("hx-b")
    operator = connect("operator.hx")
    # The plugin checks subscriptions when they are made (a file ACL granted these).
    assert school_a.subscribe(contract.topic("hx", "hx-a", "cmd")) == [GRANTED_QOS_1]
    assert school_a.subscribe(contract.topic("hx", "hx-b", "cmd")) == [NOT_AUTHORIZED]
    assert school_a.subscribe(contract.topic("hx", "+", "cmd")) == [NOT_AUTHORIZED]
    assert school_b.subscribe(contract.topic("hx", "hx-b", "cmd")) == [GRANTED_QOS_1]

    assert operator.publish(contract.topic("hx", "hx-b", "cmd"), b'{"command": "speedtest", "for": "b"}') == 0
    assert operator.publish(contract.topic("hx", "hx-a", "cmd"), b'{"command": "speedtest", "for": "a"}') == 0

    # hx-a's own command came after hx-b's on the same connection: had hx-b's been
    # delivered to hx-a, it would be here first.
    own = [(m.topic, json.loads(m.payload)["for"]) for m in school_a.wait_for_messages(1)]
    assert own == [("schoolnet/v1/hx/hx-a/cmd", "a")]
    assert [m.topic for m in school_b.wait_for_messages(1)] == ["schoolnet/v1/hx/hx-b/cmd"]


def test_an_operator_commands_only_its_own_countys_schools(connect):
    operator = connect("operator.hx")
    assert operator.publish(contract.topic("yy", "yy-a", "cmd"), b"{}") == NOT_AUTHORIZED
    assert operator.publish(contract.topic("hx", "hx-a", "broadband"), broadband("hx", "hx-a")) == NOT_AUTHORIZED
    assert operator.publish(contract.topic("hx", "hx-a", "cmd"), b"{}") == NO_SUBSCRIBERS


@pytest.mark.parametrize(("username", "password"), [
    (None, None), ("hx-a", "not-the-password"), ("nobody-registered", "x"), ("hx-a", ""),
], ids=["anonymous", "wrong-password", "unknown-user", "empty-password"])
def test_a_client_without_the_right_password_is_refused(broker, county, username, password):
    peer = Peer(broker.tls_port, username, password, ca=county.ca, client_id="test-refused")
    try:
        assert peer.connect() == NOT_AUTHORIZED  # 2.0.11 says "not authorized", never 0x86
    finally:
        peer.close()


def test_plain_mqtt_to_the_tls_port_gets_no_connack(broker):
    assert connack_over_plain_tcp(broker.tls_port) is None
    # The same CONNECT on the loopback listener is answered (refused: no user name), so
    # the silence above is TLS's, not a broken probe.
    assert connack_over_plain_tcp(broker.port) == bytes([0x20, 3, 0, NOT_AUTHORIZED, 0])


def test_a_payload_over_the_contract_limit_never_reaches_the_collectors(broker, connect):
    listening = collector(connect)
    topic = contract.topic("hx", "hx-a", "broadband")
    largest = b"x" * contract.MAX_PAYLOAD_BYTES

    sender = connect("hx-a")
    sender.client.publish(topic, largest + b"x", qos=1)
    # mosquitto 2.0.11 answers PUBACK 0x95 "packet too large", a code MQTT 5 does not
    # allow in a PUBACK, and paho 2.x drops the connection as a protocol error (0x82).
    assert sender.wait_for_disconnect() == PROTOCOL_ERROR
    sender.close()

    # Had the oversize message been delivered, it would be the first one here.
    assert connect("hx-a").publish(topic, largest) == 0
    assert [len(m.payload) for m in listening.wait_for_messages(1)] == [contract.MAX_PAYLOAD_BYTES]


def test_queued_messages_beyond_the_default_survive_a_collector_outage_and_a_restart(broker, connect):
    count = DEFAULT_QUEUE + 500
    first = connect(COLLECTOR, session_expiry_s=3600)
    assert first.subscribe(f"$share/{GROUP}/{contract.SUBSCRIPTION}") == [GRANTED_QOS_1]
    first.close()  # the collector is down; its session and subscription stay

    school = connect("hx-a")
    topic = contract.topic("hx", "hx-a", "health")
    payloads = [f"message {number}".encode() for number in range(count)]
    assert set(school.publish_all(topic, payloads)) == {0}
    broker.stop()  # SIGTERM: mosquitto saves its state
    broker.start()

    again = connect(COLLECTOR, session_expiry_s=3600)
    assert sorted(m.payload for m in again.wait_for_messages(count)) == sorted(payloads)


def test_a_new_school_can_connect_once_issued_and_nobody_is_disconnected(server_starter, tmp_path):
    require_binary("openssl")
    require_binary("mosquitto_passwd")
    county = make_county(tmp_path / "county")
    broker = server_starter.start(DeployedMosquitto, county, workdir=tmp_path / "broker")
    watching = Peer(broker.tls_port, COLLECTOR, county.password(COLLECTOR), ca=county.ca, client_id=COLLECTOR)
    assert watching.connect() == 0
    pid = broker.process.pid

    done = county.credentials("school", "hx", "hx-new", broker_port=broker.port)
    assert done.returncode == 0, done.stderr
    assert "applied to the running broker" in done.stdout
    assert _connack(broker, county, "hx-new") == 0
    assert county.password("hx-new") not in broker.log_path.read_text()  # the plugin logs ******

    assert broker.process.pid == pid and broker.running
    assert watching.disconnects == []
    watching.close()


def _connack(broker: DeployedMosquitto, county, username: str) -> int:
    peer = Peer(broker.tls_port, username, county.password(username), ca=county.ca,
                client_id=client_id(BrokerAccount(username, "", "school", "hx", username)))
    try:
        return peer.connect()
    finally:
        peer.close()


def test_the_pid_file_names_the_running_broker(broker):
    assert int(broker.pid_file.read_text()) == broker.process.pid
    assert os.path.exists(f"/proc/{broker.process.pid}")


def test_every_registered_school_can_connect(connect):
    for school in SCHOOLS:
        assert connect(school).disconnects == []


def test_a_school_leaving_clears_its_retained_status_with_its_own_account(connect):
    """The retirement step in deploy/README-alerts.md: an empty retained message from the
    school's own account removes its last status, so AgentOffline stops paging for it."""
    school = connect("hx-a")
    status_topic = contract.topic("hx", "hx-a", "status")
    will = contract.encode("status", "hx", "hx-a", int(time.time() * 1000), {"online": False, "agent_version": "0.1.0"})
    assert school.publish(status_topic, will, retain=True) in (0, 0x10)
    before = connect(COLLECTOR)
    assert before.subscribe(status_topic) == [GRANTED_QOS_1]
    assert [m.payload for m in before.wait_for_messages(1)] == [will]

    assert school.publish(status_topic, b"", retain=True) in (0, 0x10)

    after = connect(COLLECTORS[1])
    assert after.subscribe(status_topic) == [GRANTED_QOS_1]
    assert after.subscribe(contract.topic("hx", "hx-a", "broadband")) == [GRANTED_QOS_1]
    marker = broadband("hx", "hx-a")  # a retained status would come right after its SUBACK, before this
    assert school.publish(contract.topic("hx", "hx-a", "broadband"), marker) == 0
    assert [m.payload for m in after.wait_for_messages(1)] == [marker], "the retained status is still there"

"""The publisher's rules that need no broker: identity, TLS policy, window, status payloads,
error texts, and what submit() refuses before anything reaches the spool."""

from __future__ import annotations

import ssl

import pytest

from agent.config import load_config
from agent.publish import BrokerSettings, Publisher, Spool, broker_settings
from agent.publish.mqtt import (
    client_id,
    connect_failure_text,
    refusal_hint,
    status_payload,
    tls_context,
    window_size,
)
from schoolnet_core import contract

TS = 1_795_570_200_000


def test_client_id_is_fixed_per_school():
    assert client_id("hx", "hx-dazhuang-zx") == "agent-hx-hx-dazhuang-zx"


@pytest.mark.parametrize(("receive_maximum", "expected"), [(20, 19), (65535, 100), (1, 1), (2, 1)])
def test_window_stays_within_the_brokers_receive_maximum(receive_maximum, expected):
    assert window_size(receive_maximum, max_in_flight=100) == expected


def test_plaintext_only_when_explicitly_allowed():
    with pytest.raises(ValueError, match="allow_plaintext"):
        tls_context(BrokerSettings(host="mqtt.hx.example", port=1883, tls=False))
    assert tls_context(BrokerSettings(host="h", port=1883, tls=False, allow_plaintext=True)) is None


def test_tls_verifies_the_certificate_and_host_name_by_default():
    context = tls_context(BrokerSettings(host="mqtt.hx.example"))
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True


@pytest.mark.parametrize("key", ["ca_file", "cert_file"])
def test_unusable_certificate_files_are_named_in_the_error(tmp_path, key):
    (tmp_path / "not-pem.txt").write_text("hello")
    paths = {key: str(tmp_path / "not-pem.txt"), "key_file": str(tmp_path / "not-pem.txt")}
    with pytest.raises(ValueError, match="broker.ca_file, cert_file or key_file cannot be used"):
        tls_context(BrokerSettings(host="mqtt.hx.example", **paths))


def test_password_is_not_in_the_settings_repr():
    settings = BrokerSettings(host="h", username="u", password="s3cret-value")
    assert "s3cret-value" not in repr(settings)


@pytest.mark.parametrize("online", [True, False])
def test_status_payload_is_a_valid_contract_message(online):
    payload = status_payload("hx", "hx-s1", online, "0.1.0", TS)
    message = contract.validate(contract.topic("hx", "hx-s1", contract.STATUS), payload, TS)
    assert isinstance(message, contract.Message), message
    assert message.body == {"online": online, "agent_version": "0.1.0"}


def test_status_payload_carries_the_school_name_for_alerts_and_boards():
    """Birth and will both name the school (deploy/rules/names.yml reads it)."""
    payload = status_payload("hx", "hx-s1", False, "0.1.0", TS, school_name="石门乡中心小学")
    message = contract.validate(contract.topic("hx", "hx-s1", contract.STATUS), payload, TS)
    assert message.body == {"online": False, "agent_version": "0.1.0", "school_name": "石门乡中心小学"}
    (line,) = contract.to_lines(message, received_ms=TS)
    assert line == f"schoolnet_agent,agent_version=0.1.0,county=hx,school=hx-s1,school_name=石门乡中心小学 online=false {TS}"


def test_refusal_hints_point_at_the_config_and_the_acl():
    assert "ACL" in refusal_hint(0x87)
    assert "password_file" in refusal_hint(0x86)
    assert "log" in refusal_hint(0x80)


def test_connect_failure_texts_name_what_to_check():
    refused = connect_failure_text("mqtt.hx.example", 8883, ConnectionRefusedError(111, "Connection refused"))
    assert refused == ("mqtt.hx.example:8883 refused the connection; is the broker running, "
                       "is the port right?")
    unreachable = connect_failure_text("10.0.0.1", 8883, OSError(113, "No route to host"))
    assert unreachable == "cannot reach 10.0.0.1:8883: No route to host"


@pytest.fixture
def idle_publisher(tmp_path):
    """A publisher never started: submit() only spools."""
    spool = Spool(tmp_path / "spool.db")
    yield Publisher(BrokerSettings(host="127.0.0.1", port=1, tls=False, allow_plaintext=True),
                    "hx", "hx-s1", spool), spool
    spool.close()


@pytest.mark.parametrize(("kind", "body", "message"), [
    ("status", {"online": True, "agent_version": "0.1.0"}, "cannot submit kind 'status'"),
    ("cmd", {}, "cannot submit kind 'cmd'"),
    ("broadband", {"up": "yes", "targets_up": 0, "targets": []}, "wrong_type: up"),
    ("broadband", {"up": True, "targets": []}, "missing_field: targets_up"),
])
def test_submit_refuses_what_the_collector_would_refuse_and_spools_nothing(idle_publisher, kind, body, message):
    publisher, spool = idle_publisher
    with pytest.raises(ValueError, match=message):
        publisher.submit(kind, body, TS)
    assert spool.depth() == 0


def test_submit_spools_the_contract_payload_on_the_schools_topic(idle_publisher):
    publisher, spool = idle_publisher
    body = {"up": True, "targets_up": 0, "targets": []}
    seq = publisher.submit("broadband", body, TS)
    [stored] = spool.oldest(5)
    assert (stored.seq, stored.topic, stored.payload, stored.qos, stored.retain) == (
        seq, "schoolnet/v1/hx/hx-s1/broadband", contract.encode("broadband", "hx", "hx-s1", TS, body), 1, False)


def test_publisher_refuses_ids_the_contract_would_refuse(tmp_path):
    spool = Spool(tmp_path / "spool.db")
    with pytest.raises(ValueError, match="school.school"):
        Publisher(BrokerSettings(host="h"), "hx", "HX School", spool)


def test_broker_settings_from_the_agents_config_file(tmp_path):
    (tmp_path / "ca.pem").write_text("unused")
    config = tmp_path / "agent.yaml"
    config.write_text(
        "school: {id: hx-s1, name: 测试中学, county: hx, rural: true}\n"
        "broker: {url: 'mqtts://mqtt.hx.example:8884', ca_file: ca.pem, password_env: PW, keepalive_s: 30}\n"
        "timetable: {lessons: ['08:00-08:45']}\n", encoding="utf-8")
    settings = broker_settings(load_config(config).broker, "the-password")
    assert settings == BrokerSettings(
        host="mqtt.hx.example", port=8884, tls=True, ca_file=str(tmp_path / "ca.pem"), cert_file=None,
        key_file=None, allow_plaintext=False, username="hx-s1", password="the-password", keepalive_s=30)

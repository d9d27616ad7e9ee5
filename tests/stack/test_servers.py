"""The harness's servers, each checked against itself: real binaries, real protocols."""

from __future__ import annotations

import socket
import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest

from schoolnet_stack import requirements
from schoolnet_stack.ports import reserve_port
from schoolnet_stack.servers import (
    LOOPBACK,
    Mosquitto,
    ServerError,
    alertmanager_config,
    check_alertmanager_config,
    check_rules,
    mqtt_connack,
)
from tests.conftest import NEVER_FIRING_RULES

pytestmark = pytest.mark.servers

# -- helpers ---------------------------------------------------------------------------------


class Subscriber:
    """A paho 2.x client that records every message on one topic filter."""

    def __init__(self, broker: Mosquitto, topic: str) -> None:
        self.messages: list[mqtt.MQTTMessage] = []
        self._arrived = threading.Event()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sub-{uuid.uuid4().hex[:8]}")
        self.client.on_connect = lambda client, *_: client.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert self._subscribed.wait(5), "no SUBACK from the broker"

    def _on_message(self, _client, _userdata, message: mqtt.MQTTMessage) -> None:
        self.messages.append(message)
        self._arrived.set()

    def wait_for_message(self, timeout: float = 5.0) -> mqtt.MQTTMessage:
        assert self._arrived.wait(timeout), "no message arrived"
        return self.messages[0]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _saved(broker: Mosquitto, topic: bytes) -> bool:
    """Whether the broker's persistence file on disk holds a message on `topic`."""
    try:
        return topic in (broker.data_dir / "mosquitto.db").read_bytes()
    except FileNotFoundError:
        return False


def publish(broker: Mosquitto, topic: str, payload: bytes, *, retain: bool = False) -> None:
    """Publishes with QoS 1 and returns once the broker's PUBACK came back."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        info = client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(timeout=5)
        assert info.is_published(), "no PUBACK within 5 s"
    finally:
        client.disconnect()
        client.loop_stop()


# -- mosquitto -------------------------------------------------------------------------------


def test_mosquitto_round_trips_a_qos1_message(mosquitto):
    subscriber = Subscriber(mosquitto, "harness/+/ping")
    try:
        publish(mosquitto, "harness/s1/ping", b"hello \xe5\xad\xa6\xe6\xa0\xa1")
        message = subscriber.wait_for_message()
    finally:
        subscriber.close()
    assert (message.topic, message.payload, message.qos) == ("harness/s1/ping", "hello 学校".encode(), 1)
    assert len(subscriber.messages) == 1


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_mosquitto_keeps_a_retained_message_across_restart(mosquitto, how):
    """stop() saves on exit; after kill() only the 1 s autosave can have saved it."""
    port = mosquitto.port
    publish(mosquitto, "harness/s1/status", b"online", retain=True)
    if how == "kill":
        mosquitto.wait_for(lambda: _saved(mosquitto, b"harness/s1/status"), timeout=10)  # by the 1 s autosave
        mosquitto.kill()
    else:
        mosquitto.stop()
    assert not mosquitto.running
    mosquitto.start()
    assert mosquitto.port == port
    subscriber = Subscriber(mosquitto, "harness/s1/status")
    try:
        message = subscriber.wait_for_message()
    finally:
        subscriber.close()
    assert (message.payload, message.retain) == (b"online", True)


def test_a_locked_down_broker_counts_as_healthy_when_it_refuses(mosquitto_factory):
    broker = mosquitto_factory(allow_anonymous=False)
    code = mqtt_connack(broker.host, broker.port)
    assert code is not None and code.is_failure, code
    assert "Not authorized" in str(code)


def test_a_server_that_cannot_start_says_why(tmp_path):
    broker = Mosquitto(tmp_path, extra_config="no_such_option true")
    requirements.require_binary(broker.binary)
    with pytest.raises(ServerError) as caught:
        broker.start(timeout=10)
    broker.close()
    message = str(caught.value)
    assert "exited with status" in message
    assert f"command: {broker.binary} -c {broker.config_path}" in message
    assert "no_such_option" in message  # mosquitto's own complaint, from the log tail


def test_a_stopped_server_keeps_its_port_from_others(mosquitto):
    """So a server restarted after a long outage never finds its port taken."""
    mosquitto.stop()
    with socket.socket() as other, pytest.raises(OSError, match="in use"):
        other.bind((mosquitto.host, mosquitto.port))
    mosquitto.start()
    assert mqtt_connack(mosquitto.host, mosquitto.port) == 0


def test_a_stopped_broker_keeps_its_extra_listeners_ports_from_others(mosquitto_factory):
    """A TLS listener's port, reserved before the config names it, is held like the first."""
    tls_port = reserve_port()
    with socket.socket() as other, pytest.raises(OSError, match="in use"):
        other.bind((LOOPBACK, tls_port))
    broker = mosquitto_factory(extra_config=f"listener {tls_port} {LOOPBACK}\n", extra_ports=[tls_port])
    assert mqtt_connack(LOOPBACK, tls_port) == 0
    broker.stop()
    with socket.socket() as other, pytest.raises(OSError, match="in use"):
        other.bind((LOOPBACK, tls_port))
    broker.start()
    assert mqtt_connack(LOOPBACK, tls_port) == 0


def test_a_picked_port_taken_before_start_moves_to_a_free_one(tmp_path):
    broker = Mosquitto(tmp_path)
    requirements.require_binary(broker.binary)
    broker._release_port()  # as if someone bound the port before the holder did
    with socket.socket() as squatter:
        squatter.bind((broker.host, broker.port))
        squatter.listen()
        taken = broker.port
        with broker:
            assert broker.port != taken
            assert mqtt_connack(broker.host, broker.port) == 0


# -- VictoriaMetrics ---------------------------------------------------------------------------


def test_victoria_metrics_stores_influx_lines_with_labels(victoria_metrics):
    ts_ms = int(time.time() * 1000) - 5000
    victoria_metrics.write_lines(f"harness_link,county=hx,school=s1 up=1i,rtt_ms=12.5 {ts_ms * 1_000_000}")

    result = victoria_metrics.query("harness_link_rtt_ms")
    assert [(r["metric"], r["value"][1]) for r in result] == [
        ({"__name__": "harness_link_rtt_ms", "county": "hx", "school": "s1"}, "12.5")
    ]
    exported = victoria_metrics.export('{__name__=~"harness_link_.*"}')
    assert sorted((r["metric"]["__name__"], r["values"], r["timestamps"]) for r in exported) == [
        ("harness_link_rtt_ms", [12.5], [ts_ms]),
        ("harness_link_up", [1], [ts_ms]),
    ]
    assert victoria_metrics.series('{school="s1"}') == [
        {"__name__": "harness_link_rtt_ms", "county": "hx", "school": "s1"},
        {"__name__": "harness_link_up", "county": "hx", "school": "s1"},
    ]


def test_victoria_metrics_keeps_points_across_restart(victoria_metrics):
    port = victoria_metrics.port
    victoria_metrics.write_lines("harness_restart,school=s2 value=42")
    victoria_metrics.flush()
    victoria_metrics.stop()
    victoria_metrics.start()
    assert victoria_metrics.port == port
    result = victoria_metrics.query("harness_restart_value")
    assert [(r["metric"]["school"], r["value"][1]) for r in result] == [("s2", "42")]


def test_victoria_metrics_keeps_duplicates_unless_dedup_is_set(victoria_metrics_factory):
    """Why the dedup parameter exists: replayed points are stored twice by default."""
    line = f"harness_dup,school=s1 value=1 {int(time.time() - 60) * 1_000_000_000}"
    for dedup_interval, expected_points in ((None, 2), ("1ms", 1)):
        vm = victoria_metrics_factory(dedup_interval=dedup_interval)
        vm.write_lines(line)
        vm.write_lines(line)
        [row] = vm.export("harness_dup_value")
        assert len(row["timestamps"]) == expected_points, (dedup_interval, row)


# -- Alertmanager ------------------------------------------------------------------------------


def test_alertmanager_accepts_an_alert_and_notifies_the_webhook(alertmanager, webhook_receiver):
    labels = {"alertname": "HarnessLinkDown", "county": "hx", "school": "s1"}
    alertmanager.post_alerts([{"labels": labels, "annotations": {"summary": "link down"}}])

    assert [a["labels"] for a in alertmanager.alerts(active=True)] == [labels]
    notification = webhook_receiver.wait_for(lambda n: n.body.get("status") == "firing")
    assert notification.path == "/"
    assert notification.body["receiver"] == "webhook"
    assert [(a["labels"], a["annotations"]) for a in notification.alerts] == [(labels, {"summary": "link down"})]


def test_alertmanager_routes_by_label_to_each_county_receiver(alertmanager_factory, webhook_receiver):
    """The pattern later tests use: one receiver URL per county, told apart by path."""
    config = f"""\
route:
  receiver: nobody
  group_by: ['...']
  group_wait: 0s
  group_interval: 1s
  routes:
    - matchers: ['county="hx"']
      receiver: hx
    - matchers: ['county="ly"']
      receiver: ly
receivers:
  - name: nobody
  - name: hx
    webhook_configs: [{{url: "{webhook_receiver.url_for("hx")}"}}]
  - name: ly
    webhook_configs: [{{url: "{webhook_receiver.url_for("ly")}"}}]
"""
    alertmanager = alertmanager_factory(config)
    alertmanager.post_alerts([{"labels": {"alertname": "HarnessLinkDown", "county": "ly", "school": "s9"}}])
    notification = webhook_receiver.wait_for(lambda n: True)
    assert notification.path == "/ly"
    assert [a["labels"]["school"] for a in notification.alerts] == ["s9"]
    time.sleep(1.0)  # would a second, wrong notification follow? It must not.
    assert [n.path for n in webhook_receiver.received] == ["/ly"]


def test_alertmanager_configs_pass_amtool(tmp_path):
    requirements.require_binary("amtool")
    for name, text in (("null", alertmanager_config()), ("hook", alertmanager_config("http://127.0.0.1:9/"))):
        path = tmp_path / f"{name}.yml"
        path.write_text(text)
        checked = check_alertmanager_config(path)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text("route:\n  receiver: missing\nreceivers: []\n")
    assert check_alertmanager_config(broken).returncode != 0


def test_alertmanager_forgets_alerts_on_restart(alertmanager):
    """Alertmanager keeps silences on disk but alerts only in memory: after a restart it
    knows of none until vmalert sends them again (vmalert resends on every evaluation)."""
    port = alertmanager.port
    alertmanager.post_alerts([{"labels": {"alertname": "HarnessLinkDown", "school": "s1"}}])
    assert len(alertmanager.alerts()) == 1
    alertmanager.restart()
    assert alertmanager.port == port
    assert alertmanager.alerts() == []


# -- vmalert ----------------------------------------------------------------------------------------

SCHOOL_DOWN_RULES = """\
groups:
  - name: harness-links
    rules:
      - alert: HarnessSchoolDown
        expr: harness_probe_up == 0
        for: 0s
        labels:
          severity: critical
        annotations:
          summary: "{{ $labels.school }} is down"
"""


def test_vmalert_fires_on_a_written_series_and_alertmanager_delivers(
    vmalert_factory, victoria_metrics, alertmanager, webhook_receiver
):
    victoria_metrics.write_lines(["harness_probe,county=hx,school=s1 up=0", "harness_probe,county=hx,school=s2 up=1"])
    victoria_metrics.flush()
    vmalert = vmalert_factory(SCHOOL_DOWN_RULES)

    notification = webhook_receiver.wait_for(lambda n: n.body.get("status") == "firing", timeout=20)
    [alert] = notification.alerts
    assert alert["labels"] == {
        "alertname": "HarnessSchoolDown",
        "alertgroup": "harness-links",
        "county": "hx",
        "school": "s1",
        "severity": "critical",
    }
    assert alert["annotations"] == {"summary": "s1 is down"}
    assert [(a["name"], a["state"], a["labels"]["school"]) for a in vmalert.alerts()] == [
        ("HarnessSchoolDown", "firing", "s1")
    ]
    [group] = vmalert.rules()
    assert [rule["name"] for rule in group["rules"]] == ["HarnessSchoolDown"]
    # persist_state: vmalert writes its alerts back to VictoriaMetrics, as deployed.
    stored = victoria_metrics.wait_for(lambda: victoria_metrics.query('ALERTS{alertstate="firing"}'))
    assert [(r["metric"]["alertname"], r["metric"]["school"]) for r in stored] == [("HarnessSchoolDown", "s1")]


def test_vmalert_fixture_runs_the_never_firing_rule_and_reloads(vmalert, tmp_path):
    [group] = vmalert.rules()
    assert [rule["name"] for rule in group["rules"]] == ["HarnessNeverFires"]
    assert vmalert.alerts() == []

    [rule_file] = vmalert.rule_files
    rule_file.write_text(SCHOOL_DOWN_RULES)
    vmalert.reload()
    vmalert.wait_for(lambda: [g["name"] for g in vmalert.rules()] == ["harness-links"])
    good, bad = tmp_path / "good.yml", tmp_path / "bad.yml"
    good.write_text(NEVER_FIRING_RULES)
    bad.write_text(NEVER_FIRING_RULES.replace("vector(1) == 0", "vector(1) ==="))
    assert check_rules([good]).returncode == 0
    assert check_rules([bad]).returncode != 0

"""Publisher(on_command=...): against a real mosquitto, the school's own cmd topic is
subscribed at QoS 1 after every connect and each command handed over once; other
schools' commands are not; a handler that fails does not stop the results going out."""

from __future__ import annotations

import threading

import paho.mqtt.publish as mqtt_publish
import pytest
from paho.mqtt.client import MQTTv5

from agent.publish import BrokerSettings, Publisher, Spool
from schoolnet_core import contract
from schoolnet_stack.county_broker import CountyBroker, Listener
from schoolnet_stack.servers import wait_until
from tests.agent.publish.driver import FIRST_TS_MS, numbered_body

pytestmark = pytest.mark.servers
COUNTY, SCHOOL, OTHER = "hx", "hx-s1", "hx-s2"


class Commands:
    """What the publisher handed over, in order; `fail_first` raises on the first one."""

    def __init__(self, fail_first: bool = False) -> None:
        self.payloads: list[bytes] = []
        self.threads: set[str] = set()
        self._fail_first = fail_first

    def __call__(self, payload: bytes) -> None:
        self.payloads.append(payload)
        self.threads.add(threading.current_thread().name)
        if self._fail_first and len(self.payloads) == 1:
            raise RuntimeError("handler broke on the first command")


@pytest.fixture
def mosquitto(mosquitto_factory):
    """The harness's mosquitto, logging subscriptions and publishes too."""
    return mosquitto_factory(extra_config="log_type all")


@pytest.fixture
def start_publisher(mosquitto, tmp_path):
    made: list[Publisher] = []

    def start(on_command, school: str = SCHOOL) -> Publisher:
        settings = BrokerSettings(host="127.0.0.1", port=mosquitto.port, tls=False, allow_plaintext=True)
        publisher = Publisher(settings, COUNTY, school, Spool(tmp_path / f"{school}.db"), reconnect_max_s=1,
                              on_command=on_command)
        made.append(publisher)
        publisher.start()
        assert publisher.wait_until_connected(10), publisher.stats().last_error
        return publisher

    yield start
    for publisher in made:
        publisher.stop(wait_s=0.5)


def send_command(port: int, school: str, payload: bytes) -> None:
    """As county IT's tool would: one QoS 1 publish on the school's cmd topic."""
    mqtt_publish.single(contract.topic(COUNTY, school, contract.COMMAND), payload, qos=1,
                        hostname="127.0.0.1", port=port, protocol=MQTTv5)


def broker_log(mosquitto) -> str:
    return mosquitto.log_path.read_text(errors="replace")


def subscriptions(mosquitto) -> int:
    """How often the broker has been asked for the school's cmd topic at QoS 1 (the log
    goes on across restarts)."""
    return broker_log(mosquitto).count(f"{contract.topic(COUNTY, SCHOOL, contract.COMMAND)} (QoS 1)")


def subscribed(mosquitto) -> bool:
    return subscriptions(mosquitto) > 0


def test_commands_on_the_schools_topic_are_handed_over_once(mosquitto, start_publisher):
    commands = Commands()
    start_publisher(commands)
    wait_until(lambda: subscribed(mosquitto), what="the cmd subscription")

    send_command(mosquitto.port, OTHER, b"for the other school")
    send_command(mosquitto.port, SCHOOL, b'{"command": "speedtest"}')

    wait_until(lambda: commands.payloads, what="the command handed over")
    assert commands.payloads == [b'{"command": "speedtest"}']
    assert commands.threads and "MainThread" not in commands.threads


def test_a_failing_handler_does_not_stop_results_or_later_commands(mosquitto, start_publisher):
    listener = Listener(CountyBroker(mosquitto, mosquitto.port), "schoolnet/v1/+/+/broadband")
    try:
        commands = Commands(fail_first=True)
        publisher = start_publisher(commands)
        wait_until(lambda: subscribed(mosquitto), what="the cmd subscription")

        send_command(mosquitto.port, SCHOOL, b"first")
        wait_until(lambda: commands.payloads, what="the first command")
        publisher.submit("broadband", numbered_body(1), FIRST_TS_MS + 1)
        send_command(mosquitto.port, SCHOOL, b"second")

        listener.wait_for(lambda messages: len(messages) == 1)
        wait_until(lambda: len(commands.payloads) == 2, what="the second command")
        assert commands.payloads == [b"first", b"second"]
    finally:
        listener.close()


def test_commands_arrive_after_the_broker_restarts_without_our_session(mosquitto, start_publisher):
    commands = Commands()
    publisher = start_publisher(commands)
    wait_until(lambda: subscriptions(mosquitto) == 1, what="the first subscription")

    mosquitto.stop()
    for saved in mosquitto.data_dir.iterdir():  # the broker forgets our session and its subscription
        saved.unlink()
    wait_until(lambda: not publisher.stats().connected, what="the publisher to notice")
    mosquitto.start()
    assert publisher.wait_until_connected(15), publisher.stats().last_error
    wait_until(lambda: subscriptions(mosquitto) == 2, what="the subscription again")
    send_command(mosquitto.port, SCHOOL, b"after the restart")

    wait_until(lambda: commands.payloads == [b"after the restart"], what="the command after the restart")


def test_without_a_handler_nothing_is_subscribed(mosquitto, start_publisher):
    start_publisher(None)
    # The subscription would go out in on_connect, before the birth message is published.
    wait_until(lambda: f"Received PUBLISH from agent-{COUNTY}-{SCHOOL}" in broker_log(mosquitto),
               what="the birth message")

    assert "Received SUBSCRIBE" not in broker_log(mosquitto)

"""TLS verification is on by default, for the agent and the collector: a broker whose
certificate comes from a CA they were not told to trust (made with the openssl CLI, as an
impostor on the county network would) or names another host is refused before a password
or a result is sent; with the county's CA both connect.

One mosquitto, three listeners: plain (the harness's health check), TLS with a certificate
for 127.0.0.1 signed by the county's CA, and TLS with a county-signed certificate for
mqtt.elsewhere.example only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pytest

from agent.publish import BrokerSettings, Publisher, Spool
from schoolnet_stack.ports import reserve_port
from schoolnet_stack.processes import write_collector_config
from schoolnet_stack.servers import Mosquitto, wait_until
from tests.security.collectors import collector_in_process
from tests.security.county import (
    Certificate,
    make_ca,
    make_server_certificate,
    tls_listener,
)

pytestmark = pytest.mark.servers

COUNTY, SCHOOL = "hx", "hx-tls-01"
AGENT_CLIENT_ID = f"agent-{COUNTY}-{SCHOOL}"


@dataclass(frozen=True)
class Authorities:
    county: Certificate
    impostor: Certificate
    for_us: Certificate  # signed by the county, for IP:127.0.0.1
    elsewhere: Certificate  # signed by the county, for DNS:mqtt.elsewhere.example


@dataclass(frozen=True)
class TlsBroker:
    server: Mosquitto
    port: int  # the certificate names 127.0.0.1
    wrong_host_port: int  # the certificate names another host

    def saw_client(self, client_id: str) -> bool:
        """True once the broker accepted a CONNECT from client_id (so it saw its credentials)."""
        return f" as {client_id} " in self.server.log_path.read_text(errors="replace")

    def connections_on(self, port: int) -> int:
        return self.server.log_path.read_text(errors="replace").count(f"on port {port}.")


@pytest.fixture(scope="module")
def authorities(tmp_path_factory) -> Authorities:
    directory = tmp_path_factory.mktemp("tls")
    county, impostor = make_ca(directory, "county"), make_ca(directory, "impostor")
    return Authorities(
        county, impostor,
        make_server_certificate(county, directory, "broker", "IP:127.0.0.1,DNS:localhost"),
        make_server_certificate(county, directory, "elsewhere", "DNS:mqtt.elsewhere.example"),
    )  # fmt: skip


@pytest.fixture
def tls_broker(mosquitto_factory, authorities) -> TlsBroker:
    port, wrong_host_port = reserve_port(), reserve_port()
    config = tls_listener(port, authorities.for_us, authorities.county) + tls_listener(
        wrong_host_port, authorities.elsewhere, authorities.county)  # fmt: skip
    return TlsBroker(mosquitto_factory(extra_config=config, extra_ports=[port, wrong_host_port]), port, wrong_host_port)


# --- the agent -----------------------------------------------------------------------------


@pytest.fixture
def agent(tmp_path):
    """agent(port, ca_file) -> a started Publisher; all stopped after the test."""
    made: list[Publisher] = []

    def start(port: int, ca_file: str | None) -> Publisher:
        # tls is left at its default: on
        settings = BrokerSettings(host="127.0.0.1", port=port, ca_file=ca_file, username="hx-agents", password="pw")
        publisher = Publisher(settings, COUNTY, SCHOOL, Spool(tmp_path / f"spool-{len(made)}.db"), reconnect_max_s=1)
        made.append(publisher)
        publisher.start()
        return publisher

    yield start
    for publisher in made:
        publisher.stop(wait_s=0.5)


def test_the_agent_with_the_county_ca_connects(tls_broker, authorities, agent):
    publisher = agent(tls_broker.port, str(authorities.county.cert))
    assert publisher.wait_until_connected(15), publisher.stats().last_error
    assert tls_broker.saw_client(AGENT_CLIENT_ID)


@pytest.mark.parametrize("trusting", ["impostor CA", "system CAs (the default)"])
def test_the_agent_refuses_a_broker_certificate_from_an_unknown_ca(tls_broker, authorities, agent, caplog, trusting):
    ca_file = str(authorities.impostor.cert) if trusting == "impostor CA" else None
    publisher = agent(tls_broker.port, ca_file)
    error = wait_until(lambda: publisher.stats().last_error, 15, what="the connection refused")
    assert "certificate" in error and "not trusted" in error and "broker.ca_file" in error, error
    wait_until(lambda: tls_broker.connections_on(tls_broker.port) >= 2, 15, what="a second attempt")
    _assert_refused_loudly(publisher, tls_broker, caplog, error)


def test_the_agent_refuses_a_broker_certificate_for_another_host(tls_broker, authorities, agent, caplog):
    publisher = agent(tls_broker.wrong_host_port, str(authorities.county.cert))
    error = wait_until(lambda: publisher.stats().last_error, 15, what="the connection refused")
    assert "mismatch" in error and "not valid for '127.0.0.1'" in error, error
    wait_until(lambda: tls_broker.connections_on(tls_broker.wrong_host_port) >= 2, 15, what="a second attempt")
    _assert_refused_loudly(publisher, tls_broker, caplog, error)


def _assert_refused_loudly(publisher: Publisher, tls_broker: TlsBroker, caplog, error: str) -> None:
    """Never connected, nothing sent, and the reason in a WARNING line a county engineer reads."""
    assert not publisher.stats().connected
    assert not tls_broker.saw_client(AGENT_CLIENT_ID), "the broker got our CONNECT (and password)"
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and error in r.getMessage()]
    assert warnings, "no WARNING line says why the agent cannot connect"


# --- the collector ---------------------------------------------------------------------------


def collector_config(tmp_path, port: int, ca_file: str | None, client_id: str):
    broker = {"url": f"mqtts://127.0.0.1:{port}", "allow_plaintext": False}
    if ca_file:
        broker["ca_file"] = ca_file
    return write_collector_config(tmp_path, port, "http://127.0.0.1:9", client_id, broker=broker)


def test_the_collector_with_the_county_ca_connects_and_subscribes(tls_broker, authorities, tmp_path):
    config = collector_config(tmp_path, tls_broker.port, str(authorities.county.cert), "tls-collector")
    with collector_in_process(config) as metrics:
        wait_until(lambda: metrics.snapshot().subscribed, 15, what="the collector subscribed")
    assert tls_broker.saw_client("tls-collector")


COLLECTOR_REFUSALS = {
    "impostor CA": ("port", "impostor"),
    "system CAs (the default)": ("port", None),
    "certificate for another host": ("wrong_host_port", "county"),
}


@pytest.mark.parametrize("case", sorted(COLLECTOR_REFUSALS))
def test_the_collector_refuses_an_untrusted_broker(tls_broker, authorities, tmp_path, caplog, case):
    caplog.set_level(logging.INFO)
    port_name, ca = COLLECTOR_REFUSALS[case]
    port = getattr(tls_broker, port_name)
    config = collector_config(tmp_path, port, ca and str(getattr(authorities, ca).cert), "tls-collector")
    with collector_in_process(config) as metrics:
        wait_until(lambda: _failures(caplog), 15, what="a failed connection attempt")
        assert not metrics.snapshot().broker_connected
    assert tls_broker.connections_on(port) >= 1, "the collector never reached the broker: a wrong port?"
    assert not tls_broker.saw_client("tls-collector"), "the broker got the collector's CONNECT"


def _failures(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "broker" in r.getMessage()]


def test_the_collector_says_why_it_refuses_an_untrusted_broker(tls_broker, authorities, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    config = collector_config(tmp_path, tls_broker.port, str(authorities.impostor.cert), "tls-collector")
    with collector_in_process(config):
        wait_until(lambda: _failures(caplog), 15, what="a failed connection attempt")
    assert any("certificate" in line and "ca_file" in line for line in _failures(caplog)), _failures(caplog)

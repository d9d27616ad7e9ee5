"""The county's broker as the publisher's tests need it, on the stack's real mosquitto:
passwords, a per-user ACL, optionally a TLS listener; and a listener client on the
county side.

The stack's Mosquitto (persistence on, restartable on the same port and data dir) takes
our settings as `extra_config`; the pieces here write the files those settings name.
"""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent.publish import BrokerSettings
from schoolnet_stack.ports import reserve_port
from schoolnet_stack.servers import Mosquitto

COUNTY = "hx"
AGENT_USER, AGENT_PASSWORD = "hx-agents", "pw-Zq8#agent-secret"
LISTENER_USER, LISTENER_PASSWORD = "county-listener", "pw-Lk3#listener-secret"

# The agents may publish results and their status, but not speed tests: that gives us a
# PUBACK "not authorized" (0x87) to test with.
ACL = f"""\
user {AGENT_USER}
topic write schoolnet/v1/{COUNTY}/+/broadband
topic write schoolnet/v1/{COUNTY}/+/health
topic readwrite schoolnet/v1/{COUNTY}/+/status

user {LISTENER_USER}
topic read schoolnet/#
"""

BOUNDED_QUEUES = "max_queued_messages 1000000\n"
"""Overrides the stack's Mosquitto's max_queued_messages 0 ("unlimited"): with 0, mosquitto 2.0.11
also drops a client after refusing its publish (it compares its queue length with 0 and
answers "quota exceeded"). One test keeps the stack's 0 on purpose to meet that."""


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


@dataclass(frozen=True)
class CountyBroker:
    """A running harness Mosquitto and where agents connect to it."""

    server: Mosquitto
    port: int  # the TLS listener's port when tls is set, else the plain one
    tls: TlsFiles | None = None

    def log_text(self) -> str:
        return self.server.log_path.read_text(errors="replace")

    def connections_of(self, client_id: str) -> int:
        return self.log_text().count(f" as {client_id} ")


def county_config(directory: Path, tls: TlsFiles | None = None, tls_port: int | None = None,
                  queues: str = BOUNDED_QUEUES) -> str:
    """mosquitto settings for the county: passwords and ACL, and a TLS listener if asked."""
    directory.mkdir(parents=True, exist_ok=True)
    passwords, acl = directory / "passwd", directory / "acl"
    passwords.write_text("")
    for user, password in ((AGENT_USER, AGENT_PASSWORD), (LISTENER_USER, LISTENER_PASSWORD)):
        subprocess.run(["mosquitto_passwd", "-b", str(passwords), user, password],
                       check=True, capture_output=True, timeout=30)
    acl.write_text(ACL)
    lines = [f"password_file {passwords}", f"acl_file {acl}", "log_type all", queues]
    if tls:
        lines += [f"listener {tls_port} 127.0.0.1", f"cafile {tls.ca}", f"certfile {tls.cert}",
                  f"keyfile {tls.key}"]
    return "\n".join(lines) + "\n"


def start_county_broker(mosquitto_factory, directory: Path, tls: TlsFiles | None = None,
                        queues: str = BOUNDED_QUEUES) -> CountyBroker:
    tls_port = reserve_port() if tls else None
    server = mosquitto_factory(extra_config=county_config(directory, tls, tls_port, queues),
                               allow_anonymous=False, extra_ports=[tls_port] if tls_port else [])
    return CountyBroker(server, tls_port or server.port, tls)


def make_tls_files(directory: Path, name: str) -> TlsFiles:
    """A CA and a server certificate for 127.0.0.1/localhost, made with the openssl CLI."""
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = directory / f"{name}-ca.pem", directory / f"{name}-ca.key"
    cert, key = directory / f"{name}-server.pem", directory / f"{name}-server.key"
    csr, ext = directory / f"{name}-server.csr", directory / f"{name}-server.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nkeyUsage=critical,digitalSignature\n"
                   "extendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\n")
    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *new_key, "-keyout", ca_key, "-out", ca, "-days", "2",
             "-subj", f"/CN=schoolnet test CA {name}", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    _openssl("req", *new_key, "-keyout", key, "-out", csr, "-subj", "/CN=localhost")
    _openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
             "-out", cert, "-days", "2", "-extfile", ext)
    return TlsFiles(ca, cert, key)


def _openssl(*args: object) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=30)


def agent_settings(broker: CountyBroker, **changes) -> BrokerSettings:
    """How a test agent reaches `broker`: plaintext on loopback unless changed."""
    settings = {"host": "127.0.0.1", "port": broker.port, "tls": False, "allow_plaintext": True,
                "username": AGENT_USER, "password": AGENT_PASSWORD}
    settings.update(changes)
    return BrokerSettings(**settings)


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool


class Listener:
    """The county side: a subscriber with a persistent session, so messages published while
    it reconnects after a broker restart wait for it at the broker."""

    def __init__(self, broker: CountyBroker, topic_filter: str, client_id: str = "test-listener"):
        self.messages: list[Received] = []
        self._changed = threading.Condition()
        self._filter = topic_filter
        self._subscribed = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                   protocol=mqtt.MQTTv5)
        self._client.username_pw_set(LISTENER_USER, LISTENER_PASSWORD)
        if broker.tls:
            self._client.tls_set(ca_certs=str(broker.tls.ca))
        self._client.reconnect_delay_set(0.1, 0.5)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = self._on_message
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 3600
        self._client.connect("127.0.0.1", broker.port, clean_start=False, properties=properties)
        self._client.loop_start()
        assert self._subscribed.wait(10), "the listener got no SUBACK"

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        client.subscribe(self._filter, qos=1)

    def _on_message(self, client, userdata, message) -> None:
        with self._changed:
            self.messages.append(Received(message.topic, bytes(message.payload), bool(message.retain)))
            self._changed.notify_all()

    def wait_for(self, predicate, timeout_s: float = 10.0) -> list[Received]:
        """Waits until predicate(messages so far) holds; returns a copy of the messages."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while not predicate(self.messages):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out after {timeout_s} s with {len(self.messages)} messages")
                self._changed.wait(remaining)
            return list(self.messages)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

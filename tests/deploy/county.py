"""The county's broker exactly as deployed, for tests.

deploy/central/mosquitto/mosquitto.conf runs with only its ports and file paths swapped for
temporary ones (schoolnet_stack.deploy_files.mosquitto_conf, which refuses to run if one of
them is no longer in the file, so the test never quietly drifts from what counties
deploy); deploy/central/make-certs.sh makes its CA and certificate,
deploy/central/credentials.py its accounts (the dynamic security plugin's state file).
Peer is an MQTT v5 client that records what the broker answered, for the tests to assert on.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from schoolnet_stack.deploy_files import MOSQUITTO_CONFIG, mosquitto_conf
from schoolnet_stack.ports import reserve_port
from schoolnet_stack.servers import LOOPBACK, Server

REPO = Path(__file__).resolve().parents[2]
CENTRAL = REPO / "deploy" / "central"
DEPLOY_CONF = MOSQUITTO_CONFIG
MAKE_CERTS = CENTRAL / "make-certs.sh"
CREDENTIALS = CENTRAL / "credentials.py"
WAIT_S = 10.0

SCHOOLS = {"hx-a": "hx", "hx-b": "hx", "yy-a": "yy"}
"""The county's accounts in these tests: school id -> county id."""
COLLECTORS = ("schoolnet-collector-1", "schoolnet-collector-2")
"""Each collector its own account, whose user name is also its only client id."""


@dataclass(frozen=True)
class County:
    """One county's broker files, as make-certs.sh and credentials.py leave them."""

    directory: Path

    @property
    def tls(self) -> Path:
        return self.directory / "tls"

    @property
    def ca(self) -> Path:
        return self.tls / "ca.pem"

    @property
    def dynsec(self) -> Path:
        return self.directory / "dynamic-security.json"

    @property
    def secrets(self) -> Path:
        return self.directory / "secrets"

    def password(self, username: str) -> str:
        return (self.secrets / f"{username}.password").read_text().strip()

    def credentials(self, *argv: str, broker_port: int | None = None) -> subprocess.CompletedProcess:
        """Runs credentials.py on this county's files: --offline unless the running broker's
        loopback port is given."""
        options = ["--dynsec", str(self.dynsec), "--secrets-dir", str(self.secrets),
                   "--broker-group", str(os.getgid())]
        options += ["--broker", f"{LOOPBACK}:{broker_port}"] if broker_port else ["--offline"]
        return subprocess.run([sys.executable, str(CREDENTIALS), *argv, *options],
                              capture_output=True, text=True, timeout=60, check=False)


def make_county(directory: Path) -> County:
    """CA and server certificate for 127.0.0.1, two collectors, three schools, hx's operator."""
    county = County(directory)
    subprocess.run(["sh", str(MAKE_CERTS), str(county.tls), "localhost", LOOPBACK], check=True,
                   capture_output=True, timeout=60, env={**os.environ, "BROKER_GROUP": str(os.getgid())})
    accounts = [["collector", name] for name in COLLECTORS] + [["operator", "hx"]]
    accounts += [["school", county_id, school] for school, county_id in SCHOOLS.items()]
    for argv in accounts:
        done = county.credentials(*argv)
        assert done.returncode == 0, done.stderr
    return county


class DeployedMosquitto(Server):
    """mosquitto running deploy/central/mosquitto/mosquitto.conf. `port` is the loopback
    plaintext listener (health checks use it), `tls_port` the schools' TLS listener."""

    name = "mosquitto"
    binary = "/usr/sbin/mosquitto"

    def __init__(self, county: County, workdir: str | Path | None = None) -> None:
        self.tls_port = reserve_port()
        super().__init__(workdir, extra_ports=[self.tls_port])
        self.county = county
        self.config_path = self.dir / "mosquitto.conf"
        self.pid_file = self.dir / "mosquitto.pid"
        self.data_dir = self.dir / "data"

    def config_text(self) -> str:
        return mosquitto_conf(LOOPBACK, self.port, self.tls_port, self.dir, self.county.dynsec, self.county.tls)

    def write_config(self) -> None:
        self.data_dir.mkdir(exist_ok=True)
        self.config_path.write_text(self.config_text())

    def command(self) -> list[str]:
        return [self.binary, "-c", str(self.config_path)]

    def is_healthy(self) -> bool:
        return connack_over_plain_tcp(self.port) is not None


MINIMAL_CONNECT = bytes([0x10, 18, 0, 4]) + b"MQTT" + bytes([5, 0x02, 0, 30, 0, 0, 5]) + b"probe"
"""An MQTT v5 CONNECT: protocol "MQTT" v5, clean start, keepalive 30, no properties, client
id "probe", no user name. Any broker answers it with a CONNACK (0x20 ...), refusing or not."""


def connack_over_plain_tcp(port: int, timeout: float = 2.0) -> bytes | None:
    """The first bytes the broker answers to MINIMAL_CONNECT sent without TLS, or None when
    it closes the connection, resets it or answers something that is not a CONNACK."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
            sock.sendall(MINIMAL_CONNECT)
            answer = sock.recv(64)
    except OSError:
        return None
    return answer if answer.startswith(b"\x20") else None


def stored_samples(store, school: str, metric: str = "schoolnet_broadband_up") -> list[float]:
    """Every sample of one school's series in the store, as exported."""
    exported = store.export(f'{metric}{{school="{school}"}}')
    return [value for series in exported for value in series["values"]]


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool


class Peer:
    """One MQTT v5 client over TLS (or plaintext when ca is None) that waits for, and keeps,
    the broker's answers: CONNACK, PUBACK and SUBACK reason codes, messages, disconnects."""

    def __init__(self, port: int, username: str | None, password: str | None, *, ca: Path | None,
                 client_id: str, session_expiry_s: int | None = None) -> None:
        self.port = port
        self.messages: list[Received] = []
        self.disconnects: list[int] = []
        self.receive_maximum: int | None = None  # the broker's, from CONNACK
        self.session_present: bool | None = None  # CONNACK's flag: the broker kept a session
        self._answers: dict[str, dict[int, object]] = {"puback": {}, "suback": {}}
        self._connack: list[int] = []
        self._changed = threading.Condition()
        self._session_expiry_s = session_expiry_s
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if username is not None:
            self.client.username_pw_set(username, password)
        if ca is not None:
            self.client.tls_set(ca_certs=str(ca))
        self.client.on_connect = self._on_connect
        self.client.on_publish = lambda _c, _u, mid, code, _p: self._record("puback", mid, code.value)
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect
        self.client.reconnect_delay_set(0.1, 1)  # close() waits for paho's reconnect pause

    def connect(self) -> int:
        """CONNACK's reason code (0 = accepted)."""
        properties = Properties(PacketTypes.CONNECT)
        if self._session_expiry_s is not None:
            properties.SessionExpiryInterval = self._session_expiry_s
        self.client.connect(LOOPBACK, self.port, keepalive=30, properties=properties,
                            clean_start=self._session_expiry_s is None)
        self.client.loop_start()
        return self._wait(lambda: self._connack[0] if self._connack else None, "CONNACK")

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> int:
        """PUBACK's reason code: 0 accepted, 0x10 accepted with no subscriber, 0x87 refused."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        return self._wait(lambda: self._answers["puback"].get(info.mid), f"PUBACK for {topic}")

    def publish_all(self, topic: str, payloads: list[bytes]) -> list[int]:
        """Publishes them all at once, then waits for every PUBACK; their reason codes."""
        mids = [self.client.publish(topic, payload, qos=1).mid for payload in payloads]
        pubacks = self._answers["puback"]
        return self._wait(lambda: [pubacks[mid] for mid in mids] if all(mid in pubacks for mid in mids) else None,
                          f"{len(mids)} PUBACKs")

    def subscribe(self, topic_filter: str) -> list[int]:
        """SUBACK's reason codes, one per filter (1 = granted QoS 1)."""
        _, mid = self.client.subscribe(topic_filter, qos=1)
        return self._wait(lambda: self._answers["suback"].get(mid), f"SUBACK for {topic_filter}")

    def wait_for_messages(self, count: int) -> list[Received]:
        """The first `count` messages, once that many have arrived."""
        return self._wait(lambda: list(self.messages) if len(self.messages) >= count else None,
                          f"{count} messages")

    def wait_for_disconnect(self) -> int:
        """The reason code of the first disconnect (the broker's, or paho's own)."""
        return self._wait(lambda: self.disconnects[0] if self.disconnects else None, "a disconnect")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _wait(self, answer, what: str):
        deadline = time.monotonic() + WAIT_S
        with self._changed:
            while (value := answer()) is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no {what} within {WAIT_S:g} s (disconnects: {self.disconnects}, "
                                         f"{len(self.messages)} messages so far)")
                self._changed.wait(remaining)
            return value

    def _record(self, kind: str, mid: int, value: object) -> None:
        with self._changed:
            self._answers[kind][mid] = value
            self._changed.notify_all()

    def _on_connect(self, _client, _userdata, flags, reason_code, properties) -> None:
        with self._changed:
            self.receive_maximum = getattr(properties, "ReceiveMaximum", None)
            self.session_present = bool(flags.session_present)
            self._connack.append(reason_code.value)
            self._changed.notify_all()

    def _on_subscribe(self, _client, _userdata, mid, reason_codes, _properties) -> None:
        self._record("suback", mid, [code.value for code in reason_codes])

    def _on_message(self, _client, _userdata, message) -> None:
        with self._changed:
            self.messages.append(Received(message.topic, bytes(message.payload), bool(message.retain)))
            self._changed.notify_all()

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _properties) -> None:
        with self._changed:
            self.disconnects.append(reason_code.value)
            self._changed.notify_all()

"""Retiring a school: its account leaves the broker and its retained status is cleared.

The broker keeps each school's last status message (retained); a school switched off for
good keeps `online=false` and AgentOffline pages for it for 31 days (deploy/README-alerts.md,
"A school that leaves the network"). The status is cleared with the school's own account,
so this runs while the broker still knows it: `apply --broker URL` does it before the new
broker files are written. Without --broker, apply says what to run by hand.
"""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from schoolnet_core import contract

WAIT_S = 10.0


@dataclass(frozen=True)
class RetiredSchool:
    county: str
    school: str
    user: str
    name: str

    @property
    def status_topic(self) -> str:
        return contract.topic(self.county, self.school, contract.STATUS)


def clear_status(school: RetiredSchool, password_file: Path, broker_url: str, ca_file: str | None) -> str | None:
    """Publishes an empty retained message on the school's status topic; None when the
    broker acknowledged it, else what went wrong (never the password)."""
    parts = urlsplit(broker_url)
    tls = parts.scheme == "mqtts"
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"schoolnet-fleet-retire-{school.school}",
                         protocol=mqtt.MQTTv5)
    client.username_pw_set(school.user, password_file.read_text().strip())
    if tls:
        client.tls_set(ca_certs=ca_file, cert_reqs=ssl.CERT_REQUIRED)
    done, outcome = threading.Event(), {}

    def on_connect(_client, _userdata, _flags, reason_code, _properties) -> None:
        if reason_code.is_failure:
            outcome["error"] = f"broker refused {school.user}: {reason_code}"
            done.set()
            return
        client.publish(school.status_topic, b"", qos=1, retain=True)

    def on_publish(_client, _userdata, _mid, reason_code, _properties) -> None:
        if reason_code.is_failure:
            outcome["error"] = f"broker refused the clear: {reason_code}"
        done.set()

    client.on_connect, client.on_publish = on_connect, on_publish
    try:
        client.connect(parts.hostname, parts.port or (8883 if tls else 1883), keepalive=30)
    except OSError as error:
        return f"cannot reach {parts.hostname}:{parts.port}: {error.strerror or error}"
    client.loop_start()
    try:
        if not done.wait(WAIT_S):
            return f"no answer from the broker within {WAIT_S:g} s"
        return outcome.get("error")
    finally:
        client.disconnect()
        client.loop_stop()


def by_hand(school: RetiredSchool, password_file: Path) -> str:
    """The command county IT runs on the broker host, the password read from its file."""
    return (f"mosquitto_pub -h 127.0.0.1 -p 1883 -V mqttv5 -u {school.user} -P \"$(cat {password_file})\" "
            f"-r -n -q 1 -t {school.status_topic}")

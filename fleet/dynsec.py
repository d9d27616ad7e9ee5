"""A running broker's accounts, changed through its dynamic security plugin as the admin.

deploy/central/credentials.py and schoolnet-fleet both change a running mosquitto this way
(fleet/broker.py defines the records and rules; this module only sends them): the broker
applies a change at once and saves its own state file, so nothing is reloaded and nobody
else is disconnected. A rotated or retired account must also lose its parked (persistent,
offline) sessions, which the plugin leaves in place (measured on 2.0.11): the admin, whose
account is bound to no client id, takes the account's client id with a clean start, and the
broker throws the old session and its queue away.

paho is imported only when a broker is contacted: credentials.py --offline needs none.
"""

from __future__ import annotations

import json
import ssl
import threading
from typing import Self
from urllib.parse import urlsplit

from fleet import broker as rules
from fleet.broker import ADMIN_USER, BrokerAccount

WAIT_S = 10.0
NOT_THERE = ("Client not found", "Role not found")
"""Answers that mean "already gone" when retiring: a retire that is run again succeeds."""


class Refused(Exception):
    """A change the broker did not take; the message says why and what to do (never a password)."""


def address(url: str) -> tuple[str, int, bool]:
    """(host, port, tls) from mqtt://HOST:PORT, mqtts://HOST:PORT or plain HOST:PORT."""
    if "://" not in url:
        url = "mqtt://" + url
    parts = urlsplit(url)
    tls = parts.scheme == "mqtts"
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise Refused(f"{url!r} is not a broker address: use mqtt://127.0.0.1:1883 or mqtts://HOST:8883")
    return parts.hostname, parts.port or (8883 if tls else 1883), tls


class Admin:
    """The admin account's MQTT session: plugin commands and their answers, and ending a
    client id's parked session. `url` is the loopback listener (mqtt://127.0.0.1:1883) or
    the TLS one (mqtts://HOST:8883 with `ca`)."""

    def __init__(self, url: str, password: str, ca: str | None = None) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self._mqtt, self._version = mqtt, CallbackAPIVersion.VERSION2
        self.host, self.port, self.tls = address(url)
        self.password, self.ca = password, ca
        self._answers: list[dict] = []
        self._changed = threading.Condition()
        self.client = self._connect(ADMIN_USER + "-tool", clean_start=True, subscribe=True)

    def _connect(self, client_id: str, *, clean_start: bool, subscribe: bool = False):
        client = self._mqtt.Client(self._version, client_id=client_id, protocol=self._mqtt.MQTTv5)
        client.username_pw_set(ADMIN_USER, self.password)
        if self.tls:
            client.tls_set(ca_certs=self.ca, cert_reqs=ssl.CERT_REQUIRED)
        connected: list[int] = []
        subscribed: list[int] = []
        self._published: dict[int, int] = {}

        def on_connect(_c, _u, _f, code, _p):
            with self._changed:
                connected.append(code.value)
                self._changed.notify_all()

        def on_subscribe(_c, _u, _mid, codes, _p):
            with self._changed:
                subscribed.append(codes[0].value)
                self._changed.notify_all()

        def on_publish(_c, _u, mid, code, _p):
            with self._changed:
                self._published[mid] = code.value
                self._changed.notify_all()

        client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, self._on_message
        client.on_publish = on_publish
        try:
            client.connect(self.host, self.port, keepalive=30, clean_start=clean_start)
        except OSError as error:
            raise Refused(f"mosquitto 未运行 / the broker at {self.host}:{self.port} does not answer ({error}); "
                          "start it, or stop it for good and write its state file offline") from None
        client.loop_start()
        self._wait(lambda: connected or None, "CONNACK")
        if connected[0] != 0:
            client.loop_stop()
            raise Refused(f"the broker refused {ADMIN_USER} (CONNACK {connected[0]:#x}): is the plugin "
                          "loaded (mosquitto.conf) and the admin's password file the current one?")
        if subscribe:
            client.subscribe(rules.CONTROL_TOPIC + "/response", qos=1)
            self._wait(lambda: subscribed or None, "SUBACK")
        return client

    def _on_message(self, _c, _u, message) -> None:
        with self._changed:
            self._answers.append(json.loads(message.payload))
            self._changed.notify_all()

    def _wait(self, ready, what: str):
        with self._changed:
            if not self._changed.wait_for(ready, WAIT_S):
                raise Refused(f"the broker sent no {what} within {WAIT_S:g} s")
            return ready()

    def run(self, commands: list[dict], ignorable: tuple[str, ...] = ()) -> list[dict]:
        """Sends the commands in one message; refuses on an answer with an unexpected error."""
        before = len(self._answers)
        self.client.publish(rules.CONTROL_TOPIC, json.dumps({"commands": commands}), qos=1)
        answer = self._wait(lambda: self._answers[before] if len(self._answers) > before else None,
                            "answer from the dynamic security plugin")
        responses = answer.get("responses", [])
        failed = [r for r in responses if r.get("error") and r["error"] not in ignorable]
        if failed:
            raise Refused("; ".join(f"{r['command']}: {r['error']}" for r in failed))
        return responses

    def clear_retained(self, topic: str) -> None:
        """An empty retained message on `topic`: the broker forgets the one it kept."""
        mid = self.client.publish(topic, b"", qos=1, retain=True).mid
        code = self._wait(lambda: self._published.get(mid), f"PUBACK for {topic}")
        if code not in (0x00, 0x10):  # 0x10: accepted, nobody subscribed
            raise Refused(f"the broker refused to clear {topic} (PUBACK {code:#x}): refresh the admin's role "
                          "(schoolnet-fleet broker does it) or clear it by hand")

    def end_session(self, client_id: str) -> None:
        """Takes the client id with a clean start and no session expiry: the broker throws
        the old session away (subscriptions, queued messages), connected or parked."""
        client = self._connect(client_id, clean_start=True)
        client.disconnect()
        client.loop_stop()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()


def refresh_role(admin: Admin, account: BrokerAccount) -> None:
    """The account's role made, or completed with a grant a new contract kind needs."""
    admin.run(rules.control_commands(account)[:-1], rules.IGNORABLE)


def add(admin: Admin, account: BrokerAccount, exists_ok: bool = False) -> None:
    """The account's role (made or completed) and the account; with exists_ok, an account
    already there (e.g. from a state file installed offline) is left as it is."""
    refresh_role(admin, account)
    admin.run(rules.control_commands(account)[-1:], ("Client already exists",) if exists_ok else ())


def rotate(admin: Admin, account: BrokerAccount) -> str | None:
    """A new password (the plugin disconnects the account), its role refreshed, its parked
    sessions ended; the client id whose sessions ended."""
    refresh_role(admin, account)
    admin.run([{"command": "setClientPassword", "username": account.username, "password": account.password}])
    return end_sessions(admin, account)


def put(admin: Admin, account: BrokerAccount) -> str | None:
    """The account as it should be, whether or not the broker has it: made, or its client
    id, roles and password set and its sessions ended; the client id whose sessions ended
    (None when it was made)."""
    refresh_role(admin, account)
    create = rules.control_commands(account)[-1]
    [answer] = admin.run([create], ("Client already exists",))
    if not answer.get("error"):
        return None
    modify = {key: create[key] for key in ("username", "textname", "roles", "clientid") if key in create}
    admin.run([{"command": "modifyClient", **modify},
               {"command": "setClientPassword", "username": account.username, "password": account.password}])
    return end_sessions(admin, account)


def retire(admin: Admin, account: BrokerAccount, gone_ok: bool = False) -> str | None:
    """Deletes the account (the plugin disconnects it), its own role (a school's or an
    operator's), and its parked sessions; the client id whose sessions ended."""
    ignorable = NOT_THERE if gone_ok else ()
    admin.run([{"command": "deleteClient", "username": account.username}], ignorable)
    if account.role in ("school", "operator"):
        admin.run([{"command": "deleteRole", "rolename": rules.role_name(account)}], NOT_THERE)
    return end_sessions(admin, account)


def end_sessions(admin: Admin, account: BrokerAccount) -> str | None:
    bound = rules.client_id(account)
    if bound is not None:
        admin.end_session(bound)
    return bound

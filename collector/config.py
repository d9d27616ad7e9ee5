"""The collector's configuration: one YAML file, read into frozen values.

It is read with the shared loader (schoolnet_core.config), so a county engineer gets the same
`FILE:LINE: KEY.PATH: what is wrong` reports, every mistake at once, as a school's IT
teacher does. Secrets (the broker password, the store token) are only referenced here
and read when connecting. collector/example-config.yaml documents every key.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml

# The YAML walker and its value parsers are schoolnet_core's, shared with the agent, so a
# county engineer gets the same reports as a school's IT teacher.
from schoolnet_core.config import (  # noqa: F401 - re-exported for callers of load_config
    ConfigError,
    ConfigProblem,
    Invalid,
    Secret,
    SecretRef,
    Section,
    Walk,
    load_yaml,
    read_secret,
)
from schoolnet_core.config.parsers import (
    boolean,
    broker_url,
    env_name,
    file_path,
    integer,
    number,
    shown_url,
)
from schoolnet_core.kinds import MeasurementKind, read_kinds

EXAMPLE_CONFIG = Path(__file__).with_name("example-config.yaml")
DEFAULT_STORE_URL = "http://127.0.0.1:8428"
DEFAULT_LISTEN = "127.0.0.1:9471"
MAX_RECEIVE_MAXIMUM = 65535  # MQTT's limit on unacknowledged messages per connection


@dataclass(frozen=True)
class Broker:
    url: str
    host: str
    port: int
    tls: bool
    ca_file: str | None
    cert_file: str | None
    key_file: str | None
    username: str | None
    password: SecretRef | None
    client_id: str
    group: str
    keepalive_s: int
    session_expiry_s: int
    allow_plaintext: bool


@dataclass(frozen=True)
class Store:
    url: str
    org: str
    bucket: str
    token: SecretRef | None
    timeout_s: float
    retry_max_s: float


@dataclass(frozen=True)
class Batch:
    max_points: int
    max_messages: int
    max_wait_s: float


@dataclass(frozen=True)
class DeadLetter:
    path: str
    max_bytes: int
    backups: int


@dataclass(frozen=True)
class Presence:
    silent_after_s: int
    report_every_s: int


@dataclass(frozen=True)
class Http:
    host: str
    port: int


@dataclass(frozen=True)
class CollectorConfig:
    source: str
    broker: Broker
    store: Store
    batch: Batch
    deadletter: DeadLetter
    presence: Presence
    http: Http
    kinds: tuple[MeasurementKind, ...] = ()
    """Extra measurement kinds (schoolnet_core.kinds), loaded when the config is read."""

    def secret_refs(self) -> tuple[SecretRef, ...]:
        """Every secret the collector needs, so `check` can read them all up front."""
        return tuple(ref for ref in (self.broker.password, self.store.token) if ref)


INSTANCE = "{instance}"
"""Stands for the instance number in a config shared by the collectors of one server
(deploy/central/collector@.yaml, schoolnet-collector@.service): each needs its own account,
client id, dead-letter file and /metrics port, and nothing else differs."""
MAX_INSTANCE = 9


def load_config(path: str | os.PathLike, instance: int | None = None) -> CollectorConfig:
    """Read and check the collector's YAML file; raise ConfigError listing every problem.
    With `instance`, every {instance} in the file's values becomes that number first."""
    return load_yaml(path, lambda walk, root: _read_instance(walk, root, instance), example=EXAMPLE_CONFIG)


def _read_instance(walk: Walk, root: yaml.Node, instance: int | None) -> CollectorConfig:
    placeholders = _fill_instance(root, instance)
    if placeholders and instance is None:
        walk.problem(placeholders[0].start_mark.line + 1, "instance",
                     f"this file is shared by the collectors of one server ({INSTANCE}); "
                     f"run it with --instance N (1-{MAX_INSTANCE})")  # fmt: skip
    return _read_config(walk, root)


def _fill_instance(node: yaml.Node, instance: int | None) -> list[yaml.Node]:
    """Replaces {instance} in every scalar under `node`; returns the scalars that had it."""
    if node is None:
        return []
    if isinstance(node, yaml.ScalarNode):
        if INSTANCE not in str(node.value):
            return []
        if instance is not None:
            node.value = node.value.replace(INSTANCE, str(instance))
        return [node]
    children = node.value if isinstance(node.value, list) else []
    found = []
    for child in children:
        for part in child if isinstance(child, tuple) else (child,):
            found += _fill_instance(part, instance)
    return found


_SECTIONS = ("broker", "store", "batch", "deadletter", "presence", "http", "kinds")


def _read_config(walk: Walk, root: yaml.Node) -> CollectorConfig:
    kinds = read_kinds(walk, root)  # registers their contract kinds: all the collector needs
    top = walk.mapping(root, "", _SECTIONS)
    return CollectorConfig(
        source=walk.file,
        broker=top.section("broker", _read_broker, required=True),
        store=top.section("store", _read_store),
        batch=top.section("batch", _read_batch),
        deadletter=top.section("deadletter", _read_deadletter),
        presence=top.section("presence", _read_presence),
        http=top.section("http", _read_http),
        kinds=kinds,
    )


_BROKER_KEYS = (
    "url", "ca_file", "cert_file", "key_file", "username", "password_file", "password_env",
    "client_id", "group", "keepalive_s", "session_expiry_s", "allow_plaintext",
)  # fmt: skip
_NO_PASSWORD = {"password": "do not put secrets in the config; use password_file or password_env"}


def _read_broker(walk: Walk, node: yaml.Node | None, path: str) -> Broker:
    m = walk.mapping(node, path, _BROKER_KEYS, refused=_NO_PASSWORD)
    url, scheme, host, port = m.value("url", broker_url) or (None, None, None, None)
    tls = scheme == "mqtts"
    allow_plaintext = m.value("allow_plaintext", boolean, False)
    if scheme == "mqtt" and not allow_plaintext:
        m.problem("url", "mqtt:// sends the password and every school's data unencrypted; use "
                         "mqtts://, or set allow_plaintext: true if the network path is trusted")
    for key in ("ca_file", "cert_file", "key_file"):
        m.only_with(key, tls or scheme is None, "with an mqtts:// (TLS) url")
    m.together(("cert_file", "key_file"), "a client certificate needs its private key")
    in_dir = file_path(walk.base_dir)
    return Broker(
        url=url, host=host, port=port, tls=tls,
        ca_file=m.value("ca_file", in_dir, None),
        cert_file=m.value("cert_file", in_dir, None),
        key_file=m.value("key_file", in_dir, None),
        username=m.value("username", _mqtt_name("username"), None),
        password=_secret(m, "password", needs="username"),
        client_id=m.value("client_id", _mqtt_name("client_id"), default_client_id()),
        group=m.value("group", _mqtt_name("group"), "schoolnet-collectors"),
        keepalive_s=m.value("keepalive_s", integer(5, 3600), 30),
        session_expiry_s=m.value("session_expiry_s", integer(60, 2**32 - 2), 7 * 86400),
        allow_plaintext=allow_plaintext,
    )  # fmt: skip


def default_client_id() -> str:
    """Fixed per machine, so a restarted collector finds its broker session again."""
    host = re.sub(r"[^A-Za-z0-9_.-]+", "-", socket.gethostname()).strip("-") or "host"
    return f"schoolnet-collector-{host}"[:64]


_MQTT_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def _mqtt_name(what: str):
    def parse(node: yaml.ScalarNode) -> str:
        text = node.value.strip()
        if not _MQTT_NAME.fullmatch(text):
            raise Invalid(f"{text!r} is not a valid {what}: use 1-64 characters of A-Z a-z 0-9 _ . -")
        return text
    return parse


def _secret(m: Section, name: str, needs: str | None = None) -> SecretRef | None:
    """<name>_file or <name>_env: where the secret is, never the secret itself."""
    file_key, env_key = f"{name}_file", f"{name}_env"
    m.one_of((file_key, env_key), False, "")
    file = m.value(file_key, file_path(m.walk.base_dir), None)
    env = m.value(env_key, env_name, None)
    if needs and m.has(needs) and file is None and env is None:
        m.problem(needs, f"{needs!r} also needs {file_key} or {env_key}")
    if needs and not m.has(needs) and (file or env):
        m.problem(file_key if file else env_key, f"a {name} needs a {needs}; add {needs}")
    if file is None and env is None:
        return None
    key = file_key if file is not None else env_key
    return SecretRef(m.child(key), file=file, env=None if file else env,
                     config_file=m.walk.file, line=m.line_of(key))  # fmt: skip


_STORE_KEYS = ("url", "org", "bucket", "token_file", "token_env", "timeout_s", "retry_max_s")
_NO_TOKEN = {"token": "do not put secrets in the config; use token_file or token_env"}


def _read_store(walk: Walk, node: yaml.Node | None, path: str) -> Store:
    m = walk.mapping(node, path, _STORE_KEYS, refused=_NO_TOKEN)
    return Store(
        url=m.value("url", _store_url, DEFAULT_STORE_URL),
        org=m.value("org", _mqtt_name("org"), "schoolnet"),
        bucket=m.value("bucket", _mqtt_name("bucket"), "schoolnet"),
        token=_secret(m, "token"),
        timeout_s=m.value("timeout_s", number(0, 300, above=True), 10.0),
        retry_max_s=m.value("retry_max_s", number(0, 3600, above=True), 30.0),
    )


def _store_url(node: yaml.ScalarNode) -> str:
    text = node.value.strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or " " in text:
        raise Invalid(f"{shown_url(text)!r} is not a store URL; use http(s)://HOST:PORT, "
                       f"e.g. {DEFAULT_STORE_URL} for VictoriaMetrics on this machine")
    if parts.username or parts.password:
        raise Invalid("do not put user names or passwords in the URL; use token_file or token_env")
    return text.rstrip("/")


def _read_batch(walk: Walk, node: yaml.Node | None, path: str) -> Batch:
    m = walk.mapping(node, path, ("max_points", "max_messages", "max_wait_s"))
    return Batch(
        max_points=m.value("max_points", integer(1, 1_000_000), 5000),
        max_messages=m.value("max_messages", integer(1, MAX_RECEIVE_MAXIMUM), 1000),
        max_wait_s=m.value("max_wait_s", number(0, 60, above=True), 1.0),
    )


def _read_deadletter(walk: Walk, node: yaml.Node | None, path: str) -> DeadLetter:
    m = walk.mapping(node, path, ("path", "max_bytes", "backups"))
    return DeadLetter(
        path=m.value("path", file_path(walk.base_dir), "/var/lib/schoolnet/deadletter.jsonl"),
        max_bytes=m.value("max_bytes", integer(64 * 1024, 2**40), 64 * 1024 * 1024),
        backups=m.value("backups", integer(0, 100), 5),
    )


def _read_presence(walk: Walk, node: yaml.Node | None, path: str) -> Presence:
    m = walk.mapping(node, path, ("silent_after_s", "report_every_s"))
    silent_after = m.value("silent_after_s", integer(10, 7 * 86400), 180)
    report_every = m.value("report_every_s", integer(1, 3600), 30)
    if silent_after and report_every and report_every >= silent_after:
        m.problem("report_every_s", f"must be shorter than silent_after_s ({silent_after}), "
                                    "or a silent school is reported late")
    return Presence(silent_after_s=silent_after, report_every_s=report_every)


def _read_http(walk: Walk, node: yaml.Node | None, path: str) -> Http:
    m = walk.mapping(node, path, ("listen",))
    host, port = m.value("listen", _listen, None) or _split_listen(DEFAULT_LISTEN)
    return Http(host=host, port=port)


def _listen(node: yaml.ScalarNode) -> tuple[str, int]:
    text = node.value.strip()
    try:
        return _split_listen(text)
    except ValueError:
        raise Invalid(f"{text!r} is not ADDRESS:PORT; e.g. {DEFAULT_LISTEN} "
                       "(loopback: only this machine's Prometheus/vmagent can read it)") from None


def _split_listen(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    ipaddress.ip_address(host)
    if not (port.isdigit() and 1 <= int(port) <= 65535):
        raise ValueError(port)
    return host, int(port)

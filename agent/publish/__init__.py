"""Getting results to the county: the spool (SQLite, survives outages and restarts) and the
MQTT publisher that empties it. Only this package knows MQTT; only spool.py knows SQLite.

    spool = Spool(config.spool.path, config.spool.max_messages)
    password = read_secret(config.broker.password).reveal()
    publisher = Publisher(broker_settings(config.broker, password),
                          config.school.county, config.school.id, spool)
    publisher.start()
    publisher.submit("broadband", body, ts_ms)
    ...
    publisher.stop()
"""

from __future__ import annotations

from typing import Any

from agent.publish.mqtt import BrokerSettings, Publisher, PublisherStats
from agent.publish.spool import Spool, SpoolStats, health_fields

__all__ = [
    "BrokerSettings",
    "Publisher",
    "PublisherStats",
    "Spool",
    "SpoolStats",
    "broker_settings",
    "health_fields",
]


def broker_settings(broker: Any, password: str | None) -> BrokerSettings:
    """Plain settings from agent.yaml's broker section (an agent.config.Broker); the
    password is passed in already read, so it never sits in the config values."""
    return BrokerSettings(
        host=broker.host,
        port=broker.port,
        tls=broker.tls,
        ca_file=broker.ca_file,
        cert_file=broker.cert_file,
        key_file=broker.key_file,
        allow_plaintext=broker.allow_plaintext,
        username=broker.username,
        password=password,
        keepalive_s=broker.keepalive_s,
    )

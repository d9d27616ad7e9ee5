"""MQTT texts both sides print, and paho's logging turned to what people need.

The agent and the collector connect to the same broker with the same library; when a
connection fails or the broker refuses, both should say the same thing about what to check.
"""

from __future__ import annotations

import logging
import ssl


class _ReconnectNoise(logging.Filter):
    """paho 2.x logs "Client is not connected" at ERROR after every failed reconnect
    attempt; we already say why the connection failed, once per reason, so: DEBUG."""

    def __init__(self, logger: logging.Logger):
        super().__init__()
        self._logger = logger

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Client is not connected"):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return self._logger.isEnabledFor(logging.DEBUG)
        return True


def paho_logger(name: str) -> logging.Logger:
    """The logger to hand paho's enable_logger(): its reconnect noise turned down to DEBUG."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, _ReconnectNoise) for f in logger.filters):
        logger.addFilter(_ReconnectNoise(logger))
    return logger


def refusal_hint(code: int) -> str:
    """What a county engineer should look at when the broker refuses with this reason code."""
    if code in (0x86, 0x87, 0x8C):  # bad user name or password, not authorized, bad auth method
        return "check broker.username / password_file in agent.yaml and the broker's ACL for this school"
    if code == 0x90:
        return "the topic name is invalid for this broker"
    if code in (0x95, 0x97):
        return "the message is too large for the broker or over its quota"
    return "see the broker's log"


def connect_failure_text(host: str, port: int, error: BaseException | None) -> str:
    """One line on why a connection attempt failed, naming the config key to check
    (broker.ca_file, broker.url: the same keys in agent.yaml and collector.yaml)."""
    where = f"{host}:{port}"
    if isinstance(error, ssl.SSLCertVerificationError):
        return (f"TLS certificate of {where} not trusted ({getattr(error, 'verify_message', error)}); "
                "check broker.ca_file and that broker.url names the host in the certificate")
    if isinstance(error, ssl.SSLError):
        return f"TLS handshake with {where} failed ({error.reason}); is it an mqtts:// port?"
    if isinstance(error, ConnectionRefusedError):
        return f"{where} refused the connection; is the broker running, is the port right?"
    if isinstance(error, OSError) and error.strerror:
        return f"cannot reach {where}: {error.strerror}"
    return f"cannot reach {where}: {error!r}"

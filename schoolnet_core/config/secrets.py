"""Secrets are referenced by a config file and read only when needed.

A config names a file (`*_file`) or an environment variable (`*_env`), never the secret
itself, so a secret is in no config, log line, argv or report.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from schoolnet_core.config.problems import ConfigError, ConfigProblem


@dataclass(frozen=True)
class SecretRef:
    """Where a secret lives (a file or an environment variable) and which key named it."""

    key_path: str
    file: str | None = None
    env: str | None = None
    config_file: str = ""
    line: int = 0


class Secret:
    """A secret string that prints as *** so it cannot end up in a log line by accident."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "***"

    __str__ = __repr__


def read_secret(ref: SecretRef) -> Secret:
    """Read a secret only when it is needed, so it never sits in the config values."""
    value, where = _secret_text(ref)
    if not value:
        raise _secret_error(ref, f"{where} is empty; put the secret in it")
    return Secret(value)


def _secret_text(ref: SecretRef) -> tuple[str, str]:
    if ref.file is not None:
        where = f"secret file {ref.file}"
        try:
            return Path(ref.file).read_text(encoding="utf-8").strip(), where
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or "not UTF-8 text"
            raise _secret_error(ref, f"cannot read {where}: {reason}; create it "
                                     "(readable only by the agent: chmod 600) or fix the path"
                                ) from None
    where = f"environment variable {ref.env}"
    if ref.env not in os.environ:
        raise _secret_error(ref, f"{where} is not set; set it in the agent's service "
                                 "environment, or use a file instead")
    return os.environ[ref.env].strip(), where


def _secret_error(ref: SecretRef, message: str) -> ConfigError:
    return ConfigError([ConfigProblem(ref.config_file, ref.line, ref.key_path, message)])


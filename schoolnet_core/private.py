"""Files only their owner may read, whatever the umask: the agent's spool (results, command
replies) and the collector's dead letters (raw payloads) are private. The systemd units set
UMask=0077, but a run by hand under umask 022 would otherwise leave them 0644."""

from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: str | os.PathLike) -> Path:
    """Makes the folder (and missing parents) 0700; a folder already there keeps its mode
    (an installer may have given it a group on purpose)."""
    path = Path(path)
    if not path.is_dir():
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        os.chmod(path, DIR_MODE)
    return path


def private_file(path: str | os.PathLike) -> Path:
    """Creates the file 0600 if it is missing and makes an existing one 0600, so whatever
    opens it next (SQLite gives its -wal/-shm files the database's mode) starts private."""
    path = Path(path)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    try:
        os.fchmod(descriptor, FILE_MODE)
    finally:
        os.close(descriptor)
    return path

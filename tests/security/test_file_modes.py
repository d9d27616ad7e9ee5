"""The agent's spool and the collector's dead letters are private whatever the umask
(issue 13): a run by hand under umask 022 used to leave them 0644, readable by every user
of the gateway or the county's server. The systemd units' UMask=0077 is not relied on."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from agent.publish.spool import Spool
from collector.deadletter import DeadLetterFile


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _modes(folder: Path) -> dict[str, int]:
    return {path.name: stat.S_IMODE(path.stat().st_mode) for path in folder.iterdir()}


def test_the_spool_its_wal_files_and_a_new_folder_are_private(tmp_path, umask_022):
    folder = tmp_path / "var-lib-schoolnet"
    spool = Spool(folder / "spool.db")
    try:
        assert spool.append("schoolnet/v1/hx/hx-a/health", b"{}") is not None
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        modes = _modes(folder)
        assert {"spool.db", "spool.db-wal", "spool.db-shm"} <= modes.keys()
        assert set(modes.values()) == {0o600}, modes
    finally:
        spool.close()


def test_a_spool_left_world_readable_by_an_older_version_is_made_private(tmp_path, umask_022):
    path = tmp_path / "spool.db"
    Spool(path).close()
    path.chmod(0o644)
    Spool(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_dead_letters_and_their_rotated_files_are_private(tmp_path, umask_022):
    folder = tmp_path / "deadletters"
    file = DeadLetterFile(folder / "deadletter.jsonl", max_bytes=200, backups=2)
    try:
        for number in range(6):  # enough lines to rotate twice
            file.append({"reason": "bad_json", "topic": "schoolnet/v1/hx/hx-a/health", "n": number,
                         "payload": "x" * 60})
        file.sync()
    finally:
        file.close()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    modes = _modes(folder)
    assert {"deadletter.jsonl", "deadletter.jsonl.1", "deadletter.jsonl.2"} <= modes.keys()
    assert set(modes.values()) == {0o600}, modes

from __future__ import annotations

import pytest

from schoolnet_stack.school import COMMAND_KEY, COMMAND_KEY_ENV, LoopbackSchool


@pytest.fixture
def school(tmp_path, monkeypatch):
    """A school on loopback (see school.py); the command key in the environment, as
    systemd's EnvironmentFile would put it."""
    monkeypatch.setenv(COMMAND_KEY_ENV, COMMAND_KEY)
    peers = LoopbackSchool(tmp_path)
    yield peers
    peers.close()

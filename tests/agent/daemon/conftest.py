from __future__ import annotations

import pytest

from schoolnet_stack.requirements import require_root
from schoolnet_stack.school import COMMAND_KEY, COMMAND_KEY_ENV, LoopbackSchool


@pytest.fixture
def school(tmp_path, monkeypatch):
    """A school on loopback (schoolnet_stack.school); the command key in the environment, as
    systemd's EnvironmentFile would put it."""
    require_root("icmp checks and a DNS peer on port 53, as a school's config has them")
    monkeypatch.setenv(COMMAND_KEY_ENV, COMMAND_KEY)
    peers = LoopbackSchool(tmp_path)
    yield peers
    peers.close()

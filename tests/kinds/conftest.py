"""Each test here loads tests/kinds/room_temperature itself (through a config's `kinds:` or
the fixture) and it is dropped again after the test, so no other test sees a kind that the
contract does not define."""

from __future__ import annotations

import importlib
import sys

import pytest

from schoolnet_core.kinds import unregister

KIND_MODULE = "tests.kinds.room_temperature"


@pytest.fixture(autouse=True)
def _drop_the_kind_afterwards():
    yield
    unregister("room_temperature")
    for name in [name for name in sys.modules if name == KIND_MODULE or name.startswith(KIND_MODULE + ".")]:
        del sys.modules[name]


@pytest.fixture
def room_temperature():
    """The kind's module, imported (and so registered) for this test."""
    return importlib.import_module(KIND_MODULE)

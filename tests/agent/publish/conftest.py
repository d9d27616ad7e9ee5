from __future__ import annotations

import logging

import pytest

from schoolnet_stack.county_broker import (
    CountyBroker,
    Listener,
    TlsFiles,
    make_tls_files,
    start_county_broker,
)
from schoolnet_stack.requirements import require_binary


@pytest.fixture
def broker(mosquitto_factory, tmp_path) -> CountyBroker:
    require_binary("mosquitto_passwd")
    return start_county_broker(mosquitto_factory, tmp_path / "county")


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory) -> dict[str, TlsFiles]:
    """The county's CA (it signed the broker's certificate) and an unrelated one."""
    require_binary("openssl")
    directory = tmp_path_factory.mktemp("tls")
    return {name: make_tls_files(directory, name) for name in ("county", "other")}


@pytest.fixture
def tls_broker(mosquitto_factory, tmp_path, tls_files) -> CountyBroker:
    require_binary("mosquitto_passwd")
    return start_county_broker(mosquitto_factory, tmp_path / "county", tls=tls_files["county"])


@pytest.fixture
def listener(broker):
    client = Listener(broker, "schoolnet/v1/#")
    yield client
    client.close()


@pytest.fixture
def all_logs(caplog):
    """Every log record at every level, paho's own included (to look for leaked secrets)."""
    caplog.set_level(logging.DEBUG)
    return caplog

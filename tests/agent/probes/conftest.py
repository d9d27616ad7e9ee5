"""Fixtures starting the emulated protocol peers (schoolnet_stack/peers) on 127.0.0.x free ports.

Each fixture is a factory: call it with the peer's settings; every peer it started is
stopped when the test ends, pass or fail.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from schoolnet_stack.peers.dns import DnsPeer
from schoolnet_stack.peers.http import HttpPeer
from schoolnet_stack.peers.pjlink import PjlinkPeer
from schoolnet_stack.peers.tcp import Blackhole, Listener
from schoolnet_stack.peers.udp_echo import UdpEcho
from schoolnet_stack.requirements import require_binary


@pytest.fixture
def started():
    """Collects peers and stops them all at teardown (close() or stop())."""
    peers = []
    yield peers
    for peer in reversed(peers):
        (getattr(peer, "stop", None) or peer.close)()


@pytest.fixture
def pjlink_peer(started):
    def start(**settings) -> PjlinkPeer:
        peer = PjlinkPeer(**settings).start()
        started.append(peer)
        return peer

    return start


@pytest.fixture
def http_peer(started):
    def start(**settings) -> HttpPeer:
        peer = HttpPeer(**settings).start()
        started.append(peer)
        return peer

    return start


@pytest.fixture
def dns_peer(started):
    def start(**settings) -> DnsPeer:
        peer = DnsPeer(**settings).start()
        started.append(peer)
        return peer

    return start


@pytest.fixture
def udp_echo_peer(started) -> UdpEcho:
    peer = UdpEcho().start()
    started.append(peer)
    return peer


@pytest.fixture
def listener(started):
    def listen(host: str = "127.0.0.1") -> Listener:
        peer = Listener(host)
        started.append(peer)
        return peer

    return listen


@pytest.fixture
def blackhole(started):
    def listen(host: str = "127.0.0.1") -> Blackhole:
        peer = Blackhole(host)
        started.append(peer)
        return peer

    return listen


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory) -> dict[str, str]:
    """A throwaway CA and a certificate it signed for 127.0.0.1 and localhost:
    {"ca": ..., "cert": ..., "key": ...} file paths."""
    openssl = require_binary("openssl")
    folder = tmp_path_factory.mktemp("tls")
    files = {name: str(folder / f"{name}.pem") for name in ("ca", "ca_key", "cert", "key", "csr")}
    _run(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=schoolnet test CA", "-keyout", files["ca_key"], "-out", files["ca"])
    _run(openssl, "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
         "-keyout", files["key"], "-out", files["csr"])
    extensions = folder / "san.cnf"
    extensions.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _run(openssl, "x509", "-req", "-in", files["csr"], "-CA", files["ca"], "-CAkey", files["ca_key"],
         "-CAcreateserial", "-days", "2", "-extfile", str(extensions), "-out", files["cert"])
    return files


def _run(*argv: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, cwd=Path(argv[-1]).parent, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr.strip()}")

"""Real peers on loopback for the backends' tests (the shaped-link tests start their own)."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator

import pytest

from schoolnet_stack.requirements import require_binary
from tests.agent.speed.processes import wait_for_line


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port bound but never listening: every connection to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


@pytest.fixture
def iperf3_server() -> Iterator[str]:
    """A real `iperf3 -s` on loopback; yields its HOST:PORT."""
    require_binary("iperf3")
    with socket.socket() as probe:  # a free port; iperf3 takes it a moment later
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        ["iperf3", "-s", "-B", "127.0.0.1", "-p", str(port), "--forceflush"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        wait_for_line(server, "Server listening")
        yield f"127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=5)


"""A reserved port is bound until its server is about to start, so nobody else is handed it."""

from __future__ import annotations

import socket

import pytest

from schoolnet_stack import ports


def bind_plain(port: int) -> None:
    with socket.socket() as other:
        other.bind((ports.LOOPBACK, port))


def test_a_reserved_port_is_held_until_released_and_can_be_held_again():
    port = ports.reserve_port()
    assert ports.is_held(port)
    with pytest.raises(OSError, match="in use"):
        bind_plain(port)
    ports.release(port)
    assert not ports.is_held(port)
    bind_plain(port)
    assert ports.hold(port)
    with pytest.raises(OSError, match="in use"):
        bind_plain(port)
    ports.release(port)


def test_holding_a_port_someone_listens_on_fails_quietly():
    with socket.create_server((ports.LOOPBACK, 0)) as listening:
        port = listening.getsockname()[1]
        assert ports.hold(port) is False
        assert not ports.is_held(port)


def test_releasing_a_port_that_is_not_held_does_nothing():
    ports.release(ports.free_port())

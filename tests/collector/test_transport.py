"""collector/transport.py: paho's reads served from one larger read, on a real socket pair."""

from __future__ import annotations

import socket

import pytest

from collector.transport import READ_SIZE, BufferedSocket


def test_small_reads_come_from_one_recv_and_pending_counts_what_is_left():
    ours, broker = socket.socketpair()
    ours.setblocking(False)
    buffered = BufferedSocket(ours)
    with pytest.raises(BlockingIOError):  # nothing yet: what paho expects of a non-blocking socket
        buffered.recv(1)
    broker.sendall(b"\x30\x05hello\x30\x02hi")
    assert buffered.recv(1) == b"\x30"
    assert buffered.pending() == 10
    assert [buffered.recv(1), buffered.recv(5), buffered.recv(1), buffered.recv(1)] == [b"\x05", b"hello", b"\x30", b"\x02"]
    assert buffered.recv(100) == b"hi"  # never more than what is buffered
    assert buffered.pending() == 0
    assert buffered.fileno() == ours.fileno()  # select() and the rest go to the socket
    broker.close()
    assert buffered.recv(1) == b""  # closed by the broker
    ours.close()


def test_a_backlog_larger_than_one_read_arrives_whole():
    ours, broker = socket.socketpair()
    buffered = BufferedSocket(ours)
    sent = bytes(range(256)) * (3 * READ_SIZE // 256 + 7)
    broker.sendall(sent[: 2 * READ_SIZE])
    received = bytearray()
    while len(received) < 2 * READ_SIZE:
        received += buffered.recv(1000)
    broker.sendall(sent[2 * READ_SIZE:])
    broker.close()
    while chunk := buffered.recv(4096):
        received += chunk
    assert bytes(received) == sent
    ours.close()

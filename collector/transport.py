"""paho's client with a read buffer: a backlog costs one recv per 64 KiB, not four per message.

Why: with validation compiled (fastpath.py), paho's network thread became the collector's
largest cost (py-spy, bench/REPORT.md). paho 2.x reads each packet with a recv of 1 byte
for its type, one per byte of its length, then one for the rest, and handles one packet
per select(): four or five system calls per message. BufferedSocket reads what the
kernel holds in one call and hands paho the bytes it asks for; its pending() (which paho
already asks of TLS sockets) makes paho read the next packet without waiting in select().
TLS sockets are left alone: OpenSSL already reads whole records, and pending() is theirs.

Only private names of paho 2.x are used (_create_socket, _sock): pyproject pins <3, and
every collector test runs through this class.
"""

from __future__ import annotations

import ssl
from typing import Any

import paho.mqtt.client as mqtt

READ_SIZE = 64 * 1024
PACKETS_PER_READ = 200
"""Packets handled per turn of paho's loop before it looks at writes (our PUBACKs) again."""


class BufferedSocket:
    """A non-blocking socket whose recv() is served from one larger read."""

    def __init__(self, sock: Any):
        self._sock = sock
        self._data = b""
        self._at = 0

    def recv(self, size: int) -> bytes:
        if self._at >= len(self._data):
            data = self._sock.recv(READ_SIZE)  # BlockingIOError when empty: paho expects it
            if not data:
                return data  # the broker closed the connection
            self._data, self._at = data, 0
        chunk = self._data[self._at:self._at + size]
        self._at += len(chunk)
        return chunk

    def pending(self) -> int:
        """Bytes read from the kernel that paho has not taken yet."""
        return len(self._data) - self._at

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)  # send, fileno, setblocking, close, ...


class BufferedClient(mqtt.Client):
    """mqtt.Client reading through BufferedSocket on plain TCP connections."""

    def _create_socket(self) -> Any:
        sock = super()._create_socket()
        if isinstance(sock, ssl.SSLSocket) or self._transport != "tcp":
            return sock
        return BufferedSocket(sock)

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        """paho reads one packet per call; go on while whole packets are buffered."""
        rc = super().loop_read(max_packets)
        for _ in range(PACKETS_PER_READ):
            sock = self._sock
            if rc != mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS or not isinstance(sock, BufferedSocket) or not sock.pending():
                break
            rc = super().loop_read(max_packets)
        return rc

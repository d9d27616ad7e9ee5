"""paho's client with a read buffer, PUBLISH packets decoded a read at a time, and a
batch's PUBACKs sent as one write.

Why: with validation compiled (fastpath.py), paho's network thread became the collector's
largest cost (py-spy, bench/REPORT.md). paho 2.x reads each packet with a recv of 1 byte
for its type, one per byte of its length, then one for the rest, and handles one packet
per select(): four or five system calls per message, each giving up the GIL and waiting
to get it back while the worker validates. Then it builds a Properties object and an
MQTTMessage for each PUBLISH and calls on_message once per message.

BufferedSocket reads what the kernel (or, on TLS, OpenSSL: a record of up to 16 KiB)
holds in one call and hands paho the bytes it asks for; its pending() (which paho asks of
every socket) makes paho read the next packet without waiting in select(). Whole QoS 0/1
PUBLISH packets at the front of the buffer are decoded here, without paho, and given to
on_publishes together; anything else (CONNACK, SUBACK, a QoS 2 or malformed PUBLISH, a
packet split across reads) is left to paho, which reads it from the same buffer.
Websocket connections are left alone.

Only private names of paho 2.x are used (_create_socket, _sock, _in_packet,
_packet_queue, _protocol, _msgtime_mutex, _last_bytes_received): pyproject pins <3, and
every collector test runs through this class.
"""

from __future__ import annotations

import ssl
import struct
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import paho.mqtt.client as mqtt

READ_SIZE = 64 * 1024
PACKETS_PER_READ = 200
"""Packets handled per turn of paho's loop before it looks at writes (our PUBACKs) again."""
UNREADABLE_TOPIC = "(topic is not UTF-8)"
"""Brokers refuse such topics; a bad one must not stop the network thread."""

_PUBACK = struct.Struct("!BBH")
_PUBLISH = 0x30


class Publish(NamedTuple):
    """One PUBLISH as the collector needs it (properties are not used)."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    retain: bool


def _varint(data: bytes, at: int, end: int) -> tuple[int, int]:
    """(value, index after it) of an MQTT variable byte integer; (-1, at) if incomplete
    or longer than the four bytes MQTT allows."""
    value, shift = 0, 0
    for index in range(at, min(end, at + 4)):
        byte = data[index]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, index + 1
        shift += 7
    return -1, at


def take_publishes(data: bytes, at: int, limit: int) -> tuple[list[Publish], int]:
    """Up to `limit` whole QoS 0/1 PUBLISH packets of MQTT v5 from data[at:], and where
    they end.

    Stops at the first packet that is anything else, incomplete, or not what it claims
    (lengths that do not add up): paho reads that one and says what is wrong with it."""
    publishes: list[Publish] = []
    end = len(data)
    while at < end and len(publishes) < limit:
        header = data[at]
        qos = (header >> 1) & 0x03
        if header & 0xF0 != _PUBLISH or qos > 1:
            break
        length, body = _varint(data, at + 1, end)
        if length < 0 or body + length > end or length < 2:
            break
        packet_end = body + length
        topic_end = body + 2 + int.from_bytes(data[body:body + 2], "big")
        mid = 0
        if qos:
            mid = int.from_bytes(data[topic_end:topic_end + 2], "big")
            properties = topic_end + 2
        else:
            properties = topic_end
        properties_length, payload = _varint(data, properties, packet_end)
        if topic_end == body + 2 or properties_length < 0 or payload + properties_length > packet_end:
            break  # an empty topic (a topic alias), or lengths that do not add up
        try:
            topic = data[body + 2:topic_end].decode()
        except UnicodeDecodeError:
            topic = UNREADABLE_TOPIC
        publishes.append(Publish(topic, data[payload + properties_length:packet_end], mid, qos,
                                 bool(header & 0x01)))
        at = packet_end
    return publishes, at


class BufferedSocket:
    """A non-blocking socket whose recv() is served from one larger read."""

    def __init__(self, sock: Any):
        self._sock = sock
        self._tls = isinstance(sock, ssl.SSLSocket)
        self._data = b""
        self._at = 0

    def recv(self, size: int) -> bytes:
        if self._at >= len(self._data):
            data = self._sock.recv(READ_SIZE)  # BlockingIOError when empty: paho expects it
            if not data:
                return data  # the broker closed the connection
            self._data, self._at = self._more_records(data) if self._tls else data, 0
        chunk = self._data[self._at:self._at + size]
        self._at += len(chunk)
        return chunk

    def _more_records(self, data: bytes) -> bytes:
        """On TLS one recv returns one record, and the broker writes a record per packet:
        read on while OpenSSL or the kernel has more, up to READ_SIZE."""
        chunks, size = [data], len(data)
        while size < READ_SIZE:
            try:
                more = self._sock.recv(READ_SIZE - size)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                break
            if not more:
                break  # closed: the next recv says so
            chunks.append(more)
            size += len(more)
        return b"".join(chunks)

    def pending(self) -> int:
        """Bytes read that paho has not taken yet, and on TLS those OpenSSL holds decrypted."""
        return len(self._data) - self._at + (self._sock.pending() if self._tls else 0)

    def take_publishes(self, limit: int) -> list[Publish]:
        publishes, self._at = take_publishes(self._data, self._at, limit)
        return publishes

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)  # send, fileno, setblocking, close, ...


class BufferedClient(mqtt.Client):
    """mqtt.Client reading through BufferedSocket on TCP connections (plain or TLS), and
    sending a batch's PUBACKs as one write."""

    on_publishes: Callable[[list[Publish]], None] | None = None
    """Called in paho's network thread with the PUBLISH packets of one read, in order.
    Messages it is given do not reach on_message; those paho reads (a packet split across
    reads, QoS 2, MQTT 3) still do."""

    def _create_socket(self) -> Any:
        sock = super()._create_socket()  # on TLS, after the handshake
        if self._transport != "tcp":
            return sock
        return BufferedSocket(sock)

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        """paho reads one packet per call; go on while whole packets are buffered, taking
        the PUBLISH packets among them without paho."""
        sock = self._sock
        if not isinstance(sock, BufferedSocket):  # websockets, unix sockets: paho's own reads
            return super().loop_read(max_packets)
        fast = self.on_publishes is not None and self._protocol == mqtt.MQTTv5
        rc = mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
        handled = 0
        while handled < PACKETS_PER_READ:
            if fast and self._in_packet["command"] == 0:  # paho is between packets
                publishes = sock.take_publishes(PACKETS_PER_READ - handled)
                if publishes:
                    handled += len(publishes)
                    with self._msgtime_mutex:
                        self._last_bytes_received = mqtt.time_func()
                    self.on_publishes(publishes)
                    if not sock.pending():
                        break
                    continue
            rc = super().loop_read(max_packets)  # one packet (or its start) the way paho does
            handled += 1
            if rc != mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS or self._sock is not sock or not sock.pending():
                break
        return rc

    def ack_all(self, mids: Iterable[int]) -> None:
        """PUBACKs (QoS 1) for every packet id, in order, queued as one piece of output.

        Why: client.ack() queues each PUBACK on its own, and paho then wakes its loop and
        sends each in its own system call; every call gives up the GIL and waits up to a
        switch interval to get it back while the worker validates (py-spy: the network
        thread spent more time waiting there than reading). The bytes are what
        ack(mid, 1) would send: type 0x40, remaining length 2, the packet id (MQTT v5
        leaves the reason code out when it is Success).
        """
        data = b"".join([_PUBACK.pack(mqtt.PUBACK, 2, mid) for mid in mids])
        if data:
            self._packet_queue(mqtt.PUBACK, data, 0, 1)

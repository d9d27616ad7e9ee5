"""collector/transport.py: paho's reads served from one larger read, on a real socket pair; PUBLISH
packets decoded without paho, as paho's own decoder reads them; PUBACKs sent together."""

from __future__ import annotations

import socket

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt import _packet
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from collector.transport import (
    READ_SIZE,
    UNREADABLE_TOPIC,
    BufferedClient,
    BufferedSocket,
    Publish,
    take_publishes,
)


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


# --- PUBLISH packets decoded without paho, checked against paho's own decoder ----------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def publish_packet(topic: bytes, payload: bytes, qos: int = 1, mid: int = 7, retain: bool = False,
                   properties: Properties | None = None) -> bytes:
    """A PUBLISH packet of MQTT v5 as a broker sends it (spec 3.3), properties by paho."""
    body = len(topic).to_bytes(2, "big") + topic + (mid.to_bytes(2, "big") if qos else b"")
    body += properties.pack() if properties is not None else b"\x00"
    body += payload
    return bytes([0x30 | qos << 1 | int(retain)]) + _varint(len(body)) + body


def paho_reads(packet: bytes) -> Publish:
    """What paho's own decoder makes of one packet, in transport.Publish's terms."""
    header, rest = packet[0], packet[1:]
    while rest[0] & 0x80:
        rest = rest[1:]
    decoded = _packet.decode_publish(header, rest[1:], mqtt.MQTTv5)
    return Publish(decoded.topic.decode(), decoded.payload, decoded.mid, decoded.qos, decoded.retain)


def with_properties() -> Properties:
    properties = Properties(PacketTypes.PUBLISH)
    properties.MessageExpiryInterval = 3600
    properties.UserProperty = ("school", "hx-dazhuang-zx")
    properties.ContentType = "application/json"
    return properties


SAMPLES = [
    publish_packet(b"schoolnet/v1/hx/hx-a/broadband", b'{"ok": true}'),
    publish_packet(b"schoolnet/v1/hx/hx-a/status", b"{}", qos=0, retain=True),
    publish_packet(b"t", b"x" * 200, mid=65535),  # a two-byte remaining length
    publish_packet(b"t/\xe5\xad\xa6\xe6\xa0\xa1", b"y" * 20_000, mid=1),  # three bytes; a UTF-8 topic
    publish_packet(b"t/props", b"z", properties=with_properties()),
    publish_packet(b"t/empty-payload", b"", mid=300),
]


def test_whole_publish_packets_read_as_paho_reads_them():
    data = b"".join(SAMPLES)
    publishes, end = take_publishes(data, 0, limit=100)
    assert end == len(data)
    assert publishes == [paho_reads(packet) for packet in SAMPLES]


@pytest.mark.parametrize(
    ("after", "why"),
    [
        (b"\x62\x02\x00\x07", "PUBREL: not a PUBLISH"),
        (b"\xd0\x00", "PINGRESP"),
        (publish_packet(b"t", b"q2", qos=2), "QoS 2 needs paho's PUBREC state"),
        (publish_packet(b"", b"alias", properties=None), "an empty topic (a topic alias)"),
        (b"\x32\xff\xff\xff\xff\x01", "a remaining length over four bytes"),
        (b"\x32\x05\x00\x09t", "a topic longer than the packet"),
    ],
)
def test_the_fast_lane_stops_at_anything_paho_must_read(after, why):
    first = SAMPLES[0]
    publishes, end = take_publishes(first + after + SAMPLES[1], 0, limit=100)
    assert (len(publishes), end) == (1, len(first)), why


def test_a_packet_split_across_reads_is_left_to_paho():
    first, cut = SAMPLES[0], publish_packet(b"t/cut", b"p" * 500)
    for at in (1, 2, 3, 10, len(cut) - 1):  # in the length, the topic, the payload
        publishes, end = take_publishes(first + cut[:at], 0, limit=100)
        assert (len(publishes), end) == (1, len(first)), at


def test_a_topic_that_is_not_utf8_does_not_stop_the_lane():
    publishes, _ = take_publishes(publish_packet(b"t/\xff", b"{}") + SAMPLES[0], 0, limit=100)
    assert [p.topic for p in publishes] == [UNREADABLE_TOPIC, "schoolnet/v1/hx/hx-a/broadband"]


def test_at_most_limit_packets_are_taken_and_the_rest_stays_buffered():
    data = b"".join(SAMPLES)
    publishes, end = take_publishes(data, 0, limit=2)
    assert len(publishes) == 2 and end == len(SAMPLES[0]) + len(SAMPLES[1])
    rest, _ = take_publishes(data, end, limit=100)
    assert len(rest) == len(SAMPLES) - 2


def test_ack_all_queues_the_bytes_of_one_puback_per_message_in_order():
    mids = [1, 258, 65535, 7]
    one_by_one = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, manual_ack=True)
    for mid in mids:
        one_by_one.ack(mid, 1)
    together = BufferedClient(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, manual_ack=True)
    together.ack_all(mids)
    together.ack_all([])  # nothing to ack: nothing queued
    assert [p["packet"] for p in together._out_packet] == [b"".join(p["packet"] for p in one_by_one._out_packet)]

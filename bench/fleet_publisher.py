"""Thousands of simulated schools in one process: one real MQTT v5 connection each.

A school here does what the agent does on the wire and nothing else: it connects with a
persistent session and a retained last will (status online=false), subscribes to its
command topic, publishes its retained birth, then its minute of messages (bench/schools.py)
with QoS 1, each stamped with the time it is sent, and disconnects cleanly at the end.
paho would need a thread and far more memory per school, so the few packets a school
needs are written here by hand (MQTT 5.0, OASIS standard, sections 3.1-3.14) on asyncio.

    python -m bench.fleet_publisher --port 1883 --first 0 --count 2500 --ramp 20 --run 180

prints one JSON object of counts and broker ack times (publish -> PUBACK) when done.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import sys
import time
from dataclasses import asdict, dataclass, field

from bench import schools
from schoolnet_core import contract

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK, PINGREQ, DISCONNECT = 1, 2, 3, 4, 8, 9, 12, 14
KEEPALIVE_S = 60  # the example agent config's broker.keepalive_s
SESSION_EXPIRY_S = 7 * 86400
ACK_WAIT_S = 2.0
OFFSETS_S = {"broadband": (0, 30), "classrooms": (10,), "sync": (20,), "health": (40,)}
"""When in its minute (after its own random phase) a school sends each kind."""


# --- packets (pure) -------------------------------------------------------------------------


def varint(number: int) -> bytes:
    """MQTT's variable byte integer (1.5.5)."""
    out = bytearray()
    while True:
        number, digit = divmod(number, 128)
        out.append(digit | (0x80 if number else 0))
        if not number:
            return bytes(out)


def utf8(text: str) -> bytes:
    data = text.encode()
    return len(data).to_bytes(2, "big") + data


def binary(data: bytes) -> bytes:
    return len(data).to_bytes(2, "big") + data


def packet(kind: int, flags: int, body: bytes) -> bytes:
    return bytes([kind << 4 | flags]) + varint(len(body)) + body


def connect_packet(client_id: str, will_topic: str, will_payload: bytes) -> bytes:
    """CONNECT as the agent sends it: clean start off, a session expiry, a retained QoS 1 will."""
    flags = 0x04 | 0x08 | 0x20  # will flag, will QoS 1, will retain; clean start off
    properties = b"\x11" + SESSION_EXPIRY_S.to_bytes(4, "big")
    header = utf8("MQTT") + bytes([5, flags]) + KEEPALIVE_S.to_bytes(2, "big") + varint(len(properties)) + properties
    payload = utf8(client_id) + varint(0) + utf8(will_topic) + binary(will_payload)
    return packet(CONNECT, 0, header + payload)


def publish_packet(topic: str, payload: bytes, packet_id: int, retain: bool = False) -> bytes:
    """PUBLISH with QoS 1 and no properties."""
    return packet(PUBLISH, 0x02 | int(retain), utf8(topic) + packet_id.to_bytes(2, "big") + varint(0) + payload)


def subscribe_packet(packet_id: int, topic_filter: str) -> bytes:
    return packet(SUBSCRIBE, 0x02, packet_id.to_bytes(2, "big") + varint(0) + utf8(topic_filter) + b"\x01")


DISCONNECT_PACKET = packet(DISCONNECT, 0, b"")  # reason 0: normal, the will is not sent


async def read_packet(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """(packet type, body) of the next packet; raises IncompleteReadError at EOF."""
    first = (await reader.readexactly(1))[0]
    length, shift = 0, 0
    while True:
        digit = (await reader.readexactly(1))[0]
        length += (digit & 0x7F) << shift
        shift += 7
        if not digit & 0x80:
            break
    return first >> 4, await reader.readexactly(length)


def minute_plan(number: int, phase_s: float) -> list[tuple[float, str]]:
    """(seconds into each minute, kind) of one school's sends, in time order."""
    kinds = set(schools.minute_kinds(schools.shape_of(number)))
    sends = [((phase_s + offset) % 60, kind) for kind in kinds for offset in OFFSETS_S[kind]]
    return sorted(sends)


# --- one school ---------------------------------------------------------------------------------


@dataclass
class Counts:
    connected: int = 0
    refused: int = 0
    failed: int = 0
    sent: int = 0
    acked: int = 0
    lost_connections: int = 0
    sent_by_kind: dict = field(default_factory=dict)
    sent_measured: int = 0
    ack_ms: list = field(default_factory=list)
    """Broker PUBACK times of messages sent in [measure_after, measure_until) (epoch seconds)."""
    measure_after: float = 0.0
    measure_until: float = float("inf")


class School:
    def __init__(self, number: int, counts: Counts) -> None:
        self.number = number
        self.counts = counts
        self.templates = schools.school_templates(number)
        self.county, self.id = schools.county_of(number), schools.school_of(number)
        self._next_id = 0
        self._sent_at: dict[int, tuple[float, bool]] = {}

    def _packet_id(self) -> int:
        self._next_id = self._next_id % 65535 + 1
        return self._next_id

    async def run(self, host: str, port: int, start_at: float, stop_at: float) -> None:
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            self.counts.failed += 1
            return
        try:
            if await self._connect(reader, writer):
                acks = asyncio.ensure_future(self._read_acks(reader))
                await self._speak(writer, stop_at)
                await self._settle(ACK_WAIT_S)
                writer.write(DISCONNECT_PACKET)
                await writer.drain()
                acks.cancel()
        except (OSError, asyncio.IncompleteReadError):
            self.counts.lost_connections += 1
        finally:
            writer.close()

    async def _connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        will = self.templates[contract.STATUS].payload(int(time.time() * 1000)).replace(
            b'"online":true', b'"online":false')
        writer.write(connect_packet(f"bench-{self.id}", contract.topic(self.county, self.id, contract.STATUS), will))
        kind, body = await read_packet(reader)
        if kind != CONNACK or body[1] != 0:
            self.counts.refused += 1
            return False
        self.counts.connected += 1
        writer.write(subscribe_packet(self._packet_id(), contract.topic(self.county, self.id, contract.COMMAND)))
        self._publish(writer, contract.STATUS, retain=True)
        return True

    def _publish(self, writer: asyncio.StreamWriter, kind: str, retain: bool = False) -> None:
        made = self.templates[kind]
        packet_id = self._packet_id()
        now = time.time()
        measured = self.counts.measure_after <= now < self.counts.measure_until
        self._sent_at[packet_id] = (time.monotonic(), measured)
        writer.write(publish_packet(made.topic, made.payload(int(now * 1000)), packet_id, retain))
        self.counts.sent += 1
        self.counts.sent_measured += measured
        self.counts.sent_by_kind[kind] = self.counts.sent_by_kind.get(kind, 0) + 1

    async def _speak(self, writer: asyncio.StreamWriter, stop_at: float) -> None:
        """The school's minutes until stop_at, each send at its planned second."""
        plan = minute_plan(self.number, random.Random(self.number).uniform(0, 60))
        minute_start = time.monotonic()  # a random phase: the county's sends spread evenly
        while True:
            for offset, kind in plan:
                due = minute_start + offset
                if due >= stop_at:
                    return
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                self._publish(writer, kind)
                await writer.drain()
            minute_start += 60

    async def _settle(self, limit_s: float) -> None:
        """Waits (at most limit_s) for the PUBACKs of what was just sent."""
        deadline = time.monotonic() + limit_s
        while self._sent_at and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    async def _read_acks(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                kind, body = await read_packet(reader)
                if kind == PUBACK:
                    sent, measured = self._sent_at.pop(int.from_bytes(body[:2], "big"), (None, False))
                    if sent is not None:
                        self.counts.acked += 1
                    if measured:
                        self.counts.ack_ms.append(round((time.monotonic() - sent) * 1000, 2))
        except (OSError, asyncio.IncompleteReadError):
            return


async def run_fleet(host: str, port: int, numbers: range, ramp_s: float, run_s: float,
                    measured: tuple[float, float] = (0.0, float("inf"))) -> Counts:
    """Connects the schools spread over ramp_s, lets them speak until ramp_s + run_s;
    counts sends and broker ack times in the `measured` window (epoch seconds)."""
    counts = Counts(measure_after=measured[0], measure_until=measured[1])
    began = time.monotonic()
    stop_at = began + ramp_s + run_s
    fleet = [School(number, counts) for number in numbers]
    spacing = ramp_s / max(1, len(fleet))
    await asyncio.gather(*(school.run(host, port, began + index * spacing, stop_at)
                           for index, school in enumerate(fleet)))  # fmt: skip
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--first", type=int, default=0, help="number of the first school")
    parser.add_argument("--count", type=int, required=True, help="how many schools")
    parser.add_argument("--ramp", type=float, default=10.0, help="seconds over which they connect")
    parser.add_argument("--run", type=float, default=60.0, help="seconds they speak after the ramp")
    parser.add_argument("--measure-after", type=float, default=0.0,
                        help="epoch seconds: count sends and PUBACK times from then...")
    parser.add_argument("--measure-until", type=float, default=float("inf"), help="...until then")
    args = parser.parse_args(argv)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # one socket per school
    print("ready", flush=True)
    numbers = range(args.first, args.first + args.count)
    counts = asyncio.run(run_fleet(args.host, args.port, numbers, args.ramp, args.run,
                                   (args.measure_after, args.measure_until)))
    print(json.dumps(asdict(counts)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

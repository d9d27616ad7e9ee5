"""DNS over UDP: does a resolver beyond the uplink answer a query?

A public resolver answering proves the uplink works even where ICMP is filtered. The
query is built and read here with the standard library (one A question, RFC 1035), so
the agent needs no resolver library and never touches the gateway's own resolver config.

Up means an answer with our id and question and rcode NOERROR or NXDOMAIN: both come from
a resolver that reached the DNS hierarchy. SERVFAIL or REFUSED is what a gateway's local
resolver says when its uplink is down, so those read as bad_reply, not up.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import struct
import time
from dataclasses import dataclass

from agent.probes.tcp import elapsed_ms, failure

PORT = 53
TYPE_A = 1
CLASS_IN = 1
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
ANSWERED = {0, 3}  # NOERROR, NXDOMAIN
_HEADER = struct.Struct("!HHHHHH")  # id, flags, qdcount, ancount, nscount, arcount
_QR = 0x8000
_OPCODE = 0x7800


@dataclass(frozen=True)
class DnsResult:
    """status is one of contract.PROBE_STATUSES; addresses are the A records answered."""

    status: str
    rtt_ms: float | None = None
    rcode: str | None = None
    addresses: tuple[str, ...] = ()
    detail: str = ""

    @property
    def up(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class Response:
    rcode: int
    addresses: tuple[str, ...]


class BadResponse(ValueError):
    """A datagram that is not a valid answer to our query; the message says why."""


# --- packets (pure) ------------------------------------------------------------------


def encode_name(name: str) -> bytes:
    """`name` as DNS labels; Chinese names go through IDNA. ValueError on a bad name."""
    try:
        ascii_name = name.rstrip(".").encode("idna")
    except UnicodeError as error:
        raise ValueError(f"{name!r} is not a valid host name: {error}") from None
    labels = ascii_name.split(b".")
    if not ascii_name or len(ascii_name) > 253 or not all(0 < len(x) <= 63 for x in labels):
        raise ValueError(f"{name!r} is not a valid host name (labels of 1-63 characters)")
    return b"".join(bytes([len(label)]) + label for label in labels) + b"\0"


def build_query(query_id: int, name: str, qtype: int = TYPE_A) -> bytes:
    """A standard query with recursion desired, one question."""
    header = _HEADER.pack(query_id, 0x0100, 1, 0, 0, 0)
    return header + encode_name(name) + struct.pack("!HH", qtype, CLASS_IN)


def read_response(data: bytes, query: bytes) -> Response:
    """Checks `data` answers `query` (id, flags, question) and reads its A records."""
    if len(data) < _HEADER.size:
        raise BadResponse(f"{len(data)} bytes is shorter than a DNS header")
    query_id, flags, qdcount, ancount, _, _ = _HEADER.unpack_from(data)
    if query_id != _HEADER.unpack_from(query)[0]:
        raise BadResponse("the answer's id differs from the query's")
    if not flags & _QR or flags & _OPCODE:
        raise BadResponse(f"not a response to a standard query (flags {flags:#06x})")
    question = query[_HEADER.size :]
    echoed = data[_HEADER.size : _HEADER.size + len(question)]
    if qdcount != 1 or echoed.lower() != question.lower():
        raise BadResponse("the answer is for a different question")
    rcode = flags & 0x000F
    return Response(rcode, _a_records(data, _HEADER.size + len(question), ancount))


def _a_records(data: bytes, offset: int, count: int) -> tuple[str, ...]:
    addresses = []
    try:
        for _ in range(count):
            offset = _skip_name(data, offset)
            rtype, rclass, _, length = struct.unpack_from("!HHIH", data, offset)
            offset += 10
            if offset + length > len(data):
                raise BadResponse("a record runs past the end of the answer")
            if rtype == TYPE_A and rclass == CLASS_IN and length == 4:
                addresses.append(socket.inet_ntoa(data[offset : offset + 4]))
            offset += length
    except struct.error:
        raise BadResponse("the answer is cut short") from None
    return tuple(addresses)


def _skip_name(data: bytes, offset: int) -> int:
    """The offset after the (possibly compressed) name at `offset`."""
    while True:
        if offset >= len(data):
            raise BadResponse("a name runs past the end of the answer")
        length = data[offset]
        if length & 0xC0 == 0xC0:
            return offset + 2  # a pointer ends the name
        if length & 0xC0:
            raise BadResponse(f"label type {length:#04x} is not supported")
        offset += 1 + length
        if length == 0:
            return offset


# --- the exchange ----------------------------------------------------------------------


async def query(server: str, name: str, timeout: float, port: int = PORT) -> DnsResult:
    """Asks `server` for the A records of `name` once; ValueError if `name` is invalid."""
    packet = build_query(secrets.randbelow(0x10000), name)
    where = f"DNS {server}:{port}"
    loop = asyncio.get_running_loop()
    try:
        transport, answer = await loop.create_datagram_endpoint(
            lambda: _Exchange(packet), remote_addr=(server, port)
        )
    except OSError as error:
        return DnsResult(*_failed(error, where, timeout))
    try:
        started = time.perf_counter()
        transport.sendto(packet)
        response = await asyncio.wait_for(answer.result, timeout)
        rtt_ms = elapsed_ms(started)
    except (OSError, asyncio.TimeoutError) as error:
        return DnsResult(*_failed(error, where, timeout, answer.ignored))
    except BadResponse as error:
        return DnsResult("bad_reply", detail=f"{where}: {error}")
    finally:
        transport.close()
    return _answered(response, rtt_ms, where, name)


def _answered(response: Response, rtt_ms: float, where: str, name: str) -> DnsResult:
    rcode = RCODES.get(response.rcode, f"RCODE{response.rcode}")
    if response.rcode not in ANSWERED:
        detail = f"{where} answered {rcode} for {name} (a resolver that cannot reach the internet?)"
        return DnsResult("bad_reply", rtt_ms, rcode, detail=detail)
    return DnsResult("ok", rtt_ms, rcode, response.addresses, f"{where}: {rcode} for {name}")


def _failed(error: BaseException, where: str, timeout: float, ignored: int = 0) -> tuple:
    status, detail = failure(error, where, timeout)
    if isinstance(error, ConnectionRefusedError):
        detail = f"{where}: port unreachable (no DNS server on that port)"
    if ignored:
        detail += f"; {ignored} stray datagrams ignored"
    return status, None, None, (), detail


class _Exchange(asyncio.DatagramProtocol):
    """Waits for the first datagram that answers our query (stray ones are counted)."""

    def __init__(self, query_packet: bytes) -> None:
        self.query = query_packet
        self.result: asyncio.Future = asyncio.get_running_loop().create_future()
        self.ignored = 0

    def datagram_received(self, data: bytes, addr) -> None:
        if self.result.done():
            return
        if len(data) < 2 or data[:2] != self.query[:2]:
            self.ignored += 1  # not ours (a late answer to an earlier query, or spoofed)
            return
        try:
            self.result.set_result(read_response(data, self.query))
        except BadResponse as error:
            self.result.set_exception(error)

    def error_received(self, exc: Exception) -> None:
        if not self.result.done():
            self.result.set_exception(exc)

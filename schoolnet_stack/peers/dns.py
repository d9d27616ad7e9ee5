"""A DNS server over UDP (RFC 1035) answering A questions, in its own thread.

    peer = DnsPeer(addresses=("192.0.2.7",)).start()   # NOERROR with these A records
    peer = DnsPeer(rcode=3).start()                     # NXDOMAIN (2 SERVFAIL, 5 REFUSED)
    peer = DnsPeer(mode="silent").start()               # reads queries, never answers
    peer = DnsPeer(mode="wrong_id").start()             # answers with another id
    peer = DnsPeer(mode="garbage").start()              # right id, then bytes that are no DNS
    peer = DnsPeer(host="127.53.0.9", port=53).start() # where a config's plain `dns` target asks
    peer = start_on_port_53()                           # the same on a free 127.53.x.y
    peer.port ... peer.stop()

The answer names its record by a compression pointer to the question (0xC00C), as
real servers do. `queries` keeps every query received.
"""

from __future__ import annotations

import random
import socket
import struct
import threading

MODES = ("answer", "silent", "wrong_id", "garbage")


class DnsPeer:
    def __init__(
        self,
        addresses: tuple[str, ...] = ("192.0.2.7",),
        rcode: int = 0,
        mode: str = "answer",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.addresses, self.rcode, self.mode = addresses, rcode, mode
        self.queries: list[bytes] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.bind((host, port))
        except OSError:
            self.sock.close()
            raise
        self.sock.settimeout(0.1)
        self.host, self.port = self.sock.getsockname()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> DnsPeer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops serving; safe to call again."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._thread.join(timeout=5)
        self.sock.close()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                query, client = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            self.queries.append(query)
            answer = self._answer(query)
            if answer is not None:
                self.sock.sendto(answer, client)

    def _answer(self, query: bytes) -> bytes | None:
        if self.mode == "silent" or len(query) < 12:
            return None
        query_id, flags = struct.unpack_from("!HH", query)
        question = query[12 : _question_end(query)]
        if self.mode == "garbage":
            return query[:2] + b"\x81\x80 this is not a DNS message"
        if self.mode == "wrong_id":
            query_id ^= 0xFFFF
        records = self.addresses if self.rcode == 0 else ()
        header = struct.pack(
            "!HHHHHH", query_id, 0x8180 | (flags & 0x0100) | self.rcode, 1, len(records), 0, 0
        )
        answers = b"".join(
            struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton(address)
            for address in records
        )
        return header + question + answers


def _question_end(query: bytes) -> int:
    offset = 12
    while query[offset]:
        offset += 1 + query[offset]
    return offset + 1 + 4  # the root label, then QTYPE and QCLASS


def start_on_port_53() -> DnsPeer:
    """A peer on port 53, where a config's dns target without a port asks, of a random
    127.53.x.y: another run on this machine may hold one address (binding 53 needs root)."""
    for _ in range(20):
        host = f"127.53.{random.randrange(256)}.{random.randrange(1, 255)}"
        try:
            return DnsPeer(host=host, port=53).start()
        except OSError:
            continue
    raise RuntimeError("no free 127.53.x.y:53 for the DNS peer")

"""TCP listeners that answer, and ones that never complete a handshake.

Listener: a listening socket. The kernel completes each handshake into the accept
queue by itself, which is all a connect probe sees of a live device.

Blackhole: a listening socket whose accept queue is full. Linux then drops new SYNs
silently, so a connect times out exactly as towards a device whose cable is pulled —
on loopback, with no firewall rule and nothing sent anywhere else.
"""

from __future__ import annotations

import socket


class Listener:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, backlog: int = 64) -> None:
        self.sock = socket.create_server((host, port), backlog=backlog)
        self.host, self.port = self.sock.getsockname()[:2]

    def close(self) -> None:
        self.sock.close()


class Blackhole:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.sock = socket.create_server((host, 0), backlog=0)
        self.host, self.port = self.sock.getsockname()[:2]
        # backlog 0 holds one connection: this one fills the queue.
        self.filler = socket.create_connection((self.host, self.port), timeout=2)

    def close(self) -> None:
        self.filler.close()
        self.sock.close()


def closed_port(host: str = "127.0.0.1") -> int:
    """A port with nothing listening on `host` (it was just freed)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]

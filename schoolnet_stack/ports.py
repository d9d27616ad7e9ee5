"""Loopback ports reserved for a server from the moment it is planned until it listens.

free_port() asks the kernel for a port nobody uses *now*; between that and the server's
bind, other tests (here or in a concurrent run) may be handed the same one. A reserved
port stays bound (not listening) until its server is about to start, and is held again
while the server is down: the kernel never hands out a bound port. This is how every
server's port is kept, including the ones only a config file names (a collector's
/metrics, a broker's TLS listener).
"""

from __future__ import annotations

import socket
import threading

LOOPBACK = "127.0.0.1"

_held: dict[tuple[str, int], socket.socket] = {}
_lock = threading.Lock()


def free_port(host: str = LOOPBACK) -> int:
    """A port nothing listens on right now (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def reserve_port(host: str = LOOPBACK) -> int:
    """A free port, held until release(port) just before its server starts."""
    port = free_port(host)
    hold(port, host)
    return port


def hold(port: int, host: str = LOOPBACK) -> bool:
    """Binds the port (SO_REUSEADDR, despite TIME_WAITs) so nobody else is given it;
    False when someone has it already (its server's start will report that)."""
    with _lock:
        if (host, port) in _held:
            return True
        holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            holder.bind((host, port))
        except OSError:
            holder.close()
            return False
        _held[host, port] = holder
        return True


def release(port: int, host: str = LOOPBACK) -> None:
    """Lets the port's own server bind it (a no-op for a port that is not held)."""
    with _lock:
        holder = _held.pop((host, port), None)
    if holder is not None:
        holder.close()


def is_held(port: int, host: str = LOOPBACK) -> bool:
    with _lock:
        return (host, port) in _held

"""A UDP echo server (RFC 862): every datagram goes back to its sender unchanged.

In a thread for loopback tests:

    peer = UdpEcho().start(); ... peer.port ...; peer.stop()

Or as a process inside a network namespace (standard library only, so it runs as a
plain script): prints "ready PORT" once listening and serves until stdin closes (or sends a line).

    ip netns exec NS python schoolnet_stack/peers/udp_echo.py --host 10.213.0.2 [--port 0]
"""

from __future__ import annotations

import argparse
import select
import socket
import sys
import threading


class UdpEcho:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.host, self.port = self.sock.getsockname()
        self.echoed = 0
        self._stop_r, self._stop_w = socket.socketpair()
        self._thread = threading.Thread(target=self.serve, daemon=True)

    def start(self) -> UdpEcho:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops serving; safe to call again."""
        if self.sock.fileno() == -1:
            return
        self._stop_w.send(b"x")
        self._thread.join(timeout=5)
        for sock in (self.sock, self._stop_r, self._stop_w):
            sock.close()

    def serve(self, also_stop_on=None) -> None:
        """Echoes until stop() (or until `also_stop_on`, a readable file, reaches EOF)."""
        watched = [self.sock, self._stop_r] + ([also_stop_on] if also_stop_on else [])
        while True:
            readable, _, _ = select.select(watched, [], [])
            if self._stop_r in readable or (also_stop_on and also_stop_on in readable):
                return
            data, sender = self.sock.recvfrom(65535)
            self.sock.sendto(data, sender)
            self.echoed += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    peer = UdpEcho(args.host, args.port)
    print(f"ready {peer.port}", flush=True)
    peer.serve(also_stop_on=sys.stdin)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A LibreSpeed-style speed-test endpoint, as a county would host for the http backend.

    GET  /garbage?ckSize=N   N MiB (1-1024, default 4) of random bytes, streamed
    POST /empty              reads the body (Content-Length) and discards it; 200, empty
    GET  /ping               200, empty
    anything else            404

Written from LibreSpeed's PHP backend (garbage.php, empty.php), not from the agent's code.
Requests are served on kept-alive HTTP/1.1 connections, one thread each.

In the test process:    peer = SpeedHttpServer().start(); peer.url; peer.stop()
In a network namespace: python -m schoolnet_stack.peers.speed_http_server --host 10.213.0.2
    prints "listening http://HOST:PORT" once it accepts connections, serves until killed.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MIB = 1024 * 1024
BLOCK = 64 * 1024
_RANDOM = os.urandom(MIB)


class Peer:
    """A threaded HTTP server for one handler class, in its own thread."""

    handler: type[BaseHTTPRequestHandler]

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.requests: list[tuple[str, str]] = []  # (method, path with query), in order
        self.server = ThreadingHTTPServer((host, port), self.handler)
        self.server.daemon_threads = True
        self.server.peer = self  # type: ignore[attr-defined]
        self.host, self.port = self.server.server_address[:2]
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Peer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


class Handler(BaseHTTPRequestHandler):
    """Shared plumbing: keep-alive, quiet logs, a dropped client is not an error."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True  # the client stopped its test mid-transfer

    def record(self) -> None:
        self.server.peer.requests.append((self.command, self.path))  # type: ignore[attr-defined]

    def reply(self, status: int, body: bytes = b"", content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def stream_random(self, size: int, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(size))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        sent = 0
        while sent < size:
            start = sent % MIB
            chunk = _RANDOM[start : start + min(BLOCK, size - sent)]
            self.carry(len(chunk))
            self.wfile.write(chunk)
            sent += len(chunk)

    def discard_body(self) -> int | None:
        """Reads and drops the request body; its size, or None without a Content-Length."""
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            return None
        remaining = int(length)
        while remaining:
            chunk = self.rfile.read(min(BLOCK, remaining))
            if not chunk:
                self.close_connection = True
                break
            self.carry(len(chunk))
            remaining -= len(chunk)
        return int(length) - remaining

    def carry(self, size: int) -> None:
        """Called for every chunk sent or read: where a shaped peer paces its line."""


class LibreSpeedHandler(Handler):
    def do_GET(self) -> None:
        self.record()
        url = urlsplit(self.path)
        if url.path == "/ping":
            self.reply(200)
        elif url.path == "/garbage":
            size = parse_qs(url.query).get("ckSize", ["4"])[0]
            if not size.isdigit() or not 1 <= int(size) <= 1024:
                self.reply(400, b"ckSize must be 1-1024 (MiB)\n")
                return
            self.stream_random(int(size) * MIB, "application/octet-stream")
        else:
            self.reply(404, b"not found\n")

    def do_POST(self) -> None:
        self.record()
        if urlsplit(self.path).path != "/empty":
            self.discard_body()
            self.reply(404, b"not found\n")
        elif self.discard_body() is None:
            self.reply(411, b"Content-Length required\n")
        else:
            self.reply(200)


class SpeedHttpServer(Peer):
    handler = LibreSpeedHandler


def serve_until_killed(peer_class: type[Peer], description: str, argv: list[str] | None = None) -> int:
    """The `python -m` entry point: one ready line on stdout, then serve forever."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port, printed when ready")
    args = parser.parse_args(argv)
    peer = peer_class(args.host, args.port)
    print(f"listening {peer.url}", flush=True)
    try:
        peer.server.serve_forever(0.05)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(serve_until_killed(SpeedHttpServer, "LibreSpeed-style speed test endpoint"))

"""An HTTP/1.1 server (the standard library's), optionally over TLS, in its own thread.

    peer = HttpPeer(status=503).start()            # every GET answers 503
    peer = HttpPeer(tls=(cert_file, key_file)).start()
    peer = HttpPeer(hang=True).start()              # accepts, reads, never answers
    peer = HttpPeer(raw=b"SSH-2.0-x\\r\\n").start()  # answers bytes that are not HTTP
    peer.url("/health") ... peer.stop()

`requests` lists the request lines received, for asserting what the client sent.
"""

from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class HttpPeer:
    def __init__(
        self,
        status: int = 200,
        tls: tuple[str, str] | None = None,
        hang: bool = False,
        raw: bytes | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.status, self.hang, self.raw = status, hang, raw
        self.requests: list[str] = []
        self.stopping = threading.Event()
        self.server = ThreadingHTTPServer((host, 0), _handler_for(self))
        self.server.daemon_threads = True
        self.scheme = "https" if tls else "http"
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            # The handshake happens in each request's thread, not in the accepting one.
            self.server.socket = context.wrap_socket(
                self.server.socket, server_side=True, do_handshake_on_connect=False
            )
        self.host, self.port = self.server.server_address[:2]
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def url(self, path: str = "/") -> str:
        return f"{self.scheme}://{self.host}:{self.port}{path}"

    def start(self) -> HttpPeer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops serving; safe to call again."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


def _handler_for(peer: HttpPeer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            peer.requests.append(self.requestline)
            if peer.hang:
                peer.stopping.wait(30)
                return
            if peer.raw is not None:
                self.wfile.write(peer.raw)
                return
            body = f"status {peer.status}\n".encode()
            self.send_response(peer.status)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args) -> None:
            return  # keep test output clean

        def handle(self) -> None:
            try:
                super().handle()
            except (ssl.SSLError, ConnectionError):
                pass  # a client that rejected our certificate or hung up: expected in tests

    return Handler

"""A server speaking the legacy speedtest.net HTTP protocol (as Ookla's HTTP "legacy" and
speedtest-mini servers did), for the speedtest backend.

    GET  /speedtest/latency.txt             "test=test\\n"
    GET  /speedtest/random{N}x{N}.jpg       2*N*N random bytes (N 1-4000), about the size of
                                            the real images (random4000x4000.jpg: ~31.6 MB)
    POST /speedtest/upload.php              reads the body, answers "size=<bytes read>"
    anything else                           404

Clients add a cache-busting query (?x=<ms>.<n>), ignored here. `requests` records every
request line so a test can check which URLs the client built.

In the test process:    peer = SpeedtestServer().start(); peer.upload_url; peer.stop()
In a network namespace: python -m schoolnet_stack.peers.speedtest_server --host 10.213.0.2
    prints "listening http://HOST:PORT" once it accepts connections, serves until killed.
"""

from __future__ import annotations

import re
import sys
from urllib.parse import urlsplit

from schoolnet_stack.peers.speed_http_server import Handler, Peer, serve_until_killed

_IMAGE = re.compile(r"/speedtest/random(\d{1,4})x(\d{1,4})\.jpg")


class LegacySpeedtestHandler(Handler):
    def do_GET(self) -> None:
        self.record()
        path = urlsplit(self.path).path
        image = _IMAGE.fullmatch(path)
        if path == "/speedtest/latency.txt":
            self.reply(200, b"test=test\n")
        elif image and image.group(1) == image.group(2) and 1 <= int(image.group(1)) <= 4000:
            side = int(image.group(1))
            self.stream_random(2 * side * side, "image/jpeg")
        else:
            self.reply(404, b"not found\n")

    def do_POST(self) -> None:
        self.record()
        received = self.discard_body()
        if urlsplit(self.path).path != "/speedtest/upload.php":
            self.reply(404, b"not found\n")
        elif received is None:
            self.reply(411, b"Content-Length required\n")
        else:
            self.reply(200, f"size={received}".encode())


class SpeedtestServer(Peer):
    handler = LegacySpeedtestHandler

    @property
    def upload_url(self) -> str:
        """The URL speedtest.net's server list would give for this server."""
        return f"{self.url}/speedtest/upload.php"


if __name__ == "__main__":
    sys.exit(serve_until_killed(SpeedtestServer, "legacy speedtest.net protocol server"))

"""The schools' emulated world: real protocol peers on 127.0.0.0/8, in this process.

Each school gets its own addresses (127.N.k.x), so its devices are told apart the way
they are on a real LAN; county services (data centre, DNS, sync platform, echo, speed
server) sit on 127.N.0.x. Nothing here sends a packet off the machine.
"""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from urllib.parse import urlsplit

from demo.pipe import DemoError
from demo.schools import Place, School
from schoolnet_stack.peers.dns import DnsPeer
from schoolnet_stack.peers.pjlink import PjlinkPeer
from schoolnet_stack.peers.speed_http_server import LibreSpeedHandler, Peer
from schoolnet_stack.peers.tcp import Blackhole, Listener, closed_port
from schoolnet_stack.peers.udp_echo import UdpEcho

NETWORKS = range(60, 120)
"""Second octets the demo may use, 127.N.0.0/16 per run: the first N whose county DNS
address has port 53 free, so two demos (or test runs) side by side do not clash."""
DNS_PORT = 53  # the agent's dns check always asks port 53


def paced(free_at: float, now: float, size: int, bytes_per_s: float) -> tuple[float, float]:
    """(when these `size` bytes may go, when the line is free again): one chunk at a time,
    back to back, never faster than the line."""
    start = max(now, free_at)
    return start, start + size / bytes_per_s


class Line:
    """A school's line in one direction: paces bytes so that all its streams together
    move at most `mbps` - on loopback everything is fast, so the demo sets the speed."""

    def __init__(self, mbps: float) -> None:
        self.bytes_per_s = mbps * 1e6 / 8
        self._free_at = 0.0
        self._lock = threading.Lock()

    def carry(self, size: int) -> None:
        with self._lock:
            now = time.monotonic()
            start, self._free_at = paced(self._free_at, now, size, self.bytes_per_s)
        time.sleep(max(0.0, start - now))


class ShapedHandler(LibreSpeedHandler):
    """The LibreSpeed endpoint at /<school>/..., at the speed of that school's line."""

    line: Line | None = None  # the request's, once its path named a school

    def do_GET(self) -> None:
        if self._enter_line("down"):
            super().do_GET()

    def do_POST(self) -> None:
        if self._enter_line("up"):
            super().do_POST()

    def _enter_line(self, direction: str) -> bool:
        school, _, rest = urlsplit(self.path).path.lstrip("/").partition("/")
        line = self.server.peer.lines.get((school, direction))  # type: ignore[attr-defined]
        if line is None:
            self.discard_body()
            self.reply(404, b"no such school line\n")
            return False
        self.line = line
        query = urlsplit(self.path).query
        self.path = f"/{rest}" + (f"?{query}" if query else "")
        return True

    def carry(self, size: int) -> None:
        if self.line is not None:
            self.line.carry(size)


class ShapedSpeedServer(Peer):
    handler = ShapedHandler

    def __init__(self, schools: tuple[School, ...], host: str) -> None:
        super().__init__(host)
        self.lines = {
            (school.id, direction): Line(school.line_mbps) for school in schools for direction in ("down", "up")
        }


def _claim_network() -> tuple[str, DnsPeer]:
    """("127.N", its county DNS bound to port 53) for the first N nobody else uses."""
    for octet in NETWORKS:
        try:
            return f"127.{octet}", DnsPeer(host=f"127.{octet}.0.53", port=DNS_PORT)
        except OSError:
            continue
    raise DemoError(f"127.{NETWORKS[0]}-{NETWORKS[-1]}.0.53 port 53 全被占用 / all taken: too many demos running?")


class EmulatedWorld:
    """Starts every school's devices and the county services; close() stops them all."""

    def __init__(self, schools: tuple[School, ...]) -> None:
        self.schools = schools
        self._stack = ExitStack()
        self.places: dict[str, Place] = {}

    def start(self) -> EmulatedWorld:
        try:
            network, dns = _claim_network()
            self._keep(dns.start(), "stop")
            county = self._county_services(f"{network}.0")
            for number, school in enumerate(self.schools, start=1):
                self.places[school.id] = self._school(school, f"{network}.{number}", f"{network}.0.53", **county)
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        self._stack.close()

    def _county_services(self, net: str) -> dict:
        speed = self._keep(ShapedSpeedServer(self.schools, f"{net}.80").start(), "stop")
        echo = self._keep(UdpEcho(f"{net}.7").start(), "stop")
        return {
            "data_centre": self._listen(f"{net}.1"),
            "platform": self._listen(f"{net}.70"),
            "echo": (echo.host, echo.port),
            "speed_url": speed.url,
        }

    def _school(self, school: School, net: str, county_dns: str, data_centre, platform, echo, speed_url) -> Place:
        return Place(
            panel=(f"{net}.1", closed_port(f"{net}.1")) if school.panel_off else self._listen(f"{net}.1"),
            projector=self._projector(f"{net}.2", dead=school.projector_dead),
            sync_endpoint=(f"{net}.3", closed_port(f"{net}.3")) if school.sync_endpoint_off else self._listen(f"{net}.3"),
            uplink_tcp=(f"{net}.9", closed_port(f"{net}.9")) if school.uplink_down else data_centre,
            uplink_dns=f"{net}.53" if school.uplink_down else county_dns,
            platform=platform,
            echo=echo,
            speed_url=f"{speed_url}/{school.id}",
        )  # fmt: skip

    def _projector(self, host: str, dead: bool) -> tuple[str, int]:
        """A PJLink projector; a dead one (power supply gone) never answers a connect."""
        if dead:
            hole = self._keep(Blackhole(host), "close")
            return hole.host, hole.port
        projector = self._keep(PjlinkPeer(lamp_hours=1234, host=host).start(), "stop")
        return projector.host, projector.port

    def _listen(self, host: str) -> tuple[str, int]:
        listener = self._keep(Listener(host), "close")
        return listener.host, listener.port

    def _keep(self, peer, stop_method: str):
        self._stack.callback(getattr(peer, stop_method))
        return peer

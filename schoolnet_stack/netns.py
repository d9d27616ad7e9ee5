"""Shaped links between network-namespace "hosts", for tests of slow or broken networks.

A Link is two hosts (side "a" and side "b"), each its own network namespace, joined by a
point-to-point cable with addresses from a private /30 in 10.213.0.0/16. Traffic never
leaves this machine. Side "a" may instead be the test process's own namespace
(`a_in_root=True`), so servers started by servers.py can listen on `a_ip` and be reached
from a host behind the link.

The cable is a pair of TUN devices joined by wire.py, a small userspace process: our
kernels have no sch_netem, so delay, jitter, loss and cuts are done there. Rate is
shaped in the kernel by tbf on each side's egress (argv from `tbf_argv`, a pure
function). Everything is the same in both directions.

    with Link(rate_mbit=50, delay_ms=40) as link:
        server = link.popen_in("b", ["iperf3", "-s", "-B", link.b_ip])
        link.run_in("a", ["fping", "-C", "3", "-t", "1000", link.b_ip])
        link.cut(); ...; link.restore()

Closing a Link kills whatever still runs inside its namespaces, then deletes them.

Namespaces are named sn-<pid>-<tag>-<side> so `cleanup_stale()` can remove those left by
a test process that died (its pid is gone) without touching a concurrent run's.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import random
import re
import secrets
import signal
import struct
import subprocess
import sys
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self needs Python 3.11

NETWORK = ipaddress.ip_network("10.213.0.0/16")
NAMESPACE_PREFIX = "sn-"
SIDES = ("a", "b")
MTU = 1500

_TUNSETIFF = 0x400454CA
_IFF_TUN = 0x0001
_IFF_NO_PI = 0x1000
_WIRE_SCRIPT = Path(__file__).with_name("wire.py")
_STALE_NAME = re.compile(rf"^{NAMESPACE_PREFIX}(\d+)-")


@dataclass(frozen=True)
class Shaping:
    """Impairments of a link, applied to each direction separately.

    rate_mbit: tbf rate limit in Mbit/s (None: unlimited). delay_ms, jitter_ms: one-way,
    so a ping RTT is about 2 * delay_ms. loss_pct: per packet and per direction.
    """

    rate_mbit: float | None = None
    delay_ms: float | None = None
    jitter_ms: float | None = None
    loss_pct: float | None = None

    def __post_init__(self) -> None:
        for name in ("rate_mbit", "delay_ms", "jitter_ms", "loss_pct"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        if self.rate_mbit is not None and self.rate_mbit <= 0:
            raise ValueError("rate_mbit must be > 0 (use cut() to stop traffic)")
        if self.loss_pct is not None and self.loss_pct > 100:
            raise ValueError(f"loss_pct must be <= 100, got {self.loss_pct}")

    def wire_control(self, cut: bool) -> dict:
        """The control line wire.py expects for this shaping."""
        return {
            "delay_ms": self.delay_ms or 0,
            "jitter_ms": self.jitter_ms or 0,
            "loss_pct": self.loss_pct or 0,
            "cut": cut,
        }


def tbf_burst_bytes(rate_mbit: float) -> int:
    """Bucket size: 10 ms of traffic, at least 16 KiB.

    A bucket smaller than what the kernel can send between two timer ticks (rate/HZ;
    HZ is 250 on our VMs) makes tbf undershoot its rate; it must also hold a full packet.
    """
    return max(int(rate_mbit * 1e6 / 8 / 100), 16 * 1024, MTU)


TBF_LATENCY_MS = 100
"""How long a packet may wait in tbf's queue, about a real shaper's buffer. Shorter than a
round trip and TCP measures low; longer only adds bufferbloat to pings under load."""


def tbf_argv(dev: str, rate_mbit: float | None, netns: str | None = None) -> list[str]:
    """The tc command that sets the egress shaping of dev (in netns, if given).

    Without a rate the root qdisc becomes a plain FIFO, so each call fully replaces the
    previous state and never depends on what was there before.
    """
    argv = ["tc"] + (["-n", netns] if netns else []) + ["qdisc", "replace", "dev", dev, "root"]
    if rate_mbit is None:
        return argv + ["pfifo", "limit", "1000"]
    return argv + [
        "tbf",
        "rate", f"{rate_mbit * 1000:g}kbit",
        "burst", str(tbf_burst_bytes(rate_mbit)),
        "latency", f"{TBF_LATENCY_MS}ms",
    ]  # fmt: skip


def namespace_name(pid: int, tag: str, side: str) -> str:
    return f"{NAMESPACE_PREFIX}{pid}-{tag}-{side}"


def stale_namespaces(names: list[str], pid_alive) -> list[str]:
    """Our namespaces (by name) whose creating process is gone."""
    stale = []
    for name in names:
        match = _STALE_NAME.match(name)
        if match and not pid_alive(int(match.group(1))):
            stale.append(name)
    return stale


def list_namespaces() -> list[str]:
    out = _run(["ip", "netns", "list"]).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def cleanup_stale() -> list[str]:
    """Deletes sn-* namespaces left by crashed test runs; returns their names."""
    stale = stale_namespaces(list_namespaces(), _pid_alive)
    for name in stale:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
    return stale


class Link:
    """Two hosts joined by one shaped cable. See the module docstring."""

    def __init__(
        self,
        rate_mbit: float | None = None,
        delay_ms: float | None = None,
        jitter_ms: float | None = None,
        loss_pct: float | None = None,
        *,
        a_in_root: bool = False,
    ) -> None:
        self.shaping = Shaping(rate_mbit, delay_ms, jitter_ms, loss_pct)
        self.a_in_root = a_in_root
        tag = secrets.token_hex(3)
        self.netns = {
            "a": None if a_in_root else namespace_name(os.getpid(), tag, "a"),
            "b": namespace_name(os.getpid(), tag, "b"),
        }
        self.dev = {side: f"sn{tag}{side}" for side in SIDES}  # <= 15 chars
        self.ip: dict[str, str] = {}
        self.is_cut = False
        self._wire: subprocess.Popen | None = None
        self._wire_lock = threading.Lock()  # chaos threads may cut() while a test reads

    # -- addresses and names ---------------------------------------------------------

    @property
    def a_ip(self) -> str:
        return self.ip["a"]

    @property
    def b_ip(self) -> str:
        return self.ip["b"]

    @property
    def wire_pid(self) -> int | None:
        """The userspace wire's process (delay and loss happen there): a benchmark watches its
        CPU to show the wire was not what limited a test."""
        return self._wire.pid if self._wire else None

    @property
    def a_ns(self) -> str | None:
        return self.netns["a"]

    @property
    def b_ns(self) -> str | None:
        return self.netns["b"]

    # -- lifecycle -------------------------------------------------------------------

    def open(self) -> Self:
        """Creates namespaces, devices, addresses, shaping and the wire."""
        try:
            self._create()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Stops the wire, kills what still runs in our namespaces and deletes them.

        Safe to call twice. Without the kill, a leftover process would keep its
        namespace alive (unnamed) after `ip netns del`.
        """
        self._stop_wire()
        existing = list_namespaces()
        for ns in self.netns.values():
            if ns in existing:
                _kill_processes_in(ns)
                subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- changing the link on the fly --------------------------------------------------

    def set_shaping(
        self,
        rate_mbit: float | None = None,
        delay_ms: float | None = None,
        jitter_ms: float | None = None,
        loss_pct: float | None = None,
    ) -> None:
        """Replaces the whole shaping (unspecified impairments are removed)."""
        self.shaping = Shaping(rate_mbit, delay_ms, jitter_ms, loss_pct)
        self._apply_rate()
        self._control_wire()

    def update_shaping(self, **changes) -> None:
        """Changes only the named impairments, e.g. update_shaping(loss_pct=5)."""
        self.shaping = replace(self.shaping, **changes)
        self._apply_rate()
        self._control_wire()

    def cut(self) -> None:
        """Drops every packet both ways, silently, like a cut cable, until restore()."""
        self.is_cut = True
        self._control_wire()

    def restore(self) -> None:
        self.is_cut = False
        self._control_wire()

    def wire_counters(self) -> dict:
        """{"forwarded": n, "dropped": n} packets since the link was opened."""
        return self._control_wire()

    # -- running programs on a side ------------------------------------------------------

    def argv_in(self, side: str, argv: list[str]) -> list[str]:
        """argv prefixed so it runs in side's namespace."""
        ns = self.netns[_check_side(side)]
        return ["ip", "netns", "exec", ns, *argv] if ns else list(argv)

    def run_in(self, side: str, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        """subprocess.run in side's namespace; captures text output unless told otherwise."""
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        return subprocess.run(self.argv_in(side, argv), check=kwargs.pop("check", False), **kwargs)

    def popen_in(self, side: str, argv: list[str], **kwargs) -> subprocess.Popen:
        return subprocess.Popen(self.argv_in(side, argv), **kwargs)

    # -- internals -------------------------------------------------------------------

    def _create(self) -> None:
        self._pick_addresses()
        for ns in self.netns.values():
            if ns:
                _run(["ip", "netns", "add", ns])
                _run(["ip", "-n", ns, "link", "set", "lo", "up"])
        tun_fds: dict[str, int] = {}
        try:
            for side in SIDES:
                tun_fds[side] = _open_tun(self.dev[side])
            for side in SIDES:
                self._configure_side(side)
            self._start_wire(tun_fds["a"], tun_fds["b"])
        finally:
            for fd in tun_fds.values():
                os.close(fd)  # the wire holds its own copies; the devices die with it
        self._apply_rate()
        self._control_wire()

    def _pick_addresses(self) -> None:
        """A random /30 in 10.213/16; when a side is in our namespace, one not in use."""
        taken = _root_routes() if self.a_in_root else ""
        subnets = list(NETWORK.subnets(new_prefix=30))
        for _ in range(100):
            subnet = random.choice(subnets)
            if str(subnet) not in taken:
                hosts = list(subnet.hosts())
                self.ip = {"a": str(hosts[0]), "b": str(hosts[1])}
                return
        raise RuntimeError(f"no free /30 left in {NETWORK}")

    def _configure_side(self, side: str) -> None:
        ns, dev = self.netns[side], self.dev[side]
        ip = ["ip"] + (["-n", ns] if ns else [])
        if ns:
            _run(["ip", "link", "set", "dev", dev, "netns", ns])
        _run(ip + ["addr", "add", f"{self.ip[side]}/30", "dev", dev])
        _run(ip + ["link", "set", "dev", dev, "mtu", str(MTU), "up"])

    def _apply_rate(self) -> None:
        for side in SIDES:
            _run(tbf_argv(self.dev[side], self.shaping.rate_mbit, self.netns[side]))

    def _start_wire(self, fd_a: int, fd_b: int) -> None:
        self._wire = subprocess.Popen(
            [sys.executable, str(_WIRE_SCRIPT), "--fd-a", str(fd_a), "--fd-b", str(fd_b)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            pass_fds=(fd_a, fd_b),
            text=True,
            bufsize=1,
        )

    def _control_wire(self) -> dict:
        """Sends the current shaping and cut state to the wire; returns its counters."""
        with self._wire_lock:
            if self._wire is None or self._wire.poll() is not None:
                raise RuntimeError(f"the wire of link {self.dev['a']} is not running")
            self._wire.stdin.write(json.dumps(self.shaping.wire_control(self.is_cut)) + "\n")
            self._wire.stdin.flush()
            reply = json.loads(self._wire.stdout.readline() or '{"error": "wire exited"}')
        if "error" in reply:
            raise RuntimeError(f"wire refused {self.shaping}: {reply['error']}")
        return reply

    def _stop_wire(self) -> None:
        with self._wire_lock:
            wire, self._wire = self._wire, None
        if wire is None:
            return
        wire.stdin.close()  # EOF: the wire exits and its TUN devices disappear
        try:
            wire.wait(timeout=5)
        except subprocess.TimeoutExpired:
            wire.kill()
            wire.wait()
        wire.stdout.close()


def _check_side(side: str) -> str:
    if side not in SIDES:
        raise ValueError(f"side must be 'a' or 'b', got {side!r}")
    return side


def _open_tun(name: str) -> int:
    """Creates TUN device `name` (raw IP packets, no extra header) in our namespace."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, _TUNSETIFF, struct.pack("16sH", name.encode(), _IFF_TUN | _IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    return fd


def _kill_processes_in(ns: str) -> None:
    pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, check=False).stdout
    for pid in pids.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass


def _root_routes() -> str:
    return _run(["ip", "-4", "route", "show", "table", "all"]).stdout


def _pid_alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def _run(argv: list[str]) -> subprocess.CompletedProcess:
    """Runs a setup command; a failure raises with the command and its stderr."""
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")
    return result

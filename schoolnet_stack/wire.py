"""A userspace wire between two TUN devices: delay, jitter, loss and cuts.

Why this exists: the kernels of our dev and CI VMs are built without sch_netem
(CONFIG_NET_SCH_NETEM is unset and modules are disabled), so `tc qdisc ... netem` fails
with "Specified qdisc kind is unknown". Rate limiting still uses the kernel's tbf (see
netns.py); everything netem would do is done here instead, the same on every kernel.

netns.Link opens one TUN device per side, moves each into its namespace and starts this
script with the two file descriptors. Every IP packet one side sends is read here and
written into the other side's TUN device after the configured delay, unless it is lost.

Control: one JSON object per line on stdin, e.g. {"delay_ms": 40, "jitter_ms": 5,
"loss_pct": 1, "cut": false, "seed": 7}; each line is answered on stdout with one JSON line
of counters ({"forwarded": n, "dropped": n} or {"error": "..."}). EOF on stdin (the test
process ended, even by a crash) stops the wire, which closes the TUN devices with it.

Semantics, per direction and the same both ways (like netem on both ends' egress):
  delay   every packet is held delay_ms (+- a uniform jitter_ms, never below 0);
  order   kept: a packet never overtakes the one before it (netem without a rate does
          reorder under jitter, which makes TCP see spurious losses; real links don't);
  loss    each packet is dropped independently with probability loss_pct / 100, so a
          ping round trip is lost with probability 1 - (1 - p)**2;
  cut     every packet is dropped silently (a cut cable: no error reaches the sender).

Standard library only: it runs as `python wire.py --fd-a N --fd-b M`.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import random
import select
import sys
import time
from dataclasses import dataclass

MAX_PACKET = 65535


@dataclass
class Impairment:
    """What the wire does to each packet; replaced as a whole by each control line."""

    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss_pct: float = 0.0
    cut: bool = False

    @classmethod
    def from_json(cls, obj: dict) -> Impairment:
        unknown = set(obj) - {"delay_ms", "jitter_ms", "loss_pct", "cut", "seed"}
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)}")
        imp = cls(
            delay_ms=float(obj.get("delay_ms") or 0),
            jitter_ms=float(obj.get("jitter_ms") or 0),
            loss_pct=float(obj.get("loss_pct") or 0),
            cut=bool(obj.get("cut", False)),
        )
        if imp.delay_ms < 0 or imp.jitter_ms < 0 or not 0 <= imp.loss_pct <= 100:
            raise ValueError(f"out of range: {obj}")
        return imp


class Wire:
    """Moves packets between two TUN file descriptors, holding each until it is due."""

    def __init__(self, fd_a: int, fd_b: int, control_in: int, control_out: int) -> None:
        self.peer = {fd_a: fd_b, fd_b: fd_a}
        self.control_in = control_in
        self.control_out = control_out
        self.impairment = Impairment()
        self.rng = random.Random()
        self.pending: list[tuple[float, int, int, bytes]] = []  # (due, seq, out_fd, packet)
        self.last_due = {fd_a: 0.0, fd_b: 0.0}  # per out_fd: keeps each direction in order
        self.seq = 0
        self.forwarded = 0
        self.dropped = 0
        self._line = b""

    def run(self) -> None:
        poller = select.epoll()
        os.set_blocking(self.control_out, True)
        for fd in (*self.peer, self.control_in):
            os.set_blocking(fd, False)
            poller.register(fd, select.EPOLLIN)
        while True:
            for fd, _ in poller.poll(self._seconds_to_next_due()):
                if fd == self.control_in:
                    if not self._read_control():
                        return
                else:
                    self._drain(fd)
            self._release_due()

    def _seconds_to_next_due(self) -> float:
        if not self.pending:
            return -1  # block until a packet or a control line arrives
        return max(0.0, self.pending[0][0] - time.monotonic())

    def _drain(self, in_fd: int) -> None:
        """Reads every packet waiting on in_fd and schedules (or drops) each one."""
        out_fd = self.peer[in_fd]
        while True:
            try:
                packet = os.read(in_fd, MAX_PACKET)
            except BlockingIOError:
                return
            if self._is_lost():
                self.dropped += 1
                continue
            due = max(time.monotonic() + self._delay_seconds(), self.last_due[out_fd])
            self.last_due[out_fd] = due
            self.seq += 1
            heapq.heappush(self.pending, (due, self.seq, out_fd, packet))

    def _is_lost(self) -> bool:
        imp = self.impairment
        return imp.cut or (imp.loss_pct > 0 and self.rng.random() * 100 < imp.loss_pct)

    def _delay_seconds(self) -> float:
        imp = self.impairment
        jitter = self.rng.uniform(-imp.jitter_ms, imp.jitter_ms) if imp.jitter_ms else 0.0
        return max(0.0, imp.delay_ms + jitter) / 1000

    def _release_due(self) -> None:
        now = time.monotonic()
        while self.pending and self.pending[0][0] <= now:
            _, _, out_fd, packet = heapq.heappop(self.pending)
            try:
                os.write(out_fd, packet)
                self.forwarded += 1
            except OSError:  # the far device is down or gone: the packet is lost
                self.dropped += 1

    def _read_control(self) -> bool:
        """Applies each complete control line; returns False on EOF (time to stop)."""
        try:
            chunk = os.read(self.control_in, 4096)
        except BlockingIOError:
            return True
        if not chunk:
            return False
        self._line += chunk
        while b"\n" in self._line:
            line, self._line = self._line.split(b"\n", 1)
            self._reply(self._apply(line))
        return True

    def _apply(self, line: bytes) -> dict:
        try:
            obj = json.loads(line)
            self.impairment = Impairment.from_json(obj)
            if "seed" in obj:
                self.rng.seed(obj["seed"])
        except (ValueError, TypeError, AttributeError) as exc:
            return {"error": f"{exc}"}
        if self.impairment.cut:
            self.dropped += len(self.pending)
            self.pending.clear()  # packets already on a cut cable never arrive
        return {"forwarded": self.forwarded, "dropped": self.dropped}

    def _reply(self, obj: dict) -> None:
        os.write(self.control_out, (json.dumps(obj) + "\n").encode())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fd-a", type=int, required=True)
    parser.add_argument("--fd-b", type=int, required=True)
    args = parser.parse_args(argv)
    Wire(args.fd_a, args.fd_b, sys.stdin.fileno(), sys.stdout.fileno()).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())

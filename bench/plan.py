"""What one run of the benchmarks is asked to do, and how every wait in it can be cut short.

A benchmark sleeps a lot (waiting for a speed test, an alert, a fleet to run its minutes).
Every such wait goes through RunPlan.pause(), so Ctrl-C or SIGTERM stops the run at once
and the `with` blocks around servers, namespaces and processes clean up on the way out.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path


class Stopped(Exception):
    """The run was asked to stop (Ctrl-C, SIGTERM); raised out of a pause()."""


@dataclass(frozen=True)
class RunPlan:
    quick: bool
    workdir: Path
    """Scratch space for this run's servers and files (removed at the end)."""
    grid_delays_ms: tuple[float, ...] = ()
    """`--grid`: accuracy runs only its lossy grid (issue 15), at these one-way delays."""
    stop: threading.Event = field(default_factory=threading.Event, compare=False)
    links_quiet: threading.Event = field(default_factory=threading.Event, compare=False)
    """Set while no background benchmark loads a link: footprint's speed test would take CPU
    (its shaped link's wire, iperf3) from the accuracy runs, so they wait for it."""

    def __post_init__(self) -> None:
        self.links_quiet.set()

    def wait_links_quiet(self, who: str) -> None:
        """Returns once no background benchmark loads a link (see links_quiet)."""
        if not self.links_quiet.is_set():
            say(f"{who}: waiting for footprint's speed test to end")
            while not self.links_quiet.wait(1.0):
                self.check()

    def pause(self, seconds: float) -> None:
        """Sleeps, unless the run is stopping (then raises Stopped)."""
        if self.stop.wait(max(0.0, seconds)):
            raise Stopped()

    def check(self) -> None:
        if self.stop.is_set():
            raise Stopped()

    def wait_for(self, predicate, timeout_s: float, every_s: float = 0.2, what: str = ""):
        """Polls predicate until it returns something truthy (returned), or raises
        TimeoutError naming `what`."""
        deadline = time.monotonic() + timeout_s
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no {what or predicate} within {timeout_s:g} s")
            self.pause(every_s)

    def scratch(self, name: str) -> Path:
        folder = self.workdir / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder


def say(text: str) -> None:
    """Progress for the person watching the run (stderr; the report is the result)."""
    print(f"{time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)

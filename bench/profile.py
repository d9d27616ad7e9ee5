"""Where a Python process spends its CPU: py-spy sampling it from outside, summarised.

py-spy (pip install py-spy into .venv; for the benchmarks only, not a project dependency)
reads the interpreter's stacks without stopping it. Its raw output is one line per distinct
stack, "thread (TID): NAME;frame (file:line);frame (file:line) COUNT"; summarise() turns
that into shares per thread, per function where the time is spent (self) and per function
including what it calls (inclusive). Idle threads are not sampled, so the shares are of the
time the process was running Python code.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

_THREAD = re.compile(r"^thread \(\w+\): ")


def py_spy() -> str | None:
    """The py-spy program beside this interpreter, or on PATH; None when not installed."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


@dataclass(frozen=True)
class Share:
    name: str
    pct: float


@dataclass(frozen=True)
class ProfileSummary:
    samples: int
    threads: tuple[Share, ...]
    self_time: tuple[Share, ...]
    inclusive: tuple[Share, ...]

    def lines(self, top: int = 10) -> list[str]:
        """For the report: one line each for threads, busiest functions, widest callers."""
        def listing(shares: tuple[Share, ...]) -> str:
            return "; ".join(f"{share.name} {share.pct:.0f}%" for share in shares[:top])

        return [
            f"py-spy, {self.samples} samples of running Python code. Threads: {listing(self.threads)}.",
            f"Self time (where the CPU is spent): {listing(self.self_time)}.",
            f"Inclusive (the function and what it calls): {listing(self.inclusive)}.",
        ]


def function_of(frame: str) -> str:
    """'to_points (agent/contract.py:420)' -> 'to_points (contract.py)': per function, not line."""
    name, _, where = frame.partition(" (")
    file = where.rsplit(":", 1)[0].rstrip(")")
    return f"{name} ({Path(file).name})" if file else name


def summarise(raw: str) -> ProfileSummary:
    """Shares (% of samples) from py-spy's raw output; see the module docstring."""
    threads: Counter = Counter()
    self_time: Counter = Counter()
    inclusive: Counter = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = _THREAD.sub("", stack).split(";")
        thread, calls = frames[0], [function_of(frame) for frame in frames[1:]]
        total += count
        threads[thread] += count
        if calls:
            self_time[calls[-1]] += count
        for function in set(calls):
            inclusive[function] += count
    return ProfileSummary(total, _shares(threads, total), _shares(self_time, total), _shares(inclusive, total))


def _shares(counts: Counter, total: int) -> tuple[Share, ...]:
    if not total:
        return ()
    return tuple(Share(name, 100 * count / total) for name, count in counts.most_common())


class Recording:
    """py-spy attached to a running process until stop(); then its raw stacks are read."""

    def __init__(self, pid: int, output: Path, rate_hz: int = 100) -> None:
        program = py_spy()
        if program is None:
            raise FileNotFoundError("py-spy is not installed: .venv/bin/pip install py-spy (benchmarks only)")
        self.output = output
        self.process = subprocess.Popen(
            [program, "record", "--pid", str(pid), "--rate", str(rate_hz), "--format", "raw",
             "--output", str(output), "--threads", "--nonblocking"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    def stop(self) -> ProfileSummary:
        """Ctrl-C to py-spy (it then writes its file) and the summary of what it saw."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            _, errors = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, errors = self.process.communicate()
        if not self.output.exists():
            raise RuntimeError(f"py-spy wrote nothing: {errors[-500:]}")
        return summarise(self.output.read_text(encoding="utf-8", errors="replace"))

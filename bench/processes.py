"""Programs the benchmarks start: ready when they say so, timed with their own CPU, and
always stopped, even when the run is interrupted.

    with Programs() as programs:
        programs.serve(["iperf3", "-s", ...], ready="Server listening")
        timed = timed_run(["fping", ...])
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self needs Python 3.11

REPO = Path(__file__).resolve().parents[1]


class ProgramError(RuntimeError):
    """A program did not start or failed; the message carries what it printed."""


def wait_for_line(process: subprocess.Popen, text: str, timeout_s: float = 30.0) -> str:
    """Reads the program's output up to the first line containing `text` and returns it.

    The rest is drained in a thread: a full pipe would stall the program mid-benchmark."""
    found: list[str] = []
    seen: list[str] = []
    done = threading.Event()

    def read() -> None:
        for line in process.stdout:
            if not found:
                seen.append(line)
                if text in line:
                    found.append(line)
                    done.set()
        done.set()

    threading.Thread(target=read, daemon=True).start()
    if not done.wait(timeout_s) or not found:
        said = "".join(seen)[-1500:]
        raise ProgramError(f"{process.args} did not print {text!r} within {timeout_s:g} s; it printed:\n{said}")
    return found[0]


def stop(process: subprocess.Popen, timeout_s: float = 10.0) -> int | None:
    """SIGTERM, then SIGKILL if it lingers; returns the exit status."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


@dataclass(frozen=True)
class Served:
    process: subprocess.Popen
    ready_line: str
    """What it printed when ready: often its address."""


class Programs:
    """Starts programs and stops every one of them when the block ends."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen] = []

    def start(self, argv: list[str], **popen) -> subprocess.Popen:
        """Starts argv (from the repository root, output discarded unless told otherwise)."""
        popen.setdefault("cwd", REPO)
        popen.setdefault("stdin", subprocess.DEVNULL)
        popen.setdefault("stdout", subprocess.DEVNULL)
        process = subprocess.Popen(argv, **popen)
        self.started.append(process)
        return process

    def serve(self, argv: list[str], ready: str, timeout_s: float = 30.0, **popen) -> Served:
        """Starts a server and returns once it printed a line containing `ready`."""
        popen.update(stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        process = self.start(argv, **popen)
        return Served(process, wait_for_line(process, ready, timeout_s))

    def stop_all(self) -> None:
        for process in reversed(self.started):
            stop(process)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop_all()


@dataclass(frozen=True)
class Timed:
    """One program run: wall time from start to exit and the CPU it used (its own rusage)."""

    wall_s: float
    cpu_s: float
    returncode: int
    stdout: str
    stderr: str


def timed_run(argv: list[str], timeout_s: float = 120.0, cwd: Path = REPO) -> Timed:
    """Runs argv to the end. CPU comes from wait4() on this very process, so programs other
    threads of the run start meanwhile are not counted in."""
    started = time.monotonic()
    process = subprocess.Popen(
        argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    timer = threading.Timer(timeout_s, process.kill)
    timer.start()
    try:
        stdout, stderr = _read_both(process)
        _, status, rusage = os.wait4(process.pid, 0)
    finally:
        timer.cancel()
    wall = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return Timed(wall, rusage.ru_utime + rusage.ru_stime, process.returncode, stdout, stderr)


def _read_both(process: subprocess.Popen) -> tuple[str, str]:
    """Both pipes to EOF without waiting for the process (wait4 must reap it, not Popen)."""
    chunks: dict[str, str] = {}
    reader = threading.Thread(target=lambda: chunks.__setitem__("err", process.stderr.read()), daemon=True)
    reader.start()
    out = process.stdout.read()
    reader.join()
    process.stdout.close()
    process.stderr.close()
    return out, chunks.get("err", "")

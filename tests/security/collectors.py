"""Collectors for the security tests, which also need ones that never become healthy (a
wrong password, an untrusted broker): tests/collector/running.py's wait until they are.

VerboseCollector: `collector.cli run -v` as a subprocess, every logger at DEBUG, stdout and
stderr in one file. collector_in_process: the service on threads, its counters at hand."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from collector.config import load_config
from collector.metrics import Metrics
from collector.service import Collector
from schoolnet_stack.servers import wait_until
from tests.collector.running import ROOT

HEALTHY = (200, "ok\n")


class VerboseCollector:
    def __init__(self, config_path: Path, log_path: Path):
        self.config_path, self.log_path = config_path, log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> VerboseCollector:
        """Starts it without waiting: it may never become healthy."""
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "collector.cli", "run", "-v", "-c", str(self.config_path)],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        return self

    def wait_for_log(self, text: str, timeout_s: float = 15) -> None:
        wait_until(lambda: text in self.log(), timeout_s, what=f"{text!r} in the collector's log")

    def log(self) -> str:
        return self.log_path.read_text("utf-8", "replace") if self.log_path.exists() else ""

    def stop(self) -> int:
        """SIGTERM, as systemd stops it; the exit status."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=10)


@contextmanager
def collector_in_process(config_path: Path) -> Iterator[Metrics]:
    """The collector service on threads of this process, its counters at hand; unlike
    running.InProcessCollector it does not wait to be healthy (it may never be)."""
    metrics = Metrics()
    collector = Collector(load_config(config_path), metrics)
    collector.start()
    try:
        yield metrics
    finally:
        collector.stop()
        assert collector.wait(timeout=30), "the collector did not stop within 30 s"

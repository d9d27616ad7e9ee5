"""The collector and the agent as the tests, the demo and the benchmarks run them.

A collector runs either in this process (InProcessCollector: threads, quick, its counters
at hand) or as `python -m collector.cli run -c FILE` (CollectorProcess: what systemd
starts, for SIGKILL and SIGTERM). An agent runs as `python -m agent.cli run -c FILE`, or
as a stand-in agent's own argv (AgentProcess). Either way it is the real service with a
real config file, against the stack's real servers; one class each, so a fix to how they
are started, awaited or stopped reaches every caller.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

from collector.config import load_config
from collector.metrics import Metrics, MetricsServer
from collector.service import Collector
from schoolnet_stack import ports
from schoolnet_stack.servers import ServerError, wait_until

REPO = Path(__file__).resolve().parents[1]
READY = (200, "ok\n")
"""/healthz once the collector is subscribed."""


# -- the collector -------------------------------------------------------------------------------


def write_collector_config(folder: Path, broker_port: int, store_url: str, client_id: str, **sections) -> Path:
    """A collector config for the stack's servers (JSON, which YAML reads), as FOLDER/CLIENT_ID.yaml.

    Its /metrics port is reserved (schoolnet_stack.ports) until a collector starts on it;
    `sections` override or add keys per section."""
    config = {
        "broker": {"url": f"mqtt://127.0.0.1:{broker_port}", "allow_plaintext": True,
                   "client_id": client_id, "group": "test-collectors", "keepalive_s": 10},
        "store": {"url": store_url, "retry_max_s": 1, "timeout_s": 5},
        "batch": {"max_wait_s": 0.2},
        "deadletter": {"path": str(folder / f"{client_id}-deadletter.jsonl")},
        "http": {"listen": f"127.0.0.1:{ports.reserve_port()}"},
    }  # fmt: skip
    for section, values in sections.items():
        config.setdefault(section, {}).update(values)
    path = folder / f"{client_id}.yaml"
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return path


def http_port(config_path: Path) -> int:
    return load_config(config_path).http.port


def scrape(port: int) -> dict[str, float]:
    """The collector's /metrics as {name{labels}: value}; {} when it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            text = reply.read().decode()
    except OSError:
        return {}
    pairs = (line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {name: float(value) for name, value in pairs}


def healthz(port: int) -> tuple[int, str] | None:
    """(status, reason) from /healthz; None when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return None


class InProcessCollector:
    """The service and its /metrics server on threads of this process."""

    def __init__(self, config_path: Path, metrics: Metrics | None = None):
        self.config = load_config(config_path)
        self.metrics = metrics or Metrics()
        ports.release(self.config.http.port, self.config.http.host)
        self.server = MetricsServer(self.metrics, self.config.http.host, self.config.http.port)
        self.collector = Collector(self.config, self.metrics)
        self.port = self.server.port

    def __enter__(self):
        self.server.start()
        self.collector.start()
        wait_until(lambda: healthz(self.port) == READY, 30, what="the collector to subscribe")
        return self

    def __exit__(self, *exc_info) -> None:
        self.collector.stop()
        assert self.collector.wait(timeout=30), "collector did not stop within 30 s"
        self.server.stop()


class CollectorProcess:
    """`python -m collector.cli run -c FILE` as a subprocess, its log in a file (by default
    beside the config); its /metrics port stays reserved while it is not running.
    new_session=True starts it in a session of its own, so that a Ctrl-C at the terminal
    reaches only the program that started it (the demo), which then stops it in order."""

    def __init__(self, config_path: Path, log_path: Path | None = None, *, new_session: bool = False) -> None:
        self.config_path = config_path
        self.new_session = new_session
        self.log_path = log_path or config_path.with_suffix(".log")
        self.port = http_port(config_path)
        self.process: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def start(self, wait: bool = True) -> CollectorProcess:
        """Starts it and, unless wait=False (a benchmark timing several), waits until subscribed."""
        ports.release(self.port)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "collector.cli", "run", "-c", str(self.config_path)],
                cwd=REPO, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=self.new_session,
            )  # fmt: skip
        if wait:
            self.wait_subscribed()
        return self

    def wait_subscribed(self, timeout_s: float = 30.0) -> None:
        """Until /healthz says subscribed; ServerError with the log's tail if it exits first."""
        try:
            wait_until(lambda: self.exited() is not None or healthz(self.port) == READY, timeout_s,
                       what=f"collector {self.config_path.stem} to subscribe")
        except AssertionError as timeout:
            raise ServerError(f"{timeout}; its log:\n{self.log_tail()}") from None
        if self.exited() is not None:
            raise ServerError(f"collector {self.config_path.stem} exited with {self.exited()}; "
                              f"its log:\n{self.log_tail()}")

    def exited(self) -> int | None:
        return self.process.poll()

    def metrics(self) -> dict[str, float]:
        return scrape(self.port)

    def kill(self) -> None:
        """SIGKILL: a crash, as far as the broker and the store can tell."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        ports.hold(self.port)

    def terminate(self, timeout_s: float = 30) -> int:
        """SIGTERM, and its exit status (it must exit within timeout_s)."""
        self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(timeout=timeout_s)
        ports.hold(self.port)
        return status

    def stop(self, timeout_s: float = 40) -> int | None:
        """SIGTERM, SIGKILL if it lingers: always gone afterwards."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            try:
                return self.terminate(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()

    def log(self) -> str:
        return self.log_path.read_text("utf-8", "replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log().splitlines()[-lines:]) or "(no log)"


# -- the agent ----------------------------------------------------------------------------------


class AgentProcess:
    """An agent in a process of its own, so a test can SIGTERM, SIGKILL or freeze it.

    By default `python -m agent.cli run -c CONFIG`, as systemd runs it; `argv` runs a
    stand-in agent instead, and hold_stdin keeps a pipe to its stdin (such a stand-in
    ends when the pipe closes, so it never outlives the test). What it prints (stdout and
    stderr: the agent logs to stderr) is collected line by line, and also appended to
    `log_path` when given. journal=True sets JOURNAL_STREAM, as systemd does, so the
    agent writes journald's priority prefixes.
    """

    def __init__(self, config_path: Path | None = None, *, argv: Sequence[str] | None = None,
                 log_path: Path | None = None, env: dict | None = None, journal: bool = False,
                 hold_stdin: bool = False) -> None:
        if argv is None:
            argv = [sys.executable, "-m", "agent.cli", "run", "-c", str(config_path)]
        environment = {**os.environ, **(env or {})}
        environment.pop("JOURNAL_STREAM", None)
        if journal:
            environment["JOURNAL_STREAM"] = "8:4242"
        self.log_path = log_path
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            list(argv), cwd=REPO, env=environment, stdin=subprocess.PIPE if hold_stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        with open(self.log_path, "a", encoding="utf-8") if self.log_path else nullcontext() as log:
            for line in self.process.stdout:
                self.lines.append(line.rstrip("\n"))
                if log:
                    log.write(line)
                    log.flush()

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def wait_for_log(self, text: str, timeout: float = 30.0, exact: bool = False) -> str:
        """The first line containing `text` (equal to it, with exact=True), once it has
        been printed; an AssertionError with everything printed if it exits first."""

        def printed() -> str | None:
            return next((line for line in list(self.lines) if (line == text if exact else text in line)), None)

        def found_or_exited() -> str | bool:
            return printed() or self.process.poll() is not None

        try:
            wait_until(found_or_exited, timeout=timeout, interval=0.02, what=f"the agent to print {text!r}")
        except AssertionError as timed_out:
            raise AssertionError(f"{timed_out}; it printed:\n{self.log}") from None
        self._reader.join(timeout=0 if self.process.poll() is None else 5)  # all it printed, if it exited
        line = printed()
        if line is None:
            raise AssertionError(f"the agent exited ({self.process.returncode}) before printing {text!r}; "
                                 f"it printed:\n{self.log}")
        return line

    def freeze(self) -> None:
        """SIGSTOP: alive but silent, like a gateway whose uplink was cut."""
        self.process.send_signal(signal.SIGSTOP)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """The clean way (SIGTERM unless told otherwise); its exit status."""
        self.process.send_signal(signum)
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=5)
        self._close_stdin()
        return code

    def kill(self) -> None:
        """SIGKILL, also of a frozen process: the gateway losing power."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.send_signal(signal.SIGCONT)
        self.process.wait(timeout=10)
        self._reader.join(timeout=5)
        self._close_stdin()

    def _close_stdin(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()

"""The central pipe and the agents: real servers and real subprocesses, all on loopback.

Every child is tracked. Agents and the collector run in sessions of their own, so a
Ctrl-C at the terminal reaches only the demo, which then stops them in order (agents
first, so their last words reach the broker) and kills each one's process group.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import psutil
import yaml

from schoolnet_stack.deploy_files import (
    alertmanager_for_test,
    load_alertmanager_config,
    write_rule_copies,
)
from schoolnet_stack.processes import CollectorProcess, write_collector_config
from schoolnet_stack.servers import (
    Alertmanager,
    Mosquitto,
    Server,
    ServerError,
    VictoriaMetrics,
    Vmalert,
    WebhookReceiver,
)

ROOT = Path(__file__).resolve().parents[1]
SECONDS_PER_MINUTE = 2.0
"""The demo's clock for alert rules: each `for:` minute (and Alertmanager's waits) lasts
2 s, as in tests/rules/test_scenario.py; the rules' expressions are the deployed ones."""
STOP_WAIT_S = 10.0


class DemoError(RuntimeError):
    """Something the demo needs did not start; the message says what and where to look."""


class Children:
    """Subprocesses started in their own process groups; stop_all() ends every group."""

    def __init__(self) -> None:
        self.processes: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], log_path: Path, env: dict | None = None) -> subprocess.Popen:
        with open(log_path, "ab") as log:
            process = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True, env={**os.environ, **(env or {})})
        return self.adopt(name, process)

    def adopt(self, name: str, process: subprocess.Popen) -> subprocess.Popen:
        """Tracks a child started elsewhere (in a session of its own) to be stopped with the rest."""
        self.processes.append((name, process))
        return process

    def stop_all(self) -> None:
        """SIGTERM to each group (newest first), then SIGKILL to whatever is left."""
        for _name, process in reversed(self.processes):
            _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_WAIT_S
        for _name, process in reversed(self.processes):
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _signal_group(process.pid, signal.SIGKILL)
            process.wait()

    def exited(self) -> list[str]:
        return [f"{name} (exit {process.returncode})" for name, process in self.processes if process.poll() is not None]


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass


class CentralPipe:
    """mosquitto -> collector -> VictoriaMetrics -> vmalert -> Alertmanager -> webhook."""

    def __init__(self, workdir: Path, stack: ExitStack) -> None:
        self.dir = workdir
        self.stack = stack
        self.webhook = WebhookReceiver()
        self.broker = self._server(Mosquitto(workdir / "mosquitto"))
        self.store = self._server(VictoriaMetrics(workdir / "victoria-metrics", dedup_interval="1ms"))
        self.alertmanager: Alertmanager | None = None
        self.vmalert: Vmalert | None = None

    def _server(self, server: Server) -> Server:
        self.stack.callback(server.close)  # registered before start: an interrupted start is cleaned too
        return server

    def start(self, children: Children) -> None:
        self.webhook.start()
        self.stack.callback(self.webhook.stop)
        self.broker.start()
        self.store.start()
        config = alertmanager_for_test(load_alertmanager_config(), self.webhook.url_for, SECONDS_PER_MINUTE)
        self.alertmanager = self._server(Alertmanager(yaml.safe_dump(config), self.dir / "alertmanager"))
        self.alertmanager.start()
        rules = write_rule_copies(self.dir / "rules", SECONDS_PER_MINUTE)
        self.vmalert = self._server(Vmalert(rules, self.store.url, self.alertmanager.url, workdir=self.dir / "vmalert"))
        self.vmalert.start()
        self._start_collector(children)

    def _start_collector(self, children: Children) -> None:
        path = write_collector_config(self.dir, self.broker.port, self.store.url, "demo-collector",
                                      broker={"group": "demo-collectors"})
        collector = CollectorProcess(path, self.dir / "collector.log", new_session=True)
        children.adopt("collector", collector.start(wait=False).process)
        try:
            collector.wait_subscribed()
        except ServerError:
            if collector.exited() is not None:
                raise DemoError(f"采集器启动失败 / the collector exited at start; see {collector.log_path}") from None
            raise DemoError(f"采集器未就绪 / the collector did not get ready; see {collector.log_path}") from None


def start_agent(children: Children, config: dict, config_path: Path, log_path: Path, env: dict) -> None:
    config_path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    children.start(f"agent {config['school']['id']}",
                   [sys.executable, "-m", "agent.cli", "run", "-c", str(config_path)], log_path, env)


def leftovers(workdir: Path) -> list[psutil.Process]:
    """Processes whose command line names the demo's directory: none once it has stopped."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if any(str(workdir) in part for part in process.info["cmdline"] or ()):
                found.append(process)
        except psutil.Error:
            continue
    return found

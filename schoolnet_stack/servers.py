"""The real servers the tests, the demo and the benchmarks run against: Debian's binaries,
never mocks.

Each server gets a free port on 127.0.0.1 (or a `host` you give, such as a netns.Link
address in our namespace), held for it while it is down (schoolnet_stack.ports), and its
own directory for config, data and log. start() waits until the server answers its
health check; stop() is SIGTERM then SIGKILL; kill() is SIGKILL at once (a crash).
start() again reuses the same port and data directory, so tests can check what survives
a restart.

    with VictoriaMetrics() as vm:
        vm.write_lines("link,school=s1 up=1")
        assert vm.query("link_up")[0]["value"][1] == "1"

Versions matter; see the class docstrings for what Debian 12's builds do differently.
"""

from __future__ import annotations

import http.client
import json
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import paho.mqtt.client as mqtt

from schoolnet_stack import ports
from schoolnet_stack.ports import LOOPBACK, free_port

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self needs Python 3.11

HTTP_TIMEOUT = 10.0
_LOG_TAIL_LINES = 25
_PORT_ATTEMPTS = 3


class ServerError(RuntimeError):
    """A server did not start or answer; the message carries its command and log tail."""


# -- HTTP, with urllib only --------------------------------------------------------------


def http_request(
    url: str, *, data: bytes | None = None, method: str | None = None, content_type: str | None = None
) -> tuple[int, bytes]:
    """(status, body) of one request; HTTP error statuses are returned, not raised."""
    headers = {"Content-Type": content_type} if content_type else {}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def http_json(url: str, params: dict | None = None, *, body: Any = None, method: str | None = None) -> Any:
    """GET (or POST when body is given) and parse JSON; a non-2xx status raises."""
    if params:
        url += "?" + urllib.parse.urlencode(params, doseq=True)
    data = None if body is None else json.dumps(body).encode()
    status, raw = http_request(url, data=data, method=method, content_type="application/json" if data else None)
    if not 200 <= status < 300:
        raise ServerError(f"{method or ('POST' if data else 'GET')} {url} -> HTTP {status}: {raw[:500]!r}")
    return json.loads(raw) if raw.strip() else None


def _answers(url: str, expect_body: bytes | None = None) -> bool:
    """True if url answers 200 (with expect_body, if given); False while it cannot."""
    try:
        status, body = http_request(url)
    except (OSError, http.client.HTTPException):
        return False
    return status == 200 and (expect_body is None or body.strip() == expect_body)


# -- the process life cycle every server shares --------------------------------------------


class Server:
    """One server process; subclasses say how to configure, start and probe it."""

    name = "server"
    binary = ""
    start_timeout = 30.0
    stop_timeout = 15.0

    def __init__(self, workdir: str | Path | None = None, *, host: str = LOOPBACK, port: int | None = None,
                 extra_ports: Sequence[int] = ()) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.extra_ports = list(extra_ports)
        """More ports the server listens on (reserved with ports.reserve_port on `host`),
        held with self.port while it is down."""
        self._may_move = port is None  # a port we picked may change until the first start
        self._hold_port()
        self._owns_dir = workdir is None
        self.dir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix=f"sn-{self.name}-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.dir / f"{self.name}.log"
        self.process: subprocess.Popen | None = None

    # what subclasses provide

    def command(self) -> list[str]:
        raise NotImplementedError

    def write_config(self) -> None:
        """Writes config files into self.dir before each start (default: none)."""

    def is_healthy(self) -> bool:
        """One quick probe; False (not an exception) while the server is not ready."""
        raise NotImplementedError

    # life cycle

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float | None = None) -> Self:
        """Starts the server and returns once it is healthy (raises ServerError if not).

        If another process took our freshly picked port first (they race between our
        check and the server's bind), the first start moves to a new port and tries again.
        """
        if self.running:
            raise ServerError(f"{self.name} is already running (pid {self.process.pid})")
        attempts_left = _PORT_ATTEMPTS
        while True:
            log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            try:
                self._launch(timeout or self.start_timeout)
                break
            except ServerError:
                attempts_left -= 1
                lost_race = "address already in use" in self._log_since(log_offset).lower()
                if not (lost_race and self._may_move and attempts_left):
                    self._hold_port()
                    raise
                ports.release(self.port, self.host)
                self.port = free_port(self.host)
        self._may_move = False  # from now on restarts keep this port
        return self

    def stop(self, timeout: float | None = None) -> int | None:
        """SIGTERM (a clean shutdown: servers save their state), SIGKILL if it hangs."""
        if not self.running:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            status = self.process.wait(timeout or self.stop_timeout)
        except subprocess.TimeoutExpired:
            return self.kill()
        self._hold_port()
        return status

    def kill(self) -> int | None:
        """SIGKILL: a crash or power cut; whatever was not on disk yet is lost."""
        if self.process is None:
            return None
        if self.running:
            self.process.kill()
        status = self.process.wait()
        self._hold_port()
        return status

    def restart(self, timeout: float | None = None) -> Self:
        self.stop()
        return self.start(timeout)

    def close(self) -> None:
        """Stops the server and removes its directory if the server made it."""
        self.stop()
        self._release_port()
        if self._owns_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.1) -> Any:
        """Polls predicate until it returns something truthy, and returns that.

        On timeout the AssertionError carries this server's log tail.
        """
        try:
            return wait_until(predicate, timeout, interval)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.name} log {self.log_path}, last lines:\n{self.log_tail()}") from None

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log file)"
        return "\n".join(text.splitlines()[-lines:])

    def __repr__(self) -> str:
        state = f"pid {self.process.pid}" if self.running else "stopped"
        return f"<{type(self).__name__} {self.host}:{self.port} {state} dir={self.dir}>"

    def _hold_port(self) -> None:
        """Keeps our port bound (not listening) while the server is down.

        Tests stop servers for a minute and restart them on the same port; meanwhile
        other tests, here or in a concurrent run, ask the kernel for free ports. A bound
        port is never handed out, so nobody else's server can answer in ours' place.
        """
        for port in (self.port, *self.extra_ports):
            ports.hold(port, self.host)  # if someone has it already, start() will report that

    def _release_port(self) -> None:
        for port in (self.port, *self.extra_ports):
            ports.release(port, self.host)

    def _launch(self, timeout: float) -> None:
        self._release_port()
        self.write_config()
        argv = self.command()
        with open(self.log_path, "ab") as log:
            log.write(f"\n--- schoolnet harness: starting {shlex.join(argv)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                argv, cwd=self.dir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        self._wait_healthy(argv, timeout)

    def _log_since(self, offset: int) -> str:
        with open(self.log_path, "rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")

    def _wait_healthy(self, argv: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise self._error(f"exited with status {self.process.returncode} while starting", argv)
            if self.is_healthy():
                return
            time.sleep(0.05)
        self.kill()
        raise self._error(f"was not healthy within {timeout:g} s", argv)

    def _error(self, what: str, argv: list[str]) -> ServerError:
        return ServerError(
            f"{self.name} on {self.host}:{self.port} {what}\n"
            f"  command: {shlex.join(argv)}\n"
            f"  log {self.log_path}, last lines:\n{self.log_tail()}"
        )


# -- mosquitto -----------------------------------------------------------------------------


class Mosquitto(Server):
    """Eclipse Mosquitto 2.0 with persistence on and per-client queues unlimited.

    The defaults are those of a deploy that promises no loss (see the field notes):
    max_queued_messages 0 (default 1000 drops the rest silently), autosave every second
    (default 1800 s), and, when we are root, `user root` (else mosquitto switches to the
    `mosquitto` user and cannot write our directory).
    `extra_config` is appended verbatim: more listeners, TLS, passwords, ACLs; the ports of
    more listeners come from ports.reserve_port() and go in `extra_ports`, so they are
    held like self.port. The first listener, on self.port, is plain MQTT; health checks
    use it.
    """

    name = "mosquitto"
    binary = "/usr/sbin/mosquitto"

    def __init__(
        self,
        workdir: str | Path | None = None,
        *,
        extra_config: str = "",
        allow_anonymous: bool = True,
        autosave_interval: int = 1,
        host: str = LOOPBACK,
        port: int | None = None,
        extra_ports: Sequence[int] = (),
    ) -> None:
        super().__init__(workdir, host=host, port=port, extra_ports=extra_ports)
        self.extra_config = extra_config
        self.allow_anonymous = allow_anonymous
        self.autosave_interval = autosave_interval
        self.config_path = self.dir / "mosquitto.conf"
        self.data_dir = self.dir / "data"

    def config_text(self) -> str:
        return "\n".join([
            f"listener {self.port} {self.host}",
            f"allow_anonymous {str(self.allow_anonymous).lower()}",
            "user root" if os.geteuid() == 0 else "",
            "persistence true",
            f"persistence_location {self.data_dir}/",
            f"autosave_interval {self.autosave_interval}",
            "max_queued_messages 0",
            "max_queued_bytes 0",
            f"log_dest file {self.log_path}",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
            self.extra_config,
            "",
        ])  # fmt: skip

    def write_config(self) -> None:
        self.data_dir.mkdir(exist_ok=True)
        self.config_path.write_text(self.config_text())

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def command(self) -> list[str]:
        return [self.binary, "-c", str(self.config_path)]

    def is_healthy(self) -> bool:
        return mqtt_connack(self.host, self.port, timeout=0.5) is not None  # retried until start_timeout


def mqtt_connack(
    host: str, port: int, timeout: float = 5.0, username: str | None = None, password: str | None = None
) -> mqtt.ReasonCode | None:
    """The broker's CONNACK reason code for a fresh clean session, or None if none came.

    Any CONNACK proves the broker is up, even "not authorized" from a locked-down one.
    """
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sn-health-{uuid.uuid4().hex[:8]}")
    if username is not None:
        client.username_pw_set(username, password)
    answered = threading.Event()
    codes: list[mqtt.ReasonCode] = []

    def on_connect(_client, _userdata, _flags, reason_code, _properties) -> None:
        codes.append(reason_code)
        answered.set()

    client.on_connect = on_connect
    try:
        client.connect(host, port, keepalive=10)
    except OSError:
        return None
    client.loop_start()
    try:
        answered.wait(timeout)
    finally:
        client.disconnect()
        client.loop_stop()
    return codes[0] if codes else None


# -- VictoriaMetrics ---------------------------------------------------------------------------


class VictoriaMetrics(Server):
    """Single-node VictoriaMetrics (Debian 1.79.5), with reads that see writes at once.

    Three things hide fresh points in this version, and this class removes all three:
      * points sit in memory until a periodic flush: about 1 s for a known series and up to
        ~10 s for a new one. Reads here call /internal/force_flush first (flush=True);
      * -search.latencyOffset below 1 s is silently raised to 1 s for instant queries,
        and a query without `time` is evaluated at the current second rounded down.
        query() passes nocache=1 (which skips the offset) and time=now;
      * the response cache can return an earlier, emptier answer: -search.disableCache.
    Services that query VM themselves (vmalert) still see data only once it is >= 1 s old.
    """

    name = "victoria-metrics"
    binary = "/usr/bin/victoria-metrics"

    def __init__(
        self,
        workdir: str | Path | None = None,
        *,
        dedup_interval: str | None = None,
        retention_period: str | None = None,
        extra_args: Sequence[str] = (),
        host: str = LOOPBACK,
        port: int | None = None,
    ) -> None:
        super().__init__(workdir, host=host, port=port)
        self.data_dir = self.dir / "data"
        self.dedup_interval = dedup_interval
        self.retention_period = retention_period
        self.extra_args = list(extra_args)

    def command(self) -> list[str]:
        argv = [
            self.binary,
            f"-storageDataPath={self.data_dir}",
            f"-httpListenAddr={self.host}:{self.port}",
            "-search.latencyOffset=0s",
            "-search.disableCache",
        ]
        if self.dedup_interval:
            argv.append(f"-dedup.minScrapeInterval={self.dedup_interval}")
        if self.retention_period:
            argv.append(f"-retentionPeriod={self.retention_period}")
        return argv + self.extra_args

    def is_healthy(self) -> bool:
        return _answers(f"{self.url}/health", b"OK")

    def write_lines(self, lines: str | Sequence[str]) -> None:
        """InfluxDB line protocol to /write: measurement_field becomes the metric name."""
        text = lines if isinstance(lines, str) else "\n".join(lines)
        status, body = http_request(f"{self.url}/write", data=text.encode())
        if status != 204:
            raise ServerError(f"POST /write -> HTTP {status}: {body[:500]!r}")

    def flush(self) -> None:
        """Makes every point received so far searchable (/internal/force_flush)."""
        status, body = http_request(f"{self.url}/internal/force_flush")
        if status != 200:
            raise ServerError(f"/internal/force_flush -> HTTP {status}: {body[:200]!r}")

    def query(self, promql: str, time: float | None = None, *, flush: bool = True) -> list[dict]:
        """Instant query: [{"metric": {labels}, "value": [ts, "value as string"]}, ...]."""
        if flush:
            self.flush()
        params = {"query": promql, "time": f"{_now() if time is None else time:.3f}", "nocache": "1"}
        return self._data(http_json(f"{self.url}/api/v1/query", params))["result"]

    def series(self, match: str, *, flush: bool = True) -> list[dict]:
        """Label sets of the series matching a selector, e.g. '{school="s1"}'."""
        if flush:
            self.flush()
        # No start/end: VM's default, the last day. (In 1.79 start=0 with an end a day
        # ahead, as export() uses, returns nothing here.)
        return self._data(http_json(f"{self.url}/api/v1/series", {"match[]": match}))

    def export(self, match: str, *, flush: bool = True) -> list[dict]:
        """Every raw sample: [{"metric": {...}, "values": [...], "timestamps": [ms...]}].

        Duplicates are kept unless dedup_interval is set, so this counts points exactly.
        """
        if flush:
            self.flush()
        params = {"match[]": match, "start": "0", "end": f"{_far_future():.0f}"}
        url = f"{self.url}/api/v1/export?{urllib.parse.urlencode(params)}"
        status, body = http_request(url)
        if status != 200:
            raise ServerError(f"GET {url} -> HTTP {status}: {body[:500]!r}")
        return [json.loads(line) for line in body.splitlines() if line.strip()]

    @staticmethod
    def _data(answer: dict) -> Any:
        if answer.get("status") != "success":
            raise ServerError(f"VictoriaMetrics answered {answer}")
        return answer["data"]


def _now() -> float:
    return time.time()  # for query(), whose `time` parameter hides the module


def _far_future() -> float:
    """An end time that includes points stamped ahead of our clock (agents drift)."""
    return time.time() + 86400


# -- vmalert -------------------------------------------------------------------------------------


class Vmalert(Server):
    """vmalert (Debian 1.79.5): evaluates rule files against VM, notifies Alertmanager.

    persist_state=True sets -remoteWrite.url and -remoteRead.url to the datasource, as a
    deploy would, so alert state (ALERTS, ALERTS_FOR_STATE series) survives a restart.
    """

    name = "vmalert"
    binary = "/usr/bin/vmalert"

    def __init__(
        self,
        rule_files: Sequence[str | Path],
        datasource_url: str,
        notifier_url: str,
        *,
        evaluation_interval: str = "1s",
        persist_state: bool = True,
        extra_args: Sequence[str] = (),
        workdir: str | Path | None = None,
        host: str = LOOPBACK,
        port: int | None = None,
    ) -> None:
        super().__init__(workdir, host=host, port=port)
        if not rule_files:
            raise ValueError("vmalert needs at least one rule file")
        self.rule_files = [Path(path) for path in rule_files]
        self.datasource_url = datasource_url
        self.notifier_url = notifier_url
        self.evaluation_interval = evaluation_interval
        self.persist_state = persist_state
        self.extra_args = list(extra_args)

    def command(self) -> list[str]:
        argv = [self.binary, *(f"-rule={path}" for path in self.rule_files)]
        argv += [
            f"-datasource.url={self.datasource_url}",
            f"-notifier.url={self.notifier_url}",
            f"-evaluationInterval={self.evaluation_interval}",
            f"-httpListenAddr={self.host}:{self.port}",
        ]
        if self.persist_state:
            argv += [
                f"-remoteWrite.url={self.datasource_url}",
                f"-remoteRead.url={self.datasource_url}",
                "-remoteWrite.flushInterval=1s",
            ]
        return argv + self.extra_args

    def is_healthy(self) -> bool:
        return _answers(f"{self.url}/health", b"OK")

    def rules(self) -> list[dict]:
        """Rule groups as vmalert sees them (/api/v1/rules), each with its "rules"."""
        return http_json(f"{self.url}/api/v1/rules")["data"]["groups"] or []

    def alerts(self) -> list[dict]:
        """Alerts vmalert holds now, pending or firing (/api/v1/alerts)."""
        return http_json(f"{self.url}/api/v1/alerts")["data"]["alerts"] or []  # null when none

    def reload(self) -> None:
        """Re-reads the rule files (they may have changed on disk)."""
        status, body = http_request(f"{self.url}/-/reload")
        if status != 200:
            raise ServerError(f"vmalert /-/reload -> HTTP {status}: {body[:200]!r}")


def check_rules(rule_files: Sequence[str | Path]) -> subprocess.CompletedProcess:
    """vmalert -dryRun: validates rule files without running (returncode 0 if valid)."""
    argv = [Vmalert.binary, "-dryRun", *(f"-rule={path}" for path in rule_files)]
    return subprocess.run(argv, check=False, capture_output=True, text=True, timeout=60)


# -- Alertmanager ------------------------------------------------------------------------------


def alertmanager_config(
    webhook_url: str | None = None,
    *,
    group_wait: str = "0s",
    group_interval: str = "1s",
    repeat_interval: str = "1h",
) -> str:
    """One route to one receiver: a webhook, or a receiver that drops everything.

    The upstream timings (group_wait 30s, group_interval 5m) would make every test wait;
    these send the first notification at once and updates within a second.
    """
    receiver = "webhook" if webhook_url else "null"
    lines = [
        "route:",
        f"  receiver: {json.dumps(receiver)}",  # quoted: a bare null is YAML's null
        "  group_by: ['...']",
        f"  group_wait: {group_wait}",
        f"  group_interval: {group_interval}",
        f"  repeat_interval: {repeat_interval}",
        "receivers:",
        f"  - name: {json.dumps(receiver)}",
    ]
    if webhook_url:
        lines += ["    webhook_configs:", f"      - url: {json.dumps(webhook_url)}", "        send_resolved: true"]
    return "\n".join(lines) + "\n"


class Alertmanager(Server):
    """Prometheus Alertmanager 0.25 (Debian's /usr/bin/prometheus-alertmanager).

    Gossip is switched off (--cluster.listen-address=""): by default it listens on
    0.0.0.0:9094, which clashes between parallel tests and leaves loopback.
    """

    name = "alertmanager"
    binary = "/usr/bin/prometheus-alertmanager"

    def __init__(
        self,
        config: str | None = None,
        workdir: str | Path | None = None,
        *,
        extra_args: Sequence[str] = (),
        host: str = LOOPBACK,
        port: int | None = None,
    ) -> None:
        super().__init__(workdir, host=host, port=port)
        self.config = config if config is not None else alertmanager_config()
        self.config_path = self.dir / "alertmanager.yml"
        self.data_dir = self.dir / "data"
        self.extra_args = list(extra_args)

    def write_config(self) -> None:
        self.data_dir.mkdir(exist_ok=True)
        self.config_path.write_text(self.config)

    def command(self) -> list[str]:
        return [
            self.binary,
            f"--config.file={self.config_path}",
            f"--storage.path={self.data_dir}",
            f"--web.listen-address={self.host}:{self.port}",
            "--cluster.listen-address=",
            *self.extra_args,
        ]

    def is_healthy(self) -> bool:
        return _answers(f"{self.url}/-/ready")

    def alerts(self, **filters: Any) -> list[dict]:
        """/api/v2/alerts, e.g. alerts(filter=['school="s1"'], active=True)."""
        params = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in filters.items()}
        return http_json(f"{self.url}/api/v2/alerts", params)

    def post_alerts(self, alerts: list[dict]) -> None:
        """Posts alerts as Prometheus would: [{"labels": {...}, "annotations": {...}}]."""
        http_json(f"{self.url}/api/v2/alerts", body=alerts)

    def reload(self, config: str | None = None) -> None:
        """Re-reads the config, after replacing it when `config` is given."""
        if config is not None:
            self.config = config
            self.write_config()
        status, body = http_request(f"{self.url}/-/reload", data=b"", method="POST")
        if status != 200:
            raise ServerError(f"alertmanager /-/reload -> HTTP {status}: {body[:300]!r}")


def check_alertmanager_config(config_path: str | Path) -> subprocess.CompletedProcess:
    """amtool check-config: returncode 0 if Alertmanager would accept the file."""
    argv = ["amtool", "check-config", str(config_path)]
    return subprocess.run(argv, check=False, capture_output=True, text=True, timeout=60)


# -- a webhook receiver to see what Alertmanager sends ---------------------------------------------


@dataclass
class Notification:
    """One POST from Alertmanager: the path it went to and the parsed JSON body."""

    path: str
    body: dict = field(default_factory=dict)

    @property
    def alerts(self) -> list[dict]:
        return self.body.get("alerts", [])


class WebhookReceiver:
    """Records what Alertmanager POSTs, so tests can assert who was told what.

    One receiver can stand for many: url_for("county-a") and url_for("county-b") give
    distinct paths, and each Notification keeps the path it arrived on.
    """

    def __init__(self, host: str = LOOPBACK, port: int = 0) -> None:
        self.received: list[Notification] = []
        self._changed = threading.Condition()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self.host, self.port = self._server.server_address[:2]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def url_for(self, name: str) -> str:
        return f"http://{self.host}:{self.port}/{name}"

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def wait_for(self, predicate: Callable[[Notification], bool], timeout: float = 15.0) -> Notification:
        """The first notification (already received or arriving) that satisfies predicate."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for notification in self.received:
                    if predicate(notification):
                        return notification
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"no matching notification within {timeout:g} s; received {len(self.received)}: "
                        f"{[n.body for n in self.received][-5:]}"
                    )
                self._changed.wait(remaining)

    def _record(self, notification: Notification) -> None:
        with self._changed:
            self.received.append(notification)
            self._changed.notify_all()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"unparsed": raw.decode(errors="replace")}
                receiver._record(Notification(self.path, body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass  # keep the test output for the tests

        return Handler


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.1, what: str = "") -> Any:
    """Polls predicate until it returns something truthy (which is returned)."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or predicate}")
        time.sleep(interval)


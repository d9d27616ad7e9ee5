"""Fixtures for the real servers and shaped links of schoolnet_stack.

Each server fixture checks its binary first (skip, or fail under CI=true), starts the
server in a fresh directory under pytest's tmp dir (kept for the last few runs, logs
included) and stops it after the test. Factories start as many as a test needs, with
its own settings:

    def test_two_counties(alertmanager_factory, webhook_receiver): ...
    def test_rule(vmalert_factory, victoria_metrics):
        vmalert = vmalert_factory(RULES_YAML)      # text, or Path(s) to rule files

When a test fails, the last lines of each of its servers' logs are added to the report.
Tests using these fixtures are marked `servers` (or `netns`) automatically.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from schoolnet_stack import netns, servers
from schoolnet_stack.requirements import require_binary, require_netns, require_root
from schoolnet_stack.school import COMMAND_KEY, COMMAND_KEY_ENV, LoopbackSchool

SERVER_FIXTURES = {
    "server_starter", "mosquitto", "mosquitto_factory", "victoria_metrics", "victoria_metrics_factory",
    "alertmanager", "alertmanager_factory", "vmalert", "vmalert_factory",
}  # fmt: skip
NETNS_FIXTURES = {"netns_link"}

NEVER_FIRING_RULES = """\
groups:
  - name: harness
    rules:
      - alert: HarnessNeverFires
        expr: vector(1) == 0
"""


def pytest_sessionstart(session: pytest.Session) -> None:
    """Deletes network namespaces left by test runs that crashed (never a live run's)."""
    if os.geteuid() == 0 and shutil.which("ip"):
        netns.cleanup_stale()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & SERVER_FIXTURES:
            item.add_marker(pytest.mark.servers)
        if used & NETNS_FIXTURES:
            item.add_marker(pytest.mark.netns)


_SERVERS_KEY = pytest.StashKey[list]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """On failure, shows what the test's servers logged: most failures are explained there."""
    report = (yield).get_result()
    if report.failed:
        for server in item.stash.get(_SERVERS_KEY, ()):
            report.sections.append((f"{server.name} log {server.log_path} (last lines)", server.log_tail(40)))


class _ServerStarter:
    """Starts servers for one test, each in its own tmp dir, and stops them all after it."""

    def __init__(self, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> None:
        self.tmp_path_factory = tmp_path_factory
        self.started = request.node.stash.setdefault(_SERVERS_KEY, [])

    def start(self, cls: type[servers.Server], *args, **kwargs) -> servers.Server:
        require_binary(cls.binary)
        kwargs.setdefault("workdir", self.tmp_path_factory.mktemp(cls.name))
        server = cls(*args, **kwargs)
        self.started.append(server)
        return server.start()

    def stop_all(self) -> None:
        for server in reversed(self.started):
            server.close()  # the directory stays: it is pytest's, kept for post-mortems


@pytest.fixture
def server_starter(request, tmp_path_factory):
    """server_starter.start(ServerClass, *args, **kwargs): any server, stopped after the test."""
    starter = _ServerStarter(request, tmp_path_factory)
    yield starter
    starter.stop_all()


@pytest.fixture
def mosquitto_factory(server_starter):
    """mosquitto_factory(extra_config="...", allow_anonymous=False, ...) -> Mosquitto."""
    return functools.partial(server_starter.start, servers.Mosquitto)


@pytest.fixture
def mosquitto(mosquitto_factory) -> servers.Mosquitto:
    return mosquitto_factory()


@pytest.fixture
def victoria_metrics_factory(server_starter):
    """victoria_metrics_factory(dedup_interval="1ms", ...) -> VictoriaMetrics."""
    return functools.partial(server_starter.start, servers.VictoriaMetrics)


@pytest.fixture
def victoria_metrics(victoria_metrics_factory) -> servers.VictoriaMetrics:
    return victoria_metrics_factory()


@pytest.fixture
def webhook_receiver():
    with servers.WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def alertmanager_factory(server_starter):
    """alertmanager_factory(config_yaml) -> Alertmanager; see servers.alertmanager_config."""
    return functools.partial(server_starter.start, servers.Alertmanager)


@pytest.fixture
def alertmanager(alertmanager_factory, webhook_receiver) -> servers.Alertmanager:
    """Alertmanager that sends every alert at once to the `webhook_receiver` fixture."""
    return alertmanager_factory(servers.alertmanager_config(webhook_receiver.url))


@pytest.fixture
def vmalert_factory(request, server_starter, tmp_path_factory):
    """vmalert_factory(rules, datasource_url=None, notifier_url=None, **kwargs) -> Vmalert.

    rules: rule YAML as a str, or a Path, or a list of Paths. Without URLs it uses the
    test's `victoria_metrics` and `alertmanager` fixtures (started on first use).
    """

    def start_vmalert(
        rules: str | Path | Sequence[Path],
        datasource_url: str | None = None,
        notifier_url: str | None = None,
        **kwargs,
    ) -> servers.Vmalert:
        require_binary(servers.Vmalert.binary)
        datasource_url = datasource_url or request.getfixturevalue("victoria_metrics").url
        notifier_url = notifier_url or request.getfixturevalue("alertmanager").url
        rule_files = _rule_files(rules, tmp_path_factory)
        return server_starter.start(servers.Vmalert, rule_files, datasource_url, notifier_url, **kwargs)

    return start_vmalert


@pytest.fixture
def vmalert(vmalert_factory) -> servers.Vmalert:
    """vmalert on the test's VictoriaMetrics and Alertmanager, with a rule that never fires."""
    return vmalert_factory(NEVER_FIRING_RULES)


def _rule_files(rules: str | Path | Sequence[Path], tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    if isinstance(rules, str):
        path = tmp_path_factory.mktemp("rules") / "rules.yml"
        path.write_text(rules)
        return [path]
    if isinstance(rules, Path):
        return [rules]
    return [Path(path) for path in rules]


@pytest.fixture
def netns_link():
    """netns_link(rate_mbit=None, delay_ms=None, jitter_ms=None, loss_pct=None, a_in_root=False)
    -> an open netns.Link; every link is closed (namespaces deleted) after the test."""
    require_netns()
    links: list[netns.Link] = []

    def open_link(*args, **kwargs) -> netns.Link:
        link = netns.Link(*args, **kwargs)
        links.append(link)
        return link.open()

    yield open_link
    for link in reversed(links):
        link.close()


@pytest.fixture
def tiny_disk(tmp_path) -> Iterator[Path]:
    """A real 256 KiB tmpfs, so SQLite meets a genuinely full disk; unmounted afterwards."""
    require_root("mounting a tiny tmpfs")
    require_binary("mount")
    mountpoint = tmp_path / "tiny"
    mountpoint.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mountpoint)], check=True)
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", str(mountpoint)], check=True)


@pytest.fixture
def school(tmp_path, monkeypatch):
    """A school on loopback (schoolnet_stack.school); the command key in the environment, as
    systemd's EnvironmentFile would put it."""
    require_root("icmp checks and a DNS peer on port 53, as a school's config has them")
    monkeypatch.setenv(COMMAND_KEY_ENV, COMMAND_KEY)
    with LoopbackSchool(tmp_path) as peers:
        yield peers

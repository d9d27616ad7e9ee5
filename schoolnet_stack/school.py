"""A school on loopback: real protocol peers for every kind of check, and its agent.yaml.

    with LoopbackSchool(tmp_path) as school:
        path = school.write_config(school.config(broker_port=mosquitto.port))
        ...

Everything the example config has: a tcp, an icmp, a dns and an http broadband target;
classroom panels (tcp), a PJLink projector with a password, a PC checked by icmp; a
synchronous classroom (platform, endpoint, UDP echo path) with a session on all day; and
the HTTP speed-test server. Two configs over the same peers (any number of agents can
share them): config() is quick, for tests (intervals of seconds; failing=True breaks one
of each: a broadband target that never answers, a required panel refused, and a speed
target no line meets); example_config() has agent/example-config.yaml's intervals and a
rural middle school's CLASSES classes, for the benchmarks.

A config's dns target names no port, so the DNS peer listens on port 53 of a loopback
address of its own; that, and the icmp checks, need root (tests call require_root first).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from schoolnet_stack.peers.dns import start_on_port_53
from schoolnet_stack.peers.http import HttpPeer
from schoolnet_stack.peers.pjlink import PjlinkPeer
from schoolnet_stack.peers.speed_http_server import SpeedHttpServer
from schoolnet_stack.peers.tcp import Blackhole, Listener, closed_port
from schoolnet_stack.peers.udp_echo import UdpEcho

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self needs Python 3.11

COUNTY, SCHOOL = "hx", "hx-test-zx"
MQTT_PASSWORD = "pw-9Lq#mqtt-not-for-logs"
PJLINK_PASSWORD = "pj-4Xr#projector"
COMMAND_KEY = "ck-0123456789abcdef-shared-with-county"
COMMAND_KEY_ENV = "SCHOOLNET_TEST_COMMAND_KEY"
SESSION = "s-all-day"
LAMP_HOURS = 1234
UNMEETABLE_MBPS = 100_000
CLASSES = 24
"""example_config()'s classes: a rural middle school's."""
TIMEZONE = "Asia/Shanghai"  # the example config's


class LoopbackSchool:
    """The peers of one school, stopped by close(), and the secrets its configs name."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._peers: list[Any] = []
        self.target = self._keep(Listener(backlog=512))  # example_config() points every tcp check here
        self.panels = [self._keep(Listener()), self._keep(Listener())]
        self.platform = self._keep(Listener())
        self.endpoint = self._keep(Listener())
        self.blackhole = self._keep(Blackhole())
        self.dns = self._keep(start_on_port_53())
        self.http = self._keep(HttpPeer().start())
        self.projector = self._keep(PjlinkPeer(power=1, errors="000000", lamp_hours=LAMP_HOURS,
                                               password=PJLINK_PASSWORD).start())
        self.echo = self._keep(UdpEcho().start())
        self.speed = self._keep(SpeedHttpServer().start())
        self.refused_port = closed_port()
        self._write_secret("mqtt.password", MQTT_PASSWORD)
        self._write_secret("pjlink.password", PJLINK_PASSWORD)

    def _keep(self, peer):
        self._peers.append(peer)
        return peer

    def _write_secret(self, name: str, value: str) -> None:
        path = self.directory / name
        path.write_text(value + "\n", encoding="utf-8")
        path.chmod(0o600)

    def close(self) -> None:
        for peer in reversed(self._peers):
            (getattr(peer, "stop", None) or peer.close)()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- the config -----------------------------------------------------------------------

    def config(self, broker_port: int = 1883, failing: bool = False, **sections: Any) -> dict:
        """The quick agent.yaml of tests, as a dict; `sections` replace whole sections."""
        document = {
            "school": {"id": SCHOOL, "name": "测试中学", "county": COUNTY, "rural": True},
            "broker": {"url": f"mqtt://127.0.0.1:{broker_port}", "allow_plaintext": True,
                       "password_file": "mqtt.password", "keepalive_s": 10},
            "spool": {"path": "spool.sqlite"},
            "timetable": {"school_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                          "lessons": ["08:00-08:45"], "school_hours": "00:00-23:59"},
            "broadband": {"interval_s": 5, "timeout_s": 1, "targets": self._targets(failing)},
            "speed_test": {"backend": "http", "server": self.speed.url, "duration_s": 3, "streams": 2,
                           "times": ["03:00"], "stagger_window_min": 0,
                           "target_mbps": UNMEETABLE_MBPS if failing else 100},
            "sweep": {"interval_s": 5, "timeout_s": 1},
            "classrooms": self._classrooms(failing),
            "sync_classroom": self._sync(),
            "health": {"interval_s": 10},
            "commands": {"key_env": COMMAND_KEY_ENV, "min_gap_s": 60},
        }
        document.update(sections)
        return document

    def example_config(self, broker_port: int, county: str = COUNTY, school: str = SCHOOL,
                       speed: dict | None = None) -> dict:
        """agent/example-config.yaml's schedule over these peers: broadband every 30 s with a
        2 s timeout, the sweep and health every 60 s, a 50-echo sync path probe; `speed`
        is the speed_test section (None: no speed tests)."""
        document = {
            "school": {"id": school, "name": "基准测试中学", "county": county, "rural": True},
            "broker": {"url": f"mqtt://127.0.0.1:{broker_port}", "allow_plaintext": True,
                       "password_file": "mqtt.password", "keepalive_s": 60},
            "spool": {"path": f"{school}-spool.sqlite"},
            "timetable": {"timezone": TIMEZONE, "school_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                          "lessons": ["08:00-08:45", "08:55-09:40"], "school_hours": "00:00-23:59"},
            "broadband": {"interval_s": 30, "timeout_s": 2, "targets": self._example_targets()},
            "sweep": {"interval_s": 60, "timeout_s": 2},
            "classrooms": self._example_classrooms(),
            "sync_classroom": self._example_sync(),
            "health": {"interval_s": 60},
        }  # fmt: skip
        if speed:
            document["speed_test"] = speed
        return document

    def write_config(self, document: dict, name: str | None = None) -> Path:
        """Written as JSON, which YAML reads as it is; by default as SCHOOL-ID.yaml."""
        path = self.directory / (name or f"{document['school']['id']}.yaml")
        path.write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
        return path

    def _targets(self, failing: bool) -> list[dict]:
        targets = [
            {"name": "县数据中心", "check": f"tcp:{self.target.port}", "host": "127.0.0.1"},
            {"name": "县教育城域网网关", "check": "icmp", "host": "127.0.0.1"},
            {"name": "本地DNS", "check": "dns", "host": self.dns.host, "query": "www.moe.gov.cn"},
            {"name": "县同步课堂平台", "check": self.http.url("/health")},
        ]
        if failing:
            targets.append({"name": "断线的目标", "check": f"tcp:{self.blackhole.port}", "host": "127.0.0.1"})
        return targets

    def _classrooms(self, failing: bool) -> list[dict]:
        second_panel = self.refused_port if failing else self.panels[1].port
        return [
            {"id": "c7-1", "name": "七年级(1)班", "devices": [
                {"id": "panel", "name": "交互式一体机", "kind": "interactive_panel", "host": "127.0.0.1",
                 "check": f"tcp:{self.panels[0].port}"},
                {"id": "projector", "name": "投影仪", "kind": "projector", "host": "127.0.0.1",
                 "check": "pjlink", "port": self.projector.port, "password_file": "pjlink.password"},
                {"id": "pc", "name": "班级电脑", "kind": "classroom_pc", "host": "127.0.0.1",
                 "check": "icmp", "required": False},
            ]},
            {"id": "c7-2", "name": "七年级(2)班", "devices": [
                {"id": "panel", "name": "交互式一体机", "kind": "interactive_panel", "host": "127.0.0.1",
                 "check": f"tcp:{second_panel}"},
            ]},
        ]  # fmt: skip

    def _sync(self) -> dict:
        return {
            "platform": {"host": "127.0.0.1", "port": self.platform.port, "tls": False},
            "probe": {"method": "udp_echo", "host": "127.0.0.1", "port": self.echo.port,
                      "count": 10, "interval_ms": 20},
            "endpoints": [{"classroom": "c7-1", "host": "127.0.0.1", "check": f"tcp:{self.endpoint.port}"}],
            "sessions": [{"id": SESSION, "name": "全天同步课", "classroom": "c7-1",
                          "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                          "start": "00:00", "end": "23:59"}],
        }

    def _example_targets(self) -> list[dict]:
        return [
            {"name": "县教育城域网网关", "check": "icmp", "host": "127.0.0.1"},
            {"name": "县数据中心", "check": f"tcp:{self.target.port}", "host": "127.0.0.1"},
            {"name": "本地DNS", "check": "dns", "host": self.dns.host, "query": "www.moe.gov.cn"},
            {"name": "县同步课堂平台", "check": self.http.url("/health")},
        ]

    def _example_classrooms(self) -> list[dict]:
        rooms = []
        for index in range(CLASSES):
            devices = [
                {"id": "panel", "name": "交互式一体机", "kind": "interactive_panel", "host": "127.0.0.1",
                 "check": f"tcp:{self.target.port}"},
                {"id": "pc", "name": "班级电脑", "kind": "classroom_pc", "host": "127.0.0.1", "check": "icmp",
                 "required": False},
            ]  # fmt: skip
            if index % 3 == 0:
                devices.append({"id": "projector", "name": "投影仪", "kind": "projector", "host": "127.0.0.1",
                                "check": "pjlink", "port": self.projector.port,
                                "password_file": "pjlink.password"})  # fmt: skip
            grade, number = 7 + index // 8, index % 8 + 1
            rooms.append({"id": f"c{grade}-{number}", "name": f"{grade}年级({number})班", "devices": devices})
        return rooms

    def _example_sync(self) -> dict:
        return {
            "platform": {"host": "127.0.0.1", "port": self.target.port, "tls": False},
            "probe": {"method": "udp_echo", "host": "127.0.0.1", "port": self.echo.port, "count": 50,
                      "interval_ms": 20},
            "endpoints": [{"classroom": "c7-1", "host": "127.0.0.1", "check": f"tcp:{self.target.port}"},
                          {"classroom": "c8-1", "host": "127.0.0.1", "check": f"tcp:{self.target.port}"}],
            "sessions": [{"id": "s-eng-c7-1", "name": "七年级英语同步课", "classroom": "c7-1",
                          "days": ["tue", "thu"], "start": "08:55", "end": "09:40"}],
        }  # fmt: skip

"""A school gateway on loopback: the real agent (`schoolnet-agent run`) and a real peer for
every check the example config has, for the footprint and alert benchmarks.

The config is agent/example-config.yaml's, with its intervals (broadband every 30 s with a
2 s timeout, sweep every 60 s with 2 s, health every 60 s, sync path probe of 50 echoes 20
ms apart) and its kinds of checks, but every address points at a peer started here:
  broadband   icmp 127.0.0.1, tcp listener, DNS on 127.53.x.y:53, HTTP /health
  classrooms  CLASSES classes, each a panel (tcp) and a PC (icmp, not required), every
              third a projector (PJLink with a password), as a rural middle school
  sync        the platform (tcp), two classroom endpoints (tcp), a UDP echo for the path
  speed test  optional: the county's iperf3 server at `speed_server` (HOST:PORT)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.processes import REPO, stop
from schoolnet_stack.peers.dns import start_on_port_53
from schoolnet_stack.peers.http import HttpPeer
from schoolnet_stack.peers.pjlink import PjlinkPeer
from schoolnet_stack.peers.tcp import Listener
from schoolnet_stack.peers.udp_echo import UdpEcho

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self needs Python 3.11

CLASSES = 24
PJLINK_PASSWORD = "pj-bench-9Qx"
TIMEZONE = "Asia/Shanghai"  # the example config's


class LoopbackSchool:
    """The peers of one school (any number of agents can share them), stopped by close()."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._peers: list[Any] = []
        self.listener = self._keep(Listener(backlog=512))
        self.dns = self._keep(start_on_port_53())
        self.http = self._keep(HttpPeer().start())
        self.projector = self._keep(PjlinkPeer(power=1, lamp_hours=1234, password=PJLINK_PASSWORD).start())
        self.echo = self._keep(UdpEcho().start())
        self._secret("mqtt.password", "mqtt-bench-not-a-secret")
        self._secret("pjlink.password", PJLINK_PASSWORD)

    def _keep(self, peer):
        self._peers.append(peer)
        return peer

    def _secret(self, name: str, value: str) -> None:
        path = self.folder / name
        path.write_text(value + "\n", encoding="utf-8")
        path.chmod(0o600)

    def close(self) -> None:
        for peer in reversed(self._peers):
            (getattr(peer, "stop", None) or peer.close)()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def config(self, broker_port: int, county: str, school: str, speed: dict | None = None) -> dict:
        """agent.yaml as a dict; `speed` is the speed_test section (None: no speed tests)."""
        document = {
            "school": {"id": school, "name": "基准测试中学", "county": county, "rural": True},
            "broker": {"url": f"mqtt://127.0.0.1:{broker_port}", "allow_plaintext": True,
                       "password_file": "mqtt.password", "keepalive_s": 60},
            "spool": {"path": f"{school}-spool.sqlite"},
            "timetable": {"timezone": TIMEZONE, "school_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                          "lessons": ["08:00-08:45", "08:55-09:40"], "school_hours": "00:00-23:59"},
            "broadband": {"interval_s": 30, "timeout_s": 2, "targets": self._targets()},
            "sweep": {"interval_s": 60, "timeout_s": 2},
            "classrooms": self._classrooms(),
            "sync_classroom": self._sync(),
            "health": {"interval_s": 60},
        }  # fmt: skip
        if speed:
            document["speed_test"] = speed
        return document

    def write_config(self, document: dict) -> Path:
        path = self.folder / f"{document['school']['id']}.yaml"
        path.write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
        return path

    def _targets(self) -> list[dict]:
        return [
            {"name": "县教育城域网网关", "check": "icmp", "host": "127.0.0.1"},
            {"name": "县数据中心", "check": f"tcp:{self.listener.port}", "host": "127.0.0.1"},
            {"name": "本地DNS", "check": "dns", "host": self.dns.host, "query": "www.moe.gov.cn"},
            {"name": "县同步课堂平台", "check": self.http.url("/health")},
        ]

    def _classrooms(self) -> list[dict]:
        rooms = []
        for index in range(CLASSES):
            devices = [
                {"id": "panel", "name": "交互式一体机", "kind": "interactive_panel", "host": "127.0.0.1",
                 "check": f"tcp:{self.listener.port}"},
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

    def _sync(self) -> dict:
        return {
            "platform": {"host": "127.0.0.1", "port": self.listener.port, "tls": False},
            "probe": {"method": "udp_echo", "host": "127.0.0.1", "port": self.echo.port, "count": 50,
                      "interval_ms": 20},
            "endpoints": [{"classroom": "c7-1", "host": "127.0.0.1", "check": f"tcp:{self.listener.port}"},
                          {"classroom": "c8-1", "host": "127.0.0.1", "check": f"tcp:{self.listener.port}"}],
            "sessions": [{"id": "s-eng-c7-1", "name": "七年级英语同步课", "classroom": "c7-1",
                          "days": ["tue", "thu"], "start": "08:55", "end": "09:40"}],
        }  # fmt: skip


def speed_section(server: str, at: datetime, wan_interface: str | None = None) -> dict:
    """The example's speed test (iperf3, 4 streams, 10 s) once a day at `at` (its minute,
    in the timetable's zone), no stagger, so it runs while the benchmark watches."""
    section = {"backend": "iperf3", "server": server, "streams": 4, "duration_s": 10,
               "times": [at.strftime("%H:%M")], "stagger_window_min": 0, "during_lessons": True,
               "target_mbps": 100}  # fmt: skip
    if wan_interface:
        section["wan_interface"] = wan_interface
    return section


class AgentProcess:
    """`python -m agent.cli run -c FILE`, as systemd starts it; its log in a file."""

    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path
        self.log_path = config_path.with_suffix(".log")
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "agent.cli", "run", "-c", str(config_path)],
                cwd=config_path.parent, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=_with_repo_on_path(),
            )  # fmt: skip

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text("utf-8", "replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: the gateway losing power, as far as the agent can tell."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        stop(self.process)


def _with_repo_on_path() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    return env

"""The systemd units in deploy/: systemd accepts them, and they say what we promise.

systemd-analyze verify checks syntax but only warns (exit status 0) on an unknown key,
so its warnings are failures here; it also insists that ExecStart exists, so each unit is
verified with its program swapped for one that exists on this machine. The parse check
below is stricter about our own choices: known directives only, the hardening present.
The unit as install.sh writes it is verified in test_install.py.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from schoolnet_stack.requirements import require_binary

REPO = Path(__file__).resolve().parents[2]
AGENT_UNIT = REPO / "deploy/agent/schoolnet-agent.service"
COLLECTOR_UNIT = REPO / "deploy/central/systemd/schoolnet-collector.service"
VMALERT_UNIT = REPO / "deploy/central/systemd/schoolnet-vmalert.service"
UNITS = (AGENT_UNIT, COLLECTOR_UNIT, VMALERT_UNIT)
VENV_BIN = Path(sys.executable).parent

KNOWN = {
    "Unit": {"Description", "Documentation", "Wants", "After", "Requires"},
    "Service": {
        "Type", "User", "Group", "DynamicUser", "ExecStart", "ExecReload", "KillSignal", "TimeoutStopSec",
        "Restart", "RestartSec", "RestartPreventExitStatus", "UMask", "AmbientCapabilities",
        "CapabilityBoundingSet", "NoNewPrivileges", "StateDirectory", "StateDirectoryMode", "ProtectSystem",
        "ReadWritePaths", "ProtectHome", "PrivateTmp", "PrivateDevices", "ProtectKernelTunables",
        "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups", "ProtectClock",
        "ProtectHostname", "RestrictSUIDSGID", "RestrictRealtime", "RestrictNamespaces", "LockPersonality",
        "SystemCallArchitectures", "RestrictAddressFamilies", "MemoryMax", "TasksMax",
    },
    "Install": {"WantedBy"},
}  # fmt: skip


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """{section: {key: [values]}}; raises ValueError on a line that is none of a section
    header, a comment, a blank line or Key=Value (continuation lines joined first)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for number, line in enumerate(text.replace("\\\n", " ").splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        header = re.fullmatch(r"\[(\w+)\]", stripped)
        if header:
            current = sections.setdefault(header.group(1), {})
            continue
        pair = re.fullmatch(r"([A-Za-z]+)=(.*)", stripped)
        if pair is None or current is None:
            raise ValueError(f"line {number}: {line!r} is not a section, a comment or Key=Value")
        current.setdefault(pair.group(1), []).append(pair.group(2).strip())
    return sections


def _one(unit: dict, section: str, key: str) -> str:
    [value] = unit[section][key]
    return value


@pytest.mark.parametrize("path", UNITS, ids=lambda path: path.name)
def test_every_line_is_a_known_directive(path):
    unit = parse_unit(path.read_text())
    assert set(unit) == set(KNOWN)
    for section, keys in unit.items():
        assert set(keys) <= KNOWN[section], f"{path.name} [{section}]: {set(keys) - KNOWN[section]}"


@pytest.mark.parametrize("path", UNITS, ids=lambda path: path.name)
def test_systemd_accepts_the_unit(path, tmp_path):
    require_binary("systemd-analyze")
    text = path.read_text()
    for program in ("schoolnet-agent", "schoolnet-collector"):  # in /opt/schoolnet/venv here
        text = text.replace(f"/opt/schoolnet/venv/bin/{program}", str(VENV_BIN / program))
    copy = tmp_path / path.name
    copy.write_text(text)
    verified = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True,
                              timeout=60, check=False)
    assert verified.returncode == 0, verified.stderr
    assert verified.stderr.strip() == ""


def test_the_agent_runs_as_its_user_with_raw_sockets_and_nothing_else():
    unit = parse_unit(AGENT_UNIT.read_text())
    service = {key: values[-1] for key, values in unit["Service"].items()}
    assert service["User"] == service["Group"] == "schoolnet"
    assert service["AmbientCapabilities"] == service["CapabilityBoundingSet"] == "CAP_NET_RAW"
    assert service["RestrictAddressFamilies"].split() == ["AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK"]
    assert service["StateDirectory"] == "schoolnet"
    assert service["ReadWritePaths"] == "/var/lib/schoolnet"
    expected = {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
                "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes",
                "Restart": "always", "KillSignal": "SIGTERM", "RestartPreventExitStatus": "2"}
    assert {key: service[key] for key in expected} == expected
    assert int(service["RestartSec"]) > 0 and int(service["TimeoutStopSec"]) >= 10
    assert service["MemoryMax"] == "256M"


def test_exec_start_is_where_install_sh_puts_the_agent():
    script = (REPO / "deploy/agent/install.sh").read_text()
    defaults = dict(re.findall(r"^(PREFIX|ETC_DIR)=\$\{\1:-(\S+)\}$", script, re.MULTILINE))
    exec_start = _one(parse_unit(AGENT_UNIT.read_text()), "Service", "ExecStart")
    assert exec_start == f"{defaults['PREFIX']}/venv/bin/schoolnet-agent run -c {defaults['ETC_DIR']}/agent.yaml"


def test_the_collector_unit_uses_the_same_venv_and_no_capability():
    unit = parse_unit(COLLECTOR_UNIT.read_text())
    assert _one(unit, "Service", "ExecStart") == (
        "/opt/schoolnet/venv/bin/schoolnet-collector run -c /etc/schoolnet/collector.yaml")
    assert _one(unit, "Service", "CapabilityBoundingSet") == ""
    assert _one(unit, "Service", "RestartPreventExitStatus") == "2"
    assert "mosquitto.service" in _one(unit, "Unit", "After")


def test_vmalert_evaluates_the_rules_into_the_local_store_and_alertmanager():
    exec_start = _one(parse_unit(VMALERT_UNIT.read_text()), "Service", "ExecStart").split()
    assert exec_start[0] == "/usr/bin/vmalert"
    flags = dict(flag.split("=", 1) for flag in exec_start[1:])
    assert flags == {
        "-rule": "/etc/schoolnet/rules/*.yml",
        "-datasource.url": "http://127.0.0.1:8428",
        "-remoteWrite.url": "http://127.0.0.1:8428",
        "-remoteRead.url": "http://127.0.0.1:8428",
        "-notifier.url": "http://127.0.0.1:9093",
        "-evaluationInterval": "1m",
        "-httpListenAddr": "127.0.0.1:8880",
    }


def test_the_parser_refuses_what_is_not_a_unit_line():
    with pytest.raises(ValueError, match="line 2"):
        parse_unit("[Service]\nExecStart /bin/true\n")

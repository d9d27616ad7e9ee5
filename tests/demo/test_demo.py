"""The demo end to end: `python -m demo --headless` as a user runs it, real servers and all.

The simulated faults fix what the tables must say: hx has a dead projector (5 of 6
classes ready) and a 40 Mbps school (2 of 3 compliant); ly has a school with its uplink
and a panel down (2 of 3 connected, 5 of 6 classes) and a rural school whose sync endpoint
is silent (1 of 2 rural schools ready).
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from schoolnet_stack.requirements import require_binary, require_root

ROOT = Path(__file__).resolve().parents[2]
DURATION_S = 120
"""The speed test waits for the next whole minute (up to ~70 s), then runs ~8 s; its alert
needs 20 s of `for:` at the demo's 2 s per minute, plus Alertmanager's 1 s group wait."""
WORKDIR_LINE = re.compile(r"work dir: (\S+)")
COUNTY_ROW = re.compile(r"^\s+(hx|ly)\s+(\d+)\s+(\S+)%\s+(\S+)%\s+(\S+)%\s+(\S+)%", re.MULTILINE)
SCHOOL_ROW = re.compile(r"^\s+((?:hx|ly)-\S+)\s+(PASS|FAIL|—)\s+(PASS|FAIL|—) \S+\s+(PASS|FAIL|—)\s+(PASS|FAIL|—|n/a)",
                        re.MULTILINE)
ALERT_ROW = re.compile(r"^\s+(\w+)\s+county=(\w+) school=(\S+)", re.MULTILINE)


def _prerequisites() -> None:
    require_root("the demo's county DNS listens on port 53")
    for binary in ("/usr/sbin/mosquitto", "/usr/bin/victoria-metrics", "/usr/bin/vmalert",
                   "/usr/bin/prometheus-alertmanager"):
        require_binary(binary)


def _demo(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "demo", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, encoding="utf-8")


def _leftovers(workdir: str) -> list[str]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            cmdline = " ".join(process.info["cmdline"] or ())
        except psutil.Error:
            continue
        if workdir in cmdline:
            found.append(f"{process.pid}: {cmdline}")
    return found


def _section(output: str, title: str) -> str:
    return output.split(title, 1)[1].split("\n==", 1)[0]


@pytest.mark.timeout(DURATION_S + 90)
def test_headless_demo_prints_the_figures_and_alerts_the_faults_cause():
    _prerequisites()
    demo = _demo("--headless", "--duration", str(DURATION_S))
    output, _ = demo.communicate(timeout=DURATION_S + 80)
    workdir = WORKDIR_LINE.search(output).group(1)

    assert demo.returncode == 0, output
    counties = {row[0]: row[1:] for row in COUNTY_ROW.findall(_section(output, "county compliance"))}
    assert counties == {
        "hx": ("3", "100.0", "66.7", "83.3", "100.0"),
        "ly": ("3", "66.7", "100.0", "83.3", "50.0"),
    }, output
    schools = {row[0]: row[1:] for row in SCHOOL_ROW.findall(_section(output, "per school"))}
    assert schools == {
        "hx-huaxi-zx": ("PASS", "PASS", "PASS", "n/a"),
        "hx-dazhuang-zx": ("PASS", "PASS", "FAIL", "PASS"),
        "hx-qingyan-xx": ("PASS", "FAIL", "PASS", "PASS"),
        "ly-chengguan-xx": ("PASS", "PASS", "PASS", "n/a"),
        "ly-baisha-xx": ("FAIL", "PASS", "FAIL", "PASS"),
        "ly-gutian-zx": ("PASS", "PASS", "PASS", "FAIL"),
    }, output
    alerts = _section(output, "alerts sent")
    assert set(ALERT_ROW.findall(_section(alerts, "[hx-county-it]").split("[ly-county-it]")[0])) == {
        ("ClassroomDeviceDown", "hx", "hx-dazhuang-zx"),
        ("EgressBelowTarget", "hx", "hx-qingyan-xx"),
    }, output
    assert set(ALERT_ROW.findall(alerts.split("[ly-county-it]", 1)[1])) == {
        ("BroadbandDown", "ly", "ly-baisha-xx"),
        ("ClassroomDeviceDown", "ly", "ly-baisha-xx"),
        ("SyncClassroomNotReady", "ly", "ly-gutian-zx"),
    }, output
    assert _leftovers(workdir) == []
    assert not Path(workdir).exists()


@pytest.mark.timeout(90)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_start_up_leaves_nothing_running(signum):
    _prerequisites()
    demo = _demo("--headless")
    first_line = demo.stdout.readline()
    workdir = WORKDIR_LINE.search(first_line).group(1)
    _wait_for_a_server_under(workdir, demo)

    demo.send_signal(signum)
    output = first_line + demo.communicate(timeout=60)[0]

    assert demo.returncode == 130, output
    assert "interrupted; every process stopped" in output
    assert _leftovers(workdir) == []
    assert not Path(workdir).exists()


def _wait_for_a_server_under(workdir: str, demo: subprocess.Popen) -> None:
    """Start-up is under way once a server runs from the demo's directory."""
    for _ in range(300):
        if _leftovers(workdir) or demo.poll() is not None:
            return
        time.sleep(0.05)

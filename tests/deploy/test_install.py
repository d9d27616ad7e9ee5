"""deploy/agent/install.sh and uninstall.sh, run for real into a temporary root.

PREFIX, ETC_DIR, STATE_DIR and SYSTEMD_DIR point into pytest's tmp dir, NO_SYSTEMCTL=1
keeps systemd out of it, and SCHOOLNET_USER=nobody (which every Debian has) stands in for
the `schoolnet` user, so the machine's users and services are never touched. pip really
builds and installs the project into a venv (its build backend, setuptools, comes from
PyPI or pip's cache); the project's dependencies are left out (PIP_NO_DEPS=1): they are
not what these scripts are about, and the wheel route then runs with no index at all.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from schoolnet_stack.requirements import require_binary, require_root, unavailable

REPO = Path(__file__).resolve().parents[2]
AGENT_DEPLOY = REPO / "deploy" / "agent"
STAND_IN_USER = "nobody"
SOURCE_PARTS = ("pyproject.toml", "README.md", "agent", "collector", "deploy/agent")


@dataclass(frozen=True)
class Root:
    """A pretend machine: every path install.sh writes, under one temporary folder."""

    base: Path

    @property
    def prefix(self) -> Path:
        return self.base / "opt" / "schoolnet"

    @property
    def etc(self) -> Path:
        return self.base / "etc" / "schoolnet"

    @property
    def state(self) -> Path:
        return self.base / "var" / "lib" / "schoolnet"

    @property
    def unit(self) -> Path:
        return self.base / "etc" / "systemd" / "system" / "schoolnet-agent.service"

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ, "PREFIX": str(self.prefix), "ETC_DIR": str(self.etc), "STATE_DIR": str(self.state),
            "SYSTEMD_DIR": str(self.unit.parent), "NO_SYSTEMCTL": "1", "SCHOOLNET_USER": STAND_IN_USER,
            "PYTHON": _system_python(), "PIP_NO_DEPS": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1", **extra,
        }  # fmt: skip

    def run(self, script: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(["sh", str(script), *args], env=self.env(**env), capture_output=True,
                              text=True, timeout=300, check=False)


def _system_python() -> str:
    """The python3 a gateway has (not our dev venv's, which cannot make a plain venv)."""
    return shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin") or sys.executable


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _owner(path: Path) -> tuple[str, str]:
    info = path.stat()
    return pwd.getpwuid(info.st_uid).pw_name, grp.getgrgid(info.st_gid).gr_name


def _paths_outside(root: Root, text: str) -> list[str]:
    """Default paths that install.sh should have replaced with the root's."""
    found = re.findall(r"[^\s=:]*(?:/opt/schoolnet|/etc/schoolnet|/var/lib/schoolnet)", text)
    return [path for path in found if not path.startswith(str(root.base))]


@pytest.fixture(scope="module")
def source_tree(tmp_path_factory) -> Path:
    """A copy of the project as a gateway gets it (so pip's build never writes into ours)."""
    require_root("install.sh makes files owned by another user")
    tree = tmp_path_factory.mktemp("source")
    for part in SOURCE_PARTS:
        source, target = REPO / part, tree / part
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    return tree


@pytest.fixture(scope="module")
def wheel(source_tree, tmp_path_factory) -> Path:
    """schoolnet's wheel, built once (pip fetches the build backend, setuptools, from PyPI
    or its cache)."""
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out),
                            str(source_tree)], capture_output=True, text=True, timeout=300, check=False)
    if built.returncode != 0:
        unavailable(f"cannot build the schoolnet wheel: {built.stderr.strip()[-300:]}",
                    "let pip reach PyPI (or its cache) for setuptools")
    [path] = out.glob("schoolnet-*.whl")
    return path


@pytest.fixture(scope="module")
def installed(source_tree, tmp_path_factory) -> tuple[Root, subprocess.CompletedProcess]:
    """A first install the usual way: from the clone the script belongs to."""
    root = Root(tmp_path_factory.mktemp("gateway"))
    done = root.run(source_tree / "deploy/agent/install.sh")
    if done.returncode != 0 and "setuptools" in done.stderr:
        unavailable(f"pip cannot build schoolnet: {done.stderr.strip()[-300:]}",
                    "let pip reach PyPI (or its cache) for setuptools")
    assert done.returncode == 0, done.stderr
    return root, done


def test_first_install_makes_the_venv_config_spool_and_unit(installed, source_tree):
    root, done = installed
    assert f"installing {source_tree}\n" in done.stdout
    assert os.access(root.prefix / "venv/bin/schoolnet-agent", os.X_OK)
    assert (root.etc / "agent.yaml").is_file() and (root.etc / "mqtt.password").read_text() == ""
    assert root.state.is_dir() and root.unit.is_file()
    assert "下一步 / next steps" in done.stdout and "systemctl start schoolnet-agent.service" in done.stdout


def test_files_have_the_modes_and_owners_the_agent_needs(installed):
    root, _ = installed
    group = grp.getgrgid(pwd.getpwnam(STAND_IN_USER).pw_gid).gr_name
    expected = {
        root.etc: (0o750, ("root", group)),
        root.etc / "agent.yaml": (0o640, ("root", group)),
        root.etc / "mqtt.password": (0o600, (STAND_IN_USER, group)),
        root.state: (0o750, (STAND_IN_USER, group)),
        root.unit: (0o644, ("root", "root")),
    }
    assert {path: (_mode(path), _owner(path)) for path in expected} == expected


def test_the_config_is_the_example_with_this_machines_paths(installed):
    root, _ = installed
    config = (root.etc / "agent.yaml").read_text()
    assert f"password_file: {root.etc}/mqtt.password" in config
    assert f"path: {root.state}/spool.sqlite" in config
    assert _paths_outside(root, config) == []


def test_the_installed_unit_runs_the_venvs_agent_as_the_user(installed):
    root, _ = installed
    unit = root.unit.read_text()
    assert f"ExecStart={root.prefix}/venv/bin/schoolnet-agent run -c {root.etc}/agent.yaml\n" in unit
    assert f"ReadWritePaths={root.state}\n" in unit
    assert f"User={STAND_IN_USER}\n" in unit
    assert _paths_outside(root, unit) == [] and "User=schoolnet" not in unit


def test_systemd_accepts_the_installed_unit(installed):
    require_binary("systemd-analyze")
    root, _ = installed
    verified = subprocess.run(["systemd-analyze", "verify", str(root.unit)], capture_output=True, text=True,
                              timeout=60, check=False)
    assert verified.returncode == 0, verified.stderr
    # Only our stand-in user is worth a remark (systemd warns about `nobody` on principle).
    complaints = [line for line in verified.stderr.splitlines() if "Special user nobody" not in line]
    assert complaints == []


def test_rerun_upgrade_and_uninstall_keep_the_schools_config_and_spool(source_tree, wheel, tmp_path):
    """The wheel route (a gateway without git), offline: PIP_NO_INDEX."""
    root = Root(tmp_path)
    install, uninstall = source_tree / "deploy/agent/install.sh", source_tree / "deploy/agent/uninstall.sh"
    assert root.run(install, str(wheel), PIP_NO_INDEX="1").returncode == 0
    edited = (root.etc / "agent.yaml").read_text().replace("hx-dazhuang-zx", "hx-xiaozhuang-xx")
    (root.etc / "agent.yaml").write_text(edited)
    (root.etc / "mqtt.password").write_text("the county's password\n")
    (root.etc / "mqtt.password").chmod(0o644)  # copied in carelessly
    (root.state / "spool.sqlite").write_bytes(b"unsent results")
    installed_init = next((root.prefix / "venv/lib").glob("python3*/site-packages/agent/__init__.py"))
    installed_init.write_text("tampered")

    again = root.run(install, str(wheel), PIP_NO_INDEX="1")
    assert again.returncode == 0, again.stderr
    assert "keeping" in again.stdout and "下一步" not in again.stdout
    assert _mode(root.etc / "mqtt.password") == 0o600  # put right, content untouched
    assert installed_init.read_text() == "tampered"  # same version: a plain install leaves it

    upgraded = root.run(install, "--upgrade", str(wheel), PIP_NO_INDEX="1")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "__version__" in installed_init.read_text()  # --upgrade reinstalled the package
    assert (root.etc / "agent.yaml").read_text() == edited
    assert (root.etc / "mqtt.password").read_text() == "the county's password\n"
    assert (root.state / "spool.sqlite").read_bytes() == b"unsent results"

    removed = root.run(uninstall)
    assert removed.returncode == 0, removed.stderr
    assert not (root.prefix / "venv").exists() and not root.unit.exists() and not root.prefix.exists()
    assert (root.etc / "agent.yaml").read_text() == edited
    assert (root.state / "spool.sqlite").read_bytes() == b"unsent results"

    purged = root.run(uninstall, "--purge")
    assert purged.returncode == 0, purged.stderr
    assert not root.etc.exists() and not root.state.exists()
    assert pwd.getpwnam(STAND_IN_USER)  # the user stays


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("PREFIX", "opt/schoolnet", "PREFIX must be an absolute path"),
    ("ETC_DIR", "/", "ETC_DIR=/ is not allowed"),
    ("STATE_DIR", "/var/lib/school net", "STATE_DIR may contain only"),
    ("SCHOOLNET_USER", "root;reboot", "SCHOOLNET_USER must be a user name"),
])
def test_a_dangerous_setting_stops_the_install_before_it_does_anything(tmp_path, variable, value, message):
    require_root("install.sh checks it runs as root")
    root = Root(tmp_path / "machine")
    done = root.run(AGENT_DEPLOY / "install.sh", **{variable: value})
    assert done.returncode == 1 and message in done.stderr
    assert not (tmp_path / "machine").exists()


def test_uninstall_refuses_a_relative_prefix(tmp_path):
    require_root("uninstall.sh checks it runs as root")
    done = Root(tmp_path).run(AGENT_DEPLOY / "uninstall.sh", PREFIX="opt")
    assert done.returncode == 1 and "PREFIX must be an absolute path" in done.stderr

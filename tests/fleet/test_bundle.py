"""A school's bundle installs offline into a temporary prefix (NO_SYSTEMCTL=1) and the
agent accepts what it installed, secrets included (issue 12, part 3)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tarfile

import pytest

from roster import sample
from schoolnet_stack.requirements import require_root, unavailable
from schoolnet_stack.servers import LOOPBACK
from tests.deploy.county import MAKE_CERTS
from tests.fleet.helpers import county_tables, fleet

SCHOOL = ("c00", "3000000000")
DEPENDENCIES = ("paho-mqtt", "psutil", "pyyaml", "speedtest-cli")


@pytest.fixture(scope="module")
def applied(tmp_path_factory):
    require_root("installing as the schoolnet install script does")
    folder = tmp_path_factory.mktemp("bundles")
    wheels = folder / "wheels"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "-w", str(wheels), ".",
                            *DEPENDENCIES], capture_output=True, text=True, timeout=600, check=False)
    if built.returncode != 0:
        unavailable(f"cannot build the wheels: {built.stderr.strip()[-300:]}")
    (wheel,) = wheels.glob("schoolnet-*.whl")
    deps = folder / "deps"
    deps.mkdir()
    for dep in wheels.glob("*.whl"):
        if dep != wheel:
            shutil.move(dep, deps / dep.name)
    subprocess.run(["sh", str(MAKE_CERTS), str(folder / "tls"), "localhost", LOOPBACK], check=True,
                   capture_output=True, timeout=60, env={**os.environ, "BROKER_GROUP": str(os.getgid())})
    roster = sample.write_xlsx(folder / "roster.xlsx", county_tables(3, 1))
    argv = ["apply", roster, "--state", folder / "state", "--bundles", "--ca", folder / "tls/ca.pem",
            "--wheel", wheel, "--with-deps", deps]
    assert fleet(*argv) == 0
    return {"folder": folder, "argv": argv, "state": folder / "state"}


def test_the_bundle_installs_offline_and_validates_with_secrets(applied, tmp_path):
    bundle = applied["state"] / "bundles" / SCHOOL[0] / f"{SCHOOL[1]}.tar.gz"
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o600
    with tarfile.open(bundle) as tar:
        members = {member.name: member for member in tar.getmembers()}
        tar.extractall(tmp_path / "usb", filter="data")
    top = f"schoolnet-{SCHOOL[1]}"
    assert members[f"{top}/etc/mqtt.password"].mode == 0o600
    assert any(name.startswith(f"{top}/wheels/paho_mqtt") for name in members)
    root = tmp_path / "gateway"
    env = {**os.environ, "PREFIX": str(root / "opt"), "ETC_DIR": str(root / "etc"), "STATE_DIR": str(root / "var"),
           "SYSTEMD_DIR": str(root / "systemd"), "NO_SYSTEMCTL": "1", "SCHOOLNET_USER": "nobody",
           "PYTHON": shutil.which("python3") or "python3", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    done = subprocess.run(["sh", str(tmp_path / "usb" / top / "install-school.sh")], env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "installed" in done.stdout
    password = (applied["state"] / "schools" / SCHOOL[0] / SCHOOL[1] / "mqtt.password").read_text()
    installed = root / "etc" / "mqtt.password"
    assert installed.read_text() == password and stat.S_IMODE(installed.stat().st_mode) == 0o600
    assert password.strip() not in done.stdout + done.stderr
    config = (root / "etc" / "agent.yaml").read_text()
    assert f"password_file: {root}/etc/mqtt.password" in config and f"ca_file: {root}/etc/ca.pem" in config
    checked = subprocess.run([str(root / "opt/venv/bin/schoolnet-agent"), "validate", "--secrets", "-c",
                              str(root / "etc/agent.yaml")], capture_output=True, text=True, timeout=60, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_second_apply_rebuilds_no_bundle(applied, capsys):
    capsys.readouterr()
    assert fleet(*applied["argv"]) == 0
    assert "bundles/" not in capsys.readouterr().out

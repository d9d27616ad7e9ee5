"""Each school's offline install bundle: one .tar.gz the county hands to the school (USB
stick, the bureau's file share) that installs the agent with its config and credential on
a gateway without internet, by one command:

    tar xzf <school>.tar.gz && sh schoolnet-<school>/install-school.sh

Inside: the schoolnet wheel, deploy/agent/install.sh and the unit it installs, the school's
agent.yaml, its MQTT password, the county CA certificate, optionally the dependencies'
wheels (--with-deps DIR), and install-school.sh, which runs install.sh offline, puts the
files in place with the modes the agent needs and checks them with
`schoolnet-agent validate --secrets`. The bundle holds a password: it is written 0600, and
its bytes depend only on its contents (fixed times and owners), so an apply that changes
nothing rewrites no bundle.
"""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
import tarfile
from pathlib import Path

from fleet.plan import Desired
from fleet.state import SECRET_MODE, State, write_file

REPO = Path(__file__).resolve().parents[1]
AGENT_DEPLOY = REPO / "deploy" / "agent"
FIXED_MTIME = 1_700_000_000  # a bundle's bytes must not depend on when it was made

INSTALL_SCHOOL = """\
#!/bin/sh
# Installs schoolnet for {name} ({county}/{school}) from this bundle, offline, as root:
#   sh install-school.sh
# PREFIX, ETC_DIR, STATE_DIR, SYSTEMD_DIR, SCHOOLNET_USER and NO_SYSTEMCTL=1 work as for install.sh.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ETC_DIR=${{ETC_DIR:-/etc/schoolnet}}
STATE_DIR=${{STATE_DIR:-/var/lib/schoolnet}}
PREFIX=${{PREFIX:-/opt/schoolnet}}
SCHOOLNET_USER=${{SCHOOLNET_USER:-schoolnet}}
export PIP_NO_INDEX=1 PIP_FIND_LINKS="$HERE/wheels"
sh "$HERE/install.sh" "$HERE/{wheel}"
group=$(id -gn "$SCHOOLNET_USER")
sed -e "s|/etc/schoolnet|$ETC_DIR|g" -e "s|/var/lib/schoolnet|$STATE_DIR|g" "$HERE/etc/agent.yaml" > "$ETC_DIR/agent.yaml.new"
chmod 0640 "$ETC_DIR/agent.yaml.new" && chown "root:$group" "$ETC_DIR/agent.yaml.new"
mv "$ETC_DIR/agent.yaml.new" "$ETC_DIR/agent.yaml"
install -m 0600 -o "$SCHOOLNET_USER" -g "$group" "$HERE/etc/mqtt.password" "$ETC_DIR/mqtt.password"
install -m 0644 "$HERE/etc/ca.pem" "$ETC_DIR/ca.pem"
"$PREFIX/venv/bin/schoolnet-agent" validate --secrets -c "$ETC_DIR/agent.yaml"
if [ "${{NO_SYSTEMCTL:-0}}" != 1 ] && command -v systemctl >/dev/null 2>&1; then
    systemctl enable --now schoolnet-agent.service
fi
echo "schoolnet: {name} ({county}/{school}) 安装完成 installed"
"""


class BundleError(Exception):
    """Something a bundle needs is missing; the message says what to give."""


def build_wheel(state: State) -> Path:
    """schoolnet's wheel from this checkout, built once into the state folder's dist/."""
    dist = state.root / "dist"
    found = sorted(dist.glob("schoolnet-*.whl"))
    if found:
        return found[-1]
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(dist), str(REPO)],
                           capture_output=True, text=True, timeout=600, check=False)
    found = sorted(dist.glob("schoolnet-*.whl"))
    if built.returncode != 0 or not found:
        raise BundleError(f"cannot build the schoolnet wheel ({built.stderr.strip()[-200:]}); give one with --wheel")
    return found[-1]


def build_bundles(desired: Desired, state: State, ca: Path | None, wheel: Path | None,
                  deps: Path | None) -> list[str]:
    if ca is None or not ca.is_file():
        raise BundleError("the bundles need the county CA certificate: --ca /path/to/ca.pem (make-certs.sh made it)")
    wheel = wheel or build_wheel(state)
    shared = {"install.sh": (AGENT_DEPLOY / "install.sh").read_bytes(),
              "schoolnet-agent.service": (AGENT_DEPLOY / "schoolnet-agent.service").read_bytes(),
              wheel.name: wheel.read_bytes(), "etc/ca.pem": ca.read_bytes()}
    for dep in sorted(deps.glob("*.whl")) if deps else ():
        shared[f"wheels/{dep.name}"] = dep.read_bytes()
    written = []
    for plan in desired.schools.values():
        school = plan.school
        files = {**shared, "etc/agent.yaml": plan.config.encode(),
                 "etc/mqtt.password": state.password_path(school.county, school.id).read_bytes(),
                 "install-school.sh": INSTALL_SCHOOL.format(name=school.name, county=school.county, school=school.id,
                                                           wheel=wheel.name).encode()}
        path = state.bundle_path(school.county, school.id)
        if write_file(path, _tar_gz(f"schoolnet-{school.id}", files), SECRET_MODE):
            written.append(str(path.relative_to(state.root)))
    return written


def _tar_gz(top: str, files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        folders = sorted({str(Path(name).parent) for name in files} - {"."})
        for folder in ["", *folders]:
            info = _info(f"{top}/{folder}".rstrip("/"), 0o755, tarfile.DIRTYPE)
            tar.addfile(info)
        for name in sorted(files):
            secret = name in ("etc/mqtt.password",)
            info = _info(f"{top}/{name}", 0o600 if secret else 0o755 if name.endswith(".sh") else 0o644)
            info.size = len(files[name])
            tar.addfile(info, io.BytesIO(files[name]))
    return gzip.compress(raw.getvalue(), mtime=0)


def _info(name: str, mode: int, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = kind, mode, FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info

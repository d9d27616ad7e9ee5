"""The state folder: everything the fleet tool made, and the record of what it made.

    fleet.json                          what the last apply wrote (plan compares against it),
                                        and the account changes a running broker still needs
    schools/<county>/<school>/agent.yaml        the school's config
    schools/<county>/<school>/mqtt.password     its broker password (0600)
    bundles/<county>/<school>.tar.gz            its offline install bundle (0600: holds the password)
    accounts/<user>.password                    operator, collector and admin passwords (0600)
    broker/dynamic-security.json                the broker's accounts, the plugin's state file (0600)
    alertmanager/alertmanager.yml               routes per county merged into the template (0600)
    roster/roster.prom                          the denominator series for VictoriaMetrics
    retired/<county>/<school>/                  a retired school's files, until its status is cleared

Files are written atomically (a temporary file renamed over the old one) and only when
their content changes, so a second apply touches nothing and a broker or Alertmanager
reload is needed only when `apply` says a file changed. The folder is 0700: it holds
every school's password.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from pathlib import Path

from schoolnet_core.private import private_dir

MANIFEST = "fleet.json"
FORMAT = 1
PASSWORD_BYTES = 24  # 32 URL-safe characters, as deploy/central/credentials.py issues
SECRET_MODE = 0o600
PUBLIC_MODE = 0o644


class State:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def school_dir(self, county: str, school: str) -> Path:
        return self.root / "schools" / county / school

    def config_path(self, county: str, school: str) -> Path:
        return self.school_dir(county, school) / "agent.yaml"

    def password_path(self, county: str, school: str) -> Path:
        return self.school_dir(county, school) / "mqtt.password"

    def bundle_path(self, county: str, school: str) -> Path:
        return self.root / "bundles" / county / f"{school}.tar.gz"

    def account_password_path(self, username: str) -> Path:
        return self.root / "accounts" / f"{username}.password"

    def retired_dir(self, county: str, school: str) -> Path:
        return self.root / "retired" / county / school

    def manifest(self) -> dict:
        path = self.root / MANIFEST
        if not path.exists():
            return {"format": FORMAT, "schools": {}, "counties": {}}
        return json.loads(path.read_text())

    def save_manifest(self, manifest: dict) -> bool:
        text = json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
        return write_file(self.root / MANIFEST, text, PUBLIC_MODE)

    def read_password(self, path: Path) -> str | None:
        return path.read_text().strip() if path.exists() else None


def new_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


def write_file(path: Path, content: str | bytes, mode: int) -> bool:
    """Writes `content` atomically with `mode` from the first byte; False if it was already so."""
    data = content.encode() if isinstance(content, str) else content
    if path.exists() and path.read_bytes() == data:
        if (path.stat().st_mode & 0o777) != mode:
            path.chmod(mode)
        return False
    private_dir(path.parent)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(descriptor, mode)  # before any byte is written: a secret is never readable by others
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True

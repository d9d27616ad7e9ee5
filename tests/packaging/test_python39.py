"""The agent runs on school gateways with Python as old as 3.9: import it there."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OLDEST = "python3.9"


def test_agent_and_contract_import_on_python_39():
    python = _pyenv(OLDEST) or shutil.which(OLDEST)
    if python is None:
        pytest.skip(f"{OLDEST} not on this machine; ruff's target-version py39 still checks syntax")
    # Only the standard library is needed to import these modules and check a message.
    result = subprocess.run(
        [python, "-c", "import agent, schoolnet_core.contract as c; print(c.SCHEMA_VERSION, c.id_problem('hx-01'))"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "None"]


def _pyenv(name: str) -> str | None:
    candidates = sorted(Path.home().glob(f".pyenv/versions/3.9.*/bin/{name}"))
    return str(candidates[-1]) if candidates else None

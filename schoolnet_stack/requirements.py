"""What a test needs from the machine, and what happens when it is missing (for tests only).

Project rule: a test that needs root or a real server never passes silently. Outside CI
it skips and says why; under CI=true it fails, because a CI run that skipped the real
servers proves nothing.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from typing import NoReturn

SETUP_HINT = (
    "run ./scripts/setup as root on Debian (it installs mosquitto, victoria-metrics, "
    "prometheus-alertmanager, iperf3, fping and iproute2)"
)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def unavailable(reason: str, fix: str = SETUP_HINT) -> NoReturn:
    """Skips the test, or fails it under CI=true, naming the reason and the fix."""
    import pytest  # only here: importing the stack never needs pytest (the demo and bench run without it)

    if in_ci():
        pytest.fail(f"{reason}. CI=true, so this fails instead of skipping. Fix: {fix}.", pytrace=False)
    pytest.skip(f"{reason} (to run it: {fix})")


def require_binary(name_or_path: str) -> str:
    """The full path of an executable, e.g. require_binary("/usr/sbin/mosquitto")."""
    path = shutil.which(name_or_path)
    if path is None:
        unavailable(f"{name_or_path} is not installed or not executable")
    return path


def require_root(why: str = "network namespaces, TUN devices and tc") -> None:
    if os.geteuid() != 0:
        unavailable(f"needs root ({why})", "run ./scripts/setup as root, then the tests as root")


def require_netns() -> None:
    """Root, ip, tc and a kernel that lets us make namespaces and TUN devices."""
    require_root()
    require_binary("ip")
    require_binary("tc")
    problem = _netns_problem()
    if problem:
        unavailable(problem, "run the tests as root on a Linux kernel with network namespaces and TUN")


@functools.cache
def _netns_problem() -> str | None:
    """Tries the real thing once per session: `ip netns add`, then /dev/net/tun."""
    name = f"sn-{os.getpid()}-probe"
    added = subprocess.run(["ip", "netns", "add", name], check=False, capture_output=True, text=True)
    if added.returncode != 0:
        return f"`ip netns add` does not work here: {added.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)
    try:
        os.close(os.open("/dev/net/tun", os.O_RDWR))
    except OSError as exc:
        return f"cannot open /dev/net/tun: {exc}"
    return None

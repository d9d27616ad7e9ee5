"""Programs the speed tests start (servers, a competing client): waiting until they are ready."""

from __future__ import annotations

import subprocess
import threading


def wait_for_line(process: subprocess.Popen, text: str) -> str:
    """Reads the process's output up to the first line containing `text` and returns it;
    the rest is drained in a thread, since a full pipe would stall the program mid-test."""
    for line in process.stdout:
        if text in line:
            threading.Thread(target=process.stdout.read, daemon=True).start()
            return line
    raise AssertionError(f"{process.args} exited ({process.wait()}) before printing {text!r}")

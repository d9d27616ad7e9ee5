"""The report's page printed to PDF by headless Chromium (Debian `chromium`).

The page is self-contained, so the browser is cut off from everything else: no sandbox
(it runs as a service user or root in a container), no GPU, no first-run, no background
networking, updates or sync, and a fresh empty profile each time, deleted afterwards.
The CJK text needs a CJK font on the machine (fonts-noto-cjk): without one Chromium prints
empty boxes and no error, which is why the tests read the names back with pdftotext.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-extensions", "--mute-audio",
    "--disable-default-apps", "--disable-domain-reliability", "--disable-client-side-phishing-detection",
    "--disable-breakpad", "--no-pings", "--no-default-browser-check", "--metrics-recording-only",
    ("--disable-features=NetworkTimeServiceQuerying,OptimizationHints,MediaRouter,Translate,SigninInterceptBubble,"
    "AccountConsistency,PushMessaging,CertificateTransparencyComponentUpdater"),
)
TIMEOUT_S = 120


def browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


NO_NETWORK = "http://127.0.0.1:9"
"""A proxy nobody answers on: the page needs nothing from the network, and Chromium's own
updater and sign-in calls (which its flags do not all stop) then go nowhere."""


def run_browser(args: Sequence[str], timeout_s: float = TIMEOUT_S,
                proxy: str = NO_NETWORK) -> subprocess.CompletedProcess:
    """Chromium with the report's flags, cut off from the network, and a throw-away profile."""
    path = browser()
    if path is None:
        raise RuntimeError("no Chromium to print the PDF with: apt-get install chromium fonts-noto-cjk "
                           "(or leave pdf out of --format)")
    with tempfile.TemporaryDirectory(prefix="schoolnet-report-chromium-") as profile:
        argv = [path, *FLAGS, f"--proxy-server={proxy}", "--proxy-bypass-list=<-loopback>",
                f"--user-data-dir={profile}", *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)


def print_pdf(page: Path, out: Path) -> Path:
    out.unlink(missing_ok=True)
    result = run_browser([f"--print-to-pdf={out}", "--no-pdf-header-footer", page.resolve().as_uri()])
    if result.returncode != 0 or not out.exists() or out.stat().st_size == 0:
        tail = (result.stderr or "").strip().splitlines()[-3:]
        raise RuntimeError(f"Chromium did not print {out.name} (exit {result.returncode}): {' | '.join(tail)}")
    return out

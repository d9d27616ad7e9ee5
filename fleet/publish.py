"""`schoolnet-fleet publish`: pushes the roster series (state folder roster/roster.prom) to
VictoriaMetrics, once or every N seconds (a systemd timer or --every 60 on the central
server). The rules count a school as declared while it was pushed within 15 minutes."""

from __future__ import annotations

import sys
import time
import urllib.error
import urllib.request

from fleet.state import State

IMPORT_PATH = "/api/v1/import/prometheus"
TIMEOUT_S = 30


def publish_once(state: State, vm_url: str) -> int:
    """Number of series pushed; raises OSError when the store does not take them."""
    path = state.root / "roster" / "roster.prom"
    body = path.read_bytes()
    request = urllib.request.Request(vm_url.rstrip("/") + IMPORT_PATH, data=body, method="POST",
                                     headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
        if answer.status // 100 != 2:
            raise OSError(f"VictoriaMetrics answered {answer.status}")
    return body.count(b"\n")


def publish_forever(state: State, vm_url: str, every_s: float) -> int:
    if not (state.root / "roster" / "roster.prom").exists():
        print(f"没有名单指标，请先运行 apply / no roster series in {state.root}: run apply first", file=sys.stderr)
        return 1
    while True:
        try:
            count = publish_once(state, vm_url)
            print(f"已推送 pushed {count} 条名单指标 roster series to {vm_url}", flush=True)
        except (OSError, urllib.error.URLError) as error:
            print(f"推送失败 push failed ({vm_url}): {error}", file=sys.stderr, flush=True)
            if not every_s:
                return 1
        if not every_s:
            return 0
        time.sleep(every_s)  # the schedule itself, not a synchronisation

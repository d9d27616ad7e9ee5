"""The deploy files rendered for loopback, changed only where a test or the demo cannot wait
or cannot use a county's paths. The stack keeps no copies of its own: each is rendered
from deploy/ when a server starts, so it runs what counties run.

What stays exactly as deployed: every expression, label, annotation, route matcher,
receiver name and inhibit rule, so the scenario tests the routing and rules counties run;
every broker setting but the ports and file paths. What changes:
  * mosquitto.conf: its listeners' ports and its file paths (pid, persistence, the dynamic
    security plugin's accounts, CA and server certificate) are swapped for temporary ones; render() refuses to
    run if one of them is no longer in the file, so the stack never quietly drifts;
  * rules: each `for:` and each group's `interval:` is shortened by the same factor
    (10m -> 20 s at 2 s per minute), so that a rule still evaluates as often within its
    `for:` as deployed; the windows inside expressions ([2m], [7d]) describe the data and
    are kept. Groups without `interval:` run at the test's own -evaluationInterval;
  * Alertmanager: group_wait / group_interval / repeat_interval shortened likewise, and
    each receiver's email/WeCom/webhook targets replaced by one webhook to the test's
    receiver for it (the same receiver name in the URL path).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable

import yaml

REPO = Path(__file__).resolve().parents[1]
RULES_DIR = REPO / "deploy" / "rules"
ALERTMANAGER_DIR = REPO / "deploy" / "alertmanager"
ALERTMANAGER_CONFIG = ALERTMANAGER_DIR / "alertmanager.yml"
MOSQUITTO_CONFIG = REPO / "deploy" / "central" / "mosquitto" / "mosquitto.conf"

_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d)")
_TIMING_LINE = re.compile(r"^(?P<indent>[ \t]*)(?P<key>for|interval):[ \t]*(?P<duration>\S+)[ \t]*$", re.MULTILINE)
ROUTE_TIMINGS = ("group_wait", "group_interval", "repeat_interval")


def render(text: str, substitutions: dict[str, str]) -> str:
    """`text` with each key replaced by its value; every key must occur exactly once."""
    for old, new in substitutions.items():
        count = text.count(old)
        if count != 1:
            raise AssertionError(f"deploy config has {old!r} {count} times, expected once: "
                                 "update schoolnet_stack/deploy_files.py with the deploy file")
        text = text.replace(old, new)
    return text


def mosquitto_conf(host: str, plain_port: int, tls_port: int, run_dir: Path, dynsec: Path, tls_dir: Path) -> str:
    """deploy/central/mosquitto/mosquitto.conf with its listeners on `host`, its pid and data
    in run_dir, its accounts in `dynsec` (the dynamic security plugin's state file) and its
    certificates in tls_dir (ca.pem, server.pem, server.key, as make-certs.sh leaves them).
    As root mosquitto would switch to the `mosquitto` user, which cannot read
    a temporary directory: then it stays root (a county's server runs it as that user)."""
    text = render(MOSQUITTO_CONFIG.read_text(encoding="utf-8"), {
        "listener 8883\n": f"listener {tls_port} {host}\n",
        "listener 1883 127.0.0.1\n": f"listener {plain_port} {host}\n",
        "/run/mosquitto/mosquitto.pid": str(run_dir / "mosquitto.pid"),
        "/var/lib/mosquitto/": f"{run_dir / 'data'}/",
        "/etc/mosquitto/schoolnet/dynamic-security.json": str(dynsec),
        "/etc/mosquitto/ca_certificates/schoolnet-ca.pem": str(tls_dir / "ca.pem"),
        "/etc/mosquitto/certs/server.pem": str(tls_dir / "server.pem"),
        "/etc/mosquitto/certs/server.key": str(tls_dir / "server.key"),
    })  # fmt: skip
    return text + ("user root\n" if os.geteuid() == 0 else "")


def duration_seconds(text: str) -> float:
    """Seconds in a Prometheus duration such as 1h30m, 5m or 500ms."""
    parts = _DURATION.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"{text!r} is not a duration like 30s, 5m or 1h30m")
    return sum(int(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def scaled(text: str, seconds_per_minute: float) -> str:
    """A duration shrunk so that one minute becomes `seconds_per_minute` seconds, in ms."""
    milliseconds = round(duration_seconds(text) / 60 * seconds_per_minute * 1000)
    return f"{max(milliseconds, 1)}ms"


def rules_with_short_timings(text: str, seconds_per_minute: float) -> str:
    """The rule file's text with every `for:` and group `interval:` shortened; nothing else
    changes."""
    return _TIMING_LINE.sub(
        lambda m: f"{m['indent']}{m['key']}: {scaled(m['duration'], seconds_per_minute)}", text
    )


def write_rule_copies(target_dir: Path, seconds_per_minute: float) -> list[Path]:
    target_dir.mkdir(parents=True, exist_ok=True)
    copies = []
    for source in sorted(RULES_DIR.glob("*.yml")):
        copy = target_dir / source.name
        copy.write_text(rules_with_short_timings(source.read_text(encoding="utf-8"), seconds_per_minute),
                        encoding="utf-8")
        copies.append(copy)
    return copies


def receiver_names(config: dict) -> list[str]:
    return [receiver["name"] for receiver in config["receivers"]]


def county_routes(config: dict) -> dict[str, str]:
    """county id -> receiver name, read from the routes' `county="..."` matchers."""
    routes = {}
    for route in config["route"].get("routes", []):
        for matcher in route.get("matchers", []):
            found = re.fullmatch(r'\s*county\s*=\s*"?([^"]+)"?\s*', matcher)
            if found:
                routes[found.group(1)] = route["receiver"]
    return routes


def alertmanager_for_test(config: dict, url_for: Callable[[str], str], seconds_per_minute: float) -> dict:
    """The deploy config with fast timings and every receiver a webhook to url_for(name)."""
    copy = dict(config)
    copy["templates"] = [str(ALERTMANAGER_DIR / path) for path in config.get("templates", [])]
    copy["route"] = _scaled_route(config["route"], seconds_per_minute)
    copy["receivers"] = [
        {"name": name, "webhook_configs": [{"url": url_for(name), "send_resolved": True}]}
        for name in receiver_names(config)
    ]
    return copy


def _scaled_route(route: dict, seconds_per_minute: float) -> dict:
    """A new route tree: the deploy file shares child routes between counties (a YAML
    anchor), so scaling in place would shorten a shared child twice."""
    copy = dict(route)
    for key in ROUTE_TIMINGS:
        if key in route:
            copy[key] = scaled(route[key], seconds_per_minute)
    if "routes" in route:
        copy["routes"] = [_scaled_route(child, seconds_per_minute) for child in route["routes"]]
    return copy


def load_alertmanager_config() -> dict:
    return yaml.safe_load(ALERTMANAGER_CONFIG.read_text(encoding="utf-8"))


def replay_passes(rule_files: list[Path]) -> list[dict]:
    """The rules as vmalert rule-file documents, one per replay pass.

    `vmalert -replay...` evaluates a recording rule over the whole time range before the
    next one, and writes its results asynchronously: a rule that reads another recording
    rule must come in a later run, once those results are stored. So: pass 0 holds the
    recording rules that read only reported series, pass n those that read pass n-1's,
    and the last pass every alert.
    """
    groups = [group for path in rule_files for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]]
    records = {rule["record"]: rule["expr"] for group in groups for rule in group["rules"] if "record" in rule}
    levels: dict[str, int] = {}

    def level(name: str) -> int:
        if name not in levels:
            levels[name] = 1 + max((level(used) for used in _recorded_names_in(records[name], records)), default=-1)
        return levels[name]

    depth = 1 + max((level(name) for name in records), default=-1)
    passes = []
    for index in range(depth + 1):
        def wanted(rule: dict, index: int = index) -> bool:
            return level(rule["record"]) == index if "record" in rule else index == depth

        chosen = [{**group, "rules": [r for r in group["rules"] if wanted(r)]} for group in groups]
        passes.append({"groups": [group for group in chosen if group["rules"]]})
    return passes


def _recorded_names_in(expr: str, records: dict) -> list[str]:
    return [name for name in re.findall(r"schoolnet:[a-z0-9_:]+", expr) if name in records]

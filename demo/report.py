"""What the demo prints at the end: the county compliance table, per-school pass/fail, and
the alerts county IT received. Reading is one function (from VictoriaMetrics, the
rules' `schoolnet:` series); the rest turns plain values into lines, with no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from demo.schools import COUNTY_NAMES, School

COUNTY_QUERIES = {
    "schools": "count by (county) (schoolnet:school:known)",
    "broadband": "schoolnet:county_broadband_up:ratio",
    "egress": "schoolnet:county_egress_compliant:ratio",
    "classes": "schoolnet:county_classes_ready:ratio",
    "sync": "schoolnet:county_sync_rural_ready:ratio",
}
SCHOOL_QUERIES = {
    "broadband": "schoolnet:school_broadband_up:bool",
    "mbps": "schoolnet:school_egress_download_mbps:median_7d",
    "egress": "schoolnet:school_egress_compliant:bool",
    "classes": "schoolnet:school_classes_ready:ratio",
    "sync": "schoolnet:school_sync_ready:last_session",
}
COUNTY_HEADER = "县 county  学校 schools  宽带接入 broadband  出口达标 egress>=100M  多媒体班级 classes  乡村同步课堂 rural sync"
SCHOOL_HEADER = "学校 school          宽带 broadband  出口 egress (Mbps)  班级 classes  同步课堂 sync"


@dataclass(frozen=True)
class Alert:
    receiver: str
    name: str
    county: str
    school: str
    summary: str


def values_by(results: list[dict], label: str) -> dict[str, float]:
    """{label value: sample value} from an instant query's result."""
    return {row["metric"].get(label, ""): float(row["value"][1]) for row in results}


def read_figures(query, queries: dict[str, str], label: str) -> dict[str, dict[str, float]]:
    """{figure: {county or school: value}} using `query(promql) -> result list`."""
    return {figure: values_by(query(promql), label) for figure, promql in queries.items()}


def county_lines(figures: dict[str, dict[str, float]], counties: Iterable[str]) -> list[str]:
    lines = [COUNTY_HEADER]
    for county in counties:
        schools = figures["schools"].get(county)
        cells = [_pct(figures[key].get(county)) for key in ("broadband", "egress", "classes", "sync")]
        count = "—" if schools is None else f"{schools:.0f}"
        lines.append(f"  {county:<4} {count:>4}  " + "  ".join(f"{cell:>7}" for cell in cells)
                     + f"   {COUNTY_NAMES.get(county, '')}")
    return lines


def school_lines(figures: dict[str, dict[str, float]], schools: Iterable[School]) -> list[str]:
    lines = [SCHOOL_HEADER]
    for school in schools:
        mbps = figures["mbps"].get(school.id)
        egress = f"{_verdict(figures['egress'].get(school.id))} {'—' if mbps is None else f'{mbps:.0f}'}"
        sync = _verdict(figures["sync"].get(school.id)) if school.rural else "n/a (城区 urban)"
        lines.append(f"  {school.id:<16} {_verdict(figures['broadband'].get(school.id)):<5} {egress:<11} "
                     f"{_verdict(figures['classes'].get(school.id), whole=1.0):<5} {sync:<5}  "
                     f"{school.name}：{school.fault}")
    return lines


def firing_alerts(notifications) -> list[Alert]:
    """Every alert Alertmanager sent as firing, once each, by receiver (the URL path)."""
    seen: dict[tuple, Alert] = {}
    for notification in notifications:
        receiver = notification.path.strip("/")
        for alert in notification.alerts:
            labels = alert.get("labels", {})
            if alert.get("status") != "firing":
                continue
            key = (receiver, labels.get("alertname", ""), labels.get("county", ""), labels.get("school", ""))
            seen.setdefault(key, Alert(*key, alert.get("annotations", {}).get("summary", "")))
    return sorted(seen.values(), key=lambda a: (a.receiver, a.name, a.school))


def alert_lines(alerts: list[Alert]) -> list[str]:
    if not alerts:
        return ["  （无 none）"]
    lines, receiver = [], None
    for alert in alerts:
        if alert.receiver != receiver:
            receiver = alert.receiver
            lines.append(f"  [{receiver}]")
        lines.append(f"    {alert.name:<24} county={alert.county} school={alert.school or '-'}  {alert.summary}")
    return lines


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _verdict(value: float | None, whole: float = 1.0) -> str:
    """达标 PASS when the figure reaches `whole`, 未达标 FAIL below, — when not known yet."""
    if value is None:
        return "—"
    return "PASS" if value >= whole else "FAIL"

"""The queries inside the committed board JSON, ready to run against VictoriaMetrics.

Read from dashboards/json/ (what Grafana loads), not from the generator, so a test of
these queries tests the boards as deployed. Grafana would substitute the template
variables; `substitute` does the same, and refuses a query with a variable it does not
know, so a board can never use one the tests never fill in.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

JSON_DIR = Path(__file__).resolve().parents[2] / "dashboards" / "json"
_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")
_UNIT_RANGES = {"percentunit": (0.0, 1.0), "percent": (0.0, 100.0)}


@dataclass(frozen=True)
class PanelQuery:
    board: str
    panel: str
    ref: str
    expr: str
    instant: bool
    time_from: str | None
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.board} / {self.panel} / {self.ref}"


def boards() -> dict[str, dict]:
    """uid -> board, for every committed board file."""
    loaded = (json.loads(path.read_text(encoding="utf-8")) for path in sorted(JSON_DIR.glob("*.json")))
    return {board["uid"]: board for board in loaded}


def panel_queries(board: dict) -> list[PanelQuery]:
    queries = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            low, high = value_range(panel, target["refId"])
            queries.append(PanelQuery(
                board=board["uid"], panel=panel["title"], ref=target["refId"], expr=target["expr"],
                instant=bool(target.get("instant")), time_from=panel.get("timeFrom"), low=low, high=high,
            ))
    return queries


def value_range(panel: dict, ref: str) -> tuple[float, float]:
    """What any value of this query may be, by what the panel says it shows: its min/max,
    else its unit (percentunit 0..1, percent 0..100), else zero or more. A table column
    says so in its override for "Value #<ref>"; 1/0 mappings mean 0..1."""
    config = dict(panel.get("fieldConfig", {}).get("defaults", {}))
    for override in panel.get("fieldConfig", {}).get("overrides", []):
        if override["matcher"]["options"] == f"Value #{ref}":
            config.update({prop["id"]: prop["value"] for prop in override["properties"]})
    if config.get("mappings"):
        return 0.0, 1.0
    low, high = _UNIT_RANGES.get(config.get("unit", ""), (0.0, math.inf))
    return float(config.get("min", low)), float(config.get("max", high))


def substitute(expr: str, variables: dict[str, str]) -> str:
    """expr with $name and ${name} replaced as Grafana would; unknown names raise."""

    def value(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        if name not in variables:
            raise KeyError(f"the query uses ${name}, which the test does not fill in: {expr}")
        return variables[name]

    return _VARIABLE.sub(value, expr)


def variable_names(board: dict) -> list[str]:
    return [variable["name"] for variable in board["templating"]["list"]]

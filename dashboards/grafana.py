"""The few pieces of Grafana's dashboard JSON model our boards use, as plain dicts.

Why plain dicts and not grafana-foundation-sdk (or grafanalib): our dependency list is
psutil, speedtest-cli, paho-mqtt, pyyaml and influxdb-client, and a board is a JSON
document Grafana reads from disk; five small constructors are easier to review than a
dependency that tracks every Grafana release. The JSON targets Grafana 10/11
(schemaVersion 39) with a Prometheus-type data source pointing at VictoriaMetrics.

Values shown as percentages are stored as ratios 0..1 (unit "percentunit"), like the
recording rules (deploy/rules/*.yml) that most panels read.
"""

from __future__ import annotations

from typing import Any

DATASOURCE = {"type": "prometheus", "uid": "schoolnet-vm"}
"""Must match dashboards/provisioning/datasources/victoriametrics.yml."""
SCHEMA_VERSION = 39
GRID_WIDTH = 24
TAG = "schoolnet"

GREEN, RED, YELLOW, BLUE = "green", "red", "#EAB839", "blue"
PASS_FAIL = [
    {
        "type": "value",
        "options": {
            "0": {"text": "未达标 fail", "color": RED, "index": 0},
            "1": {"text": "达标 pass", "color": GREEN, "index": 1},
        },
    }
]
UP_DOWN = [
    {
        "type": "value",
        "options": {
            "0": {"text": "断开 down", "color": RED, "index": 0},
            "1": {"text": "正常 up", "color": GREEN, "index": 1},
        },
    }
]


def thresholds(base: str, *steps: tuple[float, str]) -> dict:
    """Colours from `base` upwards, changing at each (value, colour) step."""
    return {
        "mode": "absolute",
        "steps": [{"color": base, "value": None}] + [{"color": color, "value": value} for value, color in steps],
    }


def target_met(target: float) -> dict:
    """Red below the target, green from it (100 % -> 1.0, or 100 Mbps)."""
    return thresholds(RED, (target, GREEN))


def query(expr: str, legend: str = "", *, instant: bool = False, table: bool = False) -> dict:
    """One PromQL/MetricsQL query; refIds are assigned by the panel."""
    target: dict[str, Any] = {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
    if instant or table:
        target.update(instant=True, range=False)
    else:
        target.update(instant=False, range=True)
    if table:
        target["format"] = "table"
    return target


def _panel(kind: str, title: str, queries: list[dict], width: int, height: int, description: str) -> dict:
    targets = [dict(q, refId=chr(ord("A") + index)) for index, q in enumerate(queries)]
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"h": height, "w": width, "x": 0, "y": 0},
        "targets": targets,
    }


def _defaults(unit: str, low: float | None, high: float | None, **extra: Any) -> dict:
    defaults: dict[str, Any] = {"unit": unit}
    if low is not None:
        defaults["min"] = low
    if high is not None:
        defaults["max"] = high
    defaults.update(extra)
    return defaults


def stat(
    title: str,
    queries: list[dict],
    *,
    unit: str = "percentunit",
    low: float | None = 0,
    high: float | None = 1,
    steps: dict | None = None,
    mappings: list | None = None,
    decimals: int | None = 1,
    width: int = 6,
    height: int = 5,
    description: str = "",
    text_mode: str = "auto",
) -> dict:
    """Big coloured number(s); one tile per series (a grid, when there are many)."""
    panel = _panel("stat", title, [dict(q, instant=True, range=False) for q in queries], width, height, description)
    defaults = _defaults(unit, low, high, thresholds=steps or target_met(1), color={"mode": "thresholds"})
    defaults["mappings"] = mappings or []
    if decimals is not None:
        defaults["decimals"] = decimals
    panel["fieldConfig"] = {"defaults": defaults, "overrides": []}
    panel["options"] = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": "background",
        "graphMode": "none",
        "textMode": text_mode,
        "orientation": "auto",
        "justifyMode": "auto",
    }
    return panel


def timeseries(
    title: str,
    queries: list[dict],
    *,
    unit: str,
    low: float | None = 0,
    high: float | None = None,
    line_at: float | None = None,
    points: bool = False,
    time_from: str | None = None,
    width: int = 12,
    height: int = 8,
    description: str = "",
) -> dict:
    """A graph; `line_at` draws a red threshold line (the target, or a limit)."""
    panel = _panel("timeseries", title, queries, width, height, description)
    custom = {
        "drawStyle": "points" if points else "line",
        "lineWidth": 1,
        "pointSize": 6 if points else 4,
        "showPoints": "always" if points else "never",
        "spanNulls": False,
        "thresholdsStyle": {"mode": "line" if line_at is not None else "off"},
    }
    steps = thresholds(GREEN, (line_at, RED)) if line_at is not None else thresholds(GREEN)
    panel["fieldConfig"] = {
        "defaults": _defaults(unit, low, high, custom=custom, thresholds=steps, color={"mode": "palette-classic"}),
        "overrides": [],
    }
    panel["options"] = {
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "multi", "sort": "none"},
    }
    if time_from:
        panel["timeFrom"] = time_from
    return panel


def state_timeline(
    title: str,
    queries: list[dict],
    *,
    mappings: list,
    width: int = 12,
    height: int = 6,
    description: str = "",
) -> dict:
    """Coloured bands over time for 1/0 states (up/down, session on, ready)."""
    panel = _panel("state-timeline", title, queries, width, height, description)
    panel["fieldConfig"] = {
        "defaults": _defaults(
            "none", 0, 1,
            mappings=mappings,
            thresholds=target_met(1),
            color={"mode": "thresholds"},
            custom={"fillOpacity": 80, "lineWidth": 0},
        ),
        "overrides": [],
    }
    panel["options"] = {
        "mergeValues": True,
        "showValue": "never",
        "alignValue": "left",
        "rowHeight": 0.9,
        "legend": {"showLegend": False, "displayMode": "list", "placement": "bottom"},
        "tooltip": {"mode": "single", "sort": "none"},
    }
    return panel


def bar_gauge(
    title: str,
    queries: list[dict],
    *,
    unit: str,
    steps: dict,
    high: float | None = None,
    width: int = 12,
    height: int = 8,
    description: str = "",
) -> dict:
    """Horizontal bars, one per series: lamp hours per projector."""
    panel = _panel("bargauge", title, [dict(q, instant=True, range=False) for q in queries], width, height, description)
    panel["fieldConfig"] = {
        "defaults": _defaults(unit, 0, high, thresholds=steps, color={"mode": "thresholds"}, decimals=0),
        "overrides": [],
    }
    panel["options"] = {
        "orientation": "horizontal",
        "displayMode": "gradient",
        "showUnfilled": True,
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
    }
    return panel


def column(ref: str, title: str, unit: str = "none", **properties: Any) -> dict:
    """How the table shows query `ref`'s value: a header, a unit, and optionally
    mappings/thresholds coloured into the cell (colour=True) or a link."""
    props = [{"id": "displayName", "value": title}, {"id": "unit", "value": unit}]
    if "mappings" in properties:
        props.append({"id": "mappings", "value": properties["mappings"]})
    if "steps" in properties:
        props.append({"id": "thresholds", "value": properties["steps"]})
    if "decimals" in properties:
        props.append({"id": "decimals", "value": properties["decimals"]})
    if properties.get("colour"):
        props.append({"id": "custom.cellOptions", "value": {"type": "color-background"}})
    return {"matcher": {"id": "byName", "options": f"Value #{ref}"}, "properties": props}


def table(
    title: str,
    queries: list[dict],
    columns: list[dict],
    *,
    hide: tuple[str, ...] = ("Time", "county"),
    links: list[dict] | None = None,
    width: int = 24,
    height: int = 10,
    description: str = "",
) -> dict:
    """One row per series (school, device...), one column per query, joined on labels."""
    panel = _panel("table", title, [dict(q, format="table", instant=True, range=False) for q in queries],
                   width, height, description)
    panel["transformations"] = [
        {"id": "merge", "options": {}},
        {"id": "organize", "options": {"excludeByName": {name: True for name in hide}}},
    ]
    panel["fieldConfig"] = {
        "defaults": {"custom": {"align": "auto", "cellOptions": {"type": "auto"}}, "thresholds": target_met(1)},
        "overrides": columns + (links or []),
    }
    panel["options"] = {"showHeader": True, "cellHeight": "sm", "footer": {"show": False}}
    return panel


def link_column(field: str, title: str, url: str) -> dict:
    """Makes the label column `field` a link, e.g. each school to its own board."""
    return {
        "matcher": {"id": "byName", "options": field},
        "properties": [{"id": "links", "value": [{"title": title, "url": url}]}],
    }


SCHOOL_NAME_INFO = "schoolnet:school_name:info"
CLASSROOM_NAME_INFO = "schoolnet:classroom_name:info"
"""The names the boards show beside the ids (deploy/rules/names.yml): one series per
school / classroom, value 1, so a join never drops a row nor changes a value."""


def school_named(expr: str, county: str = "$county") -> str:
    """`expr`, whose series carry county and school, with the school's display name as the
    label `school_name`: people on duty know schools by name, not by id."""
    return f'({expr}) * on (county, school) group_left (school_name) {SCHOOL_NAME_INFO}{{county="{county}"}}'


def classroom_named(expr: str, county: str = "$county", school: str = "$school") -> str:
    """`expr`, whose series carry county, school and classroom, with the classroom's
    display name as the label `classroom_name`."""
    info = f'{CLASSROOM_NAME_INFO}{{county="{county}", school="{school}"}}'
    return f"({expr}) * on (county, school, classroom) group_left (classroom_name) {info}"


def school_name_stat() -> dict:
    """A board about one school says which school, by name with its id beside."""
    return stat("学校 School", [query(f'{SCHOOL_NAME_INFO}{{county="$county", school="$school"}}',
                                      "{{school_name}}（{{school}}）")],
                unit="none", steps=thresholds(BLUE), decimals=0, width=24, height=3, text_mode="name",
                description="学校名称来自代理配置 school.name（deploy/rules/names.yml）。"
                            "The school's name from its agent's config.")


def name_column(field: str, title: str) -> dict:
    """Shows the label column `field` (school_name, classroom_name) under a bilingual title."""
    return {"matcher": {"id": "byName", "options": field}, "properties": [{"id": "displayName", "value": title}]}


def row(title: str) -> dict:
    return {"type": "row", "title": title, "collapsed": False, "panels": [], "gridPos": {"h": 1, "w": GRID_WIDTH}}


def variable(name: str, label: str, expr: str) -> dict:
    """A drop-down filled by `label_values(...)` from VictoriaMetrics."""
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": expr, "refId": f"{name}-values"},
        "definition": expr,
        "refresh": 1,
        "sort": 1,
        "regex": "",
        "hide": 0,
        "includeAll": False,
        "multi": False,
        "current": {},
        "options": [],
    }


COUNTY = variable("county", "县 County", "label_values(schoolnet_broadband_up, county)")
SCHOOL = variable("school", "学校 School", 'label_values(schoolnet_broadband_up{county="$county"}, school)')


def board(uid: str, title: str, panels: list[dict], *, variables: list[dict], time_from: str = "now-24h",
          description: str = "") -> dict:
    """A whole dashboard; panels flow left to right in rows of 24 grid units."""
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": [TAG],
        "timezone": "browser",
        "editable": False,
        "graphTooltip": 1,
        "refresh": "1m",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": time_from, "to": "now"},
        "templating": {"list": variables},
        "annotations": {"list": []},
        "links": [
            {
                "type": "dashboards",
                "tags": [TAG],
                "title": "学校网络看板 Boards",
                "asDropdown": True,
                "includeVars": True,
                "keepTime": True,
            }
        ],
        "panels": _laid_out(panels),
    }


def _laid_out(panels: list[dict]) -> list[dict]:
    """Gives each panel an id and its place: left to right, a new line when full."""
    x = y = line_height = 0
    placed = []
    for panel_id, panel in enumerate(panels, start=1):
        width, height = panel["gridPos"]["w"], panel["gridPos"]["h"]
        if x + width > GRID_WIDTH or panel["type"] == "row":
            x, y, line_height = 0, y + line_height, 0
        placed.append(dict(panel, id=panel_id, gridPos={"h": height, "w": width, "x": x, "y": y}))
        x, line_height = x + width, max(line_height, height)
        if panel["type"] == "row":
            x, y, line_height = 0, y + height, 0
    return placed

"""The committed boards are the generator's output, and well-formed for Grafana.

Their queries run against real data in tests/rules/test_scenario.py; here nothing needs
a server.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys

import pytest
import yaml

from dashboards import generate, grafana
from tests.dashboards import panels

REPO = panels.JSON_DIR.parents[1]
CJK = re.compile(r"[\u4e00-\u9fff]")
BOARDS = panels.boards()


def test_committed_json_is_what_the_generator_writes():
    assert generate.stale_files() == [], "run: python -m dashboards.generate"
    assert sorted(path.name for path in panels.JSON_DIR.glob("*.json")) == sorted(generate.BOARDS)


def test_check_command_reports_a_stale_board(tmp_path):
    generate.write_all(tmp_path)
    assert generate.stale_files(tmp_path) == []
    (tmp_path / "county.json").write_text("{}\n", encoding="utf-8")
    assert generate.stale_files(tmp_path) == ["county.json"]


def test_generate_runs_as_a_module_from_the_repository_root():
    result = subprocess.run([sys.executable, "-m", "dashboards.generate", "--check"], check=False, cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_four_boards():
    assert sorted(BOARDS) == ["schoolnet-classrooms", "schoolnet-county", "schoolnet-school", "schoolnet-sync"]
    assert panels.variable_names(BOARDS["schoolnet-county"]) == ["county"]
    for uid in ("schoolnet-school", "schoolnet-classrooms", "schoolnet-sync"):
        assert panels.variable_names(BOARDS[uid]) == ["county", "school"], uid


@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_titles_are_chinese_with_english_beside(uid):
    board = BOARDS[uid]
    for title in [board["title"]] + [panel["title"] for panel in board["panels"]]:
        assert CJK.search(title) and re.search(r"[A-Za-z]{2}", title), title


@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_panels_fit_the_grid_without_overlapping(uid):
    cells = set()
    ids = [panel["id"] for panel in BOARDS[uid]["panels"]]
    assert len(ids) == len(set(ids))
    for panel in BOARDS[uid]["panels"]:
        pos = panel["gridPos"]
        assert 0 <= pos["x"] and pos["x"] + pos["w"] <= grafana.GRID_WIDTH, panel["title"]
        mine = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not cells & mine, f"{panel['title']} overlaps another panel"
        cells |= mine


@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_every_query_uses_the_provisioned_data_source(uid):
    provisioned = yaml.safe_load((REPO / "dashboards/provisioning/datasources/victoriametrics.yml").read_text())
    source = provisioned["datasources"][0]
    assert source["type"] == grafana.DATASOURCE["type"] == "prometheus"
    for panel in BOARDS[uid]["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == grafana.DATASOURCE
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == source["uid"]
            assert target["expr"].strip()


def test_dashboard_provider_points_at_a_folder_for_the_json():
    provider = yaml.safe_load((REPO / "dashboards/provisioning/dashboards/schoolnet.yml").read_text())
    (entry,) = provider["providers"]
    assert entry["type"] == "file" and entry["options"]["path"]
    assert entry["allowUiUpdates"] is False


def test_target_thresholds_are_the_national_targets():
    county = BOARDS["schoolnet-county"]
    stats = [panel for panel in county["panels"] if panel["type"] == "stat"][:4]
    for panel in stats:
        assert panel["fieldConfig"]["defaults"]["unit"] == "percentunit"
        assert panel["fieldConfig"]["defaults"]["thresholds"]["steps"][1] == {"color": "green", "value": 1}
    speed = next(p for p in BOARDS["schoolnet-school"]["panels"] if p["title"].startswith("测速历史"))
    assert speed["fieldConfig"]["defaults"]["thresholds"]["steps"][1] == {"color": "red", "value": 100}
    assert speed["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "line"


def test_device_queries_never_split_a_device_by_its_status():
    for board in BOARDS.values():
        for query in panels.panel_queries(board):
            if "schoolnet_classrooms_device_" in query.expr:
                assert re.search(r"max by \((?![^)]*status)[^)]*\)", query.expr), query


# -- panels.py, the helpers the scenario test relies on ------------------------------------------------


def test_substitute_fills_both_spellings_and_refuses_unknown_variables():
    assert panels.substitute('m{county="$county", school="${school}"}', {"county": "hx", "school": "s1"}) == (
        'm{county="hx", school="s1"}'
    )
    with pytest.raises(KeyError, match="room"):
        panels.substitute('m{room="$room"}', {"county": "hx"})


def test_value_range_follows_the_panel():
    percent = grafana.stat("x", [grafana.query("m")])
    assert panels.value_range(percent, "A") == (0.0, 1.0)
    mbps = grafana.stat("x", [grafana.query("m")], unit="Mbits", high=None)
    assert panels.value_range(mbps, "A") == (0.0, math.inf)
    loss = grafana.timeseries("x", [grafana.query("m")], unit="percent")
    assert panels.value_range(loss, "A") == (0.0, 100.0)
    table = grafana.table("x", [grafana.query("m", table=True)] * 2,
                          [grafana.column("B", "b", mappings=grafana.PASS_FAIL)])
    assert panels.value_range(table, "A") == (0.0, math.inf)
    assert panels.value_range(table, "B") == (0.0, 1.0)


def test_layout_starts_a_new_line_when_a_panel_does_not_fit():
    placed = grafana.board("u", "t", [grafana.row("r"), *[grafana.stat(str(i), [grafana.query("m")], width=10)
                                                       for i in range(3)]], variables=[])["panels"]
    assert [(p["gridPos"]["x"], p["gridPos"]["y"]) for p in placed] == [(0, 0), (0, 1), (10, 1), (0, 6)]


# -- names beside ids (deploy/rules/names.yml) -------------------------------------------------------

SCHOOL_JOIN = "* on (county, school) group_left (school_name) schoolnet:school_name:info{"
CLASSROOM_JOIN = "* on (county, school, classroom) group_left (classroom_name) schoolnet:classroom_name:info{"


def shows(expr: str, label: str) -> bool:
    """The query's series are one per `label` (it keeps the label in an outer `by`)."""
    return bool(re.search(rf"by \([^)]*\b{label}\b", expr))


def test_every_query_that_lists_schools_or_classrooms_names_them():
    listing = {"school": 0, "classroom": 0}
    for board in BOARDS.values():
        for query in panels.panel_queries(board):
            if shows(query.expr, "classroom"):
                listing["classroom"] += 1
                assert query.expr.count(CLASSROOM_JOIN) == 1, query
            elif shows(query.expr, "school") and 'school="$school"' not in query.expr:
                listing["school"] += 1
                assert query.expr.count(SCHOOL_JOIN) == 1, query
    assert listing == {"school": 10, "classroom": 12}  # county and rural tables; classrooms board


@pytest.mark.parametrize("uid", ["schoolnet-school", "schoolnet-classrooms", "schoolnet-sync"])
def test_a_board_about_one_school_names_it_first(uid):
    first = BOARDS[uid]["panels"][1]
    assert first["title"] == "学校 School"
    assert [t["expr"] for t in first["targets"]] == ['schoolnet:school_name:info{county="$county", school="$school"}']
    assert first["targets"][0]["legendFormat"] == "{{school_name}}（{{school}}）"
    assert first["options"]["textMode"] == "name"


def test_tables_and_legends_show_the_names():
    county_table = next(p for p in BOARDS["schoolnet-county"]["panels"] if p["title"].startswith("各校达标情况"))
    assert county_table["fieldConfig"]["overrides"][0] == grafana.name_column("school_name", "学校名称 School name")
    devices = next(p for p in BOARDS["schoolnet-classrooms"]["panels"] if p["type"] == "table")
    assert devices["fieldConfig"]["overrides"][0] == grafana.name_column("classroom_name", "班级 Class")
    legends = {p["title"]: p["targets"][0]["legendFormat"] for p in BOARDS["schoolnet-classrooms"]["panels"]
               if p.get("targets")}
    assert legends["各班就绪 Classes"] == "{{classroom_name}}（{{classroom}}）"
    assert legends["投影仪灯泡时数 Projector lamp hours"] == "{{classroom_name}} {{name}}"

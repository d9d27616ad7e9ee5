"""The demo's last step (issue 16, item 5): `python -m demo` ends by writing each county's
report, HTML and XLSX, into ./schoolnet-demo-reports and printing where.

Driven from demo.__main__._write_bureau_reports, the function the demo calls last, against
a real VictoriaMetrics holding five minutes of the demo schools' broadband at the demo's
cadence (the whole demo, agents and broker included, is tests/demo/test_demo.py; this is
the smallest path that proves the files are written with the demo's schools inside).
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import openpyxl

from demo import __main__ as demo_main
from demo.schools import COUNTY_NAMES, SCHOOLS, midday_zone
from report import periods
from schoolnet_core import contract
from schoolnet_stack import servers
from schoolnet_stack.requirements import require_binary

DOWN = "ly-baisha-xx"  # the demo's school whose uplink is down
STEP_MS, SAMPLES = 5_000, 60  # the demo roster's broadband_interval_s, five minutes of it


def _broadband_lines(now_ms: int) -> list[str]:
    lines = []
    for school in SCHOOLS:
        up = school.id != DOWN
        body = {"up": up, "targets_up": int(up),
                "targets": [{"target": "县教育城域网", "method": "icmp", "up": up, "loss_pct": 0.0 if up else 100.0}]}
        for n in range(SAMPLES):
            message = contract.Message("broadband", school.county, school.id, now_ms - (SAMPLES - n) * STEP_MS, body)
            lines += contract.to_lines(message)
    return lines


def test_the_demo_ends_with_each_countys_html_and_xlsx(tmp_path, monkeypatch, capsys):
    require_binary(servers.VictoriaMetrics.binary)
    # The agents started the five minutes of samples ago: the report counts those minutes only.
    clock = midday_zone(datetime.now(timezone.utc))
    clock = replace(clock, local_now=clock.local_now - timedelta(milliseconds=SAMPLES * STEP_MS))
    with servers.VictoriaMetrics(tmp_path / "vm", dedup_interval="1ms") as store:
        store.write_lines(_broadband_lines(int(time.time() * 1000)))
        store.flush()
        monkeypatch.chdir(tmp_path)  # the demo writes beside the user: ./schoolnet-demo-reports
        demo_main._write_bureau_reports(SimpleNamespace(store=store), clock, tmp_path / "work")
    printed = capsys.readouterr().out
    folder = tmp_path / demo_main.REPORTS_DIR
    slug = periods.day_range(clock.local_now.date(), clock.local_now.date()).slug
    for county in COUNTY_NAMES:
        names = {school.name for school in SCHOOLS if school.county == county}
        page, workbook = folder / f"schoolnet_{county}_{slug}.html", folder / f"schoolnet_{county}_{slug}.xlsx"
        assert str(page) in printed and str(workbook) in printed, printed
        text = page.read_text(encoding="utf-8")
        assert all(name in text for name in names), county
        sheet = openpyxl.load_workbook(workbook)["学校"]
        header = [cell.value for cell in sheet[1]]
        rows = {row[header.index("学校 School")]: row for row in sheet.iter_rows(min_row=2, values_only=True)}
        assert set(rows) == names
        availability = header.index("宽带可用率% Broadband availability %")
        expected = {school.name: 0.0 if school.id == DOWN else 100.0 for school in SCHOOLS if school.county == county}
        assert {name: row[availability] for name, row in rows.items()} == expected
        completeness = header.index("数据完整率% Completeness %")
        # Counted in the minutes the agents ran, not the whole school day: every broadband
        # sample is there (2/3 of what is expected: the test writes no classroom sweeps).
        assert [row[completeness] for row in rows.values()] == [66.67] * len(rows)

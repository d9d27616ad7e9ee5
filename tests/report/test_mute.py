"""Declared windows page nobody: the deployed Alertmanager config with the roster's windows,
run by the real Alertmanager, with alerts inside and outside a window."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from report import mute
from roster.model import Maintenance
from schoolnet_stack import deploy_files
from schoolnet_stack.requirements import require_binary
from tests.report import history


def _roster(now: datetime):
    windows = (
        Maintenance(now - timedelta(hours=1), now + timedelta(hours=1), county="ly", reason="割接"),
        Maintenance(now - timedelta(hours=1), now + timedelta(hours=1), county="hx", school="hx-hexi-xx"),
        Maintenance(now - timedelta(days=1, hours=2), now - timedelta(days=1), county="hx"),  # over
    )
    return replace(history.ROSTER, settings=replace(history.ROSTER.settings, maintenance=windows))


def test_window_intervals_split_at_local_midnight():
    zone = history.ZONE
    window = Maintenance(datetime(2026, 10, 14, 22, 0, tzinfo=zone), datetime(2026, 10, 15, 6, 30, tzinfo=zone))
    assert mute.window_intervals(window) == [
        {"times": [{"start_time": "22:00", "end_time": "24:00"}], "days_of_month": ["14"], "months": ["10"],
         "years": ["2026"], "location": "Asia/Shanghai"},
        {"times": [{"start_time": "00:00", "end_time": "06:30"}], "days_of_month": ["15"], "months": ["10"],
         "years": ["2026"], "location": "Asia/Shanghai"},
    ]


def test_an_alert_inside_its_window_reaches_no_receiver(alertmanager_factory, webhook_receiver, tmp_path):
    require_binary("amtool")
    now = datetime.now(timezone.utc).astimezone(history.ZONE)
    deployed = deploy_files.load_alertmanager_config()
    config = deploy_files.alertmanager_for_test(mute.apply(_roster(now), deployed), webhook_receiver.url_for, 1.0)
    path = tmp_path / "alertmanager.yml"
    path.write_text(mute.dump(config), encoding="utf-8")
    checked = subprocess.run(["amtool", "check-config", str(path)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    manager = alertmanager_factory(path.read_text(encoding="utf-8"))

    def alert(county: str, school: str) -> dict:
        return {"labels": {"alertname": "BroadbandDown", "severity": "critical", "county": county, "school": school}}

    manager.post_alerts([alert("ly", "ly-gaoshan-xx"), alert("hx", "hx-hexi-xx"), alert("hx", "hx-dazhuang-zx")])
    # The same alert outside any window arrives: proof the group wait is over for all three.
    webhook_receiver.wait_for(lambda n: n.path == "/hx-county-it"
                              and any(a["labels"]["school"] == "hx-dazhuang-zx" for a in n.alerts))
    told = {a["labels"]["school"] for n in webhook_receiver.received for a in n.alerts}
    assert told == {"hx-dazhuang-zx"}, "a muted alert reached a receiver"
    assert {n.path for n in webhook_receiver.received} == {"/hx-county-it"}
    active = {a["labels"]["school"] for a in manager.alerts()}
    assert {"ly-gaoshan-xx", "hx-hexi-xx"} <= active  # muted, not lost: they are still there


def test_holidays_mute_only_classroom_and_sync_alerts():
    config = mute.apply(history.ROSTER, deploy_files.load_alertmanager_config())
    hx = next(route for route in config["route"]["routes"] if route.get("matchers") == ['county="hx"'])
    holiday_route = hx["routes"][0]
    assert holiday_route["matchers"] == [mute.HOLIDAY_ALERTS]
    assert mute.HOLIDAYS in holiday_route["mute_time_intervals"]
    assert all(mute.HOLIDAYS not in route.get("mute_time_intervals", []) for route in hx["routes"][1:])
    holidays = next(i for i in config["time_intervals"] if i["name"] == mute.HOLIDAYS)["time_intervals"]
    assert [entry["days_of_month"] for entry in holidays] == [[str(day)] for day in range(1, 8)]

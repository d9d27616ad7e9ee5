"""The demo's pure parts: its clock, its schools' configs, expected figures, the report."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import yaml

from agent.config import load_config
from demo.peers import Line, paced
from demo.report import Alert, alert_lines, county_lines, firing_alerts, values_by
from demo.schools import (
    SCHOOLS,
    CountyFigures,
    Place,
    agent_config,
    expected_figures,
    midday_zone,
    speed_test_slot,
)
from schoolnet_stack.servers import Notification

PLACE = Place(
    panel=("127.60.1.1", 8080), projector=("127.60.1.2", 4352), sync_endpoint=("127.60.1.3", 5060),
    uplink_tcp=("127.60.0.1", 443), uplink_dns="127.60.0.53", platform=("127.60.0.70", 8443),
    echo=("127.60.0.7", 7), speed_url="http://127.60.0.80:8080/hx-huaxi-zx",
)  # fmt: skip


@pytest.mark.parametrize("hour", [0, 5, 12, 13, 23])
def test_the_timetable_zone_puts_the_demo_at_midday(hour):
    now = datetime(2026, 11, 25, hour, 17, 30, tzinfo=timezone.utc)
    clock = midday_zone(now)
    assert clock.local_now.hour == 12
    assert now.astimezone(ZoneInfo(clock.zone)).strftime("%H:%M") == "12:17"


def test_the_zone_name_is_etc_gmt_with_its_inverted_sign():
    assert midday_zone(datetime(2026, 11, 25, 4, 0, tzinfo=timezone.utc)).zone == "Etc/GMT-8"
    assert midday_zone(datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)).zone == "Etc/UTC"
    assert midday_zone(datetime(2026, 11, 25, 20, 0, tzinfo=timezone.utc)).zone == "Etc/GMT+8"


@pytest.mark.parametrize(("seconds", "slot"), [(0, "12:18"), (30, "12:18"), (50, "12:18"), (51, "12:19")])
def test_the_speed_test_slot_is_the_first_whole_minute_after_the_lead(seconds, slot):
    local = datetime(2026, 11, 25, 12, 17, 0, tzinfo=timezone(timedelta(hours=-4))) + timedelta(seconds=seconds)
    assert speed_test_slot(local, lead_s=10 if seconds else 60) == slot


def test_every_school_config_passes_the_agents_own_loader(tmp_path):
    clock = midday_zone(datetime(2026, 11, 25, 3, 0, tzinfo=timezone.utc))
    for school in SCHOOLS:
        path = tmp_path / f"{school.id}.yaml"
        config = agent_config(school, PLACE, clock, "12:30", 1883, str(tmp_path / "spool.sqlite"))
        path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        loaded = load_config(path)
        assert (loaded.school.id, loaded.school.rural) == (school.id, school.rural)
        assert loaded.speed_test.target_mbps == 100.0


def test_the_planted_faults_give_these_county_figures():
    assert expected_figures(SCHOOLS, "hx") == CountyFigures(3, 100.0, 66.7, 83.3, 100.0)
    assert expected_figures(SCHOOLS, "ly") == CountyFigures(3, 66.7, 100.0, 83.3, 50.0)


def test_a_line_sends_chunks_back_to_back_at_its_rate():
    assert Line(mbps=8.0).bytes_per_s == 1_000_000
    assert paced(free_at=0.0, now=10.0, size=500_000, bytes_per_s=1e6) == (10.0, 10.5)  # idle line: at once
    assert paced(free_at=10.5, now=10.1, size=500_000, bytes_per_s=1e6) == (10.5, 11.0)  # busy: waits its turn


def test_county_rows_show_percentages_and_a_dash_for_unknown():
    figures = {"schools": {"hx": 3.0}, "broadband": {"hx": 1.0}, "egress": {"hx": 2 / 3},
               "classes": {"hx": 5 / 6}, "sync": {}}
    rows = county_lines(figures, ["hx", "ly"])[1:]
    assert rows[0].split()[:6] == ["hx", "3", "100.0%", "66.7%", "83.3%", "—"]
    assert rows[1].split()[:6] == ["ly", "—", "—", "—", "—", "—"]


def test_values_are_read_by_label():
    result = [{"metric": {"county": "hx"}, "value": [1, "0.5"]}, {"metric": {"county": "ly"}, "value": [1, "1"]}]
    assert values_by(result, "county") == {"hx": 0.5, "ly": 1.0}


def test_alerts_are_listed_once_per_receiver_and_only_when_firing():
    def sent(path, status, name, school):
        labels = {"alertname": name, "county": path[1:3], "school": school}
        return Notification(path, {"alerts": [{"status": status, "labels": labels, "annotations": {"summary": "s"}}]})

    notifications = [
        sent("/ly-county-it", "firing", "BroadbandDown", "ly-baisha-xx"),
        sent("/ly-county-it", "firing", "BroadbandDown", "ly-baisha-xx"),  # a repeat
        sent("/hx-county-it", "resolved", "EgressBelowTarget", "hx-qingyan-xx"),
        sent("/hx-county-it", "firing", "ClassroomDeviceDown", "hx-dazhuang-zx"),
    ]
    alerts = firing_alerts(notifications)
    assert alerts == [
        Alert("hx-county-it", "ClassroomDeviceDown", "hx", "hx-dazhuang-zx", "s"),
        Alert("ly-county-it", "BroadbandDown", "ly", "ly-baisha-xx", "s"),
    ]
    assert [line.split()[0] for line in alert_lines(alerts)] == [
        "[hx-county-it]", "ClassroomDeviceDown", "[ly-county-it]", "BroadbandDown"]

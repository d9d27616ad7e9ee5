"""The holiday silence documented in deploy/README-alerts.md works on a real Alertmanager
running the deploy routing: the county's classroom alerts are silenced, its outage
alerts and the other county's alerts are not."""

from __future__ import annotations

import subprocess
from datetime import datetime, timedelta, timezone

import pytest
import yaml

from schoolnet_stack import deploy_files
from schoolnet_stack.requirements import require_binary
from schoolnet_stack.servers import Alertmanager, WebhookReceiver, wait_until

pytestmark = pytest.mark.servers

README = deploy_files.REPO / "deploy" / "README-alerts.md"
CLASSROOM_ALERTS = 'alertname=~"ClassroomDeviceDown|SyncClassroomNotReady|SyncPathDegraded"'


def test_readme_documents_this_silence():
    text = README.read_text(encoding="utf-8")
    assert "amtool --alertmanager.url=http://127.0.0.1:9093 silence add county=hx" in text
    assert f"'{CLASSROOM_ALERTS}'" in text


def test_holiday_silence_mutes_only_that_countys_classroom_alerts(tmp_path):
    amtool = require_binary("amtool")
    require_binary(Alertmanager.binary)
    deploy = deploy_files.load_alertmanager_config()
    county, other = list(deploy_files.county_routes(deploy))[:2]
    with WebhookReceiver() as webhooks:
        config = deploy_files.alertmanager_for_test(deploy, webhooks.url_for, seconds_per_minute=1)
        with Alertmanager(yaml.safe_dump(config, allow_unicode=True), tmp_path / "am") as alertmanager:
            now = datetime.now(timezone.utc)
            subprocess.run(
                [amtool, f"--alertmanager.url={alertmanager.url}", "silence", "add", f"county={county}",
                 CLASSROOM_ALERTS, f"--start={now.isoformat()}", f"--end={(now + timedelta(days=3)).isoformat()}",
                 "--author=县电教馆 county IT", "--comment=雪灾停课 snow closure"],
                check=True, capture_output=True, text=True, timeout=30,
            )
            alerts = [
                {"labels": {"alertname": name, "county": c, "school": f"{c}-a", "severity": "warning"}}
                for name in ("ClassroomDeviceDown", "SyncPathDegraded", "AgentOffline")
                for c in (county, other)
            ]
            alertmanager.post_alerts(alerts)

            def states():
                return {(a["labels"]["alertname"], a["labels"]["county"]): a["status"]["state"]
                        for a in alertmanager.alerts()}

            wait_until(lambda: len(states()) == len(alerts), timeout=15, what="Alertmanager to hold the alerts")
            assert states() == {
                ("ClassroomDeviceDown", county): "suppressed", ("SyncPathDegraded", county): "suppressed",
                ("AgentOffline", county): "active",
                ("ClassroomDeviceDown", other): "active", ("SyncPathDegraded", other): "active",
                ("AgentOffline", other): "active",
            }

"""The deploy files rendered for loopback change timings, receivers, ports and paths, nothing else."""

from __future__ import annotations

import pytest

from schoolnet_stack import deploy_files


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("4h", 14400), ("1h30m", 5400), ("500ms", 0.5), ("1d", 86400)],
)
def test_duration_seconds(text, seconds):
    assert deploy_files.duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "5 m", "m5", "1.5m", "5m+"])
def test_duration_seconds_refuses_what_prometheus_would(text):
    with pytest.raises(ValueError, match="duration"):
        deploy_files.duration_seconds(text)


def test_scaled_turns_minutes_into_seconds():
    assert deploy_files.scaled("10m", 2) == "20000ms"
    assert deploy_files.scaled("30s", 1) == "500ms"
    assert deploy_files.scaled("4h", 1) == "240000ms"


def test_only_for_and_group_interval_lines_are_shortened():
    text = ("  - name: g\n    interval: 15s\n    rules:\n"
            "      - alert: X\n        expr: avg_over_time(m[10m]) > 0 # for: 10m\n        for: 10m\n"
            "        annotations:\n          description: every interval: 15s\n")
    assert deploy_files.rules_with_short_timings(text, 2) == (
        "  - name: g\n    interval: 500ms\n    rules:\n"
        "      - alert: X\n        expr: avg_over_time(m[10m]) > 0 # for: 10m\n        for: 20000ms\n"
        "        annotations:\n          description: every interval: 15s\n"
    )


DEPLOY = {
    "global": {"smtp_from": "a@example.edu.cn"},
    "templates": ["templates/*.tmpl"],
    "route": {
        "receiver": "central",
        "group_wait": "30s",
        "routes": [
            {"matchers": ['county="hx"'], "receiver": "hx-it", "routes": None},
            {"matchers": ['county = "ly"'], "receiver": "ly-it"},
        ],
    },
    "inhibit_rules": [{"source_matchers": ['alertname="CountyOutage"'], "equal": ["county"]}],
    "receivers": [
        {"name": "hx-it", "email_configs": [{"to": "it@hx"}], "wechat_configs": [{"api_secret": "<S>"}]},
        {"name": "ly-it", "webhook_configs": [{"url": "http://bridge/ly"}]},
        {"name": "central", "email_configs": [{"to": "c@x"}]},
    ],
}


def deploy_with_shared_children() -> dict:
    """Like the deploy file, whose counties share their severity routes (a YAML anchor)."""
    shared = [{"matchers": ['severity="critical"'], "group_wait": "10s", "repeat_interval": "1h"}]
    config = {**DEPLOY, "route": {**DEPLOY["route"], "routes": [dict(r) for r in DEPLOY["route"]["routes"]]}}
    for route in config["route"]["routes"]:
        route["routes"] = shared
    return config


def test_county_routes_reads_the_matchers():
    assert deploy_files.county_routes(DEPLOY) == {"hx": "hx-it", "ly": "ly-it"}


def test_test_copy_sends_every_receiver_to_its_own_webhook():
    copy = deploy_files.alertmanager_for_test(deploy_with_shared_children(), lambda n: f"http://test/{n}", 1)
    assert copy["receivers"] == [
        {"name": name, "webhook_configs": [{"url": f"http://test/{name}", "send_resolved": True}]}
        for name in ("hx-it", "ly-it", "central")
    ]
    assert copy["inhibit_rules"] == DEPLOY["inhibit_rules"]
    assert copy["global"] == DEPLOY["global"]
    assert copy["templates"] == [str(deploy_files.ALERTMANAGER_DIR / "templates/*.tmpl")]


def test_test_copy_shortens_each_shared_child_route_once():
    deploy = deploy_with_shared_children()
    copy = deploy_files.alertmanager_for_test(deploy, lambda n: n, 1)
    assert copy["route"]["group_wait"] == "500ms"
    for route in copy["route"]["routes"]:
        assert route["routes"] == [{"matchers": ['severity="critical"'], "group_wait": "167ms",
                                    "repeat_interval": "60000ms"}]
    assert deploy["route"]["routes"][0]["routes"][0]["group_wait"] == "10s", "the deploy config is left alone"


def test_mosquitto_conf_moves_only_the_ports_and_paths(tmp_path):
    text = deploy_files.mosquitto_conf("127.0.0.1", 18830, 18883, tmp_path, tmp_path / "dynamic-security.json",
                                       tmp_path / "tls")
    deployed = deploy_files.MOSQUITTO_CONFIG.read_text(encoding="utf-8")
    assert "listener 18883 127.0.0.1\n" in text and "listener 18830 127.0.0.1\n" in text
    assert f"persistence_location {tmp_path / 'data'}/\n" in text
    assert f"cafile {tmp_path / 'tls' / 'ca.pem'}\n" in text
    settings_now = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert not [line for line in settings_now if "/etc/" in line or "/var/" in line or "/run/" in line]
    settings = [line for line in deployed.splitlines() if line and not line.startswith("#")]
    unchanged = [line for line in settings if not any(part in line for part in ("listener", "/"))]
    assert all(f"{line}\n" in text for line in unchanged), "every other setting is the deployed one"


def test_render_refuses_a_setting_the_deploy_file_no_longer_has():
    with pytest.raises(AssertionError, match="update schoolnet_stack/deploy_files.py"):
        deploy_files.render("listener 1883\n", {"listener 8883\n": "listener 1 127.0.0.1\n"})

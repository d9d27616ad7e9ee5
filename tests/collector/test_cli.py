"""`schoolnet-collector run` refuses to start, with a reason, when it cannot work."""

from __future__ import annotations

import json

from collector import cli
from schoolnet_stack.ports import reserve_port


def test_run_with_an_unreadable_ca_file_exits_1_and_names_the_keys(tmp_path, caplog):
    config = {
        "broker": {"url": "mqtts://127.0.0.1:8883", "ca_file": "missing-ca.pem"},
        "deadletter": {"path": str(tmp_path / "dl.jsonl")},
        "http": {"listen": f"127.0.0.1:{reserve_port()}"},
    }
    path = tmp_path / "collector.yaml"
    path.write_text(json.dumps(config))
    assert cli.main(["run", "-c", str(path)]) == cli.EXIT_FAILED
    assert "cannot set up the collector" in caplog.text
    assert "check broker.ca_file" in caplog.text


def test_run_with_config_mistakes_exits_2(tmp_path, capsys):
    path = tmp_path / "collector.yaml"
    path.write_text("broker:\n  url: mqtt://127.0.0.1\n")
    assert cli.main(["run", "-c", str(path)]) == cli.EXIT_CONFIG
    assert f"{path}:2: broker.url: mqtt:// sends the password" in capsys.readouterr().err

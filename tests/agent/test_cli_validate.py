"""`schoolnet-agent validate`: a summary and exit 0 for a good file, every problem on
stderr and exit 2 for a bad one."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agent.cli import main
from agent.config import EXAMPLE_CONFIG

GOOD = """\
school: {id: hx-test-xx, name: 测试中学, county: hx, rural: false}
broker: {url: "mqtts://mqtt.hx.example", password_env: SCHOOLNET_TEST_PW}
timetable: {lessons: ["08:00-08:45"]}
"""


def test_valid_example_prints_summary_and_exits_0(capsys):
    assert main(["validate", "-c", str(EXAMPLE_CONFIG)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "学校 (school): 花溪区大庄中学 [hx-dazhuang-zx]" in out
    assert "县 (county): hx" in out
    assert "班级数 (classrooms): 6" in out
    assert "设备数 (devices): 9（必需 required: 7）" in out
    assert "同步课 2 门 (sessions), 每周 3 节 (per week)" in out
    assert out.rstrip().endswith("配置有效 (config OK)")


def test_invalid_config_lists_each_problem_on_stderr_and_exits_2(tmp_path, capsys):
    bad = tmp_path / "agent.yaml"
    bad.write_text(GOOD.replace("hx-test-xx", "HX") + "health: {intervl_s: 60}\n",
                   encoding="utf-8")
    assert main(["validate", "--config", str(bad)]) == 2
    out, err = capsys.readouterr()
    assert "配置有效" not in out
    lines = err.splitlines()
    assert lines[0].startswith(f"配置错误 (config error): {bad}:1: school.id: 'HX' is not")
    assert lines[1].startswith(f"配置错误 (config error): {bad}:4: health.intervl_s: unknown")
    assert lines[2] == "共 2 处错误 (2 problem(s))"


def test_missing_file_exits_2(tmp_path, capsys):
    assert main(["validate", "-c", str(tmp_path / "none.yaml")]) == 2
    assert "file not found" in capsys.readouterr().err


def test_secrets_option_reads_the_secrets(tmp_path, capsys, monkeypatch):
    config = tmp_path / "agent.yaml"
    config.write_text(GOOD, encoding="utf-8")
    monkeypatch.delenv("SCHOOLNET_TEST_PW", raising=False)
    assert main(["validate", "-c", str(config)]) == 0
    assert main(["validate", "-c", str(config), "--secrets"]) == 2
    assert f"{config}:2: broker.password_env: environment variable" in capsys.readouterr().err
    monkeypatch.setenv("SCHOOLNET_TEST_PW", "pw")
    assert main(["validate", "-c", str(config), "--secrets"]) == 0


def test_a_command_is_required(capsys):
    with pytest.raises(SystemExit) as caught:
        main([])
    assert caught.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


def test_runs_as_a_module():
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "validate", "-c", str(EXAMPLE_CONFIG)],
        capture_output=True, text=True, encoding="utf-8", check=False, timeout=60)
    assert (done.returncode, done.stderr) == (0, "")
    assert "配置有效 (config OK)" in done.stdout


def test_a_config_without_speed_test_server_says_egress_is_not_measured(tmp_path, capsys):
    path = tmp_path / "agent.yaml"
    path.write_text(GOOD, encoding="utf-8")
    assert main(["validate", "-c", str(path)]) == 0
    out = capsys.readouterr().out
    assert "测速 (speed test): 未配置测速服务器，不测速，出口带宽无数据 (no server set: egress is not measured)" in out
    assert "测速 (speed test): iperf3, 目标 (target) 100 Mbps" in _validate_example(capsys)


def _validate_example(capsys) -> str:
    assert main(["validate", "-c", str(EXAMPLE_CONFIG)]) == 0
    return capsys.readouterr().out

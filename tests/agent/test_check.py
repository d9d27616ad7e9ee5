"""`schoolnet-agent check`: every probe once against a school's real peers on loopback;
a zh-CN table (English alongside) with the four targets first, exit 0 when all are met,
1 when one is not, 2 for a config mistake; --json for machines."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from agent.check import (
    FAIL,
    INFO,
    NOT_TESTED,
    PASS,
    CheckReport,
    Row,
    classrooms_row,
    display_width,
    egress_row,
    progress_line,
    render_table,
    sync_row,
    verdict_line,
)
from agent.cli import main
from agent.probes.devices import ClassResult, Sweep
from agent.probes.quality import path_quality
from agent.probes.speed_test import SpeedTestResult
from agent.probes.sync_classroom import PlatformResult, SyncResult
from agent.wiring import Bandwidth
from schoolnet_core import contract
from schoolnet_stack.school import (
    COUNTY,
    LAMP_HOURS,
    SCHOOL,
)

pytestmark = pytest.mark.servers


def row(out: str, item_start: str) -> list[str]:
    """The table row whose item starts with `item_start`, split into its columns."""
    lines = [line.strip() for line in out.splitlines() if line.strip().startswith(item_start)]
    assert len(lines) == 1, f"{item_start!r} in:\n{out}"
    return re.split(r"\s{2,}", lines[0])


def test_a_school_meeting_every_target_passes(school, capsys):
    config = school.write_config(school.config())

    assert main(["check", "-c", str(config)]) == 0

    out, err = capsys.readouterr()
    assert row(out, "宽带接入")[1:] == ["4/4 个目标可达 (4 of 4 targets answer)", "达标 (pass)"]
    egress = row(out, "出口带宽")
    assert egress[0] == "出口带宽 ≥ 100 Mbps (egress bandwidth)" and egress[2] == "达标 (pass)"
    download = float(re.match(r"下载 ([\d.]+) /", egress[1]).group(1))
    assert download > 100
    assert row(out, "多媒体教室")[1:3] == ["2/2 班就绪，覆盖率 100.0% (2 of 2 classes ready)", "达标 (pass)"]
    assert row(out, "同步课堂 (synchronous")[1:] == ["就绪 (ready)", "达标 (pass)"]
    projector = row(out, "投影仪 [projector]")
    assert projector[1].endswith(f"电源开 (power on), 灯泡 {LAMP_HOURS} 小时 (lamp hours)")
    assert projector[2] == "达标 (pass)"
    assert row(out, "宽带目标 (target) 本地DNS")[2] == "达标 (pass)"
    assert row(out, "线路质量")[2] == "达标 (pass)"
    assert out.rstrip().endswith("结论 (result): 全部达标 (every target met)")
    assert out.index("== 四项指标") < out.index("== 详情")
    assert "测速中 (speed test running) ... 0 s" in err
    assert "测速中 (speed test running) 完成 (done)" in err


def test_a_failing_school_exits_1_with_each_failure_and_why(school, capsys):
    config = school.write_config(school.config(failing=True))

    assert main(["check", "-c", str(config)]) == 1

    out, _ = capsys.readouterr()
    broadband = row(out, "宽带接入")
    assert broadband[1:3] == ["4/5 个目标可达 (4 of 5 targets answer)", "达标 (pass)"]
    assert broadband[3].startswith("部分目标不可达")
    unreachable = row(out, "宽带目标 (target) 断线的目标")
    assert unreachable[1:] == ["不可达 (down: timeout)", "未达标 (fail)", f"127.0.0.1:{school.blackhole.port}: no answer within 1 s"]
    egress = row(out, "出口带宽")
    assert egress[0] == "出口带宽 ≥ 100000 Mbps (egress bandwidth)" and egress[2] == "未达标 (fail)"
    assert "低于目标 100000 Mbps (download below the target)" in egress[3]
    classes = row(out, "多媒体教室")
    assert classes[1:3] == ["1/2 班就绪，覆盖率 50.0% (1 of 2 classes ready)", "未达标 (fail)"]
    assert classes[3].startswith("未就绪 (not ready): 七年级(2)班 [c7-2]")  # + a note from 23:59 to 00:00
    assert row(out, "七年级(2)班 [c7-2]")[1:3] == ["必需设备 0/1 在线 (required devices up)", "未达标 (fail)"]
    panel = [line.strip() for line in out.splitlines() if f"tcp 127.0.0.1:{school.refused_port}" in line]
    assert re.split(r"\s{2,}", panel[0])[1:] == [
        "离线 (down: refused)", "未达标 (fail)",
        f"127.0.0.1:{school.refused_port}: connection refused (nothing listening on that port)"]
    assert row(out, "同步课堂 (synchronous")[2] == "达标 (pass)"
    assert out.rstrip().endswith("结论 (result): 未达标 (not met): 出口带宽、多媒体教室 (egress, classrooms)")


def test_json_is_a_document_of_targets_details_and_contract_bodies(school, capsys):
    config = school.write_config(school.config(failing=True))

    assert main(["check", "-c", str(config), "--json", "--no-speed-test"]) == 1

    out, err = capsys.readouterr()
    document = json.loads(out)
    assert (document["county"], document["school"], document["passed"]) == (COUNTY, SCHOOL, False)
    targets = {target["key"]: target for target in document["targets"]}
    assert list(targets) == ["broadband", "egress", "classrooms", "sync"]
    assert [targets[key]["verdict"] for key in targets] == [PASS, NOT_TESTED, FAIL, PASS]
    assert targets["egress"]["why"] == "按要求跳过 (skipped: --no-speed-test)"
    details = {detail["key"]: detail for detail in document["details"]}
    assert details["device:c7-2/panel"]["verdict"] == FAIL
    assert details["target:断线的目标"]["value"] == "不可达 (down: timeout)"
    assert details["sync:session"]["verdict"] == INFO
    measurements = document["measurements"]
    assert "speedtest" not in measurements and document["errors"] == {}
    assert measurements["classrooms"]["coverage_pct"] == 50.0
    ts_ms = int(datetime.fromisoformat(document["checked_at"]).timestamp() * 1000)
    for kind in ("broadband", "classrooms", "sync"):
        contract.encode(kind, COUNTY, SCHOOL, ts_ms, measurements[kind])  # raises if invalid
    assert "测速中" not in err


def test_a_config_mistake_exits_2(tmp_path, capsys):
    config = tmp_path / "agent.yaml"
    config.write_text("school: {id: HX}\n", encoding="utf-8")

    assert main(["check", "-c", str(config)]) == 2
    assert "配置错误 (config error)" in capsys.readouterr().err


# --- pure parts ---------------------------------------------------------------------------------


def test_chinese_characters_take_two_columns():
    assert display_width("七年级(1)班") == 11
    assert display_width("达标 (pass)") == 11


def test_columns_line_up_on_a_terminal_with_chinese_and_latin_text():
    report = CheckReport(SCHOOL, COUNTY, datetime(2026, 9, 22, 9, 0, tzinfo=timezone.utc), (
        Row("broadband", "宽带接入 (broadband access)", "1/1", PASS),
        Row("egress", "出口带宽 ≥ 100 Mbps (egress bandwidth)", "下载 94.2 Mbps", FAIL, "低于目标"),
    ), (Row("x", "a", "b", INFO),))

    lines = [line for line in render_table(report).splitlines() if line.startswith(("宽带", "出口", "a "))]

    starts = {display_width(line[:line.index(verdict)]) for line, verdict in
              zip(lines, ("达标 (pass)", "未达标 (fail)", "- (info)"))}
    assert len(starts) == 1


def test_the_verdict_line_names_what_failed():
    failing = CheckReport(SCHOOL, COUNTY, datetime.now(timezone.utc), (
        Row("broadband", "", "", PASS), Row("egress", "", "", FAIL), Row("sync", "", "", FAIL)), ())

    assert verdict_line(failing) == "结论 (result): 未达标 (not met): 出口带宽、同步课堂 (egress, sync)"
    assert failing.passed is False


def test_an_untested_egress_does_not_fail_the_school():
    report = CheckReport(SCHOOL, COUNTY, datetime.now(timezone.utc), (
        Row("broadband", "", "", PASS), Row("egress", "", "", NOT_TESTED)), ())

    assert report.passed is True


def test_an_engine_limited_speed_test_says_so_chinese_first():
    limited = SpeedTestResult("speedtest", "http://speed.hx.edu.example", ok=True, download_mbps=76.0,
                              upload_mbps=70.0, engine_limited=True)

    shown = egress_row(limited, 100, None, None)
    plain = egress_row(replace(limited, engine_limited=False), 100, None, None)

    assert shown.verdict == FAIL
    assert "speedtest-cli 引擎在此类线路上测得偏低" in shown.why and "use the iperf3 or http backend" in shown.why
    assert shown.why.index("引擎") < shown.why.index("engine")
    assert "speedtest-cli" not in plain.why


def test_a_rural_school_without_a_sync_classroom_fails_and_others_are_not_concerned():
    rural = sync_row(None, rural=True, configured=False, error=None)
    town = sync_row(None, rural=False, configured=False, error=None)

    assert (rural.verdict, rural.value) == (FAIL, "未配置 (not configured)")
    assert "sync_classroom" in rural.why
    assert (town.verdict, town.value) == (INFO, "不适用 (not applicable)")


def test_with_bandwidth_check_too_little_bandwidth_fails_a_good_sync_path():
    good_path = SyncResult(PlatformResult("ok", 1.0), path_quality(10, [1.0] * 10), "", (), ())

    short = sync_row(good_path, True, True, None, Bandwidth(3.5, 4.0))
    enough = sync_row(good_path, True, True, None, Bandwidth(50.0, 4.0))

    assert (short.verdict, short.value) == (FAIL, "未就绪 (not ready)")
    assert short.why == ("带宽不足 (bandwidth too low): 测速较慢方向 3.5 Mbps < 4 Mbps "
                         "(slower direction of the speed test)")
    assert (enough.verdict, sync_row(good_path, True, True, None).verdict) == (PASS, PASS)


def test_progress_spins_in_place_on_a_terminal_and_prints_lines_elsewhere():
    assert progress_line("测速中", 12.4, 5, tty=True) == "\r/ 测速中 12 s   "
    assert progress_line("测速中", 5.0, 1, tty=False) == "测速中 ... 5 s\n"


def test_percentages_have_one_decimal_place_like_the_boards():
    """Two of three classes ready reads 66.7%, as the boards show it, never 66.667%."""
    classes = tuple(ClassResult(f"c{n}", f"{n}年级", 1, int(n < 3)) for n in (1, 2, 3))
    shown = classrooms_row(Sweep(in_hours=True, classes=classes, devices=()), None)
    assert shown.value == "2/3 班就绪，覆盖率 66.7% (2 of 3 classes ready)"
    assert shown.verdict == FAIL
    assert shown.why == "未就绪 (not ready): 3年级 [c3]"

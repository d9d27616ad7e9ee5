"""`schoolnet-agent check`: every probe once, and whether the school meets the targets.

What the school's IT teacher runs after installing the agent or changing the config: a
table in Chinese (English alongside) with the four national targets first - broadband
access, egress bandwidth, multimedia classes, synchronous classroom - then each target,
class, device and figure behind them, each with 达标/未达标 and why. Nothing is published.

Three steps, kept apart: measure() does the I/O (the same rounds the daemon runs);
judge() turns measurements into rows; render_table() / render_json() format them.
The exit status follows the four targets only: a device that is not required, or one
broadband target of several, shows 未达标 in the details without failing the school.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import unicodedata
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import IO, Any, TypeVar
from zoneinfo import ZoneInfo

from agent.config import AgentConfig
from agent.probes.broadband import Reachability, TargetResult, broadband_body
from agent.probes.devices import ClassResult, DeviceResult, Sweep, classrooms_body
from agent.probes.health import Health
from agent.probes.pjlink import ProjectorState
from agent.probes.speed_test import ENGINE_LIMITED_TEXT, SpeedTestResult, speedtest_body
from agent.probes.sync_classroom import PlatformResult, SyncResult, assess
from agent.publish import SpoolStats
from agent.rounds import (
    broadband_round,
    classrooms_round,
    health_round,
    icmp_problem,
    speed_test_round,
    sync_round,
)
from agent.wiring import (
    NO_SESSION,
    Bandwidth,
    ProbeSetup,
    Secrets,
    SessionWindow,
    probe_setup,
    session_window,
    sync_bandwidth,
    sync_report,
    sync_thresholds,
)
from schoolnet_core.kinds import MeasurementKind

T = TypeVar("T")

PASS, FAIL, INFO, NOT_TESTED = "pass", "fail", "info", "not_tested"
_VERDICTS = {"pass": PASS, "fail": FAIL, "info": INFO}
VERDICT_TEXT = {
    PASS: "达标 (pass)",
    FAIL: "未达标 (fail)",
    INFO: "- (info)",
    NOT_TESTED: "未测 (not tested)",
}
EXIT_PASS, EXIT_FAIL = 0, 1
BUSY_WAN_PCT = 20.0
"""Other traffic on the WAN during a test above this share is worth telling the teacher."""
_SPEED_ERRORS = {
    "unreachable": "测速服务器不可达 (server unreachable)",
    "timeout": "测速服务器无响应 (server timed out)",
    "protocol": "测速服务器应答异常 (unexpected answer)",
    "other": "测速失败 (test failed)",
}


# --- measuring (I/O) -----------------------------------------------------------------------


@dataclass(frozen=True)
class Measurements:
    """One check's results; None where a probe was not run or failed (see `errors`)."""

    checked_at: datetime
    broadband: Reachability | None
    classrooms: Sweep | None
    sync: SyncResult | None
    session: SessionWindow
    health: Health | None
    speed_test: SpeedTestResult | None
    speed_test_skipped: str | None = None
    icmp_problem: str | None = None
    errors: dict[str, str] = field(default_factory=dict)
    kinds: dict[str, dict] = field(default_factory=dict)
    """The body of one round of each kind named under `kinds:`, by kind name."""


def main(config: AgentConfig, secrets: Secrets, as_json: bool = False, speed_test: bool = True) -> int:
    """Runs the check and prints it; EXIT_FAIL when a target is not met."""
    setup = probe_setup(config, secrets)
    measurements = asyncio.run(measure(config, setup, speed_test, Progress(sys.stderr)))
    report = judge(config, measurements)
    print(render_json(report, config, measurements) if as_json else render_table(report))
    return EXIT_PASS if report.passed else EXIT_FAIL


async def measure(config: AgentConfig, setup: ProbeSetup, speed_test: bool, progress: Progress) -> Measurements:
    """Broadband, devices and the gateway at once; then the sync path on a quiet line;
    then the speed test, which loads the line, alone."""
    problem = icmp_problem() if setup.pings else None
    now = datetime.now(timezone.utc)
    errors: dict[str, str] = {}
    progress.step("宽带、教室设备、网关 (broadband, classroom devices, gateway)")
    broadband, classrooms, health = await asyncio.gather(
        _attempt("broadband", broadband_round(setup, problem is None), errors),
        _attempt("classrooms", classrooms_round(setup, config.timetable.in_school_hours(now), problem is None), errors),
        _attempt("health", health_round(config.spool.path, SpoolStats(0, 0.0, 0)), errors),
    )
    sync, window = None, NO_SESSION
    if setup.sync is not None:
        progress.step("同步课堂 (synchronous classroom)")
        timetable = config.timetable
        window = session_window(config.sync_classroom.sessions, now, timetable.timezone, timetable.is_school_day)
        sync = await _attempt("sync", sync_round(setup.sync, problem is None), errors)
    speed, skipped = None, _speed_test_skipped(setup, speed_test)
    if skipped is None:
        speed = await _attempt("speed_test", progress.during("测速中 (speed test running)",
                                                               speed_test_round(setup.speed_test)), errors)
    kinds = {}
    for kind, settings in config.kinds:
        progress.step(kind.title)
        body = await _attempt(kind.name, kind.measure(settings), errors)
        if body is not None:
            kinds[kind.name] = body
    return Measurements(now, broadband, classrooms, sync, window, health, speed, skipped, problem, errors, kinds)


def _speed_test_skipped(setup: ProbeSetup, wanted: bool) -> str | None:
    if not wanted:
        return "按要求跳过 (skipped: --no-speed-test)"
    if setup.speed_test is None:
        return "未配置测速服务器 (speed_test.server is not set)"
    return None


async def _attempt(name: str, probe: Awaitable[T], errors: dict[str, str]) -> T | None:
    """The probe's result, or None with the error noted: one probe's bug must not hide the
    others' results."""
    try:
        return await probe
    except Exception as error:  # noqa: BLE001 - reported in the check's rows
        errors[name] = f"{type(error).__name__}: {error}"
        return None


class Progress:
    """What is going on, on stderr: a spinner with the seconds when it is a terminal,
    else a plain line every PLAIN_EVERY_S (a log or a pipe wants no carriage returns)."""

    SPIN_EVERY_S = 0.2
    PLAIN_EVERY_S = 5.0

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.tty = stream.isatty()

    def step(self, text: str) -> None:
        print(f"检查 (checking): {text}", file=self.stream, flush=True)

    async def during(self, text: str, work: Awaitable[T]) -> T:
        task = asyncio.ensure_future(work)
        started = time.monotonic()
        every = self.SPIN_EVERY_S if self.tty else self.PLAIN_EVERY_S
        frame = 0
        self.stream.write(progress_line(text, 0, frame, self.tty))
        while not task.done():
            await asyncio.wait([task], timeout=every)
            frame += 1
            if not task.done():
                self.stream.write(progress_line(text, time.monotonic() - started, frame, self.tty))
            self.stream.flush()
        self.stream.write(progress_line(f"{text} 完成 (done)", time.monotonic() - started, frame, self.tty) +
                          ("\n" if self.tty else ""))
        return task.result()


SPINNER = "|/-\\"


def progress_line(text: str, elapsed_s: float, frame: int, tty: bool) -> str:
    """A spinner redrawn in place on a terminal; elsewhere one line each time."""
    if tty:
        return f"\r{SPINNER[frame % len(SPINNER)]} {text} {elapsed_s:.0f} s   "
    return f"{text} ... {elapsed_s:.0f} s\n"


# --- judging (pure) --------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of the table. `key` names it for --json, e.g. "device:c7-1/panel"."""

    key: str
    item: str
    value: str
    verdict: str
    why: str = ""


@dataclass(frozen=True)
class CheckReport:
    school: str
    county: str
    checked_at: datetime
    targets: tuple[Row, ...]
    details: tuple[Row, ...]

    @property
    def passed(self) -> bool:
        return all(row.verdict != FAIL for row in self.targets)


def judge(config: AgentConfig, m: Measurements) -> CheckReport:
    targets = (
        broadband_row(m.broadband, m.errors.get("broadband")),
        egress_row(m.speed_test, config.speed_test.target_mbps, m.speed_test_skipped, m.errors.get("speed_test")),
        classrooms_row(m.classrooms, m.errors.get("classrooms")),
        sync_row(m.sync, config.school.rural, config.sync_classroom is not None, m.errors.get("sync"),
                 checked_bandwidth(config, m)),
    )
    targets += tuple(kind_row(kind, settings, m) for kind, settings in config.kinds if kind.check)
    details = (
        *icmp_rows(m.icmp_problem),
        *(target_row(result) for result in (m.broadband.targets if m.broadband else ())),
        *speed_rows(m.speed_test),
        *(classroom_rows(m.classrooms) if m.classrooms else ()),
        *(sync_rows(m.sync, m.session, config) if m.sync else ()),
        *health_rows(m.health, m.errors.get("health")),
    )
    local_time = m.checked_at.astimezone(ZoneInfo(config.timetable.timezone))
    return CheckReport(config.school.id, config.school.county, local_time, targets, details)


def kind_row(kind: MeasurementKind, settings: object, m: Measurements) -> Row:
    """A kind named under `kinds:` judges its own round (schoolnet_core.kinds.CheckLine)."""
    if kind.name not in m.kinds:
        return _failed_probe(kind.name, kind.title, m.errors.get(kind.name, "no result"))
    line = kind.check(m.kinds[kind.name], settings)
    return Row(kind.name, kind.title, line.value, _VERDICTS[line.verdict], line.why)


def _failed_probe(key: str, item: str, error: str) -> Row:
    return Row(key, item, "探测出错 (probe error)", FAIL, error)


def broadband_row(result: Reachability | None, error: str | None) -> Row:
    item = "宽带接入 (broadband access)"
    if result is None:
        return _failed_probe("broadband", item, error or "")
    up, total = result.targets_up, len(result.targets)
    value = f"{up}/{total} 个目标可达 ({up} of {total} targets answer)"
    if not result.up:
        return Row("broadband", item, value, FAIL, "没有目标应答，学校未接通 (no target answers: the school is offline)")
    why = "" if up == total else "部分目标不可达，见详情 (some targets do not answer, see the details)"
    return Row("broadband", item, value, PASS, why)


def egress_row(result: SpeedTestResult | None, target_mbps: float, skipped: str | None, error: str | None) -> Row:
    item = f"出口带宽 ≥ {target_mbps:g} Mbps (egress bandwidth)"
    if skipped is not None:
        return Row("egress", item, "未测 (not tested)", NOT_TESTED, skipped)
    if result is None:
        return _failed_probe("egress", item, error or "")
    if not result.ok:
        why = f"{_SPEED_ERRORS.get(result.error or 'other')}: {result.detail}"
        return Row("egress", item, "测速失败 (test failed)", FAIL, why)
    value = f"下载 {_num(result.download_mbps)} / 上传 {_num(result.upload_mbps)} Mbps (download / upload)"
    notes = _speed_notes(result)
    if (result.download_mbps or 0) < target_mbps:
        notes.insert(0, f"下载 {_num(result.download_mbps)} Mbps 低于目标 {target_mbps:g} Mbps "
                        "(download below the target)")
        return Row("egress", item, value, FAIL, "; ".join(notes))
    return Row("egress", item, value, PASS, "; ".join(notes))


def _speed_notes(result: SpeedTestResult) -> list[str]:
    notes = []
    if result.cpu_bound:
        notes.append("CPU 满载，结果可能偏低 (a CPU core was saturated: the figure may be low)")
    if result.engine_limited:
        notes.append(ENGINE_LIMITED_TEXT)
    if result.background_pct is not None and result.background_pct >= BUSY_WAN_PCT:
        notes.append(f"测速期间出口其他流量占 {_pct(result.background_pct)} "
                     "(other traffic on the WAN during the test)")
    return notes


def classrooms_row(result: Sweep | None, error: str | None) -> Row:
    item = "多媒体教室 (multimedia classes)"
    if result is None:
        return _failed_probe("classrooms", item, error or "")
    if not result.classes:
        return Row("classrooms", item, "0 班 (no classes)", FAIL,
                   "未配置班级，请在 classrooms 中列出 (no classrooms configured: list them under classrooms)")
    ready, total = result.classes_ready, len(result.classes)
    value = f"{ready}/{total} 班就绪，覆盖率 {_pct(result.coverage_pct)} ({ready} of {total} classes ready)"
    notes = [] if result.in_hours else [
        "现在非在校时间，设备关机不算故障 (out of school hours: a device switched off is no fault)"]
    if ready < total:
        names = "、".join(f"{room.name} [{room.classroom}]" for room in result.classes if not room.ready)
        return Row("classrooms", item, value, FAIL, "; ".join([f"未就绪 (not ready): {names}", *notes]))
    return Row("classrooms", item, value, PASS, "; ".join(notes))


def checked_bandwidth(config: AgentConfig, m: Measurements) -> Bandwidth | None:
    """With bandwidth_check, this check's own speed test is the evidence (run a minute ago)."""
    sync = config.sync_classroom
    if sync is None or not sync.bandwidth_check:
        return None
    return sync_bandwidth(m.speed_test, m.checked_at, m.checked_at, sync.thresholds.bandwidth_mbps)


def sync_row(result: SyncResult | None, rural: bool, configured: bool, error: str | None,
             bandwidth: Bandwidth | None = None) -> Row:
    item = "同步课堂 (synchronous classroom)"
    if not configured:
        if rural:
            return Row("sync", item, "未配置 (not configured)", FAIL,
                       "农村学校须有同步课堂，请配置 sync_classroom "
                       "(a rural school needs one: add the sync_classroom section)")
        return Row("sync", item, "不适用 (not applicable)", INFO, "非农村学校 (not a rural school)")
    if result is None:
        return _failed_probe("sync", item, error or "")
    problems = list(result.problems)
    if bandwidth is not None and not bandwidth.enough:
        problems.append(f"带宽不足 (bandwidth too low): 测速较慢方向 {bandwidth.mbps:g} Mbps < "
                        f"{bandwidth.needed_mbps:g} Mbps (slower direction of the speed test)")
    if not problems:
        return Row("sync", item, "就绪 (ready)", PASS)
    return Row("sync", item, "未就绪 (not ready)", FAIL, "; ".join(problems))


def icmp_rows(problem: str | None) -> tuple[Row, ...]:
    if problem is None:
        return ()
    return (Row("icmp", "ICMP (ping) 权限 (permission)", "不允许 (not permitted)", FAIL,
                f"icmp 检查均记为不可达 (every icmp check reads down): {problem}"),)


def target_row(result: TargetResult) -> Row:
    target = result.target
    item = f"宽带目标 (target) {target.name} [{target.endpoint}]"
    if result.up:
        value = f"可达 (up) {_ms(result.rtt_ms)} ms, 丢包 (loss) {_pct(result.loss_pct)}"
        return Row(f"target:{target.name}", item, value, PASS)
    return Row(f"target:{target.name}", item, f"不可达 (down: {result.status})", FAIL, result.detail)


def speed_rows(result: SpeedTestResult | None) -> tuple[Row, ...]:
    if result is None:
        return ()
    figures = (
        ("speed:latency", "测速时延/抖动 (latency / jitter)",
         f"{_ms(result.latency_ms)} / {_ms(result.jitter_ms)} ms"),
        ("speed:wan", f"出口网卡其他流量 (other WAN traffic, {result.wan_interface or '?'})",
         _percent(result.background_pct)),
        ("speed:cpu", "测速时最忙 CPU 核心 (busiest CPU core)", _percent(result.cpu_max_pct)),
    )
    server = Row("speed:server", "测速服务器 (test server)", f"{result.backend} {result.server}", INFO)
    return (server, *(Row(key, item, value, INFO) for key, item, value in figures))


def classroom_rows(result: Sweep) -> tuple[Row, ...]:
    rows = []
    for room in result.classes:
        rows.append(class_row(room))
        rows.extend(device_row(device) for device in result.devices if device.classroom == room.classroom)
    return tuple(rows)


def class_row(room: ClassResult) -> Row:
    value = f"必需设备 {room.required_up}/{room.required_total} 在线 (required devices up)"
    if room.ready:
        return Row(f"class:{room.classroom}", f"{room.name} [{room.classroom}]", value, PASS)
    why = "没有必需设备 (no required device configured)" if not room.required_total else "见下列设备 (see its devices)"
    return Row(f"class:{room.classroom}", f"{room.name} [{room.classroom}]", value, FAIL, why)


def device_row(result: DeviceResult) -> Row:
    device, reply = result.device, result.reply
    key = f"device:{result.classroom}/{device.device}"
    item = f"  {device.name} [{device.device}] {device.endpoint}"
    extras = _projector_text(reply) if isinstance(reply, ProjectorState) else ""
    if result.up:
        return Row(key, item, f"在线 (up) {_ms(reply.rtt_ms)} ms{extras}", PASS)
    why = reply.detail
    if not device.required:
        why = f"非必需，不影响班级就绪 (not required: does not decide the class); {why}"
    return Row(key, item, f"离线 (down: {reply.status}){extras}", FAIL, why)


def _projector_text(state: ProjectorState) -> str:
    parts = []
    if state.power_on is not None:
        parts.append("电源开 (power on)" if state.power_on else "电源关 (power off)")
    if state.lamp_hours is not None:
        parts.append(f"灯泡 {state.lamp_hours} 小时 (lamp hours)")
    if state.errors is not None and state.errors.problems():
        parts.append(f"故障 (errors): {', '.join(state.errors.problems())}")
    return "".join(f", {part}" for part in parts)


def sync_rows(result: SyncResult, window: SessionWindow, config: AgentConfig) -> tuple[Row, ...]:
    platform = config.sync_classroom.platform
    rows = [platform_row(result.platform, f"{platform.host}:{platform.port}")]
    for endpoint in result.endpoints:
        verdict = PASS if endpoint.up else FAIL
        value = f"在线 (up) {_ms(endpoint.reply.rtt_ms)} ms" if endpoint.up else f"离线 (down: {endpoint.reply.status})"
        rows.append(Row(f"sync:endpoint:{endpoint.classroom}", f"同步课堂终端 (endpoint) [{endpoint.classroom}]",
                        value, verdict, "" if endpoint.up else endpoint.reply.detail))
    rows.append(path_row(result, config))
    rows.append(session_row(window))
    return tuple(rows)


def platform_row(result: PlatformResult, where: str) -> Row:
    item = f"县同步课堂平台 (platform) {where}"
    if not result.up:
        return Row("sync:platform", item, f"不可达 (down: {result.status})", FAIL, result.detail)
    tls = f", TLS {_ms(result.tls_ms)} ms" if result.tls_ms is not None else ""
    return Row("sync:platform", item, f"可达 (up) {_ms(result.connect_ms)} ms{tls}", PASS)


def path_row(result: SyncResult, config: AgentConfig) -> Row:
    """Judged against the thresholds alone (assess() with nothing else wrong)."""
    path = result.path
    value = (f"RTT {_ms(path.rtt_ms)} ms, 抖动 (jitter) {_ms(path.jitter_ms)} ms, "
             f"丢包 (loss) {_pct(path.loss_pct)}, MOS {path.mos:g}")
    problems = assess(PlatformResult("ok"), path, (), sync_thresholds(config.sync_classroom.thresholds))
    item = "线路质量 (path quality)"
    if problems:
        return Row("sync:path", item, value, FAIL, "; ".join((*problems, result.path_detail)))
    return Row("sync:path", item, value, PASS, result.path_detail)


def session_row(window: SessionWindow) -> Row:
    if window.session is None:
        return Row("sync:session", "同步课 (session)", "现在没有 (none now or within 15 min)", INFO)
    when = "进行中 (on now)" if window.active else "15 分钟内开始 (starts within 15 min)"
    return Row("sync:session", "同步课 (session)", f"{window.session}: {when}", INFO)


def health_rows(health: Health | None, error: str | None) -> tuple[Row, ...]:
    if health is None:
        return (Row("health", "网关状态 (gateway health)", "读取出错 (cannot read)", INFO, error or ""),)
    return (
        Row("health:cpu", "网关 CPU (gateway CPU)", _pct(health.cpu_pct), INFO),
        Row("health:memory", "网关内存 (gateway memory)", _pct(health.mem_pct), INFO),
        Row("health:disk", "缓存所在磁盘 (disk of the spool)", _pct(health.disk_pct), INFO),
    )


def _num(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"


def _ms(value: float | None) -> str:
    return "?" if value is None else f"{value:.1f}"


def _percent(value: float | None) -> str:
    return "未知 (unknown)" if value is None else _pct(value)


def _pct(value: float) -> str:
    """One decimal place, as the boards show percentages: 66.7%, 100.0%, never 66.667%."""
    return f"{value:.1f}%"


# --- rendering (pure) ------------------------------------------------------------------------

HEADERS = ("项目 (item)", "结果 (value)", "达标? (pass?)", "原因 (why)")
TARGET_KEYS = ("broadband", "egress", "classrooms", "sync")
_SHORT = {"broadband": "宽带接入", "egress": "出口带宽", "classrooms": "多媒体教室", "sync": "同步课堂"}


def render_table(report: CheckReport) -> str:
    """Columns aligned for a terminal; the last one (why) runs on as long as it needs."""
    widths = _column_widths([HEADERS, *map(_cells, (*report.targets, *report.details))])
    lines = [
        _heading(report),
        "",
        "== 四项指标 (the four national targets) ==",
        _line(HEADERS, widths),
        *(_line(_cells(row), widths) for row in report.targets),
        "",
        "== 详情 (details) ==",
        *(_line(_cells(row), widths) for row in report.details),
        "",
        verdict_line(report),
    ]
    return "\n".join(lines)


def _heading(report: CheckReport) -> str:
    return (f"学校 (school): {report.school}    县 (county): {report.county}    "
            f"时间 (time): {report.checked_at:%Y-%m-%d %H:%M:%S %z}")


def _column_widths(lines: Sequence[Sequence[str]]) -> list[int]:
    """Widths of every column but the last."""
    return [max(display_width(line[column]) for line in lines) for column in range(len(HEADERS) - 1)]


def _cells(row: Row) -> tuple[str, str, str, str]:
    return row.item, row.value, VERDICT_TEXT[row.verdict], row.why


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    padded = [cell + " " * (width - display_width(cell)) for cell, width in zip(cells, widths)]
    return "  ".join([*padded, cells[len(widths)]]).rstrip()


def verdict_line(report: CheckReport) -> str:
    failed = [row.key for row in report.targets if row.verdict == FAIL]
    if not failed:
        return "结论 (result): 全部达标 (every target met)"
    names = "、".join(_SHORT[key] for key in failed)
    return f"结论 (result): 未达标 (not met): {names} ({', '.join(failed)})"


def display_width(text: str) -> int:
    """Columns a terminal gives `text`: Chinese characters take two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def render_json(report: CheckReport, config: AgentConfig, m: Measurements) -> str:
    document = {
        "schema": 1,
        "county": report.county,
        "school": report.school,
        "checked_at": report.checked_at.isoformat(),
        "passed": report.passed,
        "targets": [vars(row) for row in report.targets],
        "details": [vars(row) for row in report.details],
        "measurements": measurement_bodies(config, m),
        "errors": m.errors,
    }
    return json.dumps(document, ensure_ascii=False, indent=2)


def measurement_bodies(config: AgentConfig, m: Measurements) -> dict[str, Any]:
    """The measurements as the contract's message bodies (health without the spool,
    which check does not open)."""
    bodies: dict[str, Any] = {}
    if m.broadband is not None:
        bodies["broadband"] = broadband_body(m.broadband)
    if m.classrooms is not None:
        bodies["classrooms"] = classrooms_body(m.classrooms)
    if m.sync is not None:
        bodies["sync"] = sync_report(m.sync, config.school.rural, m.session, checked_bandwidth(config, m))
    if m.health is not None:
        bodies["health"] = {key: value for key, value in vars(m.health).items() if not key.startswith("spool_")}
    if m.speed_test is not None:
        bodies["speedtest"] = speedtest_body(m.speed_test, "on_demand", config.speed_test.target_mbps)
    return {**bodies, **m.kinds}

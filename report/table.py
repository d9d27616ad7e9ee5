"""The one computed table every format writes: sheets of columns and cells.

XLSX, CSV and HTML are thin writers over `sheets(report)`: same sheets, same headers,
same cells, and `text(cell, column)` is how a cell reads wherever it is shown as text, so
the numbers cannot disagree between formats.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from report import periods
from report.figures import Report
from roster.model import DEFAULT_SCHOOL_HOURS

NONE = "—"
PASS, FAIL, NOT_APPLICABLE = "达标 pass", "未达标 fail", "不适用 n/a"


@dataclass(frozen=True)
class Column:
    zh: str
    en: str
    get: Callable[[Any], Any]
    digits: int | None = None  # numbers: decimals shown; None: text or integer
    status: bool = False  # a pass/fail column, coloured green/red

    @property
    def header(self) -> str:
        return f"{self.zh} {self.en}"


@dataclass(frozen=True)
class Sheet:
    name: str  # zh-CN, as bureaus name their sheets
    title: str  # zh-CN and English, for pages
    columns: tuple[Column, ...]
    rows: tuple[tuple[Any, ...], ...]


def cell(value: Any) -> Any:
    """A figure as stored in a cell: numbers stay numbers, unknown is '—', a verdict is words."""
    if value is None:
        return NONE
    if value is True:
        return PASS
    if value is False:
        return FAIL
    if isinstance(value, (tuple, list)):
        return "、".join(value) if value else NONE
    return value


def text(value: Any, column: Column) -> str:
    """How a cell reads as text (CSV, the page), and how a test reads an XLSX cell back."""
    if value is None:
        return NONE
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        return f"{value:.{column.digits}f}" if column.digits is not None else f"{value:g}"
    return str(value)


def _yes(value: bool) -> str:
    return "是 yes" if value else "否 no"


def _sync_status(value: bool | None) -> str | bool:
    return NOT_APPLICABLE if value is None else value


SUMMARY = (
    Column("县", "County", lambda c: c.name),
    Column("学校数", "Schools", lambda c: c.schools),
    Column("已上报", "Reported", lambda c: c.reported),
    Column("宽带达标学校%", "Broadband compliant %", lambda c: c.broadband_pct, 1),
    Column("出口带宽达标学校%", "Egress compliant %", lambda c: c.egress_pct, 1),
    Column("班级数", "Classes", lambda c: c.classes),
    Column("已配备班级", "Equipped", lambda c: c.equipped),
    Column("多媒体教学设备班级普及率%", "Equipped classes %", lambda c: c.equipped_pct, 1),
    Column("班级可用率%", "Class readiness %", lambda c: c.ready_pct, 1),
    Column("每百名学生在用多媒体教室", "Working classrooms per 100 pupils", lambda c: c.working_per_100, 2),
    Column("乡村学校", "Rural schools", lambda c: c.rural),
    Column("同步课堂达标乡村学校%", "Rural schools sync-ready %", lambda c: c.sync_pct, 1),
    Column("宽带未达标", "Broadband failing", lambda c: c.failing_broadband),
    Column("出口带宽未达标", "Egress failing", lambda c: c.failing_egress),
    Column("教室未达标", "Classrooms failing", lambda c: c.failing_classes),
    Column("同步课堂未达标", "Sync failing", lambda c: c.failing_sync),
    Column("未上报学校", "Never reported", lambda c: c.never_reported),
)

SCHOOLS = (
    Column("县", "County", lambda s: s.county_name),
    Column("学校代码", "School id", lambda s: s.school),
    Column("学校", "School", lambda s: s.name),
    Column("类型", "Type", lambda s: s.type),
    Column("乡村", "Rural", lambda s: _yes(s.rural)),
    Column("在校生", "Pupils", lambda s: s.enrolment),
    Column("数据完整率%", "Completeness %", lambda s: s.completeness_pct, 2),
    Column("计入时长(小时)", "Counted hours", lambda s: s.counted_hours, 2),
    Column("宽带可用率%", "Broadband availability %", lambda s: s.availability_pct, 2),
    Column("中断次数", "Outages", lambda s: s.outages),
    Column("中断总时长(分)", "Outage total min", lambda s: s.outage_total_min, 1),
    Column("最长中断(分)", "Longest outage min", lambda s: s.outage_longest_min, 1),
    Column("宽带", "Broadband", lambda s: s.broadband_ok, status=True),
    Column("测速次数", "Scheduled tests", lambda s: s.tests),
    Column("成功次数", "Tests ok", lambda s: s.tests_ok),
    Column("下行中位数Mbps", "Download median", lambda s: s.download_median, 1),
    Column("下行P10 Mbps", "Download p10", lambda s: s.download_p10, 1),
    Column("上行中位数Mbps", "Upload median", lambda s: s.upload_median, 1),
    Column("上行P10 Mbps", "Upload p10", lambda s: s.upload_p10, 1),
    Column("目标Mbps", "Target", lambda s: s.target_mbps, 0),
    Column("签约带宽Mbps", "Contracted", lambda s: s.contracted_mbps, 0),
    Column("出口带宽", "Egress", lambda s: s.egress_ok, status=True),
    Column("班级数", "Classes", lambda s: s.classes),
    Column("已配备", "Equipped", lambda s: s.equipped),
    Column("普及率%", "Equipped %", lambda s: s.equipped_pct, 1),
    Column("班级可用率%", "Class readiness %", lambda s: s.ready_pct, 1),
    Column("在用教室", "Working classes", lambda s: s.working),
    Column("每百名学生在用教室", "Working per 100 pupils", lambda s: s.working_per_100, 2),
    Column("教室", "Classrooms", lambda s: s.classes_ok, status=True),
    Column("同步课堂场次", "Sync sessions", lambda s: s.sessions),
    Column("全程就绪场次", "Sessions ready", lambda s: s.sessions_ready),
    Column("就绪率%", "Sessions ready %", lambda s: s.sessions_ready_pct, 1),
    Column("MOS中位数", "Median MOS", lambda s: s.mos_median, 2),
    Column("同步课堂", "Sync classroom", lambda s: _sync_status(s.sync_ok), status=True),
)

CLASSES = (
    Column("学校代码", "School id", lambda c: c.school),
    Column("学校", "School", lambda c: c.school_name),
    Column("教室代码", "Classroom id", lambda c: c.classroom),
    Column("班级", "Class", lambda c: c.name),
    Column("设备数", "Devices", lambda c: c.devices),
    Column("已配备", "Equipped", lambda c: _yes(c.equipped)),
    Column("可用率%", "Ready %", lambda c: c.ready_pct, 1),
    Column("在用", "Working", lambda c: c.working, status=True),
)

SESSIONS = (
    Column("学校代码", "School id", lambda s: s.school),
    Column("学校", "School", lambda s: s.school_name),
    Column("课程", "Session", lambda s: s.session),
    Column("日期", "Date", lambda s: s.day),
    Column("开始", "Start", lambda s: s.start),
    Column("时长(分)", "Minutes", lambda s: s.minutes, 1),
    Column("全程就绪", "Ready throughout", lambda s: s.ready, status=True),
    Column("MOS中位数", "Median MOS", lambda s: s.mos_median, 2),
)

LEDGER = (
    Column("县", "County", lambda s: s.county_name),
    Column("学校代码", "School id", lambda s: s.school),
    Column("学校", "School", lambda s: s.name),
    Column("实测下行中位数Mbps", "Measured median", lambda s: s.download_median, 1),
    Column("目标Mbps", "Target", lambda s: s.target_mbps, 0),
    Column("签约带宽Mbps", "Contracted", lambda s: s.contracted_mbps, 0),
    Column("测速次数(证据)", "Tests (evidence)", lambda s: s.tests_ok),
    Column("出口带宽", "Egress", lambda s: s.egress_ok, status=True),
)

NOTES = (
    Column("指标", "Figure", lambda n: n[0]),
    Column("定义", "Definition (zh-CN)", lambda n: n[1]),
    Column("Definition", "English", lambda n: n[2]),
)


def sheets(report: Report) -> tuple[Sheet, ...]:
    def make(name: str, en: str, columns: tuple[Column, ...], items) -> Sheet:
        rows = tuple(tuple(cell(column.get(item)) for column in columns) for item in items)
        return Sheet(name, f"{name} {en}", columns, rows)

    return (
        make("汇总", "Summary", SUMMARY, report.counties),
        make("学校", "Schools", SCHOOLS, report.schools),
        make("教室", "Classrooms", CLASSES, report.classes),
        make("同步课堂", "Synchronous classroom sessions", SESSIONS, report.sessions),
        make("台账", "Ledger of schools below the egress target", LEDGER, report.ledger),
        make("说明", "Definitions", NOTES, notes(report)),
    )


def notes(report: Report) -> list[tuple[str, str, str]]:
    """The 说明 sheet: what each figure means, and the settings this report was made with."""
    settings, rules = report.roster.settings, report.roster.settings.report
    hours = settings.school_hours or DEFAULT_SCHOOL_HOURS
    holidays = "、".join(str(days) for days in settings.holidays) or NONE
    extra = "、".join(str(days) for days in settings.extra_school_days) or NONE
    windows = "；".join(
        f"{w.start:%Y-%m-%d %H:%M}–{w.end:%Y-%m-%d %H:%M} {w.county or '全部 all'}"
        f"{'/' + w.school if w.school else ''} {w.reason}".strip()
        for w in settings.maintenance
    ) or NONE
    schools = [s for s in report.roster.schools if s.county in {c.county for c in report.counties}]
    days = len(periods.school_days(report.period, settings))
    return [
        ("报告期", f"{report.period.first} 至 {report.period.last}（{report.period.label}），上课日 {days} 天",
         f"{report.period.first} to {report.period.last} ({report.period.label}), {days} school days"),
        ("生成时间", f"{report.generated:%Y-%m-%d %H:%M} UTC，数据来自 VictoriaMetrics",
         f"generated {report.generated:%Y-%m-%d %H:%M} UTC from the VictoriaMetrics store"),
        ("学校范围", f"台账（名册）中登记的 {len(schools)} 所学校；未上报的学校同样计入，按未达标处理",
         f"the {len(schools)} schools declared in the roster; a school that never reported counts as not compliant"),
        ("计入时间", f"上课日 {hours}（学校所在时区），不含节假日 {holidays} 与维护窗口；调休上课日 {extra}",
         f"school hours {hours} on school days (school's time zone), holidays {holidays} and maintenance windows left out; make-up days {extra}"),
        ("维护窗口", windows, "declared maintenance windows: left out of every figure and muted in alerts"),
        ("数据完整率", f"计入时间内应到的宽带采样（每 {rules.broadband_interval_s} 秒）与教室巡检（每 {rules.classroom_interval_s} 秒）中实际到达的比例",
         f"share of the expected broadband samples (every {rules.broadband_interval_s} s) and classroom sweeps (every {rules.classroom_interval_s} s) that arrived in counted time"),
        ("宽带可用率", "计入时间内到达的宽带采样中上行链路可达（任一目标应答）的比例", "share of broadband samples in counted time with the uplink up (any target answered)"),
        ("中断", "计入时间内连续不可达的采样为一次中断；时长 = 采样数 × 采样间隔；跨越下课或维护窗口时分开计算",
         "a run of down samples in counted time; length = samples × interval; split where school hours or a maintenance window end"),
        ("宽带达标", f"可用率 ≥ {rules.availability_target_pct:g}% 且数据完整率 ≥ {rules.completeness_min_pct:g}%",
         f"availability >= {rules.availability_target_pct:g}% and completeness >= {rules.completeness_min_pct:g}%"),
        ("出口带宽", "报告期内（维护窗口除外）的计划测速；中位数与第10百分位（最近秩）只取成功的测速；目标按学校、学校类型或全县设置",
         "scheduled tests in the period (maintenance left out); median and 10th percentile (nearest rank) of the successful ones; target from the school, its type, or the county default"),
        ("出口带宽达标", "下行中位数 ≥ 目标；无成功测速为未达标；签约带宽仅作对照", "download median >= target; no successful test is not compliant; the contracted figure is shown beside it"),
        ("多媒体教学设备班级普及率", "名册中配备了多媒体设备的班级 / 登记的班级", "classes declared with multimedia devices / classes declared"),
        ("班级可用率", "计入时间内每次设备巡检中该班所需设备全部应答的比例；学校值为各班平均，未配备或未上报的班级按 0 计",
         "share of the classroom sweeps in counted time in which all the class's required devices answered; the school's is the mean over its classes, unequipped or unreported classes count 0"),
        ("在用教室 / 每百名学生", f"已配备且可用率 ≥ {rules.class_working_pct:g}% 的班级；每百名学生在用多媒体教室 = 在用教室 / 在校生 × 100",
         f"equipped classes ready >= {rules.class_working_pct:g}% of counted time; per 100 pupils = working / enrolment x 100"),
        ("教室达标", "全部班级已配备且在用", "every declared class equipped and working"),
        ("同步课堂（乡村学校）", f"代理上报的课程场次（同一课程同一天为一场）；全程就绪 = 每次采样均就绪且间隔不超过 {2 * rules.sync_interval_s} 秒；达标 = 就绪率 ≥ {rules.sync_ready_target_pct:g}%",
         f"sessions the agent reported (one session id on one day); ready throughout = ready at every sample with no gap over {2 * rules.sync_interval_s} s; compliant = ready share >= {rules.sync_ready_target_pct:g}%"),
        ("带宽不达标台账", "出口带宽未达标的学校，列出实测中位数、目标、签约带宽与作为证据的成功测速次数",
         "schools below the egress target with the measured median, target, contracted bandwidth and the successful tests as evidence"),
    ]

"""Synchronous classroom (同步课堂): one school's sessions and the path they run over,
plus the county's rural schools side by side.

The threshold lines are the agent's defaults (sync_classroom.thresholds) and those of the
SyncPathDegraded alert: RTT 150 ms, jitter 30 ms, loss 1 %, MOS 3.6.
"""

from __future__ import annotations

from dashboards.grafana import (
    COUNTY,
    PASS_FAIL,
    SCHOOL,
    UP_DOWN,
    board,
    column,
    name_column,
    query,
    row,
    school_name_stat,
    school_named,
    stat,
    state_timeline,
    table,
    target_met,
    thresholds,
    timeseries,
)

UID = "schoolnet-sync"
AT_SCHOOL = 'county="$county", school="$school"'
SESSION_ON = [
    {
        "type": "value",
        "options": {
            "0": {"text": "无课 no session", "color": "transparent", "index": 0},
            "1": {"text": "上课 session", "color": "blue", "index": 1},
        },
    }
]


def now() -> list[dict]:
    return [
        stat("当前就绪 Ready now", [query(f"max(schoolnet:school_sync_ready:bool{{{AT_SCHOOL}}})")],
             unit="none", mappings=PASS_FAIL, decimals=0),
        stat("7 天可用率 Availability (7d)",
             [query(f"max(schoolnet:school_sync_availability:ratio_7d{{{AT_SCHOOL}}})")], decimals=1,
             description="就绪分钟数 / 排课分钟数。Ready minutes / scheduled session minutes, 7 days."),
        stat("7 天排课分钟 Session minutes (7d)",
             [query(f"max(schoolnet:school_sync_session_minutes:7d{{{AT_SCHOOL}}})")],
             unit="m", high=None, steps=thresholds("blue"), decimals=0),
        stat("最近一节课 Latest session", [query(f"max(schoolnet:school_sync_ready:last_session{{{AT_SCHOOL}}})")],
             unit="none", mappings=PASS_FAIL, decimals=0,
             description="最近一节同步课时是否就绪。Ready in the school's latest session minute?"),
    ]


def sessions() -> list[dict]:
    return [
        state_timeline(
            "同步课 Sessions",
            [query(f"max by (session) (schoolnet_sync_session_active{{{AT_SCHOOL}}})", "{{session}}")],
            mappings=SESSION_ON, width=12,
        ),
        state_timeline(
            "就绪 Ready",
            [
                query(f"max by (school) (schoolnet_sync_ready{{{AT_SCHOOL}}})", "就绪 ready"),
                query(f"max by (school) (schoolnet_sync_platform_up{{{AT_SCHOOL}}})", "县平台 platform"),
            ],
            mappings=UP_DOWN, width=12,
        ),
    ]


def path() -> list[dict]:
    """RTT, jitter, loss and MOS with the line where the classroom stops being usable."""
    def graph(title: str, field: str, unit: str, limit: float, **kwargs) -> dict:
        expr = f"max by (session) (schoolnet_sync_{field}{{{AT_SCHOOL}}})"
        return timeseries(title, [query(expr, "{{session}}")], unit=unit, line_at=limit, width=12, **kwargs)

    return [
        graph("往返时延 RTT", "rtt_ms", "ms", 150),
        graph("抖动 Jitter", "jitter_ms", "ms", 30),
        graph("丢包 Loss", "loss_pct", "percent", 1, high=100),
        graph("MOS（1–5，越高越好 higher is better）", "mos", "none", 3.6, low=1, high=5),
    ]


def rural_schools() -> dict:
    in_county = '{county="$county", rural="true"}'
    figures = [
        ("A", f"max by (county, school) (schoolnet:school_sync_ready:last_session{in_county})",
         column("A", "最近一节课 Latest session", mappings=PASS_FAIL, colour=True)),
        ("B", f"max by (county, school) (schoolnet:school_sync_availability:ratio_7d{in_county})",
         column("B", "7 天可用率 Availability 7d", unit="percentunit", decimals=1, steps=target_met(1),
                colour=True)),
        ("C", f"max by (county, school) (schoolnet:school_sync_session_minutes:7d{in_county})",
         column("C", "7 天排课分钟 Session minutes", unit="m", decimals=0)),
    ]
    return table(
        "本县乡村学校 Rural schools of the county",
        [query(school_named(expr), table=True) for _, expr, _ in figures],
        [name_column("school_name", "学校名称 School name"), *(c for _, _, c in figures)],
        height=8,
        description="乡村学校同步课堂覆盖率的明细。The schools behind the county's rural coverage figure.",
    )


def build() -> dict:
    panels = [
        row("现在 Now"),
        school_name_stat(),
        *now(),
        row("课程与就绪 Sessions and readiness"),
        *sessions(),
        row("线路质量 Path quality"),
        *path(),
        row("全县 County"),
        rural_schools(),
    ]
    return board(UID, "同步课堂 · Synchronous classroom", panels, variables=[COUNTY, SCHOOL],
                 description="同步课堂的课程、就绪与线路质量。Sessions, readiness and path quality.")

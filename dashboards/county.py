"""County overview: the four targets for one county, and every school pass/fail.

This is the board county IT and the education bureau look at first, so every figure on
it is a recording rule (deploy/rules/*.yml): the same number the alerts and the monthly
report use, never a second definition of "compliant".
"""

from __future__ import annotations

from dashboards.grafana import (
    COUNTY,
    PASS_FAIL,
    RED,
    UP_DOWN,
    YELLOW,
    board,
    column,
    link_column,
    name_column,
    query,
    row,
    school_named,
    stat,
    table,
    target_met,
    thresholds,
    timeseries,
)

UID = "schoolnet-county"
IN_COUNTY = '{county="$county"}'
SCHOOL_BOARD = "/d/schoolnet-school/?var-county=${__data.fields.county}&var-school=${__data.fields.school}"


def targets() -> list[dict]:
    """The four national targets as big numbers, 100 % (or 100 Mbps) to pass."""
    return [
        stat("宽带接入率 Broadband access", [query(f"schoolnet:county_broadband_up:ratio{IN_COUNTY}")],
             description="当前接入宽带的学校占比（目标 100%）。Share of the county's schools connected now."),
        stat("出口带宽达标率 Egress ≥ 100 Mbps", [query(f"schoolnet:county_egress_compliant:ratio{IN_COUNTY}")],
             description="近 7 天定时测速下行中位数达到目标（默认 100 Mbps）的学校占比。"
                         "Share of schools whose median scheduled download over 7 days meets the target."),
        stat("多媒体教学设备班级普及率 Multimedia classes",
             [query(f"schoolnet:county_classes_ready:ratio_7d{IN_COUNTY}")],
             description="近 7 天上课时间内设备就绪的班级占比（班级加权）。"
                         "Ready classes / classes, over the school-hours minutes of 7 days."),
        stat("乡村学校同步课堂覆盖率 Rural synchronous classrooms",
             [query(f"schoolnet:county_sync_rural_ready:ratio{IN_COUNTY}")],
             description="最近一节同步课时同步课堂就绪的乡村学校占比。"
                         "Share of rural schools whose synchronous classroom was ready in its latest session."),
    ]


def county_status() -> list[dict]:
    return [
        stat("出口带宽最低学校 Slowest school egress",
             [query(f"min(schoolnet:school_egress_download_mbps:median_7d{IN_COUNTY})")],
             unit="Mbits", high=None, steps=target_met(100), decimals=0,
             description="全县各校 7 天下行中位数中最低的一个（目标 100 Mbps）。The lowest school median."),
        stat("监测代理在线率 Agents online", [query(f"schoolnet:county_agent_up:ratio{IN_COUNTY}")],
             description="监测代理在线的学校占比。Share of schools whose agent is up."),
        stat("学校数 Schools", [query(f"count(schoolnet:school:known{IN_COUNTY})")],
             unit="none", low=0, high=None, steps=thresholds("blue"), decimals=0,
             description="近 7 天有数据上报的学校。Schools that reported within 7 days."),
        stat("当前告警 Alerts firing",
             [query('count(last_over_time(ALERTS{alertstate="firing",county="$county"}[2m])) or vector(0)')],
             unit="none", low=0, high=None, steps=thresholds("green", (1, YELLOW), (5, RED)), decimals=0,
             description="本县正在触发的告警数（含被抑制的）。Alerts firing for this county."),
    ]


def schools_table() -> dict:
    """One row per school, pass/fail per target; the school name opens its own board."""
    figures = [
        ("A", "schoolnet:school_broadband_up:bool", "宽带 Broadband", {"mappings": UP_DOWN, "colour": True}),
        ("B", "schoolnet:school_broadband_availability:ratio_24h", "24 小时可用率 Availability 24h",
         {"unit": "percentunit", "decimals": 2}),
        ("C", "schoolnet:school_egress_download_mbps:median_7d", "出口中位数 Egress median",
         {"unit": "Mbits", "decimals": 0, "steps": target_met(100), "colour": True}),
        ("D", "schoolnet:school_egress_compliant:bool", "出口达标 Egress", {"mappings": PASS_FAIL, "colour": True}),
        ("E", "schoolnet:school_classes_ready:ratio_7d", "班级普及率 Classes ready",
         {"unit": "percentunit", "decimals": 0, "steps": target_met(1), "colour": True}),
        ("F", "schoolnet:school_sync_ready:last_session", "同步课堂 Sync classroom",
         {"mappings": PASS_FAIL, "colour": True}),
        ("G", "schoolnet:school_agent_up:bool", "代理 Agent", {"mappings": UP_DOWN, "colour": True}),
    ]
    # max by (county, school): one row per school, and no __name__ column, which would
    # keep Grafana's merge from joining the columns into one row.
    # Each query carries the school's name (school_named), so the merged row shows it.
    queries = [query(school_named(f"max by (county, school) ({name}{IN_COUNTY})"), table=True)
               for _, name, _, _ in figures]
    columns = [name_column("school_name", "学校名称 School name"),
               *(column(ref, title, **props) for ref, _, title, props in figures)]
    return table(
        "各校达标情况 Schools against the targets", queries, columns,
        links=[link_column("school", "学校详情 School detail", SCHOOL_BOARD)],
        height=12,
        description="空白表示没有数据（例如非乡村学校没有同步课堂）。A blank cell means no data.",
    )


def trends() -> list[dict]:
    return [
        timeseries(
            "达标趋势 Targets over time",
            [
                query(f"schoolnet:county_broadband_up:ratio{IN_COUNTY}", "宽带接入 broadband"),
                query(f"schoolnet:county_egress_compliant:ratio{IN_COUNTY}", "出口达标 egress"),
                query(f"schoolnet:county_classes_ready:ratio{IN_COUNTY}", "班级就绪（上课时间）classes ready"),
                query(f"schoolnet:county_sync_rural_ready:ratio{IN_COUNTY}", "乡村同步课堂 rural sync"),
            ],
            unit="percentunit", high=1, width=24,
            description="各项县级指标随时间的变化。The county figures over time.",
        ),
    ]


def build() -> dict:
    panels = [
        row("四项指标 The four targets"),
        *targets(),
        *county_status(),
        row("各校 Schools"),
        schools_table(),
        row("趋势 Trends"),
        *trends(),
    ]
    return board(
        UID, "县域学校信息化达标总览 · County overview", panels, variables=[COUNTY],
        description="学校宽带、出口带宽、多媒体教室、同步课堂四项指标。The four informatisation targets.",
    )

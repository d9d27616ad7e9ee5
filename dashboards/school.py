"""One school: is its line up, how fast is it, is a slow test a busy line, is the gateway
healthy. What county IT opens after a phone call from the school.
"""

from __future__ import annotations

from dashboards.grafana import (
    COUNTY,
    SCHOOL,
    UP_DOWN,
    YELLOW,
    board,
    query,
    row,
    school_name_stat,
    stat,
    state_timeline,
    target_met,
    thresholds,
    timeseries,
)

UID = "schoolnet-school"
AT_SCHOOL = '{county="$county", school="$school"}'


def _at_school(metric: str, *matchers: str) -> str:
    """metric{county="$county", school="$school", extra matchers...}."""
    return metric + AT_SCHOOL[:-1] + "".join(f", {m}" for m in matchers) + "}"


def now() -> list[dict]:
    return [
        stat("当前宽带 Broadband now", [query(f"schoolnet:school_broadband_up:bool{AT_SCHOOL}")],
             unit="none", mappings=UP_DOWN, decimals=0, width=4),
        stat("1 小时可用率 Availability 1h",
             [query(f"schoolnet:school_broadband_availability:ratio_1h{AT_SCHOOL}")], decimals=2, width=4),
        stat("24 小时可用率 Availability 24h",
             [query(f"schoolnet:school_broadband_availability:ratio_24h{AT_SCHOOL}")], decimals=2, width=4),
        stat("30 天可用率 Availability 30d",
             [query(f"schoolnet:school_broadband_availability:ratio_30d{AT_SCHOOL}")], decimals=2, width=4),
        stat("出口带宽中位数 Egress median (7d)",
             [query(f"schoolnet:school_egress_download_mbps:median_7d{AT_SCHOOL}")],
             unit="Mbits", high=None, steps=target_met(100), decimals=0, width=4,
             description="近 7 天定时测速下行中位数（目标 100 Mbps）。Median scheduled download, 7 days."),
        stat("监测代理 Agent", [query(f"schoolnet:school_agent_up:bool{AT_SCHOOL}")],
             unit="none", mappings=UP_DOWN, decimals=0, width=4),
    ]


def reachability() -> list[dict]:
    return [
        state_timeline("宽带通断 Uplink up/down", [query(_at_school("schoolnet_broadband_up"), "宽带 broadband")],
                       mappings=UP_DOWN, width=24, height=4,
                       description="每 30 秒一次：任一检测目标可达即为通。Every 30 s: up when any target answers."),
        timeseries("检测目标时延 Target RTT",
                   [query(_at_school("schoolnet_broadband_target_rtt_ms"), "{{target}} ({{method}})")],
                   unit="ms"),
        timeseries("检测目标丢包 Target loss",
                   [query(_at_school("schoolnet_broadband_target_loss_pct"), "{{target}} ({{method}})")],
                   unit="percent", high=100),
    ]


def _engine_limited(figures: str) -> str:
    """Only the figures of tests the agent flagged engine_limited (the same point's labels)."""
    return f"{figures} and {_at_school('schoolnet_speedtest_engine_limited')} == 1"


def speed_tests() -> list[dict]:
    """Seven days of tests against the 100 Mbps line, and what else used the line then."""
    return [
        timeseries(
            "测速历史 Speed tests",
            [
                query(_at_school("schoolnet_speedtest_download_mbps", 'error=""'), "下行 download ({{trigger}})"),
                query(_at_school("schoolnet_speedtest_upload_mbps", 'error=""'), "上行 upload ({{trigger}})"),
                query(_engine_limited(_at_school("schoolnet_speedtest_download_mbps", 'error=""')),
                      "下行·引擎受限 download, engine-limited ({{trigger}})"),
                query(_engine_limited(_at_school("schoolnet_speedtest_upload_mbps", 'error=""')),
                      "上行·引擎受限 upload, engine-limited ({{trigger}})"),
                query(f"schoolnet:school_egress_download_mbps:median_7d{AT_SCHOOL}", "7 天中位数 median"),
            ],
            unit="Mbits", line_at=100, points=True, time_from="7d", width=16,
            description="红线为 100 Mbps 目标。“引擎受限”：线路往返时延长（带宽×时延 ≥ 1.25 MB）或上传计时超出"
                        "测试时长 10% 以上，speedtest-cli 引擎测得偏低，请改用 iperf3 或 http 方式测速。"
                        "The red line is the 100 Mbps target. Engine-limited: a long line (rate x round "
                        "trip >= 1.25 MB) or an upload timed 10 % or more past the test's length; "
                        "speedtest-cli's engine reads low there: use the iperf3 or http backend.",
        ),
        timeseries(
            "测速时背景流量 Background share during tests",
            [
                query(_at_school("schoolnet_speedtest_background_pct"), "背景流量 background"),
                query(_at_school("schoolnet_speedtest_cpu_max_pct"), "CPU 最高 cpu max"),
            ],
            unit="percent", high=100, line_at=90, points=True, time_from="7d", width=8,
            description="背景流量占比高：线路繁忙而非线路慢；CPU 超过 90%：测速结果偏低。"
                        "A high background share means a busy line, not a slow one; "
                        "CPU above 90 % means the test under-reports.",
        ),
    ]


def host_health() -> list[dict]:
    return [
        timeseries(
            "网关资源 Gateway CPU, memory, disk",
            [
                query(f"max by (school) ({_at_school('schoolnet_health_cpu_pct')})", "CPU"),
                query(f"max by (school) ({_at_school('schoolnet_health_mem_pct')})", "内存 memory"),
                query(f"max by (school) ({_at_school('schoolnet_health_disk_pct')})", "磁盘 disk"),
            ],
            unit="percent", high=100, line_at=90,
        ),
        timeseries(
            "离线缓存 Spool",
            [
                query(f"max by (school) ({_at_school('schoolnet_health_spool_depth')})", "待发送 queued"),
                query(f"max by (school) ({_at_school('schoolnet_health_spool_dropped_total')})", "已丢弃 dropped"),
            ],
            unit="none", line_at=300, width=8,
            description="超过 300 条持续 15 分钟会告警。Alerts above 300 for 15 minutes.",
        ),
        stat("运行时间 Uptime", [query(f"max(last_over_time({_at_school('schoolnet_health_uptime_s')}[3m]))")],
             unit="s", high=None, steps=thresholds(YELLOW, (3600, "green")), decimals=0, width=4,
             description="网关开机时长；很短说明刚重启。Time since the gateway booted."),
    ]


def build() -> dict:
    panels = [
        row("现在 Now"),
        school_name_stat(),
        *now(),
        row("宽带 Broadband"),
        *reachability(),
        row("出口带宽 Egress"),
        *speed_tests(),
        row("网关 Gateway"),
        *host_health(),
    ]
    return board(UID, "学校详情 · School detail", panels, variables=[COUNTY, SCHOOL],
                 description="一所学校的宽带、测速与网关状态。One school's line, speed tests and gateway.")


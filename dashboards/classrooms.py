"""One school's classrooms: which classes are ready, which device is down, which
projector lamp is near its end. Device series carry a `status` label that changes with
the device's state, so every device query takes max over it (`max by (...)`).
"""

from __future__ import annotations

from dashboards.grafana import (
    COUNTY,
    GREEN,
    PASS_FAIL,
    RED,
    SCHOOL,
    UP_DOWN,
    YELLOW,
    bar_gauge,
    board,
    classroom_named,
    column,
    name_column,
    query,
    row,
    school_name_stat,
    stat,
    table,
    thresholds,
    timeseries,
)

UID = "schoolnet-classrooms"
AT_SCHOOL = 'county="$county", school="$school"'
IN_HOURS = [
    {
        "type": "value",
        "options": {
            "0": {"text": "非上课时间 out of hours", "color": "blue", "index": 0},
            "1": {"text": "上课时间 school hours", "color": GREEN, "index": 1},
        },
    }
]
DEVICE = "county, school, classroom, device, name, kind, required"
"""county and school stay so that classroom_named can join the classroom's name."""
CLASS = "county, school, classroom"
LAMP_STEPS = thresholds(GREEN, (3000, YELLOW), (4500, RED))
"""Projector lamps typically last 3000-5000 hours; order a spare from 3000."""


def now() -> list[dict]:
    return [
        stat("当前班级就绪率 Classes ready now", [query(f"schoolnet:school_classes_ready:ratio{{{AT_SCHOOL}}}")],
             decimals=0, width=8,
             description="仅上课时间有值。Only in school hours; blank out of hours."),
        stat("7 天班级就绪率 Classes ready (7d)",
             [query(f"schoolnet:school_classes_ready:ratio_7d{{{AT_SCHOOL}}}")], decimals=0, width=8,
             description="近 7 天上课时间内的平均。Average over the school-hours minutes of 7 days."),
        stat("上课时间 School hours",
             [query(f"max(last_over_time(schoolnet_classrooms_in_hours{{{AT_SCHOOL}}}[3m]))")],
             unit="none", mappings=IN_HOURS, steps=thresholds("blue"), decimals=0, width=8,
             description="按学校作息表与假期；非上课时间设备关机不算故障。"
                         "From the school's timetable and holidays; devices off out of hours are no fault."),
    ]


def class_grid() -> dict:
    """One tile per class, green when its required devices all answer."""
    return stat(
        "各班就绪 Classes",
        [query(classroom_named(f"max by ({CLASS}) (last_over_time(schoolnet_classrooms_class_ready{{{AT_SCHOOL}}}[3m]))"),
               "{{classroom_name}}（{{classroom}}）")],
        unit="none", mappings=PASS_FAIL, decimals=0, width=24, height=6, text_mode="value_and_name",
        description="必需设备全部在线的班级为就绪。A class is ready when all its required devices answer.",
    )


def devices() -> list[dict]:
    selector = f"{{{AT_SCHOOL}}}"
    figures = [
        ("A", f"max by ({DEVICE}) (last_over_time(schoolnet_classrooms_device_up{selector}[3m]))",
         column("A", "在线 Up", mappings=UP_DOWN, colour=True)),
        ("B", f"max by ({DEVICE}) (last_over_time(schoolnet_classrooms_device_rtt_ms{selector}[3m]))",
         column("B", "时延 RTT", unit="ms", decimals=1)),
        ("C", f"max by ({DEVICE}) (last_over_time(schoolnet_classrooms_device_power_on{selector}[3m]))",
         column("C", "电源 Power", mappings=UP_DOWN)),
        ("D", f"max by ({DEVICE}) (last_over_time(schoolnet_classrooms_device_lamp_hours{selector}[1h]))",
         column("D", "灯泡时数 Lamp hours", unit="h", steps=LAMP_STEPS, colour=True)),
    ]
    return [
        table("设备 Devices", [query(classroom_named(expr), table=True) for _, expr, _ in figures],
              [name_column("classroom_name", "班级 Class"), *(c for _, _, c in figures)],
              hide=("Time", "county", "school"), width=16, height=10,
              description="电源与灯泡时数仅 PJLink 投影仪有。Power and lamp hours come from PJLink projectors."),
        bar_gauge("投影仪灯泡时数 Projector lamp hours",
                  [query(classroom_named(f"max by ({CLASS}, name) (last_over_time("
                                         f"schoolnet_classrooms_device_lamp_hours{selector}[1h]))"),
                         "{{classroom_name}} {{name}}")],
                  unit="h", steps=LAMP_STEPS, high=6000, width=8, height=10,
                  description="灯泡寿命通常 3000–5000 小时。Lamps usually last 3000-5000 hours."),
    ]


def history() -> list[dict]:
    return [
        timeseries(
            "班级就绪率 Classes ready over time",
            [query(f"schoolnet:school_classes_ready:ratio{{{AT_SCHOOL}}}", "就绪率 ready")],
            unit="percentunit", high=1, width=12,
        ),
        timeseries(
            "投影仪故障标志 Projector error flags (PJLink)",
            [query(classroom_named(f"max by ({CLASS}, name) (schoolnet_classrooms_device_err_{flag}{{{AT_SCHOOL}}})"),
                   f"{{{{classroom_name}}}} {{{{name}}}} {flag}")
             for flag in ("lamp", "fan", "temperature", "cover", "filter", "other")],
            unit="none", high=2, line_at=2, width=12,
            description="0 正常，1 警告，2 故障。0 no error, 1 warning, 2 error.",
        ),
    ]


def build() -> dict:
    panels = [
        row("现在 Now"),
        school_name_stat(),
        *now(),
        class_grid(),
        row("设备 Devices"),
        *devices(),
        row("历史 History"),
        *history(),
    ]
    return board(UID, "多媒体教室 · Classrooms", panels, variables=[COUNTY, SCHOOL],
                 description="班班通：各班多媒体教学设备是否就绪。Multimedia equipment in every class.")

"""The four sheets and their columns: zh-CN headers as the template writes them, with the
English and other spellings a county's own workbook may already use."""

from __future__ import annotations

from roster.model import SCHOOL_TYPES
from roster.tables import Column, SheetSpec

YES, NO = "是", "否"
RURAL, URBAN = "乡村", "城区"
KIND_NAMES = {
    "interactive_panel": "交互式一体机", "projector": "投影仪", "electronic_whiteboard": "电子白板",
    "smart_blackboard": "智慧黑板", "classroom_pc": "班级电脑", "document_camera": "实物展台",
    "sync_endpoint": "同步课堂终端", "other": "其他",
}  # fmt: skip
CHECKS = ("icmp", "tcp:80", "tcp:443", "http", "pjlink")

SCHOOLS = SheetSpec("schools", "学校", ("schools", "school", "学校名单"), (
    Column("county", "县代码", ("county", "county id", "县", "县区代码"), True, "县（区）代码，如 hx"),
    Column("id", "学校标识码", ("school id", "school", "学校代码", "id"), True,
           "10位学校标识码，或小写字母数字代码"),
    Column("name", "学校名称", ("name", "school name"), True, "学校全称"),
    Column("type", "学校类型", ("type", "school type"), True, "/".join(SCHOOL_TYPES), SCHOOL_TYPES),
    Column("rural", "城乡", ("rural", "乡村城区", "城乡类型"), True, "乡村 或 城区", (RURAL, URBAN)),
    Column("enrolment", "在校生数", ("enrolment", "enrollment", "pupils", "学生数"), False, "整数"),
    Column("contracted_mbps", "签约带宽Mbps", ("contracted bandwidth", "contracted", "签约带宽"), False,
           "运营商合同带宽，Mbps"),
    Column("egress_target_mbps", "出口带宽目标Mbps", ("egress target", "target", "带宽目标"), False,
           "空 = 按设置表的目标"),
    Column("broker_user", "消息服务器账号", ("broker user", "mqtt user"), False, "空 = 学校标识码"),
    Column("speed_test_server", "测速服务器", ("speed test server", "speedtest server"), False,
           "空 = 设置表的测速服务器"),
    Column("timezone", "时区", ("timezone", "time zone"), False, "空 = Asia/Shanghai"),
), (
    ("hx", "3652000123", "花溪区大庄中学", "初中", RURAL, 620, 200, None, None, None, None),
))

CLASSROOMS = SheetSpec("classrooms", "教室设备", ("classrooms", "devices", "教室", "设备"), (
    Column("school", "学校标识码", ("school id", "school", "学校代码"), True, "学校表中的学校标识码"),
    Column("class_id", "班级代码", ("class id", "classroom id", "class"), True, "如 c7-1"),
    Column("class_name", "班级名称", ("class name", "classroom name"), True, "如 七年级(1)班"),
    Column("kind", "设备类型", ("device kind", "kind", "设备"), False,
           "空 = 本班无多媒体设备", tuple(KIND_NAMES.values())),
    Column("device_id", "设备代码", ("device id",), False, "空 = 按设备类型生成"),
    Column("device_name", "设备名称", ("device name",), False, "空 = 设备类型"),
    Column("address", "地址", ("address", "host", "ip", "IP地址"), False, "IP 地址或主机名；http 检测可填网址"),
    Column("check", "检测方式", ("check", "检测"), False, "icmp / tcp:端口 / http / pjlink", CHECKS),
    Column("required", "必需", ("required",), False, "是 / 否（空 = 是）", (YES, NO)),
    Column("password_file", "PJLink密码文件", ("pjlink password file", "password file", "密码文件"), False,
           "网关上的文件路径，如 /etc/schoolnet/pjlink.password（不要填写密码本身）"),
), (
    ("3652000123", "c7-1", "七年级(1)班", "交互式一体机", None, None, "198.51.100.11", "tcp:80", YES, None),
    ("3652000123", "c8-1", "八年级(1)班", "投影仪", None, None, "198.51.100.31", "pjlink", YES,
     "/etc/schoolnet/pjlink.password"),
))

COUNTIES = SheetSpec("counties", "县", ("counties", "county", "县区"), (
    Column("id", "县代码", ("county id", "county", "id"), True, "小写字母数字，如 hx"),
    Column("name", "县名称", ("county name", "name"), True, "如 花溪区"),
    Column("email", "告警邮箱", ("email", "alert email", "邮箱"), False, "多个用 ; 分隔"),
    Column("wecom_webhook_file", "企业微信密钥文件", ("wecom", "wecom secret file", "企业微信"), False,
           "告警服务器上的文件路径（不要填写密钥本身）"),
    Column("dingtalk_webhook_file", "钉钉密钥文件", ("dingtalk", "dingtalk secret file", "钉钉"), False,
           "告警服务器上的文件路径（不要填写密钥本身）"),
), (
    ("hx", "花溪区", "dianjiao@hx.edu.example.cn", None, "/etc/schoolnet-central/dingtalk-hx.token"),
))

SETTING_NAMES = {
    "egress_target": "出口带宽目标", "term": "学期", "holiday": "假期", "extra_school_day": "调休上课",
    "maintenance": "维护窗口", "broker_url": "消息服务器", "lesson": "课节", "school_hours": "在校时间",
    "speed_test_backend": "测速方式", "speed_test_server": "测速服务器", "speed_test_times": "测速时间",
    "broadband_target": "宽带检测目标", "collectors": "汇聚服务数",
}  # fmt: skip
SETTINGS = SheetSpec("settings", "设置", ("settings", "配置"), (
    Column("setting", "设置项", ("setting", "item"), True, "/".join(SETTING_NAMES.values()),
           tuple(SETTING_NAMES.values())),
    Column("subject", "对象", ("subject", "for", "名称"), False,
           "学校类型、学期名称、假期名称、县代码或 县代码/学校标识码"),
    Column("value", "值", ("value", "from", "开始"), True, "数值、日期 YYYY-MM-DD、时间 HH:MM 或网址"),
    Column("until", "至", ("until", "to", "end", "结束"), False, "日期或时间范围的结束（含）"),
    Column("note", "说明", ("note", "remark", "备注"), False, ""),
), (
    ("出口带宽目标", None, 100, None, "默认目标 default target"),
    ("出口带宽目标", "高中", 1000, None, "千兆入校"),
    ("消息服务器", None, "mqtts://mqtt.hx.edu.example:8883", None, None),
    ("测速方式", None, "iperf3", None, None),
    ("测速服务器", None, "iperf.hx.edu.example:5201", None, None),
    ("学期", "2026-2027学年第一学期", "2026-09-01", "2027-01-22", None),
    ("假期", "国庆节", "2026-10-01", "2026-10-07", None),
    ("调休上课", None, "2026-10-10", None, "周六补课"),
    ("维护窗口", "hx", "2026-11-07 22:00", "2026-11-08 06:00", "城域网割接"),
    ("课节", None, "08:00", "08:45", "第1节"),
    ("课节", None, "08:55", "09:40", "第2节"),
))

SHEETS = (SCHOOLS, CLASSROOMS, COUNTIES, SETTINGS)

SCHOOL_TYPES_ALL = {**{t: t for t in SCHOOL_TYPES}, "九年制": "九年一贯制", "完中": "完全中学"}
"""Accepted spellings -> the school type the settings and reports use."""

"""agent.config: every mistake is reported with its file, line and key path; values and
defaults come out as written; secrets stay hidden; timetable questions answer locally."""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agent.config import DEFAULT_TARGETS, EXAMPLE_CONFIG, Timetable, load_config
from schoolnet_core.config import (
    ConfigError,
    ConfigProblem,
    Secret,
    SecretRef,
    read_secret,
)
from schoolnet_core.config.parsers import WEEKDAYS, Check, DateRange, TimeRange

BASE = {
    "school": "school:\n  id: hx-test-xx\n  name: 测试中学\n  county: hx\n  rural: true\n",
    "broker": ("broker:\n  url: mqtts://mqtt.hx.example:8883\n"
               "  password_file: /etc/schoolnet/mqtt.password\n"),
    "timetable": 'timetable:\n  lessons: ["08:00-08:45", "08:55-09:40", "14:00-14:45"]\n',
}
CLASSROOMS = "classrooms:\n  - {id: c7-1, name: 七年级(1)班}\n"


def config_text(**sections: str | None) -> str:
    """The minimal valid config with some sections replaced, added or (None) removed."""
    merged = {**BASE, **sections}
    return "".join(text for text in merged.values() if text)


def write(tmp_path: Path, text: str | bytes, name: str = "agent.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, marker: str) -> int:
    lines = [n for n, line in enumerate(text.splitlines(), 1) if marker in line]
    assert len(lines) == 1, f"marker {marker!r} must be on exactly one line, found {lines}"
    return lines[0]


def problems_of(path: Path) -> tuple[ConfigProblem, ...]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value.problems


def only_problem(path: Path) -> ConfigProblem:
    problems = problems_of(path)
    assert len(problems) == 1, "\n".join(map(str, problems))
    return problems[0]


# (sections to change, marker on the reported line, key path, part of the message)
MISTAKES = [
    pytest.param(
        {"broadband": "broadband:\n  intervl_s: 30\n"}, "intervl_s", "broadband.intervl_s",
        "unknown key 'intervl_s'; did you mean 'interval_s'? "
        "allowed: interval_s, timeout_s, targets", id="unknown-key-suggests"),
    pytest.param(
        {"school": "school:\n  id: hx-test-xx\n  name: 测试中学\n  county: hx\n"},
        "school:", "school", "missing required key 'rural'", id="missing-required-key"),
    pytest.param(
        {"timetable": None}, "school:", "(top level)", "missing required key 'timetable'",
        id="missing-required-section"),
    pytest.param(
        {"broadband": "broadband:\n  interval_s: thirty\n"}, "thirty", "broadband.interval_s",
        "must be a whole number, got 'thirty'", id="text-for-int"),
    pytest.param(
        {"broadband": 'broadband:\n  interval_s: "30"\n'}, '"30"', "broadband.interval_s",
        "must be a whole number, got '30'; remove the quotes", id="quoted-int"),
    pytest.param(
        {"broadband": "broadband:\n  interval_s: 3\n"}, "interval_s", "broadband.interval_s",
        "must be between 5 and 3600, got 3", id="out-of-range"),
    pytest.param(
        {"broadband": "broadband:\n  interval_s: 10\n  timeout_s: 10\n"}, "timeout_s",
        "broadband.timeout_s", "must be shorter than interval_s (10)", id="timeout-too-long"),
    pytest.param(
        {"school": BASE["school"].replace("hx-test-xx", "HX-Test")}, "HX-Test", "school.id",
        "'HX-Test' is not a valid id", id="id-upper-case"),
    pytest.param(
        {"school": BASE["school"].replace("hx-test-xx", "hx test")}, "hx test", "school.id",
        "try 'hx-test'", id="id-space"),
    pytest.param(
        {"school": BASE["school"].replace("county: hx", "county: 花溪")}, "花溪",
        "school.county", "write ids in pinyin", id="id-unicode"),
    pytest.param(
        {"broadband": 'broadband:\n  targets:\n    - {name: 县网, check: "tcp:abc", host: 192.0.2.1}\n'},
        "tcp:abc", "broadband.targets[0].check",
        "'tcp:abc': the port must be a number from 1 to 65535", id="check-tcp-abc"),
    pytest.param(
        {"broadband": 'broadband:\n  targets:\n    - {name: 县网, check: "tcp:70000", host: h}\n'},
        "tcp:70000", "broadband.targets[0].check",
        "the port must be a number from 1 to 65535", id="check-tcp-70000"),
    pytest.param(
        {"broadband": 'broadband:\n  targets:\n    - {name: 县网, check: "ftp://x"}\n'},
        "ftp://x", "broadband.targets[0].check",
        "unknown check 'ftp://x'; allowed: icmp, tcp:PORT, dns[:PORT], http(s)://URL",
        id="check-ftp"),
    pytest.param(
        {"broadband": "broadband:\n  targets:\n    - {name: 县网, check: pjlink, host: h}\n"},
        "pjlink", "broadband.targets[0].check", "check 'pjlink' cannot be used here",
        id="check-pjlink-not-for-targets"),
    pytest.param(
        {"broadband": "broadband:\n  targets:\n    - {name: DNS, check: dns, host: 223.5.5.5}\n"},
        "223.5.5.5", "broadband.targets[0]",
        "missing required key 'query': check 'dns' needs a name to look up",
        id="dns-without-query"),
    pytest.param(
        {"broadband": 'broadband:\n  targets:\n    - name: 平台\n      check: "https://p.example/"\n'
                      "      host: p.example\n"},
        "host: p.example", "broadband.targets[0].host",
        "'host' is only used when the check is not a URL", id="url-check-with-host"),
    pytest.param(
        {"speed_test": 'speed_test:\n  times: ["25:00"]\n'}, "25:00", "speed_test.times[0]",
        "'25:00' is not a time of day; use HH:MM", id="bad-time"),
    pytest.param(
        {"speed_test": 'speed_test:\n  times: ["08:30"]\n'}, "08:30", "speed_test.times[0]",
        "08:30 is during lesson '08:00-08:45'", id="speed-test-during-lesson"),
    pytest.param(
        {"speed_test": "speed_test:\n  backend: iperf3\n"}, "speed_test:", "speed_test",
        "missing required key 'server': backend iperf3 needs the iperf3 server",
        id="iperf3-without-server"),
    pytest.param(
        {"speed_test": "speed_test:\n  backend: speedtest\n  server: 4711\n"}, "4711",
        "speed_test.server", "'4711' is a speedtest.net server id; the agent only tests against the county's own",
        id="speedtest-server-id-would-leave-the-county"),
    pytest.param(
        {"speed_test": "speed_test:\n  backend: iperf3\n  server: http://iperf.example\n"},
        "http://iperf.example", "speed_test.server", "is not HOST[:PORT] of an iperf3 server",
        id="iperf3-server-is-not-a-url"),
    pytest.param(
        {"school": BASE["school"].replace("id: hx-test-xx", "id:")}, "id:", "school.id",
        "needs a value", id="empty-required-value"),
    pytest.param(
        {"timetable": "timetable:\n  lessons: 08:00-08:45\n"}, "lessons",
        "timetable.lessons", "must be a list (one '- ' line per entry), found '08:00-08:45'",
        id="list-expected"),
    pytest.param(
        {"speed_test": "speed_test:\n  interval_min: 10\n"}, "interval_min",
        "speed_test.interval_min", "must be 0 (off) or at least 30 minutes", id="interval-min"),
    pytest.param(
        {"timetable": 'timetable:\n  lessons:\n    - "08:00-08:45"\n    - "08:30-09:10"\n'},
        "08:30-09:10", "timetable.lessons[1]",
        "'08:30-09:10' starts before the previous lesson '08:00-08:45' ends",
        id="lessons-overlap"),
    pytest.param(
        {"timetable": 'timetable:\n  lessons: ["09:00-08:00"]\n'}, "09:00-08:00",
        "timetable.lessons[0]", "the end must be after the start", id="lesson-reversed"),
    pytest.param(
        {"timetable": BASE["timetable"] + '  school_hours: "08:30-17:00"\n'}, "school_hours",
        "timetable.school_hours", "does not include lesson '08:00-08:45'",
        id="school-hours-miss-lesson"),
    pytest.param(
        {"timetable": BASE["timetable"] + "  holidays: [2026-02-30]\n"}, "holidays",
        "timetable.holidays[0]", "'2026-02-30' is not a date; use YYYY-MM-DD",
        id="bad-holiday-date"),
    pytest.param(
        {"timetable": BASE["timetable"] + "  holidays:\n    - 2026-10-07..2026-10-01\n"},
        "2026-10-07..", "timetable.holidays[0]", "the range ends before it starts",
        id="reversed-holiday-range"),
    pytest.param(
        {"timetable": BASE["timetable"] + "  holidays: [2026-10-01..2026-10-07]\n"
                                          "  extra_school_days: [2026-10-03]\n"},
        "extra_school_days", "timetable.extra_school_days[0]",
        "'2026-10-03' is also in holidays (2026-10-01..2026-10-07)",
        id="make-up-day-in-holiday"),
    pytest.param(
        {"timetable": BASE["timetable"] + "  timezone: Asia/Beijing\n"}, "Asia/Beijing",
        "timetable.timezone", "unknown time zone 'Asia/Beijing'", id="unknown-timezone"),
    pytest.param(
        {"broker": BASE["broker"] + "  password: hunter2\n"}, "hunter2", "broker.password",
        "do not put secrets in the config; use password_file or password_env",
        id="password-in-config"),
    pytest.param(
        {"broker": BASE["broker"] + "  password_env: MQTT_PW\n"}, "MQTT_PW",
        "broker.password_env", "give only one of password_file or password_env",
        id="both-password-sources"),
    pytest.param(
        {"broker": "broker:\n  url: mqtts://mqtt.hx.example\n"}, "broker:", "broker",
        "missing password_file or password_env", id="no-password-source"),
    pytest.param(
        {"broker": BASE["broker"].replace("mqtts://mqtt.hx.example:8883", "mqtt://m.example")},
        "mqtt://", "broker.url", "set allow_plaintext: true", id="plaintext-refused"),
    pytest.param(
        {"broker": BASE["broker"] + "  cert_file: client.pem\n"}, "cert_file",
        "broker.cert_file", "'cert_file' also needs 'key_file'", id="cert-without-key"),
    pytest.param(
        {"classrooms": CLASSROOMS + "  - {id: c7-1, name: 七年级(2)班}\n"}, "七年级(2)班",
        "classrooms[1].id", "duplicate id 'c7-1' (already used on line", id="duplicate-room"),
    pytest.param(
        {"classrooms": "classrooms:\n  - id: c7-1\n    name: 七年级(1)班\n    devices:\n"
                       "      - {id: pc, kind: classroom_pc, host: h1, check: icmp}\n"
                       "      - {id: pc, kind: classroom_pc, host: h2, check: icmp}\n"},
        "h2", "classrooms[0].devices[1].id", "duplicate id 'pc'", id="duplicate-device"),
    pytest.param(
        {"classrooms": "classrooms:\n  - id: c7-1\n    name: 七年级(1)班\n    devices:\n"
                       "      - {id: pc, kind: projecter, host: h1, check: icmp}\n"},
        "projecter", "classrooms[0].devices[0].kind", "did you mean 'projector'?",
        id="device-kind-typo"),
    pytest.param(
        {"classrooms": "classrooms:\n  - id: c7-1\n    name: 七年级(1)班\n    devices:\n"
                       "      - {id: pc, kind: classroom_pc, host: h1, check: icmp,\n"
                       "         password_env: PC_PW}\n"},
        "PC_PW", "classrooms[0].devices[0].password_env",
        "'password_env' is only used with check: pjlink", id="password-without-pjlink"),
    pytest.param(
        {"classrooms": "classrooms:\n  - id: c7-1\n    name: 七年级(1)班\n    devices:\n"
                       "      - {id: pc, kind: classroom_pc, host: 192.0.2.9 , check: icmp}\n"
                       "      - {id: pj, kind: projector, host: 'pj 1', check: pjlink}\n"},
        "pj 1", "classrooms[0].devices[1].host", "'pj 1' is not a host name or IP address",
        id="host-with-space"),
    pytest.param(
        {"classrooms": CLASSROOMS,
         "sync_classroom": "sync_classroom:\n  platform: {host: sync.example}\n"
                           "  endpoints: [{classroom: c7-1, host: e1, check: icmp}]\n"
                           "  sessions:\n    - {id: s1, classroom: c9-9, days: [tue],"
                           ' start: "09:00", end: "09:45"}\n'},
        "c9-9", "sync_classroom.sessions[0].classroom",
        "unknown classroom 'c9-9'; known classrooms: c7-1", id="session-unknown-room"),
    pytest.param(
        {"classrooms": CLASSROOMS,
         "sync_classroom": "sync_classroom:\n  platform: {host: sync.example}\n"
                           "  endpoints: [{classroom: c7-1, host: e1, check: icmp}]\n"
                           "  sessions:\n    - {id: s1, classroom: c7-1, days: [tue],"
                           ' start: "09:45", end: "09:00"}\n'},
        "09:45", "sync_classroom.sessions[0].end", "must be after start (09:45)",
        id="session-ends-before-start"),
    pytest.param(
        {"sync_classroom": "sync_classroom:\n  platform: {host: sync.example}\n"},
        "sync_classroom:", "sync_classroom", "missing required key 'endpoints'",
        id="sync-without-endpoints"),
    pytest.param(
        {"health": "health: 60\n"}, "health:", "health",
        "must be a mapping (key: value lines), found '60'", id="section-not-mapping"),
    pytest.param(
        {"school": BASE["school"] + "  rural: false\n"}, "rural: false", "school.rural",
        "'rural' is given twice (first on line 5)", id="duplicate-key"),
]


@pytest.mark.parametrize(("sections", "marker", "path", "message"), MISTAKES)
def test_mistake_is_reported_with_file_line_path_and_fix(tmp_path, sections, marker, path,
                                                         message):
    text = config_text(**sections)
    file = write(tmp_path, text)
    problem = only_problem(file)
    assert (problem.file, problem.line, problem.path) == (str(file), line_of(text, marker), path)
    assert message in problem.message


def test_all_problems_are_reported_at_once_in_file_order(tmp_path):
    text = config_text(
        school=BASE["school"].replace("rural: true", "rural: maybe"),
        broadband="broadband:\n  intervl_s: 30\n",
        speed_test="speed_test:\n  streams: 99\n",
    )
    file = write(tmp_path, text)
    problems = problems_of(file)
    assert [(p.line, p.path) for p in problems] == [
        (line_of(text, "maybe"), "school.rural"),
        (line_of(text, "intervl_s"), "broadband.intervl_s"),
        (line_of(text, "streams"), "speed_test.streams"),
    ]
    assert problems[0].message == "must be true or false, got 'maybe'"
    with pytest.raises(ConfigError) as caught:
        load_config(file)
    assert str(caught.value).splitlines() == [str(p) for p in problems]


def test_problem_prints_as_file_line_path_message():
    problem = ConfigProblem("/etc/schoolnet/agent.yaml", 7, "broker.url", "bad")
    assert str(problem) == "/etc/schoolnet/agent.yaml:7: broker.url: bad"


def test_yaml_syntax_error_gives_its_line(tmp_path):
    file = write(tmp_path, "school:\n  id: hx-a\n  name: [unclosed\nbroker:\n  url: x\n")
    problem = only_problem(file)
    assert (problem.file, problem.path) == (str(file), "(file)")
    assert problem.line == 4
    assert problem.message.startswith("YAML syntax error:")


def test_tab_indentation_says_use_spaces(tmp_path):
    problem = only_problem(write(tmp_path, "school:\n\tid: hx-a\n"))
    assert problem.line == 2
    assert "indent with spaces, not tabs" in problem.message


@pytest.mark.parametrize("text", ["", "# 只有注释 (only comments)\n"])
def test_empty_file(tmp_path, text):
    file = write(tmp_path, text)
    problem = only_problem(file)
    assert (problem.file, problem.line, problem.path) == (str(file), 1, "(file)")
    assert "the file is empty" in problem.message


def test_missing_file(tmp_path):
    file = tmp_path / "nope.yaml"
    problem = only_problem(file)
    assert (problem.file, problem.line, problem.path) == (str(file), 0, "(file)")
    assert problem.message.startswith("file not found")


def test_top_level_must_be_a_mapping(tmp_path):
    problem = only_problem(write(tmp_path, "\n- school\n- broker\n"))
    assert (problem.line, problem.path) == (2, "(top level)")
    assert "must be a mapping" in problem.message
    assert "allowed keys: school, broker" in problem.message


def test_file_saved_as_gbk_is_refused_with_a_hint(tmp_path):
    text = config_text(school=BASE["school"].replace("测试中学", "测试中学（乡）"))
    problem = only_problem(write(tmp_path, text.encode("gbk")))
    assert problem.line == line_of(text, "测试中学")
    assert "save the file as UTF-8" in problem.message


# ------------------------------------------------------------ values and defaults


def test_example_config_loads_with_expected_values():
    config = load_config(EXAMPLE_CONFIG)
    assert config.school.id == "hx-dazhuang-zx"
    assert config.school.name == "花溪区大庄中学"
    assert config.school.rural is True
    assert (config.broker.host, config.broker.port, config.broker.tls) == (
        "mqtt.hx.edu.example", 8883, True)
    assert config.broker.password.file == "/etc/schoolnet/mqtt.password"
    assert config.broker.password.key_path == "broker.password_file"
    assert len(config.timetable.lessons) == 7
    assert config.timetable.is_school_day(date(2026, 10, 10))  # 调休 Saturday
    assert config.speed_test.server == "iperf.hx.edu.example:5201"
    assert [room.name for room in config.classrooms][:2] == ["七年级(1)班", "七年级(2)班"]
    assert sum(len(room.devices) for room in config.classrooms) == 9
    projector = config.classrooms[2].devices[0]
    assert projector.check == Check("pjlink", port=4352)
    assert projector.password.file == "/etc/schoolnet/pjlink.password"
    sync = config.sync_classroom
    assert [s.classroom for s in sync.sessions] == ["c7-1", "c8-1"]
    assert sync.sessions[0].days == ("tue", "thu")
    assert sync.thresholds.mos_min == 3.6


def test_defaults_fill_optional_sections(tmp_path):
    config = load_config(write(tmp_path, config_text()))
    assert config.broker.username == "hx-test-xx"
    assert config.broker.keepalive_s == 60
    assert config.spool.path == "/var/lib/schoolnet/spool.sqlite"
    assert config.spool.max_messages == 100_000
    timetable = config.timetable
    assert timetable.timezone == "Asia/Shanghai"
    assert timetable.school_days == WEEKDAYS[:5]
    assert timetable.school_hours == TimeRange(time(7, 30), time(15, 15))
    assert (timetable.holidays, timetable.extra_school_days) == ((), ())
    assert config.broadband.interval_s == 30
    assert config.broadband.timeout_s == 2.0
    assert config.broadband.targets == DEFAULT_TARGETS
    assert config.speed_test.backend == "speedtest"
    assert config.speed_test.times == (time(12, 10), time(18, 30))
    assert config.speed_test.target_mbps == 100.0
    assert (config.sweep.interval_s, config.health.interval_s) == (60, 60)
    assert config.classrooms == ()
    assert config.sync_classroom is None


def test_values_are_taken_as_written(tmp_path):
    """Unquoted 12:10 is base-60 in YAML 1.1 and `no` a boolean; the loader reads text."""
    text = config_text(
        school=BASE["school"].replace("county: hx", "county: no"),
        speed_test="speed_test:\n  times: [18:30, 12:10]\n  server: http://10.1.1.1/upload.php\n",
        timetable=BASE["timetable"] + "  holidays: [2026-10-01]\n  school_days: [sat, mon]\n",
    )
    config = load_config(write(tmp_path, text))
    assert config.school.county == "no"
    assert config.speed_test.times == (time(12, 10), time(18, 30))
    assert config.timetable.holidays == (DateRange(date(2026, 10, 1), date(2026, 10, 1)),)
    assert config.timetable.school_days == ("mon", "sat")


def test_plaintext_broker_when_allowed_uses_port_1883(tmp_path):
    broker = ("broker:\n  url: mqtt://mqtt.lan.example\n  allow_plaintext: true\n"
              "  password_env: MQTT_PW\n")
    config = load_config(write(tmp_path, config_text(broker=broker)))
    assert (config.broker.port, config.broker.tls) == (1883, False)
    assert config.broker.password == SecretRef(
        "broker.password_env", env="MQTT_PW", config_file=str(tmp_path / "agent.yaml"), line=9)


def test_probe_defaults_to_pinging_the_platform(tmp_path):
    sync = ("sync_classroom:\n  platform: {host: sync.example, tls: false}\n"
            "  endpoints: [{classroom: c7-1, check: \"http://192.0.2.30/\"}]\n")
    config = load_config(write(tmp_path, config_text(classrooms=CLASSROOMS,
                                                     sync_classroom=sync)))
    assert config.sync_classroom.platform.port == 80
    probe = config.sync_classroom.probe
    assert (probe.method, probe.host, probe.port, probe.count) == ("icmp", "sync.example",
                                                                    None, 50)


# ------------------------------------------------------------------ secrets


def test_relative_password_file_is_next_to_the_config_and_read_stripped(tmp_path):
    (tmp_path / "mqtt.password").write_text("s3cret\n", encoding="utf-8")
    broker = "broker:\n  url: mqtts://m.example\n  password_file: mqtt.password\n"
    config = load_config(write(tmp_path, config_text(broker=broker)))
    assert config.broker.password.file == str(tmp_path / "mqtt.password")
    assert read_secret(config.broker.password).reveal() == "s3cret"


def test_secret_from_environment(monkeypatch):
    monkeypatch.setenv("SCHOOLNET_TEST_PW", "pw-123")
    secret = read_secret(SecretRef("broker.password_env", env="SCHOOLNET_TEST_PW"))
    assert secret.reveal() == "pw-123"


def test_missing_environment_variable_names_the_key(monkeypatch):
    monkeypatch.delenv("SCHOOLNET_TEST_PW", raising=False)
    ref = SecretRef("broker.password_env", env="SCHOOLNET_TEST_PW",
                    config_file="/etc/schoolnet/agent.yaml", line=12)
    with pytest.raises(ConfigError) as caught:
        read_secret(ref)
    assert str(caught.value) == (
        "/etc/schoolnet/agent.yaml:12: broker.password_env: environment variable "
        "SCHOOLNET_TEST_PW is not set; set it in the agent's service environment, "
        "or use a file instead")


@pytest.mark.parametrize(("content", "message"), [
    (None, "cannot read secret file"),
    ("  \n", "is empty"),
])
def test_unusable_secret_file_names_the_key(tmp_path, content, message):
    secret_file = tmp_path / "pw"
    if content is not None:
        secret_file.write_text(content, encoding="utf-8")
    ref = SecretRef("classrooms[0].devices[1].password_file", file=str(secret_file))
    with pytest.raises(ConfigError) as caught:
        read_secret(ref)
    (problem,) = caught.value.problems
    assert problem.path == "classrooms[0].devices[1].password_file"
    assert message in problem.message


def test_secret_never_prints_its_value():
    secret = Secret("hunter2")
    assert repr(secret) == str(secret) == f"{secret}" == "***"
    assert "hunter2" not in repr([secret]) + f"{secret!r}"
    assert secret.reveal() == "hunter2"


# --------------------------------------------------------------- timetable

SHANGHAI = ZoneInfo("Asia/Shanghai")
TIMETABLE = Timetable(
    timezone="Asia/Shanghai",
    school_days=WEEKDAYS[:5],
    lessons=(TimeRange(time(8, 0), time(8, 45)), TimeRange(time(8, 55), time(9, 40))),
    school_hours=TimeRange(time(7, 30), time(17, 30)),
    holidays=(DateRange(date(2026, 10, 1), date(2026, 10, 7)),),
    extra_school_days=(DateRange(date(2026, 10, 10), date(2026, 10, 10)),),
)


@pytest.mark.parametrize(("day", "expected"), [
    (date(2026, 9, 30), True),    # Wednesday
    (date(2026, 10, 1), False),   # National Day, a Thursday
    (date(2026, 10, 3), False),   # Saturday inside the holiday
    (date(2026, 10, 10), True),   # Saturday make-up day (调休)
    (date(2026, 10, 17), False),  # ordinary Saturday
])
def test_is_school_day(day, expected):
    assert TIMETABLE.is_school_day(day) is expected


@pytest.mark.parametrize(("hour", "minute", "second", "expected"), [
    (7, 59, 59, False),
    (8, 0, 0, True),      # a lesson starts on its start minute
    (8, 44, 59, True),
    (8, 45, 0, False),    # and is over on its end minute
    (8, 50, 0, False),    # break
    (9, 39, 0, True),
])
def test_in_lesson_boundaries(hour, minute, second, expected):
    moment = datetime(2026, 9, 30, hour, minute, second, tzinfo=SHANGHAI)
    assert TIMETABLE.in_lesson(moment) is expected


def test_in_lesson_converts_to_school_time_and_skips_holidays():
    assert TIMETABLE.in_lesson(datetime(2026, 9, 30, 0, 30, tzinfo=timezone.utc))  # 08:30
    assert not TIMETABLE.in_lesson(datetime(2026, 10, 2, 8, 30, tzinfo=SHANGHAI))


@pytest.mark.parametrize(("moment", "expected"), [
    (datetime(2026, 9, 30, 17, 29, tzinfo=SHANGHAI), True),
    (datetime(2026, 9, 30, 17, 30, tzinfo=SHANGHAI), False),
    (datetime(2026, 10, 17, 10, 0, tzinfo=SHANGHAI), False),  # Saturday
    (datetime(2026, 10, 10, 10, 0, tzinfo=SHANGHAI), True),   # make-up Saturday
])
def test_in_school_hours(moment, expected):
    assert TIMETABLE.in_school_hours(moment) is expected


def test_naive_datetime_is_refused():
    with pytest.raises(ValueError, match="aware datetime"):
        TIMETABLE.in_lesson(datetime(2026, 9, 30, 8, 30))


def test_a_dns_target_may_name_its_port(tmp_path):
    """A county resolver on a non-standard port (dns:5353); plain dns keeps port 53."""
    broadband = ("broadband:\n  targets:\n"
                 "    - {name: 县DNS, check: 'dns:5353', host: 10.1.1.53, query: www.moe.gov.cn}\n"
                 "    - {name: 公共DNS, check: dns, host: 223.5.5.5, query: www.moe.gov.cn}\n")
    config = load_config(write(tmp_path, config_text(broadband=broadband)))
    county, public = config.broadband.targets
    assert county.check == Check("dns", port=5353) and str(county.check) == "dns:5353"
    assert public.check == Check("dns") and str(public.check) == "dns"
    [problem] = problems_of(write(tmp_path, config_text(broadband=broadband.replace("dns:5353", "dns:0"))))
    assert problem.path == "broadband.targets[0].check"
    assert "'dns:0': the port must be a number from 1 to 65535, e.g. dns:5353" in problem.message


# -- mistakes a Chinese keyboard and a hand-edited indentation make (issue 14) ---------------------

SCHOOL_LINES = "school:\n  id: hx-test-xx\n  name: 测试中学\n  county: hx\n  rural: true\n"


def syntax_problem(tmp_path, school_section: str) -> str:
    """The one problem of the minimal config whose school section is `school_section`."""
    return str(only_problem(write(tmp_path, config_text(school=school_section))))


@pytest.mark.parametrize(("section", "expected"), [
    pytest.param(
        SCHOOL_LINES.replace("  name:", "   name:"),
        "3: school.name: 第 3 行缩进了 3 个空格，比上一行（第 2 行，2 个空格）多；同一层的键要对齐，请改为 2 个空格"
        " / line 3 is indented 3 spaces, more than line 2 above it (2); keys of one level line up: "
        "indent it 2 spaces", id="deeper-than-its-sibling"),
    pytest.param(
        SCHOOL_LINES.replace("  name:", " name:"),
        "3: school.name: 第 3 行缩进了 1 个空格，与上面任何一层都不对齐：与第 2 行对齐请改为 2 个空格，"
        "与第 1 行对齐请改为 0 个空格 / line 3 is indented 1 space, which lines up with no level above it: "
        "indent it 2 spaces to line up with line 2, or 0 spaces to line up with line 1", id="between-two-levels"),
], )
def test_indentation_names_the_line_and_what_it_should_be(tmp_path, section, expected):
    file = write(tmp_path, config_text(school=section))
    assert str(only_problem(file)) == f"{file}:{expected}"


def test_a_list_item_out_of_line_with_the_items_above(tmp_path):
    classrooms = "classrooms:\n  - id: c7-1\n    name: 七年级(1)班\n   - id: c7-2\n    name: 七年级(2)班\n"
    text = config_text(classrooms=classrooms)
    file = write(tmp_path, text)
    line = line_of(text, "- id: c7-2")
    assert str(only_problem(file)) == (
        f"{file}:{line}: classrooms.id: 第 {line} 行缩进了 3 个空格，与上面任何一层都不对齐："
        f"与第 {line - 1} 行对齐请改为 4 个空格，与第 {line - 2} 行对齐请改为 2 个空格 / line {line} is indented "
        f"3 spaces, which lines up with no level above it: indent it 4 spaces to line up with line {line - 1}, "
        f"or 2 spaces to line up with line {line - 2}")


def test_an_unclosed_quote(tmp_path):
    file = write(tmp_path, config_text(school=SCHOOL_LINES.replace("name: 测试中学", 'name: "测试中学')))
    assert str(only_problem(file)) == (
        f'{file}:3: school.name: 第 3 行的引号 " 没有配对的结束引号；请在值的末尾补上 "（或去掉开头的 "）'
        ' / the quote " opened on line 3 is never closed: add a closing " at the end of the value '
        "(or remove the opening one)")


def test_a_missing_space_after_a_colon(tmp_path):
    file = write(tmp_path, config_text(school=SCHOOL_LINES.replace("id: hx-test-xx", "id:hx-test-xx")))
    assert str(only_problem(file)) == (
        f"{file}:2: school.id: 第 2 行 'id:hx-test-xx' 的冒号后缺少空格；请写成 'id: hx-test-xx'"
        " / line 2: a space must follow the colon: write 'id: hx-test-xx'")


def test_a_missing_colon(tmp_path):
    file = write(tmp_path, config_text(school=SCHOOL_LINES.replace("id: hx-test-xx", "id hx-test-xx")))
    assert str(only_problem(file)) == (
        f"{file}:2: school.id: 第 2 行 'id hx-test-xx' 缺少冒号；请写成 'id: hx-test-xx'"
        " / line 2 has no colon after its key: write 'id: hx-test-xx'")


def test_a_full_width_colon_in_a_time_says_what_it_would_read(tmp_path):
    text = config_text(speed_test='speed_test:\n  times: ["18：30"]\n')
    file = write(tmp_path, text)
    line = line_of(text, "18：30")
    assert str(only_problem(file)) == (
        f"{file}:{line}: speed_test.times[0]: 第 {line} 行的 '：' 是中文全角冒号，请改为半角 ':'"
        f" / the '：' on line {line} is a full-width colon: type a half-width ':'；改正后读作 18:30 / corrected, it reads 18:30")


def test_full_width_digits_in_a_number_say_what_it_would_read(tmp_path):
    text = config_text(broadband="broadband:\n  interval_s: ３０\n")
    file = write(tmp_path, text)
    line = line_of(text, "３０")
    assert str(only_problem(file)) == (
        f"{file}:{line}: broadband.interval_s: 第 {line} 行的 '３' 是全角数字，请改为半角 '3'"
        f" / the '３' on line {line} is a full-width digit: type a half-width '3'；改正后读作 30 / corrected, it reads 30")


def test_a_full_width_space_in_a_key(tmp_path):
    text = config_text(broadband="broadband:\n  \u3000interval_s: 30\n")
    file = write(tmp_path, text)
    line = line_of(text, "interval_s")
    assert str(only_problem(file)) == (
        f"{file}:{line}: broadband.\u3000interval_s: 第 {line} 行的 'U+3000' 是全角空格，请改为半角 ' '（空格 space）"
        f" / the 'U+3000' on line {line} is a full-width space: type a half-width ' '（空格 space）"
        "；改正后读作 'interval_s' / corrected, it reads 'interval_s'")


def test_a_full_width_colon_after_a_key(tmp_path):
    file = write(tmp_path, config_text(school=SCHOOL_LINES.replace("name: 测试中学", "name：测试中学")))
    assert str(only_problem(file)) == (
        f"{file}:3: school.name: 第 3 行的 '：' 是中文全角冒号，请改为半角 ':'"
        " / the '：' on line 3 is a full-width colon: type a half-width ':'")

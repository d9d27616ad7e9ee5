"""agent.wiring: the example config becomes exactly these probe parameters; which
synchronous session a report names (on now, or starting within 15 minutes)."""

from __future__ import annotations

import inspect
import json
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from agent.config import EXAMPLE_CONFIG, Session, load_config
from agent.probes import Endpoint
from agent.probes.broadband import Target
from agent.probes.quality import path_quality
from agent.probes.speed_test import SpeedTestResult, SpeedTestSettings
from agent.probes.sync_classroom import (
    PlatformResult,
    SyncResult,
    Thresholds,
    check_sync,
)
from agent.schedule import Lesson
from agent.wiring import (
    NO_SESSION,
    Bandwidth,
    SessionWindow,
    SyncArguments,
    probe_setup,
    session_window,
    sync_bandwidth,
    sync_report,
)
from schoolnet_core import contract
from schoolnet_core.config import ConfigError, Secret

SHANGHAI = ZoneInfo("Asia/Shanghai")
PJLINK_SECRET = "pj-example-secret"


@pytest.fixture(scope="module")
def example():
    return load_config(EXAMPLE_CONFIG)


def secrets_for(config, command_key: str = "k" * 32):
    """Every secret of `config` as the CLI would have read it (here: made up)."""
    def value(key_path: str) -> str:
        if key_path.startswith("commands."):
            return command_key
        return PJLINK_SECRET if key_path.startswith("classrooms") else "mqtt-secret"

    return {ref: Secret(value(ref.key_path)) for ref in config.secret_refs()}


def test_the_example_broadband_targets_keep_their_names_checks_and_order(example):
    setup = probe_setup(example, secrets_for(example))

    assert setup.targets == (
        Target("县教育城域网网关", Endpoint("icmp", host="192.0.2.1")),
        Target("县数据中心", Endpoint("tcp", host="192.0.2.2", port=443)),
        Target("阿里公共DNS", Endpoint("dns", host="223.5.5.5", query="www.moe.gov.cn")),
        Target("县同步课堂平台", Endpoint("http", url="https://sync.hx.edu.example/health")),
    )
    assert setup.broadband_timeout_s == 2.0


def test_the_example_classrooms_become_devices_with_the_projector_password_read(example):
    setup = probe_setup(example, secrets_for(example))

    rooms = {room.classroom: room for room in setup.classrooms}
    assert [room.classroom for room in setup.classrooms] == ["c7-1", "c7-2", "c8-1", "c8-2", "c9-1", "c9-2"]
    assert rooms["c7-1"].name == "七年级(1)班"
    panel, pc = rooms["c7-1"].devices
    assert (panel.device, panel.kind, panel.required) == ("panel", "interactive_panel", True)
    assert panel.endpoint == Endpoint("tcp", host="198.51.100.11", port=80)
    assert (pc.device, pc.required, pc.endpoint) == ("pc", False, Endpoint("icmp", host="198.51.100.12"))
    projector = rooms["c8-1"].devices[0]
    assert projector.endpoint == Endpoint("pjlink", host="198.51.100.31", port=4352, password=PJLINK_SECRET)
    assert rooms["c9-1"].devices[0].endpoint == Endpoint("http", url="http://198.51.100.51/")
    assert setup.sweep_timeout_s == 2.0
    assert PJLINK_SECRET not in repr(projector)


def test_the_example_sync_classroom_becomes_check_sync_arguments(example):
    setup = probe_setup(example, secrets_for(example))

    assert setup.sync == SyncArguments(
        platform_host="sync.hx.edu.example", platform_port=443, platform_tls=True,
        path_method="udp_echo", path_host="192.0.2.5", path_port=7, count=50, interval=0.02,
        endpoints=(("c7-1", Endpoint("tcp", host="198.51.100.15", port=5060)),
                   ("c8-1", Endpoint("tcp", host="198.51.100.35", port=5060))),
        thresholds=Thresholds(rtt_ms=150.0, jitter_ms=30.0, loss_pct=1.0, mos_min=3.6),
        timeout=2.0,
    )  # fmt: skip
    assert set(vars(setup.sync)) <= set(inspect.signature(check_sync).parameters)


def test_the_example_speed_test_settings_and_plan(example):
    setup = probe_setup(example, secrets_for(example))

    assert setup.speed_test == SpeedTestSettings(
        backend="iperf3", server="iperf.hx.edu.example:5201", duration_s=10, streams=4, wan_interface="eth0")
    plan = setup.speed_plan
    assert plan.times == (time(12, 10), time(17, 10))
    assert plan.interval is None
    assert plan.timezone == "Asia/Shanghai"
    assert plan.lessons[0] == Lesson(time(8, 0), time(8, 45)) and len(plan.lessons) == 7
    assert plan.during_lessons is False
    assert plan.stagger_window == timedelta(minutes=30)
    assert plan.test_length == timedelta(seconds=2 * 10 + 30)
    assert plan.school_day(date(2026, 10, 1)) is False  # National Day, a Thursday
    assert plan.school_day(date(2026, 10, 10)) is True  # make-up Saturday


def test_the_example_pings_and_has_no_command_key(example):
    setup = probe_setup(example, secrets_for(example))

    assert setup.pings is True
    assert setup.command_key is None


def _config_with(tmp_path, extra: str, name: str = "agent.yaml"):
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8") + extra
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def test_a_school_without_speed_server_or_times_gets_no_settings_or_plan(tmp_path):
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    text = text.replace("backend: iperf3", "backend: speedtest").replace(
        "  server: iperf.hx.edu.example:5201", "").replace('times: ["12:10", "17:10"]', "times: []")
    path = tmp_path / "agent.yaml"
    path.write_text(text, encoding="utf-8")
    config = load_config(path)

    setup = probe_setup(config, secrets_for(config))

    assert setup.speed_test is None
    assert setup.speed_plan is None


def test_the_command_key_is_read_as_bytes(tmp_path, monkeypatch):
    config = _config_with(tmp_path, "commands: {key_env: SN_TEST_KEY}\n")
    key = "k" * 32

    setup = probe_setup(config, secrets_for(config, command_key=key))

    assert setup.command_key == key.encode()
    assert key not in repr(setup)


def test_a_short_command_key_is_refused_naming_its_key(tmp_path):
    config = _config_with(tmp_path, "commands: {key_env: SN_TEST_KEY}\n")

    with pytest.raises(ConfigError) as caught:
        probe_setup(config, secrets_for(config, command_key="short-key"))

    (problem,) = caught.value.problems
    assert problem.path == "commands.key_env"
    assert problem.line == len(EXAMPLE_CONFIG.read_text(encoding="utf-8").splitlines()) + 1
    assert "the key has 9 characters; use at least 16" in problem.message


# --- which session a sync report names ---------------------------------------------------

ENGLISH = Session("s-eng", "英语", "c7-1", ("tue", "thu"), time(8, 55), time(9, 40), None)
MUSIC = Session("s-music", "音乐", "c8-1", ("wed",), time(14, 55), time(15, 40), None)
TUESDAY = date(2026, 9, 22)


def at(day: date, hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=SHANGHAI)


def window(now: datetime, sessions=(ENGLISH, MUSIC), school_day=lambda day: True) -> SessionWindow:
    return session_window(sessions, now, "Asia/Shanghai", school_day)


@pytest.mark.parametrize(("hh", "mm", "ss", "expected"), [
    (8, 39, 59, NO_SESSION),                       # 15 min 1 s before: not yet
    (8, 40, 0, SessionWindow("s-eng", False)),     # 15 min before: named, not active
    (8, 54, 59, SessionWindow("s-eng", False)),
    (8, 55, 0, SessionWindow("s-eng", True)),      # the start is inside
    (9, 39, 59, SessionWindow("s-eng", True)),
    (9, 40, 0, NO_SESSION),                        # the end is outside
])  # fmt: skip
def test_a_session_is_named_15_minutes_before_and_active_only_while_on(hh, mm, ss, expected):
    assert window(at(TUESDAY, hh, mm, ss)) == expected


def test_sessions_follow_their_weekdays():
    wednesday = TUESDAY + timedelta(days=1)

    assert window(at(wednesday, 9, 0)) == NO_SESSION
    assert window(at(wednesday, 14, 45)) == SessionWindow("s-music", False)


def test_no_session_on_a_day_without_school():
    holiday = {TUESDAY}

    assert window(at(TUESDAY, 9, 0), school_day=lambda day: day not in holiday) == NO_SESSION


def test_the_time_is_read_in_the_timetables_zone():
    utc_morning = datetime(2026, 9, 22, 0, 55, tzinfo=timezone.utc)  # 08:55 in Shanghai

    assert window(utc_morning) == SessionWindow("s-eng", True)


def test_a_session_just_after_midnight_is_named_the_evening_before():
    early = Session("s-early", "早读", "c7-1", ("wed",), time(0, 5), time(0, 45), None)

    assert window(at(TUESDAY, 23, 55), sessions=(early,)) == SessionWindow("s-early", False)
    assert window(at(TUESDAY, 23, 55), sessions=(early,),
                  school_day=lambda day: day.weekday() != 2) == NO_SESSION


def test_the_session_on_now_wins_over_the_next_one_and_the_nearest_next_wins():
    first = Session("s-a", "A", "c7-1", ("tue",), time(9, 0), time(9, 40), None)
    second = Session("s-b", "B", "c7-1", ("tue",), time(9, 45), time(10, 30), None)
    third = Session("s-c", "C", "c7-1", ("tue",), time(9, 50), time(10, 30), None)

    assert window(at(TUESDAY, 9, 35), sessions=(third, second, first)) == SessionWindow("s-a", True)
    assert window(at(TUESDAY, 9, 41), sessions=(third, second, first)) == SessionWindow("s-b", False)


def test_a_naive_time_is_refused():
    with pytest.raises(ValueError, match="aware datetime"):
        window(datetime(2026, 9, 22, 9, 0))


def test_the_sync_report_names_an_upcoming_session_without_marking_it_active():
    result = SyncResult(PlatformResult("ok", 1.0), path_quality(10, [1.0] * 10), "", (), ())

    upcoming = sync_report(result, rural=True, window=SessionWindow("s-eng", False))
    on = sync_report(result, rural=True, window=SessionWindow("s-eng", True))
    none = sync_report(result, rural=False, window=NO_SESSION)

    assert (upcoming["session"], upcoming["session_active"]) == ("s-eng", False)
    assert (on["session"], on["session_active"]) == ("s-eng", True)
    assert "session" not in none and none["session_active"] is False and none["rural"] is False


# --- bandwidth_check: the latest speed test as the sync classroom's bandwidth -------------------

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)


def speed(download: float | None = 120.0, upload: float | None = 3.5, ok: bool = True) -> SpeedTestResult:
    return SpeedTestResult("iperf3", "iperf.hx.example", ok=ok, error=None if ok else "timeout",
                           download_mbps=download, upload_mbps=upload)


def test_the_slower_direction_of_a_recent_test_is_the_bandwidth():
    assert sync_bandwidth(speed(), NOW - timedelta(hours=20), NOW, 4.0) == Bandwidth(3.5, 4.0)
    assert not Bandwidth(3.5, 4.0).enough and Bandwidth(4.0, 4.0).enough


@pytest.mark.parametrize("latest, age", [
    pytest.param(None, None, id="no-test-yet"),
    pytest.param(speed(ok=False), timedelta(hours=1), id="failed-test"),
    pytest.param(speed(upload=None), timedelta(hours=1), id="one-direction-only"),
    pytest.param(speed(), timedelta(hours=27), id="older-than-26-h"),
    pytest.param(speed(), timedelta(hours=-1), id="from-the-future"),
])
def test_no_recent_good_test_means_bandwidth_unknown(latest, age):
    measured_at = None if age is None else NOW - age
    assert sync_bandwidth(latest, measured_at, NOW, 4.0) is None


def test_too_little_bandwidth_makes_a_good_path_not_ready():
    result = SyncResult(PlatformResult("ok", 1.0), path_quality(10, [1.0] * 10), "", (), ())
    assert sync_report(result, True, NO_SESSION)["ready"] is True

    short = sync_report(result, True, NO_SESSION, Bandwidth(3.456, 4.0))
    enough = sync_report(result, True, NO_SESSION, Bandwidth(50.0, 4.0))

    assert (short["bandwidth_mbps"], short["ready"]) == (3.46, False)
    assert (enough["bandwidth_mbps"], enough["ready"]) == (50.0, True)
    assert "bandwidth_mbps" not in sync_report(result, True, NO_SESSION)
    payload = contract.encode("sync", "hx", "hx-test-xx", int(NOW.timestamp() * 1000), short)
    assert json.loads(payload)["bandwidth_mbps"] == 3.46, "the contract carries it as is"

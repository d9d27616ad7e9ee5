"""The probe seam: a kind defined whole in tests/kinds/room_temperature is turned on by a
config's `kinds:` line and reaches the config loader, the contract, `check` and the
collector's config, with no other file naming it."""

from __future__ import annotations

import asyncio
import json
import textwrap
from datetime import datetime, timezone

import pytest

from agent.check import FAIL, PASS, Measurements, judge
from agent.config import load_config
from collector.config import load_config as load_collector_config
from schoolnet_core import contract
from schoolnet_core.config import ConfigError
from schoolnet_core.kinds import registered
from tests.kinds.conftest import KIND_MODULE

SCHOOL = """\
school: {id: hx-test-xx, name: 测试中学, county: hx, rural: true}
broker: {url: "mqtts://mqtt.hx.example", password_env: SN_TEST_MQTT}
timetable: {lessons: ["08:00-08:45"]}
"""


def write(tmp_path, text: str):
    path = tmp_path / "agent.yaml"
    path.write_text(SCHOOL + textwrap.dedent(text), encoding="utf-8")
    return path


def test_only_a_test_that_loads_the_kind_sees_it():
    assert "room_temperature" not in contract.KINDS and "room_temperature" not in registered()


def test_a_kind_listed_under_kinds_reads_its_own_section(tmp_path, room_temperature):
    path = write(tmp_path, f"""\
        kinds: [{KIND_MODULE}]
        room_temperature: {{sensor_file: sensor, max_celsius: 30, interval_s: 10}}
        """)
    config = load_config(path)
    assert [(kind.name, settings) for kind, settings in config.kinds] == [
        ("room_temperature", room_temperature.probe.Settings(str(tmp_path / "sensor"), 30.0, 10.0))]
    assert registered()["room_temperature"].source.startswith(KIND_MODULE)


def test_without_its_section_the_kind_stays_off(tmp_path):
    assert load_config(write(tmp_path, f"kinds: [{KIND_MODULE}]\n")).kinds == ()


def test_its_section_is_unknown_unless_the_kind_is_listed(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, "room_temperature: {sensor_file: x}\n"))
    assert "unknown key 'room_temperature'" in str(caught.value)


def test_its_section_mistakes_are_reported_like_any_other(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, f"""\
            kinds: [{KIND_MODULE}]
            room_temperature: {{sensor_file: s, max_celsius: hot}}
            """))
    assert [str(p) for p in caught.value.problems] == [
        f"{tmp_path / 'agent.yaml'}:5: room_temperature.max_celsius: must be a number, got 'hot'"]


def test_a_module_that_cannot_be_imported_or_registers_nothing_is_a_problem(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, """\
            kinds:
              - schoolnet_kinds.nowhere
              - json
              - not a module
            """))
    problems = [(p.line, p.path, p.message) for p in caught.value.problems]
    assert problems[0][:2] == (5, "kinds[0]")
    assert "cannot import 'schoolnet_kinds.nowhere'" in problems[0][2]
    assert "remove it from kinds" in problems[0][2]
    assert problems[1] == (6, "kinds[1]", "'json' registers no measurement kind; end it with register(KIND)")
    assert problems[2][:2] == (7, "kinds[2]") and "is not a Python module name" in problems[2][2]


def test_the_example_snippet_loads(tmp_path, room_temperature):
    (tmp_path / "sensor").write_text("21000\n")
    text = room_temperature.KIND.example.replace("/sys/class/thermal/thermal_zone0/temp", "sensor")
    config = load_config(write(tmp_path, f"kinds: [{KIND_MODULE}]\n{text}"))
    assert config.kinds[0][1].max_celsius == 35.0


def test_the_probe_reads_the_sensor_or_says_why_not(tmp_path, room_temperature):
    read_temperature = room_temperature.probe.read_temperature
    sensor = tmp_path / "temp"
    sensor.write_text("24500\n")
    settings = room_temperature.probe.Settings(str(sensor), 35.0, 60.0)
    assert asyncio.run(read_temperature(settings)) == {"celsius": 24.5}
    sensor.unlink()
    body = asyncio.run(read_temperature(settings))
    assert list(body) == ["detail"] and str(sensor) in body["detail"]


def test_the_contract_carries_the_kind_both_ways(room_temperature):
    assert contract.KINDS["room_temperature"] is room_temperature.KIND.fields
    payload = contract.encode("room_temperature", "hx", "hx-test-xx", 1_700_000_000_000, {"celsius": 24.5})
    message = contract.validate("schoolnet/v1/hx/hx-test-xx/room_temperature", payload, 1_700_000_000_000)
    assert isinstance(message, contract.Message)
    assert contract.to_lines(message) == [
        "schoolnet_room_temperature,county=hx,school=hx-test-xx celsius=24.5 1700000000000"]
    bad = contract.encode("room_temperature", "hx", "hx-test-xx", 1_700_000_000_000, {"celsius": 24.5})
    bad = bad.replace(b"24.5", b"999")
    rejected = contract.validate("schoolnet/v1/hx/hx-test-xx/room_temperature", bad, 1_700_000_000_000)
    assert isinstance(rejected, contract.Rejection) and "celsius" in rejected.detail


def test_check_judges_the_kind_beside_the_four_targets(tmp_path):
    path = write(tmp_path, f"""\
        kinds: [{KIND_MODULE}]
        room_temperature: {{sensor_file: s, max_celsius: 30}}
        """)
    config = load_config(path)
    now = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)

    def row(kinds, errors=None):
        m = Measurements(now, None, None, None, None, None, None, kinds=kinds, errors=errors or {})
        return next(r for r in judge(config, m).targets if r.key == "room_temperature")

    assert (row({"room_temperature": {"celsius": 24.5}}).verdict, row({"room_temperature": {"celsius": 24.5}}).value) \
        == (PASS, "24.5 °C")
    hot = row({"room_temperature": {"celsius": 31.0}})
    assert (hot.verdict, hot.why) == (FAIL, "高于 30 °C (too hot)")
    assert row({}, {"room_temperature": "sensor gone"}).why == "sensor gone"


def test_the_collector_loads_the_kinds_its_config_names(tmp_path):
    path = tmp_path / "collector.yaml"
    path.write_text(json.dumps({
        "broker": {"url": "mqtt://127.0.0.1:1883", "username": "c", "password_env": "X",
                   "allow_plaintext": True},
        "kinds": [KIND_MODULE, "json"],
    }), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_collector_config(path)
    assert [p.message for p in caught.value.problems] == [
        "'json' registers no measurement kind; end it with register(KIND)"]

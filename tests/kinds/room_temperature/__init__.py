"""A toy measurement kind, whole in this folder: the server room's temperature, read from
a sensor file (as /sys/class/thermal/thermal_zone0/temp gives it, in millidegrees).

It shows what schoolnet_core.kinds asks of a kind and nothing more: its contract fields,
its config section, its probe, its check line and its example, registered by one line.
Nothing else in the tree names it; a config that lists it under `kinds:` turns it on.
"""

from __future__ import annotations

from schoolnet_core.config.parsers import file_path, number
from schoolnet_core.contract import Num, Text
from schoolnet_core.kinds import CheckLine, MeasurementKind, register
from tests.kinds.room_temperature.probe import Settings, read_temperature

EXAMPLE = """\
room_temperature:
  sensor_file: /sys/class/thermal/thermal_zone0/temp
  max_celsius: 35
  interval_s: 60
"""


def read_settings(walk, node, path: str) -> Settings | None:
    if node is None:
        return None  # no section: the kind stays off
    m = walk.mapping(node, path, ("sensor_file", "max_celsius", "interval_s"))
    return Settings(
        sensor_file=m.value("sensor_file", file_path(walk.base_dir)),
        max_celsius=m.value("max_celsius", number(-40, 100), 35.0),
        interval_s=m.value("interval_s", number(5, 3600), 60.0),
    )


def judge(body: dict, settings: Settings) -> CheckLine:
    if "celsius" not in body:
        return CheckLine("fail", "无读数 (no reading)", body["detail"])
    value = f"{body['celsius']:.1f} °C"
    if body["celsius"] > settings.max_celsius:
        return CheckLine("fail", value, f"高于 {settings.max_celsius:g} °C (too hot)")
    return CheckLine("pass", value)


KIND = MeasurementKind(
    name="room_temperature",
    title="机房温度 (server room temperature)",
    fields={"celsius": Num(-100, 200, required=False), "detail": Text(max_len=200, tag=False, required=False)},
    read_settings=read_settings,
    measure=read_temperature,
    interval_s=lambda settings: settings.interval_s,
    check=judge,
    example=EXAMPLE,
)
register(KIND)

"""The probe: one reading of the sensor file, never an exception (a missing sensor is a
reading with its reason)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    sensor_file: str
    max_celsius: float
    interval_s: float


async def read_temperature(settings: Settings) -> dict:
    try:
        text = Path(settings.sensor_file).read_text(encoding="ascii").strip()
        return {"celsius": int(text) / 1000}
    except (OSError, ValueError) as error:
        return {"detail": f"{settings.sensor_file}: {error}"[:200]}

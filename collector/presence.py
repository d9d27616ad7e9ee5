"""Which schools have gone silent: no message of any kind for `silent_after_s`.

An agent's last will (status online=false) says a school went offline, but only when the
broker noticed the connection drop; a gateway that hangs, or a broker restart, can leave
no will at all. Silence is the check that needs no cooperation from the school.

Each collector hears only its share of the stream when several share the subscription,
so every report carries the collector's name: a school is silent when it is silent to
all of them, i.e. `min without (collector) (schoolnet_presence_silent) == 1`.

Series written (measurement schoolnet_presence, tags county, school, collector):
  schoolnet_presence_silent           1 when silent, else 0
  schoolnet_presence_last_seen_age_s  seconds since this collector last heard the school
"""

from __future__ import annotations

from dataclasses import dataclass

MEASUREMENT = "schoolnet_presence"


@dataclass(frozen=True)
class SchoolPresence:
    county: str
    school: str
    silent: bool
    last_seen_age_s: float


class LastSeen:
    """When each school was last heard from, by receive time (a replayed backlog with
    old timestamps still proves the agent is talking now)."""

    def __init__(self, silent_after_s: float):
        self.silent_after_s = silent_after_s
        self._heard: dict[tuple[str, str], float] = {}

    def heard(self, county: str, school: str, at_s: float) -> None:
        key = (county, school)
        self._heard[key] = max(at_s, self._heard.get(key, at_s))

    def expect(self, county: str, school: str, at_s: float) -> None:
        """A school whose retained status says it is online, though we have not heard it
        speak: its silence counts from `at_s` (when we subscribed). Without this, a school
        that hung before a collector restart would never be reported silent."""
        self._heard.setdefault((county, school), at_s)

    def report(self, now_s: float) -> list[SchoolPresence]:
        """Every school heard or expected since this collector started, sorted."""
        return [
            SchoolPresence(county, school, now_s - at_s > self.silent_after_s, max(0.0, now_s - at_s))
            for (county, school), at_s in sorted(self._heard.items())
        ]

    def __len__(self) -> int:
        return len(self._heard)


def presence_lines(reports: list[SchoolPresence], ts_ms: int, collector: str) -> list[str]:
    """Line protocol for the reports (influxdb-client does the escaping)."""
    from influxdb_client import Point, WritePrecision

    return [
        Point(MEASUREMENT)
        .tag("collector", collector)
        .tag("county", report.county)
        .tag("school", report.school)
        .field("last_seen_age_s", round(report.last_seen_age_s, 3))
        .field("silent", int(report.silent))
        .time(ts_ms, WritePrecision.MS)
        .to_line_protocol()
        for report in reports
    ]

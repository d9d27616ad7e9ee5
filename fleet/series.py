"""The roster as series in VictoriaMetrics: the denominator every county figure divides by.

A school that never reports has no series of its own, so without these it would be
absent from its county's figures and a county would look better the fewer agents it
installed. `schoolnet-fleet publish` pushes this text (Prometheus exposition, no
timestamps: the store stamps it on arrival) to /api/v1/import/prometheus, and runs every
few minutes from a timer; the rules read it with last_over_time(...[15m]), so a school
retired from the roster drops out of its county within 15 minutes of the next push.
"""

from __future__ import annotations

from roster.model import Roster, School

FRESH_FOR = "15m"  # the rules' window (deploy/rules/roster.yml); publish at least every 5 minutes


def _label(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: dict[str, object]) -> str:
    return "{" + ",".join(f'{key}="{_label(value)}"' for key, value in pairs.items()) + "}"


def roster_series(roster: Roster) -> str:
    names = {county.id: county.name for county in roster.counties}
    lines = []
    for school in roster.schools:
        lines += school_lines(roster, school, names.get(school.county, school.county))
    return "\n".join(lines) + "\n"


def school_lines(roster: Roster, school: School, county_name: str) -> list[str]:
    key = _labels({"county": school.county, "school": school.id})
    info = _labels({"county": school.county, "school": school.id, "name": school.name, "county_name": county_name,
                    "type": school.type, "rural": str(school.rural).lower()})
    lines = [
        f"schoolnet_roster_school{info} 1",
        f"schoolnet_roster_school_classes{key} {len(school.classrooms)}",
        f"schoolnet_roster_school_equipped_classes{key} {sum(room.equipped for room in school.classrooms)}",
        f"schoolnet_roster_school_target_mbps{key} {roster.egress_target(school):g}",
    ]
    if school.enrolment is not None:
        lines.append(f"schoolnet_roster_school_enrolment{key} {school.enrolment}")
    if school.contracted_mbps is not None:
        lines.append(f"schoolnet_roster_school_contracted_mbps{key} {school.contracted_mbps:g}")
    return lines

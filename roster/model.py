"""The roster as frozen values: what a county declares, with no I/O.

Thresholds differ by province and year (100/200/500/1000 Mbps, 千兆入校 百兆进班), so
targets are settings of the roster, never constants in code: a school's egress target is
its own override, else its type's target, else the county-wide default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time

from schoolnet_core.calendar import is_school_day
from schoolnet_core.config.parsers import WEEKDAYS, Check, DateRange, TimeRange

SCHOOL_TYPES = ("小学", "初中", "九年一贯制", "完全中学", "高中", "教学点")
DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_EGRESS_TARGET_MBPS = 100.0


@dataclass(frozen=True)
class Device:
    """One multimedia device of a class. `kind` is one of contract.DEVICE_KINDS."""

    id: str
    kind: str
    host: str
    check: Check
    name: str = ""
    required: bool = True
    password_file: str | None = None  # a PJLink password lives in a file, never the roster


@dataclass(frozen=True)
class Classroom:
    id: str
    name: str
    devices: tuple[Device, ...] = ()

    @property
    def equipped(self) -> bool:
        """Declared with at least one device: counts toward 多媒体教学设备班级普及率."""
        return bool(self.devices)


@dataclass(frozen=True)
class School:
    county: str
    id: str
    name: str
    type: str  # one of SCHOOL_TYPES
    rural: bool
    enrolment: int | None = None  # 在校生数; per-100-pupil figures need it
    contracted_mbps: float | None = None  # 签约带宽, reported beside the measured figure
    egress_target_mbps: float | None = None  # this school's own override
    broker_user: str | None = None  # None: derived from county and id
    speed_test_server: str | None = None
    timezone: str = DEFAULT_TIMEZONE
    classrooms: tuple[Classroom, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.county, self.id)


@dataclass(frozen=True)
class Contacts:
    """Where a county's alerts and reports go; the secrets of each channel stay in files."""

    email: tuple[str, ...] = ()
    wecom_webhook_file: str | None = None
    dingtalk_webhook_file: str | None = None


@dataclass(frozen=True)
class County:
    id: str
    name: str
    contacts: Contacts = field(default_factory=Contacts)


@dataclass(frozen=True)
class Term:
    """A school term (学期), e.g. 2026-2027学年第一学期, reported on as one period."""

    name: str
    days: DateRange


@dataclass(frozen=True)
class Maintenance:
    """A declared maintenance window: left out of availability and muted in alerts.
    `county` None applies to every county; `school` None to every school of the county."""

    start: datetime  # aware
    end: datetime  # aware, after start
    county: str | None = None
    school: str | None = None
    reason: str = ""

    def covers(self, county: str, school: str) -> bool:
        return self.county in (None, county) and self.school in (None, school)


@dataclass(frozen=True)
class ReportSettings:
    """What the period reports judge a school by. These are the county's (or province's)
    choices, so they are settings with defaults, never constants in the report code;
    the intervals are the agent's cadence, from which "expected measurements" follow."""

    availability_target_pct: float = 99.0  # broadband availability in school hours
    completeness_min_pct: float = 90.0  # below it a school's figures are not evidence
    class_working_pct: float = 90.0  # a class ready this share of school hours is working
    sync_ready_target_pct: float = 90.0  # sessions ready for their whole length
    broadband_interval_s: int = 30
    classroom_interval_s: int = 60
    sync_interval_s: int = 60


DEFAULT_SCHOOL_HOURS = TimeRange(time(8, 0), time(17, 0))


@dataclass(frozen=True)
class Settings:
    default_target_mbps: float = DEFAULT_EGRESS_TARGET_MBPS
    target_by_type: dict[str, float] = field(default_factory=dict)
    report: ReportSettings = field(default_factory=ReportSettings)  # what reports judge by
    school_days: tuple[str, ...] = WEEKDAYS[:5]
    school_hours: TimeRange | None = None  # None: each school's own timetable decides
    terms: tuple[Term, ...] = ()
    holidays: tuple[DateRange, ...] = ()
    extra_school_days: tuple[DateRange, ...] = ()  # 调休 make-up days
    maintenance: tuple[Maintenance, ...] = ()
    # What every school's agent.yaml shares (added for the fleet tool; optional, defaulted):
    broker_url: str = "mqtts://mqtt.county.example:8883"
    lessons: tuple[TimeRange, ...] = ()  # empty: the fleet tool's standard day of lessons
    speed_test_backend: str = "iperf3"
    speed_test_server: str | None = None  # a school's own server overrides it
    speed_test_times: tuple[str, ...] = ()  # HH:MM; empty: the agent's defaults
    broadband_targets: tuple[tuple[str, str], ...] = ()  # (name, host or URL); empty: the agent's
    collectors: int = 2  # broker accounts schoolnet-collector-1..N; 2: the scale-out pair (deploy/scale-out)

    def term(self, name: str) -> Term:
        for term in self.terms:
            if term.name == name:
                return term
        known = ", ".join(term.name for term in self.terms) or "none declared"
        raise KeyError(f"unknown term {name!r}; terms in the settings: {known}")

    def is_school_day(self, day: date) -> bool:
        return is_school_day(day, self.school_days, self.holidays, self.extra_school_days)


@dataclass(frozen=True)
class Roster:
    counties: tuple[County, ...]
    schools: tuple[School, ...]
    settings: Settings = field(default_factory=Settings)

    def egress_target(self, school: School) -> float:
        if school.egress_target_mbps is not None:
            return school.egress_target_mbps
        return self.settings.target_by_type.get(school.type, self.settings.default_target_mbps)

    def schools_of(self, county: str) -> tuple[School, ...]:
        return tuple(school for school in self.schools if school.county == county)

    def county(self, county_id: str) -> County:
        for county in self.counties:
            if county.id == county_id:
                return county
        raise KeyError(f"unknown county {county_id!r}")

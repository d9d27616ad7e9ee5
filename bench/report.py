"""What a benchmark found, judged against the issue's targets, and the report it makes.

Every figure is printed beside an anchor measured in the same run (iperf3, fping,
mosquitto_sub, ...), because a number alone says as much about this machine as about
our code. Pure: no I/O here; run.py writes the files.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

COMPARISONS = (">=", "<=", "<")
PASS, MISS, INFO, MISSING = "pass", "miss", "info", "n/a"


@dataclass(frozen=True)
class Target:
    """An issue target, e.g. Target(">=", 0.95, "ratio", ">= 0.95 of iperf3").

    `of` says what is compared: the figure's own value, or its ratio to the anchor."""

    compare: str
    limit: float
    of: str = "value"
    text: str = ""

    def __post_init__(self) -> None:
        if self.compare not in COMPARISONS:
            raise ValueError(f"compare must be one of {COMPARISONS}, got {self.compare!r}")
        if self.of not in ("value", "ratio"):
            raise ValueError(f"of must be 'value' or 'ratio', got {self.of!r}")

    def met_by(self, number: float) -> bool:
        if self.compare == ">=":
            return number >= self.limit
        if self.compare == "<=":
            return number <= self.limit
        return number < self.limit

    def describe(self) -> str:
        return self.text or f"{self.compare} {self.limit:g}" + (" x anchor" if self.of == "ratio" else "")


@dataclass(frozen=True)
class Figure:
    """One measured number, its anchor from the same run, and the target it answers."""

    label: str
    value: float | None
    unit: str = ""
    anchor: str = ""
    anchor_value: float | None = None
    target: Target | None = None
    note: str = ""
    like_for_like: bool = True
    """False when the anchor is a floor to read the value against (the broker's own ack time
    beside an end-to-end lag), not another tool doing the same job: then no ratio is shown."""

    @property
    def ratio(self) -> float | None:
        """value / anchor_value, or None when either is missing, the anchor is 0 or it is
        not like for like."""
        if not self.like_for_like or self.value is None or not self.anchor_value:
            return None
        return self.value / self.anchor_value

    @property
    def verdict(self) -> str:
        if self.target is None:
            return INFO
        number = self.ratio if self.target.of == "ratio" else self.value
        if number is None or (isinstance(number, float) and math.isnan(number)):
            return MISSING
        return PASS if self.target.met_by(number) else MISS


@dataclass(frozen=True)
class Outcome:
    """One benchmark's figures, what the reader should know about them, and raw data."""

    name: str
    title: str
    figures: tuple[Figure, ...]
    notes: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict, hash=False)
    error: str | None = None
    seconds: float = 0.0
    tables: tuple[str, ...] = ()
    """Markdown tables shown after the notes (a grid reads better as a table than as rows)."""


def failed_outcome(name: str, title: str, error: str, seconds: float = 0.0) -> Outcome:
    """A benchmark that could not finish: reported as such, never silently left out."""
    return Outcome(name, title, (), error=error, seconds=seconds)


# --- rendering ---------------------------------------------------------------------------


def number_text(value: float | None, unit: str = "") -> str:
    """A number as a reader wants it: 3 significant digits, no exponent for usual sizes."""
    if value is None:
        return "—"
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    magnitude = abs(value)
    if magnitude == 0 or magnitude >= 100 or float(value).is_integer():
        text = f"{value:,.0f}"
    elif magnitude >= 10:
        text = f"{value:.1f}"
    elif magnitude >= 1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".strip()


def ratio_text(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio:.2f}x"


_VERDICT_TEXT = {PASS: "pass 达标", MISS: "**miss 未达标**", INFO: "info", MISSING: "n/a 无数据"}


def summary_rows(outcomes: list[Outcome]) -> list[list[str]]:
    """The report table's rows: benchmark, figure, value, anchor, ratio, target, verdict."""
    rows = []
    for outcome in outcomes:
        if outcome.error:
            rows.append([outcome.name, "(did not finish)", "—", "—", "—", "—", f"error: {outcome.error[:120]}"])
        for figure in outcome.figures:
            anchor = f"{figure.anchor}: {number_text(figure.anchor_value, figure.unit)}" if figure.anchor else "—"
            rows.append([
                outcome.name,
                figure.label + (f" ({figure.note})" if figure.note else ""),
                number_text(figure.value, figure.unit),
                anchor,
                ratio_text(figure.ratio),
                figure.target.describe() if figure.target else "—",
                _VERDICT_TEXT[figure.verdict],
            ])
    return rows


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in cells) + " |"

    return "\n".join([line(header), "|" + "---|" * len(header), *(line(row) for row in rows)])


TABLE_HEADER = ["benchmark", "figure", "value", "anchor (same run)", "ratio", "target", "verdict"]


def verdict_counts(outcomes: list[Outcome]) -> dict[str, int]:
    counts = {PASS: 0, MISS: 0, INFO: 0, MISSING: 0}
    for outcome in outcomes:
        for figure in outcome.figures:
            counts[figure.verdict] += 1
    return counts


def render_markdown(outcomes: list[Outcome], meta: dict[str, Any]) -> str:
    """report.md: the summary table first (what the lead quotes), then each benchmark's notes."""
    counts = verdict_counts(outcomes)
    parts = [
        "# schoolnet benchmarks 性能基准",
        "",
        (f"Run {meta.get('started', '?')} UTC, mode **{meta.get('mode', '?')}**, "
         f"{meta.get('duration_s', 0) / 60:.1f} min, on {meta.get('machine', '?')}. "
         f"Command: `{meta.get('command', 'python -m bench.run')}`."),
        "",
        (f"Targets: {counts[PASS]} pass 达标, {counts[MISS]} miss 未达标, "
         f"{counts[MISSING]} without data 无数据; {counts[INFO]} figures are for information."),
        "",
        markdown_table(TABLE_HEADER, summary_rows(outcomes)),
        "",
    ]
    for outcome in outcomes:
        parts += [f"## {outcome.name}: {outcome.title}", ""]
        if outcome.error:
            parts += [f"Did not finish: `{outcome.error}`", ""]
        parts += [f"- {note}" for note in outcome.notes]
        for table in outcome.tables:
            parts += ["", table]
        parts += ["", f"({outcome.seconds:.0f} s)", ""]
    return "\n".join(parts).rstrip() + "\n"


def to_json(outcomes: list[Outcome], meta: dict[str, Any]) -> str:
    """report.json: everything in report.md plus each benchmark's raw measurements."""
    documents = []
    for outcome in outcomes:
        document = asdict(outcome)
        for figure, source in zip(document["figures"], outcome.figures):
            figure["ratio"] = source.ratio
            figure["verdict"] = source.verdict
        documents.append(document)
    return json.dumps({"meta": meta, "benchmarks": documents}, ensure_ascii=False, indent=1, default=str)

"""The roster's four tables as the clerk sees them: sheet names and column headers in
zh-CN (English accepted), and the raw cells read from a workbook or from CSV files.

A table is read the same whatever it came from, so a county may keep the workbook or
export its sheets as CSV (Excel on Windows saves GBK or UTF-8 with BOM) and get the same
roster and the same messages, cell references included.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from openpyxl.utils import get_column_letter

from roster.problems import RosterProblem


@dataclass(frozen=True)
class Column:
    key: str
    header: str  # zh-CN, as the template writes it
    aliases: tuple[str, ...] = ()  # English and other spellings clerks use
    required: bool = False
    help: str = ""  # what goes in it: the template's comment and the fix of a missing value
    choices: tuple[str, ...] = ()  # drop-down in the template


@dataclass(frozen=True)
class SheetSpec:
    key: str
    title: str
    aliases: tuple[str, ...]
    columns: tuple[Column, ...]
    example: tuple[tuple[object, ...], ...] = ()

    def column(self, key: str) -> Column:
        return next(column for column in self.columns if column.key == key)


@dataclass(frozen=True)
class Cell:
    ref: str  # A1-style, as Excel shows it
    value: object  # str, int, float, bool, datetime or None (empty)
    formula: str | None = None  # the formula text of a formula cell
    merged: str | None = None  # the merged range this cell belongs to, if any
    typed_text: bool = False  # a workbook cell of type text (a number typed as text shows here)


@dataclass
class Row:
    number: int
    cells: dict[str, Cell]  # column key -> cell; a column the table lacks is absent

    def cell(self, key: str, column_index: int | None) -> Cell:
        found = self.cells.get(key)
        if found is not None:
            return found
        letter = get_column_letter(column_index) if column_index else "A"
        return Cell(f"{letter}{self.number}", None)


@dataclass
class Table:
    file: str  # as shown in messages: the name the clerk gave, not an absolute path
    sheet: str  # the sheet's title (CSV: the table's zh-CN name)
    spec: SheetSpec
    column_index: dict[str, int] = field(default_factory=dict)  # key -> 1-based column
    rows: list[Row] = field(default_factory=list)
    problems: list[RosterProblem] = field(default_factory=list)

    def problem(self, cell: str, column: str, problem: str, fix: str, note: bool = False) -> None:
        self.problems.append(RosterProblem(self.file, self.sheet, cell, column, problem, fix, note))


def normalise_header(text: object) -> str:
    """Header text compared loosely: width, case, spaces, brackets and units do not matter."""
    folded = unicodedata.normalize("NFKC", str(text or "")).lower()
    return re.sub(r"[\s_\-()\[\]/:：（）【】]+|mbps$", "", folded)


def match_headers(spec: SheetSpec, headers: list[tuple[int, object]]) -> tuple[dict[str, int], list[str]]:
    """Column key -> column number for the headers found, and the header texts not known."""
    names = {}
    for column in spec.columns:
        for name in (column.header, column.key, *column.aliases):
            names.setdefault(normalise_header(name), column.key)
    found: dict[str, int] = {}
    unknown = []
    for index, text in headers:
        if text is None or str(text).strip() == "":
            continue
        key = names.get(normalise_header(text))
        if key is None:
            unknown.append(str(text))
        else:
            found.setdefault(key, index)
    return found, unknown


def spec_for(name: str, specs: tuple[SheetSpec, ...]) -> SheetSpec | None:
    wanted = normalise_header(name)
    for spec in specs:
        if wanted in {normalise_header(n) for n in (spec.title, spec.key, *spec.aliases)}:
            return spec
    return None


def header_row_problems(table: Table, header_row: int) -> None:
    """A required column missing from the header is one problem, not one per row."""
    for column in table.spec.columns:
        if column.required and column.key not in table.column_index:
            table.problem(f"A{header_row}", column.header, "this required column is missing from the header row",
                          f"add a column headed {column.header} ({column.aliases[0] if column.aliases else column.key})")


def cell_at(table: Table, row: Row, key: str) -> tuple[Cell, Column]:
    """The row's cell of column `key` and that column: what every cell reader takes."""
    return row.cell(key, table.column_index.get(key)), table.spec.column(key)

"""Reads the county's workbook (XLSX) into raw tables, keeping what Excel shows a clerk:
cell references, formulas, merged ranges, hidden sheets and cells typed as text.

Nothing is judged here beyond the sheet's shape (which sheet is which, which column is
which); roster.validate turns cells into values and says what is wrong with them.
"""

from __future__ import annotations

from pathlib import Path

from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from roster.columns import SHEETS
from roster.problems import RosterProblem
from roster.tables import Cell, Row, Table, header_row_problems, match_headers, spec_for

HEADER_SEARCH_ROWS = 5  # a title line or two above the header is common in bureau workbooks


def read_workbook(path: Path, shown: str | None = None) -> tuple[list[Table], list[RosterProblem]]:
    """The roster's tables in `path`, and problems of the workbook as a whole."""
    shown = shown or path.name
    book = load_workbook(path, data_only=False)
    tables, problems = [], []
    for sheet in book.worksheets:
        spec = spec_for(sheet.title, SHEETS)
        if spec is None:
            problems.append(RosterProblem(shown, sheet.title, "A1", "(sheet)", "this sheet is not part of the roster",
                                          "it is ignored; roster sheets are " + " ".join(s.title for s in SHEETS),
                                          note=True))
            continue
        table = Table(shown, sheet.title, spec)
        if sheet.sheet_state != "visible":
            table.problem("A1", "(sheet)", f"the sheet {sheet.title} is hidden",
                          "it is read all the same; unhide it (right-click a sheet tab → Unhide) so others see it",
                          note=True)
        _read_sheet(sheet, table)
        tables.append(table)
    return tables, problems


def _read_sheet(sheet: Worksheet, table: Table) -> None:
    grid = list(sheet.iter_rows())
    header_row = _find_header(table, grid)
    if header_row is None:
        table.problem("A1", "(sheet)", "no header row with the roster's column names",
                      "put the headers (" + " ".join(c.header for c in table.spec.columns) + ") in row 1")
        return
    header_row_problems(table, header_row)
    merged = _merged_ranges(sheet, header_row, table)
    for cells in grid[header_row:]:
        row = _row(cells, table.column_index, merged)
        if row is not None:
            table.rows.append(row)


def _find_header(table: Table, grid: list) -> int | None:
    for cells in grid[:HEADER_SEARCH_ROWS]:
        found, unknown = match_headers(table.spec, [(c.column, c.value) for c in cells])
        if len(found) >= 2:
            table.column_index = found
            for text in unknown:
                table.problem(f"{cells[0].row}", str(text), "this column is not part of the roster",
                              "it is ignored", note=True)
            return cells[0].row
    return None


def _merged_ranges(sheet: Worksheet, header_row: int, table: Table) -> dict[str, str]:
    """Cell ref -> merged range, for ranges below the header; each range is one problem."""
    inside: dict[str, str] = {}
    names = {index: key for key, index in table.column_index.items()}
    for merged in sheet.merged_cells.ranges:
        if merged.max_row <= header_row:
            continue
        key = next((names[c] for c in range(merged.min_col, merged.max_col + 1) if c in names), None)
        column = table.spec.column(key).header if key else "(merged)"
        table.problem(merged.coord, column, f"cells {merged.coord} are merged",
                      "unmerge them (Home → Merge & Center off) and type the value in every row")
        for row, column_number in merged.cells:
            inside[f"{get_column_letter(column_number)}{row}"] = merged.coord
    return inside


def _row(cells: tuple, column_index: dict[str, int], merged: dict[str, str]) -> Row | None:
    row_cells: dict[str, Cell] = {}
    for key, index in column_index.items():
        if index > len(cells):
            continue
        raw = cells[index - 1]
        formula = raw.value if raw.data_type == "f" else None
        value = None if formula else raw.value
        row_cells[key] = Cell(raw.coordinate, value, formula=str(formula) if formula else None,
                              merged=merged.get(raw.coordinate), typed_text=raw.data_type == "s")
    if all(c.value is None or str(c.value).strip() == "" for c in row_cells.values()) and \
            not any(c.formula or c.merged for c in row_cells.values()):
        return None
    return Row(cells[0].row, row_cells)

"""Reads the roster's tables from CSV files, one per sheet, named after the sheet
(学校.csv, 教室设备.csv, 县.csv, 设置.csv, or schools.csv ...).

Excel on Windows saves CSV as GBK ("CSV (逗号分隔)") or as UTF-8 with a BOM ("CSV UTF-8"):
both are read. Cell references are those Excel shows when it opens the file, so a
message points at the same cell whichever form the county keeps.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from openpyxl.utils import get_column_letter

from roster.columns import SHEETS
from roster.problems import RosterProblem
from roster.tables import Cell, Row, Table, header_row_problems, match_headers, spec_for

ENCODINGS = ("utf-8-sig", "gb18030")  # gb18030 reads every GBK file and more


def decode(data: bytes) -> tuple[str, str]:
    """The text and the encoding it was in: UTF-8 (with or without BOM), else GBK."""
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    return data.decode("gb18030", errors="replace"), "gb18030"


def read_csv_folder(folder: Path) -> tuple[list[Table], list[RosterProblem]]:
    tables, problems = [], []
    for path in sorted(folder.glob("*.csv")):
        spec = spec_for(path.stem, SHEETS)
        if spec is None:
            problems.append(RosterProblem(path.name, path.stem, "A1", "(file)", "this file is not a roster table",
                                          "it is ignored; name the files " + " ".join(s.title + ".csv" for s in SHEETS),
                                          note=True))
            continue
        tables.append(read_csv_table(path, spec))
    return tables, problems


def read_csv_table(path: Path, spec) -> Table:
    text, _ = decode(path.read_bytes())
    table = Table(path.name, spec.title, spec)
    lines = list(csv.reader(io.StringIO(text, newline="")))
    header_at = next((n for n, line in enumerate(lines[:5])
                      if len(match_headers(spec, list(enumerate(line, 1)))[0]) >= 2), None)
    if header_at is None:
        table.problem("A1", "(file)", "no header row with the roster's column names",
                      "put the headers (" + ",".join(c.header for c in spec.columns) + ") in the first line")
        return table
    table.column_index, _unknown = match_headers(spec, list(enumerate(lines[header_at], 1)))
    header_row_problems(table, header_at + 1)
    for number, line in enumerate(lines[header_at + 1:], header_at + 2):
        cells = {key: Cell(f"{get_column_letter(index)}{number}", line[index - 1] if index <= len(line) else None)
                 for key, index in table.column_index.items()}
        if any(c.value not in (None, "") for c in cells.values()):
            table.rows.append(Row(number, cells))
    return table

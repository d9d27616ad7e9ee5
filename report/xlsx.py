"""The report as an Excel workbook (what bureaus file): one sheet per table of the report.

Frozen header rows, number formats by column, and the pass/fail columns filled green or red
so that a reviewer scanning 300 rows sees the failures first.
"""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from report.figures import Report
from report.table import FAIL, PASS, Column, Sheet, sheets

GREEN = PatternFill("solid", fgColor="C6EFCE")
RED = PatternFill("solid", fgColor="FFC7CE")
HEADER = PatternFill("solid", fgColor="DDEBF7")


def write(report: Report, path: Path) -> Path:
    workbook = Workbook()
    workbook.remove(workbook.active)
    for sheet in sheets(report):
        _write_sheet(workbook.create_sheet(sheet.name), sheet)
    workbook.properties.title = f"schoolnet 达标监测报告 compliance report {report.period.label}"
    workbook.save(path)
    return path


def _write_sheet(worksheet, sheet: Sheet) -> None:
    worksheet.append([column.header for column in sheet.columns])
    for header in worksheet[1]:
        header.font = Font(bold=True)
        header.fill = HEADER
        header.alignment = Alignment(wrap_text=True, vertical="top")
    for row in sheet.rows:
        worksheet.append(list(row))
    for index, column in enumerate(sheet.columns, start=1):
        _format_column(worksheet, index, column, len(sheet.rows))
    worksheet.freeze_panes = "A2"
    worksheet.row_dimensions[1].height = 45


def _format_column(worksheet, index: int, column: Column, rows: int) -> None:
    letter = get_column_letter(index)
    widest = max([len(str(worksheet.cell(r, index).value or "")) for r in range(2, rows + 2)] + [8])
    worksheet.column_dimensions[letter].width = min(60, max(12, widest * 1.6))
    number_format = "0" if column.digits == 0 else (f"0.{'0' * column.digits}" if column.digits else None)
    for r in range(2, rows + 2):
        target = worksheet.cell(r, index)
        if number_format and isinstance(target.value, (int, float)):
            target.number_format = number_format
        if column.status and target.value in (PASS, FAIL):
            target.fill = GREEN if target.value == PASS else RED

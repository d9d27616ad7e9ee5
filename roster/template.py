"""`schoolnet-fleet template`: an empty roster workbook a clerk can fill in without a manual.

Each sheet has its zh-CN headers (a comment under each says what goes in it), one example
row to overwrite, and drop-downs (Excel data validation) for every column with fixed
choices, so the kinds and yes/no columns cannot be mistyped in the first place.
"""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from roster.columns import SHEETS
from roster.tables import SheetSpec

VALIDATED_ROWS = 5000  # drop-downs reach this row: room for a province-sized county
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
EXAMPLE_FONT = Font(italic=True, color="808080")


def write_template(path: Path) -> None:
    book = Workbook()
    book.remove(book.active)
    for spec in SHEETS:
        _sheet(book.create_sheet(spec.title), spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)


def _sheet(sheet, spec: SheetSpec) -> None:
    sheet.append([column.header for column in spec.columns])
    for index, column in enumerate(spec.columns, 1):
        cell = sheet.cell(1, index)
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
        english = column.aliases[0] if column.aliases else column.key
        required = "必填 required" if column.required else "选填 optional"
        cell.comment = Comment(f"{english} — {required}\n{column.help}", "schoolnet")
        sheet.column_dimensions[get_column_letter(index)].width = max(12, len(column.header) * 2 + 4)
        if column.choices:
            _drop_down(sheet, index, column.choices)
    for row in spec.example:
        sheet.append(list(row))
        for cell in sheet[sheet.max_row]:
            cell.font = EXAMPLE_FONT
    if spec.example:
        sheet.cell(2, 1).comment = Comment("示例行：改成本县的数据，或删除 / example row: overwrite or delete it",
                                           "schoolnet")
    sheet.freeze_panes = "A2"


def _drop_down(sheet, column: int, choices: tuple[str, ...]) -> None:
    letter = get_column_letter(column)
    validation = DataValidation(type="list", formula1='"' + ",".join(choices) + '"', allow_blank=True,
                                showErrorMessage=True, errorTitle="不在选项中 not a choice",
                                error="请从下拉列表中选择 / choose from the list: " + " ".join(choices))
    validation.add(f"{letter}2:{letter}{VALIDATED_ROWS}")
    sheet.add_data_validation(validation)

"""One cell to one value, or a problem in the clerk's words.

Excel lets a clerk type what looks right and is not: a full-width digit (１２０), a space
after an id, a number stored as text, a date that became a serial number, a formula whose
value the file may not even hold. Each reader here takes the cell as the workbook (or CSV)
holds it and either returns the value or records one problem on the table and returns None.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, time, timedelta

from roster.tables import Cell, Column, Table
from schoolnet_core.contract import id_problem

EXCEL_EPOCH = date(1899, 12, 30)  # serial 1 is 1900-01-01 (Excel's 1900 leap-year bug included)
_DATE = re.compile(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?")
_CLOCK = re.compile(r"([01]?\d|2[0-3])[:：]([0-5]\d)")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")


class Reader:
    """Reads the cells of one table, recording every problem on it."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def problem(self, cell: Cell, column: Column, problem: str, fix: str, note: bool = False) -> None:
        self.table.problem(cell.ref, column.header, problem, fix, note)

    def raw(self, cell: Cell, column: Column) -> object | None:
        """The cell's value, or None when empty or already reported (a formula, a merge)."""
        if cell.formula is not None:
            self.problem(cell, column, f"holds a formula ({cell.formula[:40]})",
                         "type the value itself (copy, then Paste Special → Values)")
            return None
        if cell.merged is not None:
            return None  # the merged range is one problem already
        if cell.value is None or (isinstance(cell.value, str) and cell.value.strip() == ""):
            if column.required:
                self.problem(cell, column, "is empty", f"fill it in: {column.help}" if column.help else "fill it in")
            return None
        return cell.value

    def name(self, cell: Cell, column: Column) -> str | None:
        """Free text (a school's or class's name): spaces at the ends are dropped."""
        value = self.raw(cell, column)
        if value is None:
            return None
        text = " ".join(str(value).split())
        if len(text) > 64:
            self.problem(cell, column, f"is {len(text)} characters long", "shorten it to at most 64 characters")
            return None
        return text

    def code(self, cell: Cell, column: Column) -> str | None:
        """Text a machine reads (an address, a check, a path): no stray or full-width characters."""
        value = self.raw(cell, column)
        if value is None:
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return self._plain(cell, column, str(value))

    def _plain(self, cell: Cell, column: Column, text: str) -> str | None:
        folded = unicodedata.normalize("NFKC", text).replace("\u3000", " ")
        if folded != text and folded.isascii():
            what = _full_width_kind(text)
            self.problem(cell, column, f'"{text}" has {what}', f"type {folded.strip()}")
            return None
        if text != text.strip():
            self.problem(cell, column, f'"{text}" has a space at the start or end',
                         f'delete the space: type {text.strip()}')
            return None
        return text

    def ident(self, cell: Cell, column: Column) -> str | None:
        text = self.code(cell, column)
        if text is None:
            return None
        problem = id_problem(text)
        if problem:
            suggestion = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")
            fix = f"type {suggestion}" if suggestion and id_problem(suggestion) is None else \
                "use lowercase letters, digits, - and _ (pinyin, not Chinese), at most 64"
            self.problem(cell, column, f'"{text}" is not a valid code', fix)
            return None
        return text

    def number(self, cell: Cell, column: Column, lo: float, hi: float, whole: bool = False) -> float | None:
        value = self.raw(cell, column)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            self.problem(cell, column, f'"{value}" is not a number', f"type a number from {lo:g} to {hi:g}")
            return None
        if isinstance(value, str):
            value = self._text_number(cell, column, value)
            if value is None:
                return None
        if whole and not float(value).is_integer():
            self.problem(cell, column, f"{value:g} is not a whole number", f"type a whole number, e.g. {round(value)}")
            return None
        if not lo <= value <= hi:
            self.problem(cell, column, f"{value:g} is out of range", f"type a number from {lo:g} to {hi:g}")
            return None
        return int(value) if whole else float(value)

    def _text_number(self, cell: Cell, column: Column, text: str) -> float | None:
        plain = self._plain(cell, column, text)
        if plain is None:
            return None
        bare = plain.replace(",", "")
        if not _NUMBER.fullmatch(bare):
            digits = "".join(re.findall(r"[\d.]+", bare)) or "120"
            self.problem(cell, column, f'"{plain}" is not a number', f"type only the number, e.g. {digits}")
            return None
        if cell.typed_text:
            self.problem(cell, column, f'"{plain}" is a number stored as text', f"read as {bare}; nothing to do "
                         "(to tidy it: select the cell, click the warning sign → Convert to Number)", note=True)
        return float(bare)

    def choice(self, cell: Cell, column: Column, options: dict[str, object]) -> object | None:
        """One of `options` (keys compared without case, width or spaces)."""
        text = self.code(cell, column) if isinstance(self.peek(cell), str) else self.raw(cell, column)
        if text is None:
            return None
        folded = {_fold(key): value for key, value in options.items()}
        if _fold(str(text)) in folded:
            return folded[_fold(str(text))]
        shown = " / ".join(column.choices or tuple(options))
        self.problem(cell, column, f'"{text}" is not one of the choices', f"choose one of: {shown}")
        return None

    @staticmethod
    def peek(cell: Cell) -> object:
        return cell.value

    def day(self, cell: Cell, column: Column) -> date | None:
        value = self.raw(cell, column)
        if value is None:
            return None
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        if isinstance(value, (int, float)) or (isinstance(value, str) and value.strip().isdigit()):
            return self._serial_day(cell, column, float(value))
        text = self._plain(cell, column, str(value))
        match = _DATE.fullmatch(text) if text else None
        if text is not None and match:
            try:
                return date(*(int(part) for part in match.groups()))
            except ValueError:
                pass
        if text is not None:
            self.problem(cell, column, f'"{text}" is not a date', "type it as YYYY-MM-DD, e.g. 2026-09-01")
        return None

    def _serial_day(self, cell: Cell, column: Column, serial: float) -> date | None:
        if not 20_000 <= serial <= 80_000:  # 1954..2119: anything else is not a date someone meant
            self.problem(cell, column, f"{serial:g} is not a date", "type it as YYYY-MM-DD, e.g. 2026-09-01")
            return None
        day = EXCEL_EPOCH + timedelta(days=int(serial))
        self.problem(cell, column, f"{serial:g} is a date shown as an Excel serial number",
                     f"read as {day}; format the cell as a date (Format Cells → Date) to be sure", note=True)
        return day

    def clock(self, cell: Cell, column: Column) -> time | None:
        value = self.raw(cell, column)
        if value is None:
            return None
        if isinstance(value, time):
            return value.replace(second=0, microsecond=0)
        if isinstance(value, datetime):
            return value.time().replace(second=0, microsecond=0)
        if isinstance(value, float) and 0 <= value < 1:  # Excel's time of day as a fraction
            minutes = round(value * 24 * 60)
            return time(minutes // 60, minutes % 60)
        text = self._plain(cell, column, str(value))
        match = _CLOCK.fullmatch(text) if text else None
        if match:
            return time(int(match[1]), int(match[2]))
        if text is not None:
            self.problem(cell, column, f'"{text}" is not a time of day', "type it as HH:MM, e.g. 08:00")
        return None

    def moment(self, cell: Cell, column: Column) -> datetime | None:
        """A date and a time (a maintenance window's start or end), local to the county."""
        value = self.raw(cell, column)
        if value is None:
            return None
        if isinstance(value, datetime):
            return value
        text = self._plain(cell, column, str(value))
        if text is None:
            return None
        day_text, _, clock_text = text.partition(" ")
        match, clock = _DATE.fullmatch(day_text), _CLOCK.fullmatch(clock_text.strip() or "00:00")
        if match and clock:
            try:
                return datetime(*(int(p) for p in match.groups()), int(clock[1]), int(clock[2]))
            except ValueError:
                pass
        self.problem(cell, column, f'"{text}" is not a date and time', "type it as YYYY-MM-DD HH:MM, e.g. 2026-11-07 22:00")
        return None


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().lower().replace(" ", "").replace("_", "")


def _full_width_kind(text: str) -> str:
    if any("\uff10" <= char <= "\uff19" for char in text):
        return "a full-width digit"
    if "\u3000" in text:
        return "a full-width space"
    return "full-width characters"

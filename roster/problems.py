"""What is wrong with a roster, said the way a county clerk can act on it.

Every problem names the file, the sheet and the cell, the column as the clerk sees it, what
is wrong and how to fix it: `roster.xlsx:学校!C17: 在校生数: "1２0" has a full-width digit — type 120`.
A note has the same shape but does not stop the roster being used: it says what was read
in place of what was typed (a number stored as text, a date as a serial number).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RosterProblem:
    file: str
    sheet: str
    cell: str
    column: str
    problem: str
    fix: str
    note: bool = False  # True: read anyway, shown so the clerk can tidy the cell

    def __str__(self) -> str:
        return f"{self.file}:{self.sheet}!{self.cell}: {self.column}: {self.problem} — {self.fix}"

    @property
    def sort_key(self) -> tuple:
        return (self.file, self.sheet, _cell_order(self.cell), self.column)


def _cell_order(cell: str) -> tuple[int, str]:
    """C17 sorts after C9: rows by number, then columns by letters."""
    letters = cell.rstrip("0123456789:")
    digits = cell[len(letters):].split(":")[0]
    return (int(digits) if digits.isdigit() else 0, letters)


class RosterError(Exception):
    """The roster cannot be used: `problems` lists every mistake found, in sheet order."""

    def __init__(self, problems: list[RosterProblem]) -> None:
        self.problems = sorted(problems, key=lambda p: p.sort_key)
        super().__init__(f"{len(self.problems)} problem(s) in the roster:\n"
                         + "\n".join(str(p) for p in self.problems))

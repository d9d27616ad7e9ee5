"""One entry point: a roster path (an .xlsx workbook, or a folder of CSV files) to the
roster model and its notes, or RosterError with every problem."""

from __future__ import annotations

from pathlib import Path

from roster.csv_tables import read_csv_folder
from roster.model import Roster
from roster.problems import RosterError, RosterProblem
from roster.validate import build_roster
from roster.workbook import read_workbook


def load_roster(path: str | Path) -> tuple[Roster, list[RosterProblem]]:
    path = Path(path)
    if path.is_dir():
        tables, problems = read_csv_folder(path)
    elif path.suffix.lower() in (".xlsx", ".xlsm"):
        tables, problems = read_workbook(path)
    elif path.suffix.lower() == ".csv":
        tables, problems = read_csv_folder(path.parent)
    else:
        raise RosterError([RosterProblem(path.name, "-", "A1", "(file)", "is not an .xlsx workbook or a CSV folder",
                                         "save the workbook as .xlsx (Excel Workbook), or give the folder of CSV files")])
    return build_roster(tables, problems)

"""A county written as a workbook and applied into a state folder, for the fleet tests."""

from __future__ import annotations

import copy
from pathlib import Path

from fleet.cli import main
from roster import sample
from roster.columns import CLASSROOMS, SCHOOLS, SETTINGS


def county_tables(schools: int = 300, counties: int = 3) -> dict:
    return sample.tables(schools, counties)


def edited(tables: dict, *, add: bool = False, retire: str | None = None, move: str | None = None) -> dict:
    """A copy with one school added, one retired (and its classes), one device moved to
    another class of its school (its class column changed)."""
    tables = copy.deepcopy(tables)
    if add:
        tables[SCHOOLS].append(["c00", "3000999999", "新建学校", "小学", "乡村", 180, 100] + [None] * 4)
    if retire:
        tables[SCHOOLS] = [row for row in tables[SCHOOLS] if row[1] != retire]
        tables[CLASSROOMS] = [row for row in tables[CLASSROOMS] if row[0] != retire]
    if move:
        row = next(row for row in tables[CLASSROOMS] if row[0] == move and row[1] == "c2")
        row[1], row[2] = "c1", next(r[2] for r in tables[CLASSROOMS] if r[0] == move and r[1] == "c1")
        row[6] = "10.0.1.13"  # its address in the new class
    return tables


def with_setting(tables: dict, row: list) -> dict:
    tables = copy.deepcopy(tables)
    tables[SETTINGS].append(row)
    return tables


def fleet(*argv: str | Path) -> int:
    return main([str(arg) for arg in argv])

"""The report as CSV, one file per sheet, UTF-8 with a BOM: Excel opens Chinese text
correctly only with the BOM (without it, it guesses the local code page and shows noise)."""

from __future__ import annotations

import csv
from pathlib import Path

from report.figures import Report
from report.table import sheets, text


def write(report: Report, directory: Path, stem: str) -> list[Path]:
    paths = []
    for sheet in sheets(report):
        path = directory / f"{stem}_{sheet.name}.csv"
        with path.open("w", encoding="utf-8-sig", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow([column.header for column in sheet.columns])
            for row in sheet.rows:
                writer.writerow([text(value, column) for value, column in zip(row, sheet.columns)])
        paths.append(path)
    return paths

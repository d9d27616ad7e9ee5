"""A synthetic county (or province) roster, for tests, benchmarks and trying the tool out.

Deterministic: school n of county c always has the same id, classes and devices, so a
test can add, retire or move one thing and know exactly what plan must show. Sizes are
mixed like bench/schools.py's (6, 12 or 30 classes; 7 in 10 rural; one in 10 a 教学点).
"""

from __future__ import annotations

import csv
from pathlib import Path

from openpyxl import Workbook

from roster.columns import CLASSROOMS, COUNTIES, SCHOOLS, SETTINGS
from roster.model import SCHOOL_TYPES

CLASS_COUNTS = (6, 6, 6, 6, 12, 12, 12, 12, 30, 30)
KINDS = ("交互式一体机", "投影仪", "电子白板", "智慧黑板")


def county_ids(count: int) -> list[str]:
    return [f"c{n:02d}" for n in range(count)]


def school_id(county_index: int, number: int) -> str:
    """A 10-digit 学校标识码-like id, unique over the whole roster."""
    return f"3{county_index:03d}{number:06d}"


def school_rows(schools: int, counties: int) -> list[list]:
    rows = []
    for n in range(schools):
        county = n % counties
        kind = "教学点" if n % 10 == 9 else SCHOOL_TYPES[n % 5]
        rows.append([county_ids(counties)[county], school_id(county, n), f"第{n}学校", kind,
                     "乡村" if n % 10 < 7 else "城区", 200 + 10 * (n % 50), 100 if n % 3 else 200,
                     None, None, None, None])
    return rows


def classroom_rows(schools: int, counties: int) -> list[list]:
    rows = []
    for n in range(schools):
        sid = school_id(n % counties, n)
        for room in range(CLASS_COUNTS[n % 10]):
            class_id, class_name = f"c{room + 1}", f"{room // 6 + 1}年级({room % 6 + 1})班"
            if room == 5 and n % 4 == 0:  # one class in some schools has no device yet
                rows.append([sid, class_id, class_name] + [None] * 7)
                continue
            kind = KINDS[room % len(KINDS)]
            check = "pjlink" if kind == "投影仪" else "tcp:80" if room % 2 else "icmp"
            rows.append([sid, class_id, class_name, kind, None, None, f"10.{room // 200}.{room % 200}.11",
                         check, "是", None])
            if room % 3 == 0:
                rows.append([sid, class_id, class_name, "班级电脑", None, None, f"10.{room // 200}.{room % 200}.12",
                             "icmp", "否", None])
    return rows


def county_rows(counties: int) -> list[list]:
    return [[cid, f"第{n}县", f"it@{cid}.edu.example.cn", None, f"/etc/schoolnet-central/dingtalk-{cid}.token"]
            for n, cid in enumerate(county_ids(counties))]


def setting_rows() -> list[list]:
    """The template's example settings, its maintenance window moved to the first county."""
    return [[("c00" if value == "hx" else value) for value in row] for row in SETTINGS.example]


def tables(schools: int, counties: int) -> dict:
    """Sheet spec -> rows, in the template's column order."""
    return {SCHOOLS: school_rows(schools, counties), CLASSROOMS: classroom_rows(schools, counties),
            COUNTIES: county_rows(counties), SETTINGS: setting_rows()}


def write_xlsx(path: Path, sheets: dict) -> Path:
    book = Workbook(write_only=True)
    for spec, rows in sheets.items():
        sheet = book.create_sheet(spec.title)
        sheet.append([column.header for column in spec.columns])
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def write_csv(folder: Path, sheets: dict, encoding: str = "gbk") -> Path:
    """One CSV per sheet as Excel on Windows saves them: GBK ("CSV (逗号分隔)") by default,
    or "utf-8-sig" ("CSV UTF-8"), with CRLF line ends."""
    folder.mkdir(parents=True, exist_ok=True)
    for spec, rows in sheets.items():
        with open(folder / f"{spec.title}.csv", "w", encoding=encoding, newline="") as stream:
            writer = csv.writer(stream, lineterminator="\r\n")
            writer.writerow([column.header for column in spec.columns])
            writer.writerows([["" if value is None else value for value in row] for row in rows])
    return folder

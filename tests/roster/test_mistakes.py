"""A workbook holding each mistake clerks really make (issue 12, part 2): every one is
reported at once, at its cell, in the form FILE:SHEET!CELL: column: problem — fix."""

from __future__ import annotations

import pytest
from openpyxl import Workbook

from roster.columns import CLASSROOMS, COUNTIES, SCHOOLS, SETTINGS
from roster.load import load_roster
from roster.problems import RosterError


def _sheet(book, spec, rows):
    sheet = book.create_sheet(spec.title)
    sheet.append([column.header for column in spec.columns])
    for row in rows:
        sheet.append(row)
    return sheet


@pytest.fixture(scope="module")
def problems(tmp_path_factory):
    book = Workbook()
    book.remove(book.active)
    schools = _sheet(book, SCHOOLS, [
        ["hx", "3652000001", "甲校", "初中", "乡村", "1２0"],          # 2: full-width digit
        ["hx", "3652000002 ", "乙校", "小学", "乡村", 300],            # 3: trailing space in the id
        ["hx", "3652000001", "丙校", "小学", "城区", 200],             # 4: duplicate id
        ["hx", "3652000004", "丁校", "小学", "乡村", "450"],           # 5: number stored as text (a note)
        ["hx", "3652000005", None, "小学", "乡村", 100],               # 6: empty required cell
        ["hx", "3652000006", "戊校", "小学", "乡村", 100],              # 7-8: name merged over two rows
        ["hx", "3652000007", None, "小学", "乡村", 100],
        ["hx", "3652000009", "己校", "小学", "乡村", "=100+20"],        # 9: formula
        ["hx", "3652000010", "庚校", "初中", "乡村", 800, "100M"],       # 10: units typed in a number
    ])  # fmt: skip
    schools.merge_cells("C7:C8")
    _sheet(book, CLASSROOMS, [
        ["3652000001", "c1", "一班", "交互式一体机", None, None, "192.168.1.300", "tcp:80"],  # 2: malformed
        ["9999999999", "c1", "一班", "投影仪", None, None, "192.168.1.21", "pjlink"],        # 3: unknown school
        ["3652000001", "c2", "二班", "投影仪", None, None, "192.168.1.20", "pjlink"],
        ["3652000001", "c3", "三班", "电子白板", None, None, "192.168.1.20", "icmp"],         # 5: same address
        ["3652000001", "c4", "四班", "投影仪", None, None, "192.168.1.40", "pjlink", "是", "hunter2"],  # 6: a password
    ])  # fmt: skip
    counties = _sheet(book, COUNTIES, [["hx", "花溪区", "it@hx.edu.example.cn"]])
    counties.sheet_state = "hidden"
    _sheet(book, SETTINGS, [
        ["学期", "2026-2027学年第一学期", 46266, "2027-01-22"],           # 2: a date as a serial number
        ["假期", "国庆节", "2026-10-01", "2026-09-30"],                  # 3: ends before it starts
    ])  # fmt: skip
    path = tmp_path_factory.mktemp("mistakes") / "roster.xlsx"
    book.save(path)
    with pytest.raises(RosterError) as caught:
        load_roster(path)
    return [str(problem) for problem in caught.value.problems]


EXPECTED = [
    '学校!F2: 在校生数: "1２0" has a full-width digit — type 120',
    '学校!B3: 学校标识码: "3652000002 " has a space at the start or end — delete the space: type 3652000002',
    '学校!B4: 学校标识码: "3652000001" is already the id of 甲校 (B2) — each school needs its own id: check the 学校标识码',
    '学校!C6: 学校名称: is empty — fill it in: 学校全称',
    '学校!C7:C8: 学校名称: cells C7:C8 are merged — unmerge them (Home → Merge & Center off) and type the value in every row',
    '学校!F9: 在校生数: holds a formula (=100+20) — type the value itself (copy, then Paste Special → Values)',
    '学校!G10: 签约带宽Mbps: "100M" is not a number — type only the number, e.g. 100',
    ('教室设备!G2: 地址: "192.168.1.300" is not an IP address or host name — type an address like 192.168.1.20 '
    '(four numbers 0-255), a host name, or an http:// URL'),
    '教室设备!A3: 学校标识码: "9999999999" is not in the sheet 学校 — add the school to the sheet 学校 or correct the id',
    ('教室设备!G5: 地址: 192.168.1.20 is also the address of the device in G4 — each device has its own address: '
    'correct one of the two'),
    ('教室设备!J6: PJLink密码文件: is not a file path (it may be the password itself: the roster must not hold it) — '
    'put the password in a file on the gateway, e.g. /etc/schoolnet/pjlink.password, and type that path'),
    '设置!D3: 至: 2026-09-30 is before 2026-10-01 — the end must be on or after the start',
]
NOTES = [
    ('学校!F5: 在校生数: "450" is a number stored as text — read as 450; nothing to do (to tidy it: select the cell, '
    'click the warning sign → Convert to Number)'),
    ('县!A1: (sheet): the sheet 县 is hidden — it is read all the same; unhide it (right-click a sheet tab → Unhide) '
    'so others see it'),
    ('设置!C2: 值: 46266 is a date shown as an Excel serial number — read as 2026-09-01; format the cell as a date '
    '(Format Cells → Date) to be sure'),
]


@pytest.mark.parametrize("expected", EXPECTED + NOTES)
def test_each_mistake_is_reported_at_its_cell(problems, expected):
    assert f"roster.xlsx:{expected}" in problems


def test_nothing_else_is_reported(problems):
    assert sorted(problems) == sorted(f"roster.xlsx:{text}" for text in EXPECTED + NOTES)


def test_no_message_quotes_a_password_typed_into_the_roster(problems):
    assert not any("hunter2" in problem for problem in problems)

"""The formats people open: XLSX, CSV and the page agree cell for cell; the page renders in
headless Chromium without errors or network requests; the PDF carries the Chinese names."""

from __future__ import annotations

import csv
import dataclasses
import http.server
import re
import shutil
import subprocess
import threading
from html.parser import HTMLParser
from pathlib import Path

import openpyxl
import pytest

from report import cli, html, pdf, table
from schoolnet_stack.requirements import require_binary, unavailable
from tests.report import history, pixels

SHEETS = ["汇总", "学校", "教室", "同步课堂", "台账", "说明"]
SHOTS = Path("/tmp/schoolnet-report-shots")  # kept for people to look at after a run


@pytest.fixture(scope="module")
def written(october, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    paths = cli.write(october, ["xlsx", "csv", "html"], out, "schoolnet_all_2026-10")
    return {path.suffix + ("" if path.suffix != ".csv" else path.stem.rsplit("_", 1)[1]): path for path in paths}


class _Tables(HTMLParser):
    """Each <section data-sheet> table of the page as rows of cell texts (header first)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.sheet = self.cell = None
        self.row: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section" and "data-sheet" in attrs:
            self.sheet = attrs["data-sheet"]
            self.tables[self.sheet] = []
        elif tag == "tr" and self.sheet:
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = ""
        elif tag == "br" and self.cell is not None:
            self.cell += " "

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.row.append(self.cell)
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.tables[self.sheet].append(self.row)
            self.row = None
        elif tag == "section":
            self.sheet = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def test_xlsx_csv_and_page_agree_cell_for_cell(october, written):
    workbook = openpyxl.load_workbook(written[".xlsx"])
    assert workbook.sheetnames == SHEETS
    page = _Tables()
    page.feed(written[".html"].read_text(encoding="utf-8"))
    for sheet in table.sheets(october):
        columns = sheet.columns
        from_xlsx = [[table.text(value, column) for value, column in zip(row, columns)]
                     for row in workbook[sheet.name].iter_rows(min_row=2, values_only=True)]
        raw = written[".csv" + sheet.name].read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf"), "CSV without the UTF-8 BOM: Excel shows noise"
        from_csv = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
        assert from_csv[0] == [c.header for c in columns] == [c.value for c in workbook[sheet.name][1]]
        assert from_xlsx == from_csv[1:], sheet.name
        from_page = page.tables[sheet.name][1:]
        if not sheet.rows:
            from_page = []
        assert from_page == from_csv[1:], sheet.name
        assert len(from_csv) - 1 == len(sheet.rows)
    schools = workbook["学校"]
    assert schools.freeze_panes == "A2"
    assert [c.value for c in schools[1]][2] == "学校 School"
    assert len(page.tables["学校"]) == 13 and len(page.tables["台账"]) == 3


def test_xlsx_marks_pass_and_fail_and_formats_numbers(written):
    sheet = openpyxl.load_workbook(written[".xlsx"])["学校"]
    header = [c.value for c in sheet[1]]
    egress = header.index("出口带宽 Egress") + 1
    availability = header.index("宽带可用率% Broadband availability %") + 1
    fills = {sheet.cell(r, 3).value: (sheet.cell(r, egress).value, sheet.cell(r, egress).fill.fgColor.rgb)
             for r in range(2, sheet.max_row + 1)}
    assert fills["山北初级中学"] == (table.FAIL, "00FFC7CE")
    assert fills["大庄中学"] == (table.PASS, "00C6EFCE")
    assert sheet.cell(2, availability).number_format == "0.00"


def test_page_renders_in_chromium_without_errors_or_requests(written):
    """One Chromium run: the screenshot is not blank, the console has no error, and a
    recording proxy (the only way out for the browser) sees no request."""
    require_binary("chromium")
    page = written[".html"]
    assert not _external_references(page.read_text(encoding="utf-8"))
    SHOTS.mkdir(exist_ok=True)
    shot = SHOTS / "report-page.png"
    shot.unlink(missing_ok=True)
    with _RecordingProxy() as proxy:
        result = pdf.run_browser(proxy=f"http://127.0.0.1:{proxy.port}", args=[
            "--enable-logging=stderr", "--v=0", "--window-size=1400,2400", f"--screenshot={shot}",
            page.resolve().as_uri(),
        ])
    assert result.returncode == 0, result.stderr[-2000:]
    fetched = [request for request in proxy.requests if not _chromium_own(request)]
    assert fetched == [], "\n".join(request[:100] for request in fetched)
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []
    assert pixels.png_ink(shot) > 0.03, f"{shot} looks blank"


def test_pdf_has_pages_and_the_schools_chinese_names(october, written, tmp_path):
    require_binary("chromium")
    for tool in ("pdftoppm", "pdftotext"):
        if shutil.which(tool) is None:
            unavailable(f"{tool} is not installed", "apt-get install poppler-utils")
    out = pdf.print_pdf(written[".html"], tmp_path / "report.pdf")
    subprocess.run(["pdftoppm", "-r", "50", str(out), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.ppm"))
    assert pages and all(pixels.ppm_ink(page) > 0.005 for page in pages)
    subprocess.run(["pdftoppm", "-r", "70", "-png", "-f", "1", "-l", "2", str(out), str(SHOTS / "report-pdf")], check=True)
    words = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True, check=True).stdout
    for school in history.SCHOOLS:
        assert school.name in words, f"{school.name} missing from the PDF text (no CJK font?)"
    assert "台账" in words and "山北初级中学" in words
    assert "学校信息化达标监测报告" in words


def test_the_external_reference_check_can_fail():
    assert _external_references('<img src="http://cdn.example/x.png">')
    assert _external_references("<style>@import url(https://fonts.example/a.css)</style>")
    assert not _external_references('<svg xmlns="http://www.w3.org/2000/svg"></svg>')


CHROMIUM_OWN = ("update.googleapis.com", "accounts.google.com")
"""Chromium's component updater and sign-in, which call out whatever the page is (its flags
do not stop them all; in production they meet report.pdf's dead proxy)."""


def _chromium_own(request: str) -> bool:
    target = request.split(" ", 1)[1]
    host = re.sub(r"^https?://", "", target).split("/", 1)[0].split(":", 1)[0]
    return host in CHROMIUM_OWN


def test_the_request_filter_keeps_what_a_page_would_fetch():
    assert _chromium_own("CONNECT update.googleapis.com:443")
    assert not _chromium_own("CONNECT fonts.googleapis.com:443")
    assert not _chromium_own("GET http://cdn.example/x.js")


def _external_references(page: str) -> list[str]:
    """Every src/href/url() that is not inline: what a self-contained page must not have."""
    found = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url\(\s*["']?([^)"']+)""", page)
    return [ref for pair in found for ref in pair if ref and not ref.startswith(("data:", "#"))]


class _RecordingProxy:
    """An HTTP proxy on loopback that answers 502 to everything and remembers what was asked."""

    def __enter__(self):
        self.requests: list[str] = []
        record = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def _refuse(self):
                record.append(f"{self.command} {self.path}")
                self.send_error(502)

            do_GET = do_POST = do_HEAD = do_CONNECT = _refuse

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_the_availability_chart_says_why_a_full_bar_fails(october):
    """塘下小学 was silent a week: 100 % of what arrived was up, but only 72 % arrived. Its
    bar must not read as a red 100 % (a contradiction): it names the completeness and is
    grey-red; every other bar is as before."""
    chart = html._availability_chart(october.schools, history.ROSTER.settings.report)
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", chart)
    said = dict(zip(texts[::2], texts[1::2]))
    assert said == {
        **{school.name: "100.0%" for school in history.SCHOOLS},
        "大庄中学": "99.4%",
        "塘下小学": "100.0% · 完整率 completeness 72%",
        "源头教学点": "无数据 no data",
    }
    fills = re.findall(r'<rect [^>]*fill="([^"]+)"', chart)
    names = [school.name for school in history.SCHOOLS if school.name != "源头教学点"]  # no bar without data
    assert dict(zip(names, fills)) == {**{name: "#4a9d5b" for name in names}, "塘下小学": "#c9a3a1"}
    assert "完整率低于 90%" in chart


def test_a_school_below_target_and_incomplete_stays_red_and_names_its_completeness(october):
    silent = next(row for row in october.schools if row.name == "塘下小学")
    below = dataclasses.replace(silent, availability_pct=95.0)
    chart = html._availability_chart((below,), history.ROSTER.settings.report)
    assert re.findall(r"<text[^>]*>([^<]*)</text>", chart) == ["塘下小学", "95.0% · 完整率 completeness 72%"]
    assert re.findall(r'<rect [^>]*fill="([^"]+)"', chart) == ["#d9534f"]

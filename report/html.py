"""The report as one self-contained page: inline CSS and SVG, nothing fetched, prints on A4.

The same file is printed to PDF (report/pdf.py), so a county engineer can mail the page or
the PDF and both show the figures of the workbook, cell for cell.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from report.figures import Report, SchoolFigures
from report.table import FAIL, NOT_APPLICABLE, PASS, Sheet, sheets, text

CSS = """
@page { size: A4 landscape; margin: 10mm; }
body { font-family: "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", sans-serif;
       font-size: 10pt; color: #1b1b1b; margin: 16px; }
h1 { font-size: 16pt; margin: 0 0 4px; } h2 { font-size: 12.5pt; margin: 18px 0 6px;
  border-bottom: 2px solid #2b5797; padding-bottom: 2px; }
.meta { color: #555; margin-bottom: 10px; }
.cards { display: flex; flex-wrap: wrap; gap: 8px; }
.card { border: 1px solid #ccd; border-radius: 6px; padding: 6px 10px; min-width: 150px; }
.card b { display: block; font-size: 14pt; } .card span { color: #555; font-size: 8.5pt; }
table { border-collapse: collapse; width: 100%; font-size: 7.5pt; margin-bottom: 8px; }
th, td { border: 1px solid #bbb; padding: 2px 4px; vertical-align: top; }
th { background: #ddebf7; font-weight: 600; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.pass { background: #c6efce; } td.fail { background: #ffc7ce; } td.na { color: #777; }
thead { display: table-header-group; } tr { page-break-inside: avoid; }
section.sheet { page-break-before: auto; }
svg text { font-family: inherit; font-size: 10px; }
.legend { font-size: 8.5pt; color: #555; }
@media print { body { margin: 0; } h2 { page-break-after: avoid; }
  table.wide { zoom: 0.72; } th { overflow-wrap: anywhere; } }
"""


def render(report: Report) -> str:
    counties = "、".join(county.name for county in report.counties)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN"><head><meta charset="utf-8">',
        f"<title>{escape(counties)} 学校信息化达标报告 {escape(report.period.label)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{escape(counties)} 学校信息化达标监测报告 <small>School informatisation compliance report</small></h1>",
        (f'<div class="meta">报告期 Period: {report.period.first} – {report.period.last} '
         f"({escape(report.period.label)}) · 生成 Generated {report.generated:%Y-%m-%d %H:%M} UTC · "
         f"学校 Schools: {len(report.schools)}</div>"),
        _cards(report),
        "<h2>宽带可用率（上课时间）Broadband availability in school hours</h2>",
        _availability_chart(report.schools, report.roster.settings.report.availability_target_pct),
        "<h2>出口带宽实测中位数与目标 Egress median vs target</h2>",
        _egress_chart(report.schools),
    ]
    parts.extend(_table(sheet) for sheet in sheets(report))
    parts.append("</body></html>")
    return "\n".join(parts)


def write(report: Report, path: Path) -> Path:
    path.write_text(render(report), encoding="utf-8")
    return path


def _cards(report: Report) -> str:
    cards = []
    for county in report.counties:
        figures = [
            ("宽带达标 broadband", county.broadband_pct),
            ("出口带宽达标 egress", county.egress_pct),
            ("班级普及率 equipped classes", county.equipped_pct),
            ("乡村同步课堂 rural sync", county.sync_pct),
        ]
        inner = "".join(
            f'<div class="card"><span>{escape(label)}</span><b>{"—" if value is None else f"{value:.1f}%"}</b></div>'
            for label, value in figures
        )
        cards.append(f"<h2>{escape(county.name)} 总览 Overview</h2><div class=\"cards\">{inner}</div>")
    return "\n".join(cards)


def _table(sheet: Sheet) -> str:
    head = "".join(f"<th>{escape(column.zh)}<br>{escape(column.en)}</th>" for column in sheet.columns)
    body = []
    for row in sheet.rows:
        cells = []
        for value, column in zip(row, sheet.columns):
            classes = {PASS: "pass", FAIL: "fail", NOT_APPLICABLE: "na"}.get(value, "") if column.status else ""
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                classes = (classes + " n").strip()
            attribute = f' class="{classes}"' if classes else ""
            cells.append(f"<td{attribute}>{escape(text(value, column))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    rows = "\n".join(body) or f'<tr><td colspan="{len(sheet.columns)}">无 none</td></tr>'
    wide = ' class="wide"' if len(sheet.columns) > 20 else ""
    return (f'<section class="sheet" data-sheet="{escape(sheet.name)}"><h2>{escape(sheet.title)}</h2>'
            f"<table{wide}><thead><tr>{head}</tr></thead><tbody>\n{rows}\n</tbody></table></section>")


def _bars(rows: list[tuple[str, float | None, float | None, str]], scale: float, unit: str,
          low: float = 0.0) -> str:
    """Horizontal bars from `low` to `scale`: (label, value, marker, colour); the marker is a
    target line. A low end above 0 makes 99 % and 100 % look different, as they are."""
    label_w, bar_w, step = 230, 560, 18
    height = step * len(rows) + 20
    width = label_w + bar_w + 90
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">']
    for index, (label, value, marker, colour) in enumerate(rows):
        y = 10 + index * step
        out.append(f'<text x="{label_w - 6}" y="{y + 11}" text-anchor="end">{escape(label)}</text>')
        if value is None:
            out.append(f'<text x="{label_w + 4}" y="{y + 11}" fill="#b00">无数据 no data</text>')
        else:
            width = max(1.0, bar_w * (min(value, scale) - low) / (scale - low))
            out.append(f'<rect x="{label_w}" y="{y + 2}" width="{width:.1f}" height="12" fill="{colour}"/>')
            out.append(f'<text x="{label_w + width + 4}" y="{y + 11}">{value:.1f}{unit}</text>')
        if marker is not None:
            x = label_w + bar_w * (min(max(marker, low), scale) - low) / (scale - low)
            out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y}" y2="{y + 16}" stroke="#222" stroke-width="2"/>')
    out.append("</svg>")
    return "".join(out)


def _availability_chart(rows: tuple[SchoolFigures, ...], target: float) -> str:
    bars = [(row.name, row.availability_pct, target, "#4a9d5b" if row.broadband_ok else "#d9534f") for row in rows]
    values = [row.availability_pct for row in rows if row.availability_pct is not None]
    low = min(90.0, (min(values + [target]) // 10) * 10)
    legend = (f'<div class="legend">横轴 {low:g}%–100% · axis {low:g}–100 %; 竖线为目标 {target:g}% · the line is '
              "the target; 红色 red = 未达标 not compliant</div>")
    return _bars(bars, 100.0, "%", low) + legend


def _egress_chart(rows: tuple[SchoolFigures, ...]) -> str:
    scale = max([row.target_mbps for row in rows] + [row.download_median or 0 for row in rows] + [1.0]) * 1.1
    bars = [(row.name, row.download_median, row.target_mbps, "#4a9d5b" if row.egress_ok else "#d9534f")
            for row in rows]
    legend = '<div class="legend">竖线为该校目标 · the line is the school\'s target (Mbps)</div>'
    return _bars(bars, scale, "") + legend

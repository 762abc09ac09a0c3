"""The report as an XLSX workbook: a cover sheet, then one sheet per table (raw numbers with number
formats, so that people can compute with them)."""

from __future__ import annotations

import io

from streams.report.model import WeeklyReport

_NUMFMT = {
    "int": "#,##0",
    "delta": "+#,##0;-#,##0;0",
    "pct": "0.0%",
    "pts": "+0.0%;-0.0%;0.0%",
    "num1": "0.0",
}


def render_xlsx(report: WeeklyReport) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    cover = wb.active
    cover.title = "封面"
    cover.append([report.title])
    cover["A1"].font = Font(bold=True, size=14)
    cover.append([report.subtitle])
    cover.append([f"生成时间：{report.generated_at:%Y-%m-%d %H:%M}（北京时间）"])
    cover.append([])
    for s in report.sections:
        cover.append([s.title])
        if s.unavailable:
            cover.append([s.unavailable])
        for n in s.notes:
            cover.append([n])
    cover.column_dimensions["A"].width = 100
    head_fill = PatternFill("solid", fgColor="EEF3FA")
    used: set[str] = {"封面"}
    for t in report.tables():
        name = t.key[:31]
        if name in used:
            raise ValueError(f"two tables share the sheet name {name!r}")
        used.add(name)
        ws = wb.create_sheet(name)
        ws.append([t.title])
        ws["A1"].font = Font(bold=True)
        ws.append(list(t.columns))
        for c in range(1, len(t.columns) + 1):
            cell = ws.cell(row=2, column=c)
            cell.font = Font(bold=True)
            cell.fill = head_fill
            cell.alignment = Alignment(wrap_text=True)
        for row in t.rows:
            ws.append([None if v is None else v for v in row])
        for c, f in enumerate(t.fmt, start=1):
            if f in _NUMFMT:
                for r in range(3, 3 + len(t.rows)):
                    ws.cell(row=r, column=c).number_format = _NUMFMT[f]
            width = max(
                [len(str(t.columns[c - 1])) * 2, *(len(str(row[c - 1])) for row in t.rows)],
                default=8,
            )
            ws.column_dimensions[get_column_letter(c)].width = min(max(width, 8), 60)
        if not t.rows:
            ws.append(["（无）"])
        if t.note:
            ws.append([])
            ws.append([t.note])
        ws.freeze_panes = "A3"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()

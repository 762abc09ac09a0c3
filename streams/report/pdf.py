"""The report as a PDF in Chinese (fpdf2), with Noto Sans SC embedded as a subset (only the glyphs
used), charts as PNG. A4 landscape, so that the widest table fits without shrinking the text."""

from __future__ import annotations

import io

from streams.report.charts import render_png
from streams.report.fmt import cell_text
from streams.report.fonts import cjk_font_path
from streams.report.model import Table, WeeklyReport

_FONT = "NotoSansSC"


def _w(text: str) -> int:
    """Display width: a CJK character is about two Latin ones."""
    return sum(2 if ord(ch) >= 0x2E80 else 1 for ch in text)


def _widths(t: Table, total: float) -> tuple[float, ...]:
    raw = []
    for i, c in enumerate(t.columns):
        longest = max([_w(c), *(_w(cell_text(r[i], t.fmt[i])) for r in t.rows)], default=4)
        raw.append(min(max(longest, 6), 40))
    s = sum(raw)
    return tuple(total * r / s for r in raw)


def render_pdf(report: WeeklyReport, charts: dict[str, bytes] | None = None) -> bytes:
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    charts = charts if charts is not None else {f.key: render_png(f) for f in report.figures()}

    class _Pdf(FPDF):
        def footer(self) -> None:
            self.set_y(-12)
            self.set_font(_FONT, size=8)
            self.set_text_color(110)
            self.cell(0, 8, f"{report.title} · {report.week} · 第 {self.page_no()} 页", align="C")
            self.set_text_color(0)

    pdf = _Pdf(orientation="L", unit="mm", format="A4")
    pdf.set_title(f"{report.title} {report.week}")
    pdf.set_creator("YRD Emissions Watch")
    pdf.add_font(_FONT, "", str(cjk_font_path()))
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font(_FONT, size=18)
    pdf.cell(0, 10, report.title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(_FONT, size=10)
    pdf.set_text_color(80)
    pdf.cell(
        0,
        6,
        f"{report.subtitle}；生成时间：{report.generated_at:%Y-%m-%d %H:%M}（北京时间）",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_text_color(0)
    width = pdf.epw
    head = FontFace(emphasis=None, fill_color=(238, 243, 250))
    for s in report.sections:
        if pdf.get_y() > pdf.eph - 30:
            pdf.add_page()
        pdf.ln(3)
        pdf.set_font(_FONT, size=13)
        pdf.set_text_color(31, 95, 168)
        pdf.cell(0, 8, s.title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0)
        pdf.set_font(_FONT, size=9)
        if s.unavailable:
            pdf.set_fill_color(255, 244, 229)
            pdf.multi_cell(0, 6, s.unavailable, fill=True, new_x="LMARGIN", new_y="NEXT")
            pdf.set_fill_color(255)
        for n in s.notes:
            pdf.multi_cell(0, 5, n, new_x="LMARGIN", new_y="NEXT")
        for t in s.tables:
            pdf.set_font(_FONT, size=10)
            pdf.cell(0, 7, t.title, new_x="LMARGIN", new_y="NEXT")
            pdf.set_font(_FONT, size=8)
            if not t.rows:
                pdf.cell(0, 6, "（无）", new_x="LMARGIN", new_y="NEXT")
            else:
                align = tuple("L" if f == "text" else "R" for f in t.fmt)
                with pdf.table(
                    col_widths=_widths(t, width),
                    text_align=align,
                    headings_style=head,
                    line_height=4.5,
                    first_row_as_headings=True,
                    width=width,
                ) as tbl:
                    tbl.row(list(t.columns))
                    for r in t.rows:
                        tbl.row([cell_text(v, f) for v, f in zip(r, t.fmt, strict=True)])
            if t.note:
                pdf.set_text_color(100)
                pdf.multi_cell(0, 4.5, t.note, new_x="LMARGIN", new_y="NEXT")
                pdf.set_text_color(0)
            pdf.ln(2)
        for f in s.figures:
            h = width * 3.0 / 7.2 * 0.62
            if pdf.get_y() + h > pdf.eph + 10:
                pdf.add_page()
            pdf.image(io.BytesIO(charts[f.key]), w=width * 0.62, h=h, x=pdf.l_margin + width * 0.19)
            pdf.ln(2)
    return bytes(pdf.output())

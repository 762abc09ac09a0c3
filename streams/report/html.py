"""The report as one self-contained HTML file (charts embedded as PNG data URIs, no external asset)."""

from __future__ import annotations

import base64
from html import escape

from streams.report.charts import render_png
from streams.report.fmt import cell_text, trend_class
from streams.report.model import Table, WeeklyReport

_CSS = """
body{font-family:"Noto Sans SC","Source Han Sans SC","Microsoft YaHei","PingFang SC",sans-serif;
margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #1f5fa8;padding-bottom:.2em;margin-top:1.6em}
.meta{color:#555}.unavail{background:#fff4e5;border-left:4px solid #d9822b;padding:.6em 1em}
.nodata{background:#fdecea;border-left:4px solid #b3382c;padding:.6em 1em}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.9em;width:100%}
th,td{border:1px solid #ccc;padding:.3em .5em}th{background:#eef3fa;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}td.up{color:#b3382c}td.down{color:#2e7d32}
caption{text-align:left;font-weight:bold;margin-bottom:.3em}.note{color:#666;font-size:.85em}
img{max-width:100%}
"""


def _table(t: Table) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in t.columns)
    body = []
    for row in t.rows:
        cells = []
        for v, f in zip(row, t.fmt, strict=True):
            cls = " ".join(x for x in ("n" if f != "text" else "", trend_class(v, f)) if x)
            cells.append(
                f'<td class="{cls}">{escape(cell_text(v, f))}</td>'
                if cls
                else f"<td>{escape(cell_text(v, f))}</td>"
            )
        body.append("<tr>" + "".join(cells) + "</tr>")
    if not body:
        body.append(f'<tr><td colspan="{len(t.columns)}">（无）</td></tr>')
    note = f'<p class="note">{escape(t.note)}</p>' if t.note else ""
    return (
        f"<table><caption>{escape(t.title)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>{note}"
    )


def render_html(report: WeeklyReport, charts: dict[str, bytes] | None = None) -> str:
    charts = charts if charts is not None else {f.key: render_png(f) for f in report.figures()}
    parts = [
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{escape(report.title)} {report.week}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(report.title)}</h1>",
        f'<p class="meta">{escape(report.subtitle)}；生成时间：{report.generated_at:%Y-%m-%d %H:%M}（北京时间）</p>',
    ]
    for s in report.sections:
        parts.append(f"<h2>{escape(s.title)}</h2>")
        if s.unavailable:
            parts.append(f'<p class="unavail">{escape(s.unavailable)}</p>')
        for n in s.notes:
            cls = "nodata" if s.title == "本周无数据" else "note"
            parts.append(f'<p class="{cls}">{escape(n)}</p>')
        for t in s.tables:
            parts.append(_table(t))
        for f in s.figures:
            b64 = base64.b64encode(charts[f.key]).decode()
            parts.append(
                f'<figure><img alt="{escape(f.title)}" src="data:image/png;base64,{b64}"></figure>'
            )
    parts.append("</body></html>")
    return "\n".join(parts)

"""周报

Enforcement lead's page: produce the weekly exceedance report of a jurisdiction or the zone for an
ISO week (Beijing time) in HTML, PDF and XLSX, with a progress bar, download the files, and find the
past reports (the runner writes the previous week's every Monday). The same code as
``emwatch report weekly`` (``streams.report.generate``); the page holds layout only.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core.isoweek import IsoWeek, WeekError
from core.jurisdictions import JURISDICTIONS, ZONE
from core.registry import default_registry
from core.timeutil import BEIJING, utcnow
from dashboards.auth import current_scope
from dashboards.data import client
from dashboards.widgets import page_setup
from streams.report.charts import render_png
from streams.report.generate import FORMATS, generate, list_reports
from streams.report.labels import level_zh
from streams.settings import load_settings

MIME = {
    "html": "text/html",
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
FORMAT_ZH = {"html": "网页 HTML", "pdf": "PDF", "xlsx": "Excel 表格"}


def _audit_download(path: Path) -> None:
    """Every report download goes to the audit trail (user, scope, file)."""
    from dashboards.auth import auth_service

    assert scope is not None  # the page stops below for a visitor without a scope
    auth_service().auditor.record(
        "report_download", user=scope.user, scope=scope, what=path.name, client="dashboard"
    )


def _downloads(files: dict[str, Path], key: str) -> None:
    cols = st.columns(len(FORMATS))
    for col, fmt in zip(cols, FORMATS, strict=True):
        path = files.get(fmt)
        if path is not None and path.is_file():
            col.download_button(
                f"下载 {FORMAT_ZH[fmt]}",
                data=path.read_bytes(),
                file_name=path.name,
                mime=MIME[fmt],
                key=f"{key}-{fmt}",
                on_click=_audit_download,
                args=(path,),
            )


page_setup("周报")  # language switch and plate / VIN search, as on every page
st.caption("超标事件周报：按辖区与示范区统计，并与上周比较。时间均为北京时间。")
scope = current_scope()
if scope is None:
    st.warning("请先登录。")
    st.stop()

reports_dir = load_settings().data_dir / "reports"
now = utcnow()
last = IsoWeek.last_full(now)
weeks = [last.previous(i) for i in range(0, 26)]
levels = [j for j in JURISDICTIONS if j in scope.jurisdictions]
if len(levels) == len(JURISDICTIONS):
    levels.insert(0, ZONE)

c1, c2 = st.columns(2)
week = c1.selectbox("周次", weeks, format_func=lambda w: f"{w} · {w.label_zh()}")
level = c2.selectbox("辖区", levels, format_func=level_zh)
formats = st.multiselect(
    "格式", list(FORMATS), default=list(FORMATS), format_func=lambda f: FORMAT_ZH[f]
)

if st.button("生成周报", type="primary", disabled=not formats):
    bar = st.progress(0.0, text="开始")

    def progress(frac: float, msg: str) -> None:
        bar.progress(min(max(frac, 0.0), 1.0), text=msg)

    try:
        report, paths = generate(
            client(),
            week,
            level,
            scope,
            default_registry(),
            formats,
            reports_dir,
            now,
            progress,
        )
    except WeekError as exc:
        st.error(str(exc))
    else:
        st.session_state["weekly_report_last"] = {p.suffix.lstrip("."): p for p in paths}
        if not report.has_data:
            st.warning(f"{week.label_zh()}，{level_zh(level)}没有任何数据：报告已注明。")
        else:
            st.success(f"已生成：{report.title}（{week.label_zh()}）")
        summary = report.sections[1 if not report.has_data else 0].tables[0]
        st.dataframe(
            pd.DataFrame(list(summary.rows), columns=list(summary.columns)),
            hide_index=True,
            width="stretch",
        )
        for fig in report.figures():  # the same charts as in the files
            st.image(render_png(fig), caption=fig.title)

if "weekly_report_last" in st.session_state:
    _downloads(st.session_state["weekly_report_last"], "last")

st.subheader("往期周报")
past = list_reports(reports_dir)
if not past:
    st.info("暂无往期周报：运行中的平台每周一上午（北京时间）自动生成上一周的周报。", icon="ℹ️")
else:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "周次": e["week"],
                    "辖区": level_zh(e["level"]),
                    "格式": "、".join(sorted(e["files"])),
                    "生成时间（北京时间）": pd.Timestamp(e["mtime"], unit="s", tz="UTC")
                    .tz_convert(BEIJING)
                    .strftime("%Y-%m-%d %H:%M"),
                }
                for e in past
            ]
        ),
        hide_index=True,
        width="stretch",
    )
    labels = [f"{e['week']} · {level_zh(e['level'])}" for e in past]
    pick = st.selectbox("下载往期周报", range(len(past)), format_func=lambda i: labels[i])
    _downloads(past[pick]["files"], f"past-{pick}")

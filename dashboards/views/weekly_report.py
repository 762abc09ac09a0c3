"""Weekly report

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
from core.timeutil import BEIJING, utcnow
from dashboards.auth import current_scope
from dashboards.data import client
from dashboards.data import registry as platform_registry
from dashboards.i18n import N_, _, is_english
from dashboards.widgets import jurisdiction_name, page_setup
from streams.report.charts import render_png
from streams.report.generate import FORMATS, generate, list_reports
from streams.report.labels import level_zh
from streams.settings import load_settings

MIME = {
    "html": "text/html",
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
FORMAT_NAMES = {"html": N_("Web page (HTML)"), "pdf": N_("PDF"), "xlsx": N_("Excel workbook")}


def level_name(code: str) -> str:
    """The report's level as officers write it (the zone as a whole, or a jurisdiction)."""
    if code == ZONE:
        return _("Whole demonstration zone")
    return jurisdiction_name(code) if is_english() else level_zh(code)


def week_name(w: IsoWeek) -> str:
    if is_english():
        return f"{w} · {w.monday:%d %b} – {w.sunday:%d %b %Y}"
    return f"{w} · {w.label_zh()}"


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
                _("Download {format}").format(format=_(FORMAT_NAMES[fmt])),
                data=path.read_bytes(),
                file_name=path.name,
                mime=MIME[fmt],
                key=f"{key}-{fmt}",
                on_click=_audit_download,
                args=(path,),
            )


page_setup(
    "Weekly report",
    "Weekly exceedance report per jurisdiction and for the zone, compared with the week before. "
    "All times are Beijing time.",
)  # language switch and plate / VIN search, as on every page
scope = current_scope()
if scope is None:
    st.warning(_("Please log in first."))
    st.stop()

reports_dir = load_settings().data_dir / "reports"
now = utcnow()
last = IsoWeek.last_full(now)
weeks = [last.previous(i) for i in range(0, 26)]
levels = [j for j in JURISDICTIONS if j in scope.jurisdictions]
if len(levels) == len(JURISDICTIONS):
    levels.insert(0, ZONE)

c1, c2 = st.columns(2)
week = c1.selectbox(_("Week"), weeks, format_func=week_name)
level = c2.selectbox(_("Jurisdiction"), levels, format_func=level_name)
formats = st.multiselect(
    _("Formats"), list(FORMATS), default=list(FORMATS), format_func=lambda f: _(FORMAT_NAMES[f])
)

if st.button(_("Produce the report"), type="primary", disabled=not formats):
    bar = st.progress(0.0, text=_("Starting"))

    def progress(frac: float, msg: str) -> None:
        bar.progress(min(max(frac, 0.0), 1.0), text=msg)

    try:
        report, paths = generate(
            client(),
            week,
            level,
            scope,
            platform_registry(),
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
            st.warning(
                _("No data at all for {level} in {week}: the report says so.").format(
                    level=level_name(level), week=week_name(week)
                )
            )
        else:
            st.success(
                _("Produced: {title} ({week})").format(title=report.title, week=week_name(week))
            )
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

st.subheader(_("Past reports"))
past = list_reports(reports_dir)
if not past:
    st.info(
        _(
            "No past reports yet: the running platform produces the previous week's report every "
            "Monday morning (Beijing time)."
        ),
        icon="ℹ️",
    )
else:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    _("Week"): e["week"],
                    _("Jurisdiction"): level_name(e["level"]),
                    _("Formats"): ("、" if not is_english() else ", ").join(sorted(e["files"])),
                    _("Produced") + _(" (Beijing time)"): pd.Timestamp(
                        e["mtime"], unit="s", tz="UTC"
                    )
                    .tz_convert(BEIJING)
                    .strftime("%Y-%m-%d %H:%M"),
                }
                for e in past
            ]
        ),
        hide_index=True,
        width="stretch",
    )
    labels = [f"{e['week']} · {level_name(e['level'])}" for e in past]
    pick = st.selectbox(
        _("Download a past report"), range(len(past)), format_func=lambda i: labels[i]
    )
    _downloads(past[pick]["files"], f"past-{pick}")

"""Platform status.

Ingest totals and dead letters at the top, ingest over time by data kind and by jurisdiction, then
in tabs (only the open one is queried and drawn): ingest per kind and jurisdiction, exceedances by
severity, devices online, the runner's metrics per component, dead letters, warehouse size.
Honest "no data yet" states everywhere. Layout only.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import streamlit as st

from dashboards.data import has_rows, run_query
from dashboards.i18n import N_, _
from dashboards.widgets import (
    Col,
    count,
    fmt_time,
    jurisdiction_name,
    kind_name,
    metric,
    no_data,
    page_setup,
    query_until,
    table,
    time_chart,
    window_picker,
)

COMPONENTS = {  # the runner's metric components, by what they are
    "obd_gateway": N_("Remote OBD gateway (HJ 1239)"),
    "fuel_vapor": N_("Vapour-recovery gateway (HJ 212)"),
    "rsd_intake": N_("Remote-sensing intake"),
    "smoke": N_("Black-smoke cameras"),
    "bus": N_("Event bus"),
    "sink": N_("Warehouse writer"),
    "runner": N_("Platform runner"),
}


def component_name(component: object) -> str:
    """A metric component as ``name · id``: people read the name, engineers grep the id."""
    label = COMPONENTS.get(str(component))
    return f"{_(label)} · {component}" if label else str(component)


def listed(where: Any, df: Any, cols: list[Col], empty: str) -> None:
    """``df`` as a table in ``where`` (a tab, a column), or one line saying there is nothing."""
    if has_rows(df):
        table(df, cols, where=where)
    else:
        where.caption(_(empty))


page_setup("Platform status")
hours = window_picker(key="status_window")
until = query_until(1)
since = until - timedelta(hours=hours)

totals = run_query("platform.ingest_totals")
dead = run_query("deadletter.open_counts")
n_dead = int(dead["n"].sum()) if has_rows(dead) else 0
if not has_rows(totals):
    no_data(
        "No data yet. With `make run` the bundled simulators start feeding the gateways within "
        "seconds; in production, check that gateways and workers are up."
    )
    if n_dead:
        metric(st, "Dead letters to handle", f"{n_dead:,}")
else:
    c1, c2, c3, c4 = st.columns(4)
    metric(c1, "Records received (all time)", f"{int(totals['rows'].sum()):,}")
    metric(c2, "Data kinds", count(totals["kind"].nunique()))
    metric(c3, "Last write (Beijing time)", fmt_time(totals["last_seen"].max())[5:])
    metric(c4, "Dead letters to handle", f"{n_dead:,}")

    bucket_s = max(60, hours * 3600 // 96)  # about 100 bars whatever the window
    series = run_query("platform.ingest_over_time", since, until, bucket_s)
    if has_rows(series):
        by_source, by_jurisdiction = st.columns(2)
        by_source.caption(_("Records per {n} min, by data kind").format(n=bucket_s // 60))
        time_chart(
            series,
            "bucket",
            {"rows": "Data kind"},
            "Records",
            kind="bar",
            color="kind",
            color_names=kind_name,
            where=by_source,
        )
        by_jurisdiction.caption(_("Records per {n} min, by jurisdiction").format(n=bucket_s // 60))
        time_chart(
            series,
            "bucket",
            {"rows": "Jurisdiction"},
            "Records",
            kind="bar",
            color="jurisdiction",
            color_names=jurisdiction_name,
            where=by_jurisdiction,
        )

# the details one tab at a time (only the open one is queried and drawn): at once they were
# eight tables, most of this page's weight in the browser
t_ingest, t_exc, t_online, t_metrics, t_dead, t_size = st.tabs(
    [
        _("Records received per data kind and jurisdiction"),
        _("Exceedances by source, jurisdiction and severity"),
        _("Devices online"),
        _("Gateways and devices"),
        _("Records that could not be stored (dead letters)"),
        _("Warehouse"),
    ],
    key="status_tab",
    on_change="rerun",
)
if t_ingest.open:
    listed(
        t_ingest,
        totals,
        [
            Col("kind", "Data kind", "event"),
            Col("jurisdiction", "Jurisdiction", "jur"),
            Col("rows", "Records", "int"),
            Col("last_seen", "Last received", "time"),
        ],
        N_("No records received yet."),
    )

if t_exc.open:
    counts = run_query("platform.exceedance_counts", since, until)
    listed(
        t_exc,
        counts,
        [
            Col("source", "Source", "source"),
            Col("jurisdiction", "Jurisdiction", "jur"),
            Col("severity", "Severity", "value"),
            Col("n", "Exceedances", "int"),
        ],
        N_("No exceedances in this window."),
    )

if t_online.open:
    rate_cols = [
        Col("registered", "Registered", "int"),
        Col("online", "Online", "int"),
        Col("rate", "Online rate", "rate"),
    ]
    left, right = t_online.columns(2)
    left.markdown("**" + _("Remote OBD terminals — online rate per jurisdiction") + "**")
    obd_rate = run_query("obd.online_rate", since, until, "jurisdiction")
    listed(
        left,
        obd_rate,
        [Col("jurisdiction", "Jurisdiction", "jur"), *rate_cols],
        N_("No OBD terminals registered or seen in this window."),
    )
    right.markdown("**" + _("Remote OBD terminals — online rate per fleet") + "**")
    fleet_rate = run_query("obd.online_rate", since, until, "fleet")
    listed(
        right,
        fleet_rate,
        [Col("jurisdiction", "Jurisdiction", "jur"), Col("fleet", "Fleet", "name"), *rate_cols],
        N_("No fleet data yet."),
    )
    t_online.markdown("**" + _("Remote-sensing sites — quality per day (Beijing days)") + "**")
    site_q = run_query("rsd.site_quality_daily", since - timedelta(days=1), until)
    listed(
        t_online,
        site_q,
        [
            Col("site_id", "Site", "name"),
            Col("day", "Day", "day"),
            Col("jurisdiction", "Jurisdiction", "jur"),
            Col("passes", "Passes", "int"),
            Col("valid_rate", "Valid rate", "rate"),
            Col("capture_rate", "Capture rate", "rate"),
        ],
        N_("No remote-sensing passes in this window."),
    )

if t_metrics.open:
    metrics = run_query("platform.latest_metrics")
    if has_rows(metrics):
        for component, part in metrics.groupby("component"):
            with t_metrics.expander(component_name(component), expanded=component != "sink"):
                table(
                    part,
                    [
                        Col("name", "Metric"),
                        Col("labels", "Labels"),
                        Col("value", "Value", "num", digits=2),
                        Col("last_ts", "Last updated", "time"),
                    ],
                )
    else:
        t_metrics.caption(_("No gateway metrics yet (the runner writes them every 10 s)."))

if t_dead.open:
    if n_dead:
        t_dead.caption(
            _(
                "Each record is isolated on its own and blocks nothing else; once the cause is "
                "fixed, `emwatch deadletter replay` stores them again."
            )
        )
        table(
            dead,
            [
                Col("kind", "Data kind", "event"),
                Col("stage", "Failed at"),
                Col("n", "Records", "int"),
                Col("devices", "Devices", "int"),
                Col("last_ts", "Last time", "time"),
            ],
            where=t_dead,
        )
    else:
        t_dead.caption(_("No dead letters: every acknowledged record is stored."))

if t_size.open:
    size = run_query("platform.warehouse_size")
    if has_rows(size):
        c1, c2 = t_size.columns(2)
        metric(c1, "Rows stored", f"{int(size['rows'].sum()):,}")
        metric(c2, "On disk", f"{size['bytes'].sum() / 1e6:.1f} MB")
        size = size.assign(mb=size["bytes"] / 1e6)
        table(
            size,
            [
                Col("table", "Table"),
                Col("rows", "Rows", "int"),
                Col("mb", "On disk", "num", "MB", 2),
            ],
            where=t_size,
        )
    else:
        t_size.caption(_("The warehouse holds no table parts yet."))

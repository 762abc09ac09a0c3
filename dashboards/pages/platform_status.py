"""Platform status.

Ingest per source and jurisdiction over time, device/gateway health from the runner's metrics,
exceedances by severity, and warehouse size. Honest "no data yet" states everywhere.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from dashboards.data import has_rows, run_query
from dashboards.widgets import no_data, window_picker

st.title("Platform status")
hours = window_picker(key="status_window")
until = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
since = until - timedelta(hours=hours)

totals = run_query("platform.ingest_totals")
if not has_rows(totals):
    no_data(
        "No data yet. With `make run` the bundled simulators start feeding the gateways within "
        "seconds; in production, check that gateways and workers are up."
    )
else:
    c1, c2, c3 = st.columns(3)
    c1.metric("Rows ingested (all time)", f"{int(totals['rows'].sum()):,}")
    c2.metric("Event kinds", totals["kind"].nunique())
    last = totals["last_seen"].max()
    c3.metric("Last write (UTC)", str(last)[:19])
    st.subheader("Ingest per source and jurisdiction")
    st.dataframe(totals, hide_index=True, width="stretch")

    bucket_s = max(60, hours * 3600 // 96)  # about 100 bars whatever the window
    series = run_query("platform.ingest_over_time", since, until, bucket_s)
    if has_rows(series):
        by_source, by_jurisdiction = st.columns(2)
        by_source.caption(f"Rows per {bucket_s // 60} min, by event kind")
        by_source.bar_chart(series, x="bucket", y="rows", color="kind", height=260)
        by_jurisdiction.caption(f"Rows per {bucket_s // 60} min, by jurisdiction")
        by_jurisdiction.bar_chart(series, x="bucket", y="rows", color="jurisdiction", height=260)

st.subheader("Exceedances by source, jurisdiction and severity")
counts = run_query("platform.exceedance_counts", since, until)
if has_rows(counts):
    st.dataframe(counts, hide_index=True, width="stretch")
else:
    no_data("No exceedances in this window.")

st.subheader("Devices online")
left, right = st.columns(2)
with left:
    st.markdown("**Remote OBD terminals — online rate per jurisdiction**")
    obd_rate = run_query("obd.online_rate", since, until, "jurisdiction")
    if has_rows(obd_rate):
        st.dataframe(
            obd_rate,
            hide_index=True,
            width="stretch",
            column_config={
                "rate": st.column_config.ProgressColumn("online", min_value=0.0, max_value=1.0)
            },
        )
    else:
        no_data("No OBD terminals registered or seen in this window.")
with right:
    st.markdown("**Remote OBD terminals — online rate per fleet**")
    fleet_rate = run_query("obd.online_rate", since, until, "fleet")
    if has_rows(fleet_rate):
        st.dataframe(
            fleet_rate,
            hide_index=True,
            width="stretch",
            column_config={
                "rate": st.column_config.ProgressColumn("online", min_value=0.0, max_value=1.0)
            },
        )
    else:
        no_data("No fleet data yet.")

st.markdown("**Remote-sensing sites — quality per day (Beijing days)**")
site_q = run_query("rsd.site_quality_daily", since - timedelta(days=1), until)
if has_rows(site_q):
    st.dataframe(site_q, hide_index=True, width="stretch")
else:
    no_data("No remote-sensing passes in this window.")

st.subheader("Gateways and devices")
metrics = run_query("platform.latest_metrics")
if has_rows(metrics):
    for component, part in metrics.groupby("component"):
        with st.expander(component, expanded=component != "sink"):
            st.dataframe(
                part[["name", "labels", "value", "last_ts"]], hide_index=True, width="stretch"
            )
else:
    no_data("No gateway metrics yet (the runner writes them every 10 s).")

st.subheader("无法入库的记录（死信）")
dead = run_query("deadletter.open_counts")
if has_rows(dead):
    st.metric("待处理死信", f"{int(dead['n'].sum()):,}")
    st.caption(
        "每条记录单独隔离，不阻塞其他数据；修复原因后用 `emwatch deadletter replay` 重新入库。"
        "时间为 UTC。"
    )
    st.dataframe(
        dead.rename(
            columns={
                "kind": "数据类型",
                "stage": "失败环节",
                "n": "条数",
                "devices": "设备数",
                "last_ts": "最近一次 (UTC)",
            }
        ),
        hide_index=True,
        width="stretch",
    )
else:
    st.caption("没有待处理的死信：所有已确认的记录都已入库。")

st.subheader("Warehouse")
size = run_query("platform.warehouse_size")
if has_rows(size):
    c1, c2 = st.columns(2)
    c1.metric("Rows stored", f"{int(size['rows'].sum()):,}")
    c2.metric("On disk", f"{size['bytes'].sum() / 1e6:.1f} MB")
    st.dataframe(size, hide_index=True, width="stretch")
else:
    no_data("The warehouse holds no table parts yet.")

"""Heavy-diesel remote OBD.

Analyst page: online rate per fleet and jurisdiction, OBD rule firings, and one vehicle's OBD
timeline (speed, NOx before/after SCR, SCR temperature, reagent) with its OBD information
snapshots. Layout only: data comes from ``streams.warehouse.queries.obd`` through
``dashboards.data``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from dashboards.data import has_rows, run_query
from dashboards.widgets import no_data, window_picker

st.title("Heavy-diesel remote OBD")

hours = window_picker("obd_window")
until = datetime.now(UTC) + timedelta(minutes=5)
since = until - timedelta(hours=hours)

st.subheader("Online rate")
by = st.radio("Per", ["fleet", "jurisdiction", "vehicle_class"], horizontal=True)
rate = run_query("obd.online_rate", since, until, by)
if has_rows(rate):
    c1, c2 = st.columns(2)
    c1.metric("Vehicles online", f"{int(rate['online'].sum())} / {int(rate['registered'].sum())}")
    c2.metric("Online rate", f"{rate['online'].sum() / max(1, rate['registered'].sum()):.0%}")
    st.dataframe(rate, hide_index=True, width="stretch")
else:
    no_data("No data yet: no registered OBD vehicles.")

st.subheader("OBD rules fired")
ex = run_query("platform.exceedances", since, until, "obd_gateway")
if has_rows(ex):
    st.dataframe(
        ex[
            [
                "ts",
                "rule_id",
                "severity",
                "subject_id",
                "jurisdiction",
                "measured",
                "limit",
                "unit",
                "provisional",
            ]
        ],
        hide_index=True,
        width="stretch",
    )
else:
    no_data("No data yet: no OBD rule has fired in this window.")

st.subheader("Vehicle timeline")
vin = st.text_input("VIN", max_chars=17).strip().upper()
if len(vin) == 17:
    tl = run_query("obd.vehicle_timeline", vin, since, until, 60)
    if has_rows(tl):
        st.line_chart(tl, x="bucket", y=["nox_up_ppm", "nox_down_ppm"])
        st.line_chart(tl, x="bucket", y=["speed_kmh", "scr_in_c", "reagent_pct"])
        st.caption(
            f"{int(tl['records'].sum()):,} records, {int(tl['backfilled'].sum()):,} back-filled"
        )
    else:
        no_data("No data yet for this VIN in this window.")
    info = run_query("obd.vehicle_info_history", vin, 20)
    if has_rows(info):
        st.dataframe(info, hide_index=True, width="stretch")
elif vin:
    st.warning("A VIN has 17 characters.")

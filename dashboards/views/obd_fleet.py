"""Heavy-diesel remote OBD.

Analyst page: online rate per fleet and jurisdiction, OBD rule firings, and one vehicle's OBD
timeline (speed, NOx before/after SCR, SCR temperature, reagent) with its OBD information
snapshots. Layout only: data comes from ``streams.warehouse.queries.obd`` through
``dashboards.data``.
"""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from dashboards.data import has_rows, run_query
from dashboards.i18n import N_, _
from dashboards.search import normalise
from dashboards.widgets import (
    Col,
    metric,
    no_data,
    page_setup,
    query_until,
    table,
    time_chart,
    window_picker,
)

page_setup("Heavy-diesel remote OBD")

hours = window_picker("obd_window")
until = query_until(5)
since = until - timedelta(hours=hours)

st.subheader(_("Online rate"))
GROUPING = {
    "fleet": N_("Fleet"),
    "jurisdiction": N_("Jurisdiction"),
    "vehicle_class": N_("Vehicle class"),
}
by = st.radio(_("Per"), list(GROUPING), horizontal=True, format_func=lambda k: _(GROUPING[k]))
rate = run_query("obd.online_rate", since, until, by)
if has_rows(rate):
    c1, c2 = st.columns(2)
    metric(c1, "Vehicles online", f"{int(rate['online'].sum())} / {int(rate['registered'].sum())}")
    metric(c2, "Online rate", f"{rate['online'].sum() / max(1, rate['registered'].sum()):.0%}")
    table(
        rate,
        [
            Col("jurisdiction", "Jurisdiction", "jur"),
            Col("fleet", "Fleet", "name"),
            Col("vehicle_class", "Vehicle class", "value"),
            Col("registered", "Registered", "int"),
            Col("online", "Online", "int"),
            Col("rate", "Online rate", "rate"),
        ],
    )
else:
    no_data("No data yet: no registered OBD vehicles.")

st.subheader(_("OBD rules fired"))
ex = run_query("platform.exceedances", since, until, "obd_gateway")
if has_rows(ex):
    table(
        ex,
        [
            Col("ts", "Time", "time"),
            Col("rule_id", "Rule", "rule"),
            Col("severity", "Severity", "value"),
            Col("subject_id", "VIN"),
            Col("jurisdiction", "Jurisdiction", "jur"),
            Col("measured", "Measured", "num", digits=2),
            Col("limit", "Limit", "num", digits=2),
            Col("unit", "Unit", "unit"),
            Col("provisional", "Provisional rule", "bool"),
        ],
    )
else:
    no_data("No data yet: no OBD rule has fired in this window.")

st.subheader(_("Vehicle timeline"))
vin = normalise(st.text_input(_("VIN"), max_chars=24, key="obd_vin"))
if len(vin) == 17:
    tl = run_query("obd.vehicle_timeline", vin, since, until, 60)
    if has_rows(tl):
        time_chart(
            tl,
            "bucket",
            {"nox_up_ppm": N_("NOx before SCR"), "nox_down_ppm": N_("NOx after SCR")},
            "NOx",
            unit="ppm",
        )
        left, right = st.columns(2)
        time_chart(tl, "bucket", {"speed_kmh": N_("Speed")}, "Speed", unit="km/h", where=left)
        time_chart(
            tl,
            "bucket",
            {"scr_in_c": N_("SCR inlet temperature")},
            "Temperature",
            unit="°C",
            where=right,
        )
        time_chart(tl, "bucket", {"reagent_pct": N_("Reagent level")}, "Reagent", unit="%")
        st.caption(
            _("{records} records, {backfilled} back-filled").format(
                records=f"{int(tl['records'].sum()):,}",
                backfilled=f"{int(tl['backfilled'].sum()):,}",
            )
        )
    else:
        no_data("No data yet for this VIN in this window.")
    info = run_query("obd.vehicle_info_history", vin, 20)
    if has_rows(info):
        table(
            info,
            [
                Col("ts", "Time", "time"),
                Col("mil_on", "MIL on", "bool"),
                Col("dtc_count", "Fault codes", "int"),
                Col("dtcs", "Fault code list", "list"),
                Col("calibration_id", "Calibration id"),
                Col("cvn", "CVN"),
                Col("obd_protocol", "OBD protocol"),
                Col("backfilled", "Back-filled", "bool"),
            ],
        )
elif vin:
    st.warning(_("A VIN has 17 characters."))

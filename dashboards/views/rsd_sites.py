"""Roadside remote sensing.

Officer and analyst page: per-site daily quality (passes, valid rate, capture rate, weather
downtime, calibration), recent RSD exceedances with first/repeat decisions, and one vehicle's
pass history across every zone site. Layout only: data comes from
``streams.warehouse.queries.rsd`` through ``dashboards.data``.
"""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from core.jurisdictions import JURISDICTIONS
from dashboards.data import has_rows, run_query
from dashboards.i18n import _
from dashboards.search import normalise
from dashboards.widgets import (
    Col,
    count,
    jurisdiction_name,
    metric,
    no_data,
    page_setup,
    query_until,
    table,
)

page_setup("Roadside remote sensing")

days = st.sidebar.selectbox(
    _("History"), [1, 7, 30, 180], index=1, format_func=lambda d: _("{n} days").format(n=d)
)
juris = st.sidebar.multiselect(
    _("Jurisdictions"),
    list(JURISDICTIONS),
    default=list(JURISDICTIONS),
    format_func=jurisdiction_name,
    placeholder=_("All"),
)
until = query_until(10)
since = until - timedelta(days=days)

st.subheader(_("Site quality per day"))
sq = run_query("rsd.site_quality_daily", since, until)
if has_rows(sq):
    if "jurisdiction" in sq.columns:
        sq = sq[sq["jurisdiction"].isin(juris) | sq["jurisdiction"].isna()]
    c1, c2, c3 = st.columns(3)
    total = int(sq["passes"].sum()) if "passes" in sq else 0
    metric(c1, "Passes", f"{total:,}")
    if total:
        metric(c2, "Valid rate", f"{sq['valid'].sum() / total:.0%}")
        metric(c3, "Capture rate", f"{sq['captured'].sum() / total:.0%}")
    sq = sq.assign(
        weather_h=sq.get("weather_downtime_s", 0) / 3600,
        other_h=sq.get("other_downtime_s", 0) / 3600,
    )
    table(
        sq,
        [
            Col("site_id", "Site", "name"),
            Col("day", "Day", "day"),
            Col("jurisdiction", "Jurisdiction", "jur"),
            Col("passes", "Passes", "int"),
            Col("valid_rate", "Valid rate", "rate"),
            Col("capture_rate", "Capture rate", "rate"),
            Col("weather_h", "Weather downtime", "num", "h", 1),
            Col("other_h", "Other downtime", "num", "h", 1),
            Col("calibration_passed", "Calibration passed", "bool"),
        ],
    )
else:
    no_data("No data yet: no RSD passes in this window.")

st.subheader(_("Recent exceedances"))
ex = run_query("rsd.recent_exceedances", since, until, tuple(juris) or None)
if has_rows(ex):
    c1, c2 = st.columns(2)
    metric(
        c1, "Case candidates (repeat exceedance)", str(int((ex["rule_id"] == "RS-REPEAT").sum()))
    )
    metric(c2, "Owner reminders (first exceedance)", count((ex["rule_id"] == "RS-FIRST").sum()))
    table(
        ex,
        [
            Col("ts", "Time", "time"),
            Col("rule_id", "Rule", "rule"),
            Col("severity", "Severity", "value"),
            Col("subject_id", "Plate", "subject"),
            Col("jurisdiction", "Jurisdiction", "jur"),
            Col("site_id", "Site", "name"),
            Col("measured", "Measured", "num", digits=2),
            Col("limit", "Limit", "num", digits=2),
            Col("unit", "Unit", "unit"),
            Col("provisional", "Provisional rule", "bool"),
        ],
    )
else:
    no_data("No RSD exceedances in this window.")

st.subheader(_("Vehicle history"))
plate = normalise(st.text_input(_("Plate number (e.g. 沪A12345)")))
if plate:
    hist = run_query("rsd.vehicle_history", plate)
    if has_rows(hist):
        table(
            hist,
            [
                Col("ts", "Time", "time"),
                Col("site_id", "Site", "name"),
                Col("jurisdiction", "Jurisdiction", "jur"),
                Col("fuel", "Fuel", "value"),
                Col("speed_kmh", "Speed", "num", "km/h", 0),
                Col("vsp_kw_t", "VSP", "num", "kW/t", 1),
                Col("co_gpkg", "CO", "num", "g/kg", 1),
                Col("hc_gpkg", "HC", "num", "g/kg", 2),
                Col("no_gpkg", "NO", "num", "g/kg", 1),
                Col("opacity_pct", "Opacity", "num", "%", 1),
                Col("valid", "Valid", "bool"),
                Col("invalid_reasons", "Invalid because", "list"),
            ],
        )
    else:
        no_data(_("No passes of {plate} at any zone site.").format(plate=plate))

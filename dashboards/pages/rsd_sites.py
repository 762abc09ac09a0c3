"""Roadside remote sensing.

Officer and analyst page: per-site daily quality (passes, valid rate, capture rate, weather
downtime, calibration), recent RSD exceedances with first/repeat decisions, and one vehicle's
pass history across every zone site. Layout only: data comes from
``streams.warehouse.queries.rsd`` through ``dashboards.data``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from core.jurisdictions import JURISDICTIONS
from dashboards.data import has_rows, run_query
from dashboards.widgets import no_data

st.title("Roadside remote sensing")

days = st.sidebar.selectbox("History", [1, 7, 30, 180], index=1, format_func=lambda d: f"{d} days")
juris = st.sidebar.multiselect(
    "Jurisdictions",
    list(JURISDICTIONS),
    default=list(JURISDICTIONS),
    format_func=lambda c: JURISDICTIONS[c].name_en,
)
until = datetime.now(UTC) + timedelta(minutes=10)
since = until - timedelta(days=days)

st.subheader("Site quality per day")
sq = run_query("rsd.site_quality_daily", since, until)
if has_rows(sq):
    if "jurisdiction" in sq.columns:
        sq = sq[sq["jurisdiction"].isin(juris) | sq["jurisdiction"].isna()]
    c1, c2, c3 = st.columns(3)
    total = int(sq["passes"].sum()) if "passes" in sq else 0
    c1.metric("Passes", f"{total:,}")
    if total:
        c2.metric("Valid rate", f"{sq['valid'].sum() / total:.0%}")
        c3.metric("Capture rate", f"{sq['captured'].sum() / total:.0%}")
    cols = [
        c
        for c in (
            "site_id",
            "day",
            "passes",
            "valid_rate",
            "capture_rate",
            "weather_downtime_s",
            "other_downtime_s",
            "calibration_passed",
        )
        if c in sq.columns
    ]
    st.dataframe(sq[cols], hide_index=True, width="stretch")
else:
    no_data("No data yet: no RSD passes in this window.")

st.subheader("Recent exceedances")
ex = run_query("rsd.recent_exceedances", since, until, tuple(juris) or None)
if has_rows(ex):
    c1, c2 = st.columns(2)
    c1.metric("Case candidates (RS-REPEAT)", int((ex["rule_id"] == "RS-REPEAT").sum()))
    c2.metric("Owner reminders (RS-FIRST)", int((ex["rule_id"] == "RS-FIRST").sum()))
    st.dataframe(
        ex[
            [
                "ts",
                "rule_id",
                "severity",
                "subject_id",
                "jurisdiction",
                "site_id",
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
    no_data("No RSD exceedances in this window.")

st.subheader("Vehicle history")
plate = st.text_input("Plate number (e.g. 沪A12345)").strip().upper()
if plate:
    hist = run_query("rsd.vehicle_history", plate)
    if has_rows(hist):
        st.dataframe(hist, hide_index=True, width="stretch")
    else:
        no_data(f"No passes of {plate} at any zone site.")

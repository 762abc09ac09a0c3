"""Gas-station vapour recovery.

Station operator page: per-nozzle A/L over time, today's pass rate, days in warning, alarms with
their evidence and what to check, and printable daily and monthly compliance sheets.

Scope: the station picker lists what ``vapor.station_ids`` returns for the logged-in caller, and
every query gets the caller's scope from ``dashboards.data`` (a station operator sees its own
stations only, whatever the page asks for). Layout only: data comes from
``streams.warehouse.queries.vapor`` through ``dashboards.data``.
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from core.registry import default_registry
from core.ruleset import default_ruleset
from core.timeutil import BEIJING
from dashboards.data import has_rows, run_query
from dashboards.widgets import no_data
from fuel_vapor.rules import HINTS

st.title("Gas-station vapour recovery")

registry = default_registry()
mine = run_query("vapor.station_ids")
allowed = tuple(mine["station_id"]) if has_rows(mine) else ()
if not allowed:
    no_data("No stations are assigned to this account.")
    st.stop()
names = {s.id: f"{s.id} {s.name}" for s in registry.stations}
station = st.sidebar.selectbox("Station", allowed, format_func=lambda s: names.get(s, s))
days_back = st.sidebar.selectbox(
    "History", [7, 14, 30, 90], index=1, format_func=lambda d: f"{d} days"
)
scope = (station,)
sensors = tuple(s.id for s in registry.sensors if s.station == station)

now_bj = datetime.now(UTC).astimezone(BEIJING)
today = now_bj.date()
day0 = datetime(today.year, today.month, today.day, tzinfo=BEIJING)
rs = default_ruleset()
r_day = rs.rule("FV-AL-DAY")
limit = rs.strictest("FV-AL-DAY").value

# ---- today -----------------------------------------------------------------------------------
st.subheader("Today (Beijing time)")
live = run_query(
    "vapor.pass_rate_live",
    scope,
    day0.astimezone(UTC),
    (day0 + timedelta(days=1)).astimezone(UTC),
    min_volume_l=float(r_day.param("min_volume_l")),
    al_lower=float(r_day.param("al_lower")),
    al_upper=float(r_day.param("al_upper")),
    slow_fuel_lpm=float(rs.rule("FV-SLOW").param("max_fuel_flow_lpm")),
)
status = run_query("vapor.nozzle_status", scope)
c1, c2, c3 = st.columns(3)
if has_rows(live) and live["valid"].sum() > 0:
    rate = live["in_band"].sum() / live["valid"].sum()
    c1.metric("Today's pass rate (valid fuellings)", f"{rate:.0%}")
    c2.metric("Valid fuellings today", int(live["valid"].sum()))
else:
    c1.metric("Today's pass rate (valid fuellings)", "–")
    c2.metric("Valid fuellings today", 0)
if has_rows(status):
    c3.metric("Nozzles in warning or alarm", int((status["level"] != "normal").sum()))
else:
    c3.metric("Nozzles in warning or alarm", 0)
st.caption(
    f"A fuelling is valid from {r_day.param('min_volume_l')} L; in band when "
    f"{r_day.param('al_lower')} ≤ A/L ≤ {r_day.param('al_upper')}; a day fails below "
    f"{limit:.0%} (rule set {rs.version}, FV-AL-DAY, provisional until confirmed)."
)
if has_rows(status):
    table = status.rename(
        columns={"streak": "days in warning (consecutive)", "last_day": "last closed day"}
    )
    if has_rows(live):
        table = table.merge(
            live[["nozzle", "valid", "pass_rate"]].rename(
                columns={"valid": "valid today", "pass_rate": "pass rate today"}
            ),
            on="nozzle",
            how="left",
        )
    st.dataframe(table, hide_index=True, width="stretch")
elif not has_rows(live):
    no_data("No data yet for this station. Fuellings appear once its controller connects.")

# ---- A/L over time -----------------------------------------------------------------------------
st.subheader("A/L per nozzle over time")
days = run_query(
    "vapor.nozzle_days", scope, today - timedelta(days=days_back), today + timedelta(days=1)
)
if has_rows(days):
    days["nozzle"] = "N" + days["nozzle"].astype(int).map("{:02d}".format)
    t1, t2 = st.tabs(["Daily mean A/L", "Daily pass rate"])
    t1.line_chart(days.pivot_table(index="day", columns="nozzle", values="mean_al"))
    t2.line_chart(days.pivot_table(index="day", columns="nozzle", values="pass_rate"))
else:
    no_data("No closed days yet (a day is judged when the next day's first fuelling arrives).")

# ---- alarms with evidence ---------------------------------------------------------------------
st.subheader("Warnings and alarms")
alarms = run_query(
    "vapor.alarms",
    scope,
    (day0 - timedelta(days=days_back)).astimezone(UTC),
    (day0 + timedelta(days=1)).astimezone(UTC),
    extra_subjects=sensors,
)
if has_rows(alarms):
    shown = alarms[alarms["severity"] != "info"] if (alarms["severity"] != "info").any() else alarms
    st.dataframe(
        shown[
            ["ts", "rule_id", "severity", "subject_id", "measured", "limit", "unit", "provisional"]
        ],
        hide_index=True,
        width="stretch",
    )
    for _, row in shown.head(30).iterrows():
        detail = json.loads(row["detail_json"] or "{}")
        label = f"{row['rule_id']} · {row['subject_id']} · {str(row['ts'])[:16]} UTC · {row['severity']}"
        with st.expander(label):
            st.markdown(f"**What to check:** {detail.get('hint') or HINTS.get(row['rule_id'], '')}")
            st.write({k: v for k, v in detail.items() if k != "hint"})
            st.markdown("**Evidence:** " + (", ".join(f"`{e}`" for e in row["evidence"]) or "–"))
else:
    no_data("No warnings or alarms in this period.")

states = run_query(
    "vapor.station_states", scope, today - timedelta(days=days_back), today + timedelta(days=1)
)
if has_rows(states):
    st.subheader("Tank pressure and processing unit (daily)")
    st.dataframe(states, hide_index=True, width="stretch")

# ---- printable sheets ------------------------------------------------------------------------
st.subheader("Compliance sheets")


def _printable(title: str, frame: pd.DataFrame) -> str:
    head = (
        f"<h2>{html.escape(title)}</h2><p>{html.escape(names.get(station, station))} · "
        f"rule set {html.escape(rs.version)} · printed {now_bj:%Y-%m-%d %H:%M} (Beijing)</p>"
    )
    return f"<html><meta charset='utf-8'><body>{head}{frame.to_html(index=False)}</body></html>"


d_col, m_col = st.columns(2)
sheet_day = d_col.date_input("Day", value=today - timedelta(days=1), max_value=today)
daily = run_query("vapor.nozzle_days", scope, sheet_day, sheet_day + timedelta(days=1))
if has_rows(daily):
    d_col.dataframe(
        daily[["nozzle", "valid", "in_band", "pass_rate", "state", "streak", "level"]],
        hide_index=True,
    )
    d_col.download_button(
        "Daily sheet (printable HTML)",
        _printable(f"Daily A/L compliance {sheet_day}", daily),
        file_name=f"vapor_{station}_{sheet_day}.html",
        mime="text/html",
    )
else:
    d_col.info("No closed day for this date.")
month_start = m_col.date_input("Month", value=today.replace(day=1), max_value=today).replace(day=1)
next_month = (month_start + timedelta(days=32)).replace(day=1)
monthly = run_query("vapor.compliance_monthly", scope, month_start, next_month)
if has_rows(monthly):
    m_col.dataframe(monthly, hide_index=True)
    m_col.download_button(
        "Monthly sheet (printable HTML)",
        _printable(f"Monthly A/L compliance {month_start:%Y-%m}", monthly),
        file_name=f"vapor_{station}_{month_start:%Y-%m}.html",
        mime="text/html",
    )
    m_col.download_button(
        "Monthly sheet (CSV)",
        monthly.to_csv(index=False),
        file_name=f"vapor_{station}_{month_start:%Y-%m}.csv",
    )
else:
    m_col.info("No closed days in this month.")

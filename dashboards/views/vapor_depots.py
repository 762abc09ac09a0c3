"""Oil depots.

Officer page for the zone's oil depots (GB 20950): the processing unit's outlet concentration and
recovery efficiency and the tank-truck pressure while loading, against the rule set's limits
(OD-PROC, OD-TRUCK), in Beijing time; the depot's warnings and alarms with what to check; its
cases. Depots belong to no station, so a station operator has none here. Layout only: data comes
from ``streams.warehouse.queries.desk`` and ``.vapor`` through ``dashboards.data``.
"""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from core.ruleset import default_ruleset
from dashboards.alarms import vapour_alarms
from dashboards.case_panel import unit_cases
from dashboards.data import has_rows, run_query
from dashboards.i18n import _, is_english
from dashboards.widgets import (
    fmt_num,
    jurisdiction_name,
    metric,
    no_data,
    page_setup,
    query_until,
    time_chart,
    window_picker,
)

page_setup(
    "Oil depots",
    "The depot's vapour processing unit and truck loading, read every minute over HJ 212.",
)

depots = run_query("desk.depot_ids")
if not has_rows(depots):
    no_data("No depots for this account (depots are read by jurisdiction officers).")
    st.stop()
ids = tuple(depots["depot_id"])
names = {
    r.depot_id: f"{r.name}（{jurisdiction_name(r.jurisdiction)}）" for r in depots.itertuples()
}
wanted = st.session_state.get("depot")  # opened from the triage queue
depot = st.sidebar.selectbox(
    _("Depot"),
    ids,
    index=ids.index(wanted) if wanted in ids else 0,
    format_func=lambda d: names.get(d, d),
    key="depot_pick",
)
hours = window_picker("depot_window", "24 hours")
until = query_until(1)
since = until - timedelta(hours=hours)
row = depots.set_index("depot_id").loc[depot]
st.caption(f"{depot} · {_('Operator')}{': ' if is_english() else '：'}{row['operator']}")

rs = default_ruleset()
proc, truck = rs.rule("OD-PROC"), rs.rule("OD-TRUCK")
outlet_limit = rs.strictest("OD-PROC").value
min_eff = float(proc.param("min_efficiency_pct"))
warn_kpa, alarm_kpa = float(truck.param("warn_kpa")), float(truck.param("alarm_kpa"))

bucket = 600 if hours <= 24 else 3600
data = run_query("desk.depot_readings", (depot,), since, until, bucket_s=bucket)
st.subheader(_("Processing unit and truck loading"))
if has_rows(data):
    c1, c2, c3 = st.columns(3)
    metric(
        c1,
        "Outlet concentration (max in window)",
        fmt_num(data["outlet_max"].max(), "g/m³", 1),
        help="Limit from the rule set (OD-PROC)",
    )
    metric(c2, "Recovery efficiency (min in window)", fmt_num(data["efficiency_min"].min(), "%", 1))
    metric(
        c3, "Truck pressure (max in window)", fmt_num(data["truck_pressure_max"].max(), "kPa", 2)
    )
    st.caption(
        _(
            "Limits (rule set {version}): outlet ≤ {outlet} g/m³, efficiency ≥ {eff}%, truck "
            "pressure warning above {warn} kPa, alarm above {alarm} kPa."
        ).format(
            version=rs.version, outlet=outlet_limit, eff=min_eff, warn=warn_kpa, alarm=alarm_kpa
        )
    )
    t1, t2, t3 = st.tabs([_("Outlet concentration"), _("Recovery efficiency"), _("Truck pressure")])
    time_chart(
        data,
        "bucket",
        {"outlet_mean": "Mean", "outlet_max": "Maximum"},
        "Outlet concentration",
        unit="g/m³",
        where=t1,
    )
    time_chart(
        data,
        "bucket",
        {"efficiency_mean": "Mean", "efficiency_min": "Minimum"},
        "Recovery efficiency",
        unit="%",
        where=t2,
    )
    time_chart(
        data, "bucket", {"truck_pressure_max": "Maximum"}, "Truck pressure", unit="kPa", where=t3
    )
else:
    no_data("No readings from this depot in this window.")

st.subheader(_("Warnings and alarms"))
vapour_alarms(run_query("vapor.alarms", (), since, until, extra_subjects=(depot,)))

st.subheader(_("Cases of this depot"))
unit_cases(depot, "No cases of this depot in the last 90 days.")

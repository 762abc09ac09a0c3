"""Ambient and groundwater sensors.

Page for operators and officers: the ambient air (NMHC, NO₂) and groundwater (petroleum
hydrocarbons, benzene) sensors at the stations, their readings over time in Beijing time with
units and the rule set's benchmarks (AMB-VOC, AMB-NOX, GW-SENSOR), the anomalies with what to
check, and the sensor's cases. A station operator sees its own stations' sensors only (the scope
is applied in the queries). Layout only: data comes from ``streams.warehouse.queries.desk`` and
``.vapor`` through ``dashboards.data``.
"""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from core.ruleset import default_ruleset
from dashboards.alarms import quantity_name, vapour_alarms
from dashboards.case_panel import unit_cases
from dashboards.data import has_rows, run_query
from dashboards.data import registry as platform_registry
from dashboards.i18n import N_, _
from dashboards.widgets import (
    Col,
    fmt_num,
    jurisdiction_name,
    metric,
    no_data,
    page_setup,
    query_until,
    table,
    time_chart,
    unit_name,
    window_picker,
)

KINDS = {"ambient": N_("Ambient air"), "groundwater": N_("Groundwater")}

page_setup(
    "Ambient and groundwater sensors",
    "Anomalies are screening signals, not verdicts: they ask for a check or a lab sample.",
)

sensors = run_query("desk.sensor_ids")
if not has_rows(sensors):
    no_data("No sensors are assigned to this account.")
    st.stop()
station_names = {s.id: s.name for s in platform_registry().stations}
ids = tuple(sensors["sensor_id"])
info = sensors.set_index("sensor_id")


def _label(sid: str) -> str:
    r = info.loc[sid]
    return f"{_(KINDS.get(r['kind'], r['kind']))} · {station_names.get(r['station_id'], r['station_id'])}（{sid}）"


# opened from the triage queue, or a link (?sensor=…): a choice among the allowed ones only
wanted = st.session_state.get("sensor") or st.query_params.get("sensor")
sensor = st.sidebar.selectbox(
    _("Sensor"),
    ids,
    index=ids.index(wanted) if wanted in ids else 0,
    format_func=_label,
    key="sensor_pick",
)
hours = window_picker("sensor_window", "7 days")
until = query_until(1)
since = until - timedelta(hours=hours)
me = info.loc[sensor]
st.caption(
    f"{_label(sensor)} · {jurisdiction_name(me['jurisdiction'])} · "
    + _("readings averaged per {n} minutes").format(n=10 if hours <= 24 else 60)
)

rs = default_ruleset()
BENCHMARK = {  # quantity -> (benchmark value, rule id)
    "nmhc_mg_m3": (rs.strictest("AMB-VOC").value, "AMB-VOC"),
    "no2_ug_m3": (rs.strictest("AMB-NOX").value, "AMB-NOX"),
}

data = run_query(
    "desk.sensor_readings", (sensor,), since, until, bucket_s=600 if hours <= 24 else 3600
)
st.subheader(_("Readings"))
if has_rows(data):
    quantities = list(dict.fromkeys(data["quantity"]))
    cols = st.columns(max(1, len(quantities)))
    for col, q in zip(cols, quantities, strict=True):
        part = data[data["quantity"] == q]
        unit = unit_name(part["unit"].iloc[0])
        metric(
            col,
            _("{quantity} (max in window)").format(quantity=quantity_name(q)),
            fmt_num(part["value_max"].max(), unit, 3),
        )
    # only the open tab's chart is drawn (switching reruns from the query cache)
    tabs = st.tabs([quantity_name(q) for q in quantities], key="sensor_quantity", on_change="rerun")
    for tab, q in zip(tabs, quantities, strict=True):
        if not tab.open:
            continue
        part = data[data["quantity"] == q]
        unit = unit_name(part["unit"].iloc[0])
        if q in BENCHMARK:
            value, rule = BENCHMARK[q]
            tab.caption(
                _("Benchmark {value} {unit} (hourly mean, {rule}).").format(
                    value=value, unit=unit, rule=rule
                )
            )
        elif me["kind"] == "groundwater":
            gw = rs.rule("GW-SENSOR")
            tab.caption(
                _(
                    "Judged against the well's own baseline: a daily mean above the {days}-day "
                    "mean + {sigma} standard deviations, or rising {rising} days in a row (GW-SENSOR)."
                ).format(
                    days=gw.param("baseline_days"),
                    sigma=gw.param("sigma"),
                    rising=gw.param("rising_days"),
                )
            )
        time_chart(
            part,
            "bucket",
            {"value_mean": "Mean", "value_max": "Maximum"},
            quantity_name(q),
            unit=unit,
            where=tab,
        )
    flagged = int(data["flagged"].sum())
    if flagged:
        st.warning(
            _("{n} readings carry the device's own fault or maintenance flag.").format(n=flagged)
        )
    readings = st.expander(_("Readings as a table"), key="sensor_table", on_change="rerun")
    if readings.open:  # sent to the browser when opened, not hidden in every load
        table(
            data.assign(q_name=data["quantity"].map(quantity_name), u=data["unit"].map(unit_name)),
            [
                Col("bucket", "Time", "time"),
                Col("q_name", "Quantity"),
                Col("value_mean", "Mean", "num", digits=3),
                Col("value_max", "Maximum", "num", digits=3),
                Col("u", "Unit"),
                Col("readings", "Readings", "int"),
                Col("flagged", "Flagged readings", "int"),
            ],
            where=readings,
        )
else:
    no_data("No readings from this sensor in this window.")

st.subheader(_("Anomalies"))
vapour_alarms(run_query("vapor.alarms", (), since, until, extra_subjects=(sensor,)))

st.subheader(_("Cases of this sensor"))
unit_cases(sensor, "No cases of this sensor in the last 90 days.")

"""Vehicle profile.

One vehicle across every source and jurisdiction: a time line of every reading and event (RSD
passes, smoke captures, OBD NOx, fired rules), its cases with the next allowed actions, then in
tabs (only the open one is queried and drawn) its exceedances with measured value and limit,
smoke evidence as images, OBD NOx / SCR charts around the latest OBD event, and its RSD passes.
Opened from the plate / VIN search of any page. Layout only: data comes from
``streams.warehouse.queries`` (``vehicle``, ``rsd``, ``obd``) through ``dashboards.data``, cached a
minute per vehicle and scope (an officer comes back to a vehicle; each visit re-read it all), and
only what is shown: a month of OBD readings as hourly points, the newest rows of long tables, the
evidence of one capture at a time.
"""

from __future__ import annotations

from datetime import timedelta

import altair as alt
import pandas as pd
import streamlit as st

from dashboards.auth import current_scope
from dashboards.case_panel import show_case
from dashboards.data import has_rows, registry, run_query
from dashboards.i18n import N_, _
from dashboards.search import SearchError, resolve
from dashboards.widgets import (
    Col,
    beijing_suffix,
    count,
    each,
    evidence_media,
    fmt_time,
    jurisdiction_name,
    metric,
    no_data,
    now_utc,
    one_per_slot,
    page_setup,
    registry_name,
    source_name,
    table,
    time_chart,
    to_beijing,
    unit_name,
)

WHAT = {
    "reading": N_("Reading"),
    "capture": N_("Smoke capture"),
    "exceedance": N_("Rule fired"),
}
ROWS = 200  # newest rows of a long table (the counts above it cover all of them)
CACHE_S = 60  # a vehicle's history is read again after a minute (or after an action)


def _newest(df: pd.DataFrame, total: int) -> pd.DataFrame:
    if len(df) > ROWS:
        st.caption(_("The newest {n} of {total}.").format(n=count(ROWS), total=count(total)))
        return df.head(ROWS)
    return df


page_setup("Vehicle profile")

vehicle = st.session_state.get("vehicle")
params = st.query_params
if not vehicle and (params.get("plate") or params.get("vin")):
    try:
        vehicle = resolve(params.get("plate") or params.get("vin") or "", registry()).as_state()
    except SearchError as exc:
        st.error(_(exc.message).format(text=exc.text))
if not vehicle:
    no_data("Search a plate or VIN in the sidebar to open a vehicle.")
    st.stop()

plate, vin = vehicle.get("plate", ""), vehicle.get("vin", "")
days = st.sidebar.selectbox(
    _("History"), [7, 30, 90, 180], index=1, format_func=lambda d: _("{n} days").format(n=d)
)
# whole minutes: the same arguments for a minute, so the cached sections (data.run_query) serve
# reloads and other officers instead of querying again
until = now_utc().replace(second=0, microsecond=0) + timedelta(minutes=5)
since = until - timedelta(days=days)
# OBD readings on the time line: about a point an hour over a month (10 minutes over a week)
bucket = 10 if days <= 7 else 60 * days // 30

ex = run_query("vehicle.exceedances", plate, vin, cache_s=CACHE_S)
cases = run_query("cases.for_subject", plate, vin, cache_s=CACHE_S)
tl = run_query("vehicle.timeline", plate, vin, since, until, bucket_minutes=bucket, cache_s=CACHE_S)
if not (has_rows(ex) or has_rows(cases) or has_rows(tl)):
    # nothing in the caller's scope: say so without echoing the vehicle or its registry entry
    no_data("Nothing recorded for this vehicle in your jurisdictions in this window.")
    st.stop()
scope = current_scope()
reg = registry().vehicle(vin) if vin else None
st.subheader(" / ".join(p for p in (plate, vin) if p))
if reg is not None and scope is not None and scope.sees(reg.jurisdiction):
    st.caption(
        f"{jurisdiction_name(reg.jurisdiction)} · {_('Fleet')} {registry_name(reg.fleet)} · "
        f"{_(reg.vehicle_class)} · {_(reg.fuel)} · {reg.emission_stage}"
    )

c1, c2, c3 = st.columns(3)
n_ex = int(ex["total"].iloc[0]) if has_rows(ex) else 0
metric(c1, "Exceedances (all time)", count(n_ex))
metric(c2, "Sources", str(int(ex["sources"].iloc[0])) if has_rows(ex) else "0")
metric(c3, "Jurisdictions", str(int(ex["jurisdictions"].iloc[0])) if has_rows(ex) else "0")

# ---- cases -------------------------------------------------------------------------------------
if has_rows(cases):
    st.subheader(_("Cases"))
    # the newest open case starts opened; the others (headers with status and score) are read
    # and drawn when an officer opens them
    open_cases = [i for i, s in enumerate(cases["status"]) if s not in ("dismissed", "closed")]
    first = open_cases[0] if open_cases else -1
    for i, (_idx, case_row) in enumerate(cases.iterrows()):
        show_case(case_row, f"v{i}", expanded=i == first)

# ---- one time line ----------------------------------------------------------------------------
st.markdown("**" + _("Time line: every reading and event") + "**")
if has_rows(tl):
    # only the columns the chart reads go to the browser, a point per slot of the bucket
    pts = one_per_slot(tl, "ts", ("source", "what"), bucket)
    data = pd.DataFrame(
        {
            "t": to_beijing(pts["ts"]),
            "source_name": each(pts["source"], source_name),
            "what_name": each(pts["what"], lambda w: _(WHAT.get(w, str(w)))),
            "label": pts["label"],
            "value": pd.to_numeric(pts["value"], errors="coerce").round(2),
            "unit": each(pts["unit"], unit_name),
            "n": pts["n"],
        }
    )
    chart = (
        alt.Chart(data)
        .mark_point(filled=True, size=70)
        .encode(
            x=alt.X("t:T", title=_("Time") + beijing_suffix(), axis=alt.Axis(format="%m-%d %H:%M")),
            y=alt.Y("source_name:N", title=_("Source")),
            color=alt.Color("what_name:N", title=""),
            shape=alt.Shape("what_name:N", title=""),
            tooltip=[
                alt.Tooltip("t:T", title=_("Time") + beijing_suffix(), format="%Y-%m-%d %H:%M"),
                alt.Tooltip("source_name:N", title=_("Source")),
                alt.Tooltip("label:N", title=_("What")),
                alt.Tooltip("value:Q", title=_("Value")),
                alt.Tooltip("unit:N", title=_("Unit")),
                alt.Tooltip("n:Q", title=_("Records")),
            ],
        )
        .properties(height=220)
    )
    st.altair_chart(chart, width="stretch")
else:
    no_data("Nothing recorded for this vehicle in this window.")

# ---- the rest, one section at a time ---------------------------------------------------------
# only the open tab is queried and drawn (switching reruns from the query cache): the tables,
# images and charts of every section at once were most of the page's weight in the browser
SECTIONS = {"rules": N_("Rules fired for this vehicle")}
if plate:
    SECTIONS["smoke"] = N_("Black-smoke evidence")
if vin:
    SECTIONS["obd"] = N_("Remote OBD around the event")
if plate:
    SECTIONS["rsd"] = N_("Remote-sensing passes")
tabs = dict(
    zip(
        SECTIONS,
        st.tabs([_(t) for t in SECTIONS.values()], key="vehicle_section", on_change="rerun"),
        strict=True,
    )
)


def _rules() -> None:
    if has_rows(ex):
        table(
            _newest(ex, n_ex),
            [
                Col("ts", "Time", "time"),
                Col("source", "Source", "source"),
                Col("rule_id", "Rule", "rule"),
                Col("severity", "Severity", "value"),
                Col("jurisdiction", "Jurisdiction", "jur"),
                Col("device_id", "Device or site", "name"),
                Col("measured", "Measured", "num", digits=2),
                Col("limit", "Limit", "num", digits=2),
                Col("unit", "Unit", "unit"),
            ],
        )
    else:
        no_data("No rule has fired for this vehicle.")


def _smoke() -> None:
    caps = run_query("vehicle.smoke_captures", plate, cache_s=CACHE_S)
    if not has_rows(caps):
        no_data("No black-smoke capture of this vehicle.")
        return
    pick = 0
    if len(caps) > 1:  # the newest shown; another one on request (images are the page's weight)
        pick = st.selectbox(
            _("Capture"),
            range(len(caps)),
            format_func=lambda i: f"{fmt_time(caps['ts'].iloc[i])} · {caps['camera_id'].iloc[i]}",
            key="vehicle_capture",
        )
    cap = caps.iloc[pick]
    decided = (
        _(str(cap["decision"]))
        if isinstance(cap["decision"], str) and cap["decision"]
        else _("not reviewed yet")
    )
    st.markdown(
        f"**{fmt_time(cap['ts'])}**{beijing_suffix()} · {cap['camera_id']} · "
        f"{_('Model grade')} {float(cap['grade']):.1f} · {decided}"
    )
    evidence_media(
        cap["evidence_uri"],
        (
            ("best_frame.jpg", N_("Best frame (plume and vehicle boxes drawn)")),
            ("plume_crop.jpg", N_("Plume crop")),
            ("plate_crop.jpg", N_("Plate crop")),
        ),
        cap["clip_seconds"],
    )


def _obd() -> None:
    obd_ex = ex[ex["source"] == "obd_gateway"] if has_rows(ex) else pd.DataFrame()
    if has_rows(obd_ex):
        centre = pd.Timestamp(obd_ex["ts"].max()).to_pydatetime()
        st.caption(
            _("Three hours either side of the latest OBD event ({t}).").format(
                t=fmt_time(centre) + beijing_suffix()
            )
        )
        w0, w1 = centre - timedelta(hours=3), centre + timedelta(hours=3)
    else:
        w0, w1 = until - timedelta(hours=24), until
        st.caption(_("No OBD event: the last 24 hours."))
    # a point a minute over the event's 6 hours, every 5 minutes over a day
    step = 60 if w1 - w0 <= timedelta(hours=6) else 300
    obd = run_query("obd.vehicle_timeline", vin, w0, w1, step, cache_s=CACHE_S)
    if not has_rows(obd):
        no_data("No OBD data stream from this vehicle in that window.")
        return
    left, right = st.columns(2)
    time_chart(
        obd,
        "bucket",
        {"nox_up_ppm": N_("NOx before SCR"), "nox_down_ppm": N_("NOx after SCR")},
        "NOx",
        unit="ppm",
        where=left,
    )
    time_chart(
        obd,
        "bucket",
        {"scr_in_c": N_("SCR inlet temperature")},
        "Temperature",
        unit="°C",
        where=right,
    )


def _rsd() -> None:
    passes = run_query("rsd.vehicle_history", plate, cache_s=CACHE_S)
    if not has_rows(passes):
        no_data("No remote-sensing pass of this vehicle.")
        return
    rsd_ex = ex[ex["source"] == "remote_sensing"] if has_rows(ex) else pd.DataFrame()
    if has_rows(rsd_ex):
        st.caption(_("Limits applied (strictest applicable, from the rule set):"))
        table(
            rsd_ex.head(50),
            [
                Col("ts", "Time", "time"),
                Col("rule_id", "Rule", "rule"),
                Col("measured", "Measured", "num", digits=2),
                Col("limit", "Limit", "num", digits=2),
                Col("unit", "Unit", "unit"),
            ],
        )
    table(
        _newest(passes, len(passes)),
        [
            Col("ts", "Time", "time"),
            Col("site_id", "Site", "name"),
            Col("jurisdiction", "Jurisdiction", "jur"),
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


DRAW = {"rules": _rules, "smoke": _smoke, "obd": _obd, "rsd": _rsd}
for name, tab in tabs.items():
    if tab.open:
        with tab:
            DRAW[name]()

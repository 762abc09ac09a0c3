"""Device health.

Per device (RSD site, smoke camera, OBD terminal, station data logger): days with data in the
window, last time heard, calibration certificate state and due date (rule DQ-CAL), so that a
jurisdiction sees what is broken before its data is. Layout only: data comes from
``streams.warehouse.queries.devices`` through ``dashboards.data``.
"""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from core.timeutil import BEIJING
from dashboards.data import has_rows, run_query
from dashboards.i18n import N_, _
from dashboards.widgets import (
    Col,
    count,
    jurisdiction_picker,
    metric,
    no_data,
    page_setup,
    query_until,
    registry_name,
    table,
)

KINDS = {
    "rsd_site": N_("RSD sites"),
    "camera": N_("Smoke cameras"),
    "obd_terminal": N_("OBD terminals"),
    "data_logger": N_("Station data loggers"),
}

page_setup(
    "Device health",
    "Completeness = days with data / days in the window (Beijing days). Calibration per rule "
    "DQ-CAL: readings of a device with an expired or missing certificate are not evidence.",
)
jur = jurisdiction_picker("devices_jur")
days = st.sidebar.selectbox(
    _("Window"), [1, 7, 30], index=1, format_func=lambda d: _("{n} days").format(n=d)
)
until = query_until(1)
since = until - timedelta(days=days)
today = until.astimezone(BEIJING).date()

devices = run_query("devices.health", since, until, today)
if not has_rows(devices):
    no_data("No devices in the registry.")
    st.stop()
if jur:
    devices = devices[devices["jurisdiction"] == jur]
devices = devices.assign(  # sites, cameras, stations by the names officers use; OBD by plate
    name=[
        registry_name(d) if registry_name(d) != d else n
        for d, n in zip(devices["device_id"], devices["name"], strict=True)
    ]
)

silent = devices[devices["days_with_data"] == 0]
cal_bad = devices[devices["calibration_status"].isin(["expired", "missing"])]
due = devices[devices["calibration_status"] == "due_soon"]
c1, c2, c3, c4 = st.columns(4)
metric(c1, "Devices", count(len(devices)))
metric(c2, "Silent in the window", count(len(silent)))
metric(c3, "Calibration expired or missing", count(len(cal_bad)))
metric(c4, "Calibration due within 30 days", count(len(due)))

COLS = [
    Col("device_id", "Device"),
    Col("name", "Name or plate"),
    Col("jurisdiction", "Jurisdiction", "jur"),
    Col("completeness", "Completeness", "rate"),
    Col("days_with_data", "Days with data", "int"),
    Col("last_seen", "Last heard", "time"),
    Col("calibration_status", "Calibration", "value"),
    Col("valid_until", "Calibration valid until", "day"),
    Col("certificate", "Certificate"),
]
if len(cal_bad) or len(silent):
    st.subheader(_("Needs attention"))
    attention = devices[devices.index.isin(silent.index) | devices.index.isin(cal_bad.index)]
    table(
        attention.assign(kind_name=attention["kind"].map(lambda k: _(KINDS[k]))),
        [Col("kind_name", "Kind"), *COLS],
    )

# one tab per kind, drawn only when open (a rerun on switching): one table in the browser, not four
kinds = [k for k in KINDS if (devices["kind"] == k).any()]
tabs = st.tabs([_(KINDS[k]) for k in kinds], key="devices_kind", on_change="rerun")
for kind, tab in zip(kinds, tabs, strict=True):
    if tab.open:
        part = devices[devices["kind"] == kind]
        tab.caption(_("{n} devices").format(n=len(part)))
        table(part, COLS, where=tab)

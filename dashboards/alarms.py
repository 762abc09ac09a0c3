"""Vapour warnings and alarms on a page (layout): each with its rule's name, the time in Beijing
time, what to check (``fuel_vapor.rules.HINTS``, through the catalogue) and its facts, then a table
of all of them, sent to the browser only when opened. Used by the station, depot and sensor
pages; rows come from ``vapor.alarms``."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from dashboards.data import has_rows
from dashboards.i18n import N_, _
from dashboards.widgets import Col, fmt_time, no_data, registry_name, rule_name, table
from fuel_vapor.rules import HINTS

QUANTITIES = {  # sensor quantity -> (catalogue label, unit as people write it)
    "nmhc_mg_m3": (N_("Non-methane hydrocarbons (NMHC)"), "mg/m³"),
    "thc_mg_m3": (N_("Total hydrocarbons (THC)"), "mg/m³"),
    "voc_mg_m3": (N_("Volatile organic compounds (VOC)"), "mg/m³"),
    "nox_ug_m3": (N_("Nitrogen oxides (NOx)"), "µg/m³"),
    "no2_ug_m3": (N_("Nitrogen dioxide (NO₂)"), "µg/m³"),
    "petroleum_mg_l": (N_("Petroleum hydrocarbons"), "mg/L"),
    "benzene_ug_l": (N_("Benzene"), "µg/L"),
}


def quantity_name(q: str) -> str:
    label = QUANTITIES.get(q)
    return _(label[0]) if label else q


def unit_part(subject: object) -> str:
    """A vapour subject as people read it: ``QP-ST-0001:N03`` → N03, a sensor or depot by name."""
    _station, sep, nozzle = str(subject).partition(":")
    if sep and nozzle.isdigit():
        return f"N{int(nozzle):02d}"
    if sep and nozzle[:1] == "N" and nozzle[1:].isdigit():
        return nozzle
    return registry_name(subject)


def vapour_alarms(alarms: pd.DataFrame, limit: int = 8) -> None:
    """The newest ``limit`` warnings and alarms opened up with what to check; all of them in a
    table behind an expander (drawn when opened: most visits need only the newest)."""
    if not has_rows(alarms):
        no_data("No warnings or alarms in this period.")
        return
    shown = alarms[alarms["severity"] != "info"] if (alarms["severity"] != "info").any() else alarms
    if len(shown) > limit:
        st.caption(
            _(
                "The newest {n} of {total} with what to check; all of them in the table below."
            ).format(n=limit, total=len(shown))
        )
    for _i, row in shown.head(limit).iterrows():
        detail = json.loads(row["detail_json"] or "{}")
        what = unit_part(row["subject_id"])
        if "quantity" in detail:
            what = f"{what} · {quantity_name(detail['quantity'])}"
        label = (
            f"{rule_name(row['rule_id'])} · {what} · {fmt_time(row['ts'])}"
            f"{_(' (Beijing time)')} · {_(str(row['severity']))}"
        )
        with st.expander(label):
            hint = HINTS.get(row["rule_id"]) or detail.get("hint") or ""
            st.markdown(f"**{_('What to check:')}** {_(hint)}")
            facts = {k: v for k, v in detail.items() if k != "hint"}
            if facts:
                st.json(facts, expanded=False)
            st.markdown(
                f"**{_('Evidence:')}** " + (", ".join(f"`{e}`" for e in row["evidence"]) or "–")
            )
    listed = st.expander(
        _("All warnings and alarms as a table"), key="vapour_alarms_table", on_change="rerun"
    )
    if not listed.open:
        return
    table(
        shown.assign(subject=shown["subject_id"].map(unit_part)),
        [
            Col("ts", "Time", "time"),
            Col("rule_id", "Rule", "rule"),
            Col("severity", "Severity", "value"),
            Col("subject", "Nozzle or device"),
            Col("measured", "Measured", "num", digits=2),
            Col("limit", "Limit", "num", digits=2),
            Col("unit", "Unit", "unit"),
            Col("provisional", "Provisional rule", "bool"),
        ],
        where=listed,
    )

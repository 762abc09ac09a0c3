"""Triage queue.

The officer's start page: open cases across all sources and jurisdictions, highest triage score
first, each with what its score is made of; filters by jurisdiction, source, vehicle class,
status and date; several cases dismissed at once with a written reason; a selected row opens the
vehicle or the station. Layout only: data from ``streams.warehouse.queries.cases``, actions
through ``dashboards.actions``.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pandas as pd
import streamlit as st

from core.jurisdictions import JURISDICTIONS
from dashboards.actions import DISMISS_LABELS, ActionError, case_action
from dashboards.data import has_rows, run_query
from dashboards.i18n import N_, _
from dashboards.widgets import (
    SOURCE_NAMES,
    VEHICLE_PAGE,
    Col,
    count,
    current_user,
    each,
    jurisdiction_name,
    metric,
    no_data,
    page_setup,
    query_until,
    registry_name,
    source_name,
    table,
)

OPEN = ("new", "in_review", "confirmed", "notified", "referred", "reinspected")
STATUSES = (*OPEN, "dismissed", "closed")
TERMS = {
    "severity": N_("severity"),
    "repetition": N_("repetition"),
    "evidence": N_("evidence"),
    "cross_source": N_("cross-source"),
    "vehicle_class": N_("heavy diesel"),
    "recency": N_("recency"),
}
CLASSES = ("heavy_diesel", "diesel", "gasoline", "nev", "unknown")
ISSUES = {
    "emission": N_("Tailpipe emissions"),
    "smoke": N_("Black smoke"),
    "tamper": N_("OBD tampering / offline"),
    "vapour": N_("Vapour recovery"),
    "sensor": N_("Ambient / groundwater sensor"),
}

page_setup("Triage queue")

sb = st.sidebar
juris = sb.multiselect(
    _("Jurisdictions"), list(JURISDICTIONS), format_func=jurisdiction_name, placeholder=_("All")
)
sources = sb.multiselect(
    _("Data sources"), list(SOURCE_NAMES)[:4], format_func=source_name, placeholder=_("All")
)
classes = sb.multiselect(
    _("Vehicle class"), CLASSES, format_func=lambda c: _(c), placeholder=_("All")
)
statuses = sb.multiselect(
    _("Status"), STATUSES, default=list(OPEN), format_func=lambda s: _(s), placeholder=_("All")
)
days = sb.selectbox(
    _("Opened within"),
    [1, 7, 30, 90, 365],
    index=2,
    format_func=lambda d: _("{n} days").format(n=d),
)
until = query_until(5)  # whole minutes: reloads and other officers hit the query cache
since = until - timedelta(days=days)

flash = st.session_state.pop("triage_flash", None)
if flash:
    st.success(flash, icon="✅")

# the list and its counts take the same filters
filters = (tuple(statuses or OPEN), since, until, tuple(juris), tuple(sources), tuple(classes))
cases = run_query("cases.queue", *filters)
if not has_rows(cases):
    no_data("No cases match: nothing to triage in this window.")
    st.stop()


def _explain(terms_json: str) -> str:
    terms = json.loads(terms_json or "{}")
    parts = [(k, v) for k, v in sorted(terms.items(), key=lambda kv: -kv[1]) if v]
    return " + ".join(f"{_(TERMS.get(k, k))} {v:.0f}" for k, v in parts) or "–"


def _subject(subject_id: object, plate: str, vin: str) -> str:
    """Plate, VIN or station as officers write them; an unread plate names its camera."""
    sid = str(subject_id)
    if not (plate or vin) and sid.startswith("unread:"):
        camera = sid.split(":")[1] if sid.count(":") >= 2 else ""
        return f"{_('Plate unread')}（{registry_name(camera)}）" if camera else _("Plate unread")
    return plate or vin or sid


view = cases.assign(
    subject=[
        _subject(*r) for r in zip(cases["subject_id"], cases["plate"], cases["vin"], strict=True)
    ],
    why=each(cases["score_terms_json"], _explain),
    issue_name=each(cases["issue"], lambda i: _(ISSUES.get(i, str(i)))),
    source_names=each(cases["sources"], lambda s: "、".join(source_name(x) for x in s)),
    jur_names=each(cases["jurisdictions"], lambda js: "、".join(jurisdiction_name(j) for j in js)),
)
# the metrics count every case the filters match, not only the listed ones (the list is cut)
counts = run_query("cases.queue_counts", *filters)
n = counts.iloc[0] if has_rows(counts) else pd.Series(dtype=object)
total = int(n.get("total", len(view)))
c1, c2, c3, c4 = st.columns(4)
metric(c1, "Cases matching", count(total))
metric(c2, "New", count(n.get("new", 0)))
metric(c3, "Cross-source", count(n.get("cross_source", 0)))
metric(c4, "Heavy diesel", count(n.get("heavy_diesel", 0)))
if total > len(view):
    st.caption(
        _("The {n} highest-scored of {total} are listed; narrow the filters to see others.").format(
            n=count(len(view)), total=count(total)
        )
    )

st.caption(_("Select rows: one opens its vehicle or station; several can be dismissed together."))
picked = table(
    view,
    [
        Col("score", "Triage score", "num", digits=0),
        Col("why", "Why this score"),
        Col("subject", "Vehicle or station"),
        Col("issue_name", "Issue"),
        Col("status", "Status", "value"),
        Col("severity", "Severity", "value"),
        Col("source_names", "Data sources"),
        Col("jur_names", "Jurisdictions"),
        Col("findings", "Findings", "int"),
        Col("opened_at", "Opened", "time"),
        Col("ts", "Last change", "time"),
        Col("suggested_measure", "Suggested measure", "value"),
        Col("case_id", "Case"),
    ],
    on_select="rerun",
    selection_mode="multi-row",
    key="triage_table",
)
rows = list(getattr(getattr(picked, "selection", None), "rows", None) or [])
subject_of = dict(zip(view["case_id"], view["subject"], strict=True))
also = st.multiselect(
    _("Or pick cases by number"),
    list(view["case_id"]),
    format_func=lambda c: f"{c} · {subject_of[c]}",
    key="triage_pick",
    placeholder=_("Case numbers"),
)
ids = list(dict.fromkeys([*view.iloc[rows]["case_id"], *also]))
chosen = view.set_index("case_id").loc[ids].reset_index() if ids else pd.DataFrame()
UNIT_PAGES = {  # subject kind -> (button label, page)
    "station": (N_("Open station {label}"), "views/vapor_station.py"),
    "depot": (N_("Open depot {label}"), "views/vapor_depots.py"),
    "sensor": (N_("Open sensor {label}"), "views/vapor_sensors.py"),
}
if len(chosen) == 1:
    one = chosen.iloc[0]
    if one["subject_kind"] == "vehicle":
        if st.button(_("Open vehicle {label}").format(label=one["subject"]), type="primary"):
            st.session_state["vehicle"] = {"plate": one["plate"], "vin": one["vin"]}
            st.switch_page(VEHICLE_PAGE)
    else:
        station = str(one["subject_id"]).split(":")[0]
        kind = str(one["subject_kind"]) if one["subject_kind"] in UNIT_PAGES else "station"
        label, page = UNIT_PAGES[kind]
        if st.button(_(label).format(label=station), type="primary"):
            st.session_state[kind] = station
            st.session_state["unit_case"] = str(one["case_id"])
            st.switch_page(page)

if len(chosen):
    with st.form("bulk_dismiss"):
        st.markdown("**" + _("Dismiss {n} selected cases").format(n=len(chosen)) + "**")
        code = st.selectbox(
            _("Reason"),
            list(DISMISS_LABELS),
            index=len(DISMISS_LABELS) - 1,
            format_func=lambda c: _(DISMISS_LABELS[c]),
        )
        reason = st.text_input(_("Written reason (required)"), key="bulk_reason")
        officer = st.text_input(_("Officer (your name)"), value=current_user(), key="bulk_officer")
        go = st.form_submit_button(_("Dismiss selected"), key="bulk_go")
    if go:
        if not reason.strip():
            st.error(_("A dismissal needs a written reason; nothing was changed."))
        else:
            done, failed = 0, []
            for _i, row in chosen.iterrows():
                try:
                    case_action(
                        row,
                        [("dismiss", reason.strip(), {"dismiss_code": code})],
                        actor=officer,
                        actor_jurisdiction=str(row["jurisdiction"]),
                    )
                    done += 1
                except ActionError as exc:
                    failed.append(f"{row['case_id']}: {exc.text()}")
            if failed:
                st.error("\n\n".join(failed))
            if done:
                st.session_state["triage_flash"] = _("{n} cases dismissed.").format(n=done)
                st.rerun()

"""One case on a page: status, triage score, suggested measure from the discretion table, the
action log, and a form offering only the actions its state allows (layout; the write goes through
``dashboards.actions.case_action``, which checks it first)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboards.actions import DISMISS_LABELS, ActionError, case_action, suggested_measure
from dashboards.data import has_rows, run_query
from dashboards.i18n import N_, _
from dashboards.widgets import Col, current_user, fmt_time, jurisdiction_name, table
from enforcement.cases import ALLOWED, MEASURES, NOTIFY_CHANNELS, REFER_TO

FORM_ACTIONS = ("review", "confirm", "dismiss", "notify", "refer", "reinspect", "close")
LABELS = {
    "traffic_police": N_("Traffic police"),
    "roadside_check": N_("Roadside check"),
    "in_company_check": N_("In-company check"),
    "sms": N_("SMS"),
    "letter": N_("Letter"),
    "in_person": N_("In person"),
    "phone": N_("Phone"),
}


def show_case(row: pd.Series, key: str) -> None:
    """The case in ``row`` (a ``cases.*`` query row) with its log and next actions."""
    status = str(row["status"])
    head = f"{row['case_id']} · {_(status)} · {_('Triage score')} {float(row['score']):.0f}"
    with st.expander(head, expanded=status not in ("dismissed", "closed")):
        st.caption(
            f"{_('Opened')} {fmt_time(row['opened_at'])}{_(' (Beijing time)')} · "
            f"{jurisdiction_name(row['jurisdiction'])} · {_('Findings')} {int(row['findings'])}"
        )
        sug = suggested_measure(str(row["state_json"]))
        if sug:
            fine = ""
            if sug.get("fine_max_cny"):
                fine = _(" · fine {lo}–{hi} CNY").format(
                    lo=sug.get("fine_min_cny") or 0, hi=sug["fine_max_cny"]
                )
            st.info(
                f"**{_('Suggested measure')}**：{sug.get('label', '')}{fine}"
                f"（{_('discretion table')} {sug.get('table_version', '')}, {sug.get('row', '')}）"
            )
        log = run_query("cases.log", str(row["case_id"]))
        if has_rows(log):
            table(
                log.assign(hash_short=log["hash"].str[:12]),
                [
                    Col("ts", "Time", "time"),
                    Col("action", "Action", "value"),
                    Col("actor", "By"),
                    Col("status_before", "From", "value"),
                    Col("status_after", "To", "value"),
                    Col("reason", "Reason"),
                    Col("hash_short", "Chain hash"),
                ],
            )
        allowed = [a for a in FORM_ACTIONS if status in ALLOWED[a]]
        if not allowed:
            return
        _action_form(row, allowed, sug, key)


def _action_form(row: pd.Series, allowed: list[str], sug: dict[str, Any], key: str) -> None:
    with st.form(f"case_{key}"):
        action = st.radio(
            _("Next step"), allowed, format_func=lambda a: _(a), horizontal=True, key=f"act_{key}"
        )
        reason = st.text_input(_("Reason or note"), key=f"reason_{key}")
        payload: dict[str, Any] = {}
        c1, c2 = st.columns(2)
        grade = c1.number_input(
            _("Your grade (Ringelmann)"), 0.0, 5.0, 2.0, 0.5, key=f"grade_{key}"
        )
        measure = c2.selectbox(
            _("Measure"),
            MEASURES,
            index=MEASURES.index(sug["measure"]) if sug.get("measure") in MEASURES else 0,
            format_func=lambda m: _(m),
            key=f"measure_{key}",
        )
        channel = c1.selectbox(
            _("Notify by"), NOTIFY_CHANNELS, format_func=lambda c: _(LABELS[c]), key=f"ch_{key}"
        )
        refer = c2.selectbox(
            _("Refer to"), REFER_TO, format_func=lambda c: _(LABELS[c]), key=f"to_{key}"
        )
        code = c1.selectbox(
            _("Dismiss because"),
            list(DISMISS_LABELS),
            format_func=lambda c: _(DISMISS_LABELS[c]),
            key=f"code_{key}",
        )
        record = c2.text_input(_("Maintenance record number"), key=f"rec_{key}")
        k_value = c1.number_input(_("Re-test k (m⁻¹)"), 0.0, 100.0, 0.0, 0.01, key=f"k_{key}")
        officer = c2.text_input(_("Officer (your name)"), value=current_user(), key=f"who_{key}")
        go = st.form_submit_button(_("Record"), type="primary")
    if not go:
        return
    if action == "confirm":
        payload = {"measure": measure}
        if row["issue"] == "smoke":
            payload["grade"] = grade
    elif action == "dismiss":
        payload = {"dismiss_code": code}
    elif action == "notify":
        payload = {"channel": channel}
    elif action == "refer":
        payload = {"to": refer}
    elif action == "reinspect":
        payload = {"maintenance_record": record, "retest": {"method": "k", "value": k_value}}
    steps = [(action, reason, payload)]
    try:
        after = case_action(row, steps, actor=officer, actor_jurisdiction=str(row["jurisdiction"]))
    except ActionError as exc:
        st.error(exc.text())
        return
    st.success(_("Recorded: the case is now {status}.").format(status=_(after)))

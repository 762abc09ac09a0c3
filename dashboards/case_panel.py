"""One case on a page: status, triage score, suggested measure from the discretion table, then
in two tabs a form offering only the actions its state allows and the action log (only the open
tab is read and drawn; layout; the write goes through ``dashboards.actions.case_action``, which
checks it first)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboards.actions import DISMISS_LABELS, ActionError, case_action, suggested_measure
from dashboards.data import has_rows, run_query
from dashboards.i18n import N_, _
from dashboards.widgets import Col, current_user, fmt_time, jurisdiction_name, table
from enforcement.cases import ALLOWED, MEASURES, NOTIFY_CHANNELS, REFER_TO

LOG_ENTRIES = (N_("open"), N_("attach"))  # log entries besides the actions (translated in tables)
LOG_ROWS = 50  # log entries shown (the whole log is in the evidence archive)
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


def show_case(row: pd.Series, key: str, expanded: bool | None = None) -> None:
    """The case in ``row`` (a ``cases.*`` query row) with its log and next actions; opened at
    first when ``expanded`` (default: while the case is open), else read and drawn only when an
    officer opens it."""
    status = str(row["status"])
    head = f"{row['case_id']} · {_(status)} · {_('Triage score')} {float(row['score']):.0f}"
    box = st.expander(
        head,
        expanded=status not in ("dismissed", "closed") if expanded is None else expanded,
        key=f"case_box_{key}",
        on_change="rerun",
    )
    if not box.open:
        return
    with box:
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
        allowed = [a for a in FORM_ACTIONS if status in ALLOWED[a]]
        if not allowed:  # a closed or dismissed case: its log is all there is to show
            _case_log(str(row["case_id"]))
            return
        # the log is read and drawn when its tab is opened (a table per case is most of a
        # page's weight in the browser); the next step, what an officer came for, is shown first
        step, logged = st.tabs(
            [_("Next step"), _("Action log")], key=f"case_tab_{key}", on_change="rerun"
        )
        if step.open:
            with step:
                _action_form(row, allowed, sug, key)
        if logged.open:
            with logged:
                _case_log(str(row["case_id"]))


def _case_log(case_id: str) -> None:
    log = run_query("cases.log", case_id)
    if not has_rows(log):
        return
    if len(log) > LOG_ROWS:  # a case that gathered hundreds of findings: its latest steps
        st.caption(_("The newest {n} of {total}.").format(n=LOG_ROWS, total=len(log)))
        log = log.tail(LOG_ROWS)
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


@st.fragment
def _action_form(row: pd.Series, allowed: list[str], sug: dict[str, Any], key: str) -> None:
    """The next step, with only the fields the chosen action needs (a fragment: choosing an
    action reruns this form, not the page; a case form used to draw all ten fields at once)."""
    action = st.radio(
        _("Next step"), allowed, format_func=lambda a: _(a), horizontal=True, key=f"act_{key}"
    )
    payload: dict[str, Any] = {}
    c1, c2 = st.columns(2)
    if action == "confirm":
        payload["measure"] = c1.selectbox(
            _("Measure"),
            MEASURES,
            index=MEASURES.index(sug["measure"]) if sug.get("measure") in MEASURES else 0,
            format_func=lambda m: _(m),
            key=f"measure_{key}",
        )
        if row["issue"] == "smoke":
            payload["grade"] = c2.number_input(
                _("Your grade (Ringelmann)"), 0.0, 5.0, 2.0, 0.5, key=f"grade_{key}"
            )
    elif action == "dismiss":
        payload["dismiss_code"] = c1.selectbox(
            _("Dismiss because"),
            list(DISMISS_LABELS),
            format_func=lambda c: _(DISMISS_LABELS[c]),
            key=f"code_{key}",
        )
    elif action == "notify":
        payload["channel"] = c1.selectbox(
            _("Notify by"), NOTIFY_CHANNELS, format_func=lambda c: _(LABELS[c]), key=f"ch_{key}"
        )
    elif action == "refer":
        payload["to"] = c1.selectbox(
            _("Refer to"), REFER_TO, format_func=lambda c: _(LABELS[c]), key=f"to_{key}"
        )
    elif action == "reinspect":
        record = c1.text_input(_("Maintenance record number"), key=f"rec_{key}")
        k_value = c2.number_input(_("Re-test k (m⁻¹)"), 0.0, 100.0, 0.0, 0.01, key=f"k_{key}")
        payload = {"maintenance_record": record, "retest": {"method": "k", "value": k_value}}
    reason = c1.text_input(_("Reason or note"), key=f"reason_{key}")
    officer = c2.text_input(_("Officer (your name)"), value=current_user(), key=f"who_{key}")
    if not st.button(_("Record"), type="primary", key=f"go_{key}"):
        return
    steps = [(action, reason, payload)]
    try:
        after = case_action(row, steps, actor=officer, actor_jurisdiction=str(row["jurisdiction"]))
    except ActionError as exc:
        st.error(exc.text())
        return
    st.success(_("Recorded: the case is now {status}.").format(status=_(after)))


def unit_cases(unit: str, empty: str, days: int = 90) -> None:
    """The cases of a station (its nozzles and sensors), a depot or a sensor: every open one and
    those closed or dismissed in the last ``days`` days, as a table with status; officers open one
    with its log and next steps, a station operator reads the list (``desk.station_cases`` keeps
    them to their own stations)."""
    from datetime import timedelta

    from core.access import domains
    from dashboards.alarms import unit_part
    from dashboards.auth import current_scope
    from dashboards.widgets import no_data, query_until, rule_name

    cases = run_query("desk.station_cases", unit, query_until(0) - timedelta(days=days))
    if not has_rows(cases):
        no_data(empty)
        return
    n_open = int(cases["is_open"].astype(bool).sum())
    st.caption(
        _("{open} open; closed and dismissed cases of the last {days} days below them.").format(
            open=n_open, days=days
        )
    )
    table(
        cases.assign(
            rule_list=cases["rules"].map(lambda ids: "、".join(rule_name(r) for r in ids)),
            subject=cases["subject_id"].map(unit_part),
        ),
        [
            Col("case_id", "Case"),
            Col("status", "Status", "value"),
            Col("opened_at", "Opened", "time"),
            Col("subject", "Nozzle or device"),
            Col("rule_list", "Rules"),
            Col("severity", "Severity", "value"),
            Col("findings", "Findings", "int"),
            Col("measure", "Measure", "value"),
        ],
    )
    caller = current_scope()
    if caller is None or "enforcement" not in domains(caller):
        st.caption(
            _(
                "Cases are handled by the enforcement officers of your jurisdiction; contact "
                "them about a case."
            )
        )
        return
    ids = list(cases["case_id"])
    wanted = st.session_state.pop("unit_case", None)  # opened from the triage queue
    status = dict(zip(cases["case_id"], cases["status"], strict=True))
    pick = st.selectbox(
        _("Open a case (its log and next steps)"),
        ids,
        index=ids.index(wanted) if wanted in ids else 0,
        format_func=lambda c: f"{c} · {_(str(status[c]))}",
        key=f"unit_case_{unit}",
    )
    show_case(cases[cases["case_id"] == pick].iloc[0], f"u_{pick}")

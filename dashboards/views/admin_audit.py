"""Audit trail.

Administrators only: logins and failed logins, refused sessions and requests, case actions,
evidence exports, report downloads and partner exports, newest first (Beijing time). Layout
only: rows come from the named query ``audit.recent``, which refuses every other role.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from core.timeutil import BEIJING
from dashboards.data import has_rows, run_query
from dashboards.i18n import N_, _
from dashboards.widgets import page_setup
from streams.warehouse.audit import ACTIONS

LABELS = {
    "login": N_("Login"),
    "login_failed": N_("Failed login"),
    "login_blocked": N_("Login blocked"),
    "logout": N_("Logout"),
    "session_refused": N_("Session refused"),
    "denied": N_("Access outside the scope refused"),
    "case_action": N_("Case action"),
    "evidence_export": N_("Evidence export"),
    "report_download": N_("Report download"),
    "partner_export": N_("Partner export"),
    "user_admin": N_("Account management"),
}
MAX_ROWS = 2000

page_setup("Audit trail")  # language switch and plate / VIN search, as on every page
days = st.sidebar.selectbox(
    _("Period"), [1, 7, 30, 90], index=1, format_func=lambda d: _("Last {n} days").format(n=d)
)
action = st.sidebar.selectbox(
    _("Event"),
    ["", *ACTIONS],
    format_func=lambda a: _(LABELS.get(a, a)) if a else _("All events"),
)
user = st.sidebar.text_input(_("User name"))
until = datetime.now(UTC) + timedelta(minutes=1)
rows = run_query("audit.recent", until - timedelta(days=days), until, action or None, user or None)
if not has_rows(rows):
    st.info(_("No audit records match."))
    st.stop()
view = rows.copy()
view["ts"] = view["ts"].dt.tz_localize("UTC") if view["ts"].dt.tz is None else view["ts"]
time_col = _("Time") + _(" (Beijing time)")
view[time_col] = view["ts"].dt.tz_convert(BEIJING).dt.strftime("%Y-%m-%d %H:%M:%S")
view["_event"] = view["action"].map(lambda a: _(LABELS[a]) if a in LABELS else a)
columns = {
    "user": N_("User"),
    "_event": N_("Event"),
    "outcome": N_("Outcome"),
    "what": N_("Object"),
    "client": N_("Client"),
    "scope": N_("Scope"),
}
view = view.rename(columns={k: _(v) for k, v in columns.items()})
st.caption(_("{n} records (at most {max} shown)").format(n=len(view), max=MAX_ROWS))
st.dataframe(
    view[[time_col, *(_(v) for v in columns.values())]],
    hide_index=True,
    width="stretch",
)

"""Audit trail.

Administrators only: logins and failed logins, refused sessions and requests, case actions,
evidence exports, report downloads and partner exports, newest first (Beijing time). Layout
only: rows come from the named query ``audit.recent``, which refuses every other role.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import streamlit as st

from core.timeutil import BEIJING
from dashboards.data import has_rows, run_query
from dashboards.i18n import N_, _, is_english
from dashboards.widgets import jurisdiction_name, page_setup, registry_name
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
OUTCOMES = {
    "ok": N_("Succeeded"),
    "refused": N_("Refused"),
    "out_of_scope": N_("Outside the scope"),
    "unknown_role": N_("Unknown role"),
    "actor_mismatch": N_("Actor is not the logged-in user"),
}
CLIENTS = {"dashboard": N_("Web pages"), "oidc": N_("Single sign-on"), "api": N_("API")}
MAX_ROWS = 2000


def _scope(text: object) -> str:
    """A stored scope (JSON) as people read it: role · jurisdictions · stations."""
    from dashboards.auth import ROLE_NAMES

    try:
        sc = json.loads(str(text or "{}"))
    except ValueError:
        return str(text)
    if not sc:
        return "–"
    sep = ", " if is_english() else "、"
    parts = [sep.join(_(ROLE_NAMES[r]) if r in ROLE_NAMES else r for r in sc.get("roles") or [])]
    parts.append(sep.join(jurisdiction_name(j) for j in sc.get("jurisdictions") or []))
    if sc.get("stations"):
        parts.append(sep.join(registry_name(x) for x in sc["stations"]))
    return " · ".join(p for p in parts if p)


page_setup("Audit trail")  # language switch and plate / VIN search, as on every page
days = st.sidebar.selectbox(
    _("Period"), [1, 7, 30, 90], index=1, format_func=lambda d: _("Last {n} days").format(n=d)
)
action = st.sidebar.selectbox(
    _("Event"),
    ["", *ACTIONS],
    format_func=lambda a: _(LABELS.get(a) or a) if a else _("All events"),
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
view["outcome"] = view["outcome"].map(lambda o: _(OUTCOMES[o]) if o in OUTCOMES else o)
view["client"] = view["client"].map(lambda c: _(CLIENTS[c]) if c in CLIENTS else c)
view["scope"] = view["scope"].map(_scope)
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

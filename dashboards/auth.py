"""Who is looking: the login gate of every page and the caller's scope.

Embedded mode (default): a Chinese login form checks the local account (argon2, rate-limited)
through ``streams.auth.service.AuthService``; the signed, expiring session token lives in the
Streamlit session (or in the ``emw_session`` cookie set by ``POST /api/login``) and is checked on
every run, so an expired, tampered or disabled session drops back to the form.
Production (``EMW_AUTH=oidc``): ``st.login`` against the OIDC provider (Keycloak); the token's
``emw_role`` / ``emw_jurisdiction`` / ``emw_stations`` claims make the scope.

Pages never filter by themselves: ``dashboards.data.run_query`` passes ``current_scope()`` to
every named query, which applies it in SQL.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import streamlit as st

from core.access import AccessError, scope_for
from core.jurisdictions import JURISDICTIONS
from core.scope import Scope
from dashboards.i18n import N_, _, is_english

ROLE_NAMES = {  # the roles of core.access as people read them
    "officer": N_("Enforcement officer"),
    "joint_team": N_("Joint enforcement team"),
    "station_operator": N_("Station operator"),
    "analyst": N_("Analyst"),
    "admin": N_("Administrator"),
    "lead": N_("Enforcement lead"),
}

TOKEN_KEY = "emw_token"


def _settings() -> Any:
    """The settings, parsed again only when an ``EMW_`` variable changes: pages ask for them
    several times a run (every query checks the caller), and each parse costs milliseconds."""
    return _settings_of(tuple(sorted((k, v) for k, v in os.environ.items() if k[:4] == "EMW_")))


@functools.lru_cache(maxsize=8)
def _settings_of(_env: tuple[tuple[str, str], ...]) -> Any:
    from streams.settings import load_settings

    return load_settings()


@st.cache_resource(show_spinner=False)
def _built_service(data_dir: str) -> Any:
    from pathlib import Path

    from streams.auth.service import AuthService
    from streams.warehouse.audit import Auditor

    def client() -> Any:
        from dashboards.data import client as data_client

        return data_client()

    return AuthService(Path(data_dir), Auditor(client))


def auth_service() -> Any:
    """The runner's AuthService (embedded) or one over the data directory from settings."""
    from streams.auth.service import service

    return service() or _built_service(str(_settings().data_dir))


def _client_label() -> str:
    try:
        return str(st.context.ip_address or "dashboard")
    except Exception:
        return "dashboard"


def current_scope() -> Scope | None:
    """The scope of the logged-in caller of this run, or None."""
    if _settings().auth == "oidc":
        return _oidc_scope()
    from streams.auth.service import COOKIE

    token = st.session_state.get(TOKEN_KEY)
    if not token:
        try:
            token = st.context.cookies.get(COOKIE)
        except Exception:
            token = None
    if not token:
        return None
    seen = st.session_state.get("_emw_refused")
    svc = auth_service()
    if seen == token:  # refused before in this session: do not audit it on every rerun
        return None
    scope = svc.session(token, client=_client_label())
    if scope is None:
        st.session_state["_emw_refused"] = token
        st.session_state.pop(TOKEN_KEY, None)
    return scope


def _oidc_scope() -> Scope | None:
    user = st.user
    if not getattr(user, "is_logged_in", False):
        return None
    claims = dict(user.to_dict())
    try:
        scope = scope_from_claims(claims)
    except AccessError:  # unknown role or station in the token: refused, audited once
        if not st.session_state.get("_emw_oidc_seen"):
            st.session_state["_emw_oidc_seen"] = True
            auth_service().auditor.record(
                "login_failed",
                user=str(claims.get("preferred_username") or claims.get("sub") or "")[:64],
                outcome="unknown_role",
                client=_client_label(),
            )
        return None
    if not st.session_state.get("_emw_oidc_seen"):  # the first run after st.login: audit it
        st.session_state["_emw_oidc_seen"] = True
        auth_service().auditor.record("login", user=scope.user, scope=scope, client="oidc")
    return scope


def scope_from_claims(claims: dict[str, Any]) -> Scope:
    """Scope from OIDC ID-token claims (Keycloak user attributes mapped in the realm file). A
    station operator's stations are looked up in the platform's registry (a seeded or configured
    station is known here as it is to the API), not the shipped one."""
    from dashboards.data import registry

    name = str(claims.get("preferred_username") or claims.get("email") or claims.get("sub") or "")
    role = str(claims.get("emw_role") or "")
    jur = claims.get("emw_jurisdiction") or ()
    sts = claims.get("emw_stations") or ()
    jur = (jur,) if isinstance(jur, str) else tuple(jur)
    sts = tuple(s for s in (sts.split(",") if isinstance(sts, str) else sts) if s)
    units = {s.id: s.jurisdiction for s in registry().stations}
    return scope_for(name, role, jur, sts, station_jurisdiction=units)


def _runner_routes() -> bool:
    """True inside ``emwatch run``, whose server has the ``/api/session`` hand-over route."""
    from streams.auth.service import service

    return service() is not None and getattr(service(), "has_http_routes", False)


def login_form() -> None:
    st.title("YRD Emissions Watch 长三角示范区排放监管平台")
    st.subheader(_("Please log in"))
    if _settings().auth == "oidc":
        st.caption(_("Log in with the single sign-on (OIDC)"))
        if st.button(_("Log in"), type="primary"):
            st.login()
        return
    with st.form("emw_login", clear_on_submit=True):
        name = st.text_input(_("User name"))
        password = st.text_input(_("Password"), type="password")
        submitted = st.form_submit_button(_("Log in"), type="primary")
    if submitted:
        svc = auth_service()
        res = svc.login(name, password, client=_client_label())
        if res.token:
            st.session_state[TOKEN_KEY] = res.token
            st.session_state.pop("_emw_refused", None)
            if _runner_routes():  # keep the login across reloads: an HttpOnly cookie, via a code
                code = svc.handover_code(res.token)
                st.html(
                    f'<script>window.parent.location.href = "/api/session?code={code}";</script>',
                    unsafe_allow_javascript=True,
                )
                st.stop()
            st.rerun()
        elif res.reason == "rate_limited":
            st.error(_("Too many attempts; try again in 5 minutes."))
        else:
            st.error(_("Wrong user name or password."))
    st.caption(
        _(
            "First time: the administrator account is printed when `make run` starts, or create "
            "one with `emwatch users add`."
        )
    )


def gate() -> Scope:
    """The caller's scope; shows the login form and stops the run when there is none."""
    scope = current_scope()
    if scope is None:
        login_form()
        st.stop()
    assert scope is not None
    with st.sidebar:
        from dashboards.widgets import jurisdiction_name

        role = next((_(ROLE_NAMES[r]) for r in scope.roles if r in ROLE_NAMES), scope.roles[0])
        where = ("、" if not is_english() else ", ").join(
            jurisdiction_name(j) for j in scope.jurisdictions if j in JURISDICTIONS
        )
        st.caption(
            _("User {user} · {role} · {where}").format(user=scope.user, role=role, where=where)
        )
        if st.button(_("Log out"), key="emw_logout"):
            auth_service().logout(scope, client=_client_label())
            st.session_state.pop(TOKEN_KEY, None)
            if _runner_routes():  # the cookie is HttpOnly: the server clears it
                st.html(
                    "<script>fetch('/api/logout', {method: 'POST'})"
                    ".then(() => window.parent.location.reload());</script>",
                    unsafe_allow_javascript=True,
                )
                st.stop()
            if _settings().auth == "oidc":
                st.logout()
            st.rerun()
    return scope

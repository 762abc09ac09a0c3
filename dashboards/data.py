"""The dashboards' data-access layer: one cached client, cached named queries.

Pages call ``run_query("platform.ingest_totals", ...)``; the name is ``<domain module>.<function>``
in ``streams.warehouse.queries``. Results are cached for ``ttl`` seconds (``st.cache_data``); the
client comes from the runner (embedded) or from settings (production, ``st.cache_resource``).
"""

from __future__ import annotations

import functools
import importlib
import inspect
from typing import Any

import pandas as pd
import streamlit as st

from core.registry import Registry, load_registry
from core.scope import Scope
from dashboards.i18n import _
from streams.warehouse import shared
from streams.warehouse.scope import OutOfScope, ScopeRequired


@st.cache_resource(show_spinner=False)
def _server_client() -> Any:
    from streams.settings import load_settings
    from streams.warehouse.client import connect

    s = load_settings()
    return connect(s.resolved_dsn, s.warehouse_database, create=False)


def client() -> Any:
    """The warehouse reader: the runner's (embedded) or a server client from settings."""
    return shared.reader() or _server_client()


def _resolve(name: str) -> Any:
    module, _, func = name.rpartition(".")
    mod = importlib.import_module(f"streams.warehouse.queries.{module}")
    return getattr(mod, func)


@functools.lru_cache(maxsize=512)
def _params(fn: Any) -> tuple[str, ...]:
    """A query function's parameter names (read once per function, not on every call)."""
    return tuple(inspect.signature(fn).parameters)


def _call(
    name: str, scope: Scope, args: tuple[Any, ...], kwargs: tuple[tuple[str, Any], ...]
) -> pd.DataFrame:
    fn = _resolve(name)
    if _params(fn)[1:2] == ("scope",):
        return fn(client(), scope, *args, **dict(kwargs))
    return fn(client(), *args, scope=scope, **dict(kwargs))  # e.g. (client, week, level, scope)


@st.cache_data(ttl=10, show_spinner=False)
def _cached(
    name: str, scope: Scope, args: tuple[Any, ...], kwargs: tuple[tuple[str, Any], ...]
) -> pd.DataFrame:
    return _call(name, scope, args, kwargs)


@st.cache_data(ttl=60, show_spinner=False)
def _cached_minute(
    name: str, scope: Scope, args: tuple[Any, ...], kwargs: tuple[tuple[str, Any], ...]
) -> pd.DataFrame:
    return _call(name, scope, args, kwargs)


_CACHES = {10: _cached, 60: _cached_minute}


def run_query(name: str, *args: Any, cache_s: int = 10, **kwargs: Any) -> pd.DataFrame:
    """Run a named query for the logged-in caller (cached ``cache_s`` seconds per scope: 10, or
    60 for one subject's history, which a page reads whole on every visit). The caller's scope is
    passed here, never by the page; a query that takes no scope, or a run without a login,
    refuses (``ScopeRequired``). Data outside the scope comes back empty, with one notice on the
    page and an audit entry. Arguments must be hashable (use tuples, not lists)."""
    from dashboards.auth import auth_service, current_scope

    cached = _CACHES[cache_s]
    fn = _resolve(name)
    if "scope" not in _params(fn):
        raise ScopeRequired(name)
    scope = current_scope()
    if scope is None:
        raise ScopeRequired(name)
    try:
        return cached(name, scope, args, tuple(sorted(kwargs.items())))
    except OutOfScope:
        notes = st.session_state.setdefault("_emw_denied", set())
        if name not in notes:
            notes.add(name)
            auth_service().auditor.record(
                "denied", user=scope.user, outcome="out_of_scope", scope=scope, what=name
            )
        if not st.session_state.get("_emw_denied_shown"):
            st.session_state["_emw_denied_shown"] = True
            st.warning(_("Some data are outside your scope and are not shown."))
        return pd.DataFrame()


def fresh_query(name: str, *args: Any, **kwargs: Any) -> pd.DataFrame:
    """Run a named query now for the logged-in caller, bypassing the cache (checks before a
    write); refuses without a login like :func:`run_query`."""
    from dashboards.auth import current_scope

    scope = current_scope()
    if scope is None:
        raise ScopeRequired(name)
    return _resolve(name)(client(), scope, *args, **kwargs)


def refresh() -> None:
    """Forget cached results (after a write, so the next render shows it)."""
    for cached in _CACHES.values():
        cached.clear()


def registry() -> Registry:
    """The registry the platform runs with (``Settings.registry_dir``: ``EMW_REGISTRY_DIR``, else
    the data directory's own ``registry/`` that ``emwatch seed`` writes, else the shipped one):
    a seeded fleet's plates and VINs are known to the pages as they are to the API."""
    return _registry(registry_key())


def registry_key() -> str:
    """The directory :func:`registry` reads ("" for the shipped one): a key for caches of what is
    derived from the registry."""
    from dashboards.auth import _settings  # the pages' one settings reader

    return str(_settings().registry_dir or "")


@functools.lru_cache(maxsize=4)
def _registry(directory: str) -> Registry:
    return load_registry(directory or None)


def has_rows(df: pd.DataFrame) -> bool:
    """A query with no rows returns a DataFrame without columns: treat both as 'no data yet'."""
    return df is not None and not df.empty and len(df.columns) > 0

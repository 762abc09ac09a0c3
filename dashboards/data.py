"""The dashboards' data-access layer: one cached client, cached named queries.

Pages call ``run_query("platform.ingest_totals", ...)``; the name is ``<domain module>.<function>``
in ``streams.warehouse.queries``. Results are cached for ``ttl`` seconds (``st.cache_data``); the
client comes from the runner (embedded) or from settings (production, ``st.cache_resource``).
"""

from __future__ import annotations

import importlib
from typing import Any

import pandas as pd
import streamlit as st

from streams.warehouse import shared


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


@st.cache_data(ttl=10, show_spinner=False)
def _cached(name: str, args: tuple[Any, ...], kwargs: tuple[tuple[str, Any], ...]) -> pd.DataFrame:
    return _resolve(name)(client(), *args, **dict(kwargs))


def run_query(name: str, *args: Any, **kwargs: Any) -> pd.DataFrame:
    """Run a named query (cached 10 s). Arguments must be hashable (use tuples, not lists).

    Every page reads through here (and :func:`fresh_query`): the one place where the caller's
    scope is added to each query once login exists."""
    return _cached(name, args, tuple(sorted(kwargs.items())))


def fresh_query(name: str, *args: Any, **kwargs: Any) -> pd.DataFrame:
    """Run a named query now, bypassing the cache (checks before a write)."""
    return _resolve(name)(client(), *args, **kwargs)


def refresh() -> None:
    """Forget cached results (after a write, so the next render shows it)."""
    _cached.clear()


def has_rows(df: pd.DataFrame) -> bool:
    """A query with no rows returns a DataFrame without columns: treat both as 'no data yet'."""
    return df is not None and not df.empty and len(df.columns) > 0

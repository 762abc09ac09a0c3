"""Cached query results never cross scopes: pages ask with the same arguments for a whole minute
(``widgets.query_until``), so a result one caller warmed is served to the next caller with the
same arguments only when the scope is the same too. An officer of Wujiang never sees what a
Qingpu officer loaded a moment before, a station operator never another operator's station."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from core.exceedance import fire
from core.ruleset import default_ruleset
from dashboards.app import PAGES_DIR
from streams.warehouse import shared
from streams.warehouse.sink import BatchingSink

pytestmark = pytest.mark.component
PAGES = sorted(p for p in PAGES_DIR.glob("*.py") if not p.name.startswith("_"))
NOW = datetime.now(UTC)
QP_SUBJECT = "沪QP8888X|yellow"  # stored under qingpu only


@pytest.fixture
def qingpu_data(warehouse: Any, accounts: Any) -> Any:
    rule = default_ruleset().rule("RS-REPEAT")
    sink = BatchingSink(warehouse)
    sink.put(
        [
            fire(
                rule=rule,
                ts=NOW - timedelta(hours=1),
                source="remote_sensing",
                subject_kind="vehicle",
                subject_id=QP_SUBJECT,
                jurisdiction="qingpu",
                device_id="RSD-QP-01",
                measured=2.0,
                limit=1.0,
                unit="count",
            )
        ]
    )
    assert sink.flush()
    shared.set_reader(warehouse)
    from dashboards.data import _cached

    _cached.clear()
    yield warehouse
    shared.set_reader(None)


def _shown(at: Any) -> str:
    parts = [f"{m.label} {m.value}" for m in at.metric] + [e.label for e in at.expander]
    parts += [df.value.to_string() for df in at.dataframe]
    return "\n".join(parts)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_a_page_warmed_by_one_scope_shows_the_next_caller_only_their_own(
    qingpu_data: Any, accounts: Any, page: Path
) -> None:
    first = accounts.app(page, user="officer_qp")
    first.query_params["plate"] = "沪QP8888X"
    first.run()  # the cache now holds Qingpu's rows for this minute's arguments
    assert not first.exception, [e.value for e in first.exception]
    for user in ("officer_wj", "op_qp3", "analyst1"):
        at = accounts.app(page, user=user)
        at.query_params["plate"] = "沪QP8888X"
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        text = _shown(at)
        assert "QP8888X" not in text, (user, text)
        if user != "analyst1":  # analysts see the zone's devices in aggregate
            assert "RSD-QP-01" not in text, (user, text)


def test_run_query_keys_results_by_the_callers_scope(
    qingpu_data: Any, accounts: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same named query with the same arguments, for three callers: each gets an answer made
    for its own scope, whichever caller warmed the cache."""
    from streamlit.testing.v1 import AppTest

    from streams.warehouse.queries import cases

    asked: list[str] = []

    def fake_queue(client: Any, scope: Any, *args: Any, **kwargs: Any) -> pd.DataFrame:
        asked.append(scope.user)
        return pd.DataFrame({"made_for": [scope.user]})

    monkeypatch.setattr(cases, "queue", fake_queue)
    script = """
from datetime import UTC, datetime
import streamlit as st
from dashboards.data import run_query
until = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)  # the very same arguments for every caller
st.markdown(run_query("cases.queue", ("new",), until, until, (), (), ())["made_for"].iloc[0])
"""
    seen = []
    for user in ("officer_qp", "officer_wj", "officer_qp", "op_qp3"):
        at = AppTest.from_string(script, default_timeout=60)
        at.session_state["emw_token"] = accounts.token(user)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        seen.append(at.markdown[0].value)
    assert seen == ["officer_qp", "officer_wj", "officer_qp", "op_qp3"]
    assert {"officer_qp", "officer_wj", "op_qp3"} <= set(asked)  # each scope was queried itself


def test_query_until_is_one_value_for_a_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboards import widgets

    times = iter(
        [
            datetime(2026, 12, 6, 23, 40, 0, 1000, tzinfo=UTC),
            datetime(2026, 12, 6, 23, 40, 59, 999000, tzinfo=UTC),
            datetime(2026, 12, 6, 23, 41, 0, tzinfo=UTC),
        ]
    )
    monkeypatch.setattr(widgets, "now_utc", lambda: next(times))
    a, b, c = widgets.query_until(5), widgets.query_until(5), widgets.query_until(5)
    assert a == b == datetime(2026, 12, 6, 23, 45, tzinfo=UTC)  # the same cache key all minute
    assert c == datetime(2026, 12, 6, 23, 46, tzinfo=UTC)  # and a new one the next

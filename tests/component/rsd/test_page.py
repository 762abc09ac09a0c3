"""AppTest of the RSD page: renders without data and with passes, exceedances and a plate lookup."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest

from core.processing import Context
from core.timeutil import utcnow
from dashboards.app import PAGES_DIR
from remote_sensing.events import RsdPass, examples
from remote_sensing.processors import handle_pass
from streams.warehouse import shared
from streams.warehouse.sink import BatchingSink

pytestmark = pytest.mark.component
PAGE = str(PAGES_DIR / "rsd_sites.py")


@pytest.fixture
def reader(warehouse: Any) -> Any:
    shared.set_reader(warehouse)
    from dashboards.data import _cached

    _cached.clear()
    yield warehouse
    shared.set_reader(None)


def test_without_data(accounts, reader: Any) -> None:
    at = accounts.app(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "机动车尾气遥感监测"
    assert any("暂无数据" in i.value for i in at.info)


def test_with_passes_and_exceedances(accounts, reader: Any, ruleset: Any, registry: Any) -> None:
    base = examples()[0]
    now = utcnow()
    passes = [
        dataclasses.replace(
            base,
            event_id=RsdPass.make_id(base.site_id, f"p{i}"),
            record_id=f"p{i}",
            ts=now - timedelta(hours=i),
        )
        for i in range(3)
    ]
    state: dict[str, Any] = {}
    exc = [
        e
        for p in sorted(passes, key=lambda p: p.ts)
        for e in handle_pass(p, state, Context(ruleset, registry))
    ]
    sink = BatchingSink(reader, write_ingest_log=False)
    sink.put(passes + exc)
    assert sink.flush()
    at = accounts.app(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["过车数"] == "3"
    assert metrics["待立案线索（复查超标）"] == "1"
    at.text_input[0].input(base.plate).run()
    assert not at.exception
    assert len(at.dataframe) == 3

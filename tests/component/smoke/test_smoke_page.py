"""AppTest of the black-smoke page: renders without data and with a queued capture."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from core.processing import Context
from core.timeutil import utcnow
from dashboards.app import PAGES_DIR
from smoke_capture.events import examples
from smoke_capture.processors import handle
from streams.warehouse import shared
from streams.warehouse.sink import BatchingSink

pytestmark = pytest.mark.component
PAGE = str(PAGES_DIR / "smoke_review.py")


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
    assert at.title[0].value == "Black-smoke capture"
    assert sum("No data yet" in i.value for i in at.info) == 2


def test_with_a_queued_capture(accounts, reader: Any, ruleset: Any, registry: Any) -> None:
    now = utcnow()
    cap = dataclasses.replace(examples()[0], ts=now, first_ts=now, last_ts=now)
    nev = dataclasses.replace(cap, event_id="e" * 32, plate_colour="green", track_id=99)
    exc = [e for c in (cap, nev) for e in handle(c, {}, Context(ruleset, registry))]
    sink = BatchingSink(reader, write_ingest_log=False)
    sink.put([cap, nev, *exc])
    assert sink.flush()
    at = accounts.app(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Waiting for review"] == "2"
    assert metrics["NEV suspects"] == "1"
    assert metrics["Model grade"] == "2.6"
    assert len(at.dataframe) == 3  # queue, evidence files, per-camera table

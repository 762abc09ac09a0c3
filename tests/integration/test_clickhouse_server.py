"""Migrations and the batching sink against a real ClickHouse server (``CLICKHOUSE_URL``).

Run e.g. under docker-compose: ``CLICKHOUSE_URL=http://localhost:8123 pytest tests/integration``.
Each test works in its own random database and drops it at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.events import deterministic_id
from core.exceedance import Exceedance
from streams.warehouse import migrator
from streams.warehouse.client import connect, server_info
from streams.warehouse.sink import BatchingSink

CLICKHOUSE_URL = os.environ.get("CLICKHOUSE_URL", "")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not CLICKHOUSE_URL, reason="CLICKHOUSE_URL not set: no ClickHouse server to test against"
    ),
]

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


@pytest.fixture
def server_db() -> Iterator[Any]:
    db = f"it_{uuid.uuid4().hex[:12]}"
    client = connect(CLICKHOUSE_URL, db)
    try:
        yield client
    finally:
        client.command(f"DROP DATABASE IF EXISTS `{db}`")
        client.close()


def _exceedance(i: int, measured: float) -> Exceedance:
    return Exceedance(
        event_id=deterministic_id(Exceedance.KIND, "server-it", i),
        ts=T0 + timedelta(minutes=i),
        source="fuel_vapor",
        subject_kind="nozzle",
        subject_id=f"ST{i:03d}:N1",
        jurisdiction="wujiang",
        device_id="DAU-1",
        rule_id="IT-RULE",
        ruleset_version="it",
        severity="warning",
        measured=measured,
        limit=1.0,
        unit="A/L",
        evidence=("hj212:frame:1",),
        quality_flags=("it",),
        provisional=False,
        detail_json="{}",
    )


def test_migrations_apply_once_on_a_server(server_db: Any) -> None:
    info = server_info(server_db)
    assert info["database"].startswith("it_")
    applied = migrator.migrate(server_db)
    assert applied == [m.name for m in migrator.load_migrations()]
    assert migrator.migrate(server_db) == []
    tables = {r[0] for r in server_db.query("SHOW TABLES").result_rows}
    assert {"exceedance", "ingest_log", "schema_migrations"} <= tables


def test_sink_round_trip_stores_a_replay_once(server_db: Any) -> None:
    migrator.migrate(server_db)
    events = [_exceedance(i, 1.0 + i / 10) for i in range(5)]
    sink = BatchingSink(server_db, batch_size=100, max_delay_s=0.1)
    sink.put(events)
    assert sink.flush()
    sink.put([events[2]])  # replayed after a crash between insert and acknowledgement
    state = sink.close(timeout=10)
    assert state.buffered == 0
    assert state.written == 6
    rows = server_db.query(
        "SELECT event_id, subject_id, measured, ts, quality_flags FROM exceedance FINAL "
        "ORDER BY subject_id"
    ).result_rows
    assert [tuple(r[:3]) for r in rows] == [(e.event_id, e.subject_id, e.measured) for e in events]
    assert [r[3].replace(tzinfo=UTC) if r[3].tzinfo is None else r[3] for r in rows] == [
        e.ts for e in events
    ]
    assert all(list(r[4]) == ["it"] for r in rows)
    logged = server_db.query(
        "SELECT sum(rows) FROM ingest_log WHERE kind = 'exceedance' AND jurisdiction = 'wujiang'"
    ).result_rows
    assert logged == [(6,)]

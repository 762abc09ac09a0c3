"""chDB warehouse round trip, migrator idempotence, sink batching and backpressure, pipeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.exceedance import Exceedance
from core.scope import Scope
from core.timeutil import BEIJING
from streams.warehouse import migrator
from streams.warehouse.queries import platform as q
from streams.warehouse.sink import BatchingSink

ZONE = Scope.zone()  # named queries take the caller's scope

pytestmark = pytest.mark.component


def _exc(ruleset, i: int, ts: datetime | None = None) -> Exceedance:
    return Exceedance.make(
        rule=ruleset.rule("ENF-FLEET"),
        ts=ts or datetime(2026, 11, 20, 8, 0, tzinfo=BEIJING) + timedelta(seconds=i),
        source="remote_sensing",
        subject_kind="vehicle",
        subject_id=f"沪A{i:05d}|yellow",
        jurisdiction="qingpu",
        device_id="QP-RSD-01",
        measured=40.0 + i,
        limit=30.0,
        unit="%",
        evidence=("rsd:pass:1",),
        quality_flags=(),
    )


def test_migrator_is_idempotent(warehouse) -> None:
    assert migrator.migrate(warehouse) == []  # fixture already applied everything
    tables = {r[0] for r in warehouse.query("SHOW TABLES").result_rows}
    assert {"exceedance", "platform_metric", "ingest_log", "schema_migrations"} <= tables
    n = warehouse.query("SELECT count() FROM schema_migrations").result_rows[0][0]
    assert n == len(migrator.load_migrations())


def test_migrator_refuses_edited_migration(chdb_dsn, tmp_path: Path) -> None:
    from streams.warehouse.client import connect

    client = connect(chdb_dsn, f"mig_{tmp_path.name[-8:].replace('-', '_')}")
    d = tmp_path / "ddl"
    d.mkdir()
    (d / "0001_a.sql").write_text(
        "CREATE TABLE IF NOT EXISTS mig_a (x UInt8) ENGINE = {merge} ORDER BY x"
    )
    assert migrator.migrate(client, d) == ["0001_a.sql"]
    assert migrator.migrate(client, d) == []
    (d / "0001_a.sql").write_text(
        "CREATE TABLE IF NOT EXISTS mig_a (x UInt16) ENGINE = {merge} ORDER BY x"
    )
    with pytest.raises(RuntimeError, match="changed after it was applied"):
        migrator.migrate(client, d)


def test_render_cluster_template() -> None:
    sql = "CREATE TABLE t {on_cluster} (x UInt8) ENGINE = {replacing} ORDER BY x"
    assert "ReplacingMergeTree" in migrator.render(sql)
    clustered = migrator.render(sql, "yrd")
    assert "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}" in clustered
    assert "ON CLUSTER yrd" in clustered


def test_sink_round_trip_and_dedup(warehouse, ruleset) -> None:
    sink = BatchingSink(warehouse, batch_size=1000, max_delay_s=0.05)
    events = [_exc(ruleset, i) for i in range(25)]
    sink.put(events)
    sink.put(events[:10])  # a replay: stored once
    assert sink.flush()
    since = datetime(2026, 11, 1, tzinfo=UTC)
    until = datetime(2026, 12, 1, tzinfo=UTC)
    df = q.exceedances(warehouse, ZONE, since, until)
    assert len(df) == 25
    assert set(df["subject_id"]) == {e.subject_id for e in events}
    assert df["measured"].max() == pytest.approx(64.0)
    # times are stored in UTC: 08:00 Beijing = 00:00 UTC
    first = df.sort_values("ts").iloc[0]["ts"]
    assert (first.hour, first.minute) == (0, 0)
    totals = q.ingest_totals(warehouse, ZONE)
    assert int(totals.loc[totals["kind"] == "exceedance", "rows"].sum()) == 35


class _RefusingClient:
    def __init__(self) -> None:
        self.calls = 0

    def insert_arrow(self, *a, **k) -> None:
        self.insert(*a, **k)

    def insert(self, *a, **k) -> None:
        self.calls += 1
        raise ConnectionError("warehouse down")


def test_sink_backpressure_never_drops(ruleset) -> None:
    client = _RefusingClient()
    sink = BatchingSink(client, batch_size=10, max_delay_s=0.01, max_buffered=20)
    sink.put([_exc(ruleset, i) for i in range(20)])
    assert not sink.put_nowait([_exc(ruleset, 99)])  # full: refused, not dropped
    with pytest.raises(TimeoutError):
        sink.put([_exc(ruleset, 100)], timeout=0.2)
    assert not sink.flush()
    st = sink.state()
    assert st.buffered == 20 and st.backpressure and not st.healthy
    assert "warehouse down" in st.last_error


def test_empty_query_has_no_columns(warehouse) -> None:
    df = q.exceedances(
        warehouse, ZONE, datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 1, 2, tzinfo=UTC)
    )
    assert df.empty


async def test_pipeline_stores_and_snapshots(pipeline, ruleset) -> None:
    await pipeline.publish([_exc(ruleset, i) for i in range(5)])
    pipeline.metrics.inc("test", "frames", 3, {"reason": "ok"})
    await pipeline.settle()
    pipeline.snapshot_metrics()
    n = pipeline.client.query("SELECT count() FROM exceedance FINAL").result_rows[0][0]
    assert n == 5
    m = q.latest_metrics(pipeline.client, ZONE, "test")
    assert m.iloc[0]["value"] == 3.0

"""The embedded start-up restore on a seeded warehouse: what ``Pipeline.start`` leaves in the case
processor's state (open cases, case counts, the cross-source memory of every subject key) equals
what the restore as it was computes from the same warehouse (``_restore_before``: open cases
through ``FINAL``, every stored row through ``serde.from_dict``, a replay per item), with case
versions stored out of order, replayed copies and closed cases among them."""

from __future__ import annotations

import copy
import importlib.util
import json
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from core.access import system_scope
from core.processing import Context
from enforcement.processors import restore
from streams.pipeline import Pipeline
from streams.seed import Seeder, SeedPlan
from streams.warehouse.queries.enforcement import restore_rows

pytestmark = pytest.mark.component

END = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)
BEFORE = Path(__file__).parents[2] / "unit" / "enforcement" / "_restore_before.py"


def _before() -> ModuleType:
    spec = importlib.util.spec_from_file_location("enforcement_restore_before_c", BEFORE)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _versions(client: Any) -> None:
    """Later versions of some seeded cases: one closed, one stored before an older version of
    it arrives again (out of order), one stored twice (a replayed copy)."""
    df = client.query_df(
        "SELECT * EXCEPT ingested_at FROM case_state ORDER BY case_id, version DESC "
        "LIMIT 1 BY case_id"
    )
    assert len(df) >= 3
    rows = df.head(3).copy()

    def bump(i: int, status: str) -> Any:
        r = rows.iloc[[i]].copy()
        st = json.loads(r["state_json"].iloc[0])
        st["version"] = int(r["version"].iloc[0]) + 1
        st["status"] = status
        r["version"] = st["version"]
        r["status"] = status
        r["event_id"] = f"bump-{i}"
        r["state_json"] = json.dumps(st, ensure_ascii=False)
        return r

    client.insert_df("case_state", bump(0, "closed"))
    client.insert_df("case_state", bump(1, "under_review"))
    client.insert_df("case_state", rows.iloc[[1]])  # the older version again, after the newer
    client.insert_df("case_state", rows.iloc[[2]])  # a replayed copy


async def test_start_restores_the_state_the_old_restore_computed(
    warehouse: Any, ruleset: Any, registry: Any, tmp_path: Path
) -> None:
    plan = SeedPlan(days=2, end=END, scale=0.03, seed=3)
    report = Seeder(
        warehouse, plan, ruleset=ruleset, registry=registry, data_dir=tmp_path, real_bundles=1
    ).run(progress=False)
    assert report.processor_errors == 0
    _versions(warehouse)
    before = _before()
    ctx = Context(ruleset, registry)

    rows, counts = before.restore_rows(warehouse)
    assert (rows, counts) == restore_rows(warehouse, system_scope("test"))
    assert 0 < len(rows) < int(warehouse.command("SELECT uniqExact(case_id) FROM case_state"))
    want = restore([json.loads(r) for r in rows], counts)
    cases_only = copy.deepcopy(want)
    items = before.items_of(before.memory_replay(warehouse))
    assert before.restore_memory(want, items, ctx) == len(items) > 100
    assert want != cases_only  # the replay built memories

    p = Pipeline(warehouse, ruleset, registry, tmp_path / "p", simulate=False, wal_enabled=False)
    await p.start(with_services=False)
    try:
        assert p.bus is not None
        got = p.bus.states["enforcement.cases"]
        assert dict(got) == want
    finally:
        await p.stop()

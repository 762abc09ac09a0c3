"""The cross-source rules remember across a restart of the embedded pipeline: half the evidence
before the restart, the other half after it, on the same data directory, and the rule fires (or,
where a clean pass broke the run before the restart, does not)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.exceedance import Exceedance, fire
from core.timeutil import beijing
from streams.pipeline import Pipeline

from .test_one_vehicle import jiashan_truck, rsd_pass

pytestmark = pytest.mark.component


async def run(warehouse: Any, ruleset: Any, registry: Any, tmp: Path, events: list[Any]) -> None:
    p = Pipeline(warehouse, ruleset, registry, tmp, max_delay_s=0.05, simulate=False)
    await p.start(with_services=False)
    try:
        await p.publish(events)
        await p.settle()
    finally:
        await p.stop()


def fired(warehouse: Any, rule: str) -> int:
    return int(
        warehouse.query_df(
            "SELECT count() AS n FROM exceedance FINAL WHERE rule_id = {r:String}",
            parameters={"r": rule},
        )["n"].iloc[0]
    )


def smoke_confirm(ruleset: Any, plate: str, ts: datetime) -> Exceedance:
    return fire(
        ruleset.rule("BS-CONFIRM"),
        ts,
        source="smoke_capture",
        subject_kind="vehicle",
        subject_id=plate,
        jurisdiction="wujiang",
        device_id="CAM-WJ-01",
        measured=3.0,
        limit=1.0,
        unit="grade",
        detail={"capture_id": f"cap-{ts:%d%H}", "pollutant": "ringelmann"},
        window=f"cap-{ts:%d%H}",
    )


def obd(ruleset: Any, v: Any, rule: str, ts: datetime, **detail: Any) -> Exceedance:
    return fire(
        ruleset.rule(rule),
        ts,
        source="obd_gateway",
        subject_kind="vehicle",
        subject_id=v.vin,
        jurisdiction=v.jurisdiction,
        device_id=v.vin,
        measured=72.0,
        limit=24.0,
        unit="h",
        detail=detail,
    )


async def test_cross_source_rules_fire_across_a_restart(
    warehouse: Any, ruleset: Any, registry: Any, tmp_path: Path
) -> None:
    v = jiashan_truck(registry)
    t0 = beijing(2026, 11, 2, 9)
    # before: an RSD Ringelmann + NO exceedance in Qingpu (also a sighting of the OBD truck)
    await run(warehouse, ruleset, registry, tmp_path, [rsd_pass(v.plate, t0, "q1")])
    assert fired(warehouse, "RS-D-RING") == 1
    assert fired(warehouse, "ENF-REPEAT") == fired(warehouse, "ENF-X-OBD-SEEN") == 0
    # after the restart: a confirmed smoke capture, an SCR fault and the terminal offline since t0
    await run(
        warehouse,
        ruleset,
        registry,
        tmp_path,
        [
            smoke_confirm(ruleset, v.plate, t0 + timedelta(days=3)),
            obd(ruleset, v, "OBD-SCR", t0 + timedelta(days=4)),
            obd(
                ruleset,
                v,
                "OBD-OFFLINE",
                t0 + timedelta(days=5),
                since=str(t0 - timedelta(hours=2)),
            ),
        ],
    )
    assert fired(warehouse, "ENF-REPEAT") == 1  # RSD Ringelmann (before) + smoke (after)
    assert fired(warehouse, "ENF-X-SMOKE-RSD") == 1
    assert fired(warehouse, "ENF-X-NOX") == 1  # RSD NO (before) + OBD SCR (after)
    assert fired(warehouse, "ENF-X-OBD-SEEN") == 1  # seen by RSD (before) while offline


async def test_a_clean_pass_before_the_restart_still_breaks_the_run(
    warehouse: Any, ruleset: Any, registry: Any, tmp_path: Path
) -> None:
    plate = "沪B54321"
    t0 = beijing(2026, 11, 2, 9)
    clean = rsd_pass(plate, t0 + timedelta(days=1), "q2", no_ppm=600.0, ringelmann=0.0)
    await run(warehouse, ruleset, registry, tmp_path, [rsd_pass(plate, t0, "q1"), clean])
    await run(
        warehouse,
        ruleset,
        registry,
        tmp_path,
        [smoke_confirm(ruleset, plate, t0 + timedelta(days=3))],
    )
    assert fired(warehouse, "ENF-REPEAT") == 0
    assert fired(warehouse, "ENF-X-SMOKE-RSD") == 1  # within 30 days: not a "consecutive" rule

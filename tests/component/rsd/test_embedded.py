"""The RSD service in the embedded pipeline: real uvicorn on 127.0.0.1, processors, chDB, queries."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from core.scope import Scope
from core.timeutil import beijing
from remote_sensing import embedded
from remote_sensing.simulator import SimConfig, generate, run_simulator
from streams.warehouse.queries import rsd as q

ZONE = Scope.zone()  # named queries take the caller's scope

pytestmark = pytest.mark.component

QP = "RSD-QP-01"


def _national(rid: str, ts: str, plate: str, no_ppm_per_pct: float, **extra: Any) -> dict[str, Any]:
    rec = {
        "jlbh": rid,
        "dwbh": QP,
        "jcrq": ts,
        "hphm": plate,
        "cpys": "0",
        "hpzl": "02",
        "sbzxd": "95",
        "rlzl": "A",
        "co2jg": "14.46",
        "coco2": "0.01",
        "hcco2": "10",
        "noco2": str(no_ppm_per_pct),
        "clsd": "40",
        "cljsd": "0.2",
        "fs": "1.5",
        "tp1": f"https://img/{rid}_plate.jpg",
        "tp2": f"https://img/{rid}_scene.jpg",
    }
    rec.update(extra)
    return rec


async def _post(url: str, token: str, body: Any) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            url + "/api/rsd/v1/records",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        ) as r,
    ):
        return r.status, await r.json()


async def test_http_to_warehouse_with_repeat_rule(pipeline: Any, registry: Any) -> None:
    pipeline.ports["rsd"] = 0
    svc = await embedded.start(pipeline.service_context)
    try:
        token = pipeline.credentials.demo_secrets([QP])[QP]  # the registry holds digests
        # NO = 120 ppm/% × 14.46 % = 1735 ppm > 1500: exceedance; two within 6 months -> repeat
        recs = [
            _national("A1", "2026-06-01 08:00:00", "沪A12345", 120),
            _national("A2", "2026-07-15 08:00:00", "沪A12345", 120),
            _national("A3", "2026-07-16 08:00:00", "沪B54321", 20),  # passes
        ]
        status, body = await _post(svc.url, token, recs)
        assert status == 200 and body["accepted"] == 3, body
        await pipeline.settle()
        hist = q.vehicle_history(pipeline.client, ZONE, "沪A12345")
        assert list(hist["record_id"]) == ["A2", "A1"]
        assert all(hist["valid"])
        ex = q.recent_exceedances(pipeline.client, ZONE, beijing(2026, 1, 1), beijing(2027, 1, 1))
        by_rule = ex.groupby("rule_id").size().to_dict()
        assert by_rule == {"RS-G-NO": 2, "RS-FIRST": 1, "RS-REPEAT": 1}
        rep = ex[ex["rule_id"] == "RS-REPEAT"].iloc[0]
        assert rep["severity"] == "case"
        assert any(e.endswith("A2_plate.jpg") for e in rep["evidence"])
        assert any(str(e).startswith("raw:") for e in rep["evidence"])
        assert rep["ruleset_version"] == pipeline.ruleset.version
        offenders = q.repeat_offenders(
            pipeline.client, ZONE, beijing(2026, 1, 1), beijing(2027, 1, 1)
        )
        assert list(offenders["subject_id"]) == ["沪A12345|blue"]

        # resend: all duplicates, nothing stored changes
        status, body = await _post(svc.url, token, recs)
        assert body["duplicates"] == 3 and body["accepted"] == 0
        await pipeline.settle()
        ex2 = q.recent_exceedances(pipeline.client, ZONE, beijing(2026, 1, 1), beijing(2027, 1, 1))
        assert len(ex2) == len(ex)
    finally:
        await svc.stop()


async def test_simulator_feeds_site_quality(pipeline: Any, registry: Any) -> None:
    pipeline.ports["rsd"] = 0
    svc = await embedded.start(pipeline.service_context)
    try:
        cfg = SimConfig(
            rate_per_site=200.0, batch=50, seed=3, duration_s=1.0, rain_chance_per_hour=0.0
        )
        tokens = pipeline.credentials.demo_secrets(s.id for s in registry.rsd_sites)
        stats = await run_simulator(svc.url, registry, cfg, tokens=tokens)
        assert stats.accepted > 0 and not stats.errors, stats.errors
        await pipeline.settle()
        from core.timeutil import utcnow

        now = utcnow()
        sq = q.site_quality_daily(
            pipeline.client, ZONE, now - timedelta(days=2), now + timedelta(days=1)
        )
        assert set(sq["site_id"]) == {s.id for s in registry.rsd_sites}
        assert (sq["passes"] > 0).all()
        assert ((sq["valid_rate"] > 0.3) & (sq["valid_rate"] < 1.0)).all()
        assert (sq["calibration_passed"] == True).all()  # noqa: E712 (nullable column)
        total = int(sq["passes"].sum())
        assert total == stats.accepted
    finally:
        await svc.stop()


def test_generate_is_deterministic(registry: Any) -> None:
    a = [r for _, _, r in generate(registry, 20, beijing(2026, 11, 1))]
    b = [r for _, _, r in generate(registry, 20, beijing(2026, 11, 1))]
    assert a == b and len(a) == 20 * len(registry.rsd_sites)


async def test_service_with_simulator_starts_and_stops(pipeline: Any) -> None:
    import asyncio

    pipeline.ports["rsd"] = 0
    ctx = dataclasses.replace(pipeline.service_context, simulate=True, sim_scale=20.0)
    svc = await embedded.start(ctx)
    try:
        assert svc.port > 0 and "RSD intake (HTTP)" in svc.describe()
        for _ in range(100):
            if svc.intake.metrics.counter("rsd_intake", "records_accepted") >= 20:
                break
            await asyncio.sleep(0.05)
        assert svc.intake.metrics.counter("rsd_intake", "records_accepted") >= 20
    finally:
        await svc.stop()
    assert all(t.done() for t in svc._tasks)
    await pipeline.settle()
    n = pipeline.client.query("SELECT count() FROM rsd_pass FINAL").result_rows[0][0]
    assert n >= 20

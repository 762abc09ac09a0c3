"""Enforcement end to end on chDB: exceedances from three sources → one vehicle, one case; the HTTP
API (OpenAPI, list, detail, actions with 400/404/409/422), evidence export and verification, and
case state surviving a restart of the embedded pipeline."""

from __future__ import annotations

import asyncio
import io
import json
import warnings
import zipfile
from pathlib import Path
from typing import Any

import pytest

from core.exceedance import Exceedance, fire
from core.scope import Scope
from core.timeutil import beijing
from enforcement import evidence
from streams.api import EnforcementService, routes
from streams.pipeline import Pipeline

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

pytestmark = pytest.mark.component


def exceedances(ruleset: Any, registry: Any) -> tuple[str, str, list[Exceedance]]:
    v = registry.obd_vehicles[0]
    plate = v.plate
    t = beijing(2026, 11, 20, 9)
    common = {"measured": 1650.0, "limit": 1500.0, "unit": "ppm"}
    out = [
        fire(
            ruleset.rule("RS-REPEAT"),
            t,
            source="remote_sensing",
            subject_kind="vehicle",
            subject_id=f"{plate}|yellow",
            jurisdiction="qingpu",
            device_id="RSD-QP-01",
            evidence=["rsd.pass:p1"],
            detail={"fuel": "diesel", "pollutant": "no", "plate_colour": "yellow"},
            **common,
        ),
        fire(
            ruleset.rule("OBD-SCR"),
            t.replace(hour=11),
            source="obd_gateway",
            subject_kind="vehicle",
            subject_id=v.vin,
            jurisdiction="jiashan",
            device_id=v.vin,
            **common,
        ),
    ]
    return plate, v.vin, out


class Harness:
    def __init__(self, pipeline: Pipeline, loop: asyncio.AbstractEventLoop) -> None:
        self.pipeline = pipeline

        def submit(cmd: Any) -> None:
            asyncio.run_coroutine_threadsafe(pipeline.publish([cmd]), loop).result(10)

        self.service = EnforcementService(
            pipeline.client,
            submit,
            pipeline.ruleset,
            pipeline.registry,
            pipeline.data_dir,
            wait_s=20,
        )
        self.client = TestClient(Starlette(routes=routes(lambda: self.service)))

    async def get(self, path: str) -> Any:
        return await asyncio.to_thread(self.client.get, path)

    async def post(self, path: str, body: Any) -> Any:
        return await asyncio.to_thread(self.client.post, path, json=body)


async def test_one_vehicle_one_case_and_the_api(pipeline: Pipeline, tmp_path: Path) -> None:
    plate, vin, exs = exceedances(pipeline.ruleset, pipeline.registry)
    await pipeline.publish(exs)
    await pipeline.settle()
    h = Harness(pipeline, asyncio.get_running_loop())

    doc = (await h.get("/api/v1/openapi.json")).json()
    assert doc["openapi"].startswith("3.") and "/api/v1/cases/{case_id}/actions" in doc["paths"]

    listed = (await h.get("/api/v1/cases")).json()
    assert listed["count"] == 1
    case = listed["cases"][0]
    cid = case["case_id"]
    assert case["subject_id"] == plate and case["vin"] == vin
    assert set(case["sources"]) == {"remote_sensing", "obd_gateway"}
    assert set(case["jurisdictions"]) == {"qingpu", "jiashan"}
    assert case["score_terms"]["cross_source"] > 0 and case["opened_at"].endswith("+08:00")

    by_plate = (await h.get(f"/api/v1/vehicles/{plate}")).json()
    by_vin = (await h.get(f"/api/v1/vehicles/{vin}")).json()
    assert by_plate["case_ids"] == by_vin["case_ids"] == [cid]
    assert {e["source"] for e in by_vin["history"]["exceedance"]} == {
        "remote_sensing",
        "obd_gateway",
    }
    assert (await h.get("/api/v1/vehicles/沪12")).status_code == 400
    assert (await h.get("/api/v1/vehicles/沪Z99999")).status_code == 404
    assert (await h.get("/api/v1/cases?status=lost")).status_code == 400
    assert (await h.get("/api/v1/cases/NO-SUCH")).status_code == 404

    act = f"/api/v1/cases/{cid}/actions"
    v = case["version"]
    assert v == 2  # opened + the OBD finding attached
    r = await h.post(act, {"action": "review", "actor": "张伟", "version": v, "request_id": "r-1"})
    assert r.status_code == 200 and r.json()["case"]["status"] == "in_review"
    again = await h.post(
        act, {"action": "review", "actor": "张伟", "version": v, "request_id": "r-1"}
    )
    assert again.status_code == 200 and again.json()["entry"]["seq"] == r.json()["entry"]["seq"]
    r = await h.post(act, {"action": "dismiss", "actor": "李娜", "version": v, "reason": "误报"})
    assert r.status_code == 409 and r.json()["error"] == "stale"
    r = await h.post(act, {"action": "dismiss", "actor": "李娜"})
    assert r.status_code == 422 and "reason" in r.json()["message"]
    r = await h.post(act, {"action": "notify", "actor": "李娜"})
    assert r.status_code == 409 and r.json()["error"] == "transition"
    r = await h.post(
        act, {"action": "check", "actor": "李娜", "payload": {"method": "k", "value": 99}}
    )
    assert r.status_code == 422
    assert (await h.post(act, {"action": "fly", "actor": "x"})).status_code == 400
    assert (await h.post(act, [1, 2])).status_code == 400
    assert (
        await h.post("/api/v1/cases/NO-SUCH/actions", {"action": "review", "actor": "x"})
    ).status_code == 404
    detail = (await h.get(f"/api/v1/cases/{cid}")).json()
    assert detail["case"]["version"] == 3  # nothing changed by the refused requests
    assert [e["entry"] for e in detail["log"]].count("rejected") == 2  # stale + transition
    r = await h.post(
        act,
        {
            "action": "check",
            "actor": "王强",
            "payload": {"method": "k", "value": 1.3, "instrument": "NHT-6"},
        },
    )
    assert r.status_code == 200 and r.json()["case"]["status"] == "confirmed"

    # evidence: live verify, export, offline verify, tampering named
    ev = (await h.get(f"/api/v1/cases/{cid}/evidence")).json()
    assert ev["problems"] == [] and ev["intact"]
    data = (await h.get(f"/api/v1/cases/{cid}/evidence/archive")).content
    assert evidence.verify_zip(data) == []
    z = zipfile.ZipFile(io.BytesIO(data))
    assert {"manifest.json", "log.jsonl", "rules.json", evidence.HANDOVER} <= set(z.namelist())
    assert "ENF-FIELD" in json.loads(z.read("rules.json"))["rules"]
    assert "案件编号" in z.read(evidence.HANDOVER).decode("utf-8-sig")

    def rewrite(change: Any) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as w:
            for n in z.namelist():
                w.writestr(n, change(n, z.read(n)))
        return out.getvalue()

    record = next(n for n in z.namelist() if n.startswith("files/records/"))
    bad_file = rewrite(lambda n, b: b.replace(b"1650", b"1450") if n == record else b)
    assert any(record in p and "altered" in p for p in evidence.verify_zip(bad_file))

    def edit_log(n: str, b: bytes) -> bytes:
        if n != "log.jsonl":
            return b
        lines = b.decode().splitlines()
        e = json.loads(lines[1])
        e["actor"] = "someone else"
        lines[1] = json.dumps(e, ensure_ascii=False)
        return ("\n".join(lines) + "\n").encode()

    problems = evidence.verify_zip(rewrite(edit_log))
    assert any("entry 2" in p and "altered" in p for p in problems)


async def test_open_case_survives_a_restart(
    warehouse: Any, ruleset: Any, registry: Any, tmp_path: Path
) -> None:
    _, _, exs = exceedances(ruleset, registry)
    p1 = Pipeline(warehouse, ruleset, registry, tmp_path, max_delay_s=0.05, simulate=False)
    await p1.start(with_services=False)
    await p1.publish(exs[:1])
    await p1.settle()
    await p1.stop()
    p2 = Pipeline(warehouse, ruleset, registry, tmp_path, max_delay_s=0.05, simulate=False)
    await p2.start(with_services=False)
    try:
        await p2.publish(exs[1:])
        await p2.settle()
    finally:
        await p2.stop()
    from streams.warehouse.queries import enforcement as q

    cases = q.case_list(warehouse, Scope.zone())
    assert len(cases) == 1 and int(cases["findings"].iloc[0]) == 2


def test_scope_is_applied_in_sql(warehouse: Any) -> None:
    from streams.warehouse.queries import enforcement as q

    only_wj = Scope("wj", ("wujiang",))
    assert q.case_list(warehouse, only_wj).empty

"""One vehicle across every source, end to end on chDB: an RSD unit in Qingpu, a smoke camera in
Wujiang (confirmed through its case) and an OBD terminal registered in Jiashan land on one vehicle
key, one history and one case per issue; the cross-source rules see all three."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

import pytest

from core.exceedance import fire
from core.scope import Scope
from core.timeutil import beijing
from enforcement.events import CaseCommand
from remote_sensing.events import RsdPass
from remote_sensing.events import examples as rsd_examples
from smoke_capture.events import SmokeCapture
from smoke_capture.events import examples as smoke_examples
from streams.pipeline import Pipeline
from streams.warehouse.queries import enforcement as q

pytestmark = pytest.mark.component


def jiashan_truck(registry: Any) -> Any:
    return next(v for v in registry.obd_vehicles if v.jurisdiction == "jiashan")


def rsd_pass(plate: str, ts: datetime, rid: str, **over: Any) -> RsdPass:
    base = rsd_examples()[0]
    return dataclasses.replace(
        base,
        event_id=RsdPass.make_id("RSD-QP-01", rid),
        record_id=rid,
        ts=ts,
        site_id="RSD-QP-01",
        jurisdiction="qingpu",
        plate=plate,
        plate_colour="yellow",
        fuel="diesel",
        **{"no_ppm": 1650.0, "ringelmann": 2.0, "opacity_pct": None, **over},
    )


def smoke_capture(plate: str, ts: datetime) -> SmokeCapture:
    base = smoke_examples()[0]
    return dataclasses.replace(
        base,
        event_id=SmokeCapture.make_id("CAM-WJ-01", 5, ts),
        ts=ts,
        first_ts=ts - timedelta(seconds=3),
        last_ts=ts,
        camera_id="CAM-WJ-01",
        site_id="WJ-SITE",
        jurisdiction="wujiang",
        track_id=5,
        plate=plate,
        plate_colour="yellow",
    )


async def act(p: Pipeline, case: Any, action: str, ts: datetime, **payload: Any) -> None:
    cmd = CaseCommand.make(
        ts=ts,
        case_id=str(case["case_id"]),
        subject_key=f"{case['subject_kind']}:{case['subject_id']}",
        action=action,
        actor="王强",
        actor_jurisdiction="wujiang",
        based_on_version=int(case["version"]),
        payload=payload,
    )
    await p.publish([cmd])
    await p.settle()


def cases_by_issue(client: Any) -> dict[str, Any]:
    df = q.case_list(client, Scope.zone())
    rows = [r for r in df.to_dict("records") if r["subject_kind"] == "vehicle"]
    assert len({r["issue"] for r in rows}) == len(rows), "one case per issue"
    return {r["issue"]: r for r in rows}


async def test_rsd_qingpu_smoke_wujiang_obd_jiashan_are_one_vehicle(pipeline: Pipeline) -> None:
    rs, v = pipeline.ruleset, jiashan_truck(pipeline.registry)
    plate, vin = v.plate, v.vin
    t0 = beijing(2026, 11, 2, 9)
    # RSD in Qingpu: two consecutive NO and Ringelmann exceedances (RS-REPEAT → emission case)
    await pipeline.publish(
        [rsd_pass(plate, t0, "q1"), rsd_pass(plate, t0 + timedelta(days=1), "q2")]
    )
    # OBD terminal registered in Jiashan: SCR fault (emission) and offline while seen (tamper)
    common = {"source": "obd_gateway", "subject_kind": "vehicle", "subject_id": vin}
    await pipeline.publish(
        [
            fire(
                rs.rule("OBD-SCR"),
                t0 + timedelta(days=2),
                jurisdiction="jiashan",
                device_id=vin,
                measured=420.0,
                limit=None,
                unit="ppm",
                **common,
            ),
            fire(
                rs.rule("OBD-OFFLINE"),
                t0 + timedelta(days=3),
                jurisdiction="jiashan",
                device_id=vin,
                measured=72.0,
                limit=24.0,
                unit="h",
                detail={"since": (t0 - timedelta(hours=1)).isoformat()},
                **common,
            ),
        ]
    )
    # a smoke camera in Wujiang: BS-SCREEN opens the smoke case
    cap = smoke_capture(plate, t0 + timedelta(days=4))
    await pipeline.publish([cap])
    await pipeline.settle()
    by_issue = cases_by_issue(pipeline.client)
    assert set(by_issue) == {"emission", "tamper", "smoke"}
    smoke = by_issue["smoke"]
    t = cap.ts + timedelta(hours=2)
    await act(pipeline, smoke, "review", t)
    smoke = cases_by_issue(pipeline.client)["smoke"]
    await act(pipeline, smoke, "confirm", t + timedelta(minutes=5), grade=3.0)

    by_issue = cases_by_issue(pipeline.client)
    assert set(by_issue) == {"emission", "tamper", "smoke"}  # no second case for any issue
    for c in by_issue.values():
        assert (c["subject_kind"], c["subject_id"], c["vin"]) == ("vehicle", plate, vin)
    emission = by_issue["emission"]
    assert set(emission["jurisdictions"]) >= {"qingpu", "jiashan"}
    assert {"RS-REPEAT", "OBD-SCR", "ENF-X-NOX", "ENF-REPEAT", "ENF-X-SMOKE-RSD"} <= set(
        emission["rules"]
    )
    assert by_issue["smoke"]["status"] == "confirmed"
    assert "wujiang" in by_issue["smoke"]["jurisdictions"]
    assert {"OBD-OFFLINE", "ENF-X-OBD-SEEN"} <= set(by_issue["tamper"]["rules"])

    # every finding of this vehicle on one key
    keys = pipeline.client.query_df(
        "SELECT DISTINCT subject_kind, subject_id FROM case_finding FINAL WHERE finding != 'fleet_mark' "
        "AND (vin = {v:String} OR plate = {p:String})",
        parameters={"v": vin, "p": plate},
    )
    assert keys.values.tolist() == [["vehicle", plate]]
    # one history, found by plate and by VIN
    hist = q.vehicle_history(pipeline.client, Scope.zone(), plate, [vin])
    assert {r["source"] for r in hist["exceedance"]} == {
        "remote_sensing",
        "obd_gateway",
        "smoke_capture",
        "enforcement",
    }
    assert {r["jurisdiction"] for r in hist["exceedance"]} >= {"qingpu", "wujiang", "jiashan"}
    assert sorted(r["issue"] for r in hist["cases"]) == ["emission", "smoke", "tamper"]
    fleet = q.case_list(pipeline.client, Scope.zone(), subject=v.fleet)
    assert fleet["issue"].tolist() == ["fleet"]  # the confirmed case marked the truck's fleet

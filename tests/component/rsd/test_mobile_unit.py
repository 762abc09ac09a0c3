"""A mobile RSD unit registered in Qingpu, parked in Wujiang: the pass, its exceedances, the case
and the warehouse carry the record's position and jurisdiction, not the registry's."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from typing import Any

import pytest

from core.scope import Scope
from core.timeutil import beijing
from remote_sensing.events import RsdPass
from remote_sensing.events import examples as rsd_examples
from streams.pipeline import Pipeline
from streams.warehouse.queries import enforcement as q

pytestmark = pytest.mark.component
MOB = "RSD-MOB-01"


def mobile_pass(rid: str, ts: Any) -> RsdPass:
    return dataclasses.replace(
        rsd_examples()[0],
        event_id=RsdPass.make_id(MOB, rid),
        record_id=rid,
        site_id=MOB,
        ts=ts,
        jurisdiction="wujiang",  # what the intake resolved from the record
        plate="苏E66666",
        plate_colour="yellow",
        fuel="diesel",
        no_ppm=1700.0,
        latitude=31.0327,
        longitude=120.8034,
    )


async def test_mobile_position_travels_to_exceedance_case_and_warehouse(
    pipeline: Pipeline, registry: Any
) -> None:
    assert registry.rsd_site(MOB).jurisdiction == "qingpu"
    t0 = beijing(2026, 11, 20, 9)
    await pipeline.publish([mobile_pass("m1", t0), mobile_pass("m2", t0 + timedelta(days=1))])
    await pipeline.settle()
    c = pipeline.client
    stored = c.query_df(
        "SELECT record_id, jurisdiction, latitude, longitude FROM rsd_pass FINAL ORDER BY record_id"
    )
    assert stored.values.tolist() == [
        ["m1", "wujiang", 31.0327, 120.8034],
        ["m2", "wujiang", 31.0327, 120.8034],
    ]
    ex = c.query_df(
        "SELECT rule_id, jurisdiction, detail_json FROM exceedance FINAL WHERE rule_id = 'RS-REPEAT'"
    )
    (row,) = ex.to_dict("records")
    assert row["jurisdiction"] == "wujiang"
    detail = json.loads(row["detail_json"])
    assert (detail["latitude"], detail["longitude"]) == (31.0327, 120.8034)
    cases = q.case_list(c, Scope.zone())
    (case,) = cases.to_dict("records")
    assert case["jurisdiction"] == "wujiang" and case["case_id"].startswith("WJ-")
    st = json.loads(q.case_full_state(c, Scope.zone(), case["case_id"])["state_json"].iloc[0])
    assert {(f["latitude"], f["longitude"]) for f in st["findings"]} == {(31.0327, 120.8034)}
    assert q.case_list(c, Scope("qp", ("qingpu",))).empty  # not the registry's Qingpu

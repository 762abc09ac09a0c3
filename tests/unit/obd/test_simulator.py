"""Simulator model: plausible values, warming up, faults visible in the data, packets that decode."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from core.registry import default_registry
from core.timeutil import BEIJING
from obd_gateway.protocol import Command, Layout, RealTime, decode_unit, parse_frame
from obd_gateway.simulator import ZONE_BOX, Fault, VehicleModel, build_packet, synthetic_vehicles


def run(model: VehicleModel, seconds: int) -> list[dict]:
    return [model.step() for _ in range(seconds)]


@pytest.mark.parametrize("idx", [0, 5, 25])
def test_duty_cycle_is_plausible_and_stays_in_the_zone(idx: int) -> None:
    v = default_registry().obd_vehicles[idx]
    recs = run(VehicleModel(v, seed=idx), 3600)
    speeds = [r["speed_kmh"] for r in recs]
    assert min(speeds) >= 0 and max(speeds) < 100
    assert sum(1 for s in speeds if s == 0) > 0  # stops happen
    assert all(500 <= r["rpm"] <= 2200 for r in recs)
    assert recs[0]["scr_in_c"] < 100 < recs[-1]["scr_in_c"]  # warming up
    assert all(
        ZONE_BOX[0] <= r["lon"] <= ZONE_BOX[1] and ZONE_BOX[2] <= r["lat"] <= ZONE_BOX[3]
        for r in recs
    )
    assert recs[-1]["odometer_km"] > recs[0]["odometer_km"]


def hot_efficiency(faults: frozenset[Fault]) -> float:
    v = default_registry().obd_vehicles[20]  # a freight truck
    recs = run(VehicleModel(v, seed=2, faults=faults), 3600)[1800:]
    hot = [r for r in recs if r["scr_in_c"] >= 250 and r["nox_up_ppm"] >= 100]
    assert hot
    return sum(1 - r["nox_down_ppm"] / r["nox_up_ppm"] for r in hot) / len(hot)


def test_scr_faults_show_in_efficiency() -> None:
    assert hot_efficiency(frozenset()) > 0.8
    assert hot_efficiency(frozenset({Fault.SCR_DEGRADED})) < 0.5
    assert hot_efficiency(frozenset({Fault.SCR_DISABLED})) < 0.1


def test_flat_sensor_and_empty_urea() -> None:
    v = default_registry().obd_vehicles[3]
    recs = run(VehicleModel(v, seed=1, faults=frozenset({Fault.NOX_FLAT})), 300)
    assert len({r["nox_down_ppm"] for r in recs}) == 1
    recs = run(VehicleModel(v, seed=1, faults=frozenset({Fault.UREA_EMPTY})), 300)
    assert all(r["reagent_pct"] == 0 for r in recs)


def test_mil_and_calibration_faults_in_obd_body() -> None:
    v = default_registry().obd_vehicles[3]
    ok = VehicleModel(v).obd_info()
    assert not ok.mil_on and ok.calibration_id == v.calibration_id and ok.cvn == v.cvn
    bad = VehicleModel(v, faults=frozenset({Fault.MIL_DTC, Fault.CALID_CHANGE})).obd_info()
    assert bad.mil_on and bad.dtc_total == 2 and bad.calibration_id != v.calibration_id


@pytest.mark.parametrize("layout", [Layout.HJ1239, Layout.GB17691])
def test_packets_decode_to_ten_one_second_records(layout: Layout) -> None:
    v = default_registry().obd_vehicles[0]
    m = VehicleModel(v, seed=9)
    t = datetime(2026, 11, 20, 9, 0, tzinfo=BEIJING)
    recs = [(t + timedelta(seconds=i), m.record()) for i in range(10)]
    f = build_packet(v.vin, recs, 42, command=Command.REISSUE, info=m.obd_info(), layout=layout)
    unit = decode_unit(parse_frame(f.encode()))
    assert isinstance(unit, RealTime) and unit.layout is layout and not unit.skipped
    assert [s.ts for s in unit.streams()] == [ts for ts, _ in recs]
    assert [x.stream for x in unit.streams()] == [s for _, s in recs]


def test_synthetic_vehicles_have_valid_vins() -> None:
    from core.ids import is_valid_vin

    vs = synthetic_vehicles(50)
    assert len({v.vin for v in vs}) == 50 and all(is_valid_vin(v.vin) for v in vs)

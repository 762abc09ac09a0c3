"""OBD analytics: each rule fires on the pattern it describes, stays quiet otherwise, and carries
its rule id, rule-set version and evidence."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from core.processing import Context
from core.registry import Registry, default_registry
from core.ruleset import RuleSet, default_ruleset
from obd_gateway import rules
from obd_gateway.events import ObdStatus
from obd_gateway.processors import PROCESSORS
from obd_gateway.protocol import DataStream, ObdInfo
from obd_gateway.session import info_from_body, sample_from_stream, samples_of

T0 = datetime(2026, 11, 20, 0, 0, 0, tzinfo=UTC)  # 08:00 Beijing
HOT: dict[str, float] = dict(
    speed_kmh=40.0,
    rpm=1500.0,
    torque_pct=60.0,
    friction_pct=10.0,
    fuel_lph=20.0,
    air_kgh=600.0,
    nox_up_ppm=500.0,
    nox_down_ppm=40.0,
    scr_in_c=320.0,
    scr_out_c=310.0,
    reagent_pct=60.0,
    coolant_c=85.0,
    lon=121.05,
    lat=31.1,
    odometer_km=1000.0,
    baro_kpa=101.0,
    fuel_level_pct=50.0,
)


@pytest.fixture(scope="module")
def rs() -> RuleSet:
    return default_ruleset()


@pytest.fixture(scope="module")
def reg() -> Registry:
    return default_registry()


class Rig:
    def __init__(self, rs: RuleSet, reg: Registry) -> None:
        self.vehicle = reg.obd_vehicles[0]
        self.ctx = rules.Ctx(rs, self.vehicle)
        self.state = rules.new_state()
        self.fired: list[Any] = []

    def sample(
        self,
        ts: datetime,
        backfilled: bool = False,
        received_at: datetime | None = None,
        **phys: float | None,
    ):
        values = {**HOT, **phys}
        ev = sample_from_stream(
            self.vehicle.vin,
            self.vehicle,
            ts,
            DataStream.from_physical(**values),
            received_at=received_at or ts,
            backfilled=backfilled,
            time_inferred=False,
            signature="absent",
            frame_id="frame-x",
        )
        out = rules.on_samples(self.state, ev, self.ctx)
        self.fired += out
        return out

    def run(self, start: datetime, seconds: int, **phys: float | None) -> list[Any]:
        out = []
        for i in range(seconds):
            out += self.sample(start + timedelta(seconds=i), **phys)
        return out

    def info(self, ts: datetime, **kw: Any) -> list[Any]:
        v = self.vehicle
        body = ObdInfo.build(
            vin=v.vin,
            calibration_id=kw.pop("calid", v.calibration_id),
            cvn=kw.pop("cvn", v.cvn),
            **kw,
        )
        ev = info_from_body(
            v.vin, v, ts, body, received_at=ts, backfilled=False, frame_id="frame-y"
        )
        out = rules.on_info(self.state, ev, self.ctx)
        self.fired += out
        return out

    def ids(self) -> list[str]:
        return [e.rule_id for e in self.fired]


@pytest.fixture
def rig(rs: RuleSet, reg: Registry) -> Rig:
    return Rig(rs, reg)


# ------------------------------------------------------------------------------ formulas


def test_formulas_match_rules_md() -> None:
    q = (600.0 + 0.84 * 20.0) / 3600
    assert rules.exhaust_flow_kg_s(600.0, 20.0) == pytest.approx(q)
    assert rules.nox_mass_g_s(800.0, 600.0, 20.0) == pytest.approx(0.001586 * 800 * q)
    assert rules.engine_power_kw(60.0, 10.0, 1000.0, 1500.0) == pytest.approx(
        0.5 * 1000 * 1500 / 9550
    )
    assert rules.engine_power_kw(5.0, 10.0, 1000.0, 1500.0) == 0.0
    assert rules.scr_efficiency(500.0, 40.0) == pytest.approx(0.92)
    vals = [3.0, 1.0, 7.0, 2.5, 9.0, 4.0]
    assert rules.percentile(vals, 90) == pytest.approx(float(np.percentile(vals, 90)))
    assert rules.haversine_km(121.0, 31.0, 121.0, 31.1) == pytest.approx(11.12, abs=0.02)


# ------------------------------------------------------------------------------ per-record rules


def test_scr_fires_after_30_hot_minutes_of_low_efficiency(rig: Rig, rs: RuleSet) -> None:
    out = rig.run(T0, 1799, nox_up_ppm=500.0, nox_down_ppm=400.0)
    assert "OBD-SCR" not in [e.rule_id for e in out]
    out = rig.sample(T0 + timedelta(seconds=1799), nox_up_ppm=500.0, nox_down_ppm=400.0)
    ex = [e for e in out if e.rule_id == "OBD-SCR"]
    assert len(ex) == 1
    e = ex[0]
    assert e.ruleset_version == rs.version and e.measured == pytest.approx(0.2) and e.limit == 0.5
    assert e.provisional and len(e.evidence) == 2 and e.severity == "warning"
    assert (
        rig.run(T0 + timedelta(seconds=1800), 600, nox_up_ppm=500.0, nox_down_ppm=400.0) == []
    )  # once a day


def test_durations_come_from_the_record_times_at_a_10_s_cadence(rig: Rig) -> None:
    """A terminal sending a record every 10 s: each record stands for 10 s (the first for 1 s),
    so 30 minutes of low efficiency are 181 records, not 1,800."""
    low = dict(nox_up_ppm=500.0, nox_down_ppm=400.0)
    out = []
    for i in range(180):  # 1 + 179 × 10 = 1,791 s
        out += rig.sample(T0 + timedelta(seconds=10 * i), **low)
    assert "OBD-SCR" not in [e.rule_id for e in out]
    out = rig.sample(T0 + timedelta(seconds=1800), **low)
    (scr,) = [e for e in out if e.rule_id == "OBD-SCR"]
    assert json.loads(scr.detail_json)["low_efficiency_s"] == 1801.0


def test_an_offline_hour_counts_the_cadence_not_the_hour(rig: Rig) -> None:
    low = dict(nox_up_ppm=500.0, nox_down_ppm=400.0)
    for i in range(170):  # 1 + 169 × 10 = 1,691 s of low efficiency
        rig.sample(T0 + timedelta(seconds=10 * i), **low)
    back = T0 + timedelta(seconds=1690 + 3600)
    out = rig.sample(back, **low)  # an hour later: +10 s (the cadence), not +3,600 s
    assert "OBD-SCR" not in [e.rule_id for e in out]
    assert "OBD-GAP" in [e.rule_id for e in out]
    assert rig.state["d"]["scr_low_s"] == 1701.0
    assert rig.state["d"]["missing"] == 3590.0  # the silence is missing running time
    out = []
    for i in range(1, 11):
        out += rig.sample(back + timedelta(seconds=10 * i), **low)
    assert [e.rule_id for e in out].count("OBD-SCR") == 1  # 1,701 + 10 × 10 ≥ 1,800


def test_a_frame_of_records_is_judged_like_its_records_one_by_one(
    rs: RuleSet, reg: Registry
) -> None:
    one, many = Rig(rs, reg), Rig(rs, reg)
    v = one.vehicle
    low = {**HOT, "nox_up_ppm": 500.0, "nox_down_ppm": 400.0}
    streams = [DataStream.from_physical(**{**low, "speed_kmh": 30.0 + i % 7}) for i in range(10)]
    for k in range(200):  # 200 frames of 10 one-second records
        t0 = T0 + timedelta(seconds=10 * k + (3600 if k >= 150 else 0))
        for i, st in enumerate(streams):
            ev = sample_from_stream(
                v.vin,
                v,
                t0 + timedelta(seconds=i),
                st,
                received_at=t0,
                backfilled=False,
                time_inferred=False,
                signature="absent",
                frame_id="frame-x",
            )
            one.fired += rules.on_samples(one.state, ev, one.ctx)
        batch = samples_of(
            v.vin,
            v,
            [round((t0 + timedelta(seconds=i)).timestamp() * 1000) for i in range(10)],
            bytes(10),
            b"".join(s.encode() for s in streams),
            received_at=t0,
            backfilled=False,
            signature="absent",
            frame_id="frame-x",
        )
        many.fired += rules.on_samples(many.state, batch, many.ctx)
    assert one.ids() == many.ids() and "OBD-SCR" in one.ids() and "OBD-GAP" in one.ids()
    assert one.fired == many.fired and one.state == many.state


def test_scr_quiet_when_cold_or_efficient(rig: Rig) -> None:
    rig.run(T0, 2000, nox_up_ppm=500.0, nox_down_ppm=400.0, scr_in_c=200.0)
    rig.run(T0 + timedelta(seconds=2000), 2000, nox_up_ppm=500.0, nox_down_ppm=30.0)
    assert "OBD-SCR" not in rig.ids()


def test_scr_escalates_to_alarm_on_the_third_day_in_seven(rig: Rig) -> None:
    sev = []
    for day in range(3):
        out = rig.run(T0 + timedelta(days=day), 1800, nox_up_ppm=500.0, nox_down_ppm=450.0)
        sev += [e.severity for e in out if e.rule_id == "OBD-SCR"]
    assert sev == ["warning", "warning", "alarm"]


def test_flat_downstream_sensor_over_an_hour_of_driving(rig: Rig) -> None:
    out = []
    for i in range(3600):
        out += rig.sample(
            T0 + timedelta(seconds=i), nox_down_ppm=14.55, nox_up_ppm=400.0 + (i % 50) * 4
        )
    emu = [e for e in out if e.rule_id == "OBD-EMU"]
    assert len(emu) == 1 and emu[0].detail["sensor"] == "down" and emu[0].measured < 1.0


def test_noisy_sensor_is_not_flat(rig: Rig) -> None:
    rng = np.random.default_rng(3)
    for i in range(3600):
        rig.sample(
            T0 + timedelta(seconds=i),
            nox_down_ppm=float(30 + rng.normal(0, 5)),
            nox_up_ppm=float(500 + rng.normal(0, 20)),
        )
    assert "OBD-EMU" not in rig.ids()


def test_gap_while_running_and_offline(rig: Rig) -> None:
    rig.sample(T0)
    out = rig.sample(T0 + timedelta(seconds=61))
    gap = [e for e in out if e.rule_id == "OBD-GAP"]
    assert len(gap) == 1 and gap[0].measured == 61 and gap[0].limit == 30
    out = rig.sample(T0 + timedelta(days=6))
    off = [e for e in out if e.rule_id == "OBD-OFFLINE"]
    assert (
        len(off) == 1
        and off[0].severity == "alarm"
        and off[0].measured == pytest.approx(144, abs=0.1)
    )


def test_no_gap_when_engine_was_off(rig: Rig) -> None:
    rig.sample(T0, rpm=0.0, speed_kmh=0.0)
    assert rig.sample(T0 + timedelta(seconds=600)) == []


def test_backfill_beyond_the_window_is_flagged_once_per_day(rig: Rig) -> None:
    rx = T0 + timedelta(hours=130)
    out = rig.sample(T0, backfilled=True, received_at=rx)
    out += rig.sample(T0 + timedelta(seconds=1), backfilled=True, received_at=rx)
    late = [e for e in out if e.rule_id == "OBD-BACKFILL"]
    assert len(late) == 1 and "late_beyond_window" in late[0].quality_flags
    assert (
        rig.sample(
            T0 + timedelta(days=6), backfilled=True, received_at=T0 + timedelta(days=6, hours=2)
        )
        == []
    )


# ------------------------------------------------------------------------------ OBD info, status


def test_calibration_change_fires_alarm_once(rig: Rig) -> None:
    assert rig.info(T0) == []
    out = rig.info(T0 + timedelta(hours=1), calid="YC6J245-60-TUNE")
    assert [e.rule_id for e in out] == ["OBD-IDCHG"] and out[0].severity == "alarm"
    assert out[0].detail["changed"] == ["calibration_id"]
    assert rig.info(T0 + timedelta(hours=2), calid="YC6J245-60-TUNE") == []


def test_clock_offset(rs: RuleSet, reg: Registry) -> None:
    v = reg.obd_vehicles[0]
    c = rules.Ctx(rs, v)

    def status(off: float) -> list:
        ev = ObdStatus(
            ObdStatus.make_id(v.vin, T0, "login", 1),
            T0,
            v.vin,
            v.jurisdiction,
            v.fleet,
            "login",
            T0 + timedelta(seconds=off),
            1,
            "",
            off,
            "",
            "{}",
        )
        return rules.on_status(rules.new_state(), ev, c)

    assert status(3.0) == []
    assert [e.severity for e in status(30.0)] == ["info"]
    assert [e.severity for e in status(-100.0)] == ["warning"]


# ------------------------------------------------------------------------------ day close


def test_driving_day_without_obd_packet_and_mil_day(rig: Rig) -> None:
    rig.run(T0, 100)
    out = rig.sample(T0 + timedelta(days=1))
    assert [e.rule_id for e in out if e.rule_id in ("OBD-DAILY", "OBD-MIL")] == ["OBD-DAILY"]
    rig.info(T0 + timedelta(days=1, seconds=5), mil_on=True, dtcs=("0F2D0300",))
    rig.run(T0 + timedelta(days=1, seconds=10), 50)
    out = rig.sample(T0 + timedelta(days=2))
    got = {e.rule_id: e for e in out}
    assert "OBD-DAILY" not in got and got["OBD-MIL"].detail["dtcs"] == ["0F2D0300"]


def test_daily_packet_escalates_after_three_days(rig: Rig) -> None:
    sev = []
    for d in range(4):
        out = rig.run(T0 + timedelta(days=d), 20)
        sev += [e.severity for e in out if e.rule_id == "OBD-DAILY"]
    assert sev == ["warning", "warning", "alarm"]


@pytest.mark.parametrize(("down", "fires"), [(800.0, True), (20.0, False)])
def test_work_window_nox(rig: Rig, down: float, fires: bool) -> None:
    rig.run(T0, 2600, nox_down_ppm=down)
    out = rig.sample(T0 + timedelta(days=1))
    win = [e for e in out if e.rule_id == "OBD-NOX-WIN"]
    m = rules.nox_mass_g_s(down, 600.0, 20.0)
    p = rules.engine_power_kw(60.0, 10.0, rig.vehicle.engine_ref_torque_nm, 1500.0)
    expect_mg_kwh = m * 3600 / p * 1000
    assert len(rig.state["d"]["windows"]) == 0  # the new day started empty
    if fires:
        assert (
            len(win) == 1
            and win[0].measured == pytest.approx(expect_mg_kwh, rel=1e-3)
            and win[0].limit == 690
        )
    else:
        assert win == [] and expect_mg_kwh < 690


def test_completeness_below_95_percent(rig: Rig) -> None:
    rig.run(T0, 1000)
    rig.run(T0 + timedelta(seconds=1600), 1000)  # a 600-s hole while running
    out = rig.sample(T0 + timedelta(days=1))
    dq = [e for e in out if e.rule_id == "DQ-COMPLETE"]
    assert len(dq) == 1 and dq[0].measured == pytest.approx(2000 / (2000 + 600), abs=1e-3)


def test_backfill_fills_the_hole(rig: Rig) -> None:
    rig.run(T0, 1000)
    rig.run(T0 + timedelta(seconds=1600), 1000)
    for i in range(1000, 1600):
        rig.sample(
            T0 + timedelta(seconds=i), backfilled=True, received_at=T0 + timedelta(seconds=2700)
        )
    out = rig.sample(T0 + timedelta(days=1))
    assert "DQ-COMPLETE" not in [e.rule_id for e in out]


def test_reagent_never_changing_over_three_driving_days(rig: Rig) -> None:
    fired = []
    for d in range(4):
        out = rig.run(T0 + timedelta(days=d), 30, reagent_pct=0.0)
        fired += [
            e
            for e in out
            if e.rule_id == "OBD-EMU" and e.detail.get("pattern") == "reagent_constant_or_empty"
        ]
    assert len(fired) == 1 and fired[0].detail["driving_days"] == 3


# ------------------------------------------------------------------------------ processor


def test_processor_keeps_json_state_per_vin_and_ignores_unknown(rs: RuleSet, reg: Registry) -> None:
    proc = PROCESSORS[0]
    ctx = Context(rs, reg)
    v = reg.obd_vehicles[1]
    state: dict[str, Any] = {}
    ev = sample_from_stream(
        v.vin,
        v,
        T0,
        DataStream.from_physical(**HOT),
        received_at=T0,
        backfilled=False,
        time_inferred=False,
        signature="absent",
        frame_id="f",
    )
    assert list(proc.handle(ev, state, ctx)) == []
    assert set(state) == {v.vin}
    json.dumps(state)
    later = sample_from_stream(
        v.vin,
        v,
        T0 + timedelta(seconds=90),
        DataStream.from_physical(**HOT),
        received_at=T0,
        backfilled=False,
        time_inferred=False,
        signature="absent",
        frame_id="f",
    )
    assert [e.rule_id for e in proc.handle(later, state, ctx)] == ["OBD-GAP"]
    import dataclasses

    known = info_from_body(
        v.vin,
        v,
        T0,
        ObdInfo.build(vin=v.vin, calibration_id="x", cvn="y"),
        received_at=T0,
        backfilled=False,
        frame_id="f",
    )
    ghost = dataclasses.replace(known, vin="LUNKNOWN0RE000001")
    assert list(proc.handle(ghost, state, ctx)) == []
    assert not math.isnan(state[v.vin]["last_ts"])


def _with_params(rs: RuleSet, rule_id: str, **values: float) -> RuleSet:
    """``rs`` with some parameters of one rule changed (a local rule-set edition)."""
    specs = {rid: rs.rule(rid).spec for rid in rs.ids()}
    spec = specs[rule_id]
    params = dict(spec.params)
    for k, v in values.items():
        params[k] = params[k].model_copy(update={"value": v})
    specs[rule_id] = spec.model_copy(update={"params": params})
    return RuleSet(f"{rs.version}+{rule_id}", specs, f"test:{rule_id}:{values}")


@pytest.mark.parametrize(("max_kmh", "fires"), [(150, False), (100, True)])
def test_gps_jump_uses_the_rules_max_speed_parameter(
    rs: RuleSet, reg: Registry, max_kmh: float, fires: bool
) -> None:
    """A vehicle moving at ~120 km/h: a jump only when OBD-GPS's max_speed_kmh is below that."""
    rig = Rig(_with_params(rs, "OBD-GPS", max_speed_kmh=max_kmh), reg)
    step = 120.0 / 3600 / 111.2  # degrees of latitude per second at 120 km/h
    for i in range(90):
        rig.sample(T0 + timedelta(seconds=i), lat=31.1 + i * step, speed_kmh=120.0)
    rig.sample(T0 + timedelta(days=1), lat=31.1)  # the next day closes this one
    gps = [e for e in rig.fired if e.rule_id == "OBD-GPS"]
    assert bool(gps) is fires
    if fires:
        assert gps[0].detail["jumps"] == 89 and gps[0].detail["invalid_fix_records"] == 0

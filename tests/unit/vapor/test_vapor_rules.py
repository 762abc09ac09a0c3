"""Compliance rules: verdicts, daily pass rate, pooling, escalation, fraud checks, stations, sensors."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from core.exceedance import Exceedance
from core.processing import Context
from core.registry import load_registry
from core.ruleset import load_ruleset
from core.timeutil import BEIJING
from fuel_vapor.events import (
    DepotReading,
    DeviceAlarm,
    Fuellings,
    NozzleDay,
    SensorReading,
    StationReading,
    StationState,
)
from fuel_vapor.processors import PROCESSORS
from fuel_vapor.rules import (
    DepotRules,
    FuellingParams,
    SensorRules,
    StationRules,
    classify,
    day_of,
    recompute_nozzle,
    recompute_station,
)

RS = load_ruleset()
P = FuellingParams.from_ruleset(RS)
D0 = datetime(2026, 11, 1, 8, 0, tzinfo=BEIJING)


def fuel(ts, al=1.1, volume=30.0, fuel_flow=35.0, vapour_flow=None, lr=None, nozzle=3, vapour=None):
    """One fuelling as the gateway publishes it: a one-row ``Fuellings`` batch."""
    vf = fuel_flow * al if vapour_flow is None else vapour_flow
    return Fuellings(
        ts=ts,
        station_id="QP-ST-0001",
        jurisdiction="qingpu",
        mn="MN1",
        al_source_unit="ratio",
        code_map="guangzhou",
        packet_id="p",
        nozzle=(nozzle,),
        al=(al,),
        fuel_volume_l=(volume,),
        vapour_volume_l=(round(volume * al, 2) if vapour is None else vapour,),
        fuel_flow_lpm=(fuel_flow,),
        vapour_flow_lpm=(vf,),
        liquid_resistance_pa=(lr,),
    )


def day_of_fuellings(day: int, n: int, n_pass: int, **kw):
    start = D0 + timedelta(days=day)
    return [
        fuel(start + timedelta(minutes=10 * i), al=1.1 if i < n_pass else 0.8, **kw)
        for i in range(n)
    ]


def exc(events, rule_id=None):
    return [
        e for e in events if isinstance(e, Exceedance) and (rule_id is None or e.rule_id == rule_id)
    ]


def days(events):
    return [e for e in events if isinstance(e, NozzleDay)]


@pytest.mark.parametrize(
    ("al", "vol", "ff", "vf", "verdict"),
    [
        (1.1, 3.0, 35, 38, "not_counted"),
        (1.1, 14.99, 35, 38, "under_min"),
        (1.0, 15.0, 35, 35, "in_band"),
        (1.2, 15.0, 35, 42, "in_band"),
        (1.21, 30, 8, 9.7, "slow_dispenser"),
        (0.02, 30, 35, 0.7, "pump_fault"),
        (0.2, 30, 35, 7.0, "slow_vapour"),
        (0.8, 30, 35, 28, "out_of_band"),
        (None, 30, 35, 28, "no_al"),
    ],
)
def test_fuelling_verdicts(al, vol, ff, vf, verdict):
    assert classify(al, vol, ff, vf, P) == verdict


def test_five_exceedance_days_escalate_warning_then_alarm_and_a_pass_resets():
    fs = []
    for d in range(5):
        fs += day_of_fuellings(d, 20, 10)  # 50 % in band
    fs += day_of_fuellings(5, 20, 19)  # 95 %: passing day
    fs += day_of_fuellings(6, 20, 5)
    out = recompute_nozzle(RS, fs)
    nd = days(out)
    assert [d.state for d in nd] == ["exceed"] * 5 + ["pass", "exceed"]
    assert [d.streak for d in nd] == [1, 2, 3, 4, 5, 0, 1]
    assert [d.level for d in nd] == ["warning"] * 4 + ["alarm", "normal", "warning"]
    assert [d.pass_rate for d in nd][:2] == [0.5, 0.5]
    assert len(exc(out, "FV-AL-DAY")) == 6
    assert [e.measured for e in exc(out, "FV-AL-WARN")] == [1, 2, 3, 4, 1]
    (alarm,) = exc(out, "FV-AL-ALARM")
    assert alarm.severity == "alarm" and alarm.ruleset_version == RS.version
    assert alarm.subject_id == "QP-ST-0001:N03" and alarm.subject_kind == "nozzle"
    assert alarm.evidence[0].startswith("vapor.nozzle_day:")
    assert len(alarm.evidence) > 1 and all(e.startswith("vapor.") for e in alarm.evidence)
    assert "hint" in alarm.detail and alarm.provisional


def test_pass_rate_boundary_is_75_percent():
    at = recompute_nozzle(RS, day_of_fuellings(0, 20, 15))  # exactly 75 %
    below = recompute_nozzle(RS, day_of_fuellings(0, 20, 14))
    assert days(at)[0].state == "pass" and days(below)[0].state == "exceed"


def test_days_with_five_or_fewer_valid_are_pooled_until_more():
    fs = day_of_fuellings(0, 3, 0) + day_of_fuellings(1, 2, 0) + day_of_fuellings(2, 4, 4)
    nd = days(recompute_nozzle(RS, fs))
    assert [d.state for d in nd] == ["pooling", "pooling", "exceed"]
    assert nd[2].pooled_valid == 9 and nd[2].pass_rate == round(4 / 9, 4)


def test_under_min_and_slow_dispenser_do_not_count():
    base = D0
    fs = [fuel(base + timedelta(minutes=i), volume=10.0, al=0.5) for i in range(10)]
    fs += [fuel(base + timedelta(minutes=20 + i), al=0.7, fuel_flow=8.0) for i in range(10)]
    fs += [fuel(base + timedelta(minutes=40 + i)) for i in range(6)]
    out = recompute_nozzle(RS, fs)
    (d,) = days(out)
    assert (d.valid, d.under_min, d.slow_dispenser, d.state) == (6, 10, 10, "pass")
    assert exc(out, "FV-SLOW")[0].measured == 10


def test_day_boundary_is_beijing_midnight():
    from datetime import UTC

    t = datetime(2026, 11, 1, 16, 30, tzinfo=UTC)  # 00:30 on 2 Nov in Beijing
    assert day_of(t).isoformat() == "2026-11-02"
    nd = days(recompute_nozzle(RS, [fuel(t - timedelta(hours=1)), fuel(t)]))
    assert [d.day.isoformat() for d in nd] == ["2026-11-01", "2026-11-02"]


def test_replayed_fuelling_counts_once():
    fs = day_of_fuellings(0, 8, 8)
    (d,) = days(recompute_nozzle(RS, fs + fs[:4]))
    assert d.valid == 8


def test_pump_fault_warns_then_alarms_after_five():
    fs = [fuel(D0 + timedelta(minutes=i), al=0.02, vapour_flow=0.5) for i in range(6)]
    out = exc(recompute_nozzle(RS, fs), "FV-PUMP")
    assert [e.severity for e in out] == ["warning", "alarm"]
    assert out[1].detail["consecutive"] == 5


def test_liquid_resistance_warns_then_alarms_after_an_hour():
    curve_q30 = 5.75 * 30 - 66
    fs = [
        fuel(D0 + timedelta(minutes=20 * i), al=1.1, vapour_flow=30.0, lr=curve_q30 + 50)
        for i in range(4)
    ]
    out = exc(recompute_nozzle(RS, fs), "FV-LR")
    assert [e.severity for e in out] == ["warning", "alarm"]
    assert out[1].ts == fs[3].ts and out[0].limit == pytest.approx(curve_q30, abs=0.1)
    ok = [
        fuel(D0, vapour_flow=30.0, lr=curve_q30 - 1),
        fuel(D0 + timedelta(hours=2), vapour_flow=15.0, lr=500),
    ]
    assert not exc(recompute_nozzle(RS, ok), "FV-LR")


def _many(values, start=D0, per_day=40, exact=False):
    out = []
    for i, v in enumerate(values):
        volume = (
            25.13 + (i % 7) * 1.37
        )  # not round: a real controller's vapour = fuel x A/L only to rounding
        out.append(
            fuel(
                start + timedelta(days=i // per_day, minutes=15 * (i % per_day)),
                al=v,
                volume=volume,
                vapour=volume * v if exact else None,
            )
        )
    return out


def test_shield_uniform_in_band_is_flagged_and_realistic_data_is_not():
    rng = random.Random(7)
    shield = [round(rng.uniform(1.0, 1.2), 3) for _ in range(280)]
    out = exc(recompute_nozzle(RS, _many(shield)), "FV-SHIELD")
    assert out and "uniform_in_band" in out[0].detail["checks"]
    real = [round(min(1.19, max(1.0, rng.gauss(1.1, 0.03))), 3) for _ in range(280)]
    assert not exc(recompute_nozzle(RS, _many(real)), "FV-SHIELD")


def test_shield_vapour_recomputed_as_fuel_times_al_on_every_event():
    rng = random.Random(3)
    vals = [round(rng.gauss(1.1, 0.03), 3) for _ in range(240)]
    out = exc(recompute_nozzle(RS, _many(vals, exact=True)), "FV-SHIELD")
    assert out and "vapour_equals_fuel_x_al" in out[0].detail["checks"]
    assert not exc(recompute_nozzle(RS, _many(vals)), "FV-SHIELD")


def test_shield_out_of_band_share_dropping_to_zero_overnight():
    before = ([0.8] * 4 + [1.1] * 36) * 4  # four days at 10 % out of band
    fs = _many(before) + _many([1.1] * 120, start=D0 + timedelta(days=4))  # then three clean days
    out = exc(recompute_nozzle(RS, fs), "FV-SHIELD")
    assert out and out[0].detail["checks"] == {"out_of_band_share_dropped": 0.1}
    assert out[0].detail["checks"] and out[0].ts.day == 7  # fired on the third clean day
    one_clean_day = (
        _many(before)
        + _many([1.1] * 40, start=D0 + timedelta(days=4))
        + _many([0.8] * 4 + [1.1] * 36, start=D0 + timedelta(days=5))
    )
    assert not exc(recompute_nozzle(RS, one_clean_day), "FV-SHIELD")


def test_flag_mismatch_device_zero_while_recomputed_warning_on_two_days():
    fs, alarms = [], []
    for d in range(4):
        fs += day_of_fuellings(d, 20, 5)
        ts = D0 + timedelta(days=d, hours=12)
        alarms.append(
            DeviceAlarm(
                event_id=DeviceAlarm.make_id("QP-ST-0001", 3, "al", ts),
                ts=ts,
                station_id="QP-ST-0001",
                nozzle=3,
                jurisdiction="qingpu",
                mn="MN1",
                category="al",
                state=0,
                raw_code="0",
                code_map="guangzhou",
            )
        )
    out = exc(recompute_nozzle(RS, fs, alarms), "FV-FLAGMISMATCH")
    # day 0 enters normal; days 1, 2, 3 enter in warning while the device says 0
    assert [e.detail["days"][-1] for e in out] == ["2026-11-03", "2026-11-04"]
    assert out[0].severity == "alarm" and "integrity" in out[0].quality_flags
    honest = [
        DeviceAlarm(**{**{f: getattr(a, f) for f in a.__slots__}, "state": 1}) for a in alarms
    ]
    assert not exc(recompute_nozzle(RS, fs, honest), "FV-FLAGMISMATCH")


def test_isd_comparison_is_computed_but_emits_nothing_by_default():
    nd = days(recompute_nozzle(RS, day_of_fuellings(0, 20, 20)))
    assert nd[0].isd_daily == "pass" and nd[0].isd_weekly == "insufficient"
    assert not exc(recompute_nozzle(RS, day_of_fuellings(0, 20, 0)), "FV-ISD-CMP")


def test_idle_nozzle_and_insufficient_data():
    fs = day_of_fuellings(0, 2, 2) + day_of_fuellings(8, 2, 2)
    out = recompute_nozzle(RS, fs)
    nd = days(out)
    # day 0 pools its 2 valid fuellings; days 1-5 idle; from day 6 (7 days tracked, <= 5 valid) on the
    # nozzle is "insufficient data", never shown as passing
    assert [d.state for d in nd] == ["pooling"] + ["idle"] * 5 + ["insufficient"] * 3
    (nodata,) = exc(out, "FV-AL-NODATA")
    assert nodata.detail["day"] == "2026-11-07" and nodata.measured == 2


def test_processor_matches_batch_recomputation():
    fs = []
    for d in range(6):
        fs += day_of_fuellings(d, 12, 6 if d < 5 else 12)
    proc = next(p for p in PROCESSORS if p.name == "vapor.nozzle")
    ctx = Context(RS, load_registry())
    state: dict = {}
    inc = []
    for f in fs:
        inc += list(proc.handle(f, state, ctx))
    batch = recompute_nozzle(RS, fs)
    n_closed = len(days(inc))
    assert n_closed == 5
    assert [e.event_id for e in inc] == [
        e.event_id
        for e in batch
        if not (isinstance(e, NozzleDay) and e.day.day == 6)
        and not (isinstance(e, Exceedance) and e.ts.day == 6)
    ][: len(inc)]
    import json

    json.dumps({k: v.to_dict() for k, v in state.items()})  # the stored form is plain JSON


# ---------------------------------------------------------------- station


def reading(ts, p=None, proc=None):
    return StationReading(
        event_id=StationReading.make_id("QP-ST-0001", ts, "2011"),
        ts=ts,
        station_id="QP-ST-0001",
        jurisdiction="qingpu",
        mn="MN1",
        tank_pressure_pa=p,
        lr_pressure_pa=None,
        vapour_temp_c=None,
        unloading_conc=None,
        proc_outlet_g_m3=proc,
        al_unattributed=None,
        pv_positive_pa=None,
        pv_negative_pa=None,
        code_map="chongqing",
        packet_id="p",
    )


def run_station(readings):
    r = StationRules(RS)
    st = StationRules.new_state("QP-ST-0001", "qingpu", "MN1", 1000.0, -1000.0)
    out = []
    for x in readings:
        out += r.on_reading(st, x)
    return out


def test_zero_pressure_12h_is_a_warning_day_and_5_days_an_alarm():
    start = datetime(2026, 11, 1, 0, 0, tzinfo=BEIJING)
    rs = [
        reading(start + timedelta(minutes=10 * i), p=5.0 if (i % 144) < 80 else 150.0)
        for i in range(144 * 6 + 1)
    ]
    out = run_station(rs)
    zp = exc(out, "FV-ZP")
    assert [e.severity for e in zp] == ["warning"] * 4 + ["alarm", "alarm"]
    states = [s for s in out if isinstance(s, StationState) and s.category == "zero_pressure"]
    assert states[0].value == pytest.approx(79 * 10 / 60, abs=0.01) and states[0].level == "warning"
    short = [
        reading(start + timedelta(minutes=10 * i), p=5.0 if (i % 144) < 60 else 150.0)
        for i in range(145)
    ]
    assert not exc(run_station(short), "FV-ZP")


def test_pv_critical_warns_then_alarms_when_sustained():
    t = D0
    rs = [reading(t + timedelta(minutes=i), p=1300.0) for i in range(7)] + [
        reading(t + timedelta(minutes=8), p=500.0)
    ]
    out = exc(run_station(rs), "FV-PV")
    assert [e.severity for e in out] == ["warning", "alarm"]
    assert out[0].limit == 1200.0 and out[1].ts == t + timedelta(minutes=5)


def test_processing_unit_three_reads_warn_and_hourly_mean_alarms():
    rs = [reading(D0 + timedelta(minutes=5 * i), proc=30.0) for i in range(12)] + [
        reading(D0 + timedelta(hours=1, minutes=1), proc=5.0)
    ]
    out = exc(run_station(rs), "FV-PROC")
    assert [e.severity for e in out] == ["warning", "alarm"]
    assert out[1].measured == 30.0 and out[1].limit == 25.0


# ---------------------------------------------------------------- sensors and depots


def sensor(ts, q, v, kind="ambient", unit="mg/m3"):
    return SensorReading(
        event_id=SensorReading.make_id("QP-AM-0001", q, ts),
        ts=ts,
        sensor_id="QP-AM-0001",
        sensor_kind=kind,
        station_id="QP-ST-0001",
        jurisdiction="qingpu",
        mn="S1",
        quantity=q,
        value=v,
        unit=unit,
        data_flag="N",
        packet_id="p",
    )


def run_sensor(readings, kind="ambient"):
    r = SensorRules(RS)
    st = SensorRules.new_state("QP-AM-0001", kind, "qingpu", "S1")
    out = []
    for x in readings:
        out += r.on_reading(st, x)
    return out


def test_ambient_voc_baseline_anomaly_and_repeat_warning():
    rs = [sensor(D0 + timedelta(minutes=30 * i), "nmhc_mg_m3", 0.6) for i in range(60)]
    spikes = []
    for k in range(3):
        t = D0 + timedelta(hours=30 + 5 * k)
        spikes += [sensor(t, "nmhc_mg_m3", 3.0), sensor(t + timedelta(hours=1), "nmhc_mg_m3", 0.6)]
    out = exc(run_sensor(rs + spikes), "AMB-VOC")
    assert [e.severity for e in out] == ["notice", "notice", "warning"]
    assert out[0].detail["check"] == "baseline" and out[2].detail["sampling_request"]


def test_ambient_boundary_nmhc_and_no2():
    out = run_sensor(
        [
            sensor(D0, "nmhc_mg_m3", 5.0),
            sensor(D0 + timedelta(hours=1), "nmhc_mg_m3", 0.5),
            sensor(D0, "no2_ug_m3", 250.0, unit="ug/m3"),
            sensor(D0 + timedelta(hours=1), "no2_ug_m3", 20.0, unit="ug/m3"),
        ]
    )
    assert exc(out, "AMB-VOC")[0].detail["check"] == "boundary_limit"
    assert exc(out, "AMB-NOX")[0].measured == 250.0


def test_groundwater_rising_three_days():
    vals = [0.02, 0.02, 0.03, 0.04, 0.05, 0.05]
    rs = [
        sensor(D0 + timedelta(days=i), "petroleum_mg_l", v, kind="groundwater", unit="mg/L")
        for i, v in enumerate(vals)
    ]
    out = exc(run_sensor(rs, "groundwater"), "GW-SENSOR")
    assert [e.detail["check"] for e in out] == ["rising"]


def test_depot_truck_pressure_and_outlet():
    r = DepotRules(RS)
    st = DepotRules.new_state("QP-DP-0001", "qingpu", "D1")

    def dr(i, p, outlet=5.0, eff=98.0):
        ts = D0 + timedelta(minutes=i)
        return DepotReading(
            event_id=DepotReading.make_id("QP-DP-0001", ts),
            ts=ts,
            depot_id="QP-DP-0001",
            jurisdiction="qingpu",
            mn="D1",
            outlet_g_m3=outlet,
            efficiency_pct=eff,
            truck_pressure_kpa=p,
            packet_id="p",
        )

    out = []
    for _i, x in enumerate(
        [dr(0, 3.0), dr(1, 5.0), dr(2, 7.0), dr(3, 7.0), dr(4, 2.0, outlet=30.0, eff=90.0)]
    ):
        out += r.on_reading(st, x)
    truck = exc(out, "OD-TRUCK")
    assert [e.severity for e in truck] == ["warning", "alarm"]
    assert sorted(e.detail["check"] for e in exc(out, "OD-PROC")) == ["eff", "outlet"]


def test_station_recomputation_ignores_device_flags_but_records_them():
    start = datetime(2026, 11, 1, 0, 0, tzinfo=BEIJING)
    rs = [reading(start + timedelta(minutes=15 * i), p=3.0) for i in range(96 * 3)]
    flags = [
        DeviceAlarm(
            event_id=DeviceAlarm.make_id(
                "QP-ST-0001", 0, "zero_pressure", start + timedelta(days=d, hours=9)
            ),
            ts=start + timedelta(days=d, hours=9),
            station_id="QP-ST-0001",
            nozzle=0,
            jurisdiction="qingpu",
            mn="MN1",
            category="zero_pressure",
            state=0,
            raw_code="0",
            code_map="chongqing",
        )
        for d in range(3)
    ]
    out = recompute_station(RS, rs, flags)
    zp_states = [s for s in out if isinstance(s, StationState) and s.category == "zero_pressure"]
    assert [s.level for s in zp_states] == ["warning"] * 3  # recomputed although the device said 0
    assert [s.device_state for s in zp_states] == [0, 0, 0]
    mismatch = exc(out, "FV-FLAGMISMATCH")
    assert [e.detail["category"] for e in mismatch] == ["zero_pressure"]
    assert mismatch[0].detail["days"] == ["2026-11-02", "2026-11-03"]

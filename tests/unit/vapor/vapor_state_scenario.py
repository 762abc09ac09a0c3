"""A few days of one station's data that set every field of the vapour processors' state: in-band,
out-of-band, pump-fault, slow, small and late fuellings, liquid resistance above the curve, device
flags, near-zero and beyond-P/V tank pressure, a high processing-unit outlet, ambient and groundwater
sensors, a depot with rising truck pressure. Deterministic (fixed seed), so the state the first
release saved from ``before_save()`` (``tests/data/vapor/state_first_release.json``) can be
compared with what the typed state writes today.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from core.timeutil import BEIJING
from fuel_vapor.events import (
    DepotReading,
    DeviceAlarm,
    Fuellings,
    SensorReading,
    StationReading,
)

D0 = datetime(2026, 11, 2, 0, 0, tzinfo=BEIJING)
ST = "QP-ST-0001"
SAVE_AT = D0 + timedelta(days=3, hours=12)  # the state was saved here


def _fuelling(ts: datetime, nozzle: int, al: float, **kw: Any) -> Fuellings:
    volume = kw.get("volume", 30.0)
    fuel_flow = kw.get("fuel_flow", 35.0)
    return Fuellings(
        ts=ts,
        station_id=ST,
        jurisdiction="qingpu",
        mn="MN-QP-0001",
        al_source_unit="ratio",
        code_map="guangzhou",
        packet_id="p",
        nozzle=(nozzle,),
        al=(al,),
        fuel_volume_l=(volume,),
        vapour_volume_l=(round(volume * al, 2),),
        fuel_flow_lpm=(fuel_flow,),
        vapour_flow_lpm=(kw.get("vapour_flow", fuel_flow * al),),
        liquid_resistance_pa=(kw.get("lr"),),
    )


def _flag(ts: datetime, nozzle: int, category: str, state: int) -> DeviceAlarm:
    return DeviceAlarm(
        event_id=DeviceAlarm.make_id(ST, nozzle, category, ts),
        ts=ts,
        station_id=ST,
        nozzle=nozzle,
        jurisdiction="qingpu",
        mn="MN-QP-0001",
        category=category,
        state=state,
        raw_code=str(state),
        code_map="guangzhou",
    )


def _reading(ts: datetime, p: float, proc: float) -> StationReading:
    return StationReading(
        event_id=StationReading.make_id(ST, ts, "2011"),
        ts=ts,
        station_id=ST,
        jurisdiction="qingpu",
        mn="MN-QP-0001",
        tank_pressure_pa=p,
        lr_pressure_pa=None,
        vapour_temp_c=None,
        unloading_conc=None,
        proc_outlet_g_m3=proc,
        al_unattributed=None,
        pv_positive_pa=None,
        pv_negative_pa=None,
        code_map="guangzhou",
        packet_id="p",
    )


def _sensor(ts: datetime, sensor: str, kind: str, quantity: str, value: float) -> SensorReading:
    return SensorReading(
        event_id=SensorReading.make_id(sensor, quantity, ts),
        ts=ts,
        sensor_id=sensor,
        sensor_kind=kind,
        station_id=ST,
        jurisdiction="qingpu",
        mn="MN-S-" + sensor,
        quantity=quantity,
        value=value,
        unit="mg/m3" if kind == "ambient" else "mg/L",
        data_flag="N",
        packet_id="p",
    )


def _depot(ts: datetime, truck_kpa: float, outlet: float, eff: float) -> DepotReading:
    return DepotReading(
        event_id=DepotReading.make_id("QP-DP-0001", ts),
        ts=ts,
        depot_id="QP-DP-0001",
        jurisdiction="qingpu",
        mn="MN-DP-0001",
        outlet_g_m3=outlet,
        efficiency_pct=eff,
        truck_pressure_kpa=truck_kpa,
        packet_id="p",
    )


def events() -> list[Any]:
    """Every event of the scenario in time order."""
    rng = random.Random(20952)
    out: list[Any] = []
    for day in range(6):
        start = D0 + timedelta(days=day, hours=7)
        for i in range(24):
            ts = start + timedelta(minutes=25 * i)
            for nozzle in (1, 2):
                if nozzle == 2 and day in (2, 3):
                    continue  # nozzle 2 rests two days
                al = 1.1 if rng.random() < (0.8 if nozzle == 1 else 0.4) else 0.8
                kw: dict[str, Any] = {}
                if nozzle == 2 and i == 3:
                    al, kw = 0.3, {"vapour_flow": 0.5}  # pump fault
                elif i == 5:
                    kw = {"lr": 4500.0}  # liquid resistance above the curve
                elif i == 7:
                    kw = {"volume": 10.0}  # under the minimum volume
                elif i == 9:
                    al, kw = 0.8, {"fuel_flow": 6.0}  # slow dispenser
                out.append(_fuelling(ts, nozzle, al, **kw))
        noon = D0 + timedelta(days=day, hours=12)
        out.append(_flag(noon, 1, "al", 0))
        out.append(_flag(noon, 2, "al", 0))
        out.append(_flag(noon, 0, "zero_pressure", 0))
        out.append(_flag(noon, 0, "pv", 1))
    for m in range(0, 5 * 24 * 60, 10):
        ts = D0 + timedelta(minutes=m)
        hour = ts.hour
        p = 5.0 if hour < 10 else 2400.0 if hour == 10 else 300.0 + rng.uniform(-50, 50)
        proc = 30.0 if hour == 14 else 4.0
        out.append(_reading(ts, p, proc))
    for h in range(5 * 24):
        ts = D0 + timedelta(hours=h, minutes=30)
        spike = 6.0 if h in (40, 41, 90) else 0.0
        out.append(_sensor(ts, "QP-AM-0001", "ambient", "nmhc_mg_m3", 0.5 + rng.random() + spike))
        out.append(_sensor(ts, "QP-AM-0001", "ambient", "no2_ug_m3", 40 + 200 * (h == 50)))
    for d in range(6):
        ts = D0 + timedelta(days=d, hours=9)
        out.append(_sensor(ts, "QP-GW-0001", "groundwater", "voc_mg_l", 0.1 + 0.05 * d))
    for i, kpa in enumerate((2.0, 4.0, 7.0, 7.5, 1.0, 6.0)):
        ts = D0 + timedelta(days=i, hours=16)
        out.append(_depot(ts, kpa, 30.0 if i == 2 else 5.0, 90.0 if i == 3 else 98.0))
    arrivals = sorted(out, key=lambda e: (e.ts, e.KIND, e.event_id))
    # a fuelling of day 2 arriving on day 4, after the day was judged
    late_at = next(i for i, e in enumerate(arrivals) if e.ts >= D0 + timedelta(days=4, hours=13))
    arrivals.insert(late_at, _fuelling(D0 + timedelta(days=2, hours=13, seconds=1), 1, 1.1))
    return arrivals


def before_save() -> list[Any]:
    """The events the first release saw before its state was saved."""
    evs = events()
    return evs[: _save_index(evs)]


def after_save() -> list[Any]:
    evs = events()
    return evs[_save_index(evs) :]


def _save_index(evs: list[Any]) -> int:
    return next(i for i, e in enumerate(evs) if e.ts >= SAVE_AT)

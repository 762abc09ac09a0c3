"""OBD analytics (rules.md §2.3 and the OBD-*/DQ-COMPLETE rules of §4), pure.

Functions here never read the clock and never do IO: the event time is "now", thresholds come
from the rule set, and per-vehicle state is a plain JSON-serialisable dict (a Faust table value
in production). Every fired rule returns an ``core.exceedance.Exceedance`` carrying the rule
id, the rule-set version and its evidence (ids of the samples/snapshots that show it).

Formulas (PRACTICE, rules.md §2.3)::

    q_mew [kg/s]  = (q_air [kg/h] + ρ_fuel · q_fuel [L/h]) / 3600          ρ_fuel = 0.84 kg/L
    m_NOx [g/s]   = u_NOx · c_NOx,down [ppm] · q_mew                        u_NOx = 0.001586 (NO2 basis)
    P [kW]        = max(0, T_net% − T_fric%)/100 · T_ref [N·m] · n [rpm] / 9550
    window g/kWh  = Σ m_NOx·Δt / Σ P·Δt over windows of reference work (rated kW × 0.097 kWh/kW)
    η_SCR         = 1 − c_down / c_up

What is evaluated when:

- per live record: gaps while the engine runs (OBD-GAP), terminal silent for > 24 h mid-drive or
  > 5 d in any case (OBD-OFFLINE, seen when data resumes), SCR efficiency while hot
  (OBD-SCR, fires when the day's low-efficiency time reaches the threshold), flat NOx sensors over
  an hour of driving (OBD-EMU), missing signatures where required (OBD-SIG);
- per back-filled record: re-sent beyond the 5 × 24 h window (OBD-BACKFILL), and it fills gaps
  of the open day;
- per OBD information body: calibration id / CVN changes (OBD-IDCHG), MIL/DTC for the day;
- per login / time calibration: clock offset (OBD-CLOCK);
- when the vehicle's (Beijing) day closes — the first record of a later day arrives: daily OBD
  packet (OBD-DAILY), MIL day (OBD-MIL), GPS quality (OBD-GPS), invalid NOx share and reagent
  never changing (OBD-EMU), work-window NOx P90 (OBD-NOX-WIN), weekly g/km band (OBD-NOX-KM),
  completeness (DQ-COMPLETE).

Known limits: a day closes only when the vehicle reports again (the last day of a vehicle that
stops for good is not judged); back-filled records of an already closed day count only for
OBD-BACKFILL; work windows are consecutive (tumbling), not moving, to bound state; the
fleet-median comparison of OBD-NOX-KM and "offline while seen by other sources" need cross-vehicle
or cross-source data and are left to queries/enforcement; records are assumed 1 s apart (Δt = 1 s).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, MutableMapping
from datetime import datetime, timedelta
from typing import Any

from core.exceedance import Exceedance, fire
from core.registry import ObdVehicle
from core.ruleset import RuleSet
from core.timeutil import BEIJING
from obd_gateway.events import ObdInfoSnapshot, ObdSample, ObdStatus

SOURCE = "obd_gateway"
State = MutableMapping[str, Any]


# ------------------------------------------------------------------------------ pure formulas


def exhaust_flow_kg_s(air_kgh: float, fuel_lph: float, fuel_density: float = 0.84) -> float:
    return (air_kgh + fuel_density * fuel_lph) / 3600.0


def nox_mass_g_s(
    nox_ppm: float,
    air_kgh: float,
    fuel_lph: float,
    u_nox: float = 0.001586,
    fuel_density: float = 0.84,
) -> float:
    """NOx mass flow (NO2 basis) from the tailpipe concentration and the exhaust mass flow."""
    return u_nox * nox_ppm * exhaust_flow_kg_s(air_kgh, fuel_lph, fuel_density)


def engine_power_kw(
    torque_pct: float, friction_pct: float, ref_torque_nm: float, rpm: float
) -> float:
    return max(0.0, torque_pct - friction_pct) / 100.0 * ref_torque_nm * rpm / 9550.0


def scr_efficiency(nox_up_ppm: float, nox_down_ppm: float) -> float | None:
    if nox_up_ppm <= 0:
        return None
    return 1.0 - nox_down_ppm / nox_up_ppm


def percentile(values: Iterable[float], pct: float) -> float:
    """Linear-interpolation percentile (numpy's default), ``pct`` in 0..100."""
    v = sorted(values)
    if not v:
        raise ValueError("percentile of no values")
    k = (len(v) - 1) * pct / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def haversine_km(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(a)))


def _welford(acc: list[float], x: float) -> None:
    """acc = [n, mean, M2] updated in place."""
    acc[0] += 1
    d = x - acc[1]
    acc[1] += d / acc[0]
    acc[2] += d * (x - acc[1])


def _std(acc: list[float]) -> float:
    return math.sqrt(acc[2] / acc[0]) if acc[0] > 1 else 0.0


def beijing_day(ts: datetime) -> str:
    return ts.astimezone(BEIJING).date().isoformat()


# ------------------------------------------------------------------------------ state


def new_state() -> dict[str, Any]:
    return {
        "day": "",
        "d": _new_day(),
        "last_ts": None,
        "last_rpm": None,
        "last_pos": None,
        "win": _new_window(),
        "flat": _new_flat(),
        "streak": {"daily": 0, "mil": 0, "reagent": 0, "dq": 0},
        "scr_days": [],
        "week": [],
        "ids": None,
        "idchg": [],
        "late_days": [],
    }


def _new_day() -> dict[str, Any]:
    return {
        "n": 0,
        "run": 0,
        "missing": 0.0,
        "drove": False,
        "info": False,
        "mil": False,
        "dtcs": [],
        "gps_bad": 0,
        "gps_jumps": 0,
        "nox_bad": 0,
        "reag_min": None,
        "reag_max": None,
        "scr_low_s": 0,
        "scr_eta_sum": 0.0,
        "scr_first": "",
        "scr_fired": False,
        "sig_fired": False,
        "mass_g": 0.0,
        "dist_km": 0.0,
        "windows": [],
        "first_id": "",
        "last_id": "",
        "last_ts": None,
        "info_ids": [],
    }


def _new_window() -> dict[str, Any]:
    return {"mass_g": 0.0, "work_kwh": 0.0, "n": 0, "first": ""}


def _new_flat() -> dict[str, Any]:
    return {"n": 0, "up": [0, 0.0, 0.0], "down": [0, 0.0, 0.0], "first": ""}


class Ctx:
    """What one evaluation needs: the rule set and the vehicle (kept out of the state)."""

    __slots__ = ("rs", "vehicle")

    def __init__(self, rs: RuleSet, vehicle: ObdVehicle) -> None:
        self.rs = rs
        self.vehicle = vehicle

    def fire(
        self,
        rule_id: str,
        ts: datetime,
        *,
        measured: float | None,
        limit: float | None,
        unit: str,
        evidence: Iterable[str] = (),
        severity: str | None = None,
        detail: dict[str, Any] | None = None,
        window: str = "",
        flags: Iterable[str] = (),
    ) -> Exceedance:
        rule = self.rs.rule(rule_id)
        return fire(
            rule=rule,
            ts=ts,
            source=SOURCE,
            subject_kind="vehicle",
            subject_id=self.vehicle.vin,
            jurisdiction=self.vehicle.jurisdiction,
            device_id=self.vehicle.vin,
            measured=measured,
            limit=limit,
            unit=unit,
            evidence=[e for e in evidence if e],
            quality_flags=flags,
            severity=severity,
            detail=detail,
            window=window,
        )

    def p(self, rule_id: str, name: str) -> Any:
        key = (self.rs.version, self.rs.source, rule_id, name)
        try:
            return _PARAM_CACHE[key]
        except KeyError:
            v = _PARAM_CACHE[key] = self.rs.rule(rule_id).param(name)
            return v


_PARAM_CACHE: dict[tuple[str, str, str, str], Any] = {}  # rule sets are immutable once loaded


# ------------------------------------------------------------------------------ entry points


def on_sample(state: State, ev: ObdSample, c: Ctx) -> list[Exceedance]:
    out: list[Exceedance] = []
    ts = ev.ts
    t = ts.timestamp()
    day = beijing_day(ts)
    if ev.backfilled:
        out += _backfill(state, ev, c, day)
        if day == state["day"]:
            d = state["d"]
            d["n"] += 1
            if (ev.rpm or 0) > c.p("OBD-GAP", "running_rpm_min"):
                d["run"] += 1
                d["missing"] = max(0.0, d["missing"] - 1.0)
        return out
    if state["last_ts"] is not None and t <= state["last_ts"]:
        return out  # a re-sent live record (already seen): stored once, judged once
    if day != state["day"]:
        if state["day"]:
            out += close_day(state, c)
        state["day"] = day
        state["d"] = _new_day()
    d = state["d"]
    out += _gap(state, ev, c, t)
    running = (ev.rpm or 0) > c.p("OBD-GAP", "running_rpm_min")
    d["n"] += 1
    d["first_id"] = d["first_id"] or ev.event_id
    d["last_id"] = ev.event_id
    d["last_ts"] = t
    if running:
        d["run"] += 1
        if "nox_up_ppm:" in "|".join(ev.quality_flags) or "nox_down_ppm:" in "|".join(
            ev.quality_flags
        ):
            d["nox_bad"] += 1
    if (ev.speed_kmh or 0) > 0 or running:
        d["drove"] = True
    if ev.reagent_pct is not None and running:
        d["reag_min"] = (
            ev.reagent_pct if d["reag_min"] is None else min(d["reag_min"], ev.reagent_pct)
        )
        d["reag_max"] = (
            ev.reagent_pct if d["reag_max"] is None else max(d["reag_max"], ev.reagent_pct)
        )
    _gps(state, ev, t, c)
    out += _scr(state, ev, c)
    out += _flat(state, ev, c)
    _nox(state, ev, c)
    out += _sig(state, ev, c)
    state["last_ts"] = t
    state["last_rpm"] = ev.rpm
    return out


def on_info(state: State, ev: ObdInfoSnapshot, c: Ctx) -> list[Exceedance]:
    out: list[Exceedance] = []
    day = beijing_day(ev.ts)
    if not ev.backfilled and day != state["day"] and day > state["day"]:
        if state["day"]:
            out += close_day(state, c)
        state["day"] = day
        state["d"] = _new_day()
    if day == state["day"]:
        d = state["d"]
        d["info"] = True
        if len(d["info_ids"]) < 5:
            d["info_ids"].append(ev.event_id)
        if ev.mil_on or (ev.dtc_count or 0) > 0:
            d["mil"] = True
            d["dtcs"] = sorted(set(d["dtcs"]) | set(ev.dtcs))[:20]
    out += _idchg(state, ev, c)
    return out


def on_status(state: State, ev: ObdStatus, c: Ctx) -> list[Exceedance]:
    if ev.status not in ("login", "time_calibration") or ev.clock_offset_s is None:
        return []
    allowance = float(c.p("OBD-CLOCK", "latency_allowance_s"))
    limit = float(c.p("OBD-CLOCK", "offset_s"))
    warn = float(c.p("OBD-CLOCK", "warning_offset_s"))
    off = abs(ev.clock_offset_s) - allowance
    if off <= limit:
        return []
    sev = "warning" if off > warn else None
    return [
        c.fire(
            "OBD-CLOCK",
            ev.ts,
            measured=ev.clock_offset_s,
            limit=limit,
            unit="s",
            evidence=[ev.event_id],
            severity=sev,
            detail={"status": ev.status, "allowance_s": allowance},
        )
    ]


# ------------------------------------------------------------------------------ per-record rules


def _gap(state: State, ev: ObdSample, c: Ctx, t: float) -> list[Exceedance]:
    last = state["last_ts"]
    if last is None:
        return []
    gap = t - last
    out: list[Exceedance] = []
    gap_s = float(c.p("OBD-GAP", "gap_s"))
    was_running = (state["last_rpm"] or 0) > c.p("OBD-GAP", "running_rpm_min")
    since = datetime.fromtimestamp(last, ev.ts.tzinfo)
    if gap > gap_s and was_running:
        state["d"]["missing"] += gap - 1.0
        out.append(
            c.fire(
                "OBD-GAP",
                ev.ts,
                measured=gap,
                limit=gap_s,
                unit="s",
                evidence=[ev.event_id],
                detail={"since": since.isoformat()},
            )
        )
    offline_s = float(c.p("OBD-OFFLINE", "offline_h")) * 3600
    lost_s = float(c.p("OBD-OFFLINE", "lost_window_h")) * 3600
    if gap > lost_s or (gap > offline_s and was_running):
        sev = "alarm" if gap > lost_s else "warning"
        out.append(
            c.fire(
                "OBD-OFFLINE",
                ev.ts,
                measured=gap / 3600,
                limit=(lost_s if sev == "alarm" else offline_s) / 3600,
                unit="h",
                evidence=[ev.event_id],
                severity=sev,
                detail={"since": since.isoformat(), "engine_running_at_loss": was_running},
            )
        )
    return out


def _backfill(state: State, ev: ObdSample, c: Ctx, day: str) -> list[Exceedance]:
    window_h = float(c.p("OBD-BACKFILL", "window_h"))
    late_h = (ev.received_at - ev.ts).total_seconds() / 3600
    if late_h <= window_h or day in state["late_days"]:
        return []
    state["late_days"] = [*state["late_days"][-9:], day]
    return [
        c.fire(
            "OBD-BACKFILL",
            ev.ts,
            measured=late_h,
            limit=window_h,
            unit="h",
            evidence=[ev.event_id],
            flags=["late_beyond_window"],
            window=day,
        )
    ]


def _gps(state: State, ev: ObdSample, t: float, c: Ctx) -> None:
    d = state["d"]
    if not ev.fix_valid or ev.lon is None or ev.lat is None:
        d["gps_bad"] += 1
        return
    last = state["last_pos"]
    if last is not None and 0 < t - last[2] <= 60:
        kmh = haversine_km(last[0], last[1], ev.lon, ev.lat) / (t - last[2]) * 3600
        if kmh > float(c.p("OBD-GPS", "max_speed_kmh")):
            d["gps_jumps"] += 1
    state["last_pos"] = [ev.lon, ev.lat, t]


def _scr(state: State, ev: ObdSample, c: Ctx) -> list[Exceedance]:
    v = c.vehicle
    if not v.has_scr or v.fuel != "diesel":
        return []
    if ev.scr_in_c is None or ev.nox_up_ppm is None or ev.nox_down_ppm is None:
        return []
    if ev.scr_in_c < c.p("OBD-SCR", "inlet_temp_min_c") or ev.nox_up_ppm < c.p(
        "OBD-SCR", "upstream_min_ppm"
    ):
        return []
    eta = scr_efficiency(ev.nox_up_ppm, ev.nox_down_ppm)
    eta_min = float(c.p("OBD-SCR", "efficiency_min"))
    if eta is None or eta >= eta_min:
        return []
    d = state["d"]
    d["scr_low_s"] += 1
    d["scr_eta_sum"] += eta
    d["scr_first"] = d["scr_first"] or ev.event_id
    need_s = float(c.p("OBD-SCR", "min_minutes_per_day")) * 60
    if d["scr_fired"] or d["scr_low_s"] < need_s:
        return []
    d["scr_fired"] = True
    day = state["day"]
    win_days = int(c.p("OBD-SCR", "escalate_window_days"))
    cutoff = (datetime.fromisoformat(day) - timedelta(days=win_days - 1)).date().isoformat()
    days = [x for x in state["scr_days"] if x >= cutoff] + [day]
    state["scr_days"] = days
    sev = "alarm" if len(days) >= int(c.p("OBD-SCR", "escalate_days")) else None
    return [
        c.fire(
            "OBD-SCR",
            ev.ts,
            measured=round(d["scr_eta_sum"] / d["scr_low_s"], 4),
            limit=eta_min,
            unit="1",
            evidence=[d["scr_first"], ev.event_id],
            severity=sev,
            window=day,
            detail={
                "low_efficiency_s": d["scr_low_s"],
                "days_in_window": len(days),
                "inlet_temp_min_c": c.p("OBD-SCR", "inlet_temp_min_c"),
            },
        )
    ]


def _flat(state: State, ev: ObdSample, c: Ctx) -> list[Exceedance]:
    if (ev.speed_kmh or 0) <= 0:
        return []
    f = state["flat"]
    f["n"] += 1
    f["first"] = f["first"] or ev.event_id
    if ev.nox_up_ppm is not None:
        _welford(f["up"], ev.nox_up_ppm)
    if ev.nox_down_ppm is not None:
        _welford(f["down"], ev.nox_down_ppm)
    need = float(c.p("OBD-EMU", "flat_window_h")) * 3600
    if f["n"] < need:
        return []
    out = []
    sigma_max = float(c.p("OBD-EMU", "flat_sigma_ppm"))
    for sensor in ("down", "up"):
        acc = f[sensor]
        if acc[0] >= 0.9 * f["n"] and _std(acc) < sigma_max:
            out.append(
                c.fire(
                    "OBD-EMU",
                    ev.ts,
                    measured=round(_std(acc), 4),
                    limit=sigma_max,
                    unit="ppm",
                    evidence=[f["first"], ev.event_id],
                    window=f"flat_{sensor}",
                    detail={
                        "pattern": "nox_sensor_flat",
                        "sensor": sensor,
                        "records": f["n"],
                        "mean_ppm": round(acc[1], 3),
                    },
                )
            )
    state["flat"] = _new_flat()
    return out


def _nox(state: State, ev: ObdSample, c: Ctx) -> None:
    if ev.nox_down_ppm is None or ev.air_kgh is None or ev.fuel_lph is None:
        return
    rho = float(c.p("OBD-NOX-WIN", "fuel_density"))
    m = nox_mass_g_s(
        ev.nox_down_ppm, ev.air_kgh, ev.fuel_lph, float(c.p("OBD-NOX-WIN", "u_nox")), rho
    )
    d = state["d"]
    if ev.speed_kmh is not None and ev.speed_kmh > 0.1:
        d["mass_g"] += m
        d["dist_km"] += ev.speed_kmh / 3600
    if ev.torque_pct is None or ev.friction_pct is None or ev.rpm is None:
        return
    p_kw = engine_power_kw(ev.torque_pct, ev.friction_pct, c.vehicle.engine_ref_torque_nm, ev.rpm)
    w = state["win"]
    w["mass_g"] += m
    w["work_kwh"] += p_kw / 3600
    w["n"] += 1
    w["first"] = w["first"] or ev.event_id
    rated = c.vehicle.rated_power_kw
    if w["work_kwh"] >= rated * float(c.p("OBD-NOX-WIN", "window_work_per_rated_kw")):
        mean_kw = w["work_kwh"] / (w["n"] / 3600)
        if mean_kw > float(c.p("OBD-NOX-WIN", "min_power_share")) * rated:
            d["windows"].append(round(w["mass_g"] * 1000 / w["work_kwh"], 3))
        state["win"] = _new_window()


def _sig(state: State, ev: ObdSample, c: Ctx) -> list[Exceedance]:
    if (
        not c.p("OBD-SIG", "required")
        or ev.signature not in ("absent", "invalid")
        or state["d"]["sig_fired"]
    ):
        return []
    state["d"]["sig_fired"] = True
    return [
        c.fire(
            "OBD-SIG",
            ev.ts,
            measured=None,
            limit=None,
            unit="",
            evidence=[ev.event_id, ev.frame_id],
            window=state["day"],
            detail={"signature": ev.signature},
        )
    ]


def _idchg(state: State, ev: ObdInfoSnapshot, c: Ctx) -> list[Exceedance]:
    v = c.vehicle
    ref = {"calibration_id": v.calibration_id, "cvn": v.cvn}
    basis = "registry"
    if not v.calibration_id and not v.cvn:
        if state["ids"] is None:
            state["ids"] = {"calibration_id": ev.calibration_id, "cvn": ev.cvn}
            return []
        ref, basis = state["ids"], "first_seen"
    changed = [k for k in ("calibration_id", "cvn") if ref.get(k) and getattr(ev, k) != ref[k]]
    if not changed:
        return []
    key = f"{ev.calibration_id}|{ev.cvn}"
    if key in state["idchg"]:
        return []
    state["idchg"] = [*state["idchg"][-9:], key]
    return [
        c.fire(
            "OBD-IDCHG",
            ev.ts,
            measured=None,
            limit=None,
            unit="",
            evidence=[ev.event_id],
            window=key,
            detail={
                "changed": changed,
                "basis": basis,
                "expected": ref,
                "seen": {"calibration_id": ev.calibration_id, "cvn": ev.cvn},
            },
        )
    ]


# ------------------------------------------------------------------------------ day close


def close_day(state: State, c: Ctx) -> list[Exceedance]:
    """Judge the open day (called when the first record of a later day arrives)."""
    d = state["d"]
    day = state["day"]
    if d["last_ts"] is None:
        return []
    ts = datetime.fromtimestamp(d["last_ts"], BEIJING)
    ev_ids = [d["first_id"], d["last_id"]]
    out: list[Exceedance] = []
    streak = state["streak"]

    # OBD-DAILY: drove and no OBD information packet
    if d["drove"] and not d["info"]:
        streak["daily"] += 1
        sev = "alarm" if streak["daily"] >= int(c.p("OBD-DAILY", "escalate_days")) else None
        out.append(
            c.fire(
                "OBD-DAILY",
                ts,
                measured=0,
                limit=1,
                unit="packets/day",
                evidence=ev_ids,
                severity=sev,
                window=day,
                detail={"day": day, "consecutive_days": streak["daily"]},
            )
        )
    elif d["info"]:
        streak["daily"] = 0

    # OBD-MIL
    if d["drove"] and d["mil"]:
        streak["mil"] += 1
        sev = "warning" if streak["mil"] >= int(c.p("OBD-MIL", "escalate_days")) else None
        out.append(
            c.fire(
                "OBD-MIL",
                ts,
                measured=len(d["dtcs"]),
                limit=0,
                unit="DTCs",
                evidence=d["info_ids"],
                severity=sev,
                window=day,
                detail={"day": day, "dtcs": d["dtcs"], "consecutive_days": streak["mil"]},
            )
        )
    elif d["drove"] and d["info"]:
        streak["mil"] = 0

    # OBD-GPS
    n = d["n"]
    if n >= int(c.p("OBD-GPS", "min_records")):
        share = d["gps_bad"] / n
        lim = float(c.p("OBD-GPS", "invalid_share"))
        if share > lim or d["gps_jumps"] > 0:
            out.append(
                c.fire(
                    "OBD-GPS",
                    ts,
                    measured=round(share, 4),
                    limit=lim,
                    unit="1",
                    evidence=ev_ids,
                    window=day,
                    detail={
                        "day": day,
                        "invalid_fix_records": d["gps_bad"],
                        "jumps": d["gps_jumps"],
                        "records": n,
                    },
                )
            )

    # OBD-EMU: invalid/negative NOx share of running records
    if d["run"] >= int(c.p("OBD-EMU", "min_records")):
        share = d["nox_bad"] / d["run"]
        lim = float(c.p("OBD-EMU", "invalid_share"))
        if share > lim:
            out.append(
                c.fire(
                    "OBD-EMU",
                    ts,
                    measured=round(share, 4),
                    limit=lim,
                    unit="1",
                    evidence=ev_ids,
                    window=f"nox_invalid_{day}",
                    detail={"pattern": "nox_invalid_share", "day": day},
                )
            )

    # OBD-EMU: reagent constant or 0 % over driving days
    if d["drove"] and d["reag_max"] is not None:
        if d["reag_max"] == d["reag_min"] or d["reag_max"] <= 0:
            streak["reagent"] += 1
        else:
            streak["reagent"] = 0
        need = int(c.p("OBD-EMU", "reagent_days"))
        if streak["reagent"] >= need:
            sev = "alarm" if streak["reagent"] >= 2 * need else None
            out.append(
                c.fire(
                    "OBD-EMU",
                    ts,
                    measured=d["reag_max"],
                    limit=None,
                    unit="%",
                    evidence=ev_ids,
                    severity=sev,
                    window=f"reagent_{day}",
                    detail={
                        "pattern": "reagent_constant_or_empty",
                        "day": day,
                        "driving_days": streak["reagent"],
                    },
                )
            )

    # OBD-NOX-WIN: P90 of the day's valid work windows
    wins = d["windows"]
    if len(wins) >= int(c.p("OBD-NOX-WIN", "min_windows")):
        pct = float(c.p("OBD-NOX-WIN", "percentile"))
        p90 = percentile(wins, pct)
        nox_lim = c.rs.strictest(
            "OBD-NOX-WIN", fuel=c.vehicle.fuel, vehicle_class=c.vehicle.vehicle_class
        )
        if nox_lim.exceeded_by(p90):
            out.append(
                c.fire(
                    "OBD-NOX-WIN",
                    ts,
                    measured=round(p90, 1),
                    limit=nox_lim.value,
                    unit=nox_lim.unit,
                    evidence=ev_ids,
                    window=day,
                    detail={
                        "day": day,
                        "windows": len(wins),
                        "percentile": pct,
                        "basis": "NO2, u=0.001586",
                        "limit_text": nox_lim.text,
                        "note": "information and triage only, no penalty",
                    },
                )
            )

    # OBD-NOX-KM: weekly g/km band
    week = [*state["week"], [day, d["mass_g"], d["dist_km"]]][
        -int(c.p("OBD-NOX-KM", "week_days")) :
    ]
    state["week"] = week
    dist = sum(x[2] for x in week)
    if dist >= float(c.p("OBD-NOX-KM", "min_distance_km")):
        gkm = sum(x[1] for x in week) / dist
        lo, hi = (
            float(c.p("OBD-NOX-KM", "band_low_g_km")),
            float(c.p("OBD-NOX-KM", "band_high_g_km")),
        )
        if gkm < lo or gkm > hi:
            out.append(
                c.fire(
                    "OBD-NOX-KM",
                    ts,
                    measured=round(gkm, 3),
                    limit=hi if gkm > hi else lo,
                    unit="g/km",
                    evidence=ev_ids,
                    window=day,
                    detail={
                        "days": len(week),
                        "distance_km": round(dist, 1),
                        "side": "high" if gkm > hi else "low",
                    },
                )
            )

    # DQ-COMPLETE (OBD threshold)
    expected = d["run"] + d["missing"]
    if expected > 0:
        comp = d["run"] / expected
        lim = float(c.p("DQ-COMPLETE", "obd_min_completeness"))
        if comp < lim:
            streak["dq"] += 1
            sev = "warning" if streak["dq"] >= int(c.p("DQ-COMPLETE", "escalate_days")) else None
            out.append(
                c.fire(
                    "DQ-COMPLETE",
                    ts,
                    measured=round(comp, 4),
                    limit=lim,
                    unit="1",
                    evidence=ev_ids,
                    severity=sev,
                    window=day,
                    detail={
                        "day": day,
                        "running_records": d["run"],
                        "missing_running_s": d["missing"],
                        "consecutive_days": streak["dq"],
                    },
                )
            )
        else:
            streak["dq"] = 0
    return out

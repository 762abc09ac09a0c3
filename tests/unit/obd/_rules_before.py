"""FROZEN COPY of ``obd_gateway/rules.py`` before its samples loop was rewritten for speed (issue 16):
the reference that ``test_rules_equivalence.py`` holds the live module to, outcome for outcome.
Never edit it to make that test pass; when a rule's outcome is meant to change, change this copy
the same way in the same commit and say so in its message.

OBD analytics (rules.md §2.3 and the OBD-*/DQ-COMPLETE rules of §4), pure.

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
or cross-source data and are left to queries/enforcement.

Durations come from the records' timestamps: a record stands for the time since the vehicle's
previous record (Δt) when that is at most :data:`MAX_STEP_S` (the 10 s maximum transmission
interval of HJ 1239.1), so a terminal sending every 10 s counts 10 s of running, SCR or window
time per record. After a longer silence the record counts the vehicle's cadence (the Δt before it)
and the silence is a gap (OBD-GAP, DQ-COMPLETE's missing time), never an hour of exceeding. The
first record of a vehicle counts :data:`FIRST_STEP_S`.

Samples come as columns (:class:`~obd_gateway.events.ObdSamples`, one frame's records): the rule
set's parameters are read once per rule set (:class:`Params`) and the Beijing day once per day
boundary, not per record.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from core.exceedance import Exceedance, fire
from core.registry import ObdVehicle
from core.ruleset import RuleSet
from core.timeutil import BEIJING
from obd_gateway.events import ObdInfoSnapshot, ObdSamples, ObdStatus
from obd_gateway.protocol.bodies import NUMERIC_FIELDS

SOURCE = "obd_gateway"
State = MutableMapping[str, Any]
MAX_STEP_S = 10.0  # the longest Δt a record stands for (HJ 1239.1: ≤ 10 s between sends)
FIRST_STEP_S = 1.0  # ... and the first record of a vehicle (nothing before it) for this much


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
        "run": 0.0,  # running seconds (Δt of records with the engine running)
        "run_n": 0,  # running records
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
    return {"mass_g": 0.0, "work_kwh": 0.0, "n": 0, "s": 0.0, "first": ""}


def _new_flat() -> dict[str, Any]:
    return {"n": 0, "s": 0.0, "up": [0, 0.0, 0.0], "down": [0, 0.0, 0.0], "first": ""}


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

    @property
    def params(self) -> Params:
        key = (self.rs.version, self.rs.source)
        p = _PARAMS.get(key)
        if p is None:
            p = _PARAMS[key] = Params.of(self)
        return p


_PARAM_CACHE: dict[tuple[str, str, str, str], Any] = {}  # rule sets are immutable once loaded


@dataclass(frozen=True, slots=True)
class Params:
    """The per-record rules' parameters, read from the rule set once (not once per record)."""

    running_rpm_min: float
    gap_s: float
    offline_s: float
    lost_s: float
    gps_max_kmh: float
    scr_inlet_min_c: float
    scr_up_min_ppm: float
    scr_eta_min: float
    scr_need_s: float
    flat_need_s: float
    flat_sigma_max: float
    fuel_density: float
    u_nox: float
    window_work_per_rated_kw: float
    min_power_share: float
    sig_required: bool

    @classmethod
    def of(cls, c: Ctx) -> Params:
        p = c.p
        return cls(
            running_rpm_min=float(p("OBD-GAP", "running_rpm_min")),
            gap_s=float(p("OBD-GAP", "gap_s")),
            offline_s=float(p("OBD-OFFLINE", "offline_h")) * 3600,
            lost_s=float(p("OBD-OFFLINE", "lost_window_h")) * 3600,
            gps_max_kmh=float(p("OBD-GPS", "max_speed_kmh")),
            scr_inlet_min_c=float(p("OBD-SCR", "inlet_temp_min_c")),
            scr_up_min_ppm=float(p("OBD-SCR", "upstream_min_ppm")),
            scr_eta_min=float(p("OBD-SCR", "efficiency_min")),
            scr_need_s=float(p("OBD-SCR", "min_minutes_per_day")) * 60,
            flat_need_s=float(p("OBD-EMU", "flat_window_h")) * 3600,
            flat_sigma_max=float(p("OBD-EMU", "flat_sigma_ppm")),
            fuel_density=float(p("OBD-NOX-WIN", "fuel_density")),
            u_nox=float(p("OBD-NOX-WIN", "u_nox")),
            window_work_per_rated_kw=float(p("OBD-NOX-WIN", "window_work_per_rated_kw")),
            min_power_share=float(p("OBD-NOX-WIN", "min_power_share")),
            sig_required=bool(p("OBD-SIG", "required")),
        )


_PARAMS: dict[tuple[str, str], Params] = {}


# ------------------------------------------------------------------------------ entry points


def _day_bounds(t: float) -> tuple[str, float, float]:
    """The Beijing day of epoch seconds ``t`` and its [start, end) in epoch seconds."""
    local = datetime.fromtimestamp(t, BEIJING)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    s0 = start.timestamp()
    return start.date().isoformat(), s0, s0 + 86400.0


def _utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


_COL = {name: i for i, name in enumerate(NUMERIC_FIELDS)}
_KM_PER_RAD = 6371.0088  # the radius of haversine_km


def on_samples(state: State, batch: ObdSamples, c: Ctx) -> list[Exceedance]:
    """Judge one frame's records in time order. Columns, parameters and the vehicle's facts are
    read once per batch and the Beijing day once per day boundary; the per-record work is one
    loop over the columns (firing and day closing stay in their own functions)."""
    if batch.backfilled:
        return _on_backfilled(state, batch, c)
    out: list[Exceedance] = []
    P = c.params
    v = c.vehicle
    col = batch.values
    speed_c, rpm_c, torque_c, fric_c = (col[_COL[n]] for n in _PER_RECORD[:4])
    fuel_c, up_c, down_c, reag_c, air_c, scr_in_c, lon_c, lat_c = (
        col[_COL[n]] for n in _PER_RECORD[4:]
    )
    fix_c, flags_c, ids = batch.fix_valid, batch.flags, batch.event_ids
    rpm_min, gap_s, gps_max = P.running_rpm_min, P.gap_s, P.gps_max_kmh
    scr_on = v.has_scr and v.fuel == "diesel"
    scr_t_min, scr_up_min, eta_min = P.scr_inlet_min_c, P.scr_up_min_ppm, P.scr_eta_min
    u_nox, rho, ref_nm = P.u_nox, P.fuel_density, v.engine_ref_torque_nm
    win_need = v.rated_power_kw * P.window_work_per_rated_kw
    last = state["last_ts"]
    last_dt = state.get("last_dt", FIRST_STEP_S)
    last_rpm = state["last_rpm"]
    last_pos = state["last_pos"]
    d = state["d"]
    day, d0, d1 = "", 0.0, -1.0
    for i, t_ms in enumerate(batch.ts_ms):
        t = t_ms / 1000
        if last is not None and t <= last:
            continue  # a re-sent live record (already seen): stored once, judged once
        if not d0 <= t < d1:
            day, d0, d1 = _day_bounds(t)
        if day != state["day"]:
            if state["day"]:
                out += close_day(state, c)
            state["day"] = day
            d = state["d"] = _new_day()
        eid = ids[i]
        if last is None:
            dt = FIRST_STEP_S
        else:
            gap = t - last
            # a longer silence is not this record's time: it counts the vehicle's cadence
            dt = gap if gap <= MAX_STEP_S else last_dt
            if gap > gap_s:
                out += _gap(state, c, t, eid, gap, last, dt, (last_rpm or 0) > rpm_min)
        rpm = rpm_c[i]
        running = (rpm or 0) > rpm_min
        speed = speed_c[i]
        d["n"] += 1
        if not d["first_id"]:
            d["first_id"] = eid
        d["last_id"] = eid
        d["last_ts"] = t
        if running:
            d["run"] += dt
            d["run_n"] = d.get("run_n", 0) + 1
            fl = flags_c[i]
            if fl and any(f.startswith(("nox_up_ppm:", "nox_down_ppm:")) for f in fl):
                d["nox_bad"] += dt
            reagent = reag_c[i]
            if reagent is not None:
                lo, hi = d["reag_min"], d["reag_max"]
                d["reag_min"] = reagent if lo is None else min(lo, reagent)
                d["reag_max"] = reagent if hi is None else max(hi, reagent)
        if running or (speed or 0) > 0:
            d["drove"] = True
        # OBD-GPS: invalid fixes and jumps (haversine only when a cheap bound could exceed)
        lon, lat = lon_c[i], lat_c[i]
        if not fix_c[i] or lon is None or lat is None:
            d["gps_bad"] += 1
        else:
            if last_pos is not None and 0 < t - last_pos[2] <= 60:
                el = t - last_pos[2]
                bound = _KM_PER_RAD * math.radians(abs(lat - last_pos[1]) + abs(lon - last_pos[0]))
                if bound / el * 3600 * 1.000001 > gps_max:
                    kmh = haversine_km(last_pos[0], last_pos[1], lon, lat) / el * 3600
                    if kmh > gps_max:
                        d["gps_jumps"] += 1
            last_pos = [lon, lat, t]
        up, down = up_c[i], down_c[i]
        # OBD-SCR: low efficiency while hot
        if scr_on:
            t_in = scr_in_c[i]
            if (
                t_in is not None
                and up is not None
                and down is not None
                and t_in >= scr_t_min
                and up >= scr_up_min
            ):
                eta = scr_efficiency(up, down)
                if eta is not None and eta < eta_min:
                    d["scr_low_s"] += dt
                    d["scr_eta_sum"] += eta * dt
                    if not d["scr_first"]:
                        d["scr_first"] = eid
                    if not d["scr_fired"] and d["scr_low_s"] >= P.scr_need_s:
                        out += _scr_fire(state, c, t, eid)
        # OBD-EMU: a flat NOx sensor while driving
        if speed is not None and speed > 0:
            f = state["flat"]
            f["n"] += 1
            f["s"] = f.get("s", 0.0) + dt
            if not f["first"]:
                f["first"] = eid
            if up is not None:
                _welford(f["up"], up)
            if down is not None:
                _welford(f["down"], down)
            if f["s"] >= P.flat_need_s:
                out += _flat_fire(state, c, t, eid)
        # NOx mass (g in this record's Δt), distance and work windows
        air, fuel = air_c[i], fuel_c[i]
        if down is not None and air is not None and fuel is not None:
            m = nox_mass_g_s(down, air, fuel, u_nox, rho) * dt
            if speed is not None and speed > 0.1:
                d["mass_g"] += m
                d["dist_km"] += speed * dt / 3600
            torque, friction = torque_c[i], fric_c[i]
            if torque is not None and friction is not None and rpm is not None:
                p_kw = engine_power_kw(torque, friction, ref_nm, rpm)
                w = state["win"]
                w["mass_g"] += m
                w["work_kwh"] += p_kw * dt / 3600
                w["n"] += 1
                w["s"] = w.get("s", 0.0) + dt
                if not w["first"]:
                    w["first"] = eid
                if w["work_kwh"] >= win_need:
                    _window_close(state, c)
        if P.sig_required:
            out += _sig(state, batch, c, t, eid)
        last, last_dt, last_rpm = t, dt, rpm
    state["last_ts"] = last
    state["last_dt"] = last_dt
    state["last_rpm"] = last_rpm
    state["last_pos"] = last_pos
    return out


_PER_RECORD = (
    "speed_kmh",
    "rpm",
    "torque_pct",
    "friction_pct",
    "fuel_lph",
    "nox_up_ppm",
    "nox_down_ppm",
    "reagent_pct",
    "air_kgh",
    "scr_in_c",
    "lon",
    "lat",
)


def _on_backfilled(state: State, batch: ObdSamples, c: Ctx) -> list[Exceedance]:
    """Re-issued records: OBD-BACKFILL, and they fill the open day's running time."""
    out: list[Exceedance] = []
    rpm_min = c.params.running_rpm_min
    rpm_c = batch.value("rpm")
    day, d0, d1 = "", 0.0, -1.0
    prev_t: float | None = None
    for i, t_ms in enumerate(batch.ts_ms):
        t = t_ms / 1000
        if not d0 <= t < d1:
            day, d0, d1 = _day_bounds(t)
        out += _backfill(state, batch, c, t, batch.event_ids[i], day)
        dt = min(max(t - prev_t, 0.0), MAX_STEP_S) if prev_t is not None else FIRST_STEP_S
        prev_t = t
        if day == state["day"]:
            d = state["d"]
            d["n"] += 1
            if (rpm_c[i] or 0) > rpm_min:
                d["run"] += dt
                d["missing"] = max(0.0, d["missing"] - dt)
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


def _gap(
    state: State,
    c: Ctx,
    t: float,
    eid: str,
    gap: float,
    last: float,
    dt: float,
    was_running: bool,
) -> list[Exceedance]:
    """A gap longer than OBD-GAP's ``gap_s`` before the record at ``t``."""
    P = c.params
    out: list[Exceedance] = []
    since = _utc(last)
    if was_running:
        state["d"]["missing"] += gap - dt
        out.append(
            c.fire(
                "OBD-GAP",
                _utc(t),
                measured=gap,
                limit=P.gap_s,
                unit="s",
                evidence=[eid],
                detail={"since": since.isoformat()},
            )
        )
    if gap > P.lost_s or (gap > P.offline_s and was_running):
        sev = "alarm" if gap > P.lost_s else "warning"
        out.append(
            c.fire(
                "OBD-OFFLINE",
                _utc(t),
                measured=gap / 3600,
                limit=(P.lost_s if sev == "alarm" else P.offline_s) / 3600,
                unit="h",
                evidence=[eid],
                severity=sev,
                detail={"since": since.isoformat(), "engine_running_at_loss": was_running},
            )
        )
    return out


def _backfill(
    state: State, batch: ObdSamples, c: Ctx, t: float, eid: str, day: str
) -> list[Exceedance]:
    window_h = float(c.p("OBD-BACKFILL", "window_h"))
    late_h = (batch.received_at.timestamp() - t) / 3600
    if late_h <= window_h or day in state["late_days"]:
        return []
    state["late_days"] = [*state["late_days"][-9:], day]
    return [
        c.fire(
            "OBD-BACKFILL",
            _utc(t),
            measured=late_h,
            limit=window_h,
            unit="h",
            evidence=[eid],
            flags=["late_beyond_window"],
            window=day,
        )
    ]


def _scr_fire(state: State, c: Ctx, t: float, eid: str) -> list[Exceedance]:
    """OBD-SCR: the day's low-efficiency time reached ``min_minutes_per_day`` (once a day)."""
    d = state["d"]
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
            _utc(t),
            measured=round(d["scr_eta_sum"] / d["scr_low_s"], 4),
            limit=c.params.scr_eta_min,
            unit="1",
            evidence=[d["scr_first"], eid],
            severity=sev,
            window=day,
            detail={
                "low_efficiency_s": d["scr_low_s"],
                "days_in_window": len(days),
                "inlet_temp_min_c": c.p("OBD-SCR", "inlet_temp_min_c"),
            },
        )
    ]


def _flat_fire(state: State, c: Ctx, t: float, eid: str) -> list[Exceedance]:
    """OBD-EMU (flat sensor): a window of ``flat_window_h`` of driving is full; judge and reset."""
    f = state["flat"]
    out = []
    sigma_max = c.params.flat_sigma_max
    for sensor in ("down", "up"):
        acc = f[sensor]
        if acc[0] >= 0.9 * f["n"] and _std(acc) < sigma_max:
            out.append(
                c.fire(
                    "OBD-EMU",
                    _utc(t),
                    measured=round(_std(acc), 4),
                    limit=sigma_max,
                    unit="ppm",
                    evidence=[f["first"], eid],
                    window=f"flat_{sensor}",
                    detail={
                        "pattern": "nox_sensor_flat",
                        "sensor": sensor,
                        "records": f["n"],
                        "seconds": f["s"],
                        "mean_ppm": round(acc[1], 3),
                    },
                )
            )
    state["flat"] = _new_flat()
    return out


def _window_close(state: State, c: Ctx) -> None:
    """A work window reached its reference work: keep its g/kWh if it was a valid window."""
    w = state["win"]
    rated = c.vehicle.rated_power_kw
    mean_kw = w["work_kwh"] / (w["s"] / 3600)
    if mean_kw > c.params.min_power_share * rated:
        state["d"]["windows"].append(round(w["mass_g"] * 1000 / w["work_kwh"], 3))
    state["win"] = _new_window()


def _sig(state: State, batch: ObdSamples, c: Ctx, t: float, eid: str) -> list[Exceedance]:
    if batch.signature not in ("absent", "invalid") or state["d"]["sig_fired"]:
        return []
    state["d"]["sig_fired"] = True
    return [
        c.fire(
            "OBD-SIG",
            _utc(t),
            measured=None,
            limit=None,
            unit="",
            evidence=[eid, batch.frame_id],
            window=state["day"],
            detail={"signature": batch.signature},
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
    if d.get("run_n", d["run"]) >= int(c.p("OBD-EMU", "min_records")):
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
                        "running_s": d["run"],
                        "missing_running_s": d["missing"],
                        "consecutive_days": streak["dq"],
                    },
                )
            )
        else:
            streak["dq"] = 0
    return out

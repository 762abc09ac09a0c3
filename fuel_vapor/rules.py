"""Vapour-recovery compliance rules (GB 20952-2020 App. E as implemented, GB 20950, sensor anomalies).

Pure: no clock, no IO. Every judgement takes event times; state lives in plain JSON-serialisable
dicts (the processor keeps one per key, a Faust table in production). The same functions serve the
incremental processors and ``recompute_nozzle``/``recompute_station``, which rebuild every alarm from
raw data: the device's own alarm flags are never trusted, only compared (FV-FLAGMISMATCH).

Per-fuelling verdict (vapor_field_codes.md §6): < store_min L not counted; < min_volume_l "under
min"; A/L in [al_lower, al_upper] "in band"; out of band, first match wins: fuel flow < 10 L/min
"slow dispenser" (FV-SLOW, excluded from the pass rate), vapour flow < 1 L/min "pump fault"
(FV-PUMP), vapour flow < 10 L/min "slow vapour", otherwise "out of band".

Per nozzle per Beijing day: pass rate = in band / valid; a day with <= pool_max_valid valid fuellings
is pooled with the following days until the pool holds more; pass rate < 75 % is an exceedance day;
1-4 consecutive exceedance days = warning, >= 5 = alarm (idle and pooling days leave the streak as
it is; a passing day resets it). A day is closed when the first event of a later day arrives for the
same key (known limit: an idle nozzle's last day closes only with its next fuelling).

Known limits: late events for an already closed day are counted (``late``) but not re-judged; the
shield test needs >= 200 valid fuellings per nozzle; ambient baselines need >= 24 hourly means.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from core.exceedance import Exceedance, fire
from core.ruleset import Rule, RuleSet
from core.timeutil import BEIJING
from fuel_vapor.events import (
    DepotReading,
    DeviceAlarm,
    Fuelling,
    NozzleDay,
    SensorReading,
    StationReading,
    StationState,
)

SOURCE = "fuel_vapor"
MAX_EVIDENCE = 20

# What an operator should check first when a rule fires (shown on the station page).
HINTS: dict[str, str] = {
    "FV-AL-DAY": "A/L out of band on this nozzle today: check the vapour-recovery nozzle boot, the "
    "vapour hose and the proportional valve; compare with the other nozzles on the dispenser.",
    "FV-AL-WARN": "Consecutive A/L exceedance days: have the vapour-recovery system serviced and an "
    "A/L test (GB 20952 App. C) done before the 5th day raises an alarm.",
    "FV-AL-ALARM": "A/L alarm: stop or repair the nozzle, run an A/L test after repair and keep the "
    "service record for the bureau.",
    "FV-AL-NODATA": "Too few valid (>= 15 L) fuellings to judge A/L: check that the nozzle is in use "
    "and that the controller reports every fuelling.",
    "FV-ZP": "Tank pressure stays near zero: the system is open or leaking - check tank caps, "
    "unloading and vapour-return couplings, P/V valve seat and the tightness (App. B).",
    "FV-PV": "Tank pressure beyond the P/V valve setting: check whether the P/V valve is stuck or "
    "blocked and whether the processing unit starts at its setpoint.",
    "FV-LR": "Liquid resistance above the curve: check the vapour line for liquid (condensate) and "
    "low points; drain and re-test liquid resistance (App. A).",
    "FV-PROC": "Processing-unit outlet high: check the unit's adsorbent/membrane, its start and stop "
    "pressures and the outlet sensor calibration.",
    "FV-SLOW": "Dispenser delivers under 10 L/min: check the dispenser filter and pump; these "
    "fuellings are not counted as A/L failures.",
    "FV-PUMP": "Vapour flow below 1 L/min while fuelling: check the vacuum pump, its fuse and drive, "
    "and the vapour flow meter.",
    "FV-IDLE": "No fuelling for a long time: confirm the nozzle is out of service in the registry.",
    "FV-UNIT": "A/L value outside 0-3 after unit normalisation: check the controller's A/L unit.",
    "FV-FLAGMISMATCH": "Device alarm flags say normal while the raw data show a warning or alarm: "
    "check the controller configuration for a shield (屏蔽) setting.",
    "FV-SHIELD": "A/L values look synthetic (uniform in band / too regular): check the controller "
    "firmware and configuration for a shield mode; keep the raw data for the bureau.",
    "FV-ISD-CMP": "CARB ISD-style comparison failed (information only).",
    "OD-PROC": "Depot processing unit: check outlet concentration sensor and unit efficiency.",
    "OD-TRUCK": "Tank-truck compartment pressure high while loading: check the vapour-return hose "
    "and the truck's P/V vent.",
    "AMB-VOC": "Ambient VOC anomaly: check recent unloading, leaks at the unloading area and tank "
    "vents; a sampling request follows repeated events.",
    "AMB-NOX": "Ambient NO2 above the hourly benchmark: context only (traffic, generators).",
    "GW-SENSOR": "Groundwater VOC/petroleum anomaly: check the monitoring well, tank and pipe "
    "leak detection; lab sampling requested.",
}


def _p(rule: Rule, name: str) -> float:
    return float(rule.param(name))


def day_of(ts: datetime) -> date:
    """The Beijing calendar day of an instant (day boundaries are Beijing midnight)."""
    return ts.astimezone(BEIJING).date()


def day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=BEIJING)


def day_end(day: date) -> datetime:
    """The last millisecond of a Beijing day: the time stamp of a day's judgement."""
    return day_start(day) + timedelta(days=1) - timedelta(milliseconds=1)


def _fire(
    rule: Rule,
    ts: datetime,
    subject_kind: str,
    subject_id: str,
    jurisdiction: str,
    device_id: str,
    measured: float | None,
    limit: float | None,
    unit: str,
    *,
    evidence: Iterable[str] = (),
    detail: Mapping[str, Any] | None = None,
    window: str = "",
    severity: str | None = None,
    flags: Iterable[str] = (),
) -> Exceedance:
    d = {"hint": HINTS.get(rule.id, ""), **(detail or {})}
    return fire(
        rule=rule,
        ts=ts,
        source=SOURCE,
        subject_kind=subject_kind,
        subject_id=subject_id,
        jurisdiction=jurisdiction,
        device_id=device_id,
        measured=None if measured is None else float(measured),
        limit=limit,
        unit=unit,
        evidence=list(evidence)[:MAX_EVIDENCE],
        quality_flags=flags,
        severity=severity,
        detail=d,
        window=window,
    )


# ---------------------------------------------------------------- per-fuelling verdicts


@dataclass(frozen=True, slots=True)
class FuellingParams:
    min_volume_l: float
    store_min_l: float
    al_lower: float
    al_upper: float
    slow_fuel_lpm: float
    pump_vapour_lpm: float
    slow_vapour_lpm: float
    exclude_slow: bool

    @classmethod
    def from_ruleset(cls, rs: RuleSet) -> FuellingParams:
        day = rs.rule("FV-AL-DAY")
        pump = rs.rule("FV-PUMP")
        return cls(
            min_volume_l=_p(day, "min_volume_l"),
            store_min_l=_p(day, "store_min_volume_l"),
            al_lower=_p(day, "al_lower"),
            al_upper=_p(day, "al_upper"),
            slow_fuel_lpm=_p(rs.rule("FV-SLOW"), "max_fuel_flow_lpm"),
            pump_vapour_lpm=_p(pump, "max_vapour_flow_lpm"),
            slow_vapour_lpm=_p(pump, "slow_vapour_flow_lpm"),
            exclude_slow=bool(day.param("exclude_slow_dispenser")),
        )


VERDICTS = (
    "not_counted",
    "under_min",
    "no_al",
    "in_band",
    "slow_dispenser",
    "pump_fault",
    "slow_vapour",
    "out_of_band",
)


def classify(
    al: float | None,
    fuel_volume_l: float | None,
    fuel_flow_lpm: float | None,
    vapour_flow_lpm: float | None,
    p: FuellingParams,
) -> str:
    """The verdict of one fuelling (see module docstring for the order)."""
    if fuel_volume_l is None or fuel_volume_l < p.store_min_l:
        return "not_counted"
    if fuel_volume_l < p.min_volume_l:
        return "under_min"
    if al is None:
        return "no_al"
    if p.al_lower <= al <= p.al_upper:
        return "in_band"
    if fuel_flow_lpm is not None and fuel_flow_lpm < p.slow_fuel_lpm:
        return "slow_dispenser"
    if vapour_flow_lpm is not None and vapour_flow_lpm < p.pump_vapour_lpm:
        return "pump_fault"
    if vapour_flow_lpm is not None and vapour_flow_lpm < p.slow_vapour_lpm:
        return "slow_vapour"
    return "out_of_band"


def counts_for_pass_rate(verdict: str, p: FuellingParams) -> bool:
    if verdict in ("not_counted", "under_min", "no_al"):
        return False
    return not (verdict == "slow_dispenser" and p.exclude_slow)


# ---------------------------------------------------------------- statistics helpers


def ks_uniform_p(values: Sequence[float], lo: float, hi: float) -> float:
    """p-value of a one-sample Kolmogorov-Smirnov test of ``values`` against uniform [lo, hi]."""
    from scipy import stats  # lazy: only the shield check needs it

    return float(stats.kstest(list(values), "uniform", args=(lo, hi - lo)).pvalue)


def isd_state(n: int, total: float, lower: float, upper: float, min_n: int) -> str:
    if n < min_n:
        return "insufficient"
    mean = total / n
    return "pass" if lower <= mean <= upper else "fail"


# ---------------------------------------------------------------- nozzle tracker


def _new_day(day: date) -> dict[str, Any]:
    return {
        "day": day.isoformat(),
        "n": 0,
        "v": {k: 0 for k in VERDICTS},
        "valid": 0,
        "pass": 0,
        "above": 0,
        "below": 0,
        "al_sum": 0.0,
        "ids": [],
        "fail_ids": [],
        "exact": 0,
        "pairs": 0,
        "dev_max": None,
    }


class NozzleRules:
    """A/L compliance of one nozzle: feed fuellings and device flags in time order."""

    def __init__(self, rs: RuleSet) -> None:
        self.rs = rs
        self.p = FuellingParams.from_ruleset(rs)
        self.r_day = rs.rule("FV-AL-DAY")
        self.r_warn = rs.rule("FV-AL-WARN")
        self.r_alarm = rs.rule("FV-AL-ALARM")
        self.r_nodata = rs.rule("FV-AL-NODATA")
        self.r_pump = rs.rule("FV-PUMP")
        self.r_slow = rs.rule("FV-SLOW")
        self.r_lr = rs.rule("FV-LR")
        self.r_idle = rs.rule("FV-IDLE")
        self.r_flag = rs.rule("FV-FLAGMISMATCH")
        self.r_shield = rs.rule("FV-SHIELD")
        self.r_isd = rs.rule("FV-ISD-CMP")
        self.pass_limit = rs.strictest("FV-AL-DAY").value
        self.alarm_days = int(self.r_alarm.param("alarm_days"))
        self.case_after = int(self.r_alarm.param("case_after_days"))
        self.pool_max = int(self.r_day.param("pool_max_valid"))

    # -- state ------------------------------------------------------------------------------
    @staticmethod
    def new_state(station_id: str, nozzle: int, jurisdiction: str, mn: str) -> dict[str, Any]:
        return {
            "station": station_id,
            "nozzle": nozzle,
            "jur": jurisdiction,
            "mn": mn,
            "open": None,
            "pool_valid": 0,
            "pool_pass": 0,
            "streak": 0,
            "level": "normal",
            "last_fuel_day": None,
            "week": [],  # [[day, isd_n, isd_sum, valid]] last 7 days
            "recent": [],  # recent valid A/L values (shield test)
            "exact_run": 0,
            "prev_oob": [],  # [[valid, out-of-band]] of the last closed days with fuellings
            "pump_run": 0,
            "pump_ok": 0,
            "pump_level": "normal",
            "lr_start": None,
            "lr_alarmed": False,
            "mismatch": [],
            "shield_last": None,
            "nodata": False,
            "late": 0,
        }

    def _subject(self, st: Mapping[str, Any]) -> tuple[str, str, str, str]:
        return ("nozzle", f"{st['station']}:N{st['nozzle']:02d}", st["jur"], st["mn"])

    # -- input ------------------------------------------------------------------------------
    def on_fuelling(self, st: MutableMapping[str, Any], f: Fuelling) -> list[Any]:
        out: list[Any] = []
        d = day_of(f.ts)
        out += self._advance(st, d)
        cur = st["open"]
        if cur is None or date.fromisoformat(cur["day"]) > d:
            st["late"] += 1
            return out
        if f.event_id in cur["ids"]:
            return out  # replayed event: counted once
        cur["ids"].append(f.event_id)
        cur["n"] += 1
        st["last_fuel_day"] = d.isoformat()
        verdict = classify(f.al, f.fuel_volume_l, f.fuel_flow_lpm, f.vapour_flow_lpm, self.p)
        cur["v"][verdict] += 1
        if counts_for_pass_rate(verdict, self.p):
            cur["valid"] += 1
            assert f.al is not None
            cur["al_sum"] += f.al
            if verdict == "in_band":
                cur["pass"] += 1
            elif len(cur["fail_ids"]) < MAX_EVIDENCE:
                cur["fail_ids"].append(f.event_id)
            if f.al > self.p.al_upper:
                cur["above"] += 1
            elif f.al < self.p.al_lower:
                cur["below"] += 1
            window = int(self.r_shield.param("window"))
            st["recent"] = [*st["recent"][-(window - 1) :], round(f.al, 4)]
            if f.fuel_volume_l is not None and f.vapour_volume_l is not None:
                cur["pairs"] += 1
                tol = _p(self.r_shield, "exact_tolerance_l")
                if abs(f.vapour_volume_l - f.fuel_volume_l * f.al) <= tol:
                    cur["exact"] += 1
        out += self._pump(st, f, verdict)
        out += self._liquid_resistance(st, f)
        return out

    def on_device_alarm(self, st: MutableMapping[str, Any], a: DeviceAlarm) -> list[Any]:
        if a.category != "al" or a.state < 0:
            return []
        out = self._advance(st, day_of(a.ts))
        cur = st["open"]
        if cur is not None and cur["day"] == day_of(a.ts).isoformat():
            cur["dev_max"] = a.state if cur["dev_max"] is None else max(cur["dev_max"], a.state)
        return out

    def flush(self, st: MutableMapping[str, Any], until: date) -> list[Any]:
        """Close every day before ``until`` (used by batch recomputation at the end of data)."""
        return self._advance(st, until)

    # -- per-fuelling rules -----------------------------------------------------------------
    def _pump(self, st: MutableMapping[str, Any], f: Fuelling, verdict: str) -> list[Any]:
        out = []
        kind, sid, jur, mn = self._subject(st)
        if verdict == "pump_fault":
            st["pump_run"] += 1
            st["pump_ok"] = 0
            alarm_after = int(self.r_pump.param("alarm_after"))

            def fire(window: str, severity: str | None = None) -> Any:
                return _fire(
                    self.r_pump,
                    f.ts,
                    kind,
                    sid,
                    jur,
                    mn,
                    f.vapour_flow_lpm,
                    self.p.pump_vapour_lpm,
                    "L/min",
                    evidence=[f"vapor_fuelling:{f.event_id}"],
                    detail={"consecutive": st["pump_run"]},
                    window=window,
                    severity=severity,
                )

            if st["pump_level"] == "normal":
                st["pump_level"] = "warning"
                out.append(fire("start"))
            if st["pump_run"] == alarm_after:
                st["pump_level"] = "alarm"
                out.append(fire("alarm", "alarm"))
        elif verdict == "in_band":
            st["pump_ok"] += 1
            if st["pump_ok"] >= int(self.r_pump.param("clear_after")):
                st["pump_run"] = 0
                st["pump_level"] = "normal"
        return out

    def _liquid_resistance(self, st: MutableMapping[str, Any], f: Fuelling) -> list[Any]:
        q, dp = f.vapour_flow_lpm, f.liquid_resistance_pa
        r = self.r_lr
        if q is None or dp is None or q <= _p(r, "min_flow_lpm"):
            return []
        curve = _p(r, "slope") * q + _p(r, "intercept")
        kind, sid, jur, mn = self._subject(st)
        ev = [f"vapor_fuelling:{f.event_id}"]
        if dp <= curve:
            st["lr_start"] = None
            st["lr_alarmed"] = False
            return []
        if st["lr_start"] is None:
            st["lr_start"] = f.ts.isoformat()
            return [
                _fire(
                    r,
                    f.ts,
                    kind,
                    sid,
                    jur,
                    mn,
                    dp,
                    round(curve, 1),
                    "Pa",
                    evidence=ev,
                    detail={"vapour_flow_lpm": q},
                    window="start",
                )
            ]
        started = datetime.fromisoformat(st["lr_start"])
        if not st["lr_alarmed"] and f.ts - started >= timedelta(hours=_p(r, "alarm_hours")):
            st["lr_alarmed"] = True
            return [
                _fire(
                    r,
                    f.ts,
                    kind,
                    sid,
                    jur,
                    mn,
                    dp,
                    round(curve, 1),
                    "Pa",
                    evidence=ev,
                    detail={"since": st["lr_start"], "vapour_flow_lpm": q},
                    window="alarm",
                    severity="alarm",
                )
            ]
        return []

    # -- day closing ------------------------------------------------------------------------
    def _advance(self, st: MutableMapping[str, Any], d: date) -> list[Any]:
        cur = st["open"]
        if cur is None:
            st["open"] = _new_day(d)
            return []
        open_day = date.fromisoformat(cur["day"])
        if d <= open_day:
            return []
        out = self._close(st, cur)
        idle_days = int(self.r_idle.param("idle_days"))
        gap = (d - open_day).days - 1
        day = open_day + timedelta(days=1)
        for i in range(gap):
            if i >= idle_days:
                break
            out += self._close(st, _new_day(day))
            day += timedelta(days=1)
        if gap >= idle_days:
            kind, sid, jur, mn = self._subject(st)
            out.append(
                _fire(
                    self.r_idle,
                    day_end(open_day + timedelta(days=idle_days)),
                    kind,
                    sid,
                    jur,
                    mn,
                    float(gap),
                    float(idle_days),
                    "days",
                    window="idle",
                )
            )
            for k in ("pool_valid", "pool_pass", "streak"):
                st[k] = 0
            st["level"] = "normal"
            st["week"] = []
            st["prev_oob"] = []
        st["open"] = _new_day(d)
        return out

    def _close(self, st: MutableMapping[str, Any], cur: Mapping[str, Any]) -> list[Any]:
        out: list[Any] = []
        day = date.fromisoformat(cur["day"])
        kind, sid, jur, mn = self._subject(st)
        ts = day_end(day)
        level_before = st["level"]
        valid, passed = cur["valid"], cur["pass"]
        st["pool_valid"] += valid
        st["pool_pass"] += passed
        pooled = st["pool_valid"]
        pass_rate = None
        if cur["n"] == 0 and valid == 0:
            state = "idle"
        elif pooled <= self.pool_max:
            state = "pooling"
        else:
            pass_rate = st["pool_pass"] / pooled
            state = "exceed" if pass_rate < self.pass_limit else "pass"
            st["pool_valid"] = st["pool_pass"] = 0
        if state == "exceed":
            st["streak"] += 1
        elif state == "pass":
            st["streak"] = 0
        streak = st["streak"]
        st["level"] = (
            "alarm" if streak >= self.alarm_days else "warning" if streak >= 1 else "normal"
        )
        nd_id = NozzleDay.make_id(st["station"], st["nozzle"], day)
        ev = [f"vapor_nozzle_day:{nd_id}", *(f"vapor_fuelling:{i}" for i in cur["fail_ids"])]
        # ISD comparison and the 7-day window
        isd = self.r_isd
        st["week"] = [w for w in st["week"] if (day - date.fromisoformat(w[0])).days < 7]
        st["week"].append([day.isoformat(), valid, cur["al_sum"], valid])
        isd_daily = isd_state(
            valid,
            cur["al_sum"],
            _p(isd, "daily_lower"),
            _p(isd, "daily_upper"),
            int(isd.param("daily_min")),
        )
        wn = sum(w[1] for w in st["week"])
        isd_weekly = isd_state(
            wn,
            sum(w[2] for w in st["week"]),
            _p(isd, "weekly_lower"),
            _p(isd, "weekly_upper"),
            int(isd.param("weekly_min")),
        )
        # FV-AL-NODATA: <= max_valid valid fuellings over the last window_days days
        nodata_window = int(self.r_nodata.param("window_days"))
        recent_valid = sum(
            w[3] for w in st["week"] if (day - date.fromisoformat(w[0])).days < nodata_window
        )
        tracked_days = len(st["week"])
        nodata = tracked_days >= nodata_window and recent_valid <= int(
            self.r_nodata.param("max_valid")
        )
        if nodata and state in ("pooling", "idle"):
            state = "insufficient"
        out.append(
            NozzleDay(
                event_id=nd_id,
                ts=day_start(day),
                day=day,
                station_id=st["station"],
                nozzle=st["nozzle"],
                jurisdiction=jur,
                fuellings=cur["n"],
                valid=valid,
                under_min=cur["v"]["under_min"],
                slow_dispenser=cur["v"]["slow_dispenser"],
                pump_fault=cur["v"]["pump_fault"],
                slow_vapour=cur["v"]["slow_vapour"],
                in_band=passed,
                above=cur["above"],
                below=cur["below"],
                mean_al=round(cur["al_sum"] / valid, 4) if valid else None,
                pass_rate=None if pass_rate is None else round(pass_rate, 4),
                pooled_valid=pooled,
                state=state,
                streak=streak,
                level=st["level"],
                isd_daily=isd_daily,
                isd_weekly=isd_weekly,
                ruleset_version=self.rs.version,
            )
        )
        w = day.isoformat()
        detail = {
            "day": w,
            "valid": valid,
            "in_band": passed,
            "pooled_valid": pooled,
            "streak": streak,
            "above": cur["above"],
            "below": cur["below"],
        }
        if state == "exceed":
            out.append(
                _fire(
                    self.r_day,
                    ts,
                    kind,
                    sid,
                    jur,
                    mn,
                    pass_rate,
                    self.pass_limit,
                    "fraction",
                    evidence=ev,
                    detail=detail,
                    window=w,
                )
            )
            if 1 <= streak < self.alarm_days:
                out.append(
                    _fire(
                        self.r_warn,
                        ts,
                        kind,
                        sid,
                        jur,
                        mn,
                        float(streak),
                        float(self.alarm_days),
                        "days",
                        evidence=ev,
                        detail=detail,
                        window=w,
                    )
                )
            elif streak == self.alarm_days or (
                streak > self.alarm_days and (streak - self.alarm_days) % self.case_after == 0
            ):
                sev = "alarm" if streak == self.alarm_days else "case"
                out.append(
                    _fire(
                        self.r_alarm,
                        ts,
                        kind,
                        sid,
                        jur,
                        mn,
                        float(streak),
                        float(self.alarm_days),
                        "days",
                        evidence=ev,
                        detail=detail,
                        window=w,
                        severity=sev,
                    )
                )
        if cur["v"]["slow_dispenser"]:
            out.append(
                _fire(
                    self.r_slow,
                    ts,
                    kind,
                    sid,
                    jur,
                    mn,
                    float(cur["v"]["slow_dispenser"]),
                    None,
                    "fuellings",
                    evidence=[f"vapor_nozzle_day:{nd_id}"],
                    detail={"day": w},
                    window=w,
                )
            )
        if nodata and not st["nodata"]:
            out.append(
                _fire(
                    self.r_nodata,
                    ts,
                    kind,
                    sid,
                    jur,
                    mn,
                    float(recent_valid),
                    float(self.r_nodata.param("max_valid")),
                    "fuellings",
                    evidence=[f"vapor_nozzle_day:{nd_id}"],
                    detail={"day": w},
                    window=w,
                )
            )
        st["nodata"] = nodata
        if (isd_daily == "fail" or isd_weekly == "fail") and bool(isd.param("enabled")):
            out.append(
                _fire(
                    isd,
                    ts,
                    kind,
                    sid,
                    jur,
                    mn,
                    round(cur["al_sum"] / valid, 4) if valid else None,
                    None,
                    "ratio",
                    evidence=[f"vapor_nozzle_day:{nd_id}"],
                    detail={"daily": isd_daily, "weekly": isd_weekly},
                    window=w,
                )
            )
        out += self._flag_mismatch(st, cur, day, level_before, nd_id)
        out += self._shield(st, cur, day, nd_id)
        return out

    def _flag_mismatch(
        self,
        st: MutableMapping[str, Any],
        cur: Mapping[str, Any],
        day: date,
        level_before: str,
        nd_id: str,
    ) -> list[Any]:
        """Device said 0 all day while the state entering the day was warning or alarm."""
        r = self.r_flag
        window = int(r.param("window_days"))
        st["mismatch"] = [m for m in st["mismatch"] if (day - date.fromisoformat(m)).days < window]
        if cur["dev_max"] != 0 or level_before == "normal":
            return []
        st["mismatch"].append(day.isoformat())
        if len(st["mismatch"]) < int(r.param("min_days")):
            return []
        kind, sid, jur, mn = self._subject(st)
        return [
            _fire(
                r,
                day_end(day),
                kind,
                sid,
                jur,
                mn,
                float(len(st["mismatch"])),
                float(r.param("min_days")),
                "days",
                evidence=[f"vapor_nozzle_day:{nd_id}"],
                detail={
                    "days": list(st["mismatch"]),
                    "recomputed_level": level_before,
                    "device_flag": 0,
                },
                window=day.isoformat(),
                flags=["integrity"],
            )
        ]

    def _shield(
        self, st: MutableMapping[str, Any], cur: Mapping[str, Any], day: date, nd_id: str
    ) -> list[Any]:
        r = self.r_shield
        lo, hi = _p(r, "al_lower"), _p(r, "al_upper")
        checks: dict[str, Any] = {}
        values = st["recent"]
        if len(values) >= int(r.param("min_valid")):
            if all(lo <= v < hi for v in values):
                pv = ks_uniform_p(values, lo, hi)
                if pv > _p(r, "ks_p"):
                    checks["uniform_in_band"] = round(pv, 4)
            mean = sum(values) / len(values)
            if all(abs(v - mean) < 1e-12 for v in values):
                checks["zero_variance"] = mean
        st["exact_run"] = st["exact_run"] + cur["exact"] if cur["exact"] == cur["pairs"] else 0
        if cur["pairs"] and st["exact_run"] >= int(r.param("min_valid")):
            checks["vapour_equals_fuel_x_al"] = st["exact_run"]
        valid = cur["valid"]
        oob = valid - cur["pass"]
        # out-of-band share: > drop_from over the baseline days, then 0 on drop_zero_days days in a row
        if valid:
            zero_days = int(r.param("drop_zero_days"))
            hist = [*st["prev_oob"], [valid, oob]][
                -(zero_days + int(r.param("drop_baseline_days"))) :
            ]
            st["prev_oob"] = hist
            need = int(r.param("drop_min_valid"))
            recent, base = hist[-zero_days:], hist[:-zero_days]
            bv = sum(h[0] for h in base)
            if (
                len(recent) == zero_days
                and all(h[0] >= need and h[1] == 0 for h in recent)
                and bv >= int(r.param("drop_baseline_min_valid"))
                and sum(h[1] for h in base) / bv > _p(r, "drop_from")
            ):
                checks["out_of_band_share_dropped"] = round(sum(h[1] for h in base) / bv, 4)
        if not checks:
            return []
        last = st["shield_last"]
        if last is not None and (day - date.fromisoformat(last)).days < 7:
            return []
        st["shield_last"] = day.isoformat()
        kind, sid, jur, mn = self._subject(st)
        return [
            _fire(
                r,
                day_end(day),
                kind,
                sid,
                jur,
                mn,
                float(len(values)),
                float(r.param("min_valid")),
                "fuellings",
                evidence=[f"vapor_nozzle_day:{nd_id}"],
                detail={"checks": checks},
                window=day.isoformat(),
                flags=["integrity"],
            )
        ]


# ---------------------------------------------------------------- station tracker


class StationRules:
    """Tank pressure (zero pressure, P/V), processing-unit outlet and the device's station flags."""

    def __init__(self, rs: RuleSet) -> None:
        self.rs = rs
        self.r_zp = rs.rule("FV-ZP")
        self.r_pv = rs.rule("FV-PV")
        self.r_proc = rs.rule("FV-PROC")
        self.r_flag = rs.rule("FV-FLAGMISMATCH")
        self.proc_limit = rs.strictest("FV-PROC").value

    @staticmethod
    def new_state(
        station_id: str, jurisdiction: str, mn: str, pv_pos: float, pv_neg: float
    ) -> dict[str, Any]:
        return {
            "station": station_id,
            "jur": jurisdiction,
            "mn": mn,
            "pv": [pv_pos, pv_neg],
            "day": None,
            "zp_run_start": None,
            "last_ts": None,
            "zp_longest_h": 0.0,
            "zp_streak": 0,
            "pv_start": None,
            "pv_alarmed": False,
            "pv_level_day": "normal",
            "proc_run": 0,
            "proc_warned": False,
            "proc_hour": None,
            "proc_sum": 0.0,
            "proc_n": 0,
            "proc_level_day": "normal",
            "dev": {},
            "zp_level": "normal",
            "mismatch": [],
        }

    def on_reading(self, st: MutableMapping[str, Any], r: StationReading) -> list[Any]:
        out = self._advance(st, r.ts)
        if r.pv_positive_pa is not None and r.pv_negative_pa is not None and r.pv_positive_pa > 0:
            st["pv"] = [r.pv_positive_pa, r.pv_negative_pa]
        if r.tank_pressure_pa is not None:
            out += self._zero_pressure_sample(st, r.ts, r.tank_pressure_pa)
            out += self._pv(st, r)
        if r.proc_outlet_g_m3 is not None and r.proc_outlet_g_m3 > 0:
            out += self._proc(st, r)
        st["last_ts"] = r.ts.isoformat()
        return out

    def on_device_alarm(self, st: MutableMapping[str, Any], a: DeviceAlarm) -> list[Any]:
        if a.nozzle != 0 or a.state < 0:
            return []
        out = self._advance(st, a.ts)
        prev = st["dev"].get(a.category)
        st["dev"][a.category] = a.state if prev is None else max(prev, a.state)
        return out

    def flush(self, st: MutableMapping[str, Any], until: date) -> list[Any]:
        return self._advance(st, day_start(until))

    def _subject(self, st: Mapping[str, Any]) -> tuple[str, str, str, str]:
        return ("station", st["station"], st["jur"], st["mn"])

    # zero pressure: longest continuous |P| < band within the day, runs cut at midnight and gaps
    def _zero_pressure_sample(
        self, st: MutableMapping[str, Any], ts: datetime, p: float
    ) -> list[Any]:
        band = _p(self.r_zp, "band_pa")
        gap = timedelta(minutes=_p(self.r_zp, "max_gap_min"))
        last = None if st["last_ts"] is None else datetime.fromisoformat(st["last_ts"])
        if abs(p) < band:
            if st["zp_run_start"] is None or last is None or ts - last > gap:
                st["zp_run_start"] = ts.isoformat()
            start = datetime.fromisoformat(st["zp_run_start"])
            st["zp_longest_h"] = max(st["zp_longest_h"], (ts - start).total_seconds() / 3600)
        else:
            st["zp_run_start"] = None
        return []

    def _pv(self, st: MutableMapping[str, Any], r: StationReading) -> list[Any]:
        rule = self.r_pv
        margin = _p(rule, "margin_pa")
        pos, neg = st["pv"]
        p = r.tank_pressure_pa
        assert p is not None
        hi, lo = pos + margin, neg - margin
        kind, sid, jur, mn = self._subject(st)
        ev = [f"vapor_station_reading:{r.event_id}"]
        if lo <= p <= hi:
            st["pv_start"] = None
            st["pv_alarmed"] = False
            return []
        limit = hi if p > hi else lo
        if st["pv_start"] is None:
            st["pv_start"] = r.ts.isoformat()
            st["pv_level_day"] = max(st["pv_level_day"], "warning", key=_LEVEL.index)
            return [
                _fire(
                    rule,
                    r.ts,
                    kind,
                    sid,
                    jur,
                    mn,
                    p,
                    limit,
                    "Pa",
                    evidence=ev,
                    detail={"pv_setting_pa": [pos, neg]},
                    window="start",
                )
            ]
        started = datetime.fromisoformat(st["pv_start"])
        if not st["pv_alarmed"] and r.ts - started >= timedelta(minutes=_p(rule, "sustain_min")):
            st["pv_alarmed"] = True
            st["pv_level_day"] = "alarm"
            return [
                _fire(
                    rule,
                    r.ts,
                    kind,
                    sid,
                    jur,
                    mn,
                    p,
                    limit,
                    "Pa",
                    evidence=ev,
                    detail={"since": st["pv_start"], "pv_setting_pa": [pos, neg]},
                    window="alarm",
                    severity="alarm",
                )
            ]
        return []

    def _proc(self, st: MutableMapping[str, Any], r: StationReading) -> list[Any]:
        out = []
        v = r.proc_outlet_g_m3
        assert v is not None
        kind, sid, jur, mn = self._subject(st)
        hour = r.ts.astimezone(BEIJING).replace(minute=0, second=0, microsecond=0)
        if st["proc_hour"] is not None and hour.isoformat() != st["proc_hour"]:
            out += self._close_proc_hour(st)
        if st["proc_hour"] != hour.isoformat():
            st["proc_hour"], st["proc_sum"], st["proc_n"] = hour.isoformat(), 0.0, 0
        st["proc_sum"] += v
        st["proc_n"] += 1
        if v > self.proc_limit:
            st["proc_run"] += 1
            if (
                st["proc_run"] >= int(self.r_proc.param("consecutive_reads"))
                and not st["proc_warned"]
            ):
                st["proc_warned"] = True
                st["proc_level_day"] = max(st["proc_level_day"], "warning", key=_LEVEL.index)
                out.append(
                    _fire(
                        self.r_proc,
                        r.ts,
                        kind,
                        sid,
                        jur,
                        mn,
                        v,
                        self.proc_limit,
                        "g/m3",
                        evidence=[f"vapor_station_reading:{r.event_id}"],
                        detail={"consecutive_reads": st["proc_run"]},
                        window="reads",
                    )
                )
        else:
            st["proc_run"] = 0
            st["proc_warned"] = False
        return out

    def _close_proc_hour(self, st: MutableMapping[str, Any]) -> list[Any]:
        if not st["proc_n"]:
            return []
        mean = st["proc_sum"] / st["proc_n"]
        reads = st["proc_n"]
        hour = datetime.fromisoformat(st["proc_hour"])
        st["proc_n"] = 0
        if mean <= self.proc_limit:
            return []
        st["proc_level_day"] = "alarm"
        kind, sid, jur, mn = self._subject(st)
        return [
            _fire(
                self.r_proc,
                hour + timedelta(hours=1) - timedelta(milliseconds=1),
                kind,
                sid,
                jur,
                mn,
                round(mean, 3),
                self.proc_limit,
                "g/m3",
                detail={"hour": st["proc_hour"], "reads": reads},
                window=f"hour:{st['proc_hour']}",
                severity="alarm",
            )
        ]

    def _advance(self, st: MutableMapping[str, Any], ts: datetime) -> list[Any]:
        d = day_of(ts)
        if st["day"] is None:
            st["day"] = d.isoformat()
            return []
        open_day = date.fromisoformat(st["day"])
        if d <= open_day:
            return []
        out = self._close_day(st, open_day)
        st["day"] = d.isoformat()
        return out

    def _close_day(self, st: MutableMapping[str, Any], day: date) -> list[Any]:
        out: list[Any] = []
        kind, sid, jur, mn = self._subject(st)
        ts = day_end(day)
        # a zero-pressure run still going at the last reading counts on for at most the allowed
        # data gap, never past midnight; it restarts at midnight for the next day
        if st["zp_run_start"] is not None and st["last_ts"] is not None:
            start = datetime.fromisoformat(st["zp_run_start"])
            midnight = day_start(day + timedelta(days=1))
            gap = timedelta(minutes=_p(self.r_zp, "max_gap_min"))
            end = min(midnight, datetime.fromisoformat(st["last_ts"]) + gap)
            st["zp_longest_h"] = max(st["zp_longest_h"], (end - start).total_seconds() / 3600)
            st["zp_run_start"] = midnight.isoformat() if end >= midnight else None
        zp_h = round(min(st["zp_longest_h"], 24.0), 3)
        zp_day = zp_h >= _p(self.r_zp, "min_hours")
        st["zp_streak"] = st["zp_streak"] + 1 if zp_day else 0
        level_before = st["zp_level"]
        alarm_days = int(self.r_zp.param("alarm_days"))
        st["zp_level"] = (
            "alarm" if st["zp_streak"] >= alarm_days else "warning" if zp_day else "normal"
        )
        dev = st["dev"]
        w = day.isoformat()
        out.append(
            StationState(
                event_id=StationState.make_id(sid, "zero_pressure", day),
                ts=day_start(day),
                day=day,
                station_id=sid,
                jurisdiction=jur,
                category="zero_pressure",
                level=st["zp_level"],
                value=zp_h,
                unit="h",
                streak=st["zp_streak"],
                device_state=dev.get("zero_pressure"),
                ruleset_version=self.rs.version,
            )
        )
        if zp_day:
            sev = "alarm" if st["zp_streak"] >= alarm_days else None
            out.append(
                _fire(
                    self.r_zp,
                    ts,
                    kind,
                    sid,
                    jur,
                    mn,
                    zp_h,
                    _p(self.r_zp, "min_hours"),
                    "h",
                    evidence=[
                        f"vapor_station_state:{StationState.make_id(sid, 'zero_pressure', day)}"
                    ],
                    detail={"day": w, "streak": st["zp_streak"]},
                    window=w,
                    severity=sev,
                )
            )
        for cat, key in (("pv", "pv_level_day"), ("processing", "proc_level_day")):
            out.append(
                StationState(
                    event_id=StationState.make_id(sid, cat, day),
                    ts=day_start(day),
                    day=day,
                    station_id=sid,
                    jurisdiction=jur,
                    category=cat,
                    level=st[key],
                    value=None,
                    unit="",
                    streak=0,
                    device_state=dev.get(cat if cat != "processing" else "processing"),
                    ruleset_version=self.rs.version,
                )
            )
            st[key] = (
                "alarm"
                if (cat == "pv" and st["pv_alarmed"])
                else "warning"
                if (cat == "pv" and st["pv_start"])
                else "normal"
            )
        # FV-FLAGMISMATCH for zero pressure: device says 0 while recomputed state entering the day
        r = self.r_flag
        win = int(r.param("window_days"))
        st["mismatch"] = [m for m in st["mismatch"] if (day - date.fromisoformat(m)).days < win]
        if dev.get("zero_pressure") == 0 and level_before != "normal":
            st["mismatch"].append(w)
            if len(st["mismatch"]) >= int(r.param("min_days")):
                out.append(
                    _fire(
                        r,
                        ts,
                        kind,
                        sid,
                        jur,
                        mn,
                        float(len(st["mismatch"])),
                        float(r.param("min_days")),
                        "days",
                        detail={
                            "category": "zero_pressure",
                            "days": list(st["mismatch"]),
                            "recomputed_level": level_before,
                        },
                        window=f"zp:{w}",
                        flags=["integrity"],
                    )
                )
        st["zp_longest_h"] = 0.0
        st["dev"] = {}
        return out


_LEVEL = ["normal", "warning", "alarm"]


# ---------------------------------------------------------------- sensors and depots


AMBIENT_VOC = ("nmhc_mg_m3", "thc_mg_m3", "voc_mg_m3")


class SensorRules:
    """Ambient (hourly means) and groundwater (daily means) anomaly channels (rules.md §2.6)."""

    def __init__(self, rs: RuleSet) -> None:
        self.rs = rs
        self.r_voc = rs.rule("AMB-VOC")
        self.r_nox = rs.rule("AMB-NOX")
        self.r_gw = rs.rule("GW-SENSOR")
        self.voc_limit = rs.strictest("AMB-VOC").value
        self.nox_limit = rs.strictest("AMB-NOX").value

    @staticmethod
    def new_state(sensor_id: str, kind: str, jurisdiction: str, mn: str) -> dict[str, Any]:
        return {
            "sensor": sensor_id,
            "kind": kind,
            "jur": jurisdiction,
            "mn": mn,
            "q": {},
            "events": [],
        }

    def on_reading(self, st: MutableMapping[str, Any], r: SensorReading) -> list[Any]:
        q = st["q"].setdefault(r.quantity, {"bucket": None, "sum": 0.0, "n": 0, "hist": []})
        t = r.ts.astimezone(BEIJING)
        if st["kind"] == "groundwater":
            bucket = t.date().isoformat()
        else:
            bucket = t.replace(minute=0, second=0, microsecond=0).isoformat()
        out: list[Any] = []
        if q["bucket"] is not None and bucket > q["bucket"]:
            out += self._close(st, r.quantity, q, r.unit)
        if q["bucket"] is None or bucket > q["bucket"]:
            q["bucket"], q["sum"], q["n"] = bucket, 0.0, 0
        elif bucket < q["bucket"]:
            return out  # late reading for a closed period
        q["sum"] += r.value
        q["n"] += 1
        return out

    def _close(
        self, st: MutableMapping[str, Any], quantity: str, q: MutableMapping[str, Any], unit: str
    ) -> list[Any]:
        if not q["n"]:
            return []
        mean = q["sum"] / q["n"]
        hist: list[float] = q["hist"]
        out: list[Any] = []
        sid, jur, mn = st["sensor"], st["jur"], st["mn"]
        if st["kind"] == "groundwater":
            ts = day_end(date.fromisoformat(q["bucket"]))
            r = self.r_gw
            base = hist[-int(r.param("baseline_days")) :]
            reason = None
            if len(base) >= int(r.param("baseline_min_days")):
                mu = sum(base) / len(base)
                sd = math.sqrt(sum((x - mu) ** 2 for x in base) / len(base))
                if mean > mu + _p(r, "sigma") * sd and mean > mu:
                    reason = {
                        "check": "above_baseline",
                        "baseline_mean": round(mu, 4),
                        "baseline_sd": round(sd, 4),
                    }
            k = int(r.param("rising_days"))
            seq = [*hist[-k:], mean]
            if (
                reason is None
                and len(seq) == k + 1
                and all(a < b for a, b in itertools.pairwise(seq))
            ):
                reason = {"check": "rising", "days": k}
            if reason:
                out.append(
                    _fire(
                        r,
                        ts,
                        "sensor",
                        sid,
                        jur,
                        mn,
                        round(mean, 4),
                        None,
                        unit,
                        detail={"quantity": quantity, **reason},
                        window=f"{quantity}:{q['bucket']}",
                    )
                )
            q["hist"] = (
                [*hist[-int(r.param("baseline_days")) + 1 :], mean]
                if int(r.param("baseline_days")) > 1
                else [mean]
            )
            return out
        hour = datetime.fromisoformat(q["bucket"])
        ts = hour + timedelta(hours=1) - timedelta(milliseconds=1)
        window = f"{quantity}:{q['bucket']}"
        if quantity in AMBIENT_VOC:
            r = self.r_voc
            fired: dict[str, Any] | None = None
            if quantity == "nmhc_mg_m3" and mean > self.voc_limit:
                fired = {"check": "boundary_limit", "limit": self.voc_limit}
            min_h = int(r.param("baseline_min_hours"))
            if fired is None and len(hist) >= min_h:
                p95 = sorted(hist)[min(len(hist) - 1, int(0.95 * len(hist)))]
                if p95 > 0 and mean > _p(r, "factor") * p95:
                    fired = {"check": "baseline", "baseline_p95": round(p95, 4)}
            if fired:
                events = [
                    e
                    for e in st["events"]
                    if (hour - datetime.fromisoformat(e)).days < int(r.param("window_days"))
                ]
                events.append(hour.isoformat())
                st["events"] = events
                sev = "warning" if len(events) >= int(r.param("events_for_warning")) else None
                out.append(
                    _fire(
                        r,
                        ts,
                        "sensor",
                        sid,
                        jur,
                        mn,
                        round(mean, 4),
                        fired.get("limit"),
                        unit,
                        detail={
                            "quantity": quantity,
                            "events_in_window": len(events),
                            **fired,
                            "sampling_request": sev == "warning",
                        },
                        window=window,
                        severity=sev,
                    )
                )
            if not fired:  # anomalous hours stay out of the site baseline
                keep = int(r.param("baseline_days")) * 24
                q["hist"] = [*hist[-(keep - 1) :], mean]
        elif quantity == "no2_ug_m3" and mean > self.nox_limit:
            out.append(
                _fire(
                    self.r_nox,
                    ts,
                    "sensor",
                    sid,
                    jur,
                    mn,
                    round(mean, 3),
                    self.nox_limit,
                    unit,
                    detail={"quantity": quantity},
                    window=window,
                )
            )
        return out


class DepotRules:
    """OD-PROC (outlet, efficiency) and OD-TRUCK (compartment pressure); fires on level changes."""

    def __init__(self, rs: RuleSet) -> None:
        self.r_proc = rs.rule("OD-PROC")
        self.r_truck = rs.rule("OD-TRUCK")
        self.outlet_limit = rs.strictest("OD-PROC").value

    @staticmethod
    def new_state(depot_id: str, jurisdiction: str, mn: str) -> dict[str, Any]:
        return {"depot": depot_id, "jur": jurisdiction, "mn": mn, "outlet": 0, "eff": 0, "truck": 0}

    def on_reading(self, st: MutableMapping[str, Any], r: DepotReading) -> list[Any]:
        out: list[Any] = []
        sid, jur, mn = st["depot"], st["jur"], st["mn"]
        ev = [f"vapor_depot_reading:{r.event_id}"]

        def check(
            key: str,
            level: int,
            rule: Rule,
            measured: float,
            limit: float,
            unit: str,
            sev: str | None,
        ) -> None:
            if level > st[key]:
                out.append(
                    _fire(
                        rule,
                        r.ts,
                        "depot",
                        sid,
                        jur,
                        mn,
                        measured,
                        limit,
                        unit,
                        evidence=ev,
                        detail={"check": key},
                        window=f"{key}:{level}",
                        severity=sev,
                    )
                )
            st[key] = level

        if r.outlet_g_m3 is not None:
            check(
                "outlet",
                int(r.outlet_g_m3 > self.outlet_limit),
                self.r_proc,
                r.outlet_g_m3,
                self.outlet_limit,
                "g/m3",
                None,
            )
        if r.efficiency_pct is not None:
            lim = _p(self.r_proc, "min_efficiency_pct")
            check("eff", int(r.efficiency_pct < lim), self.r_proc, r.efficiency_pct, lim, "%", None)
        if r.truck_pressure_kpa is not None:
            warn, alarm = _p(self.r_truck, "warn_kpa"), _p(self.r_truck, "alarm_kpa")
            p = r.truck_pressure_kpa
            lvl = 2 if p > alarm else 1 if p > warn else 0
            check(
                "truck",
                lvl,
                self.r_truck,
                p,
                alarm if lvl == 2 else warn,
                "kPa",
                "alarm" if lvl == 2 else None,
            )
        return out


# ---------------------------------------------------------------- batch recomputation


def recompute_nozzle(
    rs: RuleSet,
    fuellings: Iterable[Fuelling],
    device_alarms: Iterable[DeviceAlarm] = (),
    *,
    until: date | None = None,
) -> list[Any]:
    """Rebuild every daily state and exceedance of one nozzle from its raw fuellings.

    Auditors and tests call this; the processor must produce the same events incrementally.
    ``until`` closes every day before it (default: the day after the last event).
    """
    rules = NozzleRules(rs)
    events: list[Any] = sorted([*fuellings, *device_alarms], key=lambda e: (e.ts, e.KIND))
    if not events:
        return []
    first = events[0]
    st = NozzleRules.new_state(first.station_id, first.nozzle, first.jurisdiction, first.mn)
    out: list[Any] = []
    for e in events:
        out += rules.on_fuelling(st, e) if isinstance(e, Fuelling) else rules.on_device_alarm(st, e)
    out += rules.flush(st, until or day_of(events[-1].ts) + timedelta(days=1))
    return out


def recompute_station(
    rs: RuleSet,
    readings: Iterable[StationReading],
    device_alarms: Iterable[DeviceAlarm] = (),
    *,
    pv_positive_pa: float = 1000.0,
    pv_negative_pa: float = -1000.0,
    until: date | None = None,
) -> list[Any]:
    """Rebuild a station's daily states and pressure/processing-unit exceedances from raw readings
    (the device's station-level flags are only compared, never used as the verdict)."""
    rules = StationRules(rs)
    events: list[Any] = sorted([*readings, *device_alarms], key=lambda e: (e.ts, e.KIND))
    if not events:
        return []
    first = events[0]
    st = StationRules.new_state(
        first.station_id, first.jurisdiction, first.mn, pv_positive_pa, pv_negative_pa
    )
    out: list[Any] = []
    for e in events:
        out += (
            rules.on_reading(st, e)
            if isinstance(e, StationReading)
            else rules.on_device_alarm(st, e)
        )
    out += rules.flush(st, until or day_of(events[-1].ts) + timedelta(days=1))
    return out

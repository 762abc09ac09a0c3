"""A/L compliance of one nozzle (GB 20952-2020 App. E as implemented, vapor_field_codes.md §6).

Per-fuelling verdict: < store_min L not counted; < min_volume_l "under min"; A/L in
[al_lower, al_upper] "in band"; out of band, first match wins: fuel flow < 10 L/min "slow
dispenser" (FV-SLOW, excluded from the pass rate), vapour flow < 1 L/min "pump fault" (FV-PUMP),
vapour flow < 10 L/min "slow vapour", otherwise "out of band".

Per nozzle per Beijing day: pass rate = in band / valid; a day with <= pool_max_valid valid fuellings
is pooled with the following days until the pool holds more; pass rate < 75 % is an exceedance day;
1-4 consecutive exceedance days = warning, >= 5 = alarm (idle and pooling days leave the streak as
it is; a passing day resets it). A day is closed when the first event of a later day arrives for the
same key (known limit: an idle nozzle's last day closes only with its next fuelling).

Also per fuelling: vacuum pump (FV-PUMP), liquid resistance (FV-LR); per closed day: idle
(FV-IDLE), too few valid fuellings (FV-AL-NODATA), the ISD-style comparison, device flags that say
normal against the recomputed level (FV-FLAGMISMATCH) and synthetic-looking A/L (FV-SHIELD).

Known limits: late events for an already closed day are counted (``late``) but not re-judged; the
shield test needs >= 200 valid fuellings per nozzle.

What the processor keeps between events is a :class:`NozzleTrack`; it becomes a plain dict only at
the state store (``to_dict`` / ``from_dict``, the stored form of the first release).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from core.exceedance import Exceedance
from core.ruleset import Rule, RuleSet
from fuel_vapor.events import DeviceAlarm, Fuellings, NozzleDay
from fuel_vapor.rules.common import (
    MAX_EVIDENCE,
    day_end,
    day_from,
    day_of,
    day_start,
    day_text,
    fire_vapour,
    instant_from,
    instant_text,
    param,
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
            min_volume_l=param(day, "min_volume_l"),
            store_min_l=param(day, "store_min_volume_l"),
            al_lower=param(day, "al_lower"),
            al_upper=param(day, "al_upper"),
            slow_fuel_lpm=param(rs.rule("FV-SLOW"), "max_fuel_flow_lpm"),
            pump_vapour_lpm=param(pump, "max_vapour_flow_lpm"),
            slow_vapour_lpm=param(pump, "slow_vapour_flow_lpm"),
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


# ---------------------------------------------------------------- state


@dataclass(slots=True)
class DayTally:
    """The open (not yet judged) Beijing day of a nozzle. Stored as the ``open`` dict."""

    day: date
    n: int = 0  # fuellings counted, replays excluded
    verdicts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(VERDICTS, 0))
    valid: int = 0
    passed: int = 0  # valid and in band
    above: int = 0
    below: int = 0
    al_sum: float = 0.0  # over valid fuellings
    ids: list[str] = field(default_factory=list)  # event ids seen today (replays count once)
    fail_ids: list[str] = field(default_factory=list)  # evidence, at most MAX_EVIDENCE
    exact: int = 0  # fuellings whose vapour volume is exactly fuel volume x A/L
    pairs: int = 0  # fuellings that report both volumes
    dev_max: int | None = None  # the device's worst A/L flag of the day

    def to_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "n": self.n,
            "v": dict(self.verdicts),
            "valid": self.valid,
            "pass": self.passed,
            "above": self.above,
            "below": self.below,
            "al_sum": self.al_sum,
            "ids": list(self.ids),
            "fail_ids": list(self.fail_ids),
            "exact": self.exact,
            "pairs": self.pairs,
            "dev_max": self.dev_max,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DayTally:
        return cls(
            day=date.fromisoformat(d["day"]),
            n=d["n"],
            verdicts=dict(d["v"]),
            valid=d["valid"],
            passed=d["pass"],
            above=d["above"],
            below=d["below"],
            al_sum=d["al_sum"],
            ids=list(d["ids"]),
            fail_ids=list(d["fail_ids"]),
            exact=d["exact"],
            pairs=d["pairs"],
            dev_max=d["dev_max"],
        )


@dataclass(slots=True)
class WeekDay:
    """One closed day in the 7-day window (ISD weekly comparison, FV-AL-NODATA)."""

    day: date
    isd_n: int
    isd_sum: float
    valid: int

    def to_list(self) -> list[Any]:
        return [self.day.isoformat(), self.isd_n, self.isd_sum, self.valid]

    @classmethod
    def from_list(cls, w: Sequence[Any]) -> WeekDay:
        return cls(date.fromisoformat(w[0]), w[1], w[2], w[3])


@dataclass(slots=True)
class NozzleTrack:
    """What the nozzle processor remembers of one nozzle between events."""

    station_id: str
    nozzle: int
    jurisdiction: str
    mn: str
    open: DayTally | None = None
    pool_valid: int = 0
    pool_pass: int = 0
    streak: int = 0  # consecutive exceedance days
    level: str = "normal"
    last_fuel_day: date | None = None
    week: list[WeekDay] = field(default_factory=list)
    recent: list[float] = field(default_factory=list)  # recent valid A/L values (shield test)
    exact_run: int = 0
    prev_oob: list[tuple[int, int]] = field(default_factory=list)  # (valid, out of band) per day
    pump_run: int = 0
    pump_ok: int = 0
    pump_level: str = "normal"
    lr_start: datetime | None = None
    lr_alarmed: bool = False
    mismatch: list[date] = field(default_factory=list)  # days the device flag contradicted us
    shield_last: date | None = None
    nodata: bool = False
    late: int = 0  # events for an already closed day

    @property
    def subject_id(self) -> str:
        return f"{self.station_id}:N{self.nozzle:02d}"

    def to_dict(self) -> dict[str, Any]:
        """The stored form (JSON-ready; keys and text forms as the first release wrote them)."""
        return {
            "station": self.station_id,
            "nozzle": self.nozzle,
            "jur": self.jurisdiction,
            "mn": self.mn,
            "open": None if self.open is None else self.open.to_dict(),
            "pool_valid": self.pool_valid,
            "pool_pass": self.pool_pass,
            "streak": self.streak,
            "level": self.level,
            "last_fuel_day": day_text(self.last_fuel_day),
            "week": [w.to_list() for w in self.week],
            "recent": list(self.recent),
            "exact_run": self.exact_run,
            "prev_oob": [[v, o] for v, o in self.prev_oob],
            "pump_run": self.pump_run,
            "pump_ok": self.pump_ok,
            "pump_level": self.pump_level,
            "lr_start": instant_text(self.lr_start),
            "lr_alarmed": self.lr_alarmed,
            "mismatch": [d.isoformat() for d in self.mismatch],
            "shield_last": day_text(self.shield_last),
            "nodata": self.nodata,
            "late": self.late,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> NozzleTrack:
        return cls(
            station_id=d["station"],
            nozzle=d["nozzle"],
            jurisdiction=d["jur"],
            mn=d["mn"],
            open=None if d["open"] is None else DayTally.from_dict(d["open"]),
            pool_valid=d["pool_valid"],
            pool_pass=d["pool_pass"],
            streak=d["streak"],
            level=d["level"],
            last_fuel_day=day_from(d["last_fuel_day"]),
            week=[WeekDay.from_list(w) for w in d["week"]],
            recent=list(d["recent"]),
            exact_run=d["exact_run"],
            prev_oob=[(v, o) for v, o in d["prev_oob"]],
            pump_run=d["pump_run"],
            pump_ok=d["pump_ok"],
            pump_level=d["pump_level"],
            lr_start=instant_from(d["lr_start"]),
            lr_alarmed=d["lr_alarmed"],
            mismatch=[date.fromisoformat(m) for m in d["mismatch"]],
            shield_last=day_from(d["shield_last"]),
            nodata=d["nodata"],
            late=d["late"],
        )


# ---------------------------------------------------------------- rules


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

    @staticmethod
    def new_state(station_id: str, nozzle: int, jurisdiction: str, mn: str) -> NozzleTrack:
        return NozzleTrack(station_id, nozzle, jurisdiction, mn)

    # -- input ------------------------------------------------------------------------------
    def on_fuellings(self, st: NozzleTrack, b: Fuellings, i: int) -> list[Any]:
        """Row ``i`` of a packet's fuellings (the row of ``st``'s nozzle), read from its columns."""
        out: list[Any] = []
        ts = b.ts
        d = day_of(ts)
        out += self._advance(st, d)
        cur = st.open
        if cur is None or cur.day > d:
            st.late += 1
            return out
        eid = b.event_ids[i]
        if eid in cur.ids:
            return out  # replayed event: counted once
        cur.ids.append(eid)
        cur.n += 1
        st.last_fuel_day = d
        al, volume = b.al[i], b.fuel_volume_l[i]
        vapour_flow = b.vapour_flow_lpm[i]
        verdict = classify(al, volume, b.fuel_flow_lpm[i], vapour_flow, self.p)
        cur.verdicts[verdict] += 1
        if counts_for_pass_rate(verdict, self.p):
            cur.valid += 1
            assert al is not None
            cur.al_sum += al
            if verdict == "in_band":
                cur.passed += 1
            elif len(cur.fail_ids) < MAX_EVIDENCE:
                cur.fail_ids.append(eid)
            if al > self.p.al_upper:
                cur.above += 1
            elif al < self.p.al_lower:
                cur.below += 1
            window = int(self.r_shield.param("window"))
            st.recent = [*st.recent[-(window - 1) :], round(al, 4)]
            vapour = b.vapour_volume_l[i]
            if volume is not None and vapour is not None:
                cur.pairs += 1
                tol = param(self.r_shield, "exact_tolerance_l")
                if abs(vapour - volume * al) <= tol:
                    cur.exact += 1
        evidence = f"{Fuellings.KIND}:{eid}"
        out += self._pump(st, ts, evidence, vapour_flow, verdict)
        out += self._liquid_resistance(st, ts, evidence, vapour_flow, b.liquid_resistance_pa[i])
        return out

    def on_device_alarm(self, st: NozzleTrack, a: DeviceAlarm) -> list[Any]:
        if a.category != "al" or a.state < 0:
            return []
        out = self._advance(st, day_of(a.ts))
        cur = st.open
        if cur is not None and cur.day == day_of(a.ts):
            cur.dev_max = a.state if cur.dev_max is None else max(cur.dev_max, a.state)
        return out

    def flush(self, st: NozzleTrack, until: date) -> list[Any]:
        """Close every day before ``until`` (used by batch recomputation at the end of data)."""
        return self._advance(st, until)

    @staticmethod
    def _fire(
        st: NozzleTrack,
        rule: Rule,
        ts: datetime,
        measured: float | None,
        limit: float | None,
        unit: str,
        **kw: Any,
    ) -> Exceedance:
        sid, jur, mn = st.subject_id, st.jurisdiction, st.mn
        return fire_vapour(rule, ts, "nozzle", sid, jur, mn, measured, limit, unit, **kw)

    # -- per-fuelling rules -----------------------------------------------------------------
    def _pump(
        self, st: NozzleTrack, ts: datetime, evidence: str, vapour_flow: float | None, verdict: str
    ) -> list[Any]:
        out = []
        if verdict == "pump_fault":
            st.pump_run += 1
            st.pump_ok = 0
            alarm_after = int(self.r_pump.param("alarm_after"))

            def fire(window: str, severity: str | None = None) -> Any:
                return self._fire(
                    st,
                    self.r_pump,
                    ts,
                    vapour_flow,
                    self.p.pump_vapour_lpm,
                    "L/min",
                    evidence=[evidence],
                    detail={"consecutive": st.pump_run},
                    window=window,
                    severity=severity,
                )

            if st.pump_level == "normal":
                st.pump_level = "warning"
                out.append(fire("start"))
            if st.pump_run == alarm_after:
                st.pump_level = "alarm"
                out.append(fire("alarm", "alarm"))
        elif verdict == "in_band":
            st.pump_ok += 1
            if st.pump_ok >= int(self.r_pump.param("clear_after")):
                st.pump_run = 0
                st.pump_level = "normal"
        return out

    def _liquid_resistance(
        self, st: NozzleTrack, ts: datetime, evidence: str, q: float | None, dp: float | None
    ) -> list[Any]:
        r = self.r_lr
        if q is None or dp is None or q <= param(r, "min_flow_lpm"):
            return []
        curve = param(r, "slope") * q + param(r, "intercept")
        if dp <= curve:
            st.lr_start = None
            st.lr_alarmed = False
            return []
        if st.lr_start is None:
            st.lr_start = ts
            detail: dict[str, Any] = {"vapour_flow_lpm": q}
            window, severity = "start", None
        elif not st.lr_alarmed and ts - st.lr_start >= timedelta(hours=param(r, "alarm_hours")):
            st.lr_alarmed = True
            detail = {"since": st.lr_start.isoformat(), "vapour_flow_lpm": q}
            window, severity = "alarm", "alarm"
        else:
            return []
        return [
            self._fire(
                st,
                r,
                ts,
                dp,
                round(curve, 1),
                "Pa",
                evidence=[evidence],
                detail=detail,
                window=window,
                severity=severity,
            )
        ]

    # -- day closing ------------------------------------------------------------------------
    def _advance(self, st: NozzleTrack, d: date) -> list[Any]:
        cur = st.open
        if cur is None:
            st.open = DayTally(d)
            return []
        open_day = cur.day
        if d <= open_day:
            return []
        out = self._close(st, cur)
        idle_days = int(self.r_idle.param("idle_days"))
        gap = (d - open_day).days - 1
        day = open_day + timedelta(days=1)
        for i in range(gap):
            if i >= idle_days:
                break
            out += self._close(st, DayTally(day))
            day += timedelta(days=1)
        if gap >= idle_days:
            out.append(
                self._fire(
                    st,
                    self.r_idle,
                    day_end(open_day + timedelta(days=idle_days)),
                    float(gap),
                    float(idle_days),
                    "days",
                    window="idle",
                )
            )
            st.pool_valid = st.pool_pass = st.streak = 0
            st.level = "normal"
            st.week = []
            st.prev_oob = []
        st.open = DayTally(d)
        return out

    def _close(self, st: NozzleTrack, cur: DayTally) -> list[Any]:
        out: list[Any] = []
        day = cur.day
        ts = day_end(day)
        level_before = st.level
        valid, passed = cur.valid, cur.passed
        st.pool_valid += valid
        st.pool_pass += passed
        pooled = st.pool_valid
        pass_rate = None
        if cur.n == 0 and valid == 0:
            state = "idle"
        elif pooled <= self.pool_max:
            state = "pooling"
        else:
            pass_rate = st.pool_pass / pooled
            state = "exceed" if pass_rate < self.pass_limit else "pass"
            st.pool_valid = st.pool_pass = 0
        if state == "exceed":
            st.streak += 1
        elif state == "pass":
            st.streak = 0
        streak = st.streak
        st.level = "alarm" if streak >= self.alarm_days else "warning" if streak >= 1 else "normal"
        nd_id = NozzleDay.make_id(st.station_id, st.nozzle, day)
        ev = [f"{NozzleDay.KIND}:{nd_id}", *(f"{Fuellings.KIND}:{i}" for i in cur.fail_ids)]
        # ISD comparison and the 7-day window
        isd = self.r_isd
        st.week = [w for w in st.week if (day - w.day).days < 7]
        st.week.append(WeekDay(day, valid, cur.al_sum, valid))
        isd_daily = isd_state(
            valid,
            cur.al_sum,
            param(isd, "daily_lower"),
            param(isd, "daily_upper"),
            int(isd.param("daily_min")),
        )
        isd_weekly = isd_state(
            sum(w.isd_n for w in st.week),
            sum(w.isd_sum for w in st.week),
            param(isd, "weekly_lower"),
            param(isd, "weekly_upper"),
            int(isd.param("weekly_min")),
        )
        # FV-AL-NODATA: <= max_valid valid fuellings over the last window_days days
        nodata_window = int(self.r_nodata.param("window_days"))
        recent_valid = sum(w.valid for w in st.week if (day - w.day).days < nodata_window)
        nodata = len(st.week) >= nodata_window and recent_valid <= int(
            self.r_nodata.param("max_valid")
        )
        if nodata and state in ("pooling", "idle"):
            state = "insufficient"
        mean_al = round(cur.al_sum / valid, 4) if valid else None
        out.append(
            NozzleDay(
                event_id=nd_id,
                ts=day_start(day),
                day=day,
                station_id=st.station_id,
                nozzle=st.nozzle,
                jurisdiction=st.jurisdiction,
                fuellings=cur.n,
                valid=valid,
                under_min=cur.verdicts["under_min"],
                slow_dispenser=cur.verdicts["slow_dispenser"],
                pump_fault=cur.verdicts["pump_fault"],
                slow_vapour=cur.verdicts["slow_vapour"],
                in_band=passed,
                above=cur.above,
                below=cur.below,
                mean_al=mean_al,
                pass_rate=None if pass_rate is None else round(pass_rate, 4),
                pooled_valid=pooled,
                state=state,
                streak=streak,
                level=st.level,
                isd_daily=isd_daily,
                isd_weekly=isd_weekly,
                ruleset_version=self.rs.version,
            )
        )
        w = day.isoformat()
        day_ev = [f"{NozzleDay.KIND}:{nd_id}"]
        detail = {
            "day": w,
            "valid": valid,
            "in_band": passed,
            "pooled_valid": pooled,
            "streak": streak,
            "above": cur.above,
            "below": cur.below,
        }
        if state == "exceed":
            out.append(
                self._fire(
                    st,
                    self.r_day,
                    ts,
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
                    self._fire(
                        st,
                        self.r_warn,
                        ts,
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
                out.append(
                    self._fire(
                        st,
                        self.r_alarm,
                        ts,
                        float(streak),
                        float(self.alarm_days),
                        "days",
                        evidence=ev,
                        detail=detail,
                        window=w,
                        severity="alarm" if streak == self.alarm_days else "case",
                    )
                )
        if cur.verdicts["slow_dispenser"]:
            out.append(
                self._fire(
                    st,
                    self.r_slow,
                    ts,
                    float(cur.verdicts["slow_dispenser"]),
                    None,
                    "fuellings",
                    evidence=day_ev,
                    detail={"day": w},
                    window=w,
                )
            )
        if nodata and not st.nodata:
            out.append(
                self._fire(
                    st,
                    self.r_nodata,
                    ts,
                    float(recent_valid),
                    float(self.r_nodata.param("max_valid")),
                    "fuellings",
                    evidence=day_ev,
                    detail={"day": w},
                    window=w,
                )
            )
        st.nodata = nodata
        if (isd_daily == "fail" or isd_weekly == "fail") and bool(isd.param("enabled")):
            out.append(
                self._fire(
                    st,
                    isd,
                    ts,
                    mean_al,
                    None,
                    "ratio",
                    evidence=day_ev,
                    detail={"daily": isd_daily, "weekly": isd_weekly},
                    window=w,
                )
            )
        out += self._flag_mismatch(st, cur, level_before, nd_id)
        out += self._shield(st, cur, nd_id)
        return out

    def _flag_mismatch(
        self, st: NozzleTrack, cur: DayTally, level_before: str, nd_id: str
    ) -> list[Any]:
        """Device said 0 all day while the state entering the day was warning or alarm."""
        r = self.r_flag
        day = cur.day
        window = int(r.param("window_days"))
        st.mismatch = [m for m in st.mismatch if (day - m).days < window]
        if cur.dev_max != 0 or level_before == "normal":
            return []
        st.mismatch.append(day)
        if len(st.mismatch) < int(r.param("min_days")):
            return []
        return [
            self._fire(
                st,
                r,
                day_end(day),
                float(len(st.mismatch)),
                float(r.param("min_days")),
                "days",
                evidence=[f"{NozzleDay.KIND}:{nd_id}"],
                detail={
                    "days": [m.isoformat() for m in st.mismatch],
                    "recomputed_level": level_before,
                    "device_flag": 0,
                },
                window=day.isoformat(),
                flags=["integrity"],
            )
        ]

    def _shield(self, st: NozzleTrack, cur: DayTally, nd_id: str) -> list[Any]:
        r = self.r_shield
        day = cur.day
        lo, hi = param(r, "al_lower"), param(r, "al_upper")
        checks: dict[str, Any] = {}
        values = st.recent
        if len(values) >= int(r.param("min_valid")):
            if all(lo <= v < hi for v in values):
                pv = ks_uniform_p(values, lo, hi)
                if pv > param(r, "ks_p"):
                    checks["uniform_in_band"] = round(pv, 4)
            mean = sum(values) / len(values)
            if all(abs(v - mean) < 1e-12 for v in values):
                checks["zero_variance"] = mean
        st.exact_run = st.exact_run + cur.exact if cur.exact == cur.pairs else 0
        if cur.pairs and st.exact_run >= int(r.param("min_valid")):
            checks["vapour_equals_fuel_x_al"] = st.exact_run
        valid = cur.valid
        oob = valid - cur.passed
        # out-of-band share: > drop_from over the baseline days, then 0 on drop_zero_days days in a row
        if valid:
            zero_days = int(r.param("drop_zero_days"))
            hist = [*st.prev_oob, (valid, oob)][-(zero_days + int(r.param("drop_baseline_days"))) :]
            st.prev_oob = hist
            need = int(r.param("drop_min_valid"))
            recent, base = hist[-zero_days:], hist[:-zero_days]
            bv = sum(h[0] for h in base)
            if (
                len(recent) == zero_days
                and all(h[0] >= need and h[1] == 0 for h in recent)
                and bv >= int(r.param("drop_baseline_min_valid"))
                and sum(h[1] for h in base) / bv > param(r, "drop_from")
            ):
                checks["out_of_band_share_dropped"] = round(sum(h[1] for h in base) / bv, 4)
        if not checks:
            return []
        if st.shield_last is not None and (day - st.shield_last).days < 7:
            return []
        st.shield_last = day
        return [
            self._fire(
                st,
                r,
                day_end(day),
                float(len(values)),
                float(r.param("min_valid")),
                "fuellings",
                evidence=[f"{NozzleDay.KIND}:{nd_id}"],
                detail={"checks": checks},
                window=day.isoformat(),
                flags=["integrity"],
            )
        ]


# ---------------------------------------------------------------- batch recomputation


def recompute_nozzle(
    rs: RuleSet,
    fuellings: Iterable[Fuellings],
    device_alarms: Iterable[DeviceAlarm] = (),
    *,
    until: date | None = None,
) -> list[Any]:
    """Rebuild every daily state and exceedance of one nozzle from its raw fuellings (batches
    whose rows are that nozzle's: the first row's nozzle is the one recomputed, rows of other
    nozzles are left out).

    Auditors and tests call this; the processor must produce the same events incrementally.
    ``until`` closes every day before it (default: the day after the last event). The device's
    own alarm flags are never trusted, only compared (FV-FLAGMISMATCH).
    """
    rules = NozzleRules(rs)
    events: list[Any] = sorted([*fuellings, *device_alarms], key=lambda e: (e.ts, e.KIND))
    if not events:
        return []
    first = events[0]
    nozzle = first.nozzle[0] if isinstance(first, Fuellings) else first.nozzle
    st = NozzleTrack(first.station_id, nozzle, first.jurisdiction, first.mn)
    out: list[Any] = []
    for e in events:
        if isinstance(e, Fuellings):
            for i, n in enumerate(e.nozzle):
                if n == nozzle:
                    out += rules.on_fuellings(st, e, i)
        elif e.nozzle == nozzle:
            out += rules.on_device_alarm(st, e)
    out += rules.flush(st, until or day_of(events[-1].ts) + timedelta(days=1))
    return out

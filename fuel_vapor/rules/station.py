"""A station's tank pressure (zero pressure FV-ZP, P/V valve FV-PV), processing-unit outlet (FV-PROC)
and its station-level device flags (compared only: FV-FLAGMISMATCH), per Beijing day.

What the processor keeps between readings is a :class:`StationTrack`; it becomes a plain dict only
at the state store (``to_dict`` / ``from_dict``, the stored form of the first release).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from core.exceedance import Exceedance
from core.ruleset import Rule, RuleSet
from fuel_vapor.events import DeviceAlarm, StationReading, StationState
from fuel_vapor.rules.common import (
    LEVELS,
    day_end,
    day_from,
    day_of,
    day_start,
    day_text,
    fire_vapour,
    hour_of,
    instant_from,
    instant_text,
    param,
)


@dataclass(slots=True)
class StationTrack:
    """What the station processor remembers of one station between events."""

    station_id: str
    jurisdiction: str
    mn: str
    pv: tuple[float, float]  # P/V valve setting (positive, negative), Pa
    day: date | None = None  # the open Beijing day
    zp_run_start: datetime | None = None  # start of the current near-zero pressure run
    last_ts: datetime | None = None  # time of the last reading
    zp_longest_h: float = 0.0  # longest near-zero run of the open day, hours
    zp_streak: int = 0
    pv_start: datetime | None = None  # start of the current pressure excursion beyond P/V
    pv_alarmed: bool = False
    pv_level_day: str = "normal"
    proc_run: int = 0  # consecutive outlet reads above the limit
    proc_warned: bool = False
    proc_hour: datetime | None = None  # the open Beijing clock hour of outlet reads
    proc_sum: float = 0.0
    proc_n: int = 0
    proc_level_day: str = "normal"
    dev: dict[str, int] = field(default_factory=dict)  # the device's worst flag per category today
    zp_level: str = "normal"
    mismatch: list[date] = field(default_factory=list)  # days the device flag contradicted us

    def to_dict(self) -> dict[str, Any]:
        """The stored form (JSON-ready; keys and text forms as the first release wrote them)."""
        return {
            "station": self.station_id,
            "jur": self.jurisdiction,
            "mn": self.mn,
            "pv": list(self.pv),
            "day": day_text(self.day),
            "zp_run_start": instant_text(self.zp_run_start),
            "last_ts": instant_text(self.last_ts),
            "zp_longest_h": self.zp_longest_h,
            "zp_streak": self.zp_streak,
            "pv_start": instant_text(self.pv_start),
            "pv_alarmed": self.pv_alarmed,
            "pv_level_day": self.pv_level_day,
            "proc_run": self.proc_run,
            "proc_warned": self.proc_warned,
            "proc_hour": instant_text(self.proc_hour),
            "proc_sum": self.proc_sum,
            "proc_n": self.proc_n,
            "proc_level_day": self.proc_level_day,
            "dev": dict(self.dev),
            "zp_level": self.zp_level,
            "mismatch": [d.isoformat() for d in self.mismatch],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StationTrack:
        pos, neg = d["pv"]
        return cls(
            station_id=d["station"],
            jurisdiction=d["jur"],
            mn=d["mn"],
            pv=(pos, neg),
            day=day_from(d["day"]),
            zp_run_start=instant_from(d["zp_run_start"]),
            last_ts=instant_from(d["last_ts"]),
            zp_longest_h=d["zp_longest_h"],
            zp_streak=d["zp_streak"],
            pv_start=instant_from(d["pv_start"]),
            pv_alarmed=d["pv_alarmed"],
            pv_level_day=d["pv_level_day"],
            proc_run=d["proc_run"],
            proc_warned=d["proc_warned"],
            proc_hour=instant_from(d["proc_hour"]),
            proc_sum=d["proc_sum"],
            proc_n=d["proc_n"],
            proc_level_day=d["proc_level_day"],
            dev=dict(d["dev"]),
            zp_level=d["zp_level"],
            mismatch=[date.fromisoformat(m) for m in d["mismatch"]],
        )


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
    ) -> StationTrack:
        return StationTrack(station_id, jurisdiction, mn, (pv_pos, pv_neg))

    def on_reading(self, st: StationTrack, r: StationReading) -> list[Any]:
        out = self._advance(st, r.ts)
        if r.pv_positive_pa is not None and r.pv_negative_pa is not None and r.pv_positive_pa > 0:
            st.pv = (r.pv_positive_pa, r.pv_negative_pa)
        if r.tank_pressure_pa is not None:
            self._zero_pressure_sample(st, r.ts, r.tank_pressure_pa)
            out += self._pv(st, r, r.tank_pressure_pa)
        if r.proc_outlet_g_m3 is not None and r.proc_outlet_g_m3 > 0:
            out += self._proc(st, r, r.proc_outlet_g_m3)
        st.last_ts = r.ts
        return out

    def on_device_alarm(self, st: StationTrack, a: DeviceAlarm) -> list[Any]:
        if a.nozzle != 0 or a.state < 0:
            return []
        out = self._advance(st, a.ts)
        prev = st.dev.get(a.category)
        st.dev[a.category] = a.state if prev is None else max(prev, a.state)
        return out

    def flush(self, st: StationTrack, until: date) -> list[Any]:
        return self._advance(st, day_start(until))

    @staticmethod
    def _fire(
        st: StationTrack,
        rule: Rule,
        ts: datetime,
        measured: float | None,
        limit: float | None,
        unit: str,
        **kw: Any,
    ) -> Exceedance:
        sid, jur, mn = st.station_id, st.jurisdiction, st.mn
        return fire_vapour(rule, ts, "station", sid, jur, mn, measured, limit, unit, **kw)

    # zero pressure: longest continuous |P| < band within the day, runs cut at midnight and gaps
    def _zero_pressure_sample(self, st: StationTrack, ts: datetime, p: float) -> None:
        band = param(self.r_zp, "band_pa")
        gap = timedelta(minutes=param(self.r_zp, "max_gap_min"))
        last = st.last_ts
        if abs(p) < band:
            if st.zp_run_start is None or last is None or ts - last > gap:
                st.zp_run_start = ts
            run_h = (ts - st.zp_run_start).total_seconds() / 3600
            st.zp_longest_h = max(st.zp_longest_h, run_h)
        else:
            st.zp_run_start = None

    def _pv(self, st: StationTrack, r: StationReading, p: float) -> list[Any]:
        rule = self.r_pv
        margin = param(rule, "margin_pa")
        pos, neg = st.pv
        hi, lo = pos + margin, neg - margin
        ev = [f"{StationReading.KIND}:{r.event_id}"]
        if lo <= p <= hi:
            st.pv_start = None
            st.pv_alarmed = False
            return []
        limit = hi if p > hi else lo
        if st.pv_start is None:
            st.pv_start = r.ts
            st.pv_level_day = max(st.pv_level_day, "warning", key=LEVELS.index)
            return [
                self._fire(
                    st,
                    rule,
                    r.ts,
                    p,
                    limit,
                    "Pa",
                    evidence=ev,
                    detail={"pv_setting_pa": [pos, neg]},
                    window="start",
                )
            ]
        sustain = timedelta(minutes=param(rule, "sustain_min"))
        if not st.pv_alarmed and r.ts - st.pv_start >= sustain:
            st.pv_alarmed = True
            st.pv_level_day = "alarm"
            return [
                self._fire(
                    st,
                    rule,
                    r.ts,
                    p,
                    limit,
                    "Pa",
                    evidence=ev,
                    detail={"since": st.pv_start.isoformat(), "pv_setting_pa": [pos, neg]},
                    window="alarm",
                    severity="alarm",
                )
            ]
        return []

    def _proc(self, st: StationTrack, r: StationReading, v: float) -> list[Any]:
        out = []
        hour = hour_of(r.ts)
        if st.proc_hour is not None and hour != st.proc_hour:
            out += self._close_proc_hour(st)
        if st.proc_hour != hour:
            st.proc_hour, st.proc_sum, st.proc_n = hour, 0.0, 0
        st.proc_sum += v
        st.proc_n += 1
        if v > self.proc_limit:
            st.proc_run += 1
            if st.proc_run >= int(self.r_proc.param("consecutive_reads")) and not st.proc_warned:
                st.proc_warned = True
                st.proc_level_day = max(st.proc_level_day, "warning", key=LEVELS.index)
                out.append(
                    self._fire(
                        st,
                        self.r_proc,
                        r.ts,
                        v,
                        self.proc_limit,
                        "g/m3",
                        evidence=[f"{StationReading.KIND}:{r.event_id}"],
                        detail={"consecutive_reads": st.proc_run},
                        window="reads",
                    )
                )
        else:
            st.proc_run = 0
            st.proc_warned = False
        return out

    def _close_proc_hour(self, st: StationTrack) -> list[Any]:
        if not st.proc_n:
            return []
        mean = st.proc_sum / st.proc_n
        reads = st.proc_n
        hour = st.proc_hour
        assert hour is not None  # set with the first read of the hour
        st.proc_n = 0
        if mean <= self.proc_limit:
            return []
        st.proc_level_day = "alarm"
        text = hour.isoformat()
        return [
            self._fire(
                st,
                self.r_proc,
                hour + timedelta(hours=1) - timedelta(milliseconds=1),
                round(mean, 3),
                self.proc_limit,
                "g/m3",
                detail={"hour": text, "reads": reads},
                window=f"hour:{text}",
                severity="alarm",
            )
        ]

    def _advance(self, st: StationTrack, ts: datetime) -> list[Any]:
        d = day_of(ts)
        if st.day is None:
            st.day = d
            return []
        open_day = st.day
        if d <= open_day:
            return []
        out = self._close_day(st, open_day)
        st.day = d
        return out

    def _close_day(self, st: StationTrack, day: date) -> list[Any]:
        out: list[Any] = []
        sid = st.station_id
        ts = day_end(day)
        # a zero-pressure run still going at the last reading counts on for at most the allowed
        # data gap, never past midnight; it restarts at midnight for the next day
        if st.zp_run_start is not None and st.last_ts is not None:
            start = st.zp_run_start
            midnight = day_start(day + timedelta(days=1))
            gap = timedelta(minutes=param(self.r_zp, "max_gap_min"))
            end = min(midnight, st.last_ts + gap)
            st.zp_longest_h = max(st.zp_longest_h, (end - start).total_seconds() / 3600)
            st.zp_run_start = midnight if end >= midnight else None
        zp_h = round(min(st.zp_longest_h, 24.0), 3)
        zp_day = zp_h >= param(self.r_zp, "min_hours")
        st.zp_streak = st.zp_streak + 1 if zp_day else 0
        level_before = st.zp_level
        alarm_days = int(self.r_zp.param("alarm_days"))
        st.zp_level = "alarm" if st.zp_streak >= alarm_days else "warning" if zp_day else "normal"
        dev = st.dev
        w = day.isoformat()
        zp_id = StationState.make_id(sid, "zero_pressure", day)
        out.append(
            StationState(
                event_id=zp_id,
                ts=day_start(day),
                day=day,
                station_id=sid,
                jurisdiction=st.jurisdiction,
                category="zero_pressure",
                level=st.zp_level,
                value=zp_h,
                unit="h",
                streak=st.zp_streak,
                device_state=dev.get("zero_pressure"),
                ruleset_version=self.rs.version,
            )
        )
        if zp_day:
            out.append(
                self._fire(
                    st,
                    self.r_zp,
                    ts,
                    zp_h,
                    param(self.r_zp, "min_hours"),
                    "h",
                    evidence=[f"{StationState.KIND}:{zp_id}"],
                    detail={"day": w, "streak": st.zp_streak},
                    window=w,
                    severity="alarm" if st.zp_streak >= alarm_days else None,
                )
            )
        for cat, level in (("pv", st.pv_level_day), ("processing", st.proc_level_day)):
            out.append(
                StationState(
                    event_id=StationState.make_id(sid, cat, day),
                    ts=day_start(day),
                    day=day,
                    station_id=sid,
                    jurisdiction=st.jurisdiction,
                    category=cat,
                    level=level,
                    value=None,
                    unit="",
                    streak=0,
                    device_state=dev.get(cat),
                    ruleset_version=self.rs.version,
                )
            )
        # an excursion still going carries its level into the next day
        st.pv_level_day = (
            "alarm" if st.pv_alarmed else "warning" if st.pv_start is not None else "normal"
        )
        st.proc_level_day = "normal"
        # FV-FLAGMISMATCH for zero pressure: device says 0 while recomputed state entering the day
        r = self.r_flag
        win = int(r.param("window_days"))
        st.mismatch = [m for m in st.mismatch if (day - m).days < win]
        if dev.get("zero_pressure") == 0 and level_before != "normal":
            st.mismatch.append(day)
            if len(st.mismatch) >= int(r.param("min_days")):
                out.append(
                    self._fire(
                        st,
                        r,
                        ts,
                        float(len(st.mismatch)),
                        float(r.param("min_days")),
                        "days",
                        detail={
                            "category": "zero_pressure",
                            "days": [m.isoformat() for m in st.mismatch],
                            "recomputed_level": level_before,
                        },
                        window=f"zp:{w}",
                        flags=["integrity"],
                    )
                )
        st.zp_longest_h = 0.0
        st.dev = {}
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
    st = StationTrack(
        first.station_id, first.jurisdiction, first.mn, (pv_positive_pa, pv_negative_pa)
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

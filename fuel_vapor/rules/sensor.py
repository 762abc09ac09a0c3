"""Anomaly channels of a station's environment sensors (rules.md §2.6): ambient air by Beijing clock
hour (AMB-VOC against a limit and the site's own baseline, AMB-NOX) and groundwater by Beijing day
(GW-SENSOR: above baseline or rising). Tank pressure is the station's (``rules.station``).

Known limit: ambient baselines need >= 24 hourly means. What the processor keeps between readings
is a :class:`SensorTrack`; it becomes a plain dict only at the state store (``to_dict`` /
``from_dict``, the stored form of the first release).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from core.ruleset import RuleSet
from fuel_vapor.events import SensorReading
from fuel_vapor.rules.common import day_end, day_of, fire_vapour, hour_of, param

AMBIENT_VOC = ("nmhc_mg_m3", "thc_mg_m3", "voc_mg_m3")


@dataclass(slots=True)
class QuantityTrack:
    """One measured quantity of a sensor: the open period and the closed periods' means."""

    bucket: date | None = None  # the open period: a Beijing day, or an hour (a datetime) for air
    sum: float = 0.0
    n: int = 0
    hist: list[float] = field(default_factory=list)  # means of closed periods (the baseline)

    def to_dict(self) -> dict[str, Any]:
        b = self.bucket
        return {
            "bucket": None if b is None else b.isoformat(),
            "sum": self.sum,
            "n": self.n,
            "hist": list(self.hist),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], hourly: bool) -> QuantityTrack:
        text = d["bucket"]
        bucket: date | None = None
        if text is not None:
            bucket = datetime.fromisoformat(text) if hourly else date.fromisoformat(text)
        return cls(bucket, d["sum"], d["n"], list(d["hist"]))


@dataclass(slots=True)
class SensorTrack:
    """What the sensor processor remembers of one sensor between readings."""

    sensor_id: str
    kind: str  # the sensor kind: "ambient" (hourly) or "groundwater" (daily)
    jurisdiction: str
    mn: str
    quantities: dict[str, QuantityTrack] = field(default_factory=dict)
    events: list[datetime] = field(default_factory=list)  # hours of recent AMB-VOC events

    @property
    def hourly(self) -> bool:
        return self.kind != "groundwater"

    def to_dict(self) -> dict[str, Any]:
        """The stored form (JSON-ready; keys and text forms as the first release wrote them)."""
        return {
            "sensor": self.sensor_id,
            "kind": self.kind,
            "jur": self.jurisdiction,
            "mn": self.mn,
            "q": {name: q.to_dict() for name, q in self.quantities.items()},
            "events": [e.isoformat() for e in self.events],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SensorTrack:
        hourly = d["kind"] != "groundwater"
        return cls(
            sensor_id=d["sensor"],
            kind=d["kind"],
            jurisdiction=d["jur"],
            mn=d["mn"],
            quantities={n: QuantityTrack.from_dict(q, hourly) for n, q in d["q"].items()},
            events=[datetime.fromisoformat(e) for e in d["events"]],
        )


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
    def new_state(sensor_id: str, kind: str, jurisdiction: str, mn: str) -> SensorTrack:
        return SensorTrack(sensor_id, kind, jurisdiction, mn)

    def on_reading(self, st: SensorTrack, r: SensorReading) -> list[Any]:
        q = st.quantities.setdefault(r.quantity, QuantityTrack())
        bucket: date = hour_of(r.ts) if st.hourly else day_of(r.ts)
        out: list[Any] = []
        if q.bucket is not None and bucket > q.bucket:
            out += self._close(st, r.quantity, q, r.unit)
        if q.bucket is None or bucket > q.bucket:
            q.bucket, q.sum, q.n = bucket, 0.0, 0
        elif bucket < q.bucket:
            return out  # late reading for a closed period
        q.sum += r.value
        q.n += 1
        return out

    def _close(self, st: SensorTrack, quantity: str, q: QuantityTrack, unit: str) -> list[Any]:
        if not q.n or q.bucket is None:
            return []
        mean = q.sum / q.n
        if st.hourly:
            assert isinstance(q.bucket, datetime)  # hourly sensors open hours
            return self._close_hour(st, quantity, q, q.bucket, mean, unit)
        return self._close_day(st, quantity, q, q.bucket, mean, unit)

    def _close_day(
        self, st: SensorTrack, quantity: str, q: QuantityTrack, day: date, mean: float, unit: str
    ) -> list[Any]:
        hist = q.hist
        out: list[Any] = []
        r = self.r_gw
        base = hist[-int(r.param("baseline_days")) :]
        reason: dict[str, Any] | None = None
        if len(base) >= int(r.param("baseline_min_days")):
            mu = sum(base) / len(base)
            sd = math.sqrt(sum((x - mu) ** 2 for x in base) / len(base))
            if mean > mu + param(r, "sigma") * sd and mean > mu:
                reason = {
                    "check": "above_baseline",
                    "baseline_mean": round(mu, 4),
                    "baseline_sd": round(sd, 4),
                }
        k = int(r.param("rising_days"))
        seq = [*hist[-k:], mean]
        if reason is None and len(seq) == k + 1 and all(a < b for a, b in itertools.pairwise(seq)):
            reason = {"check": "rising", "days": k}
        if reason:
            out.append(
                fire_vapour(
                    r,
                    day_end(day),
                    "sensor",
                    st.sensor_id,
                    st.jurisdiction,
                    st.mn,
                    round(mean, 4),
                    None,
                    unit,
                    detail={"quantity": quantity, **reason},
                    window=f"{quantity}:{day.isoformat()}",
                )
            )
        keep = int(r.param("baseline_days"))
        q.hist = [*hist[-keep + 1 :], mean] if keep > 1 else [mean]
        return out

    def _close_hour(
        self,
        st: SensorTrack,
        quantity: str,
        q: QuantityTrack,
        hour: datetime,
        mean: float,
        unit: str,
    ) -> list[Any]:
        hist = q.hist
        out: list[Any] = []
        ts = hour + timedelta(hours=1) - timedelta(milliseconds=1)
        window = f"{quantity}:{hour.isoformat()}"
        if quantity in AMBIENT_VOC:
            r = self.r_voc
            fired: dict[str, Any] | None = None
            if quantity == "nmhc_mg_m3" and mean > self.voc_limit:
                fired = {"check": "boundary_limit", "limit": self.voc_limit}
            min_h = int(r.param("baseline_min_hours"))
            if fired is None and len(hist) >= min_h:
                p95 = sorted(hist)[min(len(hist) - 1, int(0.95 * len(hist)))]
                if p95 > 0 and mean > param(r, "factor") * p95:
                    fired = {"check": "baseline", "baseline_p95": round(p95, 4)}
            if fired:
                window_days = int(r.param("window_days"))
                events = [e for e in st.events if (hour - e).days < window_days]
                events.append(hour)
                st.events = events
                sev = "warning" if len(events) >= int(r.param("events_for_warning")) else None
                out.append(
                    fire_vapour(
                        r,
                        ts,
                        "sensor",
                        st.sensor_id,
                        st.jurisdiction,
                        st.mn,
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
                q.hist = [*hist[-(keep - 1) :], mean]
        elif quantity == "no2_ug_m3" and mean > self.nox_limit:
            out.append(
                fire_vapour(
                    self.r_nox,
                    ts,
                    "sensor",
                    st.sensor_id,
                    st.jurisdiction,
                    st.mn,
                    round(mean, 3),
                    self.nox_limit,
                    unit,
                    detail={"quantity": quantity},
                    window=window,
                )
            )
        return out

"""Pure RSD decisions: per-pass exceedances, the first/repeat rule and per-site daily quality.

Responsible for rules.md §2.1 and §4 (RS-*):

* Exceedance per pollutant against the **strictest applicable limit** of each RS limit rule
  (``RuleSet.strictest(rule, fuel=...)``; the rule's parameters ``pollutant`` and ``measure`` name
  what it judges). Only valid passes of gasoline or diesel vehicles are judged; new-energy plates
  (green / yellow-green, GA 24.7 types 51 and 52) and electric vehicles are never judged on exhaust.
* Repeat rule (RS-FIRST / RS-REPEAT): per vehicle and pollutant, the first valid exceedance opens a
  window (owner reminder); a second *consecutive* valid exceedance of the same pollutant, at any site
  of the zone, dated no later than the first + 6 calendar months, is a case candidate. A valid pass
  for that pollutant in between closes the window ("consecutive"). After a case candidate the window
  closes: the next exceedance opens a new one. Provisional rules (``confirmed: false`` limits, e.g.
  RS-G-HC) do not feed the repeat rule.
* Site quality per site and day (passes, valid rate, capture rate, weather downtime, calibration).

No clock reads: the pass time is "now". State for the repeat rule is a plain JSON-able dict.

Known limits: the reading of "consecutive" and of "6 natural months" is a DEFAULT (rules.md §5 #2);
passes that arrive out of order older than the open window are judged but do not move the window.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from core.ruleset import Limit, Rule, RuleSet
from core.timeutil import BEIJING

if TYPE_CHECKING:  # pandas only where a frame is built (site_quality): ~1 s of import otherwise
    import pandas as pd

JUDGED_FUELS = ("gasoline", "diesel")
NEV_PLATE_TYPES = ("51", "52")
NEV_COLOURS = ("green", "yellow_green")


@dataclass(frozen=True, slots=True)
class LimitRule:
    """One RS limit rule resolved for one fuel."""

    rule: Rule
    pollutant: str
    measure: str
    fuel: str
    limit: Limit

    @property
    def feeds_repeat(self) -> bool:
        return self.rule.confirmed


def limit_rules(rs: RuleSet) -> tuple[LimitRule, ...]:
    """Every (rule, fuel) pair of the remote-sensing limit rules, with the strictest limit for it."""
    out: list[LimitRule] = []
    for rule in sorted(rs.for_domain("remote_sensing"), key=lambda r: r.id):
        if not rule.spec.limits:
            continue
        pollutant = str(rule.param("pollutant"))
        measure = str(rule.param("measure"))
        for fuel in JUDGED_FUELS:
            try:
                lim = rs.strictest(rule.id, fuel=fuel)
            except LookupError:
                continue
            out.append(LimitRule(rule, pollutant, measure, fuel, lim))
    return tuple(out)


def is_new_energy(plate_colour: Any, plate_type: Any, fuel: Any) -> bool:
    return (
        str(plate_colour) in NEV_COLOURS
        or str(plate_type) in NEV_PLATE_TYPES
        or str(fuel) == "electric"
    )


# ---------------------------------------------------------------- per pass (processors)


@dataclass(frozen=True, slots=True)
class Finding:
    """One limit rule evaluated on one pass."""

    lr: LimitRule
    measured: float
    exceeded: bool


def judge(
    measures: Mapping[str, float | None], fuel: str, table: Iterable[LimitRule]
) -> list[Finding]:
    """Evaluate every limit rule of ``fuel`` whose measure is present (not None/NaN)."""
    out: list[Finding] = []
    for lr in table:
        if lr.fuel != fuel:
            continue
        v = measures.get(lr.measure)
        if v is None or v != v:
            continue
        out.append(Finding(lr, float(v), lr.limit.exceeded_by(float(v))))
    return out


def add_months(d: date, months: int) -> date:
    """Calendar-month arithmetic with the day clamped to the month's length (31 Aug + 6 → 28/29 Feb)."""
    m0 = d.month - 1 + months
    y, m = d.year + m0 // 12, m0 % 12 + 1
    return date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def local_date(ts: datetime) -> date:
    return ts.astimezone(BEIJING).date()


def update_repeat(
    vehicle_state: MutableMapping[str, Any],
    pollutant: str,
    ts: datetime,
    exceeded: bool,
    ref: Mapping[str, Any],
    window_months: int = 6,
) -> tuple[str | None, dict[str, Any] | None]:
    """Advance the repeat window of one vehicle and pollutant with one valid judged pass.

    Returns (``"first"`` | ``"repeat"`` | None, the first exceedance's reference for a repeat).
    ``vehicle_state`` is the vehicle's JSON-able state; windows live under ``open[pollutant]``.
    """
    opened: MutableMapping[str, Any] = vehicle_state.setdefault("open", {})
    cur = opened.get(pollutant)
    if cur is not None and ts <= datetime.fromisoformat(cur["ts"]):
        return None, None  # older than (or same as) the open window: judged, window unchanged
    if not exceeded:
        if cur is not None:
            del opened[pollutant]
        return None, None
    if cur is not None:
        first_day = date.fromisoformat(cur["day"])
        if local_date(ts) <= add_months(first_day, window_months):
            del opened[pollutant]
            vehicle_state["cases"] = int(vehicle_state.get("cases", 0)) + 1
            return "repeat", dict(cur)
    opened[pollutant] = {"ts": ts.isoformat(), "day": local_date(ts).isoformat(), **dict(ref)}
    return "first", None


# ---------------------------------------------------------------- vectorised (rsd evaluate)


def judge_frame(
    cols: Mapping[str, Any],
    fuel: Any,
    valid: np.ndarray,
    nev: np.ndarray,
    table: Iterable[LimitRule],
    n: int,
    provisional: frozenset[str] = frozenset(),
) -> dict[str, np.ndarray]:
    """Judgement columns for many passes: ``judgement`` (pass / fail / not_judged, and
    ``provisional`` where every limit exceeded is of a rule in ``provisional``) and
    ``exceeded_rules`` (``;``-joined rule ids). A pass is judged when valid, not new-energy, of a
    judged fuel and with at least one measure present."""
    from remote_sensing.validity import joined

    fuel_a = np.asarray(fuel, dtype=object)
    judged_any = np.zeros(n, dtype=bool)
    failed = np.zeros(n, dtype=bool)
    confirmed = np.zeros(n, dtype=bool)  # over a limit of a rule not in ``provisional``
    named: list[tuple[str, np.ndarray]] = []
    base = valid & ~nev
    by_fuel: dict[Any, np.ndarray] = {}
    for lr in table:
        meas = cols.get(lr.measure)
        if meas is None:
            continue
        m = np.asarray(meas, dtype=np.float64)
        of_fuel = by_fuel.get(lr.fuel)
        if of_fuel is None:
            of_fuel = by_fuel[lr.fuel] = base & (fuel_a == lr.fuel)
        applies = of_fuel & ~np.isnan(m)
        decide: Any = lr.limit.exceeded_by  # the per-pass decision (``judge``), on a column
        with np.errstate(invalid="ignore"):
            over = applies & decide(m)
        judged_any |= applies
        failed |= over
        if lr.rule.id not in provisional:
            confirmed |= over
        named.append((lr.rule.id, over))
    judgement = np.where(
        confirmed,
        "fail",
        np.where(failed, "provisional", np.where(judged_any, "pass", "not_judged")),
    ).astype(object)
    return {"judgement": judgement, "exceeded_rules": joined(named, n)}


# ---------------------------------------------------------------- site quality


SITE_QUALITY_COLUMNS = (
    "site_id",
    "day",
    "passes",
    "valid",
    "valid_rate",
    "captured",
    "capture_rate",
    "weather_downtime_s",
    "other_downtime_s",
    "calibration_ok",
)


def site_quality(
    passes: pd.DataFrame,
    downtime: pd.DataFrame | None = None,
    calibration: Mapping[tuple[str, date], bool] | None = None,
) -> pd.DataFrame:
    """Per site and local day: passes, valid rate, capture rate (plate read and plume data present),
    downtime seconds by weather and other causes, and calibration state.

    ``passes`` needs ``site_id``, ``ts`` (aware), ``valid``, ``plate`` and ``invalid_reasons`` (iterable
    of codes or ``;``-joined text); ``downtime`` needs ``site_id``, ``ts``, ``end``, ``reason``.
    Downtime spanning midnight is split across days.
    """
    import pandas as pd

    rows: dict[tuple[str, date], dict[str, Any]] = {}

    def row(site: str, day: date) -> dict[str, Any]:
        r = rows.get((site, day))
        if r is None:
            r = rows[(site, day)] = {
                "site_id": site,
                "day": day,
                "passes": 0,
                "valid": 0,
                "captured": 0,
                "weather_downtime_s": 0.0,
                "other_downtime_s": 0.0,
            }
        return r

    if len(passes):
        days = pd.to_datetime(passes["ts"], utc=True).dt.tz_convert(BEIJING).dt.date
        reasons = passes["invalid_reasons"].map(
            lambda r: set(r.split(";")) if isinstance(r, str) else set(r or ())
        )
        plate_ok = passes["plate"].fillna("").astype(str).str.len() > 0
        plume_ok = ~reasons.map(lambda s: "no_plume_data" in s)
        df = pd.DataFrame(
            {
                "site_id": passes["site_id"].to_numpy(),
                "day": days.to_numpy(),
                "valid": passes["valid"].astype(bool).to_numpy(),
                "captured": (plate_ok & plume_ok).to_numpy(),
            }
        )
        agg = df.groupby(["site_id", "day"]).agg(
            passes=("valid", "size"), valid=("valid", "sum"), captured=("captured", "sum")
        )
        for (site, day), a in agg.iterrows():
            r = row(site, day)
            r["passes"], r["valid"], r["captured"] = (
                int(a["passes"]),
                int(a["valid"]),
                int(a["captured"]),
            )
    if downtime is not None and len(downtime):
        weather = {"rain", "fog", "wind", "snow"}
        for d in downtime.itertuples(index=False):
            start = pd.Timestamp(d.ts).tz_convert(BEIJING)
            end = pd.Timestamp(d.end).tz_convert(BEIJING)
            col = "weather_downtime_s" if d.reason in weather else "other_downtime_s"
            while start < end:
                midnight = (start + pd.Timedelta(days=1)).normalize()
                stop = min(end, midnight)
                row(d.site_id, start.date())[col] += (stop - start).total_seconds()
                start = stop
    out = pd.DataFrame(
        list(rows.values()),
        columns=[
            c
            for c in SITE_QUALITY_COLUMNS
            if c not in ("valid_rate", "capture_rate", "calibration_ok")
        ],
    )
    if out.empty:
        return pd.DataFrame(columns=list(SITE_QUALITY_COLUMNS))
    with np.errstate(invalid="ignore", divide="ignore"):
        out["valid_rate"] = np.where(
            out["passes"] > 0, out["valid"] / out["passes"].clip(lower=1), np.nan
        )
        out["capture_rate"] = np.where(
            out["passes"] > 0, out["captured"] / out["passes"].clip(lower=1), np.nan
        )
    cal = calibration or {}
    out["calibration_ok"] = [
        cal.get((s, d)) for s, d in zip(out["site_id"], out["day"], strict=True)
    ]
    return out[list(SITE_QUALITY_COLUMNS)].sort_values(["site_id", "day"]).reset_index(drop=True)

"""What every vapour rule module shares: operator hints, Beijing days, the exceedance helper and
the conversions of the state classes' dates and instants to their stored (ISO text) form.

Pure: no clock, no IO.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from core.exceedance import Exceedance, fire
from core.ruleset import Rule
from core.timeutil import BEIJING

SOURCE = "fuel_vapor"
MAX_EVIDENCE = 20
LEVELS = ("normal", "warning", "alarm")
"""Levels of a day's state in rising order (``max(..., key=LEVELS.index)`` picks the worse)."""

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


def param(rule: Rule, name: str) -> float:
    """A numeric rule parameter as a float."""
    return float(rule.param(name))


def day_of(ts: datetime) -> date:
    """The Beijing calendar day of an instant (day boundaries are Beijing midnight)."""
    return ts.astimezone(BEIJING).date()


def day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=BEIJING)


def day_end(day: date) -> datetime:
    """The last millisecond of a Beijing day: the time stamp of a day's judgement."""
    return day_start(day) + timedelta(days=1) - timedelta(milliseconds=1)


def hour_of(ts: datetime) -> datetime:
    """The Beijing clock hour an instant falls in (aware, Beijing offset)."""
    return ts.astimezone(BEIJING).replace(minute=0, second=0, microsecond=0)


def fire_vapour(
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
    """``core.exceedance.fire`` with this source, the rule's operator hint and capped evidence."""
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


# -- stored form of dates and instants (ISO text; None stays None) ----------------------------


def day_text(d: date | None) -> str | None:
    return None if d is None else d.isoformat()


def day_from(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)


def instant_text(ts: datetime | None) -> str | None:
    return None if ts is None else ts.isoformat()


def instant_from(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)

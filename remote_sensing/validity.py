"""Validity screening of RSD passes: which records may be judged, and why the others may not.

Responsible for the gates of rules.md §2.1 (platform DEFAULT, not regulatory; values come from rule
RS-VALID of the rule set): device flag, VSP window, minimum speed, acceleration, wind, precipitation
or fog, single vehicle in the beam (headway), plate read and its confidence, plume strength, plume
data present, and device calibration valid on the date. Every failing gate adds a reason code, so an
invalid record keeps all of its reasons, not just the first.

Works on columns (numpy arrays or pandas Series, one element per pass) so the same code screens one
record in a processor and 100,000 in ``rsd evaluate``. A gate whose input column is absent from the
data set is not applicable (e.g. the anonymised CONOX data carry no plates); an input present but
missing for one record fails the gate only where the absence itself makes the record unjudgeable
(speed, plume data, plate).

Known limits: plume strength is compared to the device's own raw CO2 column in its own unit; the
gate is disabled (threshold 0) until a unit-specific value is configured.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.ruleset import RuleSet

REASONS = (
    "device_invalid",
    "speed_missing",
    "speed_low",
    "accel_missing",
    "accel_out_of_range",
    "vsp_out_of_range",
    "wind_high",
    "precipitation",
    "headway_short",
    "plate_unread",
    "plate_confidence_low",
    "plume_weak",
    "no_plume_data",
    "calibration_expired",
)
"""Reason codes in the order they are reported."""


@dataclass(frozen=True, slots=True)
class Gates:
    """Gate thresholds (rule RS-VALID)."""

    vsp_min: float = 0.0
    vsp_max: float = 20.0
    speed_min: float = 10.0  # km/h
    accel_abs_max: float = 3.0  # m/s²
    wind_max: float = 5.0  # m/s
    headway_min: float = 1.0  # s
    plate_confidence_min: float = 80.0  # %
    plume_co2_min: float = 0.0  # device unit; 0 disables

    @classmethod
    def from_ruleset(cls, rs: RuleSet) -> Gates:
        rule = rs.rule("RS-VALID")
        return cls(**{name: float(rule.param(name)) for name in cls.__slots__})


def _f(cols: Mapping[str, Any], name: str, n: int) -> np.ndarray | None:
    v = cols.get(name)
    if v is None:
        return None
    a = np.asarray(v, dtype=np.float64)
    return np.broadcast_to(a, (n,)) if a.ndim == 0 else a


def _b(cols: Mapping[str, Any], name: str, n: int) -> np.ndarray | None:
    """A nullable boolean column as float (1 true, 0 false, NaN unknown)."""
    v = cols.get(name)
    if v is None:
        return None
    a = np.asarray(v, dtype=object)
    if a.ndim == 0:
        a = np.broadcast_to(a, (n,))
    t = np.equal(a, True).astype(bool)
    f = np.equal(a, False).astype(bool)
    return np.where(t, 1.0, np.where(f, 0.0, np.nan))


def screen_masks(cols: Mapping[str, Any], gates: Gates, n: int) -> dict[str, np.ndarray]:
    """One boolean array per reason code: True where the gate fails.

    ``cols`` may hold ``device_valid``, ``speed_kmh``, ``accel_ms2``, ``vsp_kw_t``, ``wind_ms``,
    ``precipitation``, ``headway_s``, ``plate``, ``plate_confidence``, ``plume_co2``, ``ratio_co``,
    ``ratio_hc``, ``ratio_no``, ``calibration_ok``; absent columns make their gate not applicable.
    """
    out: dict[str, np.ndarray] = {}
    dv = _b(cols, "device_valid", n)
    if dv is not None:
        out["device_invalid"] = dv == 0.0
    speed = _f(cols, "speed_kmh", n)
    if speed is not None:
        out["speed_missing"] = np.isnan(speed)
        out["speed_low"] = speed < gates.speed_min
    acc = _f(cols, "accel_ms2", n)
    if acc is not None:
        out["accel_missing"] = np.isnan(acc) & ~np.isnan(speed if speed is not None else acc)
        out["accel_out_of_range"] = np.abs(acc) > gates.accel_abs_max
    vsp = _f(cols, "vsp_kw_t", n)
    if vsp is not None:
        out["vsp_out_of_range"] = (vsp < gates.vsp_min) | (vsp > gates.vsp_max)
    wind = _f(cols, "wind_ms", n)
    if wind is not None:
        out["wind_high"] = wind > gates.wind_max
    prec = _b(cols, "precipitation", n)
    if prec is not None:
        out["precipitation"] = prec == 1.0
    head = _f(cols, "headway_s", n)
    if head is not None:
        out["headway_short"] = head < gates.headway_min
    plate = cols.get("plate")
    if plate is not None:
        p = np.asarray(plate, dtype=object)
        if p.ndim == 0:
            p = np.broadcast_to(p, (n,))
        unread = np.array([not (isinstance(x, str) and x.strip()) for x in p], dtype=bool)
        out["plate_unread"] = unread
        conf = _f(cols, "plate_confidence", n)
        if conf is not None:
            out["plate_confidence_low"] = ~unread & (conf < gates.plate_confidence_min)
    plume = _f(cols, "plume_co2", n)
    if plume is not None and gates.plume_co2_min > 0:
        out["plume_weak"] = plume < gates.plume_co2_min
    ratios = [
        a for a in (_f(cols, r, n) for r in ("ratio_co", "ratio_hc", "ratio_no")) if a is not None
    ]
    if ratios:
        out["no_plume_data"] = np.logical_and.reduce([np.isnan(a) for a in ratios])
    cal = _b(cols, "calibration_ok", n)
    if cal is not None:
        out["calibration_expired"] = cal == 0.0
    return out


def joined(named: Sequence[tuple[str, np.ndarray]], n: int) -> np.ndarray:
    """Per row, the ``;``-joined names (in the given order) of the masks true in that row, as an
    object array of ``str`` (``""``: none). Rows share few combinations, so each combination's text
    is built once: the masks become one bit pattern per row, and the patterns index the texts."""
    if not named:
        return np.full(n, "", dtype=object)
    if len(named) > 63:  # more than one word of bits: combine in groups
        head, tail = joined(named[:63], n), joined(named[63:], n)
        return np.array(
            [f"{a};{b}" if a and b else a or b for a, b in zip(head, tail, strict=True)],
            dtype=object,
        )
    bits = np.zeros(n, dtype=np.int64)
    for k, (_, m) in enumerate(named):
        bits |= np.asarray(m, dtype=np.int64) << k
    patterns, where = np.unique(bits, return_inverse=True)
    texts = np.array(
        [
            ";".join(name for k, (name, _) in enumerate(named) if (int(p) >> k) & 1)
            for p in patterns
        ],
        dtype=object,
    )
    return texts[where.reshape(-1)]


def screen(cols: Mapping[str, Any], gates: Gates, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(valid, invalid_reason): a boolean array and a ``;``-joined string array of reason codes."""
    masks = screen_masks(cols, gates, n)
    named = [(code, masks[code]) for code in REASONS if code in masks]
    invalid = np.logical_or.reduce([m for _, m in named]) if named else np.zeros(n, dtype=bool)
    return ~invalid, joined(named, n)


def screen_one(cols: Mapping[str, Any], gates: Gates) -> tuple[str, ...]:
    """Reason codes for a single record (empty tuple: valid)."""
    masks = screen_masks(cols, gates, 1)
    return tuple(code for code in REASONS if code in masks and bool(masks[code][0]))

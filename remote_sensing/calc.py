"""Pure, vectorised remote-sensing arithmetic: fuel-specific emissions, VSP and concentrations.

Responsible for turning plume molar ratios (pollutant / CO2, mol/mol) and driving conditions into
the quantities the rules and analysts use. Every function takes scalars or numpy/pandas arrays and
returns the same shape; missing inputs (NaN) propagate to NaN outputs, they are never turned into 0
(except where stated for the carbon-balance denominator).

Formulas (docs/reference/rules.md §2.1):

* Fuel-specific emission, FEAT/CONOX form::

      E_X [g/kg] = k_X · MW_X · Q_X · 1000 / ( MF · (1 + Q_CO + 6·Q_HC) )

  MF = 14.0 g per mole of fuel carbon (CH~2); k_HC = 2 (NDIR propane-equivalent HC to total HC),
  k = 1 otherwise; NO is expressed as NO2 (MW 46.006). A missing CO or HC ratio counts as 0 in the
  carbon balance (its own g/kg stays NaN), which is what the source data does.
* VSP: the mph form (EPA / RSD 4600 coefficients) is the default because it matches the source VSP
  of real data; the SI form (Jiménez-Palacios, 0.132 rolling term) is kept for comparison.
* Concentrations: ratio × reference CO2 (``co2jg``): CO % = Q_CO · CO2 %, HC and NO ppm =
  Q · CO2 % · 10⁴. When the device gives no reference CO2, an undiluted dry-exhaust CO2 is estimated
  by carbon and oxygen balance for CH2 fuel burnt in air (derived here; a DEFAULT, not regulatory)::

      CO2 % = 100 / (6.64 + 4.76·Q_CO − 0.88·Q_HC)            (15.06 % at Q = 0)

Known limits: MF ignores ethanol blends (E5/E10 variants exist, low confidence); the carbon-balance
CO2 ignores excess air and the oxygen of HC, so concentrations from it are estimates, flagged by the
caller; FEAT-computed VSP differs from the mph form by a median 0.05 kW/t (the source's own rounding
and speed smoothing), RSD 4600 agrees within 0.05 kW/t.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# ---- fuel-specific emissions (rules.md §2.1; CONOX / FEAT form) ----
MF_G_PER_MOL_C = 14.0
"""Fuel mass per mole of carbon for CH~2 fuels (g/mol)."""

MOLAR_MASS = {"co": 28.01, "hc": 44.1, "no": 46.006, "no2": 46.006, "nh3": 17.031}
"""g/mol; NO is expressed as NO2, HC as propane."""

K_FACTOR = {"co": 1.0, "hc": 2.0, "no": 1.0, "no2": 1.0, "nh3": 1.0}
"""k_HC = 2 turns NDIR propane-equivalent HC into total HC; 1 for the others."""

POLLUTANTS = ("co", "hc", "no", "no2", "nh3")

# ---- VSP coefficients ----
KMH_PER_MPH = 1.609344


def _arr(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def carbon_denominator(q_co: Any, q_hc: Any, mf: float = MF_G_PER_MOL_C) -> np.ndarray:
    """MF · (1 + Q_CO + 6·Q_HC): grams of fuel per mole of CO2 in the plume. NaN ratios count as 0."""
    co = np.nan_to_num(_arr(q_co), nan=0.0)
    hc = np.nan_to_num(_arr(q_hc), nan=0.0)
    return mf * (1.0 + co + 6.0 * hc)


def fuel_specific(
    q_co: Any,
    q_hc: Any,
    q_no: Any,
    q_no2: Any = np.nan,
    q_nh3: Any = np.nan,
    mf: float = MF_G_PER_MOL_C,
) -> dict[str, np.ndarray]:
    """Grams of pollutant per kg of fuel for CO, HC, NO (as NO2), NO2, NOx (= NO + NO2) and NH3.

    Ratios are molar pollutant/CO2 ratios (mol/mol). Returns arrays keyed ``co_gpkg`` … ``nh3_gpkg``;
    ``nox_gpkg`` is NaN where NO2 is not measured.
    """
    den = carbon_denominator(q_co, q_hc, mf)
    ratios = {"co": q_co, "hc": q_hc, "no": q_no, "no2": q_no2, "nh3": q_nh3}
    out: dict[str, np.ndarray] = {}
    for p in POLLUTANTS:
        q = _arr(ratios[p])
        out[f"{p}_gpkg"] = K_FACTOR[p] * MOLAR_MASS[p] * q * 1000.0 / den
    out["nox_gpkg"] = out["no_gpkg"] + out["no2_gpkg"]
    # keep key order stable for output columns
    return {
        k: out[k] for k in ("co_gpkg", "hc_gpkg", "no_gpkg", "no2_gpkg", "nox_gpkg", "nh3_gpkg")
    }


def grade_fraction(grade: Any, unit: str = "percent") -> np.ndarray:
    """Road grade as tan(θ) (rise over run) from percent or degrees."""
    g = _arr(grade)
    if unit == "percent":
        return g / 100.0
    if unit == "degree":
        return np.tan(np.radians(g))
    raise ValueError(f"grade unit {unit!r}: expected 'percent' or 'degree'")


def vsp_mph_form(
    speed_kmh: Any, accel_kmh_s: Any, grade: Any = 0.0, grade_unit: str = "percent"
) -> np.ndarray:
    """VSP (kW/t) with the EPA / RSD 4600 coefficients, evaluated in mph and mph/s (default form).

    VSP = 4.39·sin(atan(G))·v + 0.22·v·a + 0.0954·v + 0.0000272·v³ (v mph, a mph/s, G fraction).
    """
    v = _arr(speed_kmh) / KMH_PER_MPH
    a = _arr(accel_kmh_s) / KMH_PER_MPH
    sin_t = np.sin(np.arctan(grade_fraction(grade, grade_unit)))
    return 4.39 * sin_t * v + 0.22 * v * a + 0.0954 * v + 0.0000272 * v**3


def vsp_si_form(
    speed_kmh: Any, accel_kmh_s: Any, grade: Any = 0.0, grade_unit: str = "percent"
) -> np.ndarray:
    """VSP (kW/t), Jiménez-Palacios SI form: v·(1.1·a + 9.81·sin θ + 0.132) + 0.000302·v³ (m/s, m/s²).

    Not a unit conversion of the mph form (the rolling term differs); kept for comparison only.
    """
    v = _arr(speed_kmh) / 3.6
    a = _arr(accel_kmh_s) / 3.6
    sin_t = np.sin(np.arctan(grade_fraction(grade, grade_unit)))
    return v * (1.1 * a + 9.81 * sin_t + 0.132) + 0.000302 * v**3


def vsp(
    speed_kmh: Any,
    accel_kmh_s: Any,
    grade: Any = 0.0,
    grade_unit: str = "percent",
    form: str = "mph",
) -> np.ndarray:
    """VSP in kW/t; ``form`` is ``"mph"`` (default, matches real data) or ``"si"``."""
    if form == "mph":
        return vsp_mph_form(speed_kmh, accel_kmh_s, grade, grade_unit)
    if form == "si":
        return vsp_si_form(speed_kmh, accel_kmh_s, grade, grade_unit)
    raise ValueError(f"VSP form {form!r}: expected 'mph' or 'si'")


def accel_ms2_to_kmh_s(a: Any) -> np.ndarray:
    return _arr(a) * 3.6


def carbon_balance_co2_pct(q_co: Any, q_hc: Any) -> np.ndarray:
    """Estimated undiluted dry-exhaust CO2 (%) for CH2 fuel burnt in air (see module docstring)."""
    co = np.nan_to_num(_arr(q_co), nan=0.0)
    hc = np.nan_to_num(_arr(q_hc), nan=0.0)
    return 100.0 / (6.64 + 4.76 * co - 0.88 * hc)


def concentrations(
    q_co: Any, q_hc: Any, q_no: Any, co2_ref_pct: Any = np.nan
) -> dict[str, np.ndarray]:
    """Exhaust concentrations from ratios: ``co_pct`` (%), ``hc_ppm``, ``no_ppm`` and the CO2 used.

    ``co2_ref_pct`` is the device's reference CO2 (``co2jg``); where it is NaN the carbon-balance
    estimate is used and ``co2_estimated`` is True.
    """
    ref = _arr(co2_ref_pct)
    est = carbon_balance_co2_pct(q_co, q_hc)
    ref_b = np.broadcast_to(ref, est.shape) if est.ndim else ref
    missing = np.isnan(ref_b)
    co2 = np.where(missing, est, ref_b)
    return {
        "co2_pct": co2,
        "co2_estimated": missing,
        "co_pct": _arr(q_co) * co2,
        "hc_ppm": _arr(q_hc) * co2 * 1.0e4,
        "no_ppm": _arr(q_no) * co2 * 1.0e4,
    }

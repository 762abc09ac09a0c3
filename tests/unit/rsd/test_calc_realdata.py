"""calc.py against the source's own computed values in 100,000 real UK passes (tests/data/rsd).

The source publishes g/kg rounded to 0.01 and ratios rounded to 6 decimals, so near 0.5 g/kg the
rounding alone is worth up to 1 %: the 0.7 % criterion (rules.md §2.1) is asserted as a share, and
a rounding-aware bound is asserted per pass on top.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from remote_sensing import calc

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / "tests" / "data" / "rsd" / "conox_uk_2012_2013_100k.csv.gz"


POLLUTANTS = ("CO", "HC", "NO", "NO2", "NH3")


@pytest.fixture(scope="module")
def conox() -> pd.DataFrame:
    return pd.read_csv(DATA, low_memory=False)


@pytest.fixture(scope="module")
def ours(conox: pd.DataFrame) -> dict[str, np.ndarray]:
    return calc.fuel_specific(
        conox["Ratio_CO_CO2"],
        conox["Ratio_HC_CO2"],
        conox["Ratio_NO_CO2"],
        conox["Ratio_NO2_CO2"],
        conox["Ratio_NH3_CO2"],
    )


def _shares(conox: pd.DataFrame, ours: dict[str, np.ndarray]) -> dict[str, tuple[int, float]]:
    out = {}
    for p in POLLUTANTS:
        src = conox[f"{p}_gpkg"].to_numpy()
        mine = ours[f"{p.lower()}_gpkg"]
        m = ~np.isnan(src) & (np.abs(src) >= 0.5)
        rel = np.abs(mine[m] - src[m]) / np.abs(src[m])
        out[p] = (int(m.sum()), float(np.mean(rel <= 0.007)))
    return out


def test_gpkg_within_0p7_percent_share(conox: pd.DataFrame, ours: dict[str, np.ndarray]) -> None:
    shares = _shares(conox, ours)
    print(
        "share within 0.7 % (|g/kg| >= 0.5):",
        {p: f"{s:.4f} of {n}" for p, (n, s) in shares.items()},
    )
    n_all = sum(n for n, _ in shares.values())
    pooled = sum(n * s for n, s in shares.values()) / n_all
    print(f"pooled share: {pooled:.4f} of {n_all}")
    assert pooled >= 0.97
    for p in ("CO", "HC", "NO"):  # large values, rounding matters little
        assert shares[p][1] >= 0.97, p
    for p in ("NO2", "NH3"):  # mostly small values: rounding of the published numbers dominates
        assert shares[p][1] >= 0.93, p


def test_gpkg_rounding_aware_every_pass(conox: pd.DataFrame, ours: dict[str, np.ndarray]) -> None:
    """|ours - source| <= 0.7 % + the effect of the source's own rounding, for ≥ 99.5 % of passes."""
    den = calc.carbon_denominator(conox["Ratio_CO_CO2"], conox["Ratio_HC_CO2"])
    for p in POLLUTANTS:
        src = conox[f"{p}_gpkg"].to_numpy()
        mine = ours[f"{p.lower()}_gpkg"]
        slope = calc.K_FACTOR[p.lower()] * calc.MOLAR_MASS[p.lower()] * 1000.0 / den
        tol = 0.007 * np.abs(src) + 0.005 + slope * 5e-7  # g/kg rounding + ratio rounding
        m = ~np.isnan(src)
        ok = np.abs(mine[m] - src[m]) <= tol[m]
        assert ok.mean() >= 0.995, (p, ok.mean())


def test_missing_values_propagate(conox: pd.DataFrame, ours: dict[str, np.ndarray]) -> None:
    no2_missing = conox["Ratio_NO2_CO2"].isna().to_numpy()
    assert no2_missing.any()
    assert np.isnan(ours["no2_gpkg"][no2_missing]).all()
    assert np.isnan(ours["nox_gpkg"][no2_missing]).all()
    src = conox["NOx_gpkg"].to_numpy()
    both = ~np.isnan(src) & ~no2_missing & (np.abs(src) >= 0.5)
    rel = np.abs(ours["nox_gpkg"][both] - src[both]) / np.abs(src[both])
    assert np.mean(rel <= 0.007) >= 0.97


def test_no_is_expressed_as_no2(conox: pd.DataFrame) -> None:
    """With MW 30 (NO as NO) the values would be about 35 % low: the source uses 46.006."""
    src = conox["NO_gpkg"].to_numpy()
    q = conox["Ratio_NO_CO2"].to_numpy()
    den = calc.carbon_denominator(conox["Ratio_CO_CO2"], conox["Ratio_HC_CO2"])
    as_no = 30.006 * q * 1000.0 / den
    m = ~np.isnan(src) & (src >= 5)
    assert np.median(as_no[m] / src[m]) < 0.7


def _vsp_frame(conox: pd.DataFrame, instrument: str) -> pd.DataFrame:
    g = conox[(conox["Instrument"] == instrument) & conox["VSP"].notna()]
    assert len(g) > 1000
    return g


def test_vsp_mph_form_matches_rsd4600(conox: pd.DataFrame) -> None:
    g = _vsp_frame(conox, "RSD 4600")
    mine = calc.vsp(g["SpeedKPH"], g["AccelKPHPerSec"], g["RoadGrade"], "percent")
    d = np.abs(mine - g["VSP"].to_numpy())
    print(
        f"RSD 4600 mph form: median |Δ| {np.median(d):.4f} kW/t, within 0.05: {np.mean(d <= 0.05):.4f}"
    )
    assert np.mean(d <= 0.05) >= 0.995
    assert np.median(d) < 0.01


def test_vsp_mph_form_close_for_feat(conox: pd.DataFrame) -> None:
    g = _vsp_frame(conox, "DU FEAT")
    mine = calc.vsp(g["SpeedKPH"], g["AccelKPHPerSec"], g["RoadGrade"], "percent")
    d = np.abs(mine - g["VSP"].to_numpy())
    print(f"FEAT mph form: median |Δ| {np.median(d):.4f} kW/t, within 0.5: {np.mean(d <= 0.5):.4f}")
    assert np.median(d) < 0.1
    assert np.mean(d <= 0.5) >= 0.95


@pytest.mark.parametrize("instrument", ["RSD 4600", "DU FEAT"])
def test_si_form_does_not_match(conox: pd.DataFrame, instrument: str) -> None:
    g = _vsp_frame(conox, instrument)
    si = calc.vsp(g["SpeedKPH"], g["AccelKPHPerSec"], g["RoadGrade"], "percent", form="si")
    mph = calc.vsp(g["SpeedKPH"], g["AccelKPHPerSec"], g["RoadGrade"], "percent")
    src = g["VSP"].to_numpy()
    assert np.median(np.abs(si - src)) > 0.5
    assert np.median(np.abs(si - src)) > 5 * np.median(np.abs(mph - src))

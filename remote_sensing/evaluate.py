"""Column-wise evaluation of RSD passes: calc + validity + judgement + recomputation checks.

Responsible for the one computation path shared by the intake (a batch of records becomes
``RsdPass`` events) and the analyst CLI (``rsd evaluate`` over a file). Input is a mapping of
canonical column name → array (see ``remote_sensing.profiles``); output adds the computed columns:
``co_gpkg … nh3_gpkg``, ``vsp_kw_t``, ``co2_pct``, ``co_pct``, ``hc_ppm``, ``no_ppm``, ``valid``,
``invalid_reason``, ``judgement``, ``exceeded_rules`` and ``quality_flags``.

Judgement: ``pass``, ``fail`` (over at least one confirmed limit), ``provisional`` (over only
limits of provisional rules, ``confirmed: false`` in the rule set, e.g. RS-G-HC: shown, never
counted as a failure, as such rules do not feed the repeat rule either) or ``not_judged``;
``exceeded_rules`` names every limit exceeded, provisional ones included.

Quality flags (data quality, never a judgement): ``co2_estimated`` (no device reference CO2),
``vsp_mismatch`` / ``conc_mismatch`` (RS-RECALC), ``device_limit_mismatch`` (RS-LIMIT-AUDIT).

Known limits: grade units may differ per row (per site) and are given as a ``grade_unit`` column or
one value for all rows; a row with no grade uses 0.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.ruleset import RuleSet
from remote_sensing import calc
from remote_sensing.rules import LimitRule, judge_frame, limit_rules
from remote_sensing.validity import Gates, joined, screen

OUTPUT_COLUMNS = (
    "co_gpkg",
    "hc_gpkg",
    "no_gpkg",
    "no2_gpkg",
    "nox_gpkg",
    "nh3_gpkg",
    "vsp_kw_t",
    "valid",
    "invalid_reason",
    "co2_pct",
    "co_pct",
    "hc_ppm",
    "no_ppm",
    "judgement",
    "exceeded_rules",
    "quality_flags",
)

# device-applied limit column → (measure judged, fuel-independent compare)
_DEVICE_LIMITS = {
    "limit_co_pct": "co_pct",
    "limit_hc_ppm": "hc_ppm",
    "limit_no_ppm": "no_ppm",
    "limit_opacity_pct": "opacity_pct",
    "limit_ringelmann": "ringelmann",
}


@dataclass(frozen=True, slots=True)
class Evaluator:
    """Gates, limit table and tolerances resolved once from a rule set."""

    ruleset_version: str
    gates: Gates
    table: tuple[LimitRule, ...]
    conc_rel_tol: float
    vsp_abs_tol: float
    vsp_form: str = "mph"
    provisional_rules: frozenset[str] = frozenset()

    @classmethod
    def from_ruleset(cls, rs: RuleSet, vsp_form: str = "mph") -> Evaluator:
        recalc = rs.rule("RS-RECALC")
        return cls(
            ruleset_version=rs.version,
            gates=Gates.from_ruleset(rs),
            table=limit_rules(rs),
            conc_rel_tol=float(recalc.param("conc_rel_tol")),
            vsp_abs_tol=float(recalc.param("vsp_abs_tol")),
            vsp_form=vsp_form,
            provisional_rules=frozenset(
                lr.rule.id for lr in limit_rules(rs) if not lr.rule.confirmed
            ),
        )

    def compute(
        self, cols: Mapping[str, Any], n: int, grade_unit: Any = "percent"
    ) -> dict[str, Any]:
        """All computed columns for ``n`` passes (see module docstring)."""

        def f(name: str) -> np.ndarray:
            v = cols.get(name)
            if v is None:
                return np.full(n, np.nan)
            a = np.asarray(v, dtype=np.float64)
            return np.broadcast_to(a, (n,)) if a.ndim == 0 else a

        out: dict[str, Any] = {}
        q_co, q_hc, q_no = f("ratio_co"), f("ratio_hc"), f("ratio_no")
        out.update(calc.fuel_specific(q_co, q_hc, q_no, f("ratio_no2"), f("ratio_nh3")))

        grade = np.nan_to_num(f("grade"), nan=0.0)
        gu = np.asarray(grade_unit, dtype=object)
        if gu.ndim == 0:
            frac = calc.grade_fraction(grade, str(gu))
        else:
            frac = np.where(gu == "degree", np.tan(np.radians(grade)), grade / 100.0)
        speed, acc = f("speed_kmh"), f("accel_ms2")
        vsp = calc.vsp(speed, calc.accel_ms2_to_kmh_s(acc), frac * 100.0, "percent", self.vsp_form)
        out["vsp_kw_t"] = vsp

        conc = calc.concentrations(q_co, q_hc, q_no, f("co2_ref_pct"))
        out["co2_pct"] = conc["co2_pct"]
        out["co_pct"], out["hc_ppm"], out["no_ppm"] = conc["co_pct"], conc["hc_ppm"], conc["no_ppm"]

        # our VSP where speed is known (cols may convert lazily: read only what the gates need)
        screen_cols: Mapping[str, Any] = (
            # ChainMap writes only to its first map; typeshed asks every map to be mutable
            ChainMap({"vsp_kw_t": vsp}, cols)  # type: ignore[arg-type]
            if "speed_kmh" in cols
            else cols
        )
        valid, reasons = screen(screen_cols, self.gates, n)
        out["valid"], out["invalid_reason"] = valid, reasons

        fuel = cols.get("fuel")
        fuel_a = (
            np.full(n, "unknown", dtype=object) if fuel is None else np.asarray(fuel, dtype=object)
        )
        nev = self.new_energy(cols, fuel_a, n)
        measures = {
            "co_pct": out["co_pct"],
            "hc_ppm": out["hc_ppm"],
            "no_ppm": out["no_ppm"],
            "opacity_pct": f("opacity_pct"),
            "ringelmann": f("ringelmann"),
        }
        out.update(judge_frame(measures, fuel_a, valid, nev, self.table, n, self.provisional_rules))
        out["new_energy"] = nev
        out["co2_estimated"] = conc["co2_estimated"]
        out["quality_flags"] = self._flags(cols, out, measures, fuel_a, f, n)
        return out

    @staticmethod
    def new_energy(cols: Mapping[str, Any], fuel: np.ndarray, n: int) -> np.ndarray:
        nev = fuel == "electric"
        colour = cols.get("plate_colour")
        if colour is not None:
            nev = nev | np.isin(np.asarray(colour, dtype=object), ["green", "yellow_green"])
        ptype = cols.get("plate_type")
        if ptype is not None:
            nev = nev | np.isin(np.asarray(ptype, dtype=object), ["51", "52"])
        return nev

    def _flags(self, cols, out, measures, fuel, f, n) -> np.ndarray:  # type: ignore[no-untyped-def]
        flags: list[tuple[str, np.ndarray]] = [("co2_estimated", np.asarray(out["co2_estimated"]))]
        if "device_vsp" in cols:
            d = np.abs(out["vsp_kw_t"] - f("device_vsp"))
            flags.append(("vsp_mismatch", d > self.vsp_abs_tol))
        mism = np.zeros(n, dtype=bool)
        for dev, ours in (
            ("device_co_pct", "co_pct"),
            ("device_hc_ppm", "hc_ppm"),
            ("device_no_ppm", "no_ppm"),
        ):
            if dev in cols:
                dv = f(dev)
                with np.errstate(invalid="ignore", divide="ignore"):
                    rel = np.abs(measures[ours] - dv) / np.maximum(np.abs(dv), 1e-9)
                mism |= (rel > self.conc_rel_tol) & ~np.isnan(dv) & (np.abs(dv) > 0)
        flags.append(("conc_mismatch", mism))
        lim_mism = np.zeros(n, dtype=bool)
        for dev_col, measure in _DEVICE_LIMITS.items():
            if dev_col not in cols:
                continue
            dv = f(dev_col)
            for lr in self.table:
                if lr.measure != measure:
                    continue
                m = (fuel == lr.fuel) & ~np.isnan(dv) & (np.abs(dv - lr.limit.value) > 1e-9)
                lim_mism |= m
        flags.append(("device_limit_mismatch", lim_mism))
        return joined(flags, n)

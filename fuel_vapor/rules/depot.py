"""Oil depots: processing-unit outlet and efficiency (OD-PROC) and tank-truck compartment pressure
while loading (OD-TRUCK). Fires when a check's level rises; a falling level re-arms it.

What the processor keeps between readings is a :class:`DepotTrack`; it becomes a plain dict only at
the state store (``to_dict`` / ``from_dict``, the stored form of the first release).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.ruleset import Rule, RuleSet
from fuel_vapor.events import DepotReading
from fuel_vapor.rules.common import fire_vapour, param


@dataclass(slots=True)
class DepotTrack:
    """What the depot processor remembers of one depot: the last level of each check
    (0 normal, 1 above the limit / warning, 2 alarm)."""

    depot_id: str
    jurisdiction: str
    mn: str
    outlet: int = 0
    eff: int = 0
    truck: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The stored form (JSON-ready; keys as the first release wrote them)."""
        return {
            "depot": self.depot_id,
            "jur": self.jurisdiction,
            "mn": self.mn,
            "outlet": self.outlet,
            "eff": self.eff,
            "truck": self.truck,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DepotTrack:
        return cls(d["depot"], d["jur"], d["mn"], d["outlet"], d["eff"], d["truck"])


class DepotRules:
    """OD-PROC (outlet, efficiency) and OD-TRUCK (compartment pressure); fires on level changes."""

    def __init__(self, rs: RuleSet) -> None:
        self.r_proc = rs.rule("OD-PROC")
        self.r_truck = rs.rule("OD-TRUCK")
        self.outlet_limit = rs.strictest("OD-PROC").value

    @staticmethod
    def new_state(depot_id: str, jurisdiction: str, mn: str) -> DepotTrack:
        return DepotTrack(depot_id, jurisdiction, mn)

    def on_reading(self, st: DepotTrack, r: DepotReading) -> list[Any]:
        out: list[Any] = []
        ev = [f"{DepotReading.KIND}:{r.event_id}"]

        def check(
            name: str,
            before: int,
            level: int,
            rule: Rule,
            measured: float,
            limit: float,
            unit: str,
            sev: str | None,
        ) -> int:
            if level > before:
                out.append(
                    fire_vapour(
                        rule,
                        r.ts,
                        "depot",
                        st.depot_id,
                        st.jurisdiction,
                        st.mn,
                        measured,
                        limit,
                        unit,
                        evidence=ev,
                        detail={"check": name},
                        window=f"{name}:{level}",
                        severity=sev,
                    )
                )
            return level

        if r.outlet_g_m3 is not None:
            st.outlet = check(
                "outlet",
                st.outlet,
                int(r.outlet_g_m3 > self.outlet_limit),
                self.r_proc,
                r.outlet_g_m3,
                self.outlet_limit,
                "g/m3",
                None,
            )
        if r.efficiency_pct is not None:
            lim = param(self.r_proc, "min_efficiency_pct")
            low = int(r.efficiency_pct < lim)
            st.eff = check("eff", st.eff, low, self.r_proc, r.efficiency_pct, lim, "%", None)
        if r.truck_pressure_kpa is not None:
            warn, alarm = param(self.r_truck, "warn_kpa"), param(self.r_truck, "alarm_kpa")
            p = r.truck_pressure_kpa
            lvl = 2 if p > alarm else 1 if p > warn else 0
            st.truck = check(
                "truck",
                st.truck,
                lvl,
                self.r_truck,
                p,
                alarm if lvl == 2 else warn,
                "kPa",
                "alarm" if lvl == 2 else None,
            )
        return out

"""Cross-source rules (pure), run on one subject's findings from every source (rules.md §3.2).

* ``ENF-REPEAT`` — the repeat rule fed by every source that proves a same-pollutant exceedance:
  RSD limit rules (RS-G-*, RS-D-*, not provisional), a reviewer-confirmed black-smoke capture
  (BS-CONFIRM, pollutant "ringelmann"), a failed field check (k → opacity, Ringelmann). Two proofs of
  one pollutant within ``window_months`` fire it when at least one is not RSD (RSD-only pairs are
  RSD's own RS-REPEAT). The window restarts after a pair.
* ``ENF-X-SMOKE-RSD`` — an RSD limit exceedance and a BS-CONFIRM of the vehicle within ``window_days``.
* ``ENF-X-NOX`` — OBD-SCR / OBD-NOX-WIN and an RSD NO exceedance within ``window_days``.
* ``ENF-X-OBD-SEEN`` — OBD-OFFLINE while an RSD unit or a smoke camera saw the vehicle inside the
  offline period (``detail.since`` .. the exceedance time): tamper lead.
* ``ENF-FLEET`` — more than ``share_max`` of a fleet's registered vehicles with a confirmed case
  within ``window_months`` (fed by ``fleet_mark`` findings the case processor emits on confirm).

Every rule fires through ``core.exceedance.fire`` with source ``enforcement``; findings from
``enforcement`` itself never feed these rules (no loops). No clock: the finding's ``ts`` is now.
Known limit: "consecutive" is not checked across sources (enforcement sees exceedances, not the
passes in between); embedded, this memory starts empty after a restart (as the sources' windows do).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from core.exceedance import Exceedance, fire
from core.registry import Registry
from core.ruleset import RuleSet
from enforcement.cases import months_before
from enforcement.events import CaseFinding

SOURCE = "enforcement"
SMOKE_CONFIRM = "BS-CONFIRM"
OBD_NOX = ("OBD-SCR", "OBD-NOX-WIN")
MAX_RECENT = 100


def is_rsd_limit(rule_id: str) -> bool:
    return rule_id.startswith(("RS-G-", "RS-D-"))


def proof_pollutant(f: CaseFinding) -> str:
    """The pollutant a finding proves for the repeat rule, or "" when it proves none."""
    if f.finding != "exceedance" or f.source == SOURCE:
        return ""
    if is_rsd_limit(f.rule_id):  # a provisional limit (RS-G-HC) does not count until confirmed
        return "" if f.provisional else f.pollutant
    if f.rule_id == SMOKE_CONFIRM:  # the named reviewer's confirmation is the decision
        return "ringelmann"
    return ""


@dataclass(slots=True)
class Memory:
    """What the cross-source rules remember per subject (JSON at the store boundary)."""

    repeat: dict[str, dict[str, Any]] = field(default_factory=dict)
    recent: list[dict[str, Any]] = field(default_factory=list)
    sightings: list[dict[str, Any]] = field(default_factory=list)
    fleet: dict[str, str] = field(default_factory=dict)
    fleet_fired: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            k: getattr(self, k) for k in ("repeat", "recent", "sightings", "fleet", "fleet_fired")
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Memory:
        return cls(**(d or {}))


def _fire(
    rs: RuleSet,
    rule_id: str,
    f: CaseFinding,
    others: list[dict[str, Any]],
    detail: dict[str, Any],
    window: str,
) -> Exceedance:
    evidence = [f"exceedance:{f.source_event_id}", *(f"exceedance:{o['id']}" for o in others)]
    return fire(
        rs.rule(rule_id),
        f.ts,
        source=SOURCE,
        subject_kind=f.subject_kind,
        subject_id=f.subject_id,
        jurisdiction=f.jurisdiction,
        device_id=f.device_id,
        measured=f.measured,
        limit=f.limit,
        unit=f.unit,
        evidence=[*evidence, *f.evidence],
        quality_flags=f.quality_flags,
        detail={
            "plate": f.plate,
            "vin": f.vin,
            "trigger": {"rule_id": f.rule_id, "source": f.source, "id": f.source_event_id},
            "with": others,
            **detail,
        },
        window=window,
    )


def _ref(f: CaseFinding, pollutant: str = "") -> dict[str, Any]:
    return {
        "id": f.source_event_id,
        "rule_id": f.rule_id,
        "source": f.source,
        "ts": f.ts.isoformat(),
        "jurisdiction": f.jurisdiction,
        "device_id": f.device_id,
        "pollutant": pollutant or f.pollutant,
    }


def repeat_proof(mem: Memory, rs: RuleSet, f: CaseFinding, pollutant: str) -> list[Exceedance]:
    """Feed one proof of ``pollutant`` into the cross-source repeat window."""
    months = int(rs.rule("ENF-REPEAT").param("window_months"))
    ref = _ref(f, pollutant)
    first = mem.repeat.get(pollutant)
    if first is None or datetime.fromisoformat(first["ts"]) < months_before(f.ts, months):
        mem.repeat[pollutant] = ref
        return []
    if datetime.fromisoformat(first["ts"]) > f.ts:  # an older proof arriving late: keep the older
        mem.repeat[pollutant] = ref
        return []
    mem.repeat.pop(pollutant, None)
    if first["source"] == "remote_sensing" and f.source == "remote_sensing":
        mem.repeat[pollutant] = ref  # RSD-only pairs are RS-REPEAT's; the window goes on from here
        return []
    return [
        _fire(rs, "ENF-REPEAT", f, [first], {"pollutant": pollutant}, f"{pollutant}:{first['id']}")
    ]


def _pair(mem: Memory, f: CaseFinding, days: float, match: Any) -> list[dict[str, Any]]:
    lo, hi = f.ts - timedelta(days=days), f.ts + timedelta(days=days)
    return [
        r
        for r in mem.recent
        if match(r) and lo <= datetime.fromisoformat(r["ts"]) <= hi and r["id"] != f.source_event_id
    ]


def on_finding(mem: Memory, rs: RuleSet, f: CaseFinding) -> list[Exceedance]:
    """Run the cross-source rules for a finding; update the memory. Returns fired exceedances."""
    if f.finding == "sighting":
        keep = int(rs.rule("ENF-X-OBD-SEEN").param("keep_sightings"))
        mem.sightings = [*mem.sightings, _ref(f)][-keep:]
        return []
    if f.finding != "exceedance" or f.source == SOURCE:
        return []
    out: list[Exceedance] = []
    pol = proof_pollutant(f)
    if pol:
        out += repeat_proof(mem, rs, f, pol)
    rid = f.rule_id
    days = float(rs.rule("ENF-X-SMOKE-RSD").param("window_days"))
    if (is_rsd_limit(rid) and not f.provisional) or rid == SMOKE_CONFIRM:
        want = (
            (lambda r: r["rule_id"] == SMOKE_CONFIRM)
            if rid != SMOKE_CONFIRM
            else (lambda r: is_rsd_limit(r["rule_id"]))
        )
        others = _pair(mem, f, days, want)
        if others:
            out.append(_fire(rs, "ENF-X-SMOKE-RSD", f, others[-1:], {}, others[-1]["id"]))
    ndays = float(rs.rule("ENF-X-NOX").param("window_days"))
    if rid in OBD_NOX or rid == "RS-D-NO":
        want = (
            (lambda r: r["rule_id"] == "RS-D-NO")
            if rid in OBD_NOX
            else (lambda r: r["rule_id"] in OBD_NOX)
        )
        others = _pair(mem, f, ndays, want)
        if others:
            out.append(_fire(rs, "ENF-X-NOX", f, others[-1:], {}, others[-1]["id"]))
    if rid == "OBD-OFFLINE":
        since_s = f.detail.get("since")
        if isinstance(since_s, str):
            since = datetime.fromisoformat(since_s)
            seen = [s for s in mem.sightings if since <= datetime.fromisoformat(s["ts"]) <= f.ts]
            if seen:
                out.append(
                    _fire(
                        rs,
                        "ENF-X-OBD-SEEN",
                        f,
                        seen[-5:],
                        {"since": since_s, "seen": len(seen)},
                        since_s,
                    )
                )
    if rid in (SMOKE_CONFIRM, "RS-D-NO", *OBD_NOX) or is_rsd_limit(rid):
        mem.recent = [*mem.recent, _ref(f)][-MAX_RECENT:]
    return out


def on_fleet_mark(mem: Memory, rs: RuleSet, f: CaseFinding, registry: Registry) -> list[Exceedance]:
    """A vehicle of the fleet ``f.subject_id`` had a case confirmed (``f.vin``): ENF-FLEET."""
    rule = rs.rule("ENF-FLEET")
    months = int(rule.param("window_months"))
    share_max = float(rule.param("share_max"))
    mem.fleet[f.vin] = f.ts.isoformat()
    lo = months_before(f.ts, months)
    mem.fleet = {v: t for v, t in mem.fleet.items() if datetime.fromisoformat(t) >= lo}
    size = sum(1 for v in registry.obd_vehicles if v.fleet == f.subject_id)
    if size == 0:
        return []
    share = len(mem.fleet) / size
    month = f.ts.strftime("%Y-%m")
    if share <= share_max or month in mem.fleet_fired:
        return []
    mem.fleet_fired = [*mem.fleet_fired, month][-24:]
    return [
        fire(
            rule,
            f.ts,
            source=SOURCE,
            subject_kind="fleet",
            subject_id=f.subject_id,
            jurisdiction=f.jurisdiction,
            device_id=f.device_id,
            measured=round(share, 4),
            limit=share_max,
            unit="fraction",
            evidence=[f"vehicle:{v}" for v in sorted(mem.fleet)],
            detail={"fleet": f.subject_id, "vehicles": size, "non_compliant": sorted(mem.fleet)},
            window=month,
        )
    ]

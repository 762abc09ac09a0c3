"""Cross-source rules (pure), run on one subject's findings from every source (rules.md §3.2).

* ``ENF-REPEAT`` — the repeat rule fed by every source that proves a same-pollutant exceedance:
  RSD limit rules (RS-G-*, RS-D-*, not provisional), a reviewer-confirmed black-smoke capture
  (BS-CONFIRM, pollutant "ringelmann"), a failed field check (GB 3847 k → "opacity", a visual
  Ringelmann reading → "ringelmann"). Counted as the rule text says (rules.md §2.1, RS-REPEAT):
  two *consecutive* proofs of one pollutant, the second dated no later than the first + 6 calendar
  months (Beijing dates), at least one of them not RSD (RSD-only pairs are RSD's own RS-REPEAT).
  "Consecutive": no valid clean observation of that pollutant in between — a judged RSD pass within
  the limit (the case processor consumes ``rsd.pass`` on the same vehicle key) or a passed field
  check. A proof that arrives late (a capture confirmed days after it was taken) pairs by its
  offence time, in either order. After a pair the window closes; the next proof opens a new one.
* ``ENF-X-SMOKE-RSD`` — an RSD limit exceedance and a BS-CONFIRM of the vehicle within ``window_days``.
* ``ENF-X-NOX`` — OBD-SCR / OBD-NOX-WIN and an RSD NO exceedance within ``window_days``.
* ``ENF-X-OBD-SEEN`` — OBD-OFFLINE while an RSD unit or a smoke camera saw the vehicle inside the
  offline period (``detail.since`` .. the exceedance time): tamper lead.
* ``ENF-FLEET`` — more than ``share_max`` of a fleet's registered vehicles with a confirmed case
  within ``window_months`` (fed by ``fleet_mark`` findings the case processor emits on confirm).

One vehicle, one memory: the subject key is ``enforcement.identity``'s; proofs, clean observations
and sightings whose known plate colours differ are two vehicles and never pair
(``identity.same_colour``). Every rule fires through ``core.exceedance.fire`` with source
``enforcement``; findings from ``enforcement`` itself never feed these rules (no loops). No clock:
the finding's ``ts`` is now. The memory is JSON at the store boundary; embedded, ``streams``
rebuilds it at start by replaying the stored findings and passes through these same functions
(``enforcement.processors.restore_memory``).

Known limits: OBD proves no pollutant the repeat rule counts (its NOx is a tailpipe sensor reading,
not an RSD plume ratio: ENF-X-NOX pairs them instead); a clean RSD pass is remembered only for a
vehicle the case processor already holds state for, so a proof arriving after it, older than it,
does not see it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from core.exceedance import Exceedance, fire
from core.registry import Registry
from core.ruleset import RuleSet
from core.timeutil import BEIJING
from enforcement.cases import months_before
from enforcement.events import CaseFinding
from enforcement.identity import same_colour
from remote_sensing.rules import add_months

SOURCE = "enforcement"
SMOKE_CONFIRM = "BS-CONFIRM"
FIELD_CHECK = "field_check"
OBD_NOX = ("OBD-SCR", "OBD-NOX-WIN")
MAX_RECENT = 100
MAX_CLEAN = 10  # clean observations remembered per pollutant (late proofs look between them)


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
    if f.source == FIELD_CHECK:  # a failed roadside / in-company check (enforcement.processors)
        return f.pollutant
    return ""


@dataclass(slots=True)
class Memory:
    """What the cross-source rules remember per subject (JSON at the store boundary)."""

    repeat: dict[str, dict[str, Any]] = field(default_factory=dict)
    recent: list[dict[str, Any]] = field(default_factory=list)
    sightings: list[dict[str, Any]] = field(default_factory=list)
    fleet: dict[str, str] = field(default_factory=dict)
    fleet_fired: list[str] = field(default_factory=list)
    clean: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            k: getattr(self, k)
            for k in ("repeat", "recent", "sightings", "fleet", "fleet_fired", "clean")
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
        "colour": f.plate_colour,
    }


def _ts(r: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(r["ts"])


def _same(r: dict[str, Any], colour: str) -> bool:
    return same_colour(str(r.get("colour") or ""), colour)


def in_window(first: datetime, second: datetime, months: int) -> bool:
    """The second proof dated no later than the first + ``months`` calendar months (Beijing dates)."""
    return second.astimezone(BEIJING).date() <= add_months(first.astimezone(BEIJING).date(), months)


def broken(mem: Memory, pollutant: str, a: datetime, b: datetime, colour: str) -> bool:
    """A clean observation of ``pollutant`` strictly between ``a`` and ``b``: not consecutive."""
    return any(a < _ts(c) < b and _same(c, colour) for c in mem.clean.get(pollutant, ()))


def on_clean(mem: Memory, pollutant: str, ts: datetime, colour: str, source: str) -> None:
    """A valid observation of ``pollutant`` within the limit (a judged RSD pass, a passed field
    check): it ends a run of consecutive exceedances, so an open repeat window older than it closes."""
    _clean(mem, pollutant, ts, ts.isoformat(), colour, source)


def on_clean_all(
    mem: Memory, pollutants: Iterable[str], ts: datetime, colour: str, source: str
) -> None:
    """``on_clean`` for every pollutant one observation proved within the limit, in order."""
    iso = ts.isoformat()
    for pollutant in pollutants:
        _clean(mem, pollutant, ts, iso, colour, source)


def _clean(mem: Memory, pollutant: str, ts: datetime, iso: str, colour: str, source: str) -> None:
    seen = mem.clean.get(pollutant, ())
    kept = [*seen, {"ts": iso, "colour": colour, "source": source}]
    if seen and _ts(seen[-1]) > ts:  # kept in time order: only an older observation moves
        kept.sort(key=_ts)
    mem.clean[pollutant] = kept[-MAX_CLEAN:]
    first = mem.repeat.get(pollutant)
    if first is not None and _ts(first) < ts and _same(first, colour):
        del mem.repeat[pollutant]


def repeat_proof(mem: Memory, rs: RuleSet, f: CaseFinding, pollutant: str) -> list[Exceedance]:
    """Feed one proof of ``pollutant`` into the cross-source repeat window (either order)."""
    months = int(rs.rule("ENF-REPEAT").param("window_months"))
    ref = _ref(f, pollutant)
    first = mem.repeat.get(pollutant)
    if first is not None and first["id"] == f.source_event_id:
        return []  # the same proof again (a replay)
    if first is None or not _same(first, f.plate_colour):
        mem.repeat[pollutant] = ref  # nothing open for this vehicle: the window opens here
        return []
    a, b = sorted((first, ref), key=_ts)
    if not in_window(_ts(a), _ts(b), months) or broken(
        mem, pollutant, _ts(a), _ts(b), f.plate_colour
    ):
        mem.repeat[pollutant] = b  # not a repeat: the window restarts at the later proof
        return []
    del mem.repeat[pollutant]
    if a["source"] == "remote_sensing" and b["source"] == "remote_sensing":
        mem.repeat[pollutant] = b  # RSD-only pairs are RS-REPEAT's; the window goes on from here
        return []
    return [
        _fire(rs, "ENF-REPEAT", f, [first], {"pollutant": pollutant}, f"{pollutant}:{first['id']}")
    ]


def _pair(mem: Memory, f: CaseFinding, days: float, match: Any) -> list[dict[str, Any]]:
    lo, hi = f.ts - timedelta(days=days), f.ts + timedelta(days=days)
    return [
        r
        for r in mem.recent
        if match(r)
        and lo <= _ts(r) <= hi
        and r["id"] != f.source_event_id
        and _same(r, f.plate_colour)
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
            seen = [
                s for s in mem.sightings if since <= _ts(s) <= f.ts and _same(s, f.plate_colour)
            ]
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

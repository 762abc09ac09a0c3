"""RSD processors: per valid pass, exceedances per pollutant and the first/repeat decision.

Responsible for turning ``rsd.pass`` events into ``core.exceedance.Exceedance`` events (the
contract of docs/CONTRACTS.md): one per limit rule that fires (RS-G-CO, RS-D-NO, …), plus RS-FIRST
(owner reminder) or RS-REPEAT (case candidate) for rules that feed the repeat rule. Each exceedance
carries the pass id, the raw payload reference and the image/video references as evidence, the rule
id and the rule-set version. State per vehicle key (``vehicle:<plate number>``, the partition key of
the pass) holds the open repeat windows per plate colour: the RSD vehicle is number + colour.

Passes that are invalid, new-energy, of an unjudged fuel or without a plate are not judged (the
warehouse keeps them with their reasons for site quality). No clock reads: ``event.ts`` is now.

The RSD repeat window sees RSD passes only: a source never reads another source's output. The
cross-source repeat rule (a confirmed black-smoke capture, BS-CONFIRM, counting as a Ringelmann
exceedance beside RS-D-RING) is enforcement's: ``enforcement.rules``.

Known limits: the rule set used is the processor context's (the current version); a pass stored
with another ``ruleset_version`` is re-judged with the current one.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

import numpy as np

from core.exceedance import Exceedance, fire
from core.processing import Context, Processor
from remote_sensing.events import RsdPass, plate_key
from remote_sensing.rules import (
    JUDGED_FUELS,
    LimitRule,
    is_new_energy,
    judge,
    limit_rules,
    update_repeat,
)

SOURCE = "remote_sensing"
_TABLES: weakref.WeakKeyDictionary[Any, tuple[LimitRule, ...]] = weakref.WeakKeyDictionary()


def _table(ctx: Context) -> tuple[LimitRule, ...]:
    """The limit table of the context's rule set, resolved once per rule-set object."""
    t = _TABLES.get(ctx.ruleset)
    if t is None:
        t = _TABLES[ctx.ruleset] = limit_rules(ctx.ruleset)
    return t


def evidence_of(p: RsdPass) -> tuple[str, ...]:
    """Evidence references of a pass: the stored pass, its raw payload, images and video."""
    ev = [f"rsd.pass:{p.event_id}"]
    if p.raw_ref:
        ev.append(p.raw_ref)
    ev.extend(p.images)
    if p.video:
        ev.append(p.video)
    return tuple(ev)


def _first_ref(first: dict[str, Any]) -> tuple[str, ...]:
    """Evidence reference of the exceedance that opened a repeat window (RSD pass or smoke)."""
    if "pass_id" in first:
        return (f"rsd.pass:{first['pass_id']}",)
    if "exceedance_id" in first:
        return (f"exceedance:{first['exceedance_id']}",)
    return ()


def judgeable(p: RsdPass) -> bool:
    return p.valid and bool(p.plate) and not p.is_new_energy and p.fuel in JUDGED_FUELS


def _measures(event: RsdPass) -> dict[str, float | None]:
    return {
        "co_pct": event.co_pct,
        "hc_ppm": event.hc_ppm,
        "no_ppm": event.no_ppm,
        "opacity_pct": event.opacity_pct,
        "ringelmann": event.ringelmann,
    }


def clean_pollutants(event: RsdPass, ctx: Context) -> list[str]:
    """The pollutants this pass proves within the limit, for the rules that feed the repeat rule
    (what breaks "consecutive" for the cross-source repeat rule, ``enforcement.rules``)."""
    if not judgeable(event):
        return []
    return [
        f.lr.pollutant
        for f in judge(_measures(event), event.fuel, _table(ctx))
        if not f.exceeded and f.lr.feeds_repeat
    ]


def clean_pollutants_frame(cols: Mapping[str, Any], ctx: Context) -> list[tuple[str, ...]]:
    """``clean_pollutants`` of many passes at once, the same answer per pass (in the same order):
    ``cols`` holds ``valid``, ``plate``, ``plate_colour``, ``plate_type``, ``fuel`` and the measures
    (``co_pct`` … ``ringelmann``; NaN or None where absent) of every pass, one sequence each. For
    the case processor's memory replay at start (``enforcement.processors.restore_memory``), which
    would otherwise build and judge a hundred thousand passes one by one."""
    n = len(cols["fuel"])
    fuel = np.asarray(cols["fuel"], dtype=object)
    nev = np.fromiter(
        (
            is_new_energy(c, t, f)
            for c, t, f in zip(cols["plate_colour"], cols["plate_type"], fuel, strict=True)
        ),
        dtype=bool,
        count=n,
    )
    plate = np.asarray(cols["plate"], dtype=object)
    ok = np.asarray(cols["valid"], dtype=bool) & (plate != "") & ~nev & np.isin(fuel, JUDGED_FUELS)
    out: list[list[str]] = [[] for _ in range(n)]
    for lr in _table(ctx):
        if not lr.feeds_repeat:
            continue
        m = np.asarray(cols[lr.measure], dtype=np.float64)  # None: NaN
        applies = ok & (fuel == lr.fuel) & ~np.isnan(m)
        decide: Any = lr.limit.exceeded_by  # the per-pass decision (``judge``), on a column
        with np.errstate(invalid="ignore"):
            clean = applies & ~np.asarray(decide(m), dtype=np.bool_)
        for i in np.flatnonzero(clean).tolist():
            out[i].append(lr.pollutant)
    return [tuple(x) for x in out]


def handle_pass(
    event: RsdPass, state: MutableMapping[str, Any], ctx: Context
) -> Iterable[Exceedance]:
    if not judgeable(event):
        return []
    findings = judge(_measures(event), event.fuel, _table(ctx))
    if not findings:
        return []
    key = event.key  # vehicle:<number>; the RSD vehicle is number + colour (rules.md §2.1)
    by_colour = dict(state.get(key) or {})
    vstate = dict(by_colour.get(event.plate_colour) or {})
    vstate["open"] = dict(vstate.get("open") or {})
    evidence = evidence_of(event)
    flags = tuple(event.quality_flags)
    subject = plate_key(event.plate, event.plate_colour)
    base: dict[str, Any] = {
        "site_id": event.site_id,
        "record_id": event.record_id,
        "plate": event.plate,
        "plate_colour": event.plate_colour,
        "fuel": event.fuel,
        "vsp_kw_t": event.vsp_kw_t,
        "speed_kmh": event.speed_kmh,
    }
    if (
        event.latitude is not None
    ):  # a mobile unit: where it stood (its jurisdiction is the event's)
        base["latitude"], base["longitude"] = event.latitude, event.longitude
    out: list[Exceedance] = []
    repeat_window = int(ctx.ruleset.rule("RS-REPEAT").param("window_months"))
    for f in findings:
        lr = f.lr
        if f.exceeded:
            out.append(
                fire(
                    rule=lr.rule,
                    ts=event.ts,
                    source=SOURCE,
                    subject_kind="vehicle",
                    subject_id=subject,
                    jurisdiction=event.jurisdiction,
                    device_id=event.site_id,
                    measured=f.measured,
                    limit=lr.limit.value,
                    unit=lr.limit.unit,
                    evidence=evidence,
                    quality_flags=flags,
                    detail={**base, "pollutant": lr.pollutant, "limit_text": lr.limit.text},
                    window=event.record_id,
                )
            )
        if not lr.feeds_repeat:
            continue
        ref = {"pass_id": event.event_id, "site_id": event.site_id, "measured": f.measured}
        verdict, first = update_repeat(
            vstate, lr.pollutant, event.ts, f.exceeded, ref, repeat_window
        )
        if verdict is None:
            continue
        rule = ctx.ruleset.rule("RS-FIRST" if verdict == "first" else "RS-REPEAT")
        ev2 = evidence if first is None else (*evidence, *_first_ref(first))
        detail = {**base, "pollutant": lr.pollutant, "limit_rule": lr.rule.id}
        if first is not None:
            detail["first"] = first
        out.append(
            fire(
                rule=rule,
                ts=event.ts,
                source=SOURCE,
                subject_kind="vehicle",
                subject_id=subject,
                jurisdiction=event.jurisdiction,
                device_id=event.site_id,
                measured=f.measured,
                limit=lr.limit.value,
                unit=lr.limit.unit,
                evidence=ev2,
                quality_flags=flags,
                detail=detail,
                window=f"{lr.pollutant}:{event.record_id}",
            )
        )
    by_colour[event.plate_colour] = vstate
    state[key] = by_colour
    return out


def handle(event: Any, state: MutableMapping[str, Any], ctx: Context) -> Iterable[Exceedance]:
    if isinstance(event, RsdPass):
        return handle_pass(event, state, ctx)
    return []


PROCESSORS: list[Processor] = [
    Processor(name="rsd.judge", inputs=(RsdPass.KIND,), handle=handle),
]

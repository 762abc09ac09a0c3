"""Enforcement's stream processors (pure; run by the in-process bus and by Faust agents alike).

``enforcement.identity`` consumes every ``exceedance`` (keyed by the source's subject: ``plate|colour``,
plate, VIN, nozzle …) plus ``rsd.pass`` and ``smoke.capture`` of OBD-registered vehicles (sightings),
resolves the subject across sources (``enforcement.identity``) and re-publishes it as a
``case.finding`` keyed by the one subject key (``vehicle:<plate or VIN>``, ``station:<id>`` …). It
keeps no state; a plate↔VIN pair a source supplied becomes a ``vehicle.link``.

``enforcement.cases`` consumes ``case.finding`` and ``case.command`` on that subject key, and
``rsd.pass`` (partitioned by the same ``vehicle:<plate number>``) only to see a clean judged pass
break a run of exceedances for the repeat rule (a vehicle it holds no memory of costs one lookup): one
processor owns every case of a subject, so commands on one case are applied in one order, the first
of two based on the same version wins and the second is rejected (``case.entry`` with
``entry="rejected"``, which the caller reads back). Per finding: the cross-source rules
(``enforcement.rules``; what they fire comes back as exceedances) and open-or-attach (one open case
per subject and issue). Per command: ``enforcement.cases.apply``; a smoke case's confirmation or
dismissal becomes a ``smoke.review`` (smoke_capture's own rules then fire BS-CONFIRM, which feeds the
repeat rules); a confirmed case of a fleet vehicle marks the fleet (ENF-FLEET).

State per subject key (JSON; Faust table in production, a dict embedded): open and recent cases,
the number of cases opened, the times of confirmed cases (repetition for discretion) and the
cross-source memory. Embedded, ``streams`` restores it at start: cases from ``case.state``
(:func:`restore`), the memory by replaying the stored inputs (:func:`restore_memory`).
"""

from __future__ import annotations

import json
import operator
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.errors import ValidationError
from core.events import deterministic_id
from core.exceedance import Exceedance
from core.processing import Context, Processor
from core.timeutil import BEIJING
from enforcement import rules
from enforcement.cases import (
    Case,
    Change,
    Rejection,
    add_finding,
    apply,
    canonical,
    issue_of,
    load_discretion,
    months_before,
    new_case,
    opens_case,
)
from enforcement.events import (
    CaseCommand,
    CaseEntry,
    CaseFinding,
    CaseState,
    VehicleLink,
)
from enforcement.identity import (
    links_in,
    parse_plate,
    registry_links,
    same_colour,
    subject_of,
    vehicle_class,
    vehicle_subject,
)
from remote_sensing.events import RsdPass, pass_key
from remote_sensing.processors import clean_pollutants, clean_pollutants_frame
from smoke_capture.events import UNKNOWN_PLATE, SmokeCapture, SmokeReview

PREFIX = {"qingpu": "QP", "wujiang": "WJ", "jiashan": "JS"}
CHECK_POLLUTANT = {"k": "opacity", "ringelmann": "ringelmann"}  # field check → repeat pollutant
KEEP_CLOSED = 20


# ---------------------------------------------------------------------------- identity


def finding_of(ex: Exceedance, ctx: Context) -> CaseFinding:
    links = registry_links(ctx.registry)
    s = subject_of(ex, links)
    d = ex.detail
    pollutant = str(d.get("pollutant") or "")
    if not pollutant and ex.rule_id.startswith("RS-"):
        try:
            pollutant = str(ctx.ruleset.rule(ex.rule_id).param("pollutant"))
        except KeyError:
            pollutant = ""
    return CaseFinding(
        event_id=CaseFinding.make_id("exceedance", ex.event_id, s.key),
        ts=ex.ts,
        finding="exceedance",
        subject_kind=s.kind,
        subject_id=s.id,
        plate=s.plate,
        plate_colour=s.plate_colour,
        vin=s.vin,
        vehicle_class=vehicle_class(ex, ctx.registry, s),
        source=ex.source,
        source_event_id=ex.event_id,
        rule_id=ex.rule_id,
        ruleset_version=ex.ruleset_version,
        severity=ex.severity,
        jurisdiction=ex.jurisdiction,
        device_id=ex.device_id,
        measured=ex.measured,
        limit=ex.limit,
        unit=ex.unit,
        pollutant=pollutant,
        provisional=ex.provisional,
        evidence=ex.evidence,
        quality_flags=ex.quality_flags,
        detail_json=ex.detail_json,
    )


def sighting(
    ts: datetime,
    plate: str,
    colour: str,
    source: str,
    eid: str,
    jur: str,
    device: str,
    ctx: Context,
) -> list[CaseFinding]:
    """A roadside unit or camera saw an OBD-registered vehicle (for ENF-X-OBD-SEEN)."""
    links = registry_links(ctx.registry)
    try:
        number = parse_plate(plate).number
    except ValidationError:
        return []
    vins = links.vins_of(number)
    if len(vins) != 1 or not same_colour(colour, links.colour_of(number)):
        return []
    s = vehicle_subject(number, vins[0], links, colour)
    return [
        CaseFinding(
            event_id=CaseFinding.make_id("sighting", eid, s.key),
            ts=ts,
            finding="sighting",
            subject_kind="vehicle",
            subject_id=s.id,
            plate=s.plate,
            plate_colour=s.plate_colour,
            vin=s.vin,
            vehicle_class="heavy_diesel",
            source=source,
            source_event_id=eid,
            rule_id="",
            ruleset_version=ctx.ruleset.version,
            severity="info",
            jurisdiction=jur,
            device_id=device,
            measured=None,
            limit=None,
            unit="",
            pollutant="",
            provisional=False,
            evidence=(),
            quality_flags=(),
            detail_json="",
        )
    ]


def handle_identity(event: Any, state: MutableMapping[str, Any], ctx: Context) -> Iterable[Any]:
    if isinstance(event, Exceedance):
        f = finding_of(event, ctx)
        out: list[Any] = [f]
        for plate, vin, src in links_in(event, registry_links(ctx.registry)):
            out.append(
                VehicleLink(
                    event_id=deterministic_id(VehicleLink.KIND, plate, vin, src),
                    ts=event.ts,
                    plate=plate,
                    vin=vin,
                    source=src,
                    source_event_id=event.event_id,
                )
            )
        return out
    if isinstance(event, RsdPass):
        if not event.plate:
            return []
        return sighting(
            event.ts,
            event.plate,
            event.plate_colour,
            "remote_sensing",
            event.event_id,
            event.jurisdiction,
            event.site_id,
            ctx,
        )
    if isinstance(event, SmokeCapture):
        if not event.plate_known:
            return []
        return sighting(
            event.ts,
            event.plate,
            event.plate_colour,
            "smoke_capture",
            event.event_id,
            event.jurisdiction,
            event.camera_id,
            ctx,
        )
    return []


# ---------------------------------------------------------------------------- cases


@dataclass(slots=True)
class SubjectState:
    cases: dict[str, dict[str, Any]] = field(default_factory=dict)
    open: dict[str, str] = field(default_factory=dict)
    n: int = 0
    confirmed: list[str] = field(default_factory=list)
    memory: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "open": self.open,
            "n": self.n,
            "confirmed": self.confirmed,
            "memory": self.memory,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> SubjectState:
        return cls(**(d or {}))


def case_id_for(subject_key: str, issue: str, n: int, jurisdiction: str, ts: datetime) -> str:
    """``QP-20261120-3F9A2C``: bureau of the first finding, Beijing date, stable hash."""
    h = deterministic_id("case", subject_key, issue, n)[:6].upper()
    day = ts.astimezone(BEIJING).strftime("%Y%m%d")
    return f"{PREFIX.get(jurisdiction, 'YRD')}-{day}-{h}"


def entry_of(case: Case, ch: Change) -> CaseEntry:
    return CaseEntry(
        event_id=deterministic_id(CaseEntry.KIND, case.case_id, ch.seq, ch.request_id, ch.hash),
        ts=ch.ts,
        case_id=case.case_id,
        seq=ch.seq,
        subject_kind=case.subject_kind,
        subject_id=case.subject_id,
        jurisdiction=case.jurisdiction,
        entry=ch.entry,
        action=ch.action,
        actor=ch.actor,
        actor_jurisdiction=ch.actor_jurisdiction,
        status_before=ch.status_before,
        status_after=ch.status_after,
        reason=ch.reason,
        payload_json=canonical(ch.payload),
        request_id=ch.request_id,
        prev_hash=ch.prev_hash,
        hash=ch.hash,
    )


def state_of(case: Case) -> CaseState:
    return CaseState(
        event_id=deterministic_id(CaseState.KIND, case.case_id, case.version),
        ts=datetime.fromisoformat(case.updated_at),
        case_id=case.case_id,
        version=case.version,
        subject_kind=case.subject_kind,
        subject_id=case.subject_id,
        plate=case.plate,
        vin=case.vin,
        vehicle_class=case.vehicle_class,
        jurisdiction=case.jurisdiction,
        issue=case.issue,
        status=case.status,
        opened_at=datetime.fromisoformat(case.opened_at),
        severity=case.severity,
        rules=tuple(case.rules),
        sources=tuple(case.sources),
        jurisdictions=tuple(case.jurisdictions),
        findings=case.n_findings,
        score=case.score,
        score_terms_json=canonical(case.terms),
        suggested_measure=str(case.suggested.get("measure", "")),
        measure=str(case.measure.get("measure", "")),
        head_hash=case.head_hash,
        state_json=json.dumps(case.to_dict(), ensure_ascii=False, separators=(",", ":")),
    )


def rejection_entry(cmd: CaseCommand, case: Case | None, rej: Rejection) -> CaseEntry:
    kind, _, sid = cmd.subject_key.partition(":")
    return CaseEntry(
        event_id=deterministic_id(CaseEntry.KIND, cmd.case_id, "rejected", cmd.event_id),
        ts=cmd.ts,
        case_id=cmd.case_id,
        seq=case.version if case else 0,
        subject_kind=case.subject_kind if case else kind,
        subject_id=case.subject_id if case else sid,
        jurisdiction=case.jurisdiction if case else (cmd.actor_jurisdiction or "zone"),
        entry="rejected",
        action=cmd.action,
        actor=cmd.actor,
        actor_jurisdiction=cmd.actor_jurisdiction,
        status_before=case.status if case else "",
        status_after=case.status if case else "",
        reason=rej.message,
        payload_json=canonical({"code": rej.code, "based_on_version": cmd.based_on_version}),
        request_id=cmd.event_id,
        prev_hash="",
        hash="",
    )


def _store(st: SubjectState, case: Case) -> None:
    st.cases[case.case_id] = case.to_dict()
    if case.open:
        st.open[case.issue] = case.case_id
    elif st.open.get(case.issue) == case.case_id:
        del st.open[case.issue]
    closed = [cid for cid, c in st.cases.items() if cid not in st.open.values()]
    for cid in closed[:-KEEP_CLOSED]:
        del st.cases[cid]


def on_finding(st: SubjectState, f: CaseFinding, ctx: Context) -> list[Any]:
    mem = rules.Memory.from_dict(st.memory)
    if f.finding == "fleet_mark":
        out: list[Any] = rules.on_fleet_mark(mem, ctx.ruleset, f, ctx.registry)
        st.memory = mem.to_dict()
        return out
    out = list(rules.on_finding(mem, ctx.ruleset, f))
    st.memory = mem.to_dict()
    if f.finding != "exceedance":
        return out
    issue = issue_of(f)
    cid = st.open.get(issue)
    if cid is not None and cid in st.cases:
        case = Case.from_dict(st.cases[cid])
    elif opens_case(f):
        st.n += 1
        case = new_case(case_id_for(f.key, issue, st.n, f.jurisdiction, f.ts), f)
    else:
        return out
    ch = add_finding(case, f)
    if ch is None:
        return out
    _store(st, case)
    return [*out, entry_of(case, ch), state_of(case)]


def _smoke_reviews(case: Case, cmd: CaseCommand, payload: dict[str, Any]) -> list[SmokeReview]:
    """The reviewer's decision on every capture of a smoke case (smoke_capture judges it)."""
    out: list[SmokeReview] = []
    confirmed = cmd.action != "dismiss"
    plate = case.plate or (
        case.subject_id if not case.subject_id.startswith(("unread:", "camera:")) else ""
    )
    for cap, camera, jur in case.captures:
        out.append(
            SmokeReview(
                event_id=SmokeReview.make_id(cap, cmd.actor, cmd.ts),
                ts=cmd.ts,
                capture_id=cap,
                camera_id=camera,
                jurisdiction=jur,
                plate=plate or UNKNOWN_PLATE,
                reviewer=cmd.actor,
                decision="confirmed" if confirmed else "dismissed",
                reason="" if confirmed else payload.get("dismiss_code", "other"),
                confirmed_grade=payload.get("grade") if confirmed else None,
                note=f"case {case.case_id}" + (f": {cmd.reason}" if cmd.reason else ""),
                corrected_plate=str(payload.get("corrected_plate") or ""),
            )
        )
    return out


def on_command(st: SubjectState, cmd: CaseCommand, ctx: Context) -> list[Any]:
    raw = st.cases.get(cmd.case_id)
    if raw is None:
        return [
            rejection_entry(
                cmd, None, Rejection("unknown_case", f"未知案件 {cmd.case_id} (unknown case)")
            )
        ]
    case = Case.from_dict(raw)
    if cmd.event_id in case.requests:
        return []  # a replayed command: applied once
    table = load_discretion()
    if cmd.action == "confirm":
        lo = months_before(cmd.ts, table.lookback_months)
        case.repetition = 1 + sum(1 for t in st.confirmed if datetime.fromisoformat(t) >= lo)
    before = case.status
    res = apply(case, cmd, ctx.ruleset, table)
    if isinstance(res, Rejection):
        return [rejection_entry(cmd, case, res)]
    out: list[Any] = []
    payload = json.loads(canonical(res.payload))
    if case.status == "confirmed" and before != "confirmed":
        if not case.measure:  # confirmed by a failed field check
            case.suggested = table.suggest(case)
            case.measure = {**case.suggested, "override": False, "reviewer": cmd.actor}
        st.confirmed = [*st.confirmed, cmd.ts.isoformat()][-50:]
        v = ctx.registry.vehicle(case.vin) if case.vin else None
        if v is not None:
            out.append(fleet_mark(case, v.fleet, cmd, ctx))
    if case.issue == "smoke" and cmd.action in ("confirm", "dismiss"):
        out.extend(_smoke_reviews(case, cmd, payload))
    if cmd.action == "check" and payload.get("result") in ("failed", "passed"):
        pol = CHECK_POLLUTANT.get(payload.get("method", ""), "")
        if pol and case.subject_kind == "vehicle":
            mem = rules.Memory.from_dict(st.memory)
            if payload["result"] == "failed":
                f = check_finding(case, cmd, pol, ctx)
                out.extend(rules.repeat_proof(mem, ctx.ruleset, f, pol))
            else:  # a passing reading of the pollutant: the run of exceedances is not consecutive
                rules.on_clean(mem, pol, cmd.ts, case.plate_colour, rules.FIELD_CHECK)
            st.memory = mem.to_dict()
    _store(st, case)
    return [entry_of(case, res), state_of(case), *out]


def check_finding(case: Case, cmd: CaseCommand, pollutant: str, ctx: Context) -> CaseFinding:
    p = cmd.payload
    return CaseFinding(
        event_id=CaseFinding.make_id("exceedance", cmd.event_id, case.subject_key),
        ts=cmd.ts,
        finding="exceedance",
        subject_kind=case.subject_kind,
        subject_id=case.subject_id,
        plate=case.plate,
        plate_colour=case.plate_colour,
        vin=case.vin,
        vehicle_class=case.vehicle_class,
        source=rules.FIELD_CHECK,
        source_event_id=cmd.event_id,
        rule_id="ENF-FIELD",
        ruleset_version=ctx.ruleset.version,
        severity="case",
        jurisdiction=cmd.actor_jurisdiction
        if cmd.actor_jurisdiction in PREFIX
        else case.jurisdiction,
        device_id=str(p.get("instrument") or "field"),
        measured=float(p.get("value", 0.0) or 0.0),
        limit=None,
        unit="",
        pollutant=pollutant,
        provisional=False,
        evidence=(f"case.entry:{case.case_id}#{case.version}",),
        quality_flags=(),
        detail_json="",
    )


def fleet_mark(case: Case, fleet: str, cmd: CaseCommand, ctx: Context) -> CaseFinding:
    key = f"fleet:{fleet}"
    return CaseFinding(
        event_id=CaseFinding.make_id("fleet_mark", case.case_id, key),
        ts=cmd.ts,
        finding="fleet_mark",
        subject_kind="fleet",
        subject_id=fleet,
        plate=case.plate,
        plate_colour="",
        vin=case.vin,
        vehicle_class=case.vehicle_class,
        source="enforcement",
        source_event_id=case.case_id,
        rule_id="ENF-FLEET",
        ruleset_version=ctx.ruleset.version,
        severity="info",
        jurisdiction=case.jurisdiction if case.jurisdiction in PREFIX else "unknown",
        device_id=case.vin,
        measured=None,
        limit=None,
        unit="",
        pollutant="",
        provisional=False,
        evidence=(f"case:{case.case_id}",),
        quality_flags=(),
        detail_json="",
    )


def on_pass(raw: dict[str, Any] | None, p: RsdPass, ctx: Context) -> dict[str, Any] | None:
    """A judged RSD pass of a vehicle the processor remembers: the pollutants it proves clean
    break "consecutive" (``rules.on_clean``). Returns the new state, None when nothing changed
    (the common case: no memory for this vehicle, or nothing clean)."""
    if not raw or not raw.get("memory"):
        return None
    clean = clean_pollutants(p, ctx)
    if not clean:
        return None
    st = SubjectState.from_dict(raw)
    mem = rules.Memory.from_dict(st.memory)
    rules.on_clean_all(mem, clean, p.ts, p.plate_colour, "remote_sensing")
    st.memory = mem.to_dict()
    return st.to_dict()


def handle_cases(event: Any, state: MutableMapping[str, Any], ctx: Context) -> Iterable[Any]:
    key = event.key
    if isinstance(event, RsdPass):
        new = on_pass(state.get(key), event, ctx)
        if new is not None:
            state[key] = new
        return []
    st = SubjectState.from_dict(state.get(key))
    if isinstance(event, CaseFinding):
        out = on_finding(st, event, ctx)
    elif isinstance(event, CaseCommand):
        out = on_command(st, event, ctx)
    else:
        return []
    state[key] = st.to_dict()
    return out


def restore(
    case_dicts: Iterable[dict[str, Any]], counts: dict[str, int]
) -> dict[str, dict[str, Any]]:
    """Processor state per subject key rebuilt from stored case states (the latest version of each
    case) and the number of cases per subject: what ``streams`` loads at start in embedded mode and
    what the CLI loads for one subject when no platform runs."""
    out: dict[str, SubjectState] = {}
    for d in case_dicts:
        case = Case.from_dict(d)
        st = out.setdefault(case.subject_key, SubjectState())
        _store(st, case)
        if case.measure:
            st.confirmed.append(case.updated_at)
    for key, n in counts.items():
        out.setdefault(key, SubjectState()).n = n
    return {k: v.to_dict() for k, v in out.items()}


@dataclass(frozen=True, slots=True)
class CheckResult:
    """A field check read back from the case log (for :func:`restore_memory`)."""

    ts: datetime
    subject_key: str
    case_id: str
    seq: int
    request_id: str
    jurisdiction: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PassSeen:
    """A stored RSD pass as the memory replay reads it (for :func:`restore_memory`): its time,
    its key (``RsdPass.key``), its plate colour and the pollutants it proved within the limit
    (``remote_sensing.processors.clean_pollutants``). Built by :func:`passes_seen`."""

    ts: datetime
    key: str
    plate_colour: str
    clean: tuple[str, ...]


def passes_seen(cols: Mapping[str, Sequence[Any]], ctx: Context) -> list[PassSeen]:
    """Stored passes, one sequence per column (``ts`` aware, ``site_id``, ``plate``,
    ``plate_colour``, ``plate_type``, ``valid``, ``fuel`` and the measures), as the replay reads
    them: judged all at once (``clean_pollutants_frame``) instead of pass by pass."""
    clean = clean_pollutants_frame(cols, ctx)
    return [
        PassSeen(ts, pass_key(plate, site), colour, c)
        for ts, plate, site, colour, c in zip(
            cols["ts"], cols["plate"], cols["site_id"], cols["plate_colour"], clean, strict=True
        )
    ]


def _check_proof(c: CheckResult, st: SubjectState, pol: str, ctx: Context) -> CaseFinding:
    """The proof a failed field check was (as ``check_finding`` built it when it was entered)."""
    kind, _, sid = c.subject_key.partition(":")
    case = st.cases.get(c.case_id) or {}
    return CaseFinding(
        event_id=CaseFinding.make_id("exceedance", c.request_id, c.subject_key),
        ts=c.ts,
        finding="exceedance",
        subject_kind=kind,
        subject_id=sid,
        plate=str(case.get("plate", "")),
        plate_colour=str(case.get("plate_colour", "")),
        vin=str(case.get("vin", "")),
        vehicle_class=str(case.get("vehicle_class", "unknown")),
        source=rules.FIELD_CHECK,
        source_event_id=c.request_id,
        rule_id="ENF-FIELD",
        ruleset_version=ctx.ruleset.version,
        severity="case",
        jurisdiction=c.jurisdiction,
        device_id=str(c.payload.get("instrument") or "field"),
        measured=float(c.payload.get("value", 0.0) or 0.0),
        limit=None,
        unit="",
        pollutant=pol,
        provisional=False,
        evidence=(f"case.entry:{c.case_id}#{c.seq}",),
        quality_flags=(),
        detail_json="",
    )


def restore_memory(
    states: MutableMapping[str, Any],
    items: Iterable[CaseFinding | RsdPass | PassSeen | CheckResult],
    ctx: Context,
) -> int:
    """Rebuild the cross-source memory (repeat windows, recent proofs, clean observations,
    sightings, fleet marks) by replaying stored inputs, in time order, through the same rule
    functions the processor runs; what they fire now is dropped (it was fired and stored the first
    time). ``states``: the processor's state per subject key, open cases already restored
    (:func:`restore`); updated in place. Returns the number of items replayed.

    The result is the state ``handle_cases`` would reach item by item (a subject's items only ever
    read and write that subject's state, so the subjects are independent): each subject touched
    is held as one ``SubjectState`` and one ``rules.Memory`` while its items are replayed and
    written back once at the end, instead of a JSON round trip per item. As in ``on_pass``, a pass
    changes a subject only when the subject has a memory by then and the pass proves a pollutant
    clean; a field check without a repeat pollutant or a result changes nothing."""
    live: dict[str, tuple[SubjectState, rules.Memory]] = {}

    def held(key: str) -> tuple[SubjectState, rules.Memory]:
        got = live.get(key)
        if got is None:
            st = SubjectState.from_dict(states.get(key))
            got = live[key] = (st, rules.Memory.from_dict(st.memory))
        return got

    n = 0
    for it in sorted(items, key=_ts_of):
        n += 1
        if isinstance(it, PassSeen | RsdPass):
            if isinstance(it, PassSeen) and not it.clean:
                continue  # proves nothing clean: changes nothing (most passes of an emitter)
            key = it.key
            if key not in live:
                raw = states.get(key)
                if not raw or not raw.get("memory"):
                    continue
            clean = it.clean if isinstance(it, PassSeen) else clean_pollutants(it, ctx)
            if clean:
                rules.on_clean_all(held(key)[1], clean, it.ts, it.plate_colour, "remote_sensing")
            continue
        if isinstance(it, CheckResult):
            pol = CHECK_POLLUTANT.get(str(it.payload.get("method", "")), "")
            result = it.payload.get("result")
            if not pol or result not in ("failed", "passed"):
                continue
            st, mem = held(it.subject_key)
            if result == "failed":
                rules.repeat_proof(mem, ctx.ruleset, _check_proof(it, st, pol, ctx), pol)
            else:
                case = st.cases.get(it.case_id) or {}
                rules.on_clean(
                    mem, pol, it.ts, str(case.get("plate_colour", "")), rules.FIELD_CHECK
                )
            continue
        mem = held(it.key)[1]
        if it.finding == "fleet_mark":
            rules.on_fleet_mark(mem, ctx.ruleset, it, ctx.registry)
        else:
            rules.on_finding(mem, ctx.ruleset, it)
    for key, (st, mem) in live.items():
        st.memory = mem.to_dict()
        states[key] = st.to_dict()
    return n


_ts_of = operator.attrgetter("ts")  # the replay's order: time (a stable sort)


PROCESSORS: list[Processor] = [
    Processor(
        "enforcement.identity",
        (Exceedance.KIND, RsdPass.KIND, SmokeCapture.KIND),
        handle_identity,
    ),
    Processor(
        "enforcement.cases", (CaseFinding.KIND, CaseCommand.KIND, RsdPass.KIND), handle_cases
    ),
]

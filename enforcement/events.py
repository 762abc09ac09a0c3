"""Enforcement's events: the contract between the exceedance stream, the case processor, the
warehouse and the API. The exceedance itself is core's (``core.exceedance``).

* ``case.finding`` — an exceedance (or a sighting of an OBD-registered vehicle by a roadside unit or a
  smoke camera) resolved to one subject across sources (``enforcement.identity``), keyed by that
  subject (``vehicle:<plate or VIN>``, ``station:<id>``, ``fleet:<id>`` …). Re-keying is what lets one
  processor see a vehicle's RSD, smoke and OBD findings together.
* ``case.command`` — a person's (or the system's) request to act on a case: review, confirm, dismiss,
  notify, refer, check, reinspect, close. It names the case version it was based on; it travels on
  the case's subject key, so the single processor of that key orders every command of the case.
* ``case.entry`` — the append-only action log (who, when, what, why, from which jurisdiction), one
  entry per accepted change (``seq`` = the case version it produced) and one per rejected command
  (``entry = "rejected"``, so the caller learns why). Accepted entries are hash-chained per case.
* ``case.state`` — the case as derived from its log after each change (one row per version): what
  lists and the desk read, with the triage score and its terms.
* ``vehicle.link`` — a plate↔VIN link a source supplied (stored for the history queries).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from core.errors import ValidationError
from core.events import deterministic_id, require_aware
from core.ruleset import SEVERITY_ORDER
from enforcement.vocabulary import ACTIONS, STATUSES

FINDING_KINDS = ("exceedance", "sighting", "fleet_mark")
ENTRY_KINDS = ("opened", "evidence", "action", "rejected")


def _json(d: Any) -> str:
    return json.dumps(d, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


@dataclass(frozen=True, slots=True)
class CaseFinding:
    """An exceedance or sighting resolved to a subject across sources. Id: source event + kind."""

    KIND: ClassVar[str] = "case.finding"

    event_id: str
    ts: datetime
    finding: str  # exceedance | sighting | fleet_mark
    subject_kind: str
    subject_id: str
    plate: str
    plate_colour: str
    vin: str
    vehicle_class: str
    source: str
    source_event_id: str
    rule_id: str
    ruleset_version: str
    severity: str
    jurisdiction: str
    device_id: str
    measured: float | None
    limit: float | None
    unit: str
    pollutant: str
    provisional: bool
    evidence: tuple[str, ...]
    quality_flags: tuple[str, ...]
    detail_json: str

    def __post_init__(self) -> None:
        require_aware("ts", self.ts)
        if self.finding not in FINDING_KINDS:
            raise ValidationError("finding", self.finding, f"one of {', '.join(FINDING_KINDS)}")
        if not self.subject_id:
            raise ValidationError("subject_id", self.subject_id, "a non-empty subject id")
        if self.severity not in SEVERITY_ORDER:
            raise ValidationError("severity", self.severity, f"one of {', '.join(SEVERITY_ORDER)}")

    @property
    def key(self) -> str:
        return f"{self.subject_kind}:{self.subject_id}"

    @property
    def detail(self) -> dict[str, Any]:
        return json.loads(self.detail_json) if self.detail_json else {}

    @staticmethod
    def make_id(finding: str, source_event_id: str, subject_key: str) -> str:
        return deterministic_id(CaseFinding.KIND, finding, source_event_id, subject_key)


@dataclass(frozen=True, slots=True)
class CaseCommand:
    """A request to act on a case, based on the case version the caller saw."""

    KIND: ClassVar[str] = "case.command"

    event_id: str  # the request id: the caller gets its outcome by this id
    ts: datetime
    case_id: str
    subject_key: str
    action: str
    actor: str
    actor_jurisdiction: str
    based_on_version: int
    reason: str
    payload_json: str

    def __post_init__(self) -> None:
        require_aware("ts", self.ts)
        if self.action not in ACTIONS:
            raise ValidationError("action", self.action, f"one of {', '.join(ACTIONS)}")
        if not self.actor.strip():
            raise ValidationError(
                "actor", self.actor, "a named officer (Admin Penalty Law Art. 41)"
            )
        if not self.case_id or ":" not in self.subject_key:
            raise ValidationError("case_id", self.case_id, "a case id and its subject key")
        if self.based_on_version < 0:
            raise ValidationError("based_on_version", self.based_on_version, "a version ≥ 0")

    @property
    def key(self) -> str:
        return self.subject_key

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.payload_json) if self.payload_json else {}

    @classmethod
    def make(
        cls,
        *,
        ts: datetime,
        case_id: str,
        subject_key: str,
        action: str,
        actor: str,
        actor_jurisdiction: str,
        based_on_version: int,
        reason: str = "",
        payload: dict[str, Any] | None = None,
        nonce: str = "",
        request_id: str = "",
    ) -> CaseCommand:
        """``request_id``: the caller's own id for this request; a retry with the same id is the
        same command (applied once, answered with the first outcome)."""
        pj = _json(payload or {})
        if request_id:
            eid = deterministic_id(cls.KIND, case_id, "request", request_id)
        else:
            eid = deterministic_id(
                cls.KIND, case_id, action, actor, based_on_version, ts, reason, pj, nonce
            )
        return cls(
            eid,
            ts,
            case_id,
            subject_key,
            action,
            actor,
            actor_jurisdiction,
            based_on_version,
            reason,
            pj,
        )


@dataclass(frozen=True, slots=True)
class CaseEntry:
    """One entry of a case's append-only log. Accepted entries chain: ``hash`` covers the entry
    and ``prev_hash`` (the previous accepted entry's hash). A rejection is logged, never chained."""

    KIND: ClassVar[str] = "case.entry"

    event_id: str
    ts: datetime
    case_id: str
    seq: int
    subject_kind: str
    subject_id: str
    jurisdiction: str
    entry: str
    action: str
    actor: str
    actor_jurisdiction: str
    status_before: str
    status_after: str
    reason: str
    payload_json: str
    request_id: str
    prev_hash: str
    hash: str

    def __post_init__(self) -> None:
        require_aware("ts", self.ts)
        if self.entry not in ENTRY_KINDS:
            raise ValidationError("entry", self.entry, f"one of {', '.join(ENTRY_KINDS)}")

    @property
    def key(self) -> str:
        return f"{self.subject_kind}:{self.subject_id}"

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.payload_json) if self.payload_json else {}


@dataclass(frozen=True, slots=True)
class CaseState:
    """A case after one change (version): the list/desk view and the full state for recovery."""

    KIND: ClassVar[str] = "case.state"

    event_id: str
    ts: datetime
    case_id: str
    version: int
    subject_kind: str
    subject_id: str
    plate: str
    vin: str
    vehicle_class: str
    jurisdiction: str
    issue: str
    status: str
    opened_at: datetime
    severity: str
    rules: tuple[str, ...]
    sources: tuple[str, ...]
    jurisdictions: tuple[str, ...]
    findings: int
    score: float
    score_terms_json: str
    suggested_measure: str
    measure: str
    head_hash: str
    state_json: str

    def __post_init__(self) -> None:
        require_aware("ts", self.ts)
        if self.status not in STATUSES:
            raise ValidationError("status", self.status, f"one of {', '.join(STATUSES)}")

    @property
    def key(self) -> str:
        return f"{self.subject_kind}:{self.subject_id}"


@dataclass(frozen=True, slots=True)
class VehicleLink:
    """A plate↔VIN link supplied by a source record. Id: plate, VIN, source."""

    KIND: ClassVar[str] = "vehicle.link"

    event_id: str
    ts: datetime
    plate: str
    vin: str
    source: str
    source_event_id: str

    def __post_init__(self) -> None:
        require_aware("ts", self.ts)
        if not self.plate or not self.vin:
            raise ValidationError("plate/vin", (self.plate, self.vin), "both a plate and a VIN")

    @property
    def key(self) -> str:
        return f"vehicle:{self.plate}"


def examples() -> list[Any]:
    """One realistic instance of each event (contract tests, docs)."""
    from core.timeutil import beijing

    ts = beijing(2026, 11, 20, 9, 30)
    finding = CaseFinding(
        event_id=CaseFinding.make_id("exceedance", "e1", "vehicle:沪DD140H"),
        ts=ts,
        finding="exceedance",
        subject_kind="vehicle",
        subject_id="沪DD140H",
        plate="沪DD140H",
        plate_colour="yellow",
        vin="LZYCHB3A3PH000001",
        vehicle_class="heavy_diesel",
        source="remote_sensing",
        source_event_id="e1",
        rule_id="RS-D-NO",
        ruleset_version="2026.12-1",
        severity="notice",
        jurisdiction="qingpu",
        device_id="RSD-QP-01",
        measured=1620.0,
        limit=1500.0,
        unit="ppm",
        pollutant="no",
        provisional=False,
        evidence=("rsd.pass:p1",),
        quality_flags=(),
        detail_json=_json({"site_id": "RSD-QP-01"}),
    )
    cmd = CaseCommand.make(
        ts=ts,
        case_id="QP-20261120-3F9A2C",
        subject_key="vehicle:沪DD140H",
        action="review",
        actor="张伟",
        actor_jurisdiction="qingpu",
        based_on_version=1,
    )
    entry = CaseEntry(
        event_id=deterministic_id(CaseEntry.KIND, "QP-20261120-3F9A2C", 2, cmd.event_id),
        ts=ts,
        case_id="QP-20261120-3F9A2C",
        seq=2,
        subject_kind="vehicle",
        subject_id="沪DD140H",
        jurisdiction="qingpu",
        entry="action",
        action="review",
        actor="张伟",
        actor_jurisdiction="qingpu",
        status_before="new",
        status_after="in_review",
        reason="",
        payload_json="{}",
        request_id=cmd.event_id,
        prev_hash="0" * 64,
        hash="1" * 64,
    )
    state = CaseState(
        event_id=deterministic_id(CaseState.KIND, "QP-20261120-3F9A2C", 2),
        ts=ts,
        case_id="QP-20261120-3F9A2C",
        version=2,
        subject_kind="vehicle",
        subject_id="沪DD140H",
        plate="沪DD140H",
        vin="LZYCHB3A3PH000001",
        vehicle_class="heavy_diesel",
        jurisdiction="qingpu",
        issue="emission",
        status="in_review",
        opened_at=ts,
        severity="case",
        rules=("RS-REPEAT",),
        sources=("remote_sensing",),
        jurisdictions=("qingpu",),
        findings=2,
        score=71.5,
        score_terms_json=_json({"severity": 40}),
        suggested_measure="fine",
        measure="",
        head_hash="1" * 64,
        state_json="{}",
    )
    link = VehicleLink(
        event_id=deterministic_id(VehicleLink.KIND, "沪DD140H", "LZYCHB3A3PH000001", "rsd"),
        ts=ts,
        plate="沪DD140H",
        vin="LZYCHB3A3PH000001",
        source="remote_sensing",
        source_event_id="p1",
    )
    return [finding, cmd, entry, state, link]

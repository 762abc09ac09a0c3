"""The exceedance contract: the one event type every source emits when a rule fires, and ``fire``,
the one way to build it.

Every source (remote_sensing, smoke_capture, obd_gateway, fuel_vapor) and the cross-source rules of
``enforcement`` fire through :func:`fire`; ``enforcement`` is the processor of the exceedance stream
(identity, cases, triage). Sources never read exceedances (their own or each other's).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from core.errors import ValidationError
from core.events import deterministic_id, require_aware
from core.jurisdictions import JURISDICTIONS
from core.ruleset import SEVERITY_ORDER, Rule

SOURCES = ("remote_sensing", "smoke_capture", "obd_gateway", "fuel_vapor", "enforcement")
SUBJECT_KINDS = ("vehicle", "station", "nozzle", "depot", "sensor", "device", "site", "fleet")


@dataclass(frozen=True, slots=True)
class Exceedance:
    """A rule fired for a subject. Deterministic id: (source, subject, rule, time, window key)."""

    KIND: ClassVar[str] = "exceedance"

    event_id: str
    ts: datetime
    source: str
    subject_kind: str
    subject_id: str
    jurisdiction: str
    device_id: str
    rule_id: str
    ruleset_version: str
    severity: str
    measured: float | None
    limit: float | None
    unit: str
    evidence: tuple[str, ...]
    quality_flags: tuple[str, ...]
    provisional: bool
    detail_json: str

    def __post_init__(self) -> None:
        require_aware("ts", self.ts)
        if self.source not in SOURCES:
            raise ValidationError("source", self.source, f"one of {', '.join(SOURCES)}")
        if self.subject_kind not in SUBJECT_KINDS:
            raise ValidationError(
                "subject_kind", self.subject_kind, f"one of {', '.join(SUBJECT_KINDS)}"
            )
        if self.jurisdiction not in JURISDICTIONS and self.jurisdiction != "unknown":
            raise ValidationError(
                "jurisdiction", self.jurisdiction, f"one of {', '.join(JURISDICTIONS)} or unknown"
            )
        if self.severity not in SEVERITY_ORDER:
            raise ValidationError("severity", self.severity, f"one of {', '.join(SEVERITY_ORDER)}")
        if not self.subject_id:
            raise ValidationError("subject_id", self.subject_id, "a non-empty id")

    @property
    def key(self) -> str:
        return f"{self.subject_kind}:{self.subject_id}"

    @property
    def detail(self) -> dict[str, Any]:
        return json.loads(self.detail_json) if self.detail_json else {}


def fire(
    rule: Rule,
    ts: datetime,
    *,
    source: str,
    subject_kind: str,
    subject_id: str,
    jurisdiction: str,
    device_id: str,
    measured: float | None,
    limit: float | None,
    unit: str,
    evidence: Iterable[str] = (),
    quality_flags: Iterable[str] = (),
    severity: str | None = None,
    detail: Mapping[str, Any] | None = None,
    window: str = "",
) -> Exceedance:
    """Fire ``rule`` for a subject at ``ts``: the one way every package emits an exceedance.

    Empty evidence references are dropped; the id is deterministic over (source, subject, rule,
    rule version, time, window), so a replayed input fires the same exceedance once; ``window``
    distinguishes several firings of one rule for one subject at the same instant (per pollutant,
    per day).
    """
    eid = deterministic_id(
        Exceedance.KIND, source, subject_kind, subject_id, rule.id, rule.version, ts, window
    )
    return Exceedance(
        event_id=eid,
        ts=ts,
        source=source,
        subject_kind=subject_kind,
        subject_id=subject_id,
        jurisdiction=jurisdiction,
        device_id=device_id,
        rule_id=rule.id,
        ruleset_version=rule.version,
        severity=severity or rule.severity,
        measured=None if measured is None else float(measured),
        limit=None if limit is None else float(limit),
        unit=unit,
        evidence=tuple(e for e in evidence if e),
        quality_flags=tuple(quality_flags),
        provisional=not rule.confirmed,
        detail_json=json.dumps(dict(detail or {}), ensure_ascii=False, sort_keys=True, default=str),
    )


def examples() -> list[Exceedance]:
    """One realistic instance per event type (contract tests, docs)."""
    from core.ruleset import default_ruleset
    from core.timeutil import beijing

    rule = default_ruleset().rule("ENF-FLEET")
    return [
        fire(
            rule,
            beijing(2026, 11, 20, 9, 30),
            source="obd_gateway",
            subject_kind="vehicle",
            subject_id="LGDCHA1G8MA127733",
            jurisdiction="wujiang",
            device_id="LGDCHA1G8MA127733",
            measured=0.14,
            limit=0.10,
            unit="fraction",
            evidence=("fleet:WJ-FREIGHT-01",),
            quality_flags=("provisional_limit",),
            detail={"fleet": "WJ-FREIGHT-01", "vehicles": 21},
        )
    ]

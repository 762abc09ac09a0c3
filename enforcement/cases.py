"""Cases (pure): the life cycle, its action log with a hash chain, field checks, discretion and the
triage score. No clock, no IO: ``ts`` comes with the finding or the command.

Life cycle (an action is allowed only from the states listed in ``ALLOWED``)::

    new ─review→ in_review ─confirm→ confirmed ─notify→ notified ─refer→ referred
     │              │                      └──────── reinspect (maintenance record + passing re-test)
     └──dismiss─────┴─dismiss→ dismissed (reason required)             ↓
                                                   reinspected ─close→ closed
    check (field check): failed ⇒ confirmed (from new / in_review); passed ⇒ closed, reading kept.
    close from notified only when the measure needs no re-inspection (a reminder was enough).

* ``confirm`` needs a named reviewer after a review step (ENF-REVIEW); it records the suggested
  measure from the discretion table (ENF-DISCRETION; the no-penalty path ENF-MINOR); a different
  measure needs a reason. ``notify`` (ENF-NOTIFY) follows a confirmation.
* Each accepted change is an entry with ``seq`` = the version it produced and a SHA-256 ``hash``
  over the previous entry's hash and the entry's own fields: changing, dropping or reordering an
  entry breaks the chain (``enforcement.evidence`` verifies it).
* A command names the version it was based on; a stale one is rejected (``stale``), as are actions
  not allowed in the current state (``transition``) and bad payloads (``invalid``).

Known limits: a finding attaches to the subject's open case of the same issue; the score's recency
term is as of the case's last change, not of the moment it is read.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from core.errors import ValidationError
from core.ids import Plate
from core.ruleset import SEVERITY_ORDER, RuleSet
from enforcement.events import CaseCommand, CaseFinding
from enforcement.vocabulary import LABELS, TERMINAL

GENESIS = "0" * 64
ALLOWED: dict[str, tuple[str, ...]] = {
    "review": ("new",),
    "confirm": ("in_review",),
    "dismiss": ("new", "in_review"),
    "notify": ("confirmed",),
    "refer": ("confirmed", "notified"),
    "check": ("new", "in_review", "confirmed", "notified", "referred"),
    "reinspect": ("confirmed", "notified", "referred"),
    "close": ("reinspected", "notified"),
}
RESULT = {
    "review": "in_review",
    "confirm": "confirmed",
    "dismiss": "dismissed",
    "notify": "notified",
    "refer": "referred",
    "reinspect": "reinspected",
    "close": "closed",
}
REFER_TO = ("traffic_police", "roadside_check", "in_company_check")
NOTIFY_CHANNELS = ("sms", "letter", "in_person", "phone")
CHECK_METHODS = ("k", "ringelmann", "obd_scan", "photo")
SMOKE_DISMISS = ("shadow", "wet_road", "nev", "plate_mismatch", "not_smoke", "other")
CHECK_POLLUTANT = {"k": "opacity", "ringelmann": "ringelmann"}
_SHA = re.compile(r"^[0-9a-f]{64}$")
MAX_FINDINGS = 10  # summaries kept in the state (the log and case_finding keep them all)
MAX_FINDING_IDS = 64  # replay window: a finding seen again within it attaches once
MAX_CAPTURES = 50  # smoke captures of a case (reviewed together on confirm / dismiss)
MAX_REQUESTS = 50

# ---------------------------------------------------------------------------- issues


def issue_of(f: CaseFinding) -> str:
    """The issue a finding belongs to: one open case per subject and issue."""
    if f.subject_kind in ("station", "nozzle", "depot"):
        return "vapour"
    if f.subject_kind != "vehicle":
        return f.subject_kind
    r = f.rule_id
    if r.startswith("BS-"):
        return "smoke"
    if r in ("OBD-EMU", "OBD-SIG", "OBD-IDCHG", "OBD-OFFLINE", "OBD-DAILY", "ENF-X-OBD-SEEN"):
        return "tamper"
    return "emission"


OPENING_RULES = ("RS-REPEAT", "BS-SCREEN", "BS-CONFIRM")


def opens_case(f: CaseFinding) -> bool:
    """A lead becomes a case candidate at severity warning or above, or by a repeat/escalation
    rule (rules.md §3.2); lower findings only attach to an open case of the same issue."""
    if f.finding != "exceedance" or f.subject_id.startswith(("unread:", "camera:")):
        return f.finding == "exceedance" and f.rule_id == "BS-SCREEN"
    return SEVERITY_ORDER[f.severity] >= SEVERITY_ORDER["warning"] or f.rule_id in OPENING_RULES


# ---------------------------------------------------------------------------- state


@dataclass(slots=True)
class Case:
    """The working state of one case (serialised as a dict at the store boundary)."""

    case_id: str
    subject_kind: str
    subject_id: str
    issue: str
    jurisdiction: str
    opened_at: str
    version: int = 0
    status: str = "new"
    updated_at: str = ""
    plate: str = ""
    vin: str = ""
    vehicle_class: str = "unknown"
    plate_colour: str = ""
    severity: str = "info"
    head_hash: str = GENESIS
    rules: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    jurisdictions: list[str] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    finding_ids: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    suggested: dict[str, Any] = field(default_factory=dict)
    measure: dict[str, Any] = field(default_factory=dict)
    repetition: int = 1
    score: float = 0.0
    terms: dict[str, float] = field(default_factory=dict)
    captures: list[list[str]] = field(default_factory=list)  # [capture_id, camera_id, jurisdiction]
    n_findings: int = 0
    n_refs: int = 0
    n_hashed: int = 0
    unusable: bool = False
    last_ts: str = ""

    @property
    def subject_key(self) -> str:
        return f"{self.subject_kind}:{self.subject_id}"

    @property
    def open(self) -> bool:
        return self.status not in TERMINAL

    def to_dict(self) -> dict[str, Any]:
        """Shallow (the state store copies or serialises it; deep copies cost per event)."""
        return {k: getattr(self, k) for k in _CASE_FIELDS}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Case:
        return cls(**d)


_CASE_FIELDS = tuple(Case.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class Change:
    """One accepted (or rejected) change, before it becomes a ``CaseEntry``."""

    entry: str
    action: str
    actor: str
    actor_jurisdiction: str
    status_before: str
    status_after: str
    reason: str
    payload: dict[str, Any]
    request_id: str
    seq: int
    ts: datetime
    prev_hash: str = ""
    hash: str = ""


def canonical(d: Any) -> str:
    return json.dumps(d, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def entry_hash(prev_hash: str, case_id: str, seq: int, body: dict[str, Any]) -> str:
    """SHA-256 over the previous hash and the entry's own fields (canonical JSON)."""
    h = hashlib.sha256()
    h.update(prev_hash.encode())
    h.update(b"\n")
    h.update(canonical({"case_id": case_id, "seq": seq, **body}).encode())
    return h.hexdigest()


def entry_body(
    ts: datetime,
    entry: str,
    action: str,
    actor: str,
    actor_jurisdiction: str,
    status_before: str,
    status_after: str,
    reason: str,
    payload_json: str,
) -> dict[str, Any]:
    """The hashed fields of a log entry (the same function signs and verifies)."""
    return {
        "ts": ts.astimezone(UTC).isoformat(timespec="milliseconds"),
        "entry": entry,
        "action": action,
        "actor": actor,
        "actor_jurisdiction": actor_jurisdiction,
        "status_before": status_before,
        "status_after": status_after,
        "reason": reason,
        "payload_json": payload_json,
    }


def _chain(case: Case, ch: Change) -> Change:
    payload_json = canonical(ch.payload)
    body = entry_body(
        ch.ts,
        ch.entry,
        ch.action,
        ch.actor,
        ch.actor_jurisdiction,
        ch.status_before,
        ch.status_after,
        ch.reason,
        payload_json,
    )
    h = entry_hash(case.head_hash, case.case_id, ch.seq, body)
    out = Change(**{**_change_fields(ch), "prev_hash": case.head_hash, "hash": h})
    case.head_hash = h
    return out


def _change_fields(ch: Change) -> dict[str, Any]:
    return {k: getattr(ch, k) for k in Change.__slots__}


# ---------------------------------------------------------------------------- findings


def finding_summary(f: CaseFinding) -> dict[str, Any]:
    d = f.detail
    return {
        "id": f.event_id,
        "exceedance_id": f.source_event_id,
        "ts": f.ts.isoformat(),
        "rule_id": f.rule_id,
        "ruleset_version": f.ruleset_version,
        "source": f.source,
        "severity": f.severity,
        "jurisdiction": f.jurisdiction,
        "device_id": f.device_id,
        "measured": f.measured,
        "limit": f.limit,
        "unit": f.unit,
        "pollutant": f.pollutant,
        "evidence": list(f.evidence),
        "quality_flags": list(f.quality_flags),
        "capture_id": d.get("capture_id", ""),
        "camera_id": f.device_id if f.source == "smoke_capture" else "",
        "proposal": d.get("proposal", ""),
        **{k: d[k] for k in ("latitude", "longitude") if d.get(k) is not None},  # a mobile unit
    }


def new_case(case_id: str, f: CaseFinding) -> Case:
    return Case(
        case_id=case_id,
        subject_kind=f.subject_kind,
        subject_id=f.subject_id,
        issue=issue_of(f),
        jurisdiction=f.jurisdiction if f.jurisdiction != "unknown" else "zone",
        opened_at=f.ts.isoformat(),
        plate=f.plate,
        vin=f.vin,
        vehicle_class=f.vehicle_class,
        plate_colour=f.plate_colour,
    )


def add_finding(case: Case, f: CaseFinding) -> Change | None:
    """Attach a finding (opening the case when it is new); None when it is already attached."""
    if f.event_id in case.finding_ids:
        return None
    opening = case.version == 0
    case.findings = [*case.findings[-(MAX_FINDINGS - 1) :], finding_summary(f)]
    case.finding_ids = [*case.finding_ids[-(MAX_FINDING_IDS - 1) :], f.event_id]
    case.n_findings += 1
    cap = f.detail.get("capture_id") if f.rule_id == "BS-SCREEN" else None
    if cap and len(case.captures) < MAX_CAPTURES:
        case.captures = [*case.captures, [str(cap), f.device_id, f.jurisdiction]]
    case.n_refs += len(f.evidence)
    case.n_hashed += sum(1 for e in f.evidence if "sha256=" in e)
    case.unusable = case.unusable or "not_usable_as_evidence" in f.quality_flags
    if not case.last_ts or f.ts > datetime.fromisoformat(case.last_ts):
        case.last_ts = f.ts.isoformat()
    for lst, v in ((case.rules, f.rule_id), (case.sources, f.source)):
        if v and v not in lst:
            lst.append(v)
    if f.jurisdiction in ("qingpu", "wujiang", "jiashan") and f.jurisdiction not in (
        case.jurisdictions
    ):
        case.jurisdictions.append(f.jurisdiction)
    if SEVERITY_ORDER[f.severity] > SEVERITY_ORDER[case.severity]:
        case.severity = f.severity
    case.plate = case.plate or f.plate
    case.vin = case.vin or f.vin
    if case.vehicle_class == "unknown":
        case.vehicle_class = f.vehicle_class
    case.version += 1
    case.updated_at = f.ts.isoformat()
    rescore(case, f.ts)
    ch = Change(
        entry="opened" if opening else "evidence",
        action="open" if opening else "attach",
        actor="system",
        actor_jurisdiction="",
        status_before="" if opening else case.status,
        status_after=case.status,
        reason=f.rule_id,
        payload={
            "finding": f.event_id,
            "exceedance": f.source_event_id,
            "rule_id": f.rule_id,
            "ruleset_version": f.ruleset_version,
            "source": f.source,
            "evidence": list(f.evidence),
        },
        request_id="",
        seq=case.version,
        ts=f.ts,
    )
    return _chain(case, ch)


# ---------------------------------------------------------------------------- triage

SEVERITY_POINTS = {"info": 0.0, "notice": 10.0, "warning": 20.0, "alarm": 30.0, "case": 40.0}
CLASS_POINTS = {"heavy_diesel": 20.0, "diesel": 10.0}


def triage(case: Case, now: datetime) -> dict[str, float]:
    """The score's terms, each explainable on its own (rules.md §3.2: severity, then repetition,
    then evidence, then age; plus cross-source agreement and heavy diesel first)."""
    n = case.n_findings
    last = datetime.fromisoformat(case.last_ts) if case.last_ts else now
    age_days = max(0.0, (now - last).total_seconds() / 86400)
    return {
        "severity": SEVERITY_POINTS.get(case.severity, 0.0),
        "repetition": min(30.0, 10.0 * max(0, n - 1)),
        "evidence": max(
            0.0,
            min(15.0, 2.0 * case.n_refs + 3.0 * case.n_hashed) - (10.0 if case.unusable else 0.0),
        ),
        "cross_source": 15.0 * max(0, len(case.sources) - 1),
        "vehicle_class": CLASS_POINTS.get(case.vehicle_class, 0.0),
        "recency": round(10.0 * math.exp(-age_days / 14.0), 2),
    }


def rescore(case: Case, now: datetime) -> None:
    case.terms = triage(case, now)
    case.score = round(sum(case.terms.values()), 2)


# ---------------------------------------------------------------------------- discretion


@dataclass(frozen=True, slots=True)
class DiscretionTable:
    version: str
    lookback_months: int
    rows: tuple[dict[str, Any], ...]

    def suggest(self, case: Case) -> dict[str, Any]:
        """The first row matching the case's issue, subject kind, repetition and vehicle class."""
        for row in self.rows:
            if case.issue not in row.get("issues", [case.issue]):
                continue
            if case.subject_kind not in row.get("subject_kinds", [case.subject_kind]):
                continue
            rep = row.get("repetition") or {}
            if case.repetition < rep.get("min", 0) or case.repetition > rep.get("max", 10**9):
                continue
            if case.vehicle_class not in row.get("vehicle_classes", [case.vehicle_class]):
                continue
            fine = row.get("fine_cny") or {}
            return {
                "row": row["id"],
                "measure": row["measure"],
                "label": row["label"],
                "rule": row["rule"],
                "fine_min_cny": fine.get("min"),
                "fine_max_cny": fine.get("max"),
                "reinspection": bool(row.get("reinspection", True)),
                "basis": row.get("basis", ""),
                "table_version": self.version,
                "repetition": case.repetition,
            }
        raise ValidationError("discretion", case.case_id, "a matching row (add a default row)")


DISCRETION_PATH = Path(__file__).parent / "data" / "discretion.yaml"
MEASURES = ("no_penalty", "reminder", "fine", "reinspection")


@functools.cache
def load_discretion(path: Path = DISCRETION_PATH) -> DiscretionTable:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    rows = tuple(data["rows"])
    for r in rows:
        if r.get("measure") not in MEASURES:
            raise ValidationError("measure", r.get("measure"), f"one of {', '.join(MEASURES)}")
    return DiscretionTable(str(data["version"]), int(data.get("lookback_months", 12)), rows)


# ---------------------------------------------------------------------------- commands


@dataclass(frozen=True, slots=True)
class Rejection:
    code: str  # unknown_case | stale | transition | invalid
    message: str


def _num(p: dict[str, Any], name: str, lo: float, hi: float, unit: str) -> float:
    v = p.get(name)
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValidationError(name, v, f"a number in [{lo:g}, {hi:g}] {unit}")
    if not lo <= float(v) <= hi:
        raise ValidationError(name, v, f"in [{lo:g}, {hi:g}] {unit}")
    return float(v)


def judge_check(p: dict[str, Any], rs: RuleSet) -> dict[str, Any]:
    """Validate a field-check reading and judge it (ENF-FIELD). Returns the normalised check with
    ``result``: ``failed`` / ``passed`` / ``recorded`` (photos only)."""
    method = p.get("method")
    if method not in CHECK_METHODS:
        raise ValidationError("method", method, f"one of {', '.join(CHECK_METHODS)}")
    rule = rs.rule("ENF-FIELD")
    photos = p.get("photos") or []
    if not isinstance(photos, list):
        raise ValidationError("photos", photos, "a list of {name, sha256}")
    for ph in photos:
        if (
            not isinstance(ph, dict)
            or not ph.get("name")
            or not _SHA.match(str(ph.get("sha256", "")))
        ):
            raise ValidationError("photos", ph, "{name, sha256: 64 lowercase hex digits}")
    out: dict[str, Any] = {"method": method, "photos": photos, "rule_id": rule.id}
    for k in ("instrument", "place", "note"):
        if p.get(k):
            out[k] = str(p[k])
    if method == "k":
        v = _num(p, "value", 0.0, float(rule.param("k_max_m1")), "m⁻¹ (light-absorption k)")
        lim = rs.strictest("ENF-FIELD", method="k")
    elif method == "ringelmann":
        v = _num(p, "value", 0.0, float(rule.param("ringelmann_max")), "Ringelmann grade")
        lim = rs.strictest("ENF-FIELD", method="ringelmann")
    elif method == "obd_scan":
        mil = p.get("mil")
        dtc = p.get("dtc") or []
        if not isinstance(mil, bool):
            raise ValidationError("mil", mil, "true or false (malfunction indicator lamp)")
        if not isinstance(dtc, list) or not all(isinstance(c, str) for c in dtc):
            raise ValidationError("dtc", dtc, "a list of fault codes")
        out.update(mil=mil, dtc=dtc, result="failed" if mil or dtc else "passed")
        return out
    else:
        if not photos:
            raise ValidationError("photos", photos, "at least one photo for a photo record")
        out["result"] = "recorded"
        return out
    out.update(
        value=v,
        limit=lim.value,
        unit=lim.unit,
        limit_text=lim.text,
        result="failed" if lim.exceeded_by(v) else "passed",
    )
    return out


def validate(
    action: str, reason: str, payload: dict[str, Any], rs: RuleSet, issue: str = ""
) -> dict[str, Any]:
    """Check a command's input (no state needed): returns the normalised payload or raises
    ``ValidationError`` naming the field. Used by the API (400/422 before anything is sent) and by
    the processor (a command that bypassed the API is judged the same)."""
    p = dict(payload)
    if p.get("corrected_plate"):  # a reviewer's reading of the plate (smoke review)
        p["corrected_plate"] = Plate.parse(str(p["corrected_plate"])).number
    if action == "dismiss":
        if not reason.strip():
            raise ValidationError("reason", reason, "a written reason for a dismissal")
        code = p.get("dismiss_code", "other")
        if code not in SMOKE_DISMISS:
            raise ValidationError("dismiss_code", code, f"one of {', '.join(SMOKE_DISMISS)}")
        p["dismiss_code"] = code
    elif action == "confirm":
        if "grade" in p or issue == "smoke":
            p["grade"] = _num(p, "grade", 0.0, 5.0, "Ringelmann grade (the reviewer's own)")
        if p.get("measure") not in (None, *MEASURES):
            raise ValidationError("measure", p.get("measure"), f"one of {', '.join(MEASURES)}")
    elif action == "refer":
        if p.get("to") not in REFER_TO:
            raise ValidationError("to", p.get("to"), f"one of {', '.join(REFER_TO)}")
    elif action == "notify":
        ch = p.setdefault("channel", "sms")
        if ch not in NOTIFY_CHANNELS:
            raise ValidationError("channel", ch, f"one of {', '.join(NOTIFY_CHANNELS)}")
    elif action == "check":
        p = judge_check(p, rs)
    elif action == "reinspect":
        rec = p.get("maintenance_record")
        if not isinstance(rec, str) or not rec.strip():
            raise ValidationError("maintenance_record", rec, "the repair shop's record number")
        retest = p.get("retest")
        if not isinstance(retest, dict):
            raise ValidationError("retest", retest, "a passing re-test reading {method, value}")
        judged = judge_check(retest, rs)
        if judged["result"] != "passed":
            raise ValidationError("retest", retest, "a passing re-test (this one fails)")
        p["retest"] = judged
    return p


def apply(case: Case, cmd: CaseCommand, rs: RuleSet, table: DiscretionTable) -> Change | Rejection:
    """Apply a command to a case (mutating it) or say why not."""
    if cmd.based_on_version != case.version:
        return Rejection(
            "stale",
            f"案件 {case.case_id} 已更新到第 {case.version} 版，操作基于第 {cmd.based_on_version} 版；"
            "请刷新后重试 (stale version)",
        )
    if case.status not in ALLOWED[cmd.action]:
        return Rejection(
            "transition",
            f"{LABELS.get(case.status, case.status)}状态下不能执行 {cmd.action} "
            f"(allowed from: {', '.join(ALLOWED[cmd.action])})",
        )
    try:
        p = validate(cmd.action, cmd.reason, cmd.payload, rs, case.issue)
    except ValidationError as exc:
        return Rejection("invalid", str(exc))
    before = case.status
    after = RESULT.get(cmd.action, before)
    reason = cmd.reason
    if cmd.action == "close" and before == "notified" and case.measure.get("reinspection", True):
        return Rejection(
            "transition", "该措施需要复检合格后结案 (re-inspection required before close)"
        )
    if cmd.action == "check":
        case.checks.append({**p, "ts": cmd.ts.isoformat(), "actor": cmd.actor})
        if p["result"] == "failed":
            after = "confirmed" if before in ("new", "in_review") else before
        elif p["result"] == "passed":
            after = "closed"
    if cmd.action == "confirm":
        suggested = table.suggest(case)
        chosen = p.get("measure") or suggested["measure"]
        if chosen != suggested["measure"] and not reason.strip():
            return Rejection(
                "invalid",
                f"reason: 偏离裁量建议（{suggested['measure']} → {chosen}）需填写理由 "
                "(ENF-DISCRETION override needs a written reason)",
            )
        case.suggested = suggested
        case.measure = {
            **suggested,
            "measure": chosen,
            "override": chosen != suggested["measure"],
            "reviewer": cmd.actor,
        }
        p["suggested"] = suggested
        p["measure"] = chosen
        p["rules"] = ["ENF-REVIEW", suggested["rule"], "ENF-NOTIFY"]
    case.status = after
    case.version += 1
    case.updated_at = cmd.ts.isoformat()
    case.requests = [*case.requests, cmd.event_id][-MAX_REQUESTS:]
    rescore(case, cmd.ts)
    ch = Change(
        entry="action",
        action=cmd.action,
        actor=cmd.actor,
        actor_jurisdiction=cmd.actor_jurisdiction,
        status_before=before,
        status_after=after,
        reason=reason,
        payload=p,
        request_id=cmd.event_id,
        seq=case.version,
        ts=cmd.ts,
    )
    return _chain(case, ch)


def months_before(ts: datetime, months: int) -> datetime:
    """``ts`` minus whole calendar months (day clamped to the month's length)."""
    y, m = divmod(ts.month - 1 - months, 12)
    year, month = ts.year + y, m + 1
    for day in (ts.day, 30, 29, 28):
        try:
            return ts.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    return ts - timedelta(days=31 * months)

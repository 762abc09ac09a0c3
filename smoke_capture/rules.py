"""Black-smoke rules (pure): screening, NEV flag, evidence completeness, confirmation, calibration.

Rule ids and meaning (rules.md §2.2, rule set ``BS-*``):

* ``BS-SCREEN`` — model grade above the limit (strictest applicable limit, "> 1" by default) ⇒ a
  ``warning`` exceedance that puts the capture in the review queue. A capture is never a violation
  by itself: only a named reviewer confirms (Admin Penalty Law Art. 41). Grader quality flags
  (shadow/wet suspicion, low light, no background model) travel with it for the reviewer.
* ``BS-NEV`` — plate type 51/52, a green / yellow-green plate or an 8-character plate ⇒ ``info``
  exceedance proposing dismissal with reason "nev" (an NEV does not emit exhaust smoke).
* ``BS-EVIDENCE`` — on a confirmation: missing plate image, smoke image, clip ≥ ``min_video_s``,
  site/lane/time, a SHA-256 per file, or a valid site calibration ⇒ confirmation blocked.
* ``BS-CONFIRM`` — a reviewer confirms with a grade above the limit and the evidence is complete
  ⇒ Ringelmann exceedance in the vehicle history (pollutant "ringelmann", feeds RS-REPEAT).
* ``BS-CAL`` — the camera's calibration is overdue (or unknown) at the capture time ⇒ site
  warning; the capture is marked "not usable as evidence".

Every function takes the event (whose ``ts`` is "now") and the rule set; none reads the clock.
Known limits: the NEV test on plate length relies on ANPR reading all 8 characters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from typing import Any

from core.exceedance import Exceedance, fire
from core.ruleset import Rule, RuleSet
from core.timeutil import BEIJING
from smoke_capture.events import UNKNOWN_PLATE, SmokeCapture, SmokeReview

SOURCE = "smoke_capture"
NEV_PLATE_TYPES = ("51", "52")
NEV_COLOURS = ("green", "yellow_green")
ROLE_PLATE = "plate_crop"
ROLE_SMOKE = ("best_frame", "plume_crop")
ROLE_CLIP = "clip"

NOT_EVIDENCE = "not_usable_as_evidence"


def _param(rule: Rule, name: str, default: Any) -> Any:
    """A rule parameter, or the documented default when the rule file does not set it."""
    try:
        return rule.param(name)
    except KeyError:
        return default


def calibration_status(valid_until: date | None, at: datetime) -> str:
    """``valid`` when the certificate covers the (Beijing) date of ``at``, ``overdue`` when it has
    lapsed, ``unknown`` when the camera has no calibration on record."""
    if valid_until is None:
        return "unknown"
    return "valid" if at.astimezone(BEIJING).date() <= valid_until else "overdue"


def is_nev(plate: str, colour: str, plate_type: str) -> bool:
    if plate_type in NEV_PLATE_TYPES or colour in NEV_COLOURS:
        return True
    return plate != UNKNOWN_PLATE and len(plate) == 8


def screen(cap: SmokeCapture, rs: RuleSet) -> list[Exceedance]:
    """Rules applied when a capture arrives: BS-SCREEN, BS-NEV, BS-CAL."""
    out: list[Exceedance] = []
    evidence = tuple(
        f"{cap.evidence_uri}/{n}#sha256={h}"
        for n, h in zip(cap.evidence_files, cap.evidence_sha256, strict=True)
    )
    flags = list(cap.quality_flags)
    if cap.calibration_status != "valid":
        flags.append(NOT_EVIDENCE)
    rule = rs.rule("BS-SCREEN")
    limit = rs.strictest("BS-SCREEN")
    nev = is_nev(cap.plate, cap.plate_colour, cap.plate_type)
    if limit.exceeded_by(cap.grade):
        out.append(
            fire(
                rule=rule,
                ts=cap.ts,
                source=SOURCE,
                subject_kind="vehicle",
                subject_id=cap.subject_id,
                jurisdiction=cap.jurisdiction,
                device_id=cap.camera_id,
                measured=cap.grade,
                limit=limit.value,
                unit=limit.unit,
                evidence=evidence,
                quality_flags=flags,
                detail={
                    "capture_id": cap.event_id,
                    "queue": "review",
                    "grade_confidence": cap.grade_confidence,
                    "model_version": cap.model_version,
                    "plate_known": cap.plate_known,
                    "nev_suspect": nev,
                    "limit_text": limit.text,
                    "site_id": cap.site_id,
                    "lane": cap.lane,
                },
                window=cap.event_id,
            )
        )
    if nev:
        out.append(
            fire(
                rule=rs.rule("BS-NEV"),
                ts=cap.ts,
                source=SOURCE,
                subject_kind="vehicle",
                subject_id=cap.subject_id,
                jurisdiction=cap.jurisdiction,
                device_id=cap.camera_id,
                measured=cap.grade,
                limit=None,
                unit="grade",
                evidence=evidence,
                quality_flags=flags,
                detail={
                    "capture_id": cap.event_id,
                    "proposal": "dismiss",
                    "reason": "nev",
                    "plate_colour": cap.plate_colour,
                    "plate_type": cap.plate_type,
                },
                window=cap.event_id,
            )
        )
    if cap.calibration_status != "valid":
        day = cap.ts.astimezone(BEIJING).date()
        out.append(
            fire(
                rule=rs.rule("BS-CAL"),
                ts=datetime.combine(day, time(0, 0), tzinfo=BEIJING),  # one per camera and day
                source=SOURCE,
                subject_kind="device",
                subject_id=cap.camera_id,
                jurisdiction=cap.jurisdiction,
                device_id=cap.camera_id,
                measured=None,
                limit=None,
                unit="",
                quality_flags=(NOT_EVIDENCE,),
                detail={"calibration_status": cap.calibration_status, "site_id": cap.site_id},
                window=day.isoformat(),
            )
        )
    return out


def missing_evidence(cap: Mapping[str, Any], min_video_s: float) -> list[str]:
    """What a capture (as stored: a mapping of SmokeCapture fields) lacks for confirmation."""
    files = list(cap.get("evidence_files") or ())
    hashes = list(cap.get("evidence_sha256") or ())
    roles = {f.rsplit(".", 1)[0] for f in files}
    missing = []
    if ROLE_PLATE not in roles:
        missing.append("plate_image")
    if not any(r in roles for r in ROLE_SMOKE):
        missing.append("smoke_image")
    if ROLE_CLIP not in roles:
        missing.append("video")
    elif float(cap.get("clip_seconds") or 0.0) < min_video_s:
        missing.append(f"video_shorter_than_{min_video_s:g}s")
    if not cap.get("site_id") or not cap.get("lane") or not cap.get("ts"):
        missing.append("site_lane_time")
    if len(hashes) != len(files) or not files or any(len(h) != 64 for h in hashes):
        missing.append("file_hashes")
    if cap.get("calibration_status") != "valid":
        missing.append("valid_calibration")
    return missing


def capture_summary(cap: SmokeCapture) -> dict[str, Any]:
    """The JSON-serialisable part of a capture the review rules need (processor state)."""
    return {
        "event_id": cap.event_id,
        "ts": cap.ts.isoformat(),
        "site_id": cap.site_id,
        "lane": cap.lane,
        "grade": cap.grade,
        "plate": cap.plate,
        "plate_colour": cap.plate_colour,
        "plate_type": cap.plate_type,
        "evidence_uri": cap.evidence_uri,
        "evidence_files": list(cap.evidence_files),
        "evidence_sha256": list(cap.evidence_sha256),
        "clip_seconds": cap.clip_seconds,
        "calibration_status": cap.calibration_status,
        "subject_id": cap.subject_id,
        "track_id": cap.track_id,
    }


def review(rev: SmokeReview, cap: Mapping[str, Any] | None, rs: RuleSet) -> list[Exceedance]:
    """Rules applied to a reviewer's decision: BS-EVIDENCE (blocks) then BS-CONFIRM.

    ``cap`` is the reviewed capture's summary (:func:`capture_summary`), None when unknown (the
    confirmation is then blocked as having no evidence at all).
    """
    if rev.decision != "confirmed":
        return []
    ev_rule = rs.rule("BS-EVIDENCE")
    min_video = float(_param(ev_rule, "min_video_s", 10))
    missing = ["capture"] if cap is None else missing_evidence(cap, min_video)
    subject = (
        rev.corrected_plate
        or (cap or {}).get("subject_id")
        or (rev.plate if rev.plate != UNKNOWN_PLATE else f"unread:{rev.camera_id}")
    )
    if missing:
        return [
            fire(
                rule=ev_rule,
                ts=rev.ts,
                source=SOURCE,
                subject_kind="vehicle",
                subject_id=subject,
                jurisdiction=rev.jurisdiction,
                device_id=rev.camera_id,
                measured=None,
                limit=None,
                unit="",
                quality_flags=("confirmation_blocked",),
                detail={"capture_id": rev.capture_id, "missing": missing, "reviewer": rev.reviewer},
                window=rev.capture_id,
            )
        ]
    rule = rs.rule("BS-CONFIRM")
    limit = rs.strictest("BS-CONFIRM")
    grade = float(rev.confirmed_grade or 0.0)
    if not limit.exceeded_by(grade):
        return []
    assert cap is not None
    evidence = tuple(
        f"{cap['evidence_uri']}/{n}#sha256={h}"
        for n, h in zip(cap["evidence_files"], cap["evidence_sha256"], strict=True)
    )
    return [
        fire(
            rule=rule,
            ts=datetime.fromisoformat(cap["ts"]),  # the offence time, not the review time
            source=SOURCE,
            subject_kind="vehicle",
            subject_id=subject,
            jurisdiction=rev.jurisdiction,
            device_id=rev.camera_id,
            measured=grade,
            limit=limit.value,
            unit=limit.unit,
            evidence=evidence,
            detail={
                "capture_id": rev.capture_id,
                "pollutant": "ringelmann",
                "model_grade": cap.get("grade"),
                "confirmed_grade": grade,
                "reviewer": rev.reviewer,
                "reviewed_at": rev.ts.isoformat(),
                "corrected_plate": rev.corrected_plate,
                "direct_case": bool(_param(rule, "direct_case", False)),
            },
            window=rev.capture_id,
        )
    ]


def calibration_error_exceeded(errors_grade: Sequence[float], rs: RuleSet) -> bool:
    """BS-CAL's second arm: any panel reading off by more than ``max_error_grade``."""
    tol = float(_param(rs.rule("BS-CAL"), "max_error_grade", 0.25))
    return any(abs(e) > tol for e in errors_grade)

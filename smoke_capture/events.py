"""Black-smoke capture events (see docs/CONTRACTS.md).

* :class:`SmokeCapture` (``smoke.capture``): one vehicle pass in front of a smoke camera in which a
  plume was detected and graded — the model's grade, the evidence bundle with the SHA-256 of every
  file, the model version and the camera's calibration status. It is a *candidate*: a human
  confirms it (Admin Penalty Law Art. 41).
* :class:`SmokeReview` (``smoke.review``): a named reviewer's decision on a capture; a confirmed grade
  is recorded separately from the model grade.

Known limits: the plate is whatever the camera's ANPR or the sidecar reported; ``"unknown"`` is a
legitimate value (the event is then keyed by camera, and its subject id names camera and track).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from core.errors import ValidationError
from core.events import deterministic_id, require_aware, require_range
from core.ids import Plate
from core.jurisdictions import JURISDICTIONS

UNKNOWN_PLATE = "unknown"
CALIBRATION_STATES = ("valid", "overdue", "unknown")
DECISIONS = ("confirmed", "dismissed")
DISMISS_REASONS = ("", "shadow", "wet_road", "nev", "plate_mismatch", "not_smoke", "other")
PLATE_COLOURS = ("blue", "yellow", "white", "black", "green", "yellow_green", "unknown")


def _is_plate(text: str) -> bool:
    """A normalised plate (what ``core.ids.Plate.parse`` returns as ``number``)."""
    try:
        return Plate.parse(text).number == text
    except ValidationError:
        return False


def _jurisdiction(value: str) -> None:
    if value not in JURISDICTIONS and value != "unknown":
        raise ValidationError(
            "jurisdiction", value, f"one of {', '.join(JURISDICTIONS)} or unknown"
        )


@dataclass(frozen=True, slots=True)
class SmokeCapture:
    """A graded black-smoke pass. Id: camera, track, first-seen time."""

    KIND: ClassVar[str] = "smoke.capture"

    event_id: str
    ts: datetime  # time of the best frame
    camera_id: str
    site_id: str
    jurisdiction: str
    lane: int
    track_id: int
    first_ts: datetime
    last_ts: datetime
    plate: str  # normalised plate text or "unknown"
    plate_colour: str
    plate_type: str  # GA 24.7 code when the ANPR gives one ("51"/"52" = NEV), else ""
    plate_source: str  # "anpr_metadata" | "anpr_sidecar" | "none"
    vehicle_class: str  # detector class or ANPR vehicle type
    grade: float  # model Ringelmann grade 0–5, one decimal
    grade_confidence: float
    opacity: float  # blackness 0–1 behind the grade
    frames: int  # frames of the pass with a graded plume
    detector_confidence: float  # best smoke detection confidence
    grader_method: str
    quality_flags: tuple[str, ...]
    model_version: str
    calibration_status: str  # "valid" | "overdue" | "unknown"
    evidence_uri: str  # bundle folder (or object-store prefix)
    evidence_files: tuple[str, ...]  # file names in the bundle
    evidence_sha256: tuple[str, ...]  # same order as evidence_files
    clip_seconds: float

    def __post_init__(self) -> None:
        require_aware("ts", self.ts)
        require_aware("first_ts", self.first_ts)
        require_aware("last_ts", self.last_ts)
        if self.last_ts < self.first_ts:
            raise ValidationError(
                "last_ts", self.last_ts, f">= first_ts {self.first_ts.isoformat()}"
            )
        if not self.camera_id:
            raise ValidationError("camera_id", self.camera_id, "a non-empty camera id")
        _jurisdiction(self.jurisdiction)
        require_range("lane", self.lane, 0, 16, "lane number")
        require_range("track_id", self.track_id, 0, None)
        require_range("grade", self.grade, 0.0, 5.0, "Ringelmann grade")
        require_range("grade_confidence", self.grade_confidence, 0.0, 1.0, "fraction")
        require_range("opacity", self.opacity, 0.0, 1.0, "fraction")
        require_range("frames", self.frames, 1, None, "frames")
        require_range("detector_confidence", self.detector_confidence, 0.0, 1.0, "fraction")
        require_range("clip_seconds", self.clip_seconds, 0.0, 3600.0, "s")
        if not self.plate:
            raise ValidationError("plate", self.plate, f"plate text or {UNKNOWN_PLATE!r}")
        if self.plate_colour not in PLATE_COLOURS:
            raise ValidationError(
                "plate_colour", self.plate_colour, f"one of {', '.join(PLATE_COLOURS)}"
            )
        if self.calibration_status not in CALIBRATION_STATES:
            raise ValidationError(
                "calibration_status",
                self.calibration_status,
                f"one of {', '.join(CALIBRATION_STATES)}",
            )
        if len(self.evidence_files) != len(self.evidence_sha256):
            raise ValidationError(
                "evidence_sha256",
                len(self.evidence_sha256),
                f"{len(self.evidence_files)} hashes (one per file)",
            )
        for h in self.evidence_sha256:
            if len(h) != 64 or any(c not in "0123456789abcdef" for c in h):
                raise ValidationError("evidence_sha256", h, "64 lowercase hex digits (SHA-256)")

    @staticmethod
    def make_id(camera_id: str, track_id: int, first_ts: datetime) -> str:
        return deterministic_id(SmokeCapture.KIND, camera_id, track_id, first_ts)

    @property
    def plate_known(self) -> bool:
        return self.plate != UNKNOWN_PLATE

    @property
    def subject_id(self) -> str:
        """Vehicle subject for exceedances: the plate, or camera+track when unread."""
        return self.plate if self.plate_known else f"unread:{self.camera_id}:{self.track_id}"

    @property
    def key(self) -> str:
        return self.plate if self.plate_known else f"camera:{self.camera_id}"


@dataclass(frozen=True, slots=True)
class SmokeReview:
    """A reviewer's decision on one capture. Id: capture, reviewer, decision time."""

    KIND: ClassVar[str] = "smoke.review"

    event_id: str
    ts: datetime
    capture_id: str
    camera_id: str
    jurisdiction: str
    plate: str  # the capture's plate (the review travels on the capture's key)
    reviewer: str
    decision: str  # "confirmed" | "dismissed"
    reason: str  # dismissal reason ("" when confirmed)
    confirmed_grade: float | None  # the reviewer's own grade, recorded apart from the model's
    note: str
    corrected_plate: str = ""  # the reviewer's reading of the plate when ANPR got it wrong

    def __post_init__(self) -> None:
        require_aware("ts", self.ts)
        _jurisdiction(self.jurisdiction)
        if not self.capture_id:
            raise ValidationError("capture_id", self.capture_id, "the id of a smoke.capture")
        if not self.reviewer.strip():
            raise ValidationError("reviewer", self.reviewer, "a named reviewer (Art. 41)")
        if self.decision not in DECISIONS:
            raise ValidationError("decision", self.decision, f"one of {', '.join(DECISIONS)}")
        if self.reason not in DISMISS_REASONS:
            raise ValidationError(
                "reason",
                self.reason,
                f"one of {', '.join(r or '(empty)' for r in DISMISS_REASONS)}",
            )
        if self.decision == "confirmed" and self.confirmed_grade is None:
            raise ValidationError(
                "confirmed_grade", None, "the reviewer's grade 0–5 when confirming"
            )
        require_range("confirmed_grade", self.confirmed_grade, 0.0, 5.0, "Ringelmann grade")
        if self.corrected_plate and not _is_plate(self.corrected_plate):
            raise ValidationError(
                "corrected_plate", self.corrected_plate, "a normalised plate such as 沪A12345"
            )

    @staticmethod
    def make_id(capture_id: str, reviewer: str, ts: datetime) -> str:
        return deterministic_id(SmokeReview.KIND, capture_id, reviewer, ts)

    @property
    def key(self) -> str:
        return self.plate if self.plate != UNKNOWN_PLATE else f"camera:{self.camera_id}"


def examples() -> list[SmokeCapture | SmokeReview]:
    """One realistic instance of each event (used by the contract test)."""
    from core.timeutil import beijing

    t0 = beijing(2026, 11, 23, 9, 15, 2)
    t1 = beijing(2026, 11, 23, 9, 15, 5)
    cap = SmokeCapture(
        event_id=SmokeCapture.make_id("QP-CAM-01", 17, t0),
        ts=t1,
        camera_id="QP-CAM-01",
        site_id="QP-RSD-01",
        jurisdiction="qingpu",
        lane=2,
        track_id=17,
        first_ts=t0,
        last_ts=t1,
        plate="沪D12345",
        plate_colour="yellow",
        plate_type="01",
        plate_source="anpr_sidecar",
        vehicle_class="vehicle",
        grade=2.6,
        grade_confidence=0.78,
        opacity=0.52,
        frames=9,
        detector_confidence=0.81,
        grader_method="background_model",
        quality_flags=(),
        model_version="smoke_yolov8n-0123456789ab",
        calibration_status="valid",
        evidence_uri="var/smoke_capture/evidence/QP-CAM-01/abc",
        evidence_files=("best_frame.jpg", "plume_crop.jpg", "plate_crop.jpg", "clip.mp4"),
        evidence_sha256=tuple(f"{i:064x}" for i in range(1, 5)),
        clip_seconds=10.4,
    )
    rev = SmokeReview(
        event_id=SmokeReview.make_id(cap.event_id, "officer.wang", beijing(2026, 11, 23, 10, 2, 0)),
        ts=beijing(2026, 11, 23, 10, 2, 0),
        capture_id=cap.event_id,
        camera_id=cap.camera_id,
        jurisdiction="qingpu",
        plate=cap.plate,
        reviewer="officer.wang",
        decision="confirmed",
        reason="",
        confirmed_grade=2.0,
        note="plume visible in clip frames 12-30",
    )
    return [cap, rev]

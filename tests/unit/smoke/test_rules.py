"""BS-* rules and the smoke processors (pure, with the shipped rule set)."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import pytest

from core.errors import ValidationError
from core.processing import Context
from core.registry import load_registry
from core.ruleset import default_ruleset
from core.timeutil import beijing
from smoke_capture import rules
from smoke_capture.events import SmokeCapture, SmokeReview, examples
from smoke_capture.processors import PROCESSORS

RS = default_ruleset()


def cap(**kw) -> SmokeCapture:
    base = examples()[0]
    return dataclasses.replace(base, **kw)


def review_of(c: SmokeCapture, grade=2.0, decision="confirmed", reason="") -> SmokeReview:
    ts = c.ts + timedelta(hours=1)
    return SmokeReview(
        SmokeReview.make_id(c.event_id, "officer.li", ts),
        ts,
        c.event_id,
        c.camera_id,
        c.jurisdiction,
        c.plate,
        "officer.li",
        decision,
        reason,
        grade if decision == "confirmed" else None,
        "",
    )


def ids(exs):
    return sorted(e.rule_id for e in exs)


@pytest.mark.parametrize(("grade", "fires"), [(1.0, False), (1.1, True), (3.4, True), (0.0, False)])
def test_screen_fires_above_grade_one_only(grade, fires):
    out = rules.screen(cap(grade=grade), RS)
    assert ("BS-SCREEN" in ids(out)) is fires
    if fires:
        ex = next(e for e in out if e.rule_id == "BS-SCREEN")
        assert ex.measured == grade and ex.limit == 1.0 and ex.severity == "warning"
        assert ex.detail["queue"] == "review" and ex.ruleset_version == RS.version
        assert all("#sha256=" in e for e in ex.evidence) and len(ex.evidence) == 4


def test_nev_plates_are_flagged_for_dismissal():
    for kw in (
        {"plate_colour": "green"},
        {"plate_type": "52"},
        {"plate": "沪AD12345", "plate_colour": "unknown"},
    ):
        out = rules.screen(cap(**kw), RS)
        nev = [e for e in out if e.rule_id == "BS-NEV"]
        assert (
            len(nev) == 1
            and nev[0].detail["proposal"] == "dismiss"
            and nev[0].detail["reason"] == "nev"
        )
    assert "BS-NEV" not in ids(rules.screen(cap(), RS))


def test_unknown_plate_is_a_subject_not_a_crash():
    c = cap(plate="unknown", plate_colour="unknown")
    out = rules.screen(c, RS)
    assert out[0].subject_id == f"unread:{c.camera_id}:{c.track_id}"
    assert c.key == f"camera:{c.camera_id}"


def test_calibration_overdue_marks_site_and_capture():
    out = rules.screen(cap(calibration_status="overdue"), RS)
    assert "BS-CAL" in ids(out)
    cal = next(e for e in out if e.rule_id == "BS-CAL")
    assert cal.subject_kind == "device" and cal.ts.hour == 0
    screen = next(e for e in out if e.rule_id == "BS-SCREEN")
    assert rules.NOT_EVIDENCE in screen.quality_flags
    assert rules.calibration_status(date(2026, 11, 22), beijing(2026, 11, 23)) == "overdue"
    assert rules.calibration_status(date(2026, 11, 23), beijing(2026, 11, 23, 23, 59)) == "valid"
    assert rules.calibration_status(None, beijing(2026, 11, 23)) == "unknown"
    assert rules.calibration_error_exceeded(
        [0.1, -0.3], RS
    ) and not rules.calibration_error_exceeded([0.2], RS)


def test_confirmation_with_complete_evidence_fires_bs_confirm():
    c = cap()
    out = rules.review(review_of(c, 2.0), rules.capture_summary(c), RS)
    assert ids(out) == ["BS-CONFIRM"]
    ex = out[0]
    assert ex.ts == c.ts and ex.detail["pollutant"] == "ringelmann" and ex.measured == 2.0
    assert rules.review(review_of(c, 1.0), rules.capture_summary(c), RS) == []
    assert (
        rules.review(
            review_of(c, decision="dismissed", reason="shadow"), rules.capture_summary(c), RS
        )
        == []
    )


@pytest.mark.parametrize(
    ("change", "missing"),
    [
        ({"clip_seconds": 4.0}, "video_shorter_than_10s"),
        (
            {
                "evidence_files": ("best_frame.jpg", "plume_crop.jpg", "clip.mp4"),
                "evidence_sha256": ("a" * 64,) * 3,
            },
            "plate_image",
        ),
        ({"calibration_status": "unknown"}, "valid_calibration"),
        ({"evidence_files": (), "evidence_sha256": ()}, "file_hashes"),
    ],
)
def test_incomplete_evidence_blocks_confirmation(change, missing):
    c = cap(**change)
    out = rules.review(review_of(c), rules.capture_summary(c), RS)
    assert ids(out) == ["BS-EVIDENCE"]
    assert missing in out[0].detail["missing"]


def test_review_of_unknown_capture_is_blocked():
    c = cap()
    out = rules.review(review_of(c), None, RS)
    assert ids(out) == ["BS-EVIDENCE"] and out[0].detail["missing"] == ["capture"]


def test_processors_remember_captures_per_key():
    ctx = Context(RS, load_registry())
    (proc,) = PROCESSORS
    assert set(proc.inputs) == {"smoke.capture", "smoke.review"}
    state: dict = {}
    c = cap(grade=2.4)
    out = list(proc.handle(c, state, ctx))
    assert "BS-SCREEN" in ids(out)
    assert c.event_id in state[c.key]["captures"]
    out2 = list(proc.handle(review_of(c), state, ctx))
    assert ids(out2) == ["BS-CONFIRM"]
    replay = list(proc.handle(c, state, ctx))
    assert [e.event_id for e in replay] == [e.event_id for e in out]  # deterministic ids


def test_event_validation_names_fields():
    with pytest.raises(ValidationError, match="grade"):
        cap(grade=5.5)
    with pytest.raises(ValidationError, match="evidence_sha256"):
        cap(evidence_sha256=("x",) * 4)
    with pytest.raises(ValidationError, match="last_ts"):
        c = cap()
        cap(last_ts=c.first_ts - timedelta(seconds=1))
    with pytest.raises(ValidationError, match="reviewer"):
        dataclasses.replace(examples()[1], reviewer=" ")
    with pytest.raises(ValidationError, match="confirmed_grade"):
        dataclasses.replace(examples()[1], confirmed_grade=None)

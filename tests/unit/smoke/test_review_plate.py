"""A reviewer's plate correction: validated like any plate, and the confirmed exceedance is filed
against the corrected plate (the capture keeps the plate the camera read)."""

from __future__ import annotations

import dataclasses

import pytest

from core.errors import ValidationError
from smoke_capture.events import SmokeCapture, SmokeReview, examples
from smoke_capture.rules import capture_summary, review


def _pair() -> tuple[SmokeCapture, SmokeReview]:
    cap, rev = examples()
    assert isinstance(cap, SmokeCapture) and isinstance(rev, SmokeReview)
    return cap, rev


def test_a_correction_must_be_a_normalised_plate() -> None:
    _cap, rev = _pair()
    with pytest.raises(ValidationError, match="corrected_plate"):
        dataclasses.replace(rev, corrected_plate="沪d 54321")
    assert dataclasses.replace(rev, corrected_plate="沪D54321").corrected_plate == "沪D54321"


def test_confirmation_is_filed_against_the_corrected_plate(ruleset) -> None:
    cap, rev = _pair()
    fixed = dataclasses.replace(rev, corrected_plate="沪D54321", confirmed_grade=2.0)
    summary = capture_summary(cap)
    summary["clip_seconds"] = 12.0
    (exc,) = review(fixed, summary, ruleset)
    assert exc.rule_id == "BS-CONFIRM"
    assert exc.subject_id == "沪D54321"
    (plain,) = review(dataclasses.replace(rev, confirmed_grade=2.0), summary, ruleset)
    assert plain.subject_id == cap.subject_id

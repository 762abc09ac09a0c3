"""The four figures every smoke model is judged on, with hand-made truth and detections."""

from __future__ import annotations

import pytest

from core.errors import ValidationError
from smoke_capture.detections import Detection
from smoke_capture.evaluation import (
    FrameTruth,
    LabelledPlume,
    average_precision,
    no_worse,
    score,
)

PLUME = (100.0, 50.0, 160.0, 110.0)


def smoke(box, conf):
    return Detection("smoke", *box, conf)


def test_average_precision_known_values():
    assert average_precision([(0.9, True), (0.8, True)], 2) == pytest.approx(1.0)
    # one hit of two plumes at precision 1: AP 0.5
    assert average_precision([(0.9, True)], 2) == pytest.approx(0.5)
    # false positive ranked first, then the hit: precision 0.5 at recall 1
    assert average_precision([(0.9, False), (0.5, True)], 1) == pytest.approx(0.5)
    assert average_precision([], 3) == 0.0 and average_precision([(0.5, False)], 0) is None


def test_score_recall_false_alarm_ap_and_grade_error():
    smoky = FrameTruth((LabelledPlume(PLUME, 3.0),))
    clean = FrameTruth(())
    samples = [
        (smoky, [smoke(PLUME, 0.9)]),  # found, exact box
        (smoky, [smoke((0, 0, 20, 20), 0.8)]),  # wrong place: a miss and a false positive
        (smoky, [smoke(PLUME, 0.1)]),  # right place, below the operating confidence
        (clean, [smoke((5, 5, 50, 50), 0.3)]),  # a false alarm
        (clean, [Detection("vehicle", 0, 0, 10, 10, 0.9)]),  # vehicles are no alarm
    ]
    s = score(samples, conf=0.25, grade=lambda i, box: 2.5)
    assert (s.smoky_frames, s.clean_frames) == (3, 2)
    assert s.recall == pytest.approx(1 / 3, abs=1e-4)
    assert s.false_alarm_rate == pytest.approx(0.5)
    assert s.ringelmann_mae == pytest.approx(0.5) and s.graded_plumes == 1
    # ranked: 0.9 TP, 0.8 FP, 0.3 FP, 0.1 TP of 3 plumes → AP = 1/3·1 + 1/3·0.5
    assert s.ap50 == pytest.approx(1 / 3 + 1 / 6, abs=1e-3)


def test_unmeasured_figures_are_none_and_bad_settings_raise():
    s = score([(FrameTruth(()), [])])
    assert s.recall is None and s.ap50 is None and s.ringelmann_mae is None
    assert s.false_alarm_rate == 0.0
    with pytest.raises(ValidationError, match="conf"):
        score([], conf=1.5)


def test_no_worse_on_every_figure():
    live = {"recall": 0.7, "false_alarm_rate": 0.05, "ap50": 0.6, "ringelmann_mae": 0.5}
    assert no_worse(dict(live), live) == []
    better = {"recall": 0.8, "false_alarm_rate": 0.04, "ap50": 0.7, "ringelmann_mae": 0.4}
    assert no_worse(better, live) == []
    mixed = {**better, "false_alarm_rate": 0.06}
    assert no_worse(mixed, live) == ["false_alarm_rate"]
    assert no_worse({**better, "ringelmann_mae": None}, live) == ["ringelmann_mae"]
    assert no_worse(better, {**live, "ringelmann_mae": None}) == []

"""Scoring a smoke detector against labelled frames: the four figures every model is judged on.

Responsible for one definition of each figure, used alike by ``emwatch smoke evaluate`` (reviewed
frames), the held-out synthetic validation (:mod:`smoke_capture.heldout`), the bench, and
``emwatch smoke promote`` (which compares two models' figures):

* **recall** — of the frames with at least one labelled plume, the share where a smoke detection at
  or above the operating confidence overlaps a labelled plume with IoU ≥ ``match_iou`` (0.2: a
  plume box that points an officer at the right place, as in the issue's real-photo measurement);
* **false-alarm rate** — of the frames with no labelled plume, the share with any smoke detection at
  or above the operating confidence;
* **AP50** — average precision of the smoke class at IoU 0.5 over all frames, from every detection
  the detector returned (run it with a low confidence floor so the curve is complete), all-point
  interpolation (PASCAL VOC 2010+);
* **Ringelmann MAE** — mean absolute difference between the grade read from the best overlapping
  smoke detection and the labelled grade, over labelled plumes that carry a grade and were found.

Pure: labelled frames and detections in, numbers out (no model, no files). "Not measurable" (no
smoky frame, no clean frame, no graded plume) is ``None``, not 0, so promotion never compares
a figure that was not measured.

Known limits: a frame counts once for recall however many plumes it holds (a pass needs one plume
found); grades of stills come from the ring reference beside the box (no background model).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from core.errors import ValidationError
from smoke_capture.detections import Detection, iou

BoxT = tuple[float, float, float, float]

# Which way is better for each figure (promotion: "no worse on every figure").
HIGHER_IS_BETTER: dict[str, bool] = {
    "recall": True,
    "false_alarm_rate": False,
    "ap50": True,
    "ringelmann_mae": False,
}


@dataclass(frozen=True, slots=True)
class LabelledPlume:
    box: BoxT
    grade: float | None = None  # Ringelmann 0–5 when known (eye-read or synthetic truth)


@dataclass(frozen=True, slots=True)
class FrameTruth:
    """What a frame holds: its plumes (empty: smoke-free) and vehicle boxes."""

    plumes: tuple[LabelledPlume, ...] = ()
    vehicles: tuple[BoxT, ...] = ()

    @property
    def smoky(self) -> bool:
        return bool(self.plumes)


@dataclass(frozen=True, slots=True)
class Scores:
    frames: int
    smoky_frames: int
    clean_frames: int
    recall: float | None
    false_alarm_rate: float | None
    ap50: float | None
    ringelmann_mae: float | None
    graded_plumes: int
    conf: float

    def figures(self) -> dict[str, float | None]:
        return {k: getattr(self, k) for k in HIGHER_IS_BETTER}

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def average_precision(hits: Sequence[tuple[float, bool]], positives: int) -> float | None:
    """All-point interpolated AP from (confidence, is-true-positive) pairs and the truth count."""
    if positives <= 0:
        return None
    if not hits:
        return 0.0
    order = sorted(hits, key=lambda h: -h[0])
    tp = np.cumsum([1.0 if h[1] else 0.0 for h in order])
    fp = np.cumsum([0.0 if h[1] else 1.0 for h in order])
    rec = tp / positives
    prec = tp / np.maximum(tp + fp, 1e-12)
    mrec = np.concatenate([[0.0], rec, [1.0]])
    mpre = np.concatenate([[1.0], prec, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    idx = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))


def _ap50_hits(truth: FrameTruth, smokes: Sequence[Detection]) -> list[tuple[float, bool]]:
    """Greedy matching at IoU 0.5, most confident detection first (each plume matched once)."""
    used: set[int] = set()
    out = []
    for d in sorted(smokes, key=lambda d: -d.confidence):
        best, best_iou = -1, 0.5
        for j, p in enumerate(truth.plumes):
            if j in used:
                continue
            v = iou(d.box, p.box)
            if v >= best_iou:
                best, best_iou = j, v
        if best >= 0:
            used.add(best)
        out.append((d.confidence, best >= 0))
    return out


def score(
    samples: Sequence[tuple[FrameTruth, Sequence[Detection]]],
    conf: float = 0.25,
    match_iou: float = 0.2,
    grade: Callable[[int, BoxT], float | None] | None = None,
) -> Scores:
    """The four figures over ``samples`` (truth, detections of that frame).

    ``grade(i, box)`` returns the model's Ringelmann grade for the plume in ``box`` of frame ``i``
    (None when ungradable); without it the MAE is not measured."""
    if not 0.0 <= conf <= 1.0:
        raise ValidationError("conf", conf, "in [0, 1]", "fraction")
    if not 0.0 < match_iou <= 1.0:
        raise ValidationError("match_iou", match_iou, "in (0, 1]")
    smoky = clean = found = alarms = positives = 0
    hits: list[tuple[float, bool]] = []
    errors: list[float] = []
    for i, (truth, dets) in enumerate(samples):
        smokes = [d for d in dets if d.cls == "smoke"]
        hits += _ap50_hits(truth, smokes)
        positives += len(truth.plumes)
        strong = [d for d in smokes if d.confidence >= conf]
        if not truth.smoky:
            clean += 1
            alarms += bool(strong)
            continue
        smoky += 1
        matched = [d for d in strong if any(iou(d.box, p.box) >= match_iou for p in truth.plumes)]
        found += bool(matched)
        if grade is None:
            continue
        for p in truth.plumes:
            if p.grade is None:
                continue
            near = [d for d in strong if iou(d.box, p.box) >= match_iou]
            if not near:
                continue
            g = grade(i, max(near, key=lambda d: iou(d.box, p.box)).box)
            if g is not None:
                errors.append(abs(g - p.grade))
    return Scores(
        frames=len(samples),
        smoky_frames=smoky,
        clean_frames=clean,
        recall=round(found / smoky, 4) if smoky else None,
        false_alarm_rate=round(alarms / clean, 4) if clean else None,
        ap50=None if positives == 0 else round(average_precision(hits, positives) or 0.0, 4),
        ringelmann_mae=round(float(np.mean(errors)), 3) if errors else None,
        graded_plumes=len(errors),
        conf=conf,
    )


def no_worse(candidate: Mapping[str, float | None], live: Mapping[str, float | None]) -> list[str]:
    """The figures on which ``candidate`` is worse than ``live`` (empty list: promotable).

    A figure the live model has but the candidate lacks counts as worse; one neither has is
    skipped."""
    worse = []
    for name, higher in HIGHER_IS_BETTER.items():
        c, lv = candidate.get(name), live.get(name)
        if lv is None:
            continue
        if c is None or (c < lv if higher else c > lv):
            worse.append(name)
    return worse


def ring_grade(image: np.ndarray, box: BoxT, detections: Sequence[Detection]) -> float | None:
    """A still's Ringelmann grade for ``box``: ring reference, the frame's vehicle boxes excluded
    (what ``emwatch smoke score`` reports); None when the box cannot be graded."""
    from smoke_capture import ringelmann

    vehicles = [d.box for d in detections if d.cls == "vehicle"]
    try:
        return ringelmann.grade_plume(image, box, None, vehicles).grade
    except ValidationError:
        return None

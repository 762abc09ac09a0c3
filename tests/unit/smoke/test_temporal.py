"""Temporal evidence on video: a pass needs plume boxes AND the background model seeing the box
darker than the empty road, persistently. Synthetic sequences with ground-truth boxes as detections."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from core.errors import ValidationError
from core.timeutil import beijing
from smoke_capture import ringelmann as R
from smoke_capture import synth
from smoke_capture.detections import Detection
from smoke_capture.pipeline import CameraInfo, CameraPipeline

T0 = beijing(2026, 11, 23, 9, 0, 0)
CAM = CameraInfo("CAM-WJ-02", "RSD-WJ-02", "wujiang", 1, date(2027, 6, 30))


def g(method="background_model", opacity=0.5, flags=()):
    return R.Grade(R.grade_from_opacity(opacity), opacity, 0.8, 500, method, tuple(flags))


def test_temporal_evidence_verdicts():
    assert R.temporal_evidence([g(), g(), g(opacity=0.02)]).verdict == "dark"
    assert R.temporal_evidence([g(flags=(R.NOT_DARKER,))] * 4).verdict == "absent"
    # one dark frame of five is not persistence
    assert R.temporal_evidence([g()] + [g(opacity=0.01)] * 4).verdict == "absent"
    ring = g(method="ring_reference")
    ev = R.temporal_evidence([ring, ring, ring, g()])
    assert ev.verdict == "unavailable" and ev.background_frames == 1
    with pytest.raises(ValidationError, match="min_dark_share"):
        R.TemporalConfig(min_dark_share=1.5)


def _pass(seed=5, smoke=True):
    rng = np.random.default_rng(seed)
    spec = synth.SceneSpec(
        width=224,
        height=224,
        vehicles=1,
        smoke=smoke,
        opacity=0.6,
        shadow=False,
        fog=False,
        night=False,
        wet=False,
        vapour=False,
    )
    return synth.render_pass(rng, 10, spec)


def _feed(pipe, frames, dets, empty, empty_before=8):
    out = []
    i = 0
    for _ in range(empty_before):
        out += pipe.process(i, T0 + timedelta(seconds=i / 5), empty, [])
        i += 1
    for img, d in zip(frames, dets, strict=True):
        out += pipe.process(i, T0 + timedelta(seconds=i / 5), img, d)
        i += 1
    for _ in range(8):
        out += pipe.process(i, T0 + timedelta(seconds=i / 5), empty, [])
        i += 1
    return out + pipe.flush()


def _truth(sc):
    return [Detection("vehicle" if b.cls == 0 else "smoke", *b.xyxy, 0.9) for b in sc.boxes]


def test_a_real_plume_darkens_the_road_and_is_captured():
    scenes = _pass()
    pipe = CameraPipeline(CAM, "m", fps=5.0)
    events = _feed(
        pipe, [s.image for s in scenes], [_truth(s) for s in scenes], scenes[0].background
    )
    assert len(events) == 1
    assert R.NO_TEMPORAL_EVIDENCE not in events[0].quality_flags


def _static_dark_thing(scenes):
    """A dark tree-like blob that is always in view, with the detector calling it smoke beside
    the passing vehicle (a classic false positive)."""
    x1, y1, x2, y2 = 20, 70, 80, 130
    frames = []
    dets = []
    for s in scenes:
        im = s.image.copy()
        im[y1:y2, x1:x2] = (im[y1:y2, x1:x2] * 0.15).astype(np.uint8)
        frames.append(im)
        vehicles = [Detection("vehicle", *b.xyxy, 0.9) for b in s.vehicle_boxes]
        dets.append([*vehicles, Detection("smoke", x1, y1, x2, y2, 0.8)])
    empty = scenes[0].background.copy()
    empty[y1:y2, x1:x2] = (empty[y1:y2, x1:x2] * 0.15).astype(np.uint8)
    return frames, dets, empty


def test_a_box_on_a_static_dark_thing_is_dropped_for_lack_of_darkening():
    scenes = _pass(seed=6, smoke=False)
    frames, dets, empty = _static_dark_thing(scenes)
    pipe = CameraPipeline(CAM, "m", fps=5.0)
    assert _feed(pipe, frames, dets, empty) == []
    assert pipe.passes_clean == 1 and pipe.passes_smoky == 0
    # the same frames without the temporal gate: the detector's box alone makes a capture
    ungated = CameraPipeline(CAM, "m", fps=5.0, temporal=R.TemporalConfig(enabled=False))
    assert len(_feed(ungated, frames, dets, empty)) == 1


def test_without_a_background_model_the_capture_says_so():
    scenes = _pass(seed=7)[:6]
    pipe = CameraPipeline(CAM, "m", fps=5.0)
    events = _feed(
        pipe,
        [s.image for s in scenes],
        [_truth(s) for s in scenes],
        scenes[0].background,
        empty_before=0,
    )
    assert len(events) == 1
    assert R.NO_TEMPORAL_EVIDENCE in events[0].quality_flags

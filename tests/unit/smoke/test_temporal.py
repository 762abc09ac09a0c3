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


def g(method="background_model", opacity=0.5, flags=(), spread=0.6):
    return R.Grade(R.grade_from_opacity(opacity), opacity, 0.8, 500, method, tuple(flags), spread)


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
    # persistent but even darkening (one shadow factor) fails the dispersion test ...
    flat = R.temporal_evidence([g(spread=0.05), g(spread=0.04), g(spread=0.9)])
    assert flat.verdict == "uniform" and flat.spread == 0.05
    assert R.temporal_evidence([g(spread=None)] * 3).verdict == "uniform"
    # ... unless it is turned off
    assert (
        R.temporal_evidence([g(spread=0.05)] * 3, R.TemporalConfig(min_spread=0)).verdict == "dark"
    )


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


def _moving_hard_shadow(scenes):
    """A hard, even shadow (one darkening factor) beside the vehicle that moves with it, and the
    detector calling it smoke: it darkens the road persistently, but does not thin out as a plume."""
    frames, dets = [], []
    for s in scenes:
        im = s.image.copy()
        if not s.vehicle_boxes:  # the vehicle has left the view
            frames.append(im)
            dets.append([])
            continue
        (vx1, vy1, vx2, vy2) = s.vehicle_boxes[0].xyxy
        bw, bh = vx2 - vx1, vy2 - vy1
        W = im.shape[1]
        if W - vx2 >= vx1:  # on whichever side has room
            x1, x2 = int(vx2), int(min(W, vx2 + 0.6 * bw))
        else:
            x1, x2 = int(max(0, vx1 - 0.6 * bw)), int(vx1)
        y1, y2 = int(vy2 - 0.35 * bh), int(min(im.shape[0], vy2 + 0.05 * bh))
        vehicles = [Detection("vehicle", *b.xyxy, 0.9) for b in s.vehicle_boxes]
        if x2 - x1 < 4 or y2 - y1 < 4:
            frames.append(im)
            dets.append(vehicles)
            continue
        im[y1:y2, x1:x2] = (im[y1:y2, x1:x2] * 0.25).astype(np.uint8)
        frames.append(im)
        dets.append([*vehicles, Detection("smoke", x1, y1, x2, y2, 0.8)])
    return frames, dets


def test_a_box_on_an_even_shadow_moving_with_the_vehicle_fails_dispersion():
    scenes = _pass(seed=8, smoke=False)
    frames, dets = _moving_hard_shadow(scenes)
    empty = scenes[0].background
    pipe = CameraPipeline(CAM, "m", fps=5.0)
    assert _feed(pipe, frames, dets, empty) == []
    # persistence alone (dispersion off) lets it through: the shadow does darken the road
    persist = CameraPipeline(CAM, "m", fps=5.0, temporal=R.TemporalConfig(min_spread=0))
    assert len(_feed(persist, frames, dets, empty)) == 1
    # the pure function over the capture's frames says the same
    ev = R.temporal_signal(
        frames,
        empty,
        [[d.box for d in ds if d.cls == "smoke"] for ds in dets],
        [[d.box for d in ds if d.cls == "vehicle"] for ds in dets],
    )
    assert ev.verdict == "uniform" and ev.dark_frames >= 2 and ev.spread < 0.2


def test_temporal_signal_of_a_real_plume_and_without_background():
    scenes = _pass(seed=5)
    frames = [s.image for s in scenes]
    plumes = [[b.xyxy for b in s.smoke_boxes] for s in scenes]
    vehicles = [[b.xyxy for b in s.vehicle_boxes] for s in scenes]
    ev = R.temporal_signal(frames, scenes[0].background, plumes, vehicles)
    assert ev.verdict == "dark" and ev.spread is not None and ev.spread >= 0.2
    assert R.temporal_signal(frames, None, plumes, vehicles).verdict == "unavailable"
    with pytest.raises(ValidationError):
        R.temporal_signal(frames, None, plumes[:-1], vehicles)

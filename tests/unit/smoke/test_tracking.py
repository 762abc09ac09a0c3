"""Tracker: one pass per vehicle, plumes attached to the right vehicle, frames in order."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.errors import ValidationError
from core.timeutil import beijing
from smoke_capture.detections import Detection, box_distance, iou
from smoke_capture.tracking import Tracker, TrackerConfig, nearest_vehicle

T0 = beijing(2026, 11, 23, 9, 0, 0)


def veh(x, y, w=60, h=50, c=0.9):
    return Detection("vehicle", x, y, x + w, y + h, c)


def smoke(x, y, w=30, h=20, c=0.7):
    return Detection("smoke", x, y, x + w, y + h, c)


def run(frames, cfg=None):
    tr = Tracker(cfg or TrackerConfig(max_missed=2))
    out = []
    for i, dets in enumerate(frames):
        out += tr.update(i, T0 + timedelta(seconds=i * 0.2), dets)
    out += tr.flush()
    return out, tr


def test_one_pass_per_vehicle_not_per_frame():
    frames = [[veh(100 - 3 * i, 200 - 8 * i), smoke(160 - 3 * i, 230 - 8 * i)] for i in range(10)]
    passes, _ = run(frames)
    assert len(passes) == 1
    p = passes[0]
    assert len(p.observations) == 10 and len(p.smoky) == 10
    assert p.first_ts == T0 and p.last_ts == T0 + timedelta(seconds=1.8)


def test_two_vehicles_keep_their_own_plumes():
    frames = [
        [veh(20, 200 - 5 * i), veh(200, 150 - 5 * i), smoke(250, 185 - 5 * i)] for i in range(6)
    ]
    passes, _ = run(frames)
    assert len(passes) == 2
    by_x = sorted(passes, key=lambda p: p.observations[0].vehicle.x1)
    assert len(by_x[0].smoky) == 0
    assert len(by_x[1].smoky) == 6


def test_track_survives_a_missed_frame_and_ends_after_max_missed():
    frames = [[veh(100, 200)], [veh(102, 198)], [], [veh(104, 196)], [], [], [], [veh(300, 100)]]
    passes, _ = run(frames)
    assert len(passes) == 1  # the lone last detection is too short for a pass
    assert len(passes[0].observations) == 3


def test_stray_plume_is_counted_not_attached():
    frames = [[veh(10, 10, 20, 20), smoke(300, 300)] for _ in range(3)]
    passes, tr = run(frames)
    assert tr.unattached_smoke == 3
    assert len(passes[0].smoky) == 0


def test_frames_out_of_order_are_refused():
    tr = Tracker()
    tr.update(5, T0, [])
    with pytest.raises(ValidationError, match="frame_index"):
        tr.update(5, T0, [])


def test_geometry_helpers():
    a, b = (0, 0, 10, 10), (5, 5, 15, 15)
    assert iou(a, b) == pytest.approx(25 / 175)
    assert iou(a, (20, 20, 30, 30)) == 0.0
    assert box_distance(a, (13, 14, 20, 20)) == pytest.approx(5.0)
    s = smoke(100, 100)
    near, far = veh(120, 60), veh(400, 400)
    assert nearest_vehicle(s, [far, near]) is near
    assert nearest_vehicle(s, []) is None


def test_detection_validation():
    with pytest.raises(ValidationError, match="cls"):
        Detection("truck", 0, 0, 1, 1, 0.5)
    with pytest.raises(ValidationError, match="confidence"):
        Detection("smoke", 0, 0, 1, 1, 1.5)
    with pytest.raises(ValidationError, match="box"):
        Detection("smoke", 5, 0, 1, 1, 0.5)
    assert Detection("smoke", -5, -5, 10, 10, 0.5).clipped(8, 8).box == (0.0, 0.0, 8.0, 8.0)
    assert Detection("smoke", 20, 20, 30, 30, 0.5).clipped(8, 8) is None

"""Detector adapter pieces that need no model: letterbox, NMS, YOLO output decoding, bad files."""

from __future__ import annotations

import numpy as np
import pytest

from smoke_capture.detector import (
    ModelError,
    OnnxDetector,
    decode_yolo_output,
    letterbox,
    load_detector,
    nms,
)

NAMES = {0: "vehicle", 1: "smoke"}


def raw(preds, anchors=8):
    """Build a (1, 6, anchors) tensor from (cx, cy, w, h, p_vehicle, p_smoke) rows."""
    out = np.zeros((1, 6, anchors), np.float32)
    for i, p in enumerate(preds):
        out[0, :, i] = p
    return out


def test_letterbox_scale_and_padding():
    img = np.zeros((100, 200, 3), np.uint8)
    t, r, (px, py) = letterbox(img, 320)
    assert t.shape == (1, 3, 320, 320) and t.dtype == np.float32
    assert r == pytest.approx(1.6) and px == 0 and py == 80
    assert t[0, 0, 0, 0] == pytest.approx(114 / 255)  # padding grey
    assert t[0, 0, 100, 100] == 0.0


def test_decode_maps_back_to_original_pixels_and_suppresses_duplicates():
    # original 200×100 image, letterboxed to 320: scale 1.6, pad y 80
    preds = [
        (160, 160, 64, 32, 0.9, 0.0),  # vehicle centred at (100, 50) orig, 40×20
        (161, 161, 64, 32, 0.8, 0.0),  # duplicate, suppressed
        (40, 120, 32, 32, 0.0, 0.7),  # smoke at (25, 25) orig
        (300, 300, 10, 10, 0.1, 0.1),  # below threshold
    ]
    dets = decode_yolo_output(raw(preds), NAMES, 1.6, (0.0, 80.0), (100, 200), conf=0.25, iou=0.5)
    assert [d.cls for d in dets] == ["vehicle", "smoke"]
    v = dets[0]
    assert (v.x1, v.y1, v.x2, v.y2) == pytest.approx((80, 40, 120, 60))
    s = dets[1]
    assert (s.x1, s.y1, s.x2, s.y2) == pytest.approx((15, 15, 35, 35))
    assert decode_yolo_output(raw([]), NAMES, 1.0, (0, 0), (10, 10)) == ()


def test_same_box_two_classes_both_kept():
    preds = [(50, 50, 20, 20, 0.9, 0.0), (50, 50, 20, 20, 0.0, 0.8)]
    dets = decode_yolo_output(raw(preds), NAMES, 1.0, (0, 0), (320, 320))
    assert sorted(d.cls for d in dets) == ["smoke", "vehicle"]


def test_nms_keeps_best_of_overlapping():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float32)
    assert nms(boxes, np.array([0.5, 0.9, 0.7], np.float32), 0.5) == [1, 2]


def test_wrong_model_files_give_one_clear_error(tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_text("this is not a model")
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        OnnxDetector(bad)
    with pytest.raises(ModelError, match="file not found"):
        load_detector(tmp_path / "missing.onnx")
    other = tmp_path / "model.h5"
    other.write_bytes(b"\0" * 10)
    with pytest.raises(ModelError, match="unknown model format"):
        load_detector(other)


def test_letterbox_rect_pads_only_to_the_stride():
    img = np.zeros((480, 640, 3), np.uint8)
    t, r, (px, py) = letterbox(img, 320, rect=True)
    assert t.shape == (1, 3, 256, 320)  # 320×240 content, padded to 256 rows
    assert r == pytest.approx(0.5) and px == 0 and py == 8


def test_trained_size_is_read_from_the_model():
    from smoke_capture.detector import _size_from, default_model_path

    assert _size_from("[320, 320]") == 320 and _size_from(640) == 640
    assert _size_from("nonsense") is None and _size_from(None) is None
    path = default_model_path()
    assert path is not None and path.suffix == ".onnx"
    det = OnnxDetector(path, threads=1)
    assert det.trained_imgsz == 320 and det.imgsz == 320
    assert OnnxDetector(path, imgsz=480, threads=1).imgsz == 480
    # a 640×480 still is scored from its native pixels; boxes come back in native pixels
    rng = np.random.default_rng(5)
    from smoke_capture import synth

    sc = synth.render_scene(rng, synth.SceneSpec(width=640, height=480, vehicles=1, smoke=False))
    for d in det.detect(sc.image):
        assert 0 <= d.x1 < d.x2 <= 640 and 0 <= d.y1 < d.y2 <= 480

"""Camera pipeline with synthetic boxes (ground truth as detections): one graded event per pass,
evidence bundle with hashes, plate from the sidecar or unknown."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from core.timeutil import beijing
from smoke_capture import synth
from smoke_capture.detections import Detection
from smoke_capture.evidence import verify_bundle
from smoke_capture.pipeline import CameraInfo, CameraPipeline
from smoke_capture.plates import PlateIndex

T0 = beijing(2026, 11, 23, 9, 0, 0)
CAM = CameraInfo("CAM-QP-01", "RSD-QP-01", "qingpu", 1, date(2027, 6, 30))


def truth(scene) -> list[Detection]:
    return [Detection("vehicle" if b.cls == 0 else "smoke", *b.xyxy, 0.9) for b in scene.boxes]


def feed(pipe, scenes, empty_before=4, fps=5.0, anpr=None):
    out = []
    bg = scenes[0].background
    i = 0
    for _ in range(empty_before):  # the empty road lets the background model settle
        out += pipe.process(i, T0 + timedelta(seconds=i / fps), bg, [])
        i += 1
    for sc in scenes:
        out += pipe.process(i, T0 + timedelta(seconds=i / fps), sc.image, truth(sc), anpr)
        i += 1
    for _ in range(8):
        out += pipe.process(i, T0 + timedelta(seconds=i / fps), bg, [])
        i += 1
    return out + pipe.flush()


@pytest.fixture(scope="module")
def smoky_pass():
    rng = np.random.default_rng(21)
    spec = synth.SceneSpec(
        width=224,
        height=224,
        vehicles=1,
        smoke=True,
        opacity=0.6,
        shadow=False,
        fog=False,
        night=False,
        wet=False,
        vapour=False,
    )
    return synth.render_pass(rng, 12, spec)


def test_smoky_pass_gives_one_graded_event_with_evidence(tmp_path, smoky_pass):
    plates = PlateIndex()
    plates.add_sidecar(
        [
            json.dumps(
                {
                    "ts": (T0 + timedelta(seconds=1.5)).isoformat(),
                    "camera": CAM.camera_id,
                    "plate": "沪D12345",
                    "plateColor": "1",
                    "lane": 1,
                }
            )
        ],
        CAM.camera_id,
    )
    pipe = CameraPipeline(CAM, "test-model", fps=5.0, evidence_root=tmp_path, plates=plates)
    events = feed(pipe, smoky_pass)
    assert len(events) == 1
    ev = events[0]
    assert (
        ev.plate == "沪D12345" and ev.plate_colour == "yellow" and ev.plate_source == "anpr_sidecar"
    )
    assert ev.grade == pytest.approx(3.0, abs=0.8)
    assert ev.frames >= 2 and ev.calibration_status == "valid"
    assert set(ev.evidence_files) >= {"best_frame.jpg", "plume_crop.jpg", "plate_crop.jpg"}
    assert any(f.startswith("clip.") for f in ev.evidence_files)
    assert ev.clip_seconds > 0
    folder = tmp_path / CAM.camera_id / "20261123" / ev.event_id
    assert str(folder) == ev.evidence_uri
    assert verify_bundle(folder) == []
    (folder / "plume_crop.jpg").write_bytes(b"tampered")
    assert verify_bundle(folder) == ["plume_crop.jpg hash mismatch"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["model_version"] == "test-model" and manifest["plate_crop"] == "estimated"


def test_unknown_plate_and_clean_pass(smoky_pass):
    pipe = CameraPipeline(CAM, "m", fps=5.0)
    events = feed(pipe, smoky_pass)
    assert len(events) == 1 and events[0].plate == "unknown" and events[0].evidence_files == ()
    clean = [
        synth.Scene(s.image, s.background, s.vehicle_boxes, (), s.conditions) for s in smoky_pass
    ]
    pipe2 = CameraPipeline(CAM, "m", fps=5.0)
    assert feed(pipe2, clean) == []
    assert pipe2.passes_clean == 1


def test_anpr_metadata_wins_over_sidecar(smoky_pass):
    pipe = CameraPipeline(CAM, "m", fps=5.0)
    events = feed(pipe, smoky_pass, anpr={"plate": "苏E88888", "plateColor": "黄"})
    assert events[0].plate == "苏E88888" and events[0].plate_source == "anpr_metadata"


def test_a_reviewed_capture_becomes_a_labelled_frame_from_its_bundle(tmp_path, smoky_pass):
    from core.errors import ValidationError
    from smoke_capture.events import SmokeReview
    from smoke_capture.review import LabelStore, record_review

    pipe = CameraPipeline(CAM, "test-model", fps=5.0, evidence_root=tmp_path / "ev")
    (ev,) = feed(pipe, smoky_pass)
    ts = T0 + timedelta(hours=2)
    rev = SmokeReview(
        event_id=SmokeReview.make_id(ev.event_id, "officer.zhou", ts),
        ts=ts,
        capture_id=ev.event_id,
        camera_id=ev.camera_id,
        jurisdiction="qingpu",
        plate=ev.plate,
        reviewer="officer.zhou",
        decision="confirmed",
        reason="",
        confirmed_grade=3.0,
        note="",
    )
    store = LabelStore(tmp_path / "labels")
    lab = record_review(store, rev, Path(ev.evidence_uri), vehicle_class="truck")
    manifest = json.loads((Path(ev.evidence_uri) / "manifest.json").read_text())
    assert list(lab.plume_boxes[0]) == manifest["plume_box"] and not lab.box_corrected
    assert lab.model_version == "test-model" and lab.model_confidence == ev.detector_confidence
    assert (lab.width, lab.height) == (224, 224) and lab.grade == 3.0
    assert (
        store.path_of(lab).read_bytes()
        == (Path(ev.evidence_uri) / "best_frame_raw.jpg").read_bytes()
    )
    with pytest.raises(ValidationError, match="plume_box"):
        record_review(store, rev, Path(ev.evidence_uri), plume_box=(0, 0, 500, 10))
    with pytest.raises(ValidationError, match="evidence_folder"):
        record_review(store, rev, tmp_path / "nothing")
    assert len(store.labels()) == 1

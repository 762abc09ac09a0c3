"""The review loop without a model: reviewed captures → labelled frames → store → YOLO export split
by camera and day; review-queue ordering and the below-threshold sample; the model registry."""

from __future__ import annotations

import json
from datetime import timedelta

import cv2
import numpy as np
import pytest

from core.errors import ValidationError
from core.timeutil import beijing
from smoke_capture.events import SmokeReview
from smoke_capture.registry import Registry, promotion
from smoke_capture.review import (
    LabelStore,
    export_yolo,
    label_from_review,
    order_queue,
    sample_below_threshold,
    split_groups,
    uncertainty,
)

T0 = beijing(2026, 11, 23, 9, 0, 0)


def capture(cid="cap-1", cam="QP-CAM-01", first=T0, **kw):
    return {
        "capture_id": cid,
        "camera_id": cam,
        "first_ts": first.isoformat(),
        "model_version": "smoke_yolov8n-0123456789ab",
        "detector_confidence": 0.6,
        "grade": 2.0,
        "plume_box": [100.0, 40.0, 160.0, 90.0],
        "vehicle_box": [90.0, 80.0, 200.0, 200.0],
        **kw,
    }


def review(cid="cap-1", decision="confirmed", grade=2.0, reason="", minutes=30):
    ts = T0 + timedelta(minutes=minutes)
    return SmokeReview(
        event_id=SmokeReview.make_id(cid, "officer.wang", ts),
        ts=ts,
        capture_id=cid,
        camera_id="QP-CAM-01",
        jurisdiction="qingpu",
        plate="沪D12345",
        reviewer="officer.wang",
        decision=decision,
        reason=reason,
        confirmed_grade=grade if decision == "confirmed" else None,
        note="",
    )


def test_confirmed_review_keeps_the_model_box_or_takes_the_correction():
    lab = label_from_review(capture(), review(), 320, 240, vehicle_class="truck")
    assert lab.plume_boxes == ((100.0, 40.0, 160.0, 90.0),) and not lab.box_corrected
    assert lab.grade == 2.0 and lab.vehicle_class == "truck" and lab.day == "2026-11-23"
    assert lab.model_version == "smoke_yolov8n-0123456789ab" and lab.model_confidence == 0.6
    fixed = label_from_review(capture(), review(), 320, 240, plume_box=(90, 30, 170, 95), grade=3.0)
    assert fixed.plume_boxes == ((90.0, 30.0, 170.0, 95.0),) and fixed.box_corrected
    assert fixed.grade == 3.0  # the eye-read grade wins over the review's confirmed grade
    gone = label_from_review(capture(), review(decision="dismissed", reason="shadow"), 320, 240)
    assert gone.plume_boxes == () and gone.grade is None and gone.trainable
    nev = label_from_review(capture(), review(decision="dismissed", reason="nev"), 320, 240)
    assert not nev.trainable


def test_bad_review_input_is_refused_with_the_field_named():
    with pytest.raises(ValidationError, match="plume_box"):
        label_from_review(capture(), review(), 320, 240, plume_box=(100, 40, 400, 90))
    with pytest.raises(ValidationError, match="capture_id"):
        label_from_review(capture(cid="other"), review(), 320, 240)
    with pytest.raises(ValidationError, match="vehicle_class"):
        label_from_review(capture(), review(), 320, 240, vehicle_class="spaceship")
    with pytest.raises(ValidationError, match="plume_box"):
        label_from_review(capture(plume_box=None), review(), 320, 240)


def _frame(tmp_path, name="f.jpg"):
    p = tmp_path / name
    cv2.imwrite(str(p), np.full((240, 320, 3), 90, np.uint8))
    return p


def test_store_copies_the_frame_and_a_re_review_supersedes(tmp_path):
    store = LabelStore.under(tmp_path / "data")
    frame = _frame(tmp_path)
    store.add(label_from_review(capture(), review(minutes=10), 320, 240), frame)
    store.add(
        label_from_review(
            capture(), review("cap-1", "dismissed", minutes=20, reason="shadow"), 320, 240
        ),
        frame,
    )
    frame.unlink()  # evidence retention may delete the original: the store keeps its own copy
    labs = store.labels()
    assert len(labs) == 1 and labs[0].decision == "dismissed"
    assert store.path_of(labs[0]).exists()
    assert store.path_of(labs[0]).parent.name == "2026-11-23"
    assert (tmp_path / "data" / "smoke_capture" / "labels" / "index.jsonl").read_text().count(
        "\n"
    ) == 2


def _many(tmp_path, cams=4, days=3, per=3):
    store = LabelStore(tmp_path / "labels")
    frame = _frame(tmp_path)
    k = 0
    for c in range(cams):
        for d in range(days):
            for i in range(per):
                cid = f"cap-{k}"
                first = T0 + timedelta(days=d, minutes=i)
                dec = "confirmed" if k % 2 == 0 else "dismissed"
                store.add(
                    label_from_review(
                        capture(cid, cam=f"CAM-{c}", first=first),
                        review(cid, dec, reason="" if dec == "confirmed" else "not_smoke"),
                        320,
                        240,
                    ),
                    frame,
                )
                k += 1
    return store


def test_split_by_camera_and_day_never_puts_a_pass_on_both_sides(tmp_path):
    store = _many(tmp_path)
    train, val = split_groups(store.labels(), 0.25)
    assert train and val and len(train) + len(val) == 36
    assert not {lab.group for lab in train} & {lab.group for lab in val}
    assert not {lab.capture_id for lab in train} & {lab.capture_id for lab in val}
    # stable: the same split again, and adding a new camera-day does not move the old ones
    again_train, _ = split_groups(store.labels(), 0.25)
    assert [x.capture_id for x in again_train] == [x.capture_id for x in train]


def test_a_midnight_pass_belongs_to_the_beijing_day_it_started():
    # 23:59 Beijing is 15:59 UTC: the day is Beijing's
    lab = label_from_review(capture(first=beijing(2026, 11, 23, 23, 59)), review(), 320, 240)
    assert lab.day == "2026-11-23"


def test_export_writes_yolo_labels_and_the_split(tmp_path):
    store = _many(tmp_path, cams=3, days=2, per=2)
    data = export_yolo(store, tmp_path / "out", 0.3)
    text = data.read_text()
    assert "train: images/train" in text and "1: smoke" in text
    rows = [json.loads(x) for x in (tmp_path / "out" / "frames.jsonl").read_text().splitlines()]
    assert len(rows) == 12
    by_group: dict = {}
    for r in rows:
        by_group.setdefault((r["camera_id"], r["day"]), set()).add(r["split"])
        label = tmp_path / "out" / r["file"].replace("images", "labels").rsplit(".", 1)[0]
        lines = (label.with_suffix(".txt")).read_text().splitlines()
        classes = sorted(int(x.split()[0]) for x in lines)
        assert classes == ([0, 1] if r["decision"] == "confirmed" else [0])
        cx, cy, w, h = map(float, next(x for x in lines if x.startswith("0")).split()[1:])
        assert (cx, cy, w, h) == pytest.approx((145 / 320, 140 / 240, 110 / 320, 120 / 240))
    assert all(len(s) == 1 for s in by_group.values())
    assert {r["split"] for r in rows} == {"train", "val"}


def test_export_of_an_empty_store_is_refused(tmp_path):
    with pytest.raises(ValidationError, match="reviewed frame"):
        export_yolo(LabelStore(tmp_path / "none"), tmp_path / "out")


def test_queue_order_puts_uncertain_captures_first_and_samples_below_threshold():
    sure = {"event_id": "a", "detector_confidence": 0.98, "grade": 4.0, "grade_confidence": 0.9}
    coin = {"event_id": "b", "detector_confidence": 0.5, "grade": 1.1, "grade_confidence": 0.3}
    mid = {"event_id": "c", "detector_confidence": 0.7, "grade": 2.0, "grade_confidence": 0.6}
    assert uncertainty(coin) > uncertainty(mid) > uncertainty(sure)
    assert [c["event_id"] for c in order_queue([sure, mid, coin])] == ["b", "c", "a"]
    below = [{"event_id": f"cap-{i}", "grade": 0.6} for i in range(2000)]
    picked = sample_below_threshold(below, 0.05)
    assert 60 <= len(picked) <= 140  # about 5 %
    assert picked == sample_below_threshold(below, 0.05)  # deterministic
    assert sample_below_threshold([{"event_id": "x", "grade": 3.0}], 1.0) == []  # already queued
    with pytest.raises(ValidationError, match="rate"):
        sample_below_threshold(below, 1.5)


def test_registry_register_promote_rollback(tmp_path):
    reg = Registry(tmp_path / "models")
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    a.write_bytes(b"model a" * 200)
    b.write_bytes(b"model b" * 200)
    va = reg.register(a, "# a", {"source": "test"}, T0)
    assert reg.register(a, "# a", {"source": "test"}, T0) == va  # idempotent
    vb = reg.register(b, "# b", {"source": "test"}, T0, parent=va)
    assert reg.versions() == sorted([va, vb]) and reg.live is None
    assert (reg.root / va / "card.md").read_text() == "# a"
    reg.record_scores(va, "reviews", {"recall": 0.5}, T0)
    assert reg.scores(va)["reviews"]["recall"] == 0.5
    reg.set_live(va)
    reg.set_live(vb)
    assert reg.live == vb and reg.history == ["shipped", va]
    assert reg.rollback() == va and reg.live == va
    assert reg.rollback() == "shipped" and reg.live is None
    with pytest.raises(ValidationError, match="roll back"):
        reg.rollback()
    with pytest.raises(ValidationError, match="registered version"):
        reg.set_live("nope")


def test_promotion_requires_no_worse_on_every_figure_of_every_set():
    live = {
        "reviews": {"recall": 0.7, "false_alarm_rate": 0.05, "ap50": 0.6, "ringelmann_mae": 0.5}
    }
    better = {
        "reviews": {"recall": 0.8, "false_alarm_rate": 0.05, "ap50": 0.7, "ringelmann_mae": 0.4}
    }
    assert promotion("c", "l", better, live).promoted
    worse_fa = {"reviews": {**better["reviews"], "false_alarm_rate": 0.06}}
    d = promotion("c", "l", worse_fa, live)
    assert not d.promoted and d.worse == ("reviews:false_alarm_rate",)
    with pytest.raises(ValidationError, match="both"):
        promotion("c", "l", {"heldout": {}}, live)

"""The review loop end to end through the CLI with the shipped model: reviewed synthetic frames →
``emwatch smoke dataset export`` / ``evaluate`` / ``promote`` / ``rollback`` / ``models``, and
``train --from-reviews`` (1 epoch, 64 px) registering a candidate that promotion then refuses."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta

import cv2
import numpy as np
import pytest

from core.timeutil import beijing
from smoke_capture import synth
from smoke_capture.detector import default_model_path
from smoke_capture.events import SmokeReview
from smoke_capture.registry import Registry, live_model_path
from smoke_capture.review import LabelStore, label_from_review

pytestmark = [pytest.mark.component]

T0 = beijing(2026, 11, 23, 9, 0, 0)


@pytest.fixture
def data_dir(tmp_path):
    """3 cameras × 2 days × 4 reviewed captures (smoky ones confirmed, clean ones dismissed)."""
    root = tmp_path / "data"
    store = LabelStore.under(root)
    rng = np.random.default_rng(31)
    k = 0
    for cam in ("QP-CAM-01", "WJ-CAM-02", "JS-CAM-03"):
        for day in range(2):
            for i in range(4):
                smoky = i % 2 == 0
                sc = synth.render_scene(
                    rng, synth.SceneSpec(vehicles=1, smoke=smoky, night=False, fog=False)
                )
                if smoky and not sc.smoke_boxes:
                    continue
                f = tmp_path / f"frame_{k}.jpg"
                cv2.imwrite(str(f), sc.image)
                cid = f"cap-{k}"
                first = T0 + timedelta(days=day, minutes=i)
                ts = first + timedelta(hours=1)
                cap = {
                    "capture_id": cid,
                    "camera_id": cam,
                    "first_ts": first,
                    "model_version": "smoke_yolov8n-test",
                    "detector_confidence": 0.5,
                    "plume_box": list(sc.smoke_boxes[0].xyxy) if smoky else [1, 1, 20, 20],
                    "vehicle_box": list(sc.vehicle_boxes[0].xyxy) if sc.vehicle_boxes else None,
                }
                rev = SmokeReview(
                    event_id=SmokeReview.make_id(cid, "officer.li", ts),
                    ts=ts,
                    capture_id=cid,
                    camera_id=cam,
                    jurisdiction="qingpu",
                    plate="unknown",
                    reviewer="officer.li",
                    decision="confirmed" if smoky else "dismissed",
                    reason="" if smoky else "not_smoke",
                    confirmed_grade=round(5 * sc.opacities[0], 1) if smoky else None,
                    note="",
                )
                store.add(label_from_review(cap, rev, 320, 320), f)
                k += 1
    return root


def test_export_evaluate_promote_rollback(data_dir, tmp_path, capsys):
    from streams.cli import main

    rc = main(["smoke", "dataset", "export", str(tmp_path / "ds"), "--data-dir", str(data_dir)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "validation frames" in out and (tmp_path / "ds" / "data.yaml").exists()

    rc = main(["smoke", "evaluate", "shipped", "--data-dir", str(data_dir), "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    rep = json.loads(out)
    figs = rep["scores"]["reviews"]
    assert figs["frames"] > 0 and 0.0 <= figs["recall"] <= 1.0
    assert set(figs) >= {"recall", "false_alarm_rate", "ap50", "ringelmann_mae"}

    # a byte-identical copy under another name is a new version with the same figures: promotable
    cand = tmp_path / "candidate.onnx"
    shutil.copyfile(default_model_path(), cand)
    rc = main(["smoke", "promote", str(cand), "--data-dir", str(data_dir), "--heldout", "0"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    reg = Registry.under(data_dir)
    assert reg.live is not None and reg.live.startswith("candidate-")
    assert live_model_path(data_dir) == reg.file(reg.live)
    assert "reviews" in reg.scores(reg.live)
    rc = main(["smoke", "models", "--data-dir", str(data_dir)])
    assert rc == 0 and reg.live in capsys.readouterr().out

    rc = main(["smoke", "rollback", "--data-dir", str(data_dir)])
    out, _ = capsys.readouterr()
    assert rc == 0 and "shipped" in out and reg.live is None
    assert live_model_path(data_dir) == default_model_path()
    rc = main(["smoke", "rollback", "--data-dir", str(data_dir)])
    _, err = capsys.readouterr()
    assert rc == 2 and err.count("\n") == 1 and "roll back" in err


def test_evaluate_with_nothing_to_score_is_one_line_exit_2(tmp_path, capsys):
    from streams.cli import main

    rc = main(["smoke", "evaluate", "shipped", "--data-dir", str(tmp_path)])
    _, err = capsys.readouterr()
    assert rc == 2 and err.count("\n") == 1 and "nothing to score" in err
    rc = main(["smoke", "evaluate", "no-such-model", "--data-dir", str(tmp_path)])
    _, err = capsys.readouterr()
    assert rc == 2 and err.count("\n") == 1 and "model" in err
    assert not (tmp_path / "smoke_capture").exists()  # bad input changed nothing


@pytest.mark.slow
def test_train_from_reviews_registers_a_candidate_promotion_refuses(data_dir, tmp_path, capsys):
    from streams.cli import main

    rc = main(
        [
            "smoke",
            "train",
            "--from-reviews",
            "--data-dir",
            str(data_dir),
            "--out",
            str(tmp_path / "runs"),
            "--epochs",
            "1",
            "--imgsz",
            "64",
            "--batch",
            "4",
            "--threads",
            "1",
            "--device",
            "cpu",
        ]
    )
    out, err = capsys.readouterr()
    assert rc == 0, (out + err)[-2000:]
    assert "reviewed frames:" in out and "registered:" in out
    reg = Registry.under(data_dir)
    (version,) = reg.versions()
    entry = reg.entry(version)
    assert entry["parent"] == "shipped" and any(f.endswith(".pt") for f in entry["files"])
    assert json.loads((reg.root / version / "data.json").read_text())["source"] == "reviews"
    # one epoch at 64 px from 24 frames is far worse than the shipped model: refused, still shipped
    rc = main(["smoke", "promote", version, "--data-dir", str(data_dir), "--heldout", "0"])
    _, err = capsys.readouterr()
    assert rc == 1 and "not promoted" in err
    assert reg.live is None

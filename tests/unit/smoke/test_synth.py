"""Synthetic scene generator: labels match what is drawn, YOLO files round-trip, confusers unlabelled."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import ValidationError
from smoke_capture import synth


def test_smoke_boxes_cover_the_drawn_plume_and_clean_scenes_have_none():
    rng = np.random.default_rng(5)
    sc = synth.render_scene(rng, synth.SceneSpec(width=192, height=192, smoke=True, vehicles=1))
    assert len(sc.smoke_boxes) == len(sc.opacities) >= 1
    b = sc.smoke_boxes[0]
    alpha = sc.plume_alpha
    inside = alpha[int(b.y1) : int(b.y2), int(b.x1) : int(b.x2)].sum()
    assert inside / alpha.sum() > 0.8
    # the plume really darkens the frame against the background
    region = (slice(int(b.y1), int(b.y2)), slice(int(b.x1), int(b.x2)))
    assert sc.image[region].mean() < sc.background[region].mean()
    clean = synth.render_scene(
        rng, synth.SceneSpec(width=192, height=192, smoke=False, shadow=True, wet=True)
    )
    assert clean.smoke_boxes == ()
    assert "shadow" in clean.conditions and "wet" in clean.conditions


def test_opacity_is_controlled():
    rng = np.random.default_rng(1)
    sc = synth.render_scene(
        rng, synth.SceneSpec(width=160, height=160, smoke=True, opacity=0.6, vehicles=1)
    )
    assert sc.opacities and all(o == pytest.approx(0.6) for o in sc.opacities)
    assert float(sc.plume_alpha.max()) == pytest.approx(0.6, abs=1e-5)


def test_dataset_round_trip(tmp_path):
    data = synth.write_dataset(tmp_path / "ds", train=4, val=2, test=2, seed=9, size=128)
    text = data.read_text()
    assert f"path: {(tmp_path / 'ds').resolve()}" in text
    assert "0: vehicle" in text and "1: smoke" in text
    labels = sorted((tmp_path / "ds" / "labels" / "train").glob("*.txt"))
    images = sorted((tmp_path / "ds" / "images" / "train").glob("*.jpg"))
    assert len(labels) == len(images) == 4
    again = list(synth.iter_scenes(9, 4, synth.SceneSpec(width=128, height=128)))
    for lf, sc in zip(labels, again, strict=True):
        boxes = synth.boxes_from_labels(lf, 128, 128)
        assert [b.cls for b in boxes] == [b.cls for b in sc.boxes]
        for got, want in zip(boxes, sc.boxes, strict=True):
            assert got.x1 == pytest.approx(want.x1, abs=0.01) and got.y2 == pytest.approx(
                want.y2, abs=0.01
            )


def test_splits_use_disjoint_seeds(tmp_path):
    synth.write_dataset(tmp_path / "ds", train=2, val=2, test=0, seed=1, size=96)
    a = (tmp_path / "ds/images/train/train_00000.jpg").read_bytes()
    b = (tmp_path / "ds/images/val/val_00000.jpg").read_bytes()
    assert a != b


def test_pass_keeps_background_and_moves_vehicle():
    rng = np.random.default_rng(2)
    frames = synth.render_pass(
        rng, 4, synth.SceneSpec(width=128, height=128, vehicles=1, smoke=True)
    )
    assert all(np.array_equal(f.background, frames[0].background) for f in frames)
    ys = [f.vehicle_boxes[0].y2 for f in frames if f.vehicle_boxes]
    assert ys == sorted(ys, reverse=True) and ys[0] > ys[-1]


def test_spec_validation_names_the_field():
    with pytest.raises(ValidationError, match="opacity"):
        synth.SceneSpec(opacity=1.5)
    with pytest.raises(ValidationError, match="width"):
        synth.SceneSpec(width=8)
    with pytest.raises(ValidationError, match="box"):
        synth.Box(1, 10, 10, 5, 20)


def test_fixed_camera_passes_share_one_background():
    rng = np.random.default_rng(8)
    passes = synth.render_passes(
        rng, 3, 3, synth.SceneSpec(width=96, height=96, vehicles=1, smoke=True)
    )
    bgs = [p[0].background for p in passes]
    assert all(np.array_equal(b, bgs[0]) for b in bgs)
    assert passes[0][0].smoke_boxes  # the first pass follows the spec
    assert not np.array_equal(passes[0][0].image, passes[1][0].image)
    with pytest.raises(ValidationError, match="passes"):
        synth.render_passes(rng, 0, 3)


def test_heldout_seeds_are_refused_for_training_sets(tmp_path):
    from core.errors import ValidationError
    from smoke_capture.heldout import HELDOUT_SEEDS, frames

    with pytest.raises(ValidationError, match="held-out"):
        synth.write_dataset(tmp_path, train=1, val=1, seed=HELDOUT_SEEDS.start - 1)
    assert not (tmp_path / "images").exists()
    items = list(frames(2, sizes=((320, 320), (640, 480))))
    assert [f.subset for f in items].count("smoky_640x480") == 2
    assert all(f.image.shape == (480, 640, 3) for f in items if "640x480" in f.subset)
    assert all(f.truth.smoky for f in items if f.subset.startswith("smoky"))
    assert not any(f.truth.smoky for f in items if f.subset.startswith("clean"))

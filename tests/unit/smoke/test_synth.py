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


def _lin_lum(img):
    from smoke_capture.photometry import srgb_to_linear

    return srgb_to_linear(img).mean(axis=2)


def _sharpness(img):
    import cv2

    return float(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


def _pair(flag, seed=8, **kw):
    """The same scene without and with one hard flag (the flags draw from their own generator)."""
    base = dict(vehicles=2, smoke=False, night=False, fog=False, noise=False, **kw)
    off = synth.render_scene(np.random.default_rng(seed), synth.SceneSpec(**base))
    on = synth.render_scene(np.random.default_rng(seed), synth.SceneSpec(**base, **{flag: True}))
    return off, on


def test_hard_flags_default_off_and_leave_labels_alone():
    spec = synth.SceneSpec()
    assert not any(getattr(spec, k) for k in synth.HARD_FLAGS)
    for flag in ("degrade", "motion_blur", "rain", "dark_confusers", "dust"):
        off, on = _pair(flag)
        assert on.boxes == off.boxes, flag  # nothing new is labelled: confusers stay unlabelled
        assert flag in on.conditions and flag not in off.conditions
        assert not np.array_equal(on.image, off.image), flag


def test_degrade_and_motion_blur_remove_detail():
    for flag in ("degrade", "motion_blur"):
        off, on = _pair(flag)
        assert _sharpness(on.image) < 0.7 * _sharpness(off.image), flag


def test_rain_adds_bright_streaks_and_a_veil():
    off, on = _pair("rain")
    lo, ln = _lin_lum(off.image), _lin_lum(on.image)
    assert lo.std() > ln.std() * 0.9  # veiled: less contrast (streaks add a little back)
    assert (ln - lo > 0.02).mean() > 0.01  # streaks brighten a share of the pixels


def test_dark_confusers_add_dark_unlabelled_pixels_near_vehicles():
    darker = 0
    for seed in range(6):
        off, on = _pair("dark_confusers", seed=seed)
        assert not on.smoke_boxes
        darker += int((_lin_lum(on.image) < 0.03).sum() > (_lin_lum(off.image) < 0.03).sum())
    assert darker >= 4


def test_dust_is_light_and_brownish_not_black():
    brighter = 0
    for seed in range(6):
        off, on = _pair("dust", seed=seed)
        diff = on.image.astype(int) - off.image.astype(int)
        changed = np.abs(diff).sum(axis=2) > 6
        if changed.any():
            red_minus_blue = (diff[..., 2] - diff[..., 0])[changed].mean()
            brighter += int(diff[changed].mean() > -5 and red_minus_blue > 0)
    assert brighter >= 3


def test_varied_vehicles_draw_more_truck_and_bus_shapes():
    rng = np.random.default_rng(3)
    kinds = set()
    for _ in range(30):
        sc = synth.render_scene(rng, synth.SceneSpec(vehicles=3, varied_vehicles=True))
        kinds |= set(sc.vehicle_kinds)
    assert len(kinds & set(synth.EXTRA_KINDS)) >= 4
    plain = set()
    for _ in range(20):
        plain |= set(synth.render_scene(rng, synth.SceneSpec(vehicles=3)).vehicle_kinds)
    assert not plain & set(synth.EXTRA_KINDS)


def test_hard_mix_draws_every_condition():
    rng = np.random.default_rng(4)
    seen = set()
    for _ in range(40):
        seen |= set(synth.render_scene(rng, synth.SceneSpec.hard(width=160, height=160)).conditions)
    assert set(synth.HARD_FLAGS) <= seen


def test_dataset_hard_share(tmp_path):
    from core.errors import ValidationError

    with pytest.raises(ValidationError, match="hard"):
        synth.write_dataset(tmp_path / "x", train=2, val=0, seed=5, size=64, hard=1.5)
    plain = synth.write_dataset(tmp_path / "p", train=4, val=0, seed=5, size=64)
    mixed = synth.write_dataset(tmp_path / "m", train=4, val=0, seed=5, size=64, hard=0.5)
    a = sorted((plain.parent / "images" / "train").glob("*.jpg"))
    b = sorted((mixed.parent / "images" / "train").glob("*.jpg"))
    same = [x.read_bytes() == y.read_bytes() for x, y in zip(a, b, strict=True)]
    assert same[0] and not all(same)  # the first scene is plain in both; hard ones differ

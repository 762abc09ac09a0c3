"""The shipped int8 copy and the variant tools against the real ONNX model (needs onnxruntime)."""

from __future__ import annotations

import ast

import numpy as np
import pytest

from core.errors import ValidationError
from smoke_capture import detector as D
from smoke_capture import heldout, synth, variants
from smoke_capture.detector import MODELS_DIR, OnnxDetector, model_version

pytestmark = pytest.mark.component

FP32 = MODELS_DIR / "smoke_yolov8n.onnx"
INT8 = MODELS_DIR / "smoke_yolov8n_int8.onnx"


def _meta(path):
    import onnx

    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


def test_the_shipped_int8_copy_is_small_names_its_parent_and_scores_alike():
    assert INT8.exists(), "the int8 copy is shipped in smoke_capture/models/"
    assert INT8.stat().st_size < 5_000_000
    meta = _meta(INT8)
    assert meta["precision"] == "int8" and meta["parent"] == model_version(FP32)
    assert ast.literal_eval(meta["names"]) == {0: "vehicle", 1: "smoke"}
    items = list(heldout.frames(8))
    figs = {}
    for path in (FP32, INT8):
        det = OnnxDetector(path, conf=0.01, threads=1)
        figs[path.name] = heldout.evaluate(det, items)["all"].figures()
    assert OnnxDetector(INT8, threads=1).precision == "int8"
    loose = variants.Tolerance(0.07, 0.07, 0.05, 0.15)  # 16 + 16 frames: one frame is 0.06
    assert variants.keeps_scores(figs[INT8.name], figs[FP32.name], loose) == []


def test_fp16_and_int8_copies_load_and_find_what_fp32_finds(tmp_path):
    rng = np.random.default_rng(31)
    frames = [
        synth.render_scene(rng, synth.SceneSpec(smoke=True, vehicles=1)).image for _ in range(4)
    ]
    f16 = variants.make_fp16(FP32, tmp_path / "a_fp16.onnx")
    i8 = variants.make_int8(FP32, tmp_path / "a_int8.onnx", frames)
    ref = OnnxDetector(FP32, threads=1)
    for path, prec in ((f16, "fp16"), (i8, "int8")):
        det = OnnxDetector(path, threads=1)
        assert det.precision == prec and det.trained_imgsz == 320 and det.names == ref.names
        assert _meta(path)["parent"] == ref.model_version
        assert det.model_version.startswith(f"a_{prec}-")
        for im in frames:
            got = {d.cls for d in det.detect(im)}
            want = {d.cls for d in ref.detect(im)}
            assert got == want
    assert i8.stat().st_size < f16.stat().st_size < FP32.stat().st_size
    with pytest.raises(ValidationError):
        variants.calibration_frames(4, seed=heldout.HELDOUT_SEEDS.start)
    with pytest.raises(D.ModelError):
        variants.make_fp16(tmp_path / "missing.onnx", tmp_path / "x.onnx")


def test_without_onnxruntime_the_torch_weights_beside_it_run(monkeypatch):
    monkeypatch.setattr(D, "onnx_providers", lambda: None)
    det = D.load_detector(INT8, threads=1)
    assert isinstance(det, D.UltralyticsDetector)
    assert det.model_version == model_version(MODELS_DIR / "smoke_yolov8n.pt")


def test_quantize_registers_a_copy_that_keeps_its_scores_with_its_card(tmp_path, capsys):
    from smoke_capture.registry import Registry
    from streams.cli import main

    data = tmp_path / "data"
    rc = main(
        [
            *("smoke", "quantize", "shipped", "--precision", "fp16", "--heldout", "4"),
            *("--data-dir", str(data), "--threads", "1"),
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0, out
    reg = Registry.under(data)
    (version,) = reg.versions()
    assert version.startswith("smoke_yolov8n_fp16-") and f"kept and registered as {version}" in out
    entry = reg.entry(version)
    assert entry["parent"] == model_version(FP32)
    assert reg.file(version).suffix == ".onnx" and reg.pt_for(version) is not None
    card = (reg.root / version / "card.md").read_text(encoding="utf-8")
    assert "fp16 copy of" in card and model_version(FP32) in card
    assert "heldout_synthetic_4" in reg.scores(version)
    assert reg.live is None  # registering is not promoting
    # a torch file is not an fp32 ONNX model: one line on stderr, exit 2, nothing registered
    rc = main(["smoke", "quantize", str(MODELS_DIR / "smoke_yolov8n.pt"), "--data-dir", str(data)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "fp32 ONNX" in err
    assert reg.versions() == [version]
    # nor is an int8 copy (no copies of copies)
    rc = main(["smoke", "quantize", str(INT8), "--data-dir", str(data)])
    err = capsys.readouterr().err
    assert rc == 2 and "fp32 ONNX" in err and reg.versions() == [version]
    with pytest.raises(D.ModelError, match="already int8"):
        variants.make_int8(INT8, data / "x.onnx")

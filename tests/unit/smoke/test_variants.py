"""Reduced-precision copies of the smoke model: the keep rule (pure) and which file a machine loads."""

from __future__ import annotations

import pytest

from core.errors import ValidationError
from smoke_capture import detector as D
from smoke_capture.variants import Tolerance, keeps_scores

SRC = {"recall": 0.75, "false_alarm_rate": 0.05, "ap50": 0.76, "ringelmann_mae": 0.70}


def test_a_variant_is_kept_only_within_tolerance_on_every_figure():
    assert keeps_scores(dict(SRC), SRC) == []
    near = {"recall": 0.741, "false_alarm_rate": 0.059, "ap50": 0.751, "ringelmann_mae": 0.749}
    assert keeps_scores(near, SRC) == []
    better = {"recall": 0.9, "false_alarm_rate": 0.0, "ap50": 0.9, "ringelmann_mae": 0.1}
    assert keeps_scores(better, SRC) == []
    worse = {"recall": 0.73, "false_alarm_rate": 0.07, "ap50": 0.74, "ringelmann_mae": 0.76}
    assert keeps_scores(worse, SRC) == ["recall", "false_alarm_rate", "ap50", "ringelmann_mae"]
    # a figure the source has and the variant lacks is lost; one neither has is skipped
    assert keeps_scores({**SRC, "ringelmann_mae": None}, SRC) == ["ringelmann_mae"]
    assert keeps_scores({**SRC, "ap50": None}, {**SRC, "ap50": None}) == []
    loose = Tolerance(recall=0.05, false_alarm_rate=0.05, ap50=0.05, ringelmann_mae=0.1)
    assert keeps_scores(worse, SRC, loose) == []
    with pytest.raises(ValidationError):
        Tolerance(recall=-0.1)


@pytest.fixture
def models(tmp_path, monkeypatch):
    for name in ("smoke_yolov8n.onnx", "smoke_yolov8n_int8.onnx", "smoke_yolov8n.pt"):
        (tmp_path / name).write_bytes(b"x" * 2000)
    monkeypatch.setattr(D, "MODELS_DIR", tmp_path)
    return tmp_path


def test_the_shipped_file_suits_the_machine(models, monkeypatch):
    monkeypatch.setattr(D, "onnx_providers", lambda: ["CPUExecutionProvider"])
    assert D.default_model_path() == models / "smoke_yolov8n_int8.onnx"
    monkeypatch.setattr(
        D, "onnx_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"]
    )
    assert D.default_model_path() == models / "smoke_yolov8n.onnx"
    monkeypatch.setattr(D, "onnx_providers", lambda: None)  # onnxruntime missing: torch
    assert D.default_model_path() == models / "smoke_yolov8n.pt"
    monkeypatch.setattr(D, "onnx_providers", lambda: ["CPUExecutionProvider"])
    (models / "smoke_yolov8n_int8.onnx").unlink()  # no int8 copy shipped: fp32
    assert D.default_model_path() == models / "smoke_yolov8n.onnx"


def test_torch_weights_beside_an_onnx_file(tmp_path):
    (tmp_path / "m.pt").write_bytes(b"x")
    assert D.torch_fallback(tmp_path / "m_int8.onnx") == tmp_path / "m.pt"
    assert D.torch_fallback(tmp_path / "m_fp16.onnx") == tmp_path / "m.pt"
    (tmp_path / "m_int8.pt").write_bytes(b"x")
    assert D.torch_fallback(tmp_path / "m_int8.onnx") == tmp_path / "m_int8.pt"
    assert D.torch_fallback(tmp_path / "other.onnx") is None


def test_without_onnxruntime_an_onnx_file_alone_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(D, "onnx_providers", lambda: None)
    lone = tmp_path / "lone.onnx"
    lone.write_bytes(b"x" * 2000)
    with pytest.raises(D.ModelError, match="onnxruntime is not installed"):
        D.load_detector(lone)

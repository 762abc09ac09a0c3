"""``emwatch smoke train`` end to end on a tiny synthetic set (1 epoch, 64 px): weights and an ONNX
export that our own ONNX adapter loads with the two classes. Offline like everything else."""

from __future__ import annotations

import pytest

from smoke_capture.detector import OnnxDetector

pytestmark = [pytest.mark.component, pytest.mark.slow]


def test_train_one_tiny_epoch_and_export(tmp_path, capsys):
    from streams.cli import main

    rc = main(
        [
            "smoke",
            "train",
            "--out",
            str(tmp_path / "runs"),
            "--epochs",
            "1",
            "--imgsz",
            "64",
            "--batch",
            "4",
            "--synth-train",
            "8",
            "--synth-val",
            "4",
            "--threads",
            "1",
            "--device",
            "cpu",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0, out[-2000:]
    weights = tmp_path / "runs" / "smoke" / "weights"
    assert (weights / "last.pt").exists()
    onnx = next(weights.glob("*.onnx"))
    det = OnnxDetector(onnx, imgsz=64)
    assert set(det.names.values()) == {"vehicle", "smoke"}
    assert "onnx:" in out and "weights:" in out

"""Training command plumbing that needs no training run: config validation, resume without a run,
missing dataset, and the CLI registration of ``emwatch smoke``."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ValidationError
from smoke_capture.train import TrainConfig, pick_device, run_dir, train


def test_config_validation_names_the_field(tmp_path):
    with pytest.raises(ValidationError, match="imgsz"):
        TrainConfig(data=tmp_path / "d.yaml", out=tmp_path, imgsz=300)
    with pytest.raises(ValidationError, match="epochs"):
        TrainConfig(data=tmp_path / "d.yaml", out=tmp_path, epochs=0)
    cfg = TrainConfig(data=tmp_path / "d.yaml", out=tmp_path, name="x")
    assert run_dir(cfg) == tmp_path.resolve() / "x"
    assert pick_device("cpu") == "cpu"
    assert pick_device() in ("cpu", "0")


def test_resume_without_a_run_and_missing_dataset_are_clear(tmp_path):
    cfg = TrainConfig(data=tmp_path / "missing.yaml", out=tmp_path)
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        train(cfg, resume=True)
    with pytest.raises(FileNotFoundError, match=r"missing\.yaml"):
        train(cfg)


def test_cli_registers_smoke_commands(capsys, tmp_path):
    from streams.cli import build_parser, main

    parser, _ = build_parser()
    args = parser.parse_args(["smoke", "score", "x.jpg", "--json", "--model", "m.onnx"])
    assert args.func.__name__ == "cmd_score" and args.json and args.model == "m.onnx"
    args = parser.parse_args(["smoke", "train", "--resume", "--epochs", "3"])
    assert args.func.__name__ == "cmd_train" and args.resume and args.epochs == 3
    rc = main(["smoke", "train", "--data", str(tmp_path / "none.yaml"), "--out", str(tmp_path)])
    assert rc == 2 and "none.yaml" in capsys.readouterr().err


def test_cli_synth_writes_dataset_plumes_and_charts(tmp_path):
    from streams.cli import main

    rc = main(
        [
            "smoke",
            "synth",
            str(tmp_path / "s"),
            "--train",
            "2",
            "--val",
            "1",
            "--size",
            "96",
            "--plumes",
            "2",
            "--charts",
            "1",
        ]
    )
    assert rc == 0
    out = tmp_path / "s"
    assert len(list((out / "images" / "train").glob("*.jpg"))) == 2
    assert len((out / "plumes" / "truth.jsonl").read_text().splitlines()) == 2
    assert Path(out / "charts" / "chart_000.png").exists()

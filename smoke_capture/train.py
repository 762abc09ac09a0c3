"""`emwatch smoke train`: train (or resume training) the smoke/vehicle detector.

Responsible for turning a YOLO-format dataset (our synthetic one, or a user's real labelled
frames with the same two classes) into weights, offline: the model is built from the architecture
yaml (no pretrained download), ultralytics runs with the offline environment of
``smoke_capture.yolo_setup``, AMP is off on CPU, the device is CUDA when present and CPU otherwise.
Training is resumable (``--resume`` continues ``<out>/<name>/weights/last.pt``) and shows
ultralytics' per-epoch progress bar. ``time_hours`` caps wall time (ultralytics then fits the
learning-rate schedule into that time). After training the best weights can be exported to ONNX.

Known limits: the first epochs on CPU are slow (≈40–80 s per 400 images at 320 px on 2 cores);
ultralytics writes its own run folder layout under ``out``.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from core.errors import ValidationError


@dataclass(frozen=True, slots=True)
class TrainConfig:
    data: Path  # data.yaml
    out: Path  # project directory (runs)
    name: str = "smoke"
    model: str = "yolov8n.yaml"  # architecture yaml, or a .pt to fine-tune
    epochs: int = 60
    imgsz: int = 320
    batch: int = 16
    device: str | None = None  # None: "0" when CUDA is present, else "cpu"
    threads: int = 2
    workers: int = 1
    time_hours: float | None = None
    patience: int = 100
    seed: int = 0
    plots: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.epochs <= 10000:
            raise ValidationError("epochs", self.epochs, "in [1, 10000]")
        if self.imgsz % 32 or not 64 <= self.imgsz <= 2048:
            raise ValidationError("imgsz", self.imgsz, "a multiple of 32 in [64, 2048]", "px")
        if self.time_hours is not None and not 0 < self.time_hours <= 240:
            raise ValidationError("time_hours", self.time_hours, "in (0, 240]", "h")


def pick_device(requested: str | None = None) -> str:
    if requested:
        return requested
    import torch

    return "0" if torch.cuda.is_available() else "cpu"


def run_dir(cfg: TrainConfig) -> Path:
    return cfg.out.resolve() / cfg.name


def train(cfg: TrainConfig, resume: bool = False) -> Path:
    """Train and return the path of the best weights."""
    from smoke_capture.yolo_setup import setup

    setup(threads=cfg.threads, verbose=True)  # progress bar and per-epoch metrics
    from ultralytics import YOLO

    device = pick_device(cfg.device)
    last = run_dir(cfg) / "weights" / "last.pt"
    if resume:
        if not last.exists():
            raise FileNotFoundError(f"nothing to resume: {last} does not exist")
        model = YOLO(str(last))
        model.train(resume=True)
    else:
        if not cfg.data.exists():
            raise FileNotFoundError(f"dataset description {cfg.data} does not exist")
        model = YOLO(cfg.model)
        kwargs = dict(
            data=str(cfg.data.resolve()),
            epochs=cfg.epochs,
            imgsz=cfg.imgsz,
            batch=cfg.batch,
            device=device,
            workers=cfg.workers,
            project=str(cfg.out.resolve()),
            name=cfg.name,
            exist_ok=True,
            amp=device != "cpu",
            plots=cfg.plots,
            patience=cfg.patience,
            seed=cfg.seed,
            cache="ram",
            verbose=True,
        )
        if cfg.time_hours:
            kwargs["time"] = cfg.time_hours
        model.train(**kwargs)
    best = run_dir(cfg) / "weights" / "best.pt"
    return best if best.exists() else last


def export_onnx(weights: Path, imgsz: int = 320, dynamic: bool = True) -> Path:
    """Export weights to ONNX (opset chosen by ultralytics) next to the weights; return its path."""
    from smoke_capture.yolo_setup import setup

    setup()
    from ultralytics import YOLO

    out = YOLO(str(weights)).export(format="onnx", imgsz=imgsz, dynamic=dynamic, simplify=False)
    return Path(out)


def ship(
    weights: Path, onnx: Path | None, models_dir: Path, stem: str = "smoke_yolov8n"
) -> list[Path]:
    """Copy the trained weights (and ONNX) into the package's models folder."""
    models_dir.mkdir(parents=True, exist_ok=True)
    placed = [models_dir / f"{stem}.pt"]
    shutil.copyfile(weights, placed[0])
    if onnx is not None:
        placed.append(models_dir / f"{stem}.onnx")
        shutil.copyfile(onnx, placed[1])
    return placed


if __name__ == "__main__":  # pragma: no cover - manual runs; the CLI is `emwatch smoke train`
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("runs"))
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--hours", type=float, default=None)
    ap.add_argument("--resume", action="store_true")
    a = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    print(
        train(
            TrainConfig(data=a.data, out=a.out, epochs=a.epochs, time_hours=a.hours),
            resume=a.resume,
        )
    )

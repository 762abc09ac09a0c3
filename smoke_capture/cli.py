"""``emwatch smoke …``: score stills with a model, train a model, generate synthetic data.

* ``smoke score PATH [--model FILE] [--json]`` — PATH is an image or a folder of images. One line per
  image: path, every detection (class, box x1,y1,x2,y2 in pixels, confidence) and for each smoke
  detection its Ringelmann grade (0–5, one decimal) and the grade's confidence. A still has no
  background model, so grades use the ring reference beside the plume (vehicle boxes excluded) and
  are less accurate than a camera's grades. An unreadable image gets one line on stderr; the other
  images are still scored and the exit code is 2.
* ``smoke train`` — train (``--resume`` to continue) on ``--data data.yaml`` or on a freshly
  generated synthetic set; exports ONNX; ``--ship`` copies the weights into the package.
* ``smoke synth OUT`` — write a synthetic YOLO dataset, known-opacity test plumes and printed
  Ringelmann chart images.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def _images(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS)
    return [path]


def score_image(detector: Any, image: Any) -> list[dict[str, Any]]:
    """Detections of one still as JSON-ready dicts, smoke ones with their Ringelmann grade."""
    from core.errors import ValidationError
    from smoke_capture import ringelmann

    dets = detector.detect(image)
    vehicles = [d.box for d in dets if d.cls == "vehicle"]
    out = []
    for d in dets:
        row: dict[str, Any] = {
            "class": d.cls,
            "box": [round(d.x1, 1), round(d.y1, 1), round(d.x2, 1), round(d.y2, 1)],
            "confidence": round(d.confidence, 3),
        }
        if d.cls == "smoke":
            try:
                g: ringelmann.Grade | None = ringelmann.grade_plume(image, d.box, None, vehicles)
            except ValidationError:
                g = None
            row["ringelmann"] = g.grade if g else None
            row["ringelmann_confidence"] = g.confidence if g else 0.0
            row["ringelmann_flags"] = list(g.flags) if g else ["ungradable"]
        out.append(row)
    return out


def cmd_score(args: argparse.Namespace) -> int:
    from smoke_capture.detector import load_detector
    from smoke_capture.sources import read_image

    target = Path(args.path)
    if not target.exists():
        print(f"emwatch smoke score: {target}: no such file or folder", file=sys.stderr)
        return 2
    files = _images(target)
    if not files:
        print(
            f"emwatch smoke score: {target}: no images (looked for {', '.join(IMAGE_EXTS)})",
            file=sys.stderr,
        )
        return 2
    detector = load_detector(args.model, imgsz=args.imgsz, conf=args.conf, threads=args.threads)
    bad = 0
    for f in files:
        try:
            image = read_image(f)
        except ValueError as exc:
            bad += 1
            print(f"emwatch smoke score: {f}: unreadable image ({exc})", file=sys.stderr)
            continue
        try:
            dets = score_image(detector, image)
        except ValueError as exc:  # e.g. an image too small to letterbox
            bad += 1
            print(f"emwatch smoke score: {f}: cannot score ({exc})", file=sys.stderr)
            continue
        if args.json:
            print(
                json.dumps(
                    {"path": str(f), "model": detector.model_version, "detections": dets},
                    ensure_ascii=False,
                ),
                flush=True,
            )
        else:
            parts = []
            for d in dets:
                txt = f"{d['class']} {d['confidence']:.2f} [{', '.join(f'{v:.0f}' for v in d['box'])}]"
                if d["class"] == "smoke" and d.get("ringelmann") is not None:
                    txt += f" grade {d['ringelmann']:.1f} (conf {d['ringelmann_confidence']:.2f})"
                parts.append(txt)
            print(f"{f}: " + ("; ".join(parts) if parts else "nothing detected"), flush=True)
    return 2 if bad else 0


def cmd_train(args: argparse.Namespace) -> int:
    from smoke_capture import synth
    from smoke_capture.detector import MODELS_DIR
    from smoke_capture.train import TrainConfig, export_onnx, ship, train

    out = Path(args.out)
    data = Path(args.data) if args.data else None
    if data is None and not args.resume:
        data = synth.write_dataset(
            out / "dataset",
            train=args.synth_train,
            val=args.synth_val,
            seed=args.seed,
            size=args.imgsz,
            progress=True,
        )
        print(f"synthetic dataset: {data}", flush=True)
    cfg = TrainConfig(
        data=data or Path("."),
        out=out,
        name=args.name,
        model=args.model,
        epochs=args.epochs,
        imgsz=args.imgsz,
        batch=args.batch,
        device=args.device,
        threads=args.threads,
        time_hours=args.hours,
        seed=args.seed,
    )
    try:
        best = train(cfg, resume=args.resume)
    except FileNotFoundError as exc:
        print(f"emwatch smoke train: {exc}", file=sys.stderr)
        return 2
    print(f"weights: {best}", flush=True)
    onnx = None
    if not args.no_export:
        onnx = export_onnx(best, imgsz=args.imgsz)
        print(f"onnx: {onnx}", flush=True)
    if args.ship:
        for p in ship(best, onnx, MODELS_DIR):
            print(f"shipped: {p}", flush=True)
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    import cv2
    import numpy as np

    from smoke_capture import synth

    out = Path(args.out)
    data = synth.write_dataset(
        out,
        train=args.train,
        val=args.val,
        test=args.test,
        seed=args.seed,
        size=args.size,
        progress=True,
    )
    print(f"dataset: {data}")
    rng = np.random.default_rng(args.seed + 100)
    if args.plumes:
        folder = out / "plumes"
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for i in range(args.plumes):
            a = float(rng.uniform(0.1, 0.95))
            tp = synth.render_test_plume(rng, a, args.size, args.size)
            cv2.imwrite(str(folder / f"plume_{i:04d}.png"), tp.image)
            cv2.imwrite(str(folder / f"plume_{i:04d}_background.png"), tp.background)
            rows.append(
                {
                    "image": f"plume_{i:04d}.png",
                    "opacity": round(a, 4),
                    "grade": round(5 * a, 2),
                    "box": list(tp.box.xyxy),
                    "vehicles": [list(v.xyxy) for v in tp.vehicle_boxes],
                }
            )
        (folder / "truth.jsonl").write_text(
            "\n".join(json.dumps(r, default=float) for r in rows) + "\n"
        )
        print(f"plumes: {folder} ({args.plumes})")
    if args.charts:
        folder = out / "charts"
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for i in range(args.charts):
            ch = synth.render_ringelmann_chart(rng)
            cv2.imwrite(str(folder / f"chart_{i:03d}.png"), ch.image)
            rows.append(
                {
                    "image": f"chart_{i:03d}.png",
                    "cards": [{"grade": g, "box": list(b.xyxy)} for b, g in ch.cards],
                }
            )
        (folder / "truth.jsonl").write_text(
            "\n".join(json.dumps(r, default=float) for r in rows) + "\n"
        )
        print(f"charts: {folder} ({args.charts})")
    return 0


def register(groups: dict[str, Any]) -> None:
    root = groups["root"]
    smoke = root.add_parser(
        "smoke",
        help="black-smoke capture: score stills, train, synthesise",
        description=__doc__.split("\n\n")[0],
    )
    sub = smoke.add_subparsers(dest="smoke_command", metavar="WHAT")
    smoke.set_defaults(func=lambda a: (smoke.print_help(), 2)[1])

    p = sub.add_parser("score", help="detect and grade smoke on an image or a folder of images")
    p.add_argument("path", help="image file or folder")
    p.add_argument("--model", help="model file (.onnx or .pt; default: the shipped model)")
    p.add_argument("--json", action="store_true", help="one JSON line per image")
    p.add_argument(
        "--conf", type=float, default=0.25, help="minimum detection confidence (default 0.25)"
    )
    p.add_argument(
        "--imgsz",
        type=int,
        default=None,
        help="inference size in pixels (default: the size the model was trained at)",
    )
    p.add_argument("--threads", type=int, default=None, help="CPU threads for inference")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser(
        "train", help="train the detector (CPU by default, GPU when present; resumable)"
    )
    p.add_argument("--data", help="YOLO data.yaml (default: generate a synthetic set under --out)")
    p.add_argument("--out", default="runs/smoke", help="run folder (default runs/smoke)")
    p.add_argument("--name", default="smoke")
    p.add_argument(
        "--model", default="yolov8n.yaml", help="architecture yaml or weights to fine-tune"
    )
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument(
        "--hours", type=float, default=None, help="wall-time budget (fits the schedule into it)"
    )
    p.add_argument("--imgsz", type=int, default=320)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--device", default=None, help="cpu, 0, 0,1 … (default: GPU 0 when present)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--synth-train", type=int, default=600)
    p.add_argument("--synth-val", type=int, default=100)
    p.add_argument("--resume", action="store_true", help="continue <out>/<name>/weights/last.pt")
    p.add_argument("--no-export", action="store_true", help="skip the ONNX export")
    p.add_argument(
        "--ship", action="store_true", help="copy weights and ONNX into smoke_capture/models/"
    )
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "synth", help="write synthetic scenes (YOLO format), test plumes and chart images"
    )
    p.add_argument("out", help="output folder")
    p.add_argument("--train", type=int, default=400)
    p.add_argument("--val", type=int, default=80)
    p.add_argument("--test", type=int, default=0)
    p.add_argument("--size", type=int, default=320)
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--plumes", type=int, default=0, help="known-opacity test plumes to render")
    p.add_argument(
        "--charts", type=int, default=0, help="printed Ringelmann chart photos to render"
    )
    p.set_defaults(func=cmd_synth)

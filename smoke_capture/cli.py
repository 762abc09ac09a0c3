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
* ``smoke dataset export OUT`` — the officers' reviewed frames as a YOLO data set, split into train
  and validation by camera and day.
* ``smoke evaluate MODEL`` — recall, false-alarm rate, AP50 and Ringelmann MAE on the reviewed
  validation frames (and ``--heldout N`` synthetic held-out frames per subset).
* ``smoke models`` / ``smoke promote MODEL`` / ``smoke rollback`` — the model registry: a candidate
  goes live only if no worse on every figure than the live model, scored in the same run.
* ``smoke train --from-reviews`` — fine-tune the live (or shipped) model on the reviewed frames and
  register the result as a candidate.
* ``smoke quantize MODEL`` — make fp16 / int8 copies of an fp32 ONNX model, score each beside it in
  the same run (reviewed validation frames and ``--heldout N`` synthetic frames), and register with
  its card only the copies that keep its scores within tolerance (``promote`` makes one live).

MODEL is a model file, a registered version, ``live`` or ``shipped``. Reviews, registry and exports
live under ``--data-dir`` (default ``$EMW_DATA_DIR`` or ``var``).
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


def _data_dir(args: argparse.Namespace) -> Path:
    import os

    return Path(args.data_dir or os.environ.get("EMW_DATA_DIR") or "var")


def _err(cmd: str, msg: str) -> int:
    print(f"emwatch smoke {cmd}: {msg}", file=sys.stderr)
    return 2


def _resolve_model(reg: Any, name: str) -> Path:
    """A file, a registered version, ``live`` or ``shipped`` → the model file."""
    from core.errors import ValidationError
    from smoke_capture.detector import default_model_path

    if name == "shipped" or (name == "live" and reg.live is None):
        p = default_model_path()
        if p is None:
            raise ValidationError("model", name, "a shipped model in smoke_capture/models/")
        return p
    if name == "live":
        return reg.file(reg.live)
    if Path(name).is_file():
        return Path(name)
    if name in reg.versions():
        return reg.file(name)
    raise ValidationError("model", name, "a model file, a registered version, live or shipped")


def _figures(
    model: Path,
    data_dir: Path,
    val_fraction: float,
    heldout_n: int,
    conf: float,
    threads: int | None,
) -> tuple[str, dict[str, dict[str, float | None]]]:
    """Scores of one model on the reviewed validation frames and the synthetic held-out set."""
    from core.errors import ValidationError
    from smoke_capture import heldout
    from smoke_capture.detector import load_detector
    from smoke_capture.review import LabelStore, evaluate_reviews

    det = load_detector(model, conf=min(conf, 0.01), threads=threads)
    out: dict[str, dict[str, float | None]] = {}
    try:
        s = evaluate_reviews(det, LabelStore.under(data_dir), val_fraction, conf)
        out["reviews"] = {**s.figures(), "frames": s.frames}
    except ValidationError:
        pass
    if heldout_n > 0:
        items = list(heldout.frames(heldout_n))
        s = heldout.evaluate(det, items, conf)["all"]
        out[f"heldout_synthetic_{heldout_n}"] = {**s.figures(), "frames": s.frames}
    return det.model_version, out


def _table(rows: dict[str, dict[str, dict[str, float | None]]]) -> str:
    from smoke_capture.evaluation import HIGHER_IS_BETTER

    lines = []
    for model, sets in rows.items():
        for name, figs in sets.items():
            vals = "  ".join(
                f"{f} {'—' if figs.get(f) is None else figs[f]}" for f in HIGHER_IS_BETTER
            )
            lines.append(f"{model}  {name} ({figs.get('frames')} frames): {vals}")
    return "\n".join(lines)


def cmd_dataset_export(args: argparse.Namespace) -> int:
    from core.errors import ValidationError
    from smoke_capture.review import LabelStore, export_yolo

    try:
        data = export_yolo(LabelStore.under(_data_dir(args)), Path(args.out), args.val_fraction)
    except ValidationError as exc:
        return _err("dataset export", str(exc))
    rows = [json.loads(x) for x in (data.parent / "frames.jsonl").read_text().splitlines()]
    n_val = sum(r["split"] == "val" for r in rows)
    print(f"data: {data} ({len(rows) - n_val} train, {n_val} validation frames)")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from core.errors import ValidationError
    from smoke_capture.detector import ModelError
    from smoke_capture.registry import Registry

    data_dir = _data_dir(args)
    reg = Registry.under(data_dir)
    try:
        model = _resolve_model(reg, args.model)
        version, sets = _figures(
            model, data_dir, args.val_fraction, args.heldout, args.conf, args.threads
        )
    except (ValidationError, ModelError) as exc:
        return _err("evaluate", str(exc))
    if not sets:
        return _err(
            "evaluate",
            "nothing to score on: no reviewed validation frames (review captures from at least "
            "two camera-days) and --heldout 0",
        )
    if version in reg.versions():
        for name, figs in sets.items():
            reg.record_scores(version, name, figs, datetime.now(UTC))
    if args.json:
        print(json.dumps({"model": version, "scores": sets}, ensure_ascii=False))
    else:
        print(_table({version: sets}))
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from smoke_capture.registry import Registry

    reg = Registry.under(_data_dir(args))
    live = reg.live
    print(f"live: {live or 'shipped (smoke_capture/models/)'}")
    for v in reg.versions():
        mark = "*" if v == live else " "
        print(
            f"{mark} {v}  registered {reg.entry(v)['registered']}  scores {json.dumps(reg.scores(v), ensure_ascii=False)}"
        )
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from core.errors import ValidationError
    from smoke_capture.detector import ModelError
    from smoke_capture.registry import Registry, promotion

    data_dir = _data_dir(args)
    reg = Registry.under(data_dir)
    now = datetime.now(UTC)
    try:
        cand_file = _resolve_model(reg, args.model)
        if not str(cand_file.resolve()).startswith(str(reg.root.resolve())):
            card = (
                Path(args.card).read_text(encoding="utf-8")
                if args.card
                else f"# {cand_file.name}\n\nRegistered by emwatch smoke promote from {cand_file}.\n"
            )
            reg.register(cand_file, card, {"source": str(cand_file)}, now)
            cand_file = reg.file(_version_of(cand_file))
        live_file = _resolve_model(reg, "live")
        cv, cs = _figures(
            cand_file, data_dir, args.val_fraction, args.heldout, args.conf, args.threads
        )
        lv, ls = _figures(
            live_file, data_dir, args.val_fraction, args.heldout, args.conf, args.threads
        )
        if not cs:
            return _err(
                "promote", "nothing to score on: no reviewed validation frames and --heldout 0"
            )
        decision = promotion(cv, lv, cs, ls)
    except (ValidationError, ModelError) as exc:
        return _err("promote", str(exc))
    for name, figs in cs.items():
        reg.record_scores(cv, name, figs, now)
    print(_table({f"candidate {cv}": cs, f"live      {lv}": ls}))
    if cv == lv:
        print(f"{cv} is already live")
        return 0
    if not decision.promoted:
        print(
            f"emwatch smoke promote: {cv} not promoted: worse than {lv} on {', '.join(decision.worse)}",
            file=sys.stderr,
        )
        return 1
    reg.set_live(cv)
    print(f"live model: {cv} (was {lv}); undo with: emwatch smoke rollback")
    return 0


def _version_of(path: Path) -> str:
    from smoke_capture.detector import model_version

    return model_version(path)


def cmd_rollback(args: argparse.Namespace) -> int:
    from core.errors import ValidationError
    from smoke_capture.registry import Registry

    reg = Registry.under(_data_dir(args))
    was = reg.live or "shipped"
    try:
        now_live = reg.rollback()
    except ValidationError as exc:
        return _err("rollback", str(exc))
    print(f"live model: {now_live} (was {was})")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from smoke_capture import synth
    from smoke_capture.detector import MODELS_DIR
    from smoke_capture.train import TrainConfig, export_onnx, ship, train

    out = Path(args.out)
    data = Path(args.data) if args.data else None
    parent = None
    if args.from_reviews:
        from core.errors import ValidationError
        from smoke_capture.registry import Registry
        from smoke_capture.review import LabelStore, export_yolo

        reg = Registry.under(_data_dir(args))
        try:
            data = export_yolo(
                LabelStore.under(_data_dir(args)), out / "reviews_dataset", args.val_fraction
            )
        except ValidationError as exc:
            return _err("train", str(exc))
        print(f"reviewed frames: {data}", flush=True)
        if args.model == "yolov8n.yaml":  # fine-tune from the live (or shipped) weights
            parent = reg.live or "shipped"
            pt = reg.pt_for(reg.live) if reg.live else MODELS_DIR / "smoke_yolov8n.pt"
            if pt is None or not pt.exists():
                return _err("train", f"no .pt weights for the live model {parent} to fine-tune")
            args.model = str(pt)
    if data is None and not args.resume:
        data = synth.write_dataset(
            out / "dataset",
            train=args.synth_train,
            val=args.synth_val,
            seed=args.seed,
            size=args.imgsz,
            progress=True,
            hard=args.hard,
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
    if args.from_reviews:
        from datetime import UTC, datetime

        card = (
            f"# fine-tuned on reviewed frames\n\nFrom: {parent} ({args.model}). Data: {data}. "
            f"Epochs {args.epochs}, imgsz {args.imgsz}, batch {args.batch}.\n"
        )
        frames = (data.parent / "frames.jsonl").read_text().count("\n") if data else 0
        version = reg.register(
            onnx or best,
            card,
            {"source": "reviews", "dataset": str(data), "frames": frames},
            datetime.now(UTC),
            weights=best,
            parent=parent,
        )
        print(f"registered: {version} (go live with: emwatch smoke promote {version})", flush=True)
    return 0


def cmd_quantize(args: argparse.Namespace) -> int:
    import tempfile
    from datetime import UTC, datetime

    from core.errors import ValidationError
    from smoke_capture import variants
    from smoke_capture.detector import DEFAULT_STEM, MODELS_DIR, ModelError, torch_fallback
    from smoke_capture.registry import Registry

    data_dir = _data_dir(args)
    reg = Registry.under(data_dir)
    now = datetime.now(UTC)
    try:
        src = (
            MODELS_DIR / f"{DEFAULT_STEM}.onnx"
            if args.model == "shipped"
            else _resolve_model(reg, args.model)
        )
        if src.suffix != ".onnx" or variants.precision_of(src) != "fp32":
            raise ValidationError("model", str(src), "an fp32 ONNX model")
        src_version, src_scores = _figures(
            src, data_dir, args.val_fraction, args.heldout, args.conf, args.threads
        )
        if not src_scores:
            return _err(
                "quantize", "nothing to score on: no reviewed validation frames and --heldout 0"
            )
        with tempfile.TemporaryDirectory() as tmp:
            made = {}
            for prec in args.precision:
                dst = Path(tmp) / f"{src.stem}_{prec}.onnx"
                if prec == "fp16":
                    made[prec] = variants.make_fp16(src, dst)
                else:
                    frames = variants.calibration_frames(args.calibration)
                    made[prec] = variants.make_int8(src, dst, frames)
            rows = {f"{'fp32':5} {src_version}": src_scores}
            for prec, path in made.items():
                version, scores = _figures(
                    path, data_dir, args.val_fraction, args.heldout, args.conf, args.threads
                )
                rows[f"{prec:5} {version}"] = scores
                lost = [
                    f"{name}:{f}"
                    for name in src_scores
                    for f in variants.keeps_scores(scores.get(name, {}), src_scores[name])
                ]
                if lost:
                    print(f"{prec}: not kept, outside tolerance on {', '.join(lost)}")
                    continue
                card = (
                    f"# {path.name}\n\n{prec} copy of {src_version} (smoke_capture.variants), "
                    f"kept because it scored within {variants.Tolerance()} of it on the same "
                    f"frames in the same run:\n\n```\n{json.dumps(rows, indent=1)}\n```\n"
                )
                reg.register(
                    path,
                    card,
                    {"source": src_version, "precision": prec},
                    now,
                    weights=torch_fallback(src),
                    parent=src_version,
                )
                for name, figs in scores.items():
                    reg.record_scores(version, name, figs, now)
                print(f"{prec}: kept and registered as {version} (go live: emwatch smoke promote)")
    except (ValidationError, ModelError) as exc:
        return _err("quantize", str(exc))
    print(_table(rows))
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
        hard=args.hard,
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
    p.add_argument(
        "--hard",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="share of synthetic scenes (0–1) with harder conditions: low-res/JPEG, blur, rain, "
        "dark confusers, dust, more vehicle shapes",
    )
    p.add_argument("--resume", action="store_true", help="continue <out>/<name>/weights/last.pt")
    p.add_argument(
        "--from-reviews",
        action="store_true",
        help="fine-tune the live (or shipped) model on the officers' reviewed frames; registers the result",
    )
    p.add_argument(
        "--data-dir",
        help="data dir holding reviews and the registry (default $EMW_DATA_DIR or var)",
    )
    p.add_argument("--val-fraction", type=float, default=0.2)
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
    p.add_argument(
        "--hard",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="share of synthetic scenes (0–1) with harder conditions: low-res/JPEG, blur, rain, "
        "dark confusers, dust, more vehicle shapes",
    )
    p.set_defaults(func=cmd_synth)

    ds = sub.add_parser("dataset", help="reviewed frames as a training set")
    dsub = ds.add_subparsers(dest="dataset_command", metavar="WHAT")
    ds.set_defaults(func=lambda a: (ds.print_help(), 2)[1])
    q = dsub.add_parser(
        "export", help="write reviewed frames in YOLO format (split by camera and day)"
    )
    q.add_argument("out", help="output folder")
    q.add_argument("--data-dir", help="data dir (default $EMW_DATA_DIR or var)")
    q.add_argument("--val-fraction", type=float, default=0.2, help="share of camera-days held out")
    q.set_defaults(func=cmd_dataset_export)

    def scoring(q: argparse.ArgumentParser, heldout: int) -> None:
        q.add_argument("--data-dir", help="data dir (default $EMW_DATA_DIR or var)")
        q.add_argument("--val-fraction", type=float, default=0.2)
        q.add_argument(
            "--heldout",
            type=int,
            default=heldout,
            help=f"synthetic held-out frames per subset to score too (default {heldout})",
        )
        q.add_argument(
            "--conf", type=float, default=0.25, help="operating confidence (default 0.25)"
        )
        q.add_argument("--threads", type=int, default=None)

    q = sub.add_parser("evaluate", help="score a model on the reviewed validation frames")
    q.add_argument("model", help="model file, registered version, live or shipped")
    q.add_argument("--json", action="store_true")
    scoring(q, 0)
    q.set_defaults(func=cmd_evaluate)

    q = sub.add_parser("models", help="the model registry: versions, scores, which is live")
    q.add_argument("--data-dir", help="data dir (default $EMW_DATA_DIR or var)")
    q.set_defaults(func=cmd_models)

    q = sub.add_parser("promote", help="make a model live if it is no worse on every figure")
    q.add_argument("model", help="model file or registered version")
    q.add_argument("--card", help="model card (markdown) when registering a file")
    scoring(q, 50)
    q.set_defaults(func=cmd_promote)

    q = sub.add_parser(
        "quantize",
        help="make fp16/int8 copies of an ONNX model; register those that keep its scores",
    )
    q.add_argument("model", help="fp32 ONNX model file, registered version, live or shipped")
    q.add_argument("--precision", nargs="+", choices=["fp16", "int8"], default=["fp16", "int8"])
    q.add_argument(
        "--calibration", type=int, default=64, help="synthetic training frames for int8 (64)"
    )
    scoring(q, 50)
    q.set_defaults(func=cmd_quantize)

    q = sub.add_parser("rollback", help="return to the model that was live before")
    q.add_argument("--data-dir", help="data dir (default $EMW_DATA_DIR or var)")
    q.set_defaults(func=cmd_rollback)

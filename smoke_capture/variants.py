"""Smaller and faster copies of an ONNX smoke model: fp16 and int8, kept only if they score alike.

Responsible for

* :func:`make_fp16` — every float32 weight and activation as float16, inputs and outputs left
  float32 (so the detector feeds it the same tensor); mostly a GPU option: CPU kernels gain little;
* :func:`make_int8` — static post-training quantisation (QDQ, int8 weights per output channel, uint8
  activations, min/max calibration) calibrated on synthetic frames rendered from the *training* seed
  range (never :data:`smoke_capture.heldout.HELDOUT_SEEDS`); the detect head's box decoding (DFL,
  anchors, the final sigmoid and concatenations) stays float, since boxes in pixels do not survive
  8-bit steps;
* :func:`keeps_scores` — the rule, pure: a variant is kept only if, on the same held-out frames in
  the same run, each figure is within :class:`Tolerance` of the model it was made from;
* the class names, trained size and stride travel in the ONNX metadata (the detector reads them),
  plus ``precision`` and ``parent`` (the source model's version).

onnx and onnxruntime (the ``vision`` extra) are imported when a variant is made, never at import.

Known limits: int8 speed depends on the CPU (VNNI instructions make it about twice as fast as fp32 on
the machines measured; without them it may be slower); calibration is synthetic, so re-make and
re-check the int8 copy whenever the model is retrained or real frames arrive.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from core.errors import ValidationError
from smoke_capture.detector import FALLBACK_IMGSZ, ModelError, letterbox, model_version

PRECISIONS = ("fp32", "fp16", "int8")
CALIBRATION_SEED = 2026  # the training seed range: calibration may see training scenes only
Figures = Mapping[str, float | None]


@dataclass(frozen=True, slots=True)
class Tolerance:
    """How far a variant's figure may move from its source model's and still be kept."""

    recall: float = 0.01  # absolute share of smoky frames
    false_alarm_rate: float = 0.01  # absolute share of smoke-free frames
    ap50: float = 0.01
    ringelmann_mae: float = 0.05  # Ringelmann grade

    def __post_init__(self) -> None:
        for name in ("recall", "false_alarm_rate", "ap50", "ringelmann_mae"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValidationError(f"tolerance.{name}", v, "in [0, 1]")


def keeps_scores(
    variant: Figures, source: Figures, tolerance: Tolerance | None = None
) -> list[str]:
    """The figures on which ``variant`` falls outside the tolerance of ``source`` (empty: keep it).

    Higher is better for recall and AP50, lower for false alarms and MAE; a figure the source has
    but the variant lacks counts as lost; one neither has is skipped."""
    tol = tolerance or Tolerance()
    lost = []
    for name, higher in (
        ("recall", True),
        ("false_alarm_rate", False),
        ("ap50", True),
        ("ringelmann_mae", False),
    ):
        s, v = source.get(name), variant.get(name)
        if s is None:
            continue
        slack = getattr(tol, name) + 1e-9
        if v is None or (v < s - slack if higher else v > s + slack):
            lost.append(name)
    return lost


def _metadata(model: object) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}  # type: ignore[attr-defined]


def _set_metadata(model: object, meta: Mapping[str, str]) -> None:
    props = model.metadata_props  # type: ignore[attr-defined]
    del props[:]
    for k, v in meta.items():
        entry = props.add()
        entry.key, entry.value = str(k), str(v)


def _load(src: Path) -> object:
    try:
        import onnx
    except ImportError:
        raise ModelError(
            src, "onnx is not installed (pip install 'yrd-emissions-watch[vision]')"
        ) from None
    if not Path(src).is_file() or Path(src).suffix != ".onnx":
        raise ModelError(src, "not an .onnx file")
    try:
        return onnx.load(str(src))
    except Exception as exc:  # onnx raises DecodeError and others for a bad file
        raise ModelError(src, f"not a loadable ONNX model ({exc.__class__.__name__})") from None


def precision_of(path: Path) -> str:
    """``fp32``, ``fp16`` or ``int8`` as stamped in an ONNX model's metadata (unstamped: fp32)."""
    return _metadata(_load(path)).get("precision", "fp32")


def _stamp(model: object, src: Path, precision: str) -> None:
    meta = _metadata(model)
    if "names" not in meta:
        raise ModelError(src, "no class names in the ONNX metadata (export with ultralytics)")
    meta.update(precision=precision, parent=model_version(Path(src)))
    _set_metadata(model, meta)


def make_fp16(src: Path, dst: Path) -> Path:
    """A float16 copy of ``src`` with float32 inputs and outputs."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = _load(src)
    meta = _metadata(model)
    if meta.get("precision", "fp32") != "fp32":
        raise ModelError(src, f"already {meta['precision']}: make copies of the fp32 model")
    half = convert_float_to_float16(model, keep_io_types=True)
    _set_metadata(half, meta)
    _stamp(half, src, "fp16")
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(half, str(dst))
    return dst


def calibration_frames(n: int = 64, seed: int = CALIBRATION_SEED) -> list[NDArray[np.uint8]]:
    """Synthetic frames for int8 calibration: the training mix (plain and hard scenes, 320 × 320 and
    640 × 480), rendered from a training seed. Refuses a held-out seed."""
    from smoke_capture import synth
    from smoke_capture.heldout import HELDOUT_SEEDS

    if seed in HELDOUT_SEEDS:
        raise ValidationError("seed", seed, "a seed outside the held-out range")
    if not 1 <= n <= 2000:
        raise ValidationError("n", n, "in [1, 2000]", "frames")
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        w, h = ((320, 320), (640, 480))[i % 2]
        spec = (
            synth.SceneSpec.hard(width=w, height=h)
            if i % 3 == 2
            else synth.SceneSpec(width=w, height=h)
        )
        out.append(synth.render_scene(rng, spec).image)
    return out


def _head_nodes(model: object) -> list[str]:
    """Nodes of the detect head that decode boxes (everything in the last module but its convs)."""
    names = [n.name for n in model.graph.node]  # type: ignore[attr-defined]
    layers = {
        int(n.split("/")[1].split(".")[1])
        for n in names
        if n.startswith("/model.") and n.split("/")[1].split(".")[1].isdigit()
    }
    if not layers:
        return []
    prefix = f"/model.{max(layers)}/"
    return [
        n
        for n in names
        if n.startswith(prefix) and not n.startswith((f"{prefix}cv2", f"{prefix}cv3"))
    ]


def make_int8(
    src: Path,
    dst: Path,
    frames: Sequence[NDArray[np.uint8]] | None = None,
    imgsz: int | None = None,
) -> Path:
    """A statically quantised int8 copy of ``src`` calibrated on ``frames`` (default:
    :func:`calibration_frames`), letterboxed as the detector does."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from smoke_capture.detector import _size_from

    model = _load(src)
    meta = _metadata(model)
    if meta.get("precision", "fp32") != "fp32":
        raise ModelError(src, f"already {meta['precision']}: make copies of the fp32 model")
    size = int(imgsz or _size_from(meta.get("imgsz")) or FALLBACK_IMGSZ)
    stride = _size_from(meta.get("stride")) or 32
    input_name = model.graph.input[0].name  # type: ignore[attr-defined]
    dynamic = not all(d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim)  # type: ignore[attr-defined]
    imgs = list(frames) if frames is not None else calibration_frames()
    if not imgs:
        raise ValidationError("frames", 0, "at least one calibration frame")
    tensors = [letterbox(im, size, rect=dynamic, stride=stride)[0] for im in imgs]

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it: Iterator[NDArray[np.float32]] = iter(tensors)

        def get_next(self) -> dict[str, NDArray[np.float32]] | None:
            x = next(self._it, None)
            return None if x is None else {input_name: x}

    exclude = _head_nodes(model)
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        out = Path(tmp) / "int8.onnx"
        quantize_static(
            str(pre),
            str(out),
            _Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            weight_type=QuantType.QInt8,
            activation_type=QuantType.QUInt8,
            nodes_to_exclude=exclude,
            calibrate_method=CalibrationMethod.MinMax,
        )
        q = onnx.load(str(out))
    _set_metadata(q, meta)
    _stamp(q, src, "int8")
    q.metadata_props.add(key="calibration", value=f"{len(imgs)} synthetic training frames")
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(q, str(dst))
    return dst


def make_variants(
    src: Path, out_dir: Path, precisions: Sequence[str] = ("fp16", "int8")
) -> dict[str, Path]:
    """``{precision: file}`` for each requested variant, named ``<stem>_<precision>.onnx``."""
    bad = [p for p in precisions if p not in PRECISIONS[1:]]
    if bad:
        raise ValidationError("precision", bad, "fp16 or int8")
    src = Path(src)
    out = {}
    for p in precisions:
        dst = Path(out_dir) / f"{src.stem}_{p}.onnx"
        out[p] = make_fp16(src, dst) if p == "fp16" else make_int8(src, dst)
    return out

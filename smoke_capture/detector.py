"""Detector adapter: model file in, :class:`~smoke_capture.detections.Detection` tuples out.

Responsible for loading the project's detector (two classes, ``vehicle`` and ``smoke``) and turning
foreign output into domain detections in one place:

* ``.pt`` weights run through ultralytics (imported lazily after
  :func:`smoke_capture.yolo_setup.setup`, so nothing touches the network), on CUDA when present and
  on CPU otherwise; :func:`from_ultralytics` converts a ``Results`` object;
* ``.onnx`` exports run through ONNX Runtime directly (no torch import: faster start and ~2× faster
  on CPU), with our own letterbox and class-aware NMS; :func:`decode_yolo_output` converts the raw
  ``(1, 4 + classes, anchors)`` tensor.

Stills and frames are scored at their own resolution: the native image is letterboxed in one step to
the size the model was trained at (read from the model: ONNX metadata ``imgsz``, the checkpoint's
training arguments), never first squeezed to a fixed size; an explicit ``imgsz`` overrides it.

A wrong or corrupt model file raises :class:`ModelError` with one line naming the file and the
problem. ``model_version`` is ``<file stem>-<first 12 hex of the file's SHA-256>``, so every event
records exactly which weights graded it.

Known limits: ONNX models must be YOLOv8-style detect heads (boxes as cx, cy, w, h in input pixels,
sigmoid class scores); class names are read from the export's metadata and must include
``vehicle`` and ``smoke`` (other classes are ignored).
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from core.errors import EmwError
from smoke_capture.detections import CLASSES, Detection

MODELS_DIR = Path(__file__).parent / "models"
DEFAULT_STEM = "smoke_yolov8n"
FALLBACK_IMGSZ = 320  # a model that does not say what size it was trained at
INT8_SUFFIX, FP16_SUFFIX = "_int8", "_fp16"  # reduced-precision copies (smoke_capture.variants)


def _size_from(value: Any) -> int | None:
    """An ``imgsz`` as written by ultralytics (``320``, ``[320, 320]``, ``"[320, 320]"``) → int."""
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return None
    if isinstance(value, list | tuple) and value:
        value = max(value)
    return int(value) if isinstance(value, int | float) and 32 <= value <= 4096 else None


class ModelError(EmwError):
    """The model file is missing, unreadable or not a vehicle/smoke detector."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"model {path}: {problem}")


class Detector(Protocol):
    model_version: str
    imgsz: int

    def detect(self, image: NDArray[np.uint8]) -> tuple[Detection, ...]: ...


def onnx_providers() -> list[str] | None:
    """ONNX Runtime's usable execution providers, GPU first; None when onnxruntime is missing."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    have = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in have]


def default_model_path(prefer: str = "onnx") -> Path | None:
    """The shipped model for this machine, or None when the package ships none.

    With ONNX Runtime: on a GPU (CUDA provider) the fp32 export, on a CPU the int8 copy when it was
    shipped (kept only because it scores like the fp32 one: see the model card), else fp32. Without
    onnxruntime, or with ``prefer="pt"``: the torch weights (ultralytics), else whatever is there."""
    providers = onnx_providers() if prefer == "onnx" else None
    if providers is None:
        names = [f"{DEFAULT_STEM}.pt", f"{DEFAULT_STEM}.onnx"]
    elif "CUDAExecutionProvider" in providers:
        names = [f"{DEFAULT_STEM}.onnx", f"{DEFAULT_STEM}{INT8_SUFFIX}.onnx", f"{DEFAULT_STEM}.pt"]
    else:
        names = [f"{DEFAULT_STEM}{INT8_SUFFIX}.onnx", f"{DEFAULT_STEM}.onnx", f"{DEFAULT_STEM}.pt"]
    for name in names:
        p = MODELS_DIR / name
        if p.exists() and p.stat().st_size > 1000:
            return p
    return None


def torch_fallback(path: Path) -> Path | None:
    """The ``.pt`` weights an ONNX file was exported from, when they lie beside it (``x.onnx`` →
    ``x.pt``; ``x_int8.onnx`` → ``x_int8.pt`` or ``x.pt``): what runs when onnxruntime is missing."""
    stem = path.stem
    for sfx in (INT8_SUFFIX, FP16_SUFFIX):
        stem = stem.removesuffix(sfx)
    for p in (path.with_suffix(".pt"), path.with_name(f"{stem}.pt")):
        if p.exists():
            return p
    return None


def model_version(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return f"{path.stem}-{h.hexdigest()[:12]}"


def _check_names(path: Path, names: dict[int, str]) -> dict[int, str]:
    keep = {int(i): str(n) for i, n in names.items() if str(n) in CLASSES}
    if "smoke" not in keep.values() or "vehicle" not in keep.values():
        raise ModelError(path, f"classes {sorted(names.values())} lack 'vehicle' and 'smoke'")
    return keep


def _validate_image(image: NDArray[np.uint8]) -> None:
    if (
        not isinstance(image, np.ndarray)
        or image.ndim != 3
        or image.shape[2] != 3
        or image.dtype != np.uint8
    ):
        shape = getattr(image, "shape", None)
        raise ValueError(f"image: expected H×W×3 uint8 BGR, got {shape}")
    if image.shape[0] < 8 or image.shape[1] < 8:
        raise ValueError(f"image: {image.shape[1]}×{image.shape[0]} px is too small")


# ---------------------------------------------------------------------------------------------
# ultralytics


def from_ultralytics(result: Any, names: dict[int, str] | None = None) -> tuple[Detection, ...]:
    """Convert one ultralytics ``Results`` to domain detections (unknown classes dropped)."""
    names = names if names is not None else dict(result.names)
    boxes = result.boxes
    if boxes is None or len(boxes) == 0:
        return ()
    xyxy = boxes.xyxy.cpu().numpy().astype(float)
    conf = boxes.conf.cpu().numpy().astype(float)
    cls = boxes.cls.cpu().numpy().astype(int)
    h, w = result.orig_shape[:2]
    out = []
    for (x1, y1, x2, y2), c, k in zip(xyxy, conf, cls, strict=True):
        name = names.get(int(k))
        if name not in CLASSES:
            continue
        d = Detection(
            name,
            float(x1),
            float(y1),
            float(max(x2, x1 + 1)),
            float(max(y2, y1 + 1)),
            float(min(max(c, 0.0), 1.0)),
        )
        d2 = d.clipped(w, h)
        if d2 is not None:
            out.append(d2)
    return tuple(out)


class UltralyticsDetector:
    """``.pt`` weights through ultralytics (torch; CUDA when present)."""

    def __init__(
        self,
        path: Path,
        imgsz: int | None = None,
        conf: float = 0.25,
        iou: float = 0.5,
        device: str | None = None,
        threads: int | None = None,
    ) -> None:
        from smoke_capture.yolo_setup import setup

        setup(threads=threads)
        import torch
        from ultralytics import YOLO

        self.path = Path(path)
        if not self.path.exists():
            raise ModelError(path, "file not found")
        try:
            self._model = YOLO(str(self.path), task="detect")
        except Exception as exc:  # corrupt / wrong file: ultralytics raises many kinds
            raise ModelError(
                path, f"cannot load weights ({exc.__class__.__name__}: {str(exc)[:120]})"
            ) from None
        self.names = _check_names(self.path, dict(self._model.names))
        self.device = device or ("cuda:0" if torch.cuda.is_available() else "cpu")
        trained = _size_from(self._model.overrides.get("imgsz"))
        self.trained_imgsz = trained or FALLBACK_IMGSZ
        self.imgsz = int(imgsz or self.trained_imgsz)
        self.conf = conf
        self.iou = iou
        self.model_version = model_version(self.path)

    def detect(self, image: NDArray[np.uint8]) -> tuple[Detection, ...]:
        _validate_image(image)
        # predict() without stream=True returns a list; its annotation also covers the stream
        res = self._model.predict(  # type: ignore[index]
            image, imgsz=self.imgsz, conf=self.conf, iou=self.iou, device=self.device, verbose=False
        )[0]
        return from_ultralytics(res, self.names)


# ---------------------------------------------------------------------------------------------
# ONNX Runtime


def letterbox(
    image: NDArray[np.uint8], size: int, rect: bool = False, stride: int = 32
) -> tuple[NDArray[np.float32], float, tuple[float, float]]:
    """Resize the native image in one step, keeping its aspect ratio, so its long side is ``size``
    (the model's trained size), and pad with grey 114: to a size×size square, or with ``rect`` only
    up to the next multiple of ``stride`` on each side (less padding to compute; a dynamic-input
    model only).

    Returns the NCHW RGB float tensor, the scale and the (x, y) padding."""
    import cv2

    h, w = image.shape[:2]
    r = min(size / h, size / w)
    nw, nh = max(1, round(w * r)), max(1, round(h * r))
    interp = cv2.INTER_AREA if r < 1 else cv2.INTER_LINEAR  # INTER_AREA: no aliasing when shrinking
    resized = cv2.resize(image, (nw, nh), interpolation=interp) if (nw, nh) != (w, h) else image
    cw, ch = (-(-nw // stride) * stride, -(-nh // stride) * stride) if rect else (size, size)
    canvas = np.full((ch, cw, 3), 114, np.uint8)
    px, py = (cw - nw) // 2, (ch - nh) // 2
    canvas[py : py + nh, px : px + nw] = resized
    tensor = canvas[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    return np.ascontiguousarray(tensor), r, (float(px), float(py))


def nms(boxes: NDArray[np.float32], scores: NDArray[np.float32], iou_thr: float) -> list[int]:
    """Greedy non-maximum suppression (numpy)."""
    order = scores.argsort()[::-1]
    keep: list[int] = []
    x1, y1, x2, y2 = boxes.T
    areas = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        xx1 = np.maximum(x1[i], x1[rest])
        yy1 = np.maximum(y1[i], y1[rest])
        xx2 = np.minimum(x2[i], x2[rest])
        yy2 = np.minimum(y2[i], y2[rest])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[iou <= iou_thr]
    return keep


def decode_yolo_output(
    output: NDArray[np.float32],
    names: dict[int, str],
    scale: float,
    pad: tuple[float, float],
    orig_shape: Sequence[int],
    conf: float = 0.25,
    iou: float = 0.5,
    max_det: int = 100,
) -> tuple[Detection, ...]:
    """Raw YOLOv8 detect output ``(1, 4 + nc, anchors)`` → detections in original pixels."""
    pred = np.asarray(output)[0].T  # anchors × (4 + nc)
    if pred.ndim != 2 or pred.shape[1] < 5:
        raise ValueError(f"unexpected detector output shape {np.asarray(output).shape}")
    scores_all = pred[:, 4:]
    cls = scores_all.argmax(axis=1)
    score = scores_all[np.arange(len(cls)), cls]
    sel = score >= conf
    if not sel.any():
        return ()
    pred, cls, score = pred[sel], cls[sel], score[sel]
    cx, cy, w, h = pred[:, 0], pred[:, 1], pred[:, 2], pred[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    boxes[:, [0, 2]] = (boxes[:, [0, 2]] - pad[0]) / scale
    boxes[:, [1, 3]] = (boxes[:, [1, 3]] - pad[1]) / scale
    out: list[Detection] = []
    H, W = int(orig_shape[0]), int(orig_shape[1])
    for k in np.unique(cls):
        name = names.get(int(k))
        if name not in CLASSES:
            continue
        idx = np.nonzero(cls == k)[0]
        for j in nms(boxes[idx], score[idx], iou):
            b = boxes[idx[j]]
            x1, y1 = float(np.clip(b[0], 0, W)), float(np.clip(b[1], 0, H))
            x2, y2 = float(np.clip(b[2], 0, W)), float(np.clip(b[3], 0, H))
            if x2 - x1 >= 1 and y2 - y1 >= 1:
                out.append(Detection(name, x1, y1, x2, y2, float(min(score[idx[j]], 1.0))))
    out.sort(key=lambda d: -d.confidence)
    return tuple(out[:max_det])


class OnnxDetector:
    """An ONNX export through ONNX Runtime (CUDA provider when available, else CPU)."""

    def __init__(
        self,
        path: Path,
        imgsz: int | None = None,
        conf: float = 0.25,
        iou: float = 0.5,
        threads: int | None = None,
    ) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise ModelError(
                path, "onnxruntime is not installed (pip install 'yrd-emissions-watch[vision]')"
            ) from None
        self.path = Path(path)
        if not self.path.exists():
            raise ModelError(path, "file not found")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        providers = onnx_providers() or ["CPUExecutionProvider"]
        try:
            self._session = ort.InferenceSession(
                str(self.path), sess_options=opts, providers=providers
            )
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise ModelError(
                path, f"not a loadable ONNX model ({exc.__class__.__name__})"
            ) from None
        meta = self._session.get_modelmeta().custom_metadata_map
        try:
            names = ast.literal_eval(meta.get("names", "{}"))
        except (ValueError, SyntaxError):
            names = {}
        if not isinstance(names, dict) or not names:
            raise ModelError(path, "no class names in the ONNX metadata (export with ultralytics)")
        self.names = _check_names(self.path, names)
        inp = self._session.get_inputs()[0]
        self._input = inp.name
        fixed = inp.shape[2] if isinstance(inp.shape[2], int) else None
        self.trained_imgsz = _size_from(meta.get("imgsz")) or FALLBACK_IMGSZ
        self.imgsz = int(fixed or imgsz or self.trained_imgsz)
        self._rect = fixed is None  # a dynamic input takes any multiple of the stride
        self._stride = _size_from(meta.get("stride")) or 32
        self.conf = conf
        self.iou = iou
        self.model_version = model_version(self.path)
        self.precision = meta.get("precision", "fp32")
        self.device = "cuda" if self._session.get_providers()[0].startswith("CUDA") else "cpu"

    def detect(self, image: NDArray[np.uint8]) -> tuple[Detection, ...]:
        _validate_image(image)
        tensor, scale, pad = letterbox(image, self.imgsz, rect=self._rect, stride=self._stride)
        out = self._session.run(None, {self._input: tensor})[0]
        return decode_yolo_output(out, self.names, scale, pad, image.shape, self.conf, self.iou)


def load_detector(
    path: Path | str | None = None,
    imgsz: int | None = None,
    conf: float = 0.25,
    threads: int | None = None,
) -> Detector:
    """Load ``path`` (``.onnx`` or ``.pt``), or the shipped model when None; ``imgsz`` None scores
    at the size the model was trained at."""
    p = Path(path) if path is not None else default_model_path()
    if p is None:
        raise ModelError(
            MODELS_DIR / f"{DEFAULT_STEM}.onnx", "no model shipped (train one: emwatch smoke train)"
        )
    if not p.exists():
        raise ModelError(p, "file not found")
    if p.suffix == ".onnx":
        if onnx_providers() is None:  # no onnxruntime: the torch weights beside it, if any
            pt = torch_fallback(p)
            if pt is None:
                raise ModelError(
                    p,
                    "onnxruntime is not installed and no .pt weights lie beside the model "
                    "(pip install 'yrd-emissions-watch[vision]')",
                )
            return UltralyticsDetector(pt, imgsz=imgsz, conf=conf, threads=threads)
        return OnnxDetector(p, imgsz=imgsz, conf=conf, threads=threads)
    if p.suffix in (".pt", ".pth"):
        return UltralyticsDetector(p, imgsz=imgsz, conf=conf, threads=threads)
    raise ModelError(p, "unknown model format (expected .onnx or .pt)")

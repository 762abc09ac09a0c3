"""Offline set-up of the ultralytics / torch stack, done once before ultralytics is first imported.

Responsible for:

* the environment that keeps ultralytics off the network (``YOLO_OFFLINE``, a project-owned
  ``YOLO_CONFIG_DIR``, no auto-install, no requirement checks) and the ``Arial.ttf`` font its plots
  would otherwise download (a copy of matplotlib's DejaVuSans);
* a working ``torchvision::nms`` operator when the installed torchvision build cannot load its C++
  ops (the PyPI CUDA build on a CPU-only host): the op is defined through ``torch.library`` with a
  pure-torch NMS, and ``torchvision.ops.nms`` is pointed at it. A working torchvision is left alone.

Known limits: only ``nms`` (and ``qnms`` so that torchvision imports) are provided; other
torchvision C++ ops (roi_align, deform_conv2d…) stay unavailable, which YOLO detection does not need.
Environment variables already set by the user are respected.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
from pathlib import Path
from typing import Any

_LOCK = threading.Lock()
_DONE = False

CONFIG_ENV = "EMW_YOLO_CONFIG_DIR"


def config_dir() -> Path:
    """Where ultralytics keeps its settings and fonts: ``$EMW_YOLO_CONFIG_DIR`` or a cache dir."""
    env = os.environ.get(CONFIG_ENV) or os.environ.get("YOLO_CONFIG_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "emwatch" / "ultralytics"


def _place_font(cfg: Path) -> None:
    target = cfg / "Ultralytics" / "Arial.ttf"
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        return
    try:
        import matplotlib

        src = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        shutil.copyfile(src, target)
        shutil.copyfile(src, target.with_name("Arial.Unicode.ttf"))
    except (ImportError, OSError):
        # Without a font, plotting may try a download; offline mode then fails that one plot only.
        pass


def _torch_nms(boxes: Any, scores: Any, iou_threshold: float) -> Any:
    """Greedy NMS in pure torch (same contract as ``torchvision.ops.nms``)."""
    import torch

    if boxes.numel() == 0:
        return torch.empty((0,), dtype=torch.int64, device=boxes.device)
    x1, y1, x2, y2 = boxes.unbind(1)
    areas = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    order = scores.argsort(descending=True)
    keep: list[int] = []
    suppressed = torch.zeros(boxes.shape[0], dtype=torch.bool, device=boxes.device)
    for idx in order.tolist():
        if suppressed[idx]:
            continue
        keep.append(idx)
        xx1 = torch.maximum(x1[idx], x1)
        yy1 = torch.maximum(y1[idx], y1)
        xx2 = torch.minimum(x2[idx], x2)
        yy2 = torch.minimum(y2[idx], y2)
        inter = (xx2 - xx1).clamp(min=0) * (yy2 - yy1).clamp(min=0)
        iou = inter / (areas[idx] + areas - inter).clamp(min=1e-12)
        suppressed |= iou > iou_threshold
    return torch.tensor(keep, dtype=torch.int64, device=boxes.device)


_LIB: Any = None  # keeps the torch.library registration alive


def _ensure_torchvision() -> str:
    """Import torchvision, providing ``torchvision::nms`` when its C++ ops are missing.

    Returns ``"native"``, ``"patched"`` or ``"absent"``.
    """
    global _LIB
    import torch

    try:
        import torchvision

        return "native"
    except ImportError:
        return "absent"
    except RuntimeError as exc:
        if "torchvision::" not in str(exc):
            raise
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]
    _LIB = torch.library.Library("torchvision", "DEF")
    _LIB.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _LIB.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _LIB.impl("nms", _torch_nms, "CompositeExplicitAutograd")
    _LIB.impl("qnms", _torch_nms, "CompositeExplicitAutograd")
    import torchvision
    import torchvision.ops
    import torchvision.ops.boxes

    def nms(boxes: Any, scores: Any, iou_threshold: float) -> Any:
        return torch.ops.torchvision.nms(boxes, scores, float(iou_threshold))

    torchvision.ops.nms = nms
    torchvision.ops.boxes.nms = nms
    return "patched"


TORCHVISION_STATE = "not set up"


def setup(threads: int | None = None, verbose: bool = False) -> str:
    """Prepare the offline environment (idempotent). Call before importing ultralytics.

    ``threads`` caps torch intra-op threads (None: leave torch's default); ``verbose`` keeps
    ultralytics' logs and progress bars (training) — it only counts on the first call, before
    ultralytics is imported. Returns the torchvision state (``native``/``patched``/``absent``).
    """
    global _DONE, TORCHVISION_STATE
    with _LOCK:
        if _DONE:
            if threads:
                import torch

                torch.set_num_threads(threads)
            return TORCHVISION_STATE
        cfg = config_dir()
        cfg.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("YOLO_CONFIG_DIR", str(cfg))
        os.environ.setdefault("YOLO_OFFLINE", "1")
        os.environ.setdefault("YOLO_AUTOINSTALL", "0")
        os.environ.setdefault("ULTRALYTICS_SKIP_REQUIREMENTS_CHECKS", "1")
        os.environ.setdefault("YOLO_VERBOSE", "True" if verbose else "False")
        _place_font(Path(os.environ["YOLO_CONFIG_DIR"]))
        import torch

        if threads:
            torch.set_num_threads(threads)
        TORCHVISION_STATE = _ensure_torchvision()
        _DONE = True
        return TORCHVISION_STATE

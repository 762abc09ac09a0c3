"""Detections as domain values: what a detector saw in one frame, validated once.

Responsible for the one shape every other module uses (tracker, grader, rules, CLI): class name,
box in pixels (x1, y1, x2, y2), confidence. Foreign shapes (ultralytics results, ONNX tensors) are
converted in ``smoke_capture.detector``; nothing here imports torch or cv2. "Nothing detected" is an
empty tuple, not ``None``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.errors import ValidationError
from core.events import require_range

CLASSES: tuple[str, ...] = ("vehicle", "smoke")


@dataclass(frozen=True, slots=True)
class Detection:
    cls: str  # "vehicle" | "smoke"
    x1: float
    y1: float
    x2: float
    y2: float
    confidence: float

    def __post_init__(self) -> None:
        if self.cls not in CLASSES:
            raise ValidationError("cls", self.cls, f"one of {', '.join(CLASSES)}")
        for name in ("x1", "y1", "x2", "y2"):
            v = getattr(self, name)
            if not isinstance(v, int | float) or not math.isfinite(v):
                raise ValidationError(name, v, "a finite coordinate", "px")
        if not (self.x2 > self.x1 and self.y2 > self.y1):
            raise ValidationError("box", self.box, "x2 > x1 and y2 > y1", "px")
        require_range("confidence", self.confidence, 0.0, 1.0, "fraction")

    @property
    def box(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)

    @property
    def area(self) -> float:
        return (self.x2 - self.x1) * (self.y2 - self.y1)

    @property
    def centre(self) -> tuple[float, float]:
        return ((self.x1 + self.x2) / 2, (self.y1 + self.y2) / 2)

    def clipped(self, width: int, height: int) -> Detection | None:
        """The detection clipped to the frame, or None when nothing is left."""
        x1, y1 = max(0.0, self.x1), max(0.0, self.y1)
        x2, y2 = min(float(width), self.x2), min(float(height), self.y2)
        if x2 - x1 < 1 or y2 - y1 < 1:
            return None
        return Detection(self.cls, x1, y1, x2, y2, self.confidence)


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ix1, iy1 = max(a[0], b[0]), max(a[1], b[1])
    ix2, iy2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, ix2 - ix1) * max(0.0, iy2 - iy1)
    if inter <= 0:
        return 0.0
    ua = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / ua if ua > 0 else 0.0


def box_distance(
    a: tuple[float, float, float, float], b: tuple[float, float, float, float]
) -> float:
    """Gap in pixels between two boxes (0 when they touch or overlap)."""
    dx = max(0.0, max(a[0], b[0]) - min(a[2], b[2]))
    dy = max(0.0, max(a[1], b[1]) - min(a[3], b[3]))
    return math.hypot(dx, dy)

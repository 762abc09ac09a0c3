"""sRGB ⇄ linear-light conversion and luminance, shared by the grader and the scene renderer.

Plume opacity is a linear-light quantity (a plume of opacity a over background B shows
L = (1 − a)·B + a·g), so grading must undo the camera's transfer curve first. We assume the sRGB
curve (IEC 61966-2-1); a camera with another response curve needs its own calibration, which is why
every event records the camera's calibration status.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float32]

# Rec. 709 / sRGB luminance weights, in BGR order (OpenCV's channel order).
_LUMA_BGR = np.array([0.0722, 0.7152, 0.2126], dtype=np.float32)

_LUT_TO_LINEAR: FloatArray | None = None


def srgb_to_linear(values: NDArray[np.floating] | NDArray[np.uint8]) -> FloatArray:
    """Encoded sRGB (uint8 0–255, or float 0–1) → linear light 0–1 (float32)."""
    global _LUT_TO_LINEAR
    arr = np.asarray(values)
    if arr.dtype == np.uint8:
        if _LUT_TO_LINEAR is None:
            _LUT_TO_LINEAR = srgb_to_linear(np.arange(256, dtype=np.float32) / 255.0)
        return _LUT_TO_LINEAR[arr]
    v = np.clip(arr.astype(np.float32), 0.0, 1.0)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(values: NDArray[np.floating]) -> FloatArray:
    """Linear light 0–1 → encoded sRGB float 0–1 (multiply by 255 and round for uint8)."""
    v = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * np.power(v, 1 / 2.4) - 0.055).astype(
        np.float32
    )


def linear_to_u8(values: NDArray[np.floating]) -> NDArray[np.uint8]:
    return np.round(linear_to_srgb(values) * 255.0).astype(np.uint8)


def luminance(linear_bgr: NDArray[np.floating]) -> FloatArray:
    """Relative luminance (linear) of a linear-light BGR image (H×W×3) or a grey image (H×W)."""
    arr = np.asarray(linear_bgr, dtype=np.float32)
    if arr.ndim == 2:
        return arr
    return arr @ _LUMA_BGR

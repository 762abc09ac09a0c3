"""Ringelmann grading of a black plume from camera pixels (pure: arrays in, numbers out).

Method (see docs/reference/vision-notes.md for the comparison of estimators):

* pixels are linearised (sRGB curve) and reduced to luminance;
* blackness per pixel is k = (B − L)/(B − g), where B is the background the plume covers and g the
  plume's own luminance (soot, a small configurable black level). For a plume of opacity a over B,
  L = (1 − a)·B + a·g, so k = a; Ringelmann grade N corresponds to 20·N % black (grade = 5·k);
* vehicle pixels and the strip under each vehicle (its own moving shadow) are excluded;
* B is, in order of preference, a per-pixel background model of the fixed camera (temporal median
  of frames without the vehicle: :func:`temporal_median`), otherwise a scalar reference taken from a
  ring around the plume box with vehicle pixels excluded (a fallback, clearly less accurate);
* the plume's blackness is a high percentile (95th) of k inside the plume box, vehicle pixels
  excluded, and a pass's grade aggregates its frames (:func:`aggregate_pass`).

Guards: a background too dark (night) or clipped (overexposed) makes k meaningless, and such pixels
are dropped; a region that darkens the road by one uniform, blue-shifted factor with sharp edges
is what a cast shadow looks like (and a dark patch that also holds brighter-than-background
reflections is what a wet road looks like): both lower the confidence and set a quality flag, so
the rules send them to a human instead of the violation queue.

Known limits: the camera's response curve is assumed to be sRGB (an uncalibrated camera carries the
``camera_uncalibrated`` flag upstream); grading is only as good as the background model (a freshly
started camera has none and falls back to the ring reference); white or blue plumes are not graded
(the Ringelmann scale is for black smoke); real accuracy must be established against captures
graded by an inspector with a chart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from core.errors import ValidationError
from core.events import require_range
from smoke_capture.photometry import luminance, srgb_to_linear

BoxT = tuple[float, float, float, float]

# Quality flags set by the grader.
LOW_LIGHT = "low_light"
SATURATED = "saturated"
SMALL_REGION = "small_region"
SHADOW_SUSPECT = "shadow_suspect"
WET_SUSPECT = "wet_suspect"
NO_BACKGROUND_MODEL = "no_background_model"
NOT_DARKER = "not_darker"


@dataclass(frozen=True, slots=True)
class GraderConfig:
    """Tunable parameters of the grader (defaults measured on the synthetic test plumes)."""

    percentile: float = 95.0  # of per-pixel blackness inside the plume
    # with a scalar (ring) reference the background's own texture reads as blackness, so a lower
    # percentile is used (measured on the synthetic test plumes)
    ring_percentile: float = 75.0
    min_background: float = 0.02  # linear luminance below which a background pixel is too dark
    max_background: float = 0.97  # linear luminance above which it is clipped
    min_pixels: int = 30
    ring_px: int = 8  # width of the reference ring (fallback)
    shadow_uniformity: float = 0.75  # share of dark pixels within ±0.06 of the median ratio
    shadow_blue_shift: float = 1.12  # ratio_B / ratio_R of a skylit shadow
    wet_bright_share: float = 0.08  # share of pixels brighter than background inside a dark patch
    black_level: float = 0.01  # linear luminance of the plume itself (soot): a = (B − L)/(B − g)
    under_vehicle: float = 0.1  # strip below each vehicle box excluded (its own shadow), × height

    def __post_init__(self) -> None:
        require_range("percentile", self.percentile, 50.0, 100.0, "%")
        require_range("ring_percentile", self.ring_percentile, 50.0, 100.0, "%")
        require_range("min_background", self.min_background, 0.0, 0.5, "linear luminance")
        require_range("max_background", self.max_background, 0.5, 1.0, "linear luminance")
        require_range("black_level", self.black_level, 0.0, 0.2, "linear luminance")
        require_range("under_vehicle", self.under_vehicle, 0.0, 1.0, "× vehicle height")
        if self.min_pixels < 1:
            raise ValidationError("min_pixels", self.min_pixels, ">= 1", "px")


@dataclass(frozen=True, slots=True)
class Grade:
    """The grade of one plume in one frame."""

    grade: float  # Ringelmann 0–5, one decimal
    opacity: float  # blackness 0–1 (the estimate of a)
    confidence: float  # 0–1
    pixels: int  # pixels used
    method: str  # "background_model" | "ring_reference" | "reference_patch"
    flags: tuple[str, ...]
    # how unevenly the darkened pixels are darkened: (p90 − p25) / median of their blackness;
    # a plume thins towards its edges (large), a shadow or a dark panel is one factor (near 0);
    # None when too few pixels read darker
    spread: float | None = None

    def __post_init__(self) -> None:
        require_range("grade", self.grade, 0.0, 5.0, "Ringelmann")
        require_range("opacity", self.opacity, 0.0, 1.0, "fraction")
        require_range("confidence", self.confidence, 0.0, 1.0, "fraction")


def grade_from_opacity(opacity: float) -> float:
    """Blackness (0–1) → Ringelmann grade 0–5 with one decimal (20 % black per grade)."""
    return round(float(np.clip(opacity, 0.0, 1.0)) * 5.0, 1)


def _clip_box(box: BoxT, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    h, w = shape[:2]
    x1, y1, x2, y2 = box
    if not all(np.isfinite(v) for v in box):
        raise ValidationError("box", box, "finite pixel coordinates", "px")
    ix1, iy1 = max(0, int(np.floor(x1))), max(0, int(np.floor(y1)))
    ix2, iy2 = min(w, int(np.ceil(x2))), min(h, int(np.ceil(y2)))
    if ix2 <= ix1 or iy2 <= iy1:
        raise ValidationError("box", box, f"a non-empty box inside the {w}×{h} frame", "px")
    return ix1, iy1, ix2, iy2


def _exclusion_mask(
    shape: tuple[int, ...], exclude: Sequence[BoxT], under: float = 0.0
) -> NDArray[np.bool_]:
    """Vehicle boxes, each with the strip under it where its own shadow falls."""
    mask = np.zeros(shape[:2], bool)
    h, w = shape[:2]
    boxes = list(exclude)
    if under > 0:
        for x1, y1, x2, y2 in exclude:
            bw, bh = x2 - x1, y2 - y1
            boxes.append((x1 - 0.08 * bw, y2 - 0.05 * bh, x2 + 0.08 * bw, y2 + under * bh))
    for x1, y1, x2, y2 in boxes:
        ix1, iy1 = max(0, int(x1)), max(0, int(y1))
        ix2, iy2 = min(w, int(np.ceil(x2))), min(h, int(np.ceil(y2)))
        if ix2 > ix1 and iy2 > iy1:
            mask[iy1:iy2, ix1:ix2] = True
    return mask


def _to_linear(img: NDArray) -> NDArray[np.float32]:
    arr = np.asarray(img)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3):
        raise ValidationError("image", arr.shape, "H×W grey or H×W×3 BGR")
    return srgb_to_linear(arr)


def grade_plume(
    frame: NDArray,
    box: BoxT,
    background: NDArray | None = None,
    exclude: Sequence[BoxT] = (),
    config: GraderConfig | None = None,
) -> Grade:
    """Grade the plume inside ``box`` of ``frame`` (uint8 BGR, sRGB-encoded).

    ``background``: the camera's per-pixel background model (same size as ``frame``) or None for the
    ring-reference fallback. ``exclude``: boxes of vehicles whose pixels must not be graded.
    """
    cfg = config or GraderConfig()
    lin = _to_linear(frame)
    ix1, iy1, ix2, iy2 = _clip_box(box, lin.shape)
    excl = _exclusion_mask(lin.shape, exclude, cfg.under_vehicle)
    if int((~excl[iy1:iy2, ix1:ix2]).sum()) < cfg.min_pixels:
        excl = _exclusion_mask(lin.shape, exclude)  # plume hugging the vehicle: keep its strip
    flags: list[str] = []
    if background is not None:
        bg = _to_linear(background)
        if bg.shape != lin.shape:
            raise ValidationError("background", bg.shape, f"the frame's shape {lin.shape}")
        method = "background_model"
        b_lin = bg[iy1:iy2, ix1:ix2]
    else:
        method = "ring_reference"
        flags.append(NO_BACKGROUND_MODEL)
        b_lin = _ring_reference(lin, (ix1, iy1, ix2, iy2), excl, cfg)
    f_lin = lin[iy1:iy2, ix1:ix2]
    keep = ~excl[iy1:iy2, ix1:ix2]
    return _grade_region(f_lin, b_lin, keep, cfg, method, flags)


def grade_against_reference(
    frame: NDArray, box: BoxT, reference_box: BoxT, statistic: str = "median"
) -> Grade:
    """Grade a uniform target (e.g. a chart card) against a reference patch of the same frame.

    Used for the printed-chart check and for stack plumes seen against uniform sky. ``statistic``
    is ``median`` (uniform targets) or ``p95``.
    """
    lin = luminance(_to_linear(frame))
    ix1, iy1, ix2, iy2 = _clip_box(box, lin.shape)
    rx1, ry1, rx2, ry2 = _clip_box(reference_box, lin.shape)
    ref = float(np.median(lin[ry1:ry2, rx1:rx2]))
    flags: list[str] = []
    if ref < GraderConfig().min_background:
        flags.append(LOW_LIGHT)
    k = 1.0 - lin[iy1:iy2, ix1:ix2] / max(ref, 1e-6)
    val = float(np.median(k)) if statistic == "median" else float(np.percentile(k, 95))
    op = float(np.clip(val, 0.0, 1.0))
    conf = 0.9 if not flags else 0.3
    return Grade(
        grade_from_opacity(op), round(op, 4), conf, int(k.size), "reference_patch", tuple(flags)
    )


def _ring_reference(
    lin: NDArray[np.float32],
    box: tuple[int, int, int, int],
    excl: NDArray[np.bool_],
    cfg: GraderConfig,
) -> NDArray[np.float32]:
    """A scalar background (broadcast to the box) from a ring around the box, vehicles excluded."""
    h, w = lin.shape[:2]
    x1, y1, x2, y2 = box
    r = cfg.ring_px
    ox1, oy1, ox2, oy2 = max(0, x1 - r), max(0, y1 - r), min(w, x2 + r), min(h, y2 + r)
    ring = np.zeros((h, w), bool)
    ring[oy1:oy2, ox1:ox2] = True
    ring[y1:y2, x1:x2] = False
    ring &= ~excl
    if ring.sum() < 8:
        ring[oy1:oy2, ox1:ox2] = True
        ring[y1:y2, x1:x2] = False
    pix = lin[ring]
    if pix.size == 0:
        pix = lin.reshape(-1, lin.shape[-1]) if lin.ndim == 3 else lin.reshape(-1)
    # the brighter half of the ring: the plume's own fringes darken the rest
    lum = luminance(pix) if pix.ndim == 2 else pix
    sel = pix[lum >= np.median(lum)] if pix.ndim == 2 else pix[pix >= np.median(pix)]
    ref = np.median(sel, axis=0).astype(np.float32)
    shape = (y2 - y1, x2 - x1) + ((lin.shape[2],) if lin.ndim == 3 else ())
    return np.broadcast_to(ref, shape).astype(np.float32)


def _grade_region(
    f_lin: NDArray[np.float32],
    b_lin: NDArray[np.float32],
    keep: NDArray[np.bool_],
    cfg: GraderConfig,
    method: str,
    flags: list[str],
) -> Grade:
    f_l = luminance(f_lin)
    b_l = luminance(b_lin)
    lit = (b_l >= cfg.min_background) & keep
    clipped = (b_l > cfg.max_background) & keep
    usable = lit & ~clipped
    n_keep = int(keep.sum())
    if n_keep and lit.sum() < 0.5 * n_keep:
        flags.append(LOW_LIGHT)
    if n_keep and clipped.sum() > 0.3 * n_keep:
        flags.append(SATURATED)
    n = int(usable.sum())
    if n < cfg.min_pixels:
        flags.append(SMALL_REGION)
        if n == 0:
            return Grade(0.0, 0.0, 0.0, 0, method, tuple(flags))
    # a = (B − L) / (B − g): the plume's own (soot) luminance g is not zero
    b_u = b_l[usable]
    k = (b_u - f_l[usable]) / np.maximum(b_u - cfg.black_level, 0.25 * b_u)
    k = np.clip(k, -1.0, 1.0)
    pct = cfg.percentile if method == "background_model" else cfg.ring_percentile
    op = float(np.clip(np.percentile(k, pct), 0.0, 1.0))
    dark = k > 0.1
    spread = None
    if dark.sum() < max(5, 0.02 * n):
        flags.append(NOT_DARKER)
    else:
        q25, q50, q90 = np.percentile(k[dark], (25, 50, 90))
        spread = round(float((q90 - q25) / max(q50, 1e-3)), 3)
        ratio = (f_l[usable] / b_u)[dark]
        med = float(np.median(ratio))
        uniform = float(np.mean(np.abs(ratio - med) < 0.06))
        if f_lin.ndim == 3:
            fb = f_lin[usable][dark]
            bb = np.maximum(b_lin[usable][dark], 1e-4)
            rb = float(np.median(fb[:, 0] / bb[:, 0]))
            rr = float(np.median(fb[:, 2] / bb[:, 2]))
            blue_shift = rb / max(rr, 1e-4)
        else:
            blue_shift = 1.0
        if uniform >= cfg.shadow_uniformity and blue_shift >= cfg.shadow_blue_shift:
            flags.append(SHADOW_SUSPECT)
        bright = float(np.mean(k < -0.08))
        if bright >= cfg.wet_bright_share and float(np.mean(dark)) > 0.2:
            flags.append(WET_SUSPECT)
    conf = _confidence(n, method, flags, float(np.median(b_l[usable])) if n else 0.0, k)
    return Grade(grade_from_opacity(op), round(op, 4), conf, n, method, tuple(flags), spread)


def _confidence(n: int, method: str, flags: Sequence[str], bg_level: float, k: NDArray) -> float:
    conf = 0.9 if method == "background_model" else 0.55
    conf *= min(1.0, n / 400.0) ** 0.25
    penalties = {
        LOW_LIGHT: 0.4,
        SATURATED: 0.6,
        SMALL_REGION: 0.5,
        SHADOW_SUSPECT: 0.3,
        WET_SUSPECT: 0.4,
        NOT_DARKER: 0.5,
    }
    for f in flags:
        conf *= penalties.get(f, 1.0)
    if bg_level < 0.05:
        conf *= 0.7
    return round(float(np.clip(conf, 0.0, 1.0)), 3)


@dataclass(frozen=True, slots=True)
class PassGrade:
    """A vehicle pass's grade from its frames."""

    grade: float
    opacity: float
    confidence: float
    frames: int
    flags: tuple[str, ...]


def aggregate_pass(grades: Sequence[Grade], min_confidence: float = 0.2) -> PassGrade:
    """Confidence-weighted median of the frames' opacities; flags present in most frames carry.

    Frames under ``min_confidence`` are left out unless nothing else is left.
    """
    if not grades:
        raise ValidationError("grades", 0, "at least one graded frame")
    good = [g for g in grades if g.confidence >= min_confidence] or list(grades)
    ops = np.array([g.opacity for g in good])
    w = np.array([max(g.confidence, 1e-3) for g in good])
    order = np.argsort(ops)
    cum = np.cumsum(w[order])
    idx = order[int(np.searchsorted(cum, cum[-1] / 2))]
    op = float(ops[idx])
    counts: dict[str, int] = {}
    for g in good:
        for f in g.flags:
            counts[f] = counts.get(f, 0) + 1
    flags = tuple(sorted(f for f, c in counts.items() if c * 2 > len(good)))
    spread = float(np.std(ops)) if len(ops) > 1 else 0.2
    conf = float(np.median(w)) * min(1.0, (len(good) / 3) ** 0.5) * max(0.3, 1.0 - spread * 2)
    return PassGrade(
        grade_from_opacity(op), round(op, 4), round(min(conf, 1.0), 3), len(good), flags
    )


@dataclass(frozen=True, slots=True)
class TemporalConfig:
    """When a pass's plume boxes count as smoke on video: the background model must see the box
    darker than the empty road in enough of the pass's frames (persistence), and that darkening
    must be uneven, as a plume thinning out behind the vehicle is (dispersion), not one uniform
    factor as a moving shadow or a dark panel is. ``min_spread`` 0 turns the dispersion test off."""

    enabled: bool = True
    min_dark_frames: int = 2  # frames graded against the background model that read darker
    min_dark_share: float = 0.4  # of the frames graded against the background model
    min_opacity: float = 0.08  # blackness a frame must reach to count as dark
    # median Grade.spread over the dark frames; synthetic plumes (training seeds) 0.45–0.9 per
    # pass, hard shadows and dark panels 0.04
    min_spread: float = 0.2

    def __post_init__(self) -> None:
        require_range("min_dark_frames", self.min_dark_frames, 1, 1000, "frames")
        require_range("min_dark_share", self.min_dark_share, 0.0, 1.0, "fraction")
        require_range("min_opacity", self.min_opacity, 0.0, 1.0, "fraction")
        require_range("min_spread", self.min_spread, 0.0, 10.0, "relative spread")


NO_TEMPORAL_EVIDENCE = "no_temporal_evidence"


@dataclass(frozen=True, slots=True)
class TemporalEvidence:
    # "dark": a dispersing plume darkens the road; "absent": nothing persistently darker (a static
    # dark thing the background holds); "uniform": darker, but by one even factor (a shadow or a
    # dark panel moving with the vehicle); "unavailable": too few frames against a background model
    verdict: str
    background_frames: int  # frames of the pass graded against the background model
    dark_frames: int
    spread: float | None = None  # median Grade.spread of the dark frames


def temporal_evidence(
    grades: Sequence[Grade], config: TemporalConfig | None = None
) -> TemporalEvidence:
    """Does the plume darken what the fixed camera normally sees, persistently, over the pass?

    The detector's box alone cannot tell a black plume from a dark thing that is always there
    (a tree, a building's shadow, a dark parked object): those are part of the per-pixel
    background model, so a box on them reads no darker than the background. A vehicle's own dark
    rear and wheel arches are excluded pixels. A frame counts as dark when it was graded against
    the background model, is not flagged ``not_darker`` and reaches ``min_opacity``.

    Dispersion: a hard shadow cast by the vehicle or a soot-black rear panel does darken the road
    and moves with the vehicle, but by one uniform factor; a plume is dense at the exhaust and thins
    out behind, so its darkened pixels spread over a wide range of blackness. The median
    :attr:`Grade.spread` of the dark frames must reach ``min_spread``."""
    cfg = config or TemporalConfig()
    bg = [g for g in grades if g.method == "background_model"]
    dark = [g for g in bg if NOT_DARKER not in g.flags and g.opacity >= cfg.min_opacity]
    spreads = [g.spread for g in dark if g.spread is not None]
    spread = round(float(np.median(spreads)), 3) if spreads else None
    if len(bg) < cfg.min_dark_frames:
        return TemporalEvidence("unavailable", len(bg), len(dark), spread)
    ok = len(dark) >= cfg.min_dark_frames and len(dark) >= cfg.min_dark_share * len(bg)
    if not ok:
        return TemporalEvidence("absent", len(bg), len(dark), spread)
    if cfg.min_spread > 0 and (spread is None or spread < cfg.min_spread):
        return TemporalEvidence("uniform", len(bg), len(dark), spread)
    return TemporalEvidence("dark", len(bg), len(dark), spread)


def temporal_signal(
    frames: Sequence[NDArray[np.uint8]],
    background: NDArray[np.uint8] | None,
    plume_boxes: Sequence[Sequence[BoxT]],
    vehicle_boxes: Sequence[Sequence[BoxT]],
    config: TemporalConfig | None = None,
    grader: GraderConfig | None = None,
) -> TemporalEvidence:
    """The temporal evidence of one capture from its frames (pure): each frame's plume boxes graded
    against the camera's ``background`` (None: the ring fallback, so ``unavailable``) with that
    frame's vehicles excluded, then :func:`temporal_evidence`. ``plume_boxes[i]`` and
    ``vehicle_boxes[i]`` are the detector's boxes in ``frames[i]``; ungradable boxes are skipped."""
    if not len(frames) == len(plume_boxes) == len(vehicle_boxes):
        raise ValidationError(
            "plume_boxes", len(plume_boxes), f"one list of boxes per frame ({len(frames)})"
        )
    grades = []
    for img, plumes, vehicles in zip(frames, plume_boxes, vehicle_boxes, strict=True):
        for box in plumes:
            try:
                grades.append(grade_plume(img, box, background, vehicles, grader))
            except ValidationError:
                continue
    return temporal_evidence(grades, config)


def temporal_median(frames: Sequence[NDArray[np.uint8]]) -> NDArray[np.uint8]:
    """Per-pixel median of frames from a fixed camera: the background model (moving vehicles and
    their plumes vanish once each pixel is clear in more than half of the frames)."""
    if len(frames) < 3:
        raise ValidationError("frames", len(frames), "at least 3 frames for a median background")
    shape = frames[0].shape
    for f in frames:
        if f.shape != shape:
            raise ValidationError("frames", f.shape, f"all frames shaped {shape}")
    return np.median(np.stack(frames), axis=0).astype(np.uint8)


class BackgroundModel:
    """A running per-pixel background for one fixed camera: the median of the last ``size`` frames
    that were sampled every ``every`` frames. Not thread-safe; one per camera."""

    def __init__(self, size: int = 15, every: int = 1) -> None:
        if size < 3:
            raise ValidationError("size", size, ">= 3 frames")
        self.size = size
        self.every = max(1, every)
        self._frames: list[NDArray[np.uint8]] = []
        self._seen = 0
        self._cached: NDArray[np.uint8] | None = None

    def update(self, frame: NDArray[np.uint8]) -> None:
        if self._frames and frame.shape != self._frames[0].shape:
            self._frames.clear()  # camera resolution changed: start over
        self._seen += 1
        if (self._seen - 1) % self.every:
            return
        self._frames.append(frame)
        if len(self._frames) > self.size:
            self._frames.pop(0)
        self._cached = None

    @property
    def ready(self) -> bool:
        return len(self._frames) >= 3

    def background(self) -> NDArray[np.uint8] | None:
        if not self.ready:
            return None
        if self._cached is None:
            self._cached = temporal_median(self._frames)
        return self._cached

"""Synthetic road scenes for training and testing the black-smoke detector and grader.

Responsible for:

* road scenes seen by a fixed roadside camera (sky, roadside, asphalt with lane marks), vehicles of
  several kinds seen from the rear (car, SUV, van, pickup, bus, box truck, tractor-trailer, dump
  truck), black plumes of controlled peak opacity, shape and colour, and the confusers the detector
  must not call smoke: cast shadows under and beside vehicles, tree/building shadows, wet road with
  reflections, white vapour, black cars, fog and night;
* YOLO-format datasets (``images/{train,val,test}``, ``labels/...``, ``data.yaml`` with absolute
  paths), class 0 ``vehicle`` and class 1 ``smoke``;
* rendered test plumes of known opacity (with the noise-free background a fixed camera's background
  model would converge to) and rendered photographs of a printed Ringelmann chart, to validate the
  grader.

Everything is composited in linear light: a plume of opacity α over background B with plume colour g
gives L = (1 − α)·B + α·g; a shadow multiplies B by a skylight-tinted factor. Images are then encoded
with the sRGB curve, given sensor noise and JPEG-compressed.

Known limits: the renderer is a cartoon of a real road. Models trained only on it do not transfer to
real footage (measured: smoke AP50 0.02 on real photos, see smoke_capture/models/MODEL_CARD.md);
its purpose is to exercise the pipeline, to measure the grader against a known truth and to give
users a training command they rerun on real labelled frames.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import cv2
import numpy as np
from numpy.typing import NDArray

from core.errors import ValidationError
from smoke_capture.photometry import linear_to_u8

CLASS_NAMES: tuple[str, ...] = ("vehicle", "smoke")
VEHICLE, SMOKE = 0, 1

F32 = NDArray[np.float32]

# kind: (width m, height m, probability of a diesel engine, plate colour)
VEHICLE_KINDS: dict[str, tuple[float, float, float, str]] = {
    "car": (1.80, 1.45, 0.05, "blue"),
    "suv": (1.90, 1.75, 0.15, "blue"),
    "van": (1.95, 2.20, 0.6, "blue"),
    "pickup": (1.90, 1.80, 0.6, "blue"),
    "bus": (2.50, 3.20, 0.9, "yellow"),
    "box_truck": (2.45, 3.30, 0.95, "yellow"),
    "tractor": (2.55, 3.90, 1.0, "yellow"),
    "dump_truck": (2.50, 2.90, 1.0, "yellow"),
}
# More truck and bus shapes, drawn only with ``SceneSpec.varied_vehicles`` (so the default scenes,
# and every figure measured on them, stay exactly as they were).
EXTRA_KINDS: dict[str, tuple[float, float, float, str]] = {
    "coach": (2.55, 3.70, 1.0, "yellow"),
    "minibus": (2.05, 2.60, 0.8, "blue"),
    "tanker": (2.50, 3.00, 1.0, "yellow"),
    "flatbed": (2.50, 1.50, 1.0, "yellow"),
    "mixer": (2.50, 3.60, 1.0, "yellow"),
    "city_bus": (2.50, 3.10, 0.9, "yellow"),
}
DIESEL_KINDS = (
    "van",
    "pickup",
    "bus",
    "box_truck",
    "tractor",
    "dump_truck",
    *EXTRA_KINDS,
)
HARD_FLAGS: dict[str, float] = {  # flag: probability in a hard scene mix (SceneSpec.hard)
    "degrade": 0.3,
    "motion_blur": 0.25,
    "rain": 0.15,
    "dark_confusers": 0.5,
    "dust": 0.12,
    "varied_vehicles": 0.6,
}

# Linear-light BGR of plate backgrounds.
PLATE_BGR = {
    "blue": (0.45, 0.06, 0.01),
    "yellow": (0.02, 0.55, 0.85),
    "green": (0.12, 0.55, 0.10),
}


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned box in pixels with its class (0 vehicle, 1 smoke)."""

    cls: int
    x1: float
    y1: float
    x2: float
    y2: float

    def __post_init__(self) -> None:
        if self.cls not in (VEHICLE, SMOKE):
            raise ValidationError("cls", self.cls, "0 (vehicle) or 1 (smoke)")
        if not (self.x2 > self.x1 and self.y2 > self.y1):
            raise ValidationError(
                "box", (self.x1, self.y1, self.x2, self.y2), "x2>x1 and y2>y1", "px"
            )

    def yolo(self, width: int, height: int) -> str:
        cx = (self.x1 + self.x2) / 2 / width
        cy = (self.y1 + self.y2) / 2 / height
        w = (self.x2 - self.x1) / width
        h = (self.y2 - self.y1) / height
        return f"{self.cls} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}"

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)


@dataclass(frozen=True, slots=True)
class SceneSpec:
    """What to put in a scene; ``None`` means "draw at random"."""

    width: int = 320
    height: int = 320
    vehicles: int | None = None
    smoke: bool | None = None  # at least one plume (True) / no plume at all (False)
    opacity: float | None = None  # peak opacity of every plume, 0–1
    shadow: bool | None = None  # strong cast shadows beside vehicles and across the road
    wet: bool | None = None
    fog: bool | None = None
    night: bool | None = None
    vapour: bool | None = None  # white vapour plume (a confuser, not labelled)
    noise: bool = True  # sensor noise and JPEG
    # harder scenes (False: off, the default; True: on; None: drawn at random, HARD_FLAGS)
    degrade: bool | None = False  # low resolution and heavy JPEG, like web and CCTV stills
    motion_blur: bool | None = False
    rain: bool | None = False  # streaks and a veil of spray
    dark_confusers: bool | None = False  # trees, shadows, dark bus rears, wheel arches (unlabelled)
    dust: bool | None = False  # light brown dust kicked up by wheels (unlabelled)
    varied_vehicles: bool | None = False  # coaches, tankers, flatbeds, mixers…; shape jitter

    @classmethod
    def hard(cls, **kw: object) -> SceneSpec:
        """The hard mix: every new condition drawn at random (``HARD_FLAGS``), night and white
        vapour more often than the default mix."""
        base: dict[str, object] = {k: None for k in HARD_FLAGS}
        return cls(**{**base, **kw})  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        if not (32 <= self.width <= 4096 and 32 <= self.height <= 4096):
            raise ValidationError("width/height", (self.width, self.height), "in [32, 4096]", "px")
        if self.opacity is not None and not (0.0 <= self.opacity <= 1.0):
            raise ValidationError("opacity", self.opacity, "in [0, 1]", "fraction")
        if self.vehicles is not None and not (0 <= self.vehicles <= 6):
            raise ValidationError("vehicles", self.vehicles, "in [0, 6]")


@dataclass(frozen=True, slots=True, eq=False)
class Scene:
    """One rendered frame with its ground truth."""

    image: NDArray[np.uint8]  # BGR, sRGB-encoded, what the camera delivers
    background: NDArray[np.uint8]  # the same view without vehicles, plumes or their shadows
    boxes: tuple[Box, ...]
    opacities: tuple[
        float, ...
    ]  # peak opacity of each labelled smoke box, same order as smoke boxes
    conditions: tuple[str, ...]  # e.g. ("shadow", "wet", "night")
    plume_alpha: F32 | None = None  # per-pixel opacity of all black plumes (for tests)
    vehicle_kinds: tuple[str, ...] = ()  # kind of every drawn vehicle, far to near

    @property
    def vehicle_boxes(self) -> tuple[Box, ...]:
        return tuple(b for b in self.boxes if b.cls == VEHICLE)

    @property
    def smoke_boxes(self) -> tuple[Box, ...]:
        return tuple(b for b in self.boxes if b.cls == SMOKE)


# --------------------------------------------------------------------------------------------
# noise and small helpers


def _fractal(rng: np.random.Generator, h: int, w: int, octaves: int = 4, base: int = 4) -> F32:
    """Smooth value noise in [0, 1] (sum of upsampled random grids)."""
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        gh, gw = max(2, base * 2**o * h // max(h, w)), max(2, base * 2**o * w // max(h, w))
        grid = rng.random((gh, gw), dtype=np.float32)
        out += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= 0.5
    out /= total
    lo, hi = float(out.min()), float(out.max())
    return (out - lo) / max(hi - lo, 1e-6)


def _bgr(rng: np.random.Generator, lum: float, sat: float = 0.2) -> np.ndarray:
    tint = 1.0 + sat * (rng.random(3) * 2 - 1)
    c = lum * tint
    return np.clip(c, 0.0, 1.0).astype(np.float32)


@dataclass(slots=True)
class _Road:
    horizon: float
    vx: float  # vanishing point x
    half_bottom: float  # half road width at the bottom row, px
    lanes: int

    def half_width(self, y: float, h: int) -> float:
        return max(0.0, (y - self.horizon) / (h - self.horizon)) * self.half_bottom

    def px_per_m(self, y: float, h: int) -> float:
        return 2 * self.half_width(y, h) / (3.6 * self.lanes)


# --------------------------------------------------------------------------------------------
# static background


def _background(
    rng: np.random.Generator, w: int, h: int, spec_shadow: bool, wet: bool
) -> tuple[F32, _Road]:
    img = np.zeros((h, w, 3), np.float32)
    horizon = float(rng.uniform(0.22, 0.42) * h)
    road = _Road(
        horizon=horizon,
        vx=float(rng.uniform(0.35, 0.65) * w),
        half_bottom=float(rng.uniform(0.55, 0.95) * w),
        lanes=int(rng.integers(2, 4)),
    )
    hz = int(horizon)
    # sky: gradient from zenith to horizon
    top = _bgr(rng, float(rng.uniform(0.25, 0.8)), 0.35) * np.array([1.25, 1.05, 0.85], np.float32)
    bottom = _bgr(rng, float(rng.uniform(0.5, 0.95)), 0.1)
    t = np.linspace(0, 1, max(hz, 1), dtype=np.float32)[:, None, None]
    img[:hz] = (1 - t) * top + t * bottom
    clouds = _fractal(rng, max(hz, 2), w, 4, 3)[: max(hz, 1)]
    img[:hz] *= (0.85 + 0.3 * clouds[..., None])[:hz]
    # skyline: buildings / trees silhouettes above the horizon
    x = 0
    while x < w:
        bw = int(rng.integers(w // 20 + 1, w // 5 + 2))
        bh = int(rng.uniform(0.02, 0.18) * h)
        lum = float(rng.uniform(0.03, 0.35))
        col = _bgr(rng, lum, 0.3)
        if rng.random() < 0.75:
            cv2.rectangle(img, (x, max(0, hz - bh)), (x + bw, hz), col.tolist(), -1)
        x += bw
    # ground on both sides: grass or pavement
    ground = _bgr(rng, float(rng.uniform(0.05, 0.25)), 0.45)
    tex = _fractal(rng, h - hz, w, 5, 8)[..., None]
    img[hz:] = ground * (0.7 + 0.6 * tex)
    # road surface (trapezoid to the vanishing point)
    asphalt = float(rng.uniform(0.06, 0.25))
    poly = np.array(
        [
            [road.vx - 1, hz],
            [road.vx + 1, hz],
            [road.vx + road.half_bottom, h],
            [road.vx - road.half_bottom, h],
        ],
        np.int32,
    )
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [poly], 1)
    rtex = 0.8 + 0.4 * _fractal(rng, h, w, 5, 16)
    grain = 1.0 + 0.12 * rng.standard_normal((h, w)).astype(np.float32)
    road_img = (asphalt * rtex * grain)[..., None] * np.array([1.02, 1.0, 0.98], np.float32)
    m = mask.astype(bool)
    img[m] = road_img[m]
    # lane marks, dashed, converging to the vanishing point
    for lane in range(1, road.lanes):
        frac = lane / road.lanes * 2 - 1
        for k in range(12):
            y0 = horizon + (h - horizon) * (k / 12) ** 1.6
            y1 = horizon + (h - horizon) * ((k + 0.5) / 12) ** 1.6
            x0 = road.vx + frac * road.half_width(y0, h)
            x1 = road.vx + frac * road.half_width(y1, h)
            width = max(1, int(road.half_width(y1, h) * 0.012))
            cv2.line(img, (int(x0), int(y0)), (int(x1), int(y1)), (0.7, 0.7, 0.7), width)
    for side in (-1, 1):
        cv2.line(
            img,
            (int(road.vx), hz),
            (int(road.vx + side * road.half_bottom * 0.97), h),
            (0.75, 0.75, 0.72),
            max(1, w // 160),
        )
    if spec_shadow:
        _static_shadows(rng, img, mask, w, h, hz)
    if wet:
        _wet_patches(rng, img, mask, w, h, hz, top)
    return img, road


def _shadow_factor(rng: np.random.Generator) -> np.ndarray:
    """Multiplicative shadow factor: direct sun removed, bluish skylight left (B > G > R)."""
    s = float(rng.uniform(0.3, 0.65))
    return np.array([min(1.0, s * 1.25), s * 1.02, s * 0.85], np.float32)


def _static_shadows(rng, img, mask, w, h, hz) -> None:
    shade = np.ones((h, w), np.float32)
    for _ in range(int(rng.integers(1, 4))):
        y0 = int(rng.uniform(hz, h))
        band = int(rng.uniform(0.03, 0.15) * h)
        pts = np.array(
            [
                [0, y0],
                [w, y0 + int(rng.integers(-band, band + 1))],
                [w, y0 + band],
                [0, y0 + band * 2],
            ],
            np.int32,
        )
        tmp = np.zeros((h, w), np.uint8)
        cv2.fillPoly(tmp, [pts], 1)
        # tree shadows have ragged edges: modulate with noise
        if rng.random() < 0.6:
            tmp = (tmp * (_fractal(rng, h, w, 3, 12) > 0.35)).astype(np.uint8)
        shade[tmp.astype(bool)] = 0.0
    fac = _shadow_factor(rng)
    sel = (shade == 0) & (mask.astype(bool) | (rng.random() < 0.5))
    img[sel] *= fac


def _wet_patches(rng, img, mask, w, h, hz, sky) -> None:
    wet = (_fractal(rng, h, w, 4, 5) > rng.uniform(0.35, 0.6)) & mask.astype(bool)
    dark = float(rng.uniform(0.45, 0.7))
    img[wet] *= dark
    # specular reflection of the sky / skyline, mirrored about the horizon and blurred
    refl = cv2.flip(img, 0)
    shift = h - 2 * hz
    refl = np.roll(refl, shift, axis=0) if 0 < shift < h else refl
    refl = cv2.GaussianBlur(refl, (0, 0), max(1.0, w / 120))
    k = float(rng.uniform(0.1, 0.3))
    img[wet] = img[wet] + k * refl[wet]


# --------------------------------------------------------------------------------------------
# vehicles


@dataclass(slots=True)
class _Vehicle:
    kind: str
    lateral_m: float  # offset from the road centre line, metres
    depth: float  # 0 = bottom row, 1 = horizon (bottom edge of the vehicle)
    colour: np.ndarray
    plate: str
    exhaust_side: int  # -1 left, +1 right
    stack: bool  # vertical exhaust stack at the top (tractors)
    scale_w: float = 1.0  # shape jitter (varied vehicles)
    scale_h: float = 1.0


def _dims(kind: str) -> tuple[float, float, float, str]:
    return VEHICLE_KINDS[kind] if kind in VEHICLE_KINDS else EXTRA_KINDS[kind]


def _make_vehicle(
    rng: np.random.Generator, road: _Road, depth: float, varied: bool = False
) -> _Vehicle:
    if varied:
        kinds = [*VEHICLE_KINDS, *EXTRA_KINDS]
        kind = str(rng.choice(kinds))
    else:
        kind = str(
            rng.choice(list(VEHICLE_KINDS), p=[0.22, 0.14, 0.1, 0.08, 0.12, 0.14, 0.12, 0.08])
        )
    plate = _dims(kind)[3]
    if plate == "blue" and rng.random() < 0.2:
        plate = "green"
    choice = rng.random()
    if choice < 0.22:
        colour = _bgr(rng, float(rng.uniform(0.6, 0.85)), 0.03)  # white
    elif choice < 0.4:
        colour = _bgr(rng, float(rng.uniform(0.2, 0.4)), 0.03)  # silver
    elif choice < 0.58:
        colour = _bgr(rng, float(rng.uniform(0.008, 0.03)), 0.05)  # black
    else:
        colour = _bgr(rng, float(rng.uniform(0.05, 0.5)), 0.9)
    half_lanes = road.lanes * 3.6 / 2
    return _Vehicle(
        kind=kind,
        lateral_m=float(rng.uniform(-half_lanes + 1.2, half_lanes - 1.2)),
        depth=depth,
        colour=colour,
        plate=plate,
        exhaust_side=int(rng.choice([-1, 1])),
        stack=kind == "tractor" and rng.random() < 0.5,
        scale_w=float(rng.uniform(0.88, 1.1)) if varied else 1.0,
        scale_h=float(rng.uniform(0.8, 1.2)) if varied else 1.0,
    )


def _vehicle_geom(v: _Vehicle, road: _Road, w: int, h: int) -> tuple[float, float, float, float]:
    """(x1, y1, x2, y2) of the vehicle in pixels."""
    yb = road.horizon + (h - road.horizon) * (1 - v.depth)
    ppm = road.px_per_m(yb, h)
    cx = road.vx + v.lateral_m * ppm
    wm, hm, _, _ = _dims(v.kind)
    wm, hm = wm * v.scale_w, hm * v.scale_h
    return (cx - wm * ppm / 2, yb - hm * ppm, cx + wm * ppm / 2, yb)


def _draw_vehicle(
    img: F32, v: _Vehicle, geom, rng: np.random.Generator, shadow: bool, h: int
) -> None:
    x1, y1, x2, y2 = geom
    bw, bh = x2 - x1, y2 - y1
    if bw < 3 or bh < 3:
        return
    col = v.colour.tolist()
    dark = (0.012, 0.012, 0.014)
    # contact shadow + (optionally) a long cast shadow on the road, skylight-tinted
    H, W = img.shape[:2]
    smask = np.zeros((H, W), np.uint8)
    cv2.ellipse(
        smask,
        (int((x1 + x2) / 2), int(y2)),
        (int(bw * 0.55), max(1, int(bh * 0.06))),
        0,
        0,
        360,
        1,
        -1,
    )
    if shadow:
        side = rng.choice([-1, 1])
        length = rng.uniform(0.15, 0.6) * bw
        poly = np.array(
            [
                [x1, y2 - bh * 0.02],
                [x2, y2 - bh * 0.02],
                [x2 + side * length, y2 + length * rng.uniform(0.2, 0.5)],
                [x1 + side * length, y2 + length * rng.uniform(0.2, 0.5)],
            ],
            np.int32,
        )
        cv2.fillPoly(smask, [poly], 1)
    sel = smask.astype(bool)
    img[sel] *= _shadow_factor(rng) * (0.7 if not shadow else 1.0)

    def rect(a, b, c, d, colour) -> None:
        cv2.rectangle(img, (int(a), int(b)), (int(c), int(d)), colour, -1)

    # wheels
    ww, wh = bw * 0.13, bh * 0.12
    rect(x1 + bw * 0.04, y2 - wh, x1 + bw * 0.04 + ww, y2, dark)
    rect(x2 - bw * 0.04 - ww, y2 - wh, x2 - bw * 0.04, y2, dark)
    kind = v.kind
    if kind in ("car", "suv", "pickup"):
        body_top = y1 + bh * (0.42 if kind != "pickup" else 0.35)
        rect(x1, body_top, x2, y2 - wh * 0.6, col)
        cabin = np.array(
            [
                [x1 + bw * 0.12, y1],
                [x2 - bw * 0.12, y1],
                [x2 - bw * 0.02, body_top],
                [x1 + bw * 0.02, body_top],
            ],
            np.int32,
        )
        cv2.fillPoly(img, [cabin], col)
        glass = np.array(
            [
                [x1 + bw * 0.17, y1 + bh * 0.05],
                [x2 - bw * 0.17, y1 + bh * 0.05],
                [x2 - bw * 0.09, body_top - bh * 0.03],
                [x1 + bw * 0.09, body_top - bh * 0.03],
            ],
            np.int32,
        )
        gl = float(rng.uniform(0.02, 0.12))
        cv2.fillPoly(img, [glass], (gl, gl, gl * 0.95))
    elif kind == "van":
        rect(x1, y1, x2, y2 - wh * 0.6, col)
        gl = float(rng.uniform(0.02, 0.1))
        rect(x1 + bw * 0.1, y1 + bh * 0.08, x1 + bw * 0.47, y1 + bh * 0.4, (gl, gl, gl))
        rect(x1 + bw * 0.53, y1 + bh * 0.08, x2 - bw * 0.1, y1 + bh * 0.4, (gl, gl, gl))
    elif kind == "bus":
        rect(x1, y1, x2, y2 - wh * 0.5, col)
        gl = float(rng.uniform(0.02, 0.1))
        rect(x1 + bw * 0.08, y1 + bh * 0.06, x2 - bw * 0.08, y1 + bh * 0.3, (gl, gl, gl))
        rect(x1 + bw * 0.2, y1 + bh * 0.7, x2 - bw * 0.2, y1 + bh * 0.78, [c * 0.6 for c in col])
    elif kind in EXTRA_KINDS:
        _draw_extra_kind(img, kind, (x1, y1, x2, y2), col, wh, rng)
    else:  # trucks: container / trailer / dump body
        rect(x1, y1, x2, y2 - wh * 0.9, col)
        edge = [c * 0.55 for c in col]
        cv2.line(
            img,
            (int((x1 + x2) / 2), int(y1)),
            (int((x1 + x2) / 2), int(y2 - wh)),
            edge,
            max(1, int(bw * 0.015)),
        )
        for k in range(1, 4):
            yy = y1 + (y2 - y1 - wh) * k / 4
            cv2.line(img, (int(x1), int(yy)), (int(x2), int(yy)), edge, 1)
        rect(x1 + bw * 0.02, y2 - wh * 1.3, x2 - bw * 0.02, y2 - wh * 0.9, dark)  # under-run bar
        if v.stack:
            sx = x1 + bw * 0.08 if v.exhaust_side < 0 else x2 - bw * 0.12
            rect(sx, y1 - bh * 0.12, sx + bw * 0.04, y1 + bh * 0.05, (0.06, 0.06, 0.06))
    # tail lights
    tl = (0.02, 0.02, float(rng.uniform(0.35, 0.8)))
    ty = y2 - bh * 0.33
    rect(x1 + bw * 0.02, ty, x1 + bw * 0.12, ty + bh * 0.07, tl)
    rect(x2 - bw * 0.12, ty, x2 - bw * 0.02, ty + bh * 0.07, tl)
    # bumper and plate
    rect(x1 + bw * 0.02, y2 - bh * 0.2, x2 - bw * 0.02, y2 - bh * 0.14, [c * 0.5 for c in col])
    pw, ph = bw * 0.26, max(2.0, bw * 0.085)
    px1, py1 = (x1 + x2) / 2 - pw / 2, y2 - bh * 0.25
    rect(px1, py1, px1 + pw, py1 + ph, PLATE_BGR[v.plate])
    ink = (0.9, 0.9, 0.9) if v.plate == "blue" else (0.01, 0.01, 0.01)
    for k in range(6):
        cx = px1 + pw * (0.1 + 0.14 * k)
        rect(cx, py1 + ph * 0.25, cx + pw * 0.07, py1 + ph * 0.75, ink)


def _draw_extra_kind(
    img: F32, kind: str, geom, col: list[float], wh: float, rng: np.random.Generator
) -> None:
    """Coaches, minibuses, city buses, tankers, flatbeds and mixers seen from behind."""
    x1, y1, x2, y2 = geom
    bw, bh = x2 - x1, y2 - y1
    dark = (0.012, 0.012, 0.014)
    gl = float(rng.uniform(0.02, 0.1))

    def rect(a, b, c, d, colour) -> None:
        cv2.rectangle(img, (int(a), int(b)), (int(c), int(d)), colour, -1)

    cxm = int((x1 + x2) / 2)
    if kind in ("coach", "minibus", "city_bus"):
        top = y1 + bh * (0.0 if kind != "minibus" else 0.05)
        rect(x1, top, x2, y2 - wh * 0.5, col)
        rect(x1 + bw * 0.06, top + bh * 0.05, x2 - bw * 0.06, top + bh * 0.38, (gl, gl, gl))
        if kind == "city_bus":  # engine grille: a dark rear panel low on the body
            rect(x1 + bw * 0.15, y1 + bh * 0.55, x2 - bw * 0.15, y1 + bh * 0.72, dark)
        if kind == "coach":  # luggage door seams
            cv2.line(
                img, (cxm, int(y1 + bh * 0.45)), (cxm, int(y2 - wh)), [c * 0.5 for c in col], 1
            )
    elif kind == "tanker":
        rect(x1, y1 + bh * 0.55, x2, y2 - wh * 0.9, [c * 0.7 for c in col])  # frame
        cv2.ellipse(
            img,
            (cxm, int(y1 + bh * 0.38)),
            (int(bw * 0.5), int(bh * 0.36)),
            0,
            0,
            360,
            col,
            -1,
        )
        cv2.ellipse(
            img,
            (cxm, int(y1 + bh * 0.38)),
            (int(bw * 0.5), int(bh * 0.36)),
            0,
            0,
            360,
            [c * 0.45 for c in col],
            max(1, int(bw * 0.03)),
        )
    elif kind == "flatbed":
        # a low empty bed; the cab's rear wall rises above it in the middle
        rect(x1 + bw * 0.12, y1 - bh * 0.9, x2 - bw * 0.12, y1 + bh * 0.2, col)
        rect(x1 + bw * 0.3, y1 - bh * 0.7, x2 - bw * 0.3, y1 - bh * 0.35, (gl, gl, gl))
        rect(x1, y1 + bh * 0.2, x2, y2 - wh * 0.8, [c * 0.6 for c in col])
    else:  # mixer: a drum on a frame
        rect(x1, y1 + bh * 0.6, x2, y2 - wh * 0.9, [c * 0.6 for c in col])
        cv2.ellipse(
            img,
            (cxm, int(y1 + bh * 0.35)),
            (int(bw * 0.45), int(bh * 0.33)),
            0,
            0,
            360,
            col,
            -1,
        )
        for k in range(3):
            yy = int(y1 + bh * (0.15 + 0.15 * k))
            cv2.line(
                img,
                (int(x1 + bw * 0.1), yy),
                (int(x2 - bw * 0.1), yy + int(bh * 0.05)),
                [c * 0.5 for c in col],
                1,
            )
    rect(x1 + bw * 0.02, y2 - wh * 1.3, x2 - bw * 0.02, y2 - wh * 0.9, dark)  # under-run bar


# --------------------------------------------------------------------------------------------
# hard conditions (each a SceneSpec flag; all draw from their own seeded generator, so switching
# one on leaves the rest of the scene as it was)


def _tree(img: F32, geom, rng: np.random.Generator) -> None:
    """A dark roadside tree canopy right beside where a vehicle is (static scenery)."""
    x1, y1, x2, y2 = geom
    bw, bh = x2 - x1, y2 - y1
    H, W = img.shape[:2]
    side = float(rng.choice([-1.0, 1.0]))
    cx = (x2 if side > 0 else x1) + side * bw * rng.uniform(0.0, 0.4)
    cy = y1 + bh * rng.uniform(-0.1, 0.5)
    r = max(2.0, bw * rng.uniform(0.3, 0.7))
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    blob = np.exp(-(((xx - cx) / r) ** 2 + ((yy - cy) / (r * 0.9)) ** 2))
    leaves = _fractal(rng, H, W, 3, max(4, int(W / max(r * 0.3, 2))))
    alpha = np.clip((blob * (0.5 + leaves) - 0.45) * 4, 0, 1)[..., None]
    g = float(rng.uniform(0.008, 0.04))
    img[:] = img * (1 - alpha) + alpha * np.array([g * 0.8, g * 1.2, g * 0.7], np.float32)


def _static_trees(lay: _Layout, w: int, h: int) -> None:
    """Dark trees are scenery: painted into the static background beside where the vehicles first
    are, so in a clip they stay put while the vehicles drive on (what a background model learns)."""
    lay.static = lay.static.copy()
    rng = np.random.default_rng((lay.fog_seed * 31 + lay.night_seed) % 2**63)
    for v in lay.vehicles:
        if rng.random() < 0.5:
            geom = _vehicle_geom(v, lay.road, w, h)
            if geom[2] - geom[0] >= 4:
                _tree(lay.static, geom, rng)


def _dark_confuser(img: F32, v: _Vehicle, geom, rng: np.random.Generator, before: bool) -> None:
    """Dark things that move with a vehicle and are not smoke. Called before the vehicle is drawn
    (its hard shadow on the road) and after (its own dark rear panel, wheel arches); trees are
    static scenery (:func:`_static_trees`)."""
    x1, y1, x2, y2 = geom
    bw, bh = x2 - x1, y2 - y1
    H, W = img.shape[:2]
    if bw < 4 or bh < 4:
        return
    kind = str(rng.choice(["shadow", "dark_rear", "arches"]))
    side = float(rng.choice([-1.0, 1.0]))
    if before and kind == "shadow":
        # a hard dark shadow on the road just beside/behind the vehicle, where exhaust plumes sit
        sx = (x2 if side > 0 else x1) - side * bw * 0.2
        poly = np.array(
            [
                [sx, y2 - bh * 0.25],
                [sx + side * bw * rng.uniform(0.4, 1.0), y2 - bh * rng.uniform(0.1, 0.4)],
                [sx + side * bw * rng.uniform(0.5, 1.2), y2 + bh * 0.05],
                [sx, y2 + bh * 0.05],
            ],
            np.int32,
        )
        m = np.zeros((H, W), np.uint8)
        cv2.fillPoly(m, [poly], 1)
        img[m.astype(bool)] *= float(rng.uniform(0.08, 0.3))
    elif not before and kind == "dark_rear" and v.kind not in ("car", "suv", "pickup"):
        # a soot-black rear panel or engine grille over the lower half of the body
        top = y1 + bh * rng.uniform(0.35, 0.6)
        g = float(rng.uniform(0.006, 0.025))
        cv2.rectangle(
            img,
            (int(x1 + bw * 0.05), int(top)),
            (int(x2 - bw * 0.05), int(y2 - bh * 0.22)),
            (g, g, g),
            -1,
        )
    elif not before and kind == "arches":
        r = int(max(2, bw * rng.uniform(0.1, 0.16)))
        for cx in (x1 + bw * 0.1, x2 - bw * 0.1):
            cv2.ellipse(
                img, (int(cx), int(y2)), (r, int(r * 1.1)), 0, 180, 360, (0.01, 0.01, 0.012), -1
            )


def _dust(img: F32, v: _Vehicle, geom, rng: np.random.Generator) -> None:
    x1, y1, x2, y2 = geom
    bw, bh = x2 - x1, y2 - y1
    H, W = img.shape[:2]
    if bw < 4:
        return
    side = float(rng.choice([-1.0, 1.0]))
    origin = ((x1 + x2) / 2 + side * bw * 0.3, y2 - bh * 0.05)
    dens = plume_density(
        rng,
        H,
        W,
        origin,
        (side * rng.uniform(0.3, 1.0), -0.15),
        bw * rng.uniform(0.8, 1.6),
        bw * 0.15,
        bw * 0.45,
        "dense",
    )
    alpha = (dens * float(rng.uniform(0.2, 0.5)))[..., None]
    lum = float(rng.uniform(0.25, 0.55))
    img[:] = img * (1 - alpha) + alpha * np.array([lum * 0.7, lum * 0.85, lum], np.float32)


def _rain(img: F32, rng: np.random.Generator) -> F32:
    H, W = img.shape[:2]
    veil = float(rng.uniform(0.1, 0.3))
    out = img * (1 - veil) + veil * float(img.mean())
    streaks = np.zeros((H, W), np.float32)
    angle = float(rng.uniform(-0.3, 0.3))
    n = int(W * H / 300 * rng.uniform(0.5, 1.5))
    xs = rng.uniform(0, W, n)
    ys = rng.uniform(0, H, n)
    ln = rng.uniform(0.03, 0.08, n) * H
    for x, y, length in zip(xs, ys, ln, strict=True):
        cv2.line(
            streaks,
            (int(x), int(y)),
            (int(x + angle * length), int(y + length)),
            float(rng.uniform(0.3, 1.0)),
            1,
        )
    blurred = cv2.GaussianBlur(streaks, (0, 0), 0.7)
    return (out + float(rng.uniform(0.04, 0.12)) * blurred[..., None]).astype(np.float32)


def _motion_blur(img: F32, rng: np.random.Generator) -> F32:
    W = img.shape[1]
    length = max(3, int(rng.uniform(3, 9) * W / 320)) | 1
    k = np.zeros((length, length), np.float32)
    angle = float(rng.uniform(-30, 30) if rng.random() < 0.7 else rng.uniform(60, 120))
    c = length // 2
    dx, dy = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    cv2.line(k, (int(c - dx * c), int(c - dy * c)), (int(c + dx * c), int(c + dy * c)), 1.0, 1)
    k /= max(float(k.sum()), 1e-6)
    # cv2 stubs type results as MatLike; filter2D with ddepth -1 keeps float32
    return cast(F32, cv2.filter2D(img, -1, k, borderType=cv2.BORDER_REFLECT))


def _degrade(u8: NDArray[np.uint8], rng: np.random.Generator) -> NDArray[np.uint8]:
    """Low resolution and heavy JPEG: shrink, compress hard, and scale back to the frame size."""
    h, w = u8.shape[:2]
    f = float(rng.uniform(0.3, 0.6))
    small = cv2.resize(u8, (max(8, int(w * f)), max(8, int(h * f))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(12, 40))])
    back = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
    if back is not None:
        small = back
    # cv2 stubs type results as MatLike; an 8-bit image stays 8-bit through resize
    return cast("NDArray[np.uint8]", cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR))


# --------------------------------------------------------------------------------------------
# plumes


def plume_density(
    rng: np.random.Generator,
    h: int,
    w: int,
    origin: tuple[float, float],
    direction: tuple[float, float],
    length: float,
    r0: float,
    r1: float,
    shape: str = "trail",
) -> F32:
    """Plume density in [0, 1] over an h×w canvas; its core (the densest 10 %) is ≈ 1."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dens = np.zeros((h, w), np.float32)
    dx, dy = direction
    norm = math.hypot(dx, dy) or 1.0
    dx, dy = dx / norm, dy / norm
    n = int(rng.integers(7, 15))
    for i in range(n):
        t = i / max(n - 1, 1)
        cx = origin[0] + dx * length * t + rng.normal(0, r0 * 0.4)
        cy = origin[1] + dy * length * t + rng.normal(0, r0 * 0.4)
        if shape == "puff":
            cy -= length * 0.25 * t * t  # buoyant puff curling upward
        r = r0 + (r1 - r0) * t
        weight = (1.0 - 0.5 * t if shape != "dense" else 1.0) * rng.uniform(0.7, 1.0)
        dens += weight * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
    # billows: turbulence at the scale of the puffs modulates the optical depth
    tex = _fractal(rng, h, w, 3, max(4, int(max(h, w) / max(r0 * 1.5, 2))))
    tau = dens * (0.35 + 0.65 * tex)
    tau = cv2.GaussianBlur(tau, (0, 0), max(0.6, r0 * 0.1))
    peak = float(tau.max())
    if peak <= 1e-6:
        return np.zeros((h, w), np.float32)
    inside = tau[tau > 0.15 * peak]
    # the densest 40 % of the visible plume is its core (density 1): plumes near the exhaust are
    # optically thick; a smoothstep gives the edges the definition real billows have
    core = float(np.quantile(inside, 0.6))
    d = np.clip(tau / max(core, 1e-6), 0.0, 1.0)
    return (d * d * (3 - 2 * d)).astype(np.float32)


def _plume_for(
    rng: np.random.Generator, v: _Vehicle, geom, w: int, h: int
) -> tuple[F32, tuple[float, float]]:
    x1, y1, x2, y2 = geom
    bw, bh = x2 - x1, y2 - y1
    side = v.exhaust_side
    if v.stack:
        origin = (x1 + bw * 0.1 if side < 0 else x2 - bw * 0.1, y1 - bh * 0.1)
        direction = (side * rng.uniform(0.3, 1.0), -rng.uniform(0.2, 1.0))
        shape = "puff"
    else:
        origin = (
            x1 + bw * rng.uniform(0.1, 0.3) if side < 0 else x2 - bw * rng.uniform(0.1, 0.3),
            y2 - bh * 0.1,
        )
        direction = (side * rng.uniform(0.2, 1.0), rng.uniform(-0.6, 0.5))
        shape = str(rng.choice(["trail", "puff", "dense"]))
    length = bw * rng.uniform(0.6, 1.8)
    r0 = bw * rng.uniform(0.08, 0.16)
    r1 = bw * rng.uniform(0.18, 0.4)
    return plume_density(rng, h, w, origin, direction, length, r0, r1, shape), origin


def _plume_colour(rng: np.random.Generator) -> np.ndarray:
    """Black/grey-black smoke, sometimes brownish or bluish, linear BGR."""
    g = float(rng.uniform(0.004, 0.04))
    tint = rng.choice(["neutral", "brown", "blue"], p=[0.6, 0.25, 0.15])
    if tint == "brown":
        return np.array([g * 0.7, g * 0.9, g * 1.3], np.float32)
    if tint == "blue":
        return np.array([g * 1.3, g, g * 0.85], np.float32)
    return np.array([g, g, g], np.float32)


# --------------------------------------------------------------------------------------------
# global conditions


def _fog(rng, img: F32, road: _Road, h: int) -> None:
    beta = float(rng.uniform(0.2, 0.9))
    airlight = float(rng.uniform(0.45, 0.8))
    ys = np.arange(h, dtype=np.float32)
    dist = np.where(
        ys > road.horizon + 1, (h - road.horizon) / np.maximum(ys - road.horizon, 1.0), 40.0
    )
    t = np.exp(-beta * 0.25 * dist).astype(np.float32)[:, None, None]
    img *= t
    img += airlight * (1 - t)


def _night(rng, img: F32, road: _Road, w: int, h: int) -> np.ndarray:
    ambient = float(rng.uniform(0.04, 0.15))
    field = np.full((h, w), ambient, np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for _ in range(int(rng.integers(1, 4))):
        lx = float(rng.uniform(0, w))
        ly = float(rng.uniform(road.horizon, h))
        r = float(rng.uniform(0.1, 0.3) * w)
        field += float(rng.uniform(0.3, 0.9)) * np.exp(
            -((xx - lx) ** 2 + (yy - ly) ** 2) / (2 * r * r)
        )
    return field[..., None] * np.array([0.75, 0.95, 1.15], np.float32)  # sodium-ish warm light


def _encode(rng: np.random.Generator, lin: F32, noise: bool, night: bool) -> NDArray[np.uint8]:
    u8 = linear_to_u8(lin)
    if not noise:
        return u8
    sigma = float(rng.uniform(3.0, 8.0) if night else rng.uniform(0.8, 3.0))
    noisy = u8.astype(np.float32) + rng.normal(0.0, sigma, u8.shape).astype(np.float32)
    u8 = np.clip(noisy, 0, 255).astype(np.uint8)
    q = int(rng.integers(55, 96))
    ok, buf = cv2.imencode(".jpg", u8, [cv2.IMWRITE_JPEG_QUALITY, q])
    back = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
    return u8 if back is None else cast("NDArray[np.uint8]", back)  # imdecode: 8-bit BGR


# --------------------------------------------------------------------------------------------
# scenes


def _pick(rng: np.random.Generator, value: bool | None, p: float) -> bool:
    return bool(rng.random() < p) if value is None else value


@dataclass(slots=True)
class _Layout:
    """Everything random about a scene that stays fixed over a pass (for clips)."""

    static: F32
    road: _Road
    vehicles: list[_Vehicle]
    smoky: list[bool]
    opacities: list[float]
    colours: list[np.ndarray]
    plume_seeds: list[int]
    shadow: bool
    wet: bool
    fog: bool
    night: bool
    vapour: int  # index of the vehicle with a white vapour plume, −1 for none
    fog_seed: int
    night_seed: int
    conditions: tuple[str, ...] = field(default_factory=tuple)
    degrade: bool = False
    motion_blur: bool = False
    rain: bool = False
    dark_confusers: bool = False
    dust: bool = False


def _layout(rng: np.random.Generator, spec: SceneSpec) -> _Layout:
    w, h = spec.width, spec.height
    shadow = _pick(rng, spec.shadow, 0.3)
    wet = _pick(rng, spec.wet, 0.15)
    fog = _pick(rng, spec.fog, 0.1)
    night = _pick(rng, spec.night, 0.12)
    static, road = _background(rng, w, h, shadow, wet)
    n = spec.vehicles if spec.vehicles is not None else int(rng.choice([0, 1, 1, 2, 2, 3, 4]))
    if spec.smoke and n == 0:
        n = 1
    depths = sorted((float(rng.uniform(0.0, 0.7)) for _ in range(n)), reverse=True)
    varied = _pick(rng, spec.varied_vehicles, HARD_FLAGS["varied_vehicles"])
    vehicles = [_make_vehicle(rng, road, d, varied) for d in depths]
    smoky = [False] * n
    if n:
        want = spec.smoke if spec.smoke is not None else bool(rng.random() < 0.55)
        if want:
            diesel = [i for i, v in enumerate(vehicles) if v.kind in DIESEL_KINDS]
            first = int(rng.choice(diesel)) if diesel else int(rng.integers(0, n))
            if not diesel:
                vehicles[first].kind = str(rng.choice(["box_truck", "bus", "tractor"]))
                vehicles[first].plate = "yellow"
            smoky[first] = True
            for i in range(n):
                if i != first and vehicles[i].kind in DIESEL_KINDS and rng.random() < 0.25:
                    smoky[i] = True
    opac = [
        spec.opacity if spec.opacity is not None else float(rng.uniform(0.3, 1.0)) for _ in range(n)
    ]
    vapour = -1
    if n and _pick(rng, spec.vapour, 0.1):
        cands = [i for i in range(n) if not smoky[i]]
        vapour = int(rng.choice(cands)) if cands else -1
    hard = {k: _pick(rng, getattr(spec, k), p) for k, p in HARD_FLAGS.items()}
    hard["varied_vehicles"] = varied
    conds = tuple(
        c
        for c, on in (
            ("shadow", shadow),
            ("wet", wet),
            ("fog", fog),
            ("night", night),
            ("vapour", vapour >= 0),
            *hard.items(),
        )
        if on
    )
    lay = _Layout(
        static=static,
        road=road,
        vehicles=vehicles,
        smoky=smoky,
        opacities=opac,
        colours=[_plume_colour(rng) for _ in range(n)],
        plume_seeds=[int(rng.integers(0, 2**31)) for _ in range(n)],
        shadow=shadow,
        wet=wet,
        fog=fog,
        night=night,
        vapour=vapour,
        fog_seed=int(rng.integers(0, 2**31)),
        night_seed=int(rng.integers(0, 2**31)),
        conditions=conds,
        degrade=hard["degrade"],
        motion_blur=hard["motion_blur"],
        rain=hard["rain"],
        dark_confusers=hard["dark_confusers"],
        dust=hard["dust"],
    )
    if lay.dark_confusers:
        _static_trees(lay, w, h)
    return lay


def _compose(rng: np.random.Generator, lay: _Layout, spec: SceneSpec) -> Scene:
    w, h = spec.width, spec.height
    img = lay.static.copy()
    boxes: list[Box] = []
    smoke_boxes: list[Box] = []
    opac_out: list[float] = []
    alpha_all = np.zeros((h, w), np.float32)
    plumes: list[tuple[F32, np.ndarray]] = []

    # the hard conditions draw from their own generator (seeded from the layout), so a flag
    # changes only what it adds; one seed per vehicle keeps its confuser steady over a pass
    def extra(k: int) -> np.random.Generator:
        return np.random.default_rng((lay.fog_seed * 7919 + lay.night_seed + 101 * k) % 2**63)

    for i, v in enumerate(lay.vehicles):  # far to near
        geom = _vehicle_geom(v, lay.road, w, h)
        if lay.dark_confusers:
            _dark_confuser(img, v, geom, extra(i), before=True)
        _draw_vehicle(img, v, geom, rng, lay.shadow, h)
        if lay.dark_confusers:
            _dark_confuser(img, v, geom, extra(i), before=False)
        if lay.dust and extra(50 + i).random() < 0.7:
            _dust(img, v, geom, extra(100 + i))
        x1, y1, x2, y2 = geom
        cx1, cy1, cx2, cy2 = max(0.0, x1), max(0.0, y1), min(float(w), x2), min(float(h), y2)
        area = (x2 - x1) * (y2 - y1)
        if cx2 - cx1 >= 3 and cy2 - cy1 >= 3 and (cx2 - cx1) * (cy2 - cy1) >= 0.4 * area:
            boxes.append(Box(VEHICLE, cx1, cy1, cx2, cy2))
        if lay.smoky[i] or i == lay.vapour:
            prng = np.random.default_rng(lay.plume_seeds[i])
            dens, _ = _plume_for(prng, v, geom, w, h)
            if i == lay.vapour:
                alpha = dens * float(prng.uniform(0.3, 0.7))
                colour = np.full(3, float(prng.uniform(0.6, 0.9)), np.float32)
            else:
                a_peak = lay.opacities[i]
                alpha = dens * a_peak
                colour = lay.colours[i]
                ys, xs = np.nonzero(alpha >= max(0.08, 0.35 * a_peak))
                if len(xs) >= 6:
                    b = Box(
                        SMOKE,
                        float(xs.min()),
                        float(ys.min()),
                        float(xs.max() + 1),
                        float(ys.max() + 1),
                    )
                    if (b.x2 - b.x1) >= 4 and (b.y2 - b.y1) >= 4:
                        smoke_boxes.append(b)
                        opac_out.append(a_peak)
                alpha_all = np.maximum(alpha_all, alpha)
            plumes.append((alpha, colour))
    # plumes are composited after every vehicle body, so a labelled plume is never hidden
    for alpha, colour in plumes:
        img = img * (1 - alpha[..., None]) + alpha[..., None] * colour
    bg = lay.static.copy()
    if lay.fog:
        _fog(np.random.default_rng(lay.fog_seed), img, lay.road, h)
        _fog(np.random.default_rng(lay.fog_seed), bg, lay.road, h)
    if lay.night:
        field_ = _night(np.random.default_rng(lay.night_seed), img, lay.road, w, h)
        img = img * field_
        bg = bg * field_
        for v in lay.vehicles:  # emissive tail lights
            x1, y1, x2, y2 = _vehicle_geom(v, lay.road, w, h)
            bw, bh = x2 - x1, y2 - y1
            for cx in (x1 + bw * 0.07, x2 - bw * 0.07):
                cv2.circle(
                    img,
                    (int(cx), int(y2 - bh * 0.3)),
                    max(1, int(bw * 0.06)),
                    (0.05, 0.05, 1.0),
                    -1,
                )
    if lay.rain:
        img = _rain(img, extra(200))
    if lay.motion_blur:
        img = _motion_blur(img, extra(201))
    image = _encode(rng, img, spec.noise, lay.night)
    if lay.degrade:
        image = _degrade(image, extra(202))
    background = linear_to_u8(bg)
    return Scene(
        image=image,
        background=background,
        boxes=tuple(boxes) + tuple(smoke_boxes),
        opacities=tuple(opac_out),
        conditions=lay.conditions,
        plume_alpha=alpha_all,
        vehicle_kinds=tuple(v.kind for v in lay.vehicles),
    )


def render_scene(rng: np.random.Generator, spec: SceneSpec | None = None) -> Scene:
    """Render one random scene following ``spec``."""
    spec = spec or SceneSpec()
    return _compose(rng, _layout(rng, spec), spec)


def render_pass(
    rng: np.random.Generator, frames: int, spec: SceneSpec | None = None
) -> list[Scene]:
    """A short clip from the fixed camera: the same vehicles drive away from the camera over
    ``frames`` frames (their plumes follow them), over an unchanging background."""
    if not 2 <= frames <= 500:
        raise ValidationError("frames", frames, "in [2, 500]")
    spec = spec or SceneSpec()
    return _pass_frames(rng, _layout(rng, spec), frames, spec)


class FixedCamera:
    """One fixed camera's view (road, light, weather drawn once); :meth:`next_pass` renders a new
    vehicle pass over that same background — what a camera's background model learns from."""

    def __init__(self, rng: np.random.Generator, spec: SceneSpec | None = None) -> None:
        self.rng = rng
        self.spec = spec or SceneSpec()
        self._base = _layout(rng, self.spec)
        self._first = True

    @property
    def background(self) -> NDArray[np.uint8]:
        return self._compose_empty()

    def _compose_empty(self) -> NDArray[np.uint8]:
        lay = self._base
        empty = _Layout(
            **{
                **{k: getattr(lay, k) for k in _Layout.__slots__},
                "vehicles": [],
                "smoky": [],
                "opacities": [],
                "colours": [],
                "plume_seeds": [],
                "vapour": -1,
            }
        )
        return _compose(
            self.rng,
            empty,
            SceneSpec(
                **{**{k: getattr(self.spec, k) for k in SceneSpec.__slots__}, "noise": False}
            ),
        ).image

    def next_pass(self, frames: int, spec: SceneSpec | None = None) -> list[Scene]:
        """A pass following ``spec`` (default: the camera's spec) over the fixed background."""
        if not 2 <= frames <= 500:
            raise ValidationError("frames", frames, "in [2, 500]")
        spec = spec or self.spec
        if self._first and spec is self.spec:
            self._first = False
            return _pass_frames(self.rng, self._base, frames, spec)
        lay = _layout(self.rng, spec)
        for k in (
            "static",
            "road",
            "shadow",
            "wet",
            "fog",
            "night",
            "fog_seed",
            "night_seed",
            "conditions",
        ):
            setattr(lay, k, getattr(self._base, k))
        return _pass_frames(self.rng, lay, frames, spec)


def render_passes(
    rng: np.random.Generator,
    passes: int,
    frames: int,
    spec: SceneSpec | None = None,
    other: SceneSpec | None = None,
) -> list[list[Scene]]:
    """Several passes in front of one fixed camera: the first follows ``spec``, the others
    ``other`` (default: random vehicles, with or without plumes)."""
    if not 1 <= passes <= 100:
        raise ValidationError("passes", passes, "in [1, 100]")
    spec = spec or SceneSpec()
    cam = FixedCamera(rng, spec)
    out = [cam.next_pass(frames)]
    ospec = other or SceneSpec(width=spec.width, height=spec.height, noise=spec.noise)
    out += [cam.next_pass(frames, ospec) for _ in range(passes - 1)]
    return out


def _pass_frames(
    rng: np.random.Generator, lay: _Layout, frames: int, spec: SceneSpec
) -> list[Scene]:
    start = [v.depth for v in lay.vehicles]
    out = []
    for f in range(frames):
        t = f / (frames - 1)
        for v, d0 in zip(lay.vehicles, start, strict=True):
            v.depth = min(0.92, d0 * 0.3 + 0.55 * t + 0.05)
        order = sorted(range(len(lay.vehicles)), key=lambda i: -lay.vehicles[i].depth)
        sub = _Layout(
            **{
                **{k: getattr(lay, k) for k in _Layout.__slots__},
                "vehicles": [lay.vehicles[i] for i in order],
                "smoky": [lay.smoky[i] for i in order],
                "opacities": [lay.opacities[i] for i in order],
                "colours": [lay.colours[i] for i in order],
                "plume_seeds": [lay.plume_seeds[i] + f for i in order],
                "vapour": order.index(lay.vapour) if lay.vapour >= 0 else -1,
            }
        )
        out.append(_compose(rng, sub, spec))
    return out


# --------------------------------------------------------------------------------------------
# known-opacity plumes and printed chart


@dataclass(frozen=True, slots=True, eq=False)
class TestPlume:
    """A frame with one black plume of known peak opacity, for grading tests."""

    image: NDArray[np.uint8]
    background: NDArray[np.uint8]
    box: Box
    opacity: float
    vehicle_boxes: tuple[Box, ...]

    @property
    def grade(self) -> float:
        return 5.0 * self.opacity


def render_test_plume(
    rng: np.random.Generator,
    opacity: float,
    width: int = 320,
    height: int = 320,
    noise: bool = True,
) -> TestPlume:
    """One truck with one plume of peak ``opacity`` in daylight, no fog, no cast shadows."""
    spec = SceneSpec(
        width=width,
        height=height,
        vehicles=1,
        smoke=True,
        opacity=opacity,
        shadow=False,
        wet=False,
        fog=False,
        night=False,
        vapour=False,
        noise=noise,
    )
    for _ in range(20):
        sc = render_scene(rng, spec)
        if sc.smoke_boxes:
            return TestPlume(sc.image, sc.background, sc.smoke_boxes[0], opacity, sc.vehicle_boxes)
    raise RuntimeError("could not place a visible plume in 20 tries")


@dataclass(frozen=True, slots=True, eq=False)
class ChartImage:
    """A camera picture of a printed Ringelmann chart: card boxes and their nominal % black."""

    image: NDArray[np.uint8]
    cards: tuple[tuple[Box, int], ...]  # (box of the card interior, grade 0–5)
    ink_reflectance: float
    paper_reflectance: float


def render_ringelmann_chart(
    rng: np.random.Generator,
    width: int = 640,
    height: int = 360,
    supersample: int = 4,
    noise: bool = True,
) -> ChartImage:
    """Photograph of a printed chart: six cards (grades 0–5) of black grid lines on white paper.

    A card of grade N is a grid whose line width w and pitch p give a black coverage
    1 − (1 − w/p)² = N/5 (grade 5 is solid black). The photo has uneven illumination, a slight
    tilt, optical blur (the camera cannot resolve the grid) and sensor noise.
    """
    s = supersample
    W, H = width * s, height * s
    paper = float(rng.uniform(0.7, 0.88))
    ink = float(rng.uniform(0.02, 0.05))
    canvas = np.full((H, W), paper, np.float32)
    margin_x, margin_y = int(W * 0.06), int(H * 0.25)
    gap = int(W * 0.025)
    card_w = (W - 2 * margin_x - 5 * gap) // 6
    card_h = H - 2 * margin_y
    pitch = max(8, card_w // 10)
    quads = []
    for g in range(6):
        x0 = margin_x + g * (card_w + gap)
        y0 = margin_y
        cover = g / 5.0
        lw = pitch * (1 - math.sqrt(1 - cover)) if g < 5 else pitch
        card = np.full((card_h, card_w), paper, np.float32)
        if g == 5:
            card[:] = ink
        elif g > 0:
            # exact coverage: fractional line widths by area-weighted edge pixels
            for axis in (0, 1):
                n = card_h if axis == 0 else card_w
                pos = np.arange(n, dtype=np.float32)
                frac = np.clip(lw - (pos % pitch), 0.0, 1.0)  # fraction of each pixel that is ink
                if axis == 0:
                    card = card * (1 - frac[:, None]) + ink * frac[:, None]
                else:
                    card = np.minimum(card, card * (1 - frac[None, :]) + ink * frac[None, :])
        canvas[y0 : y0 + card_h, x0 : x0 + card_w] = card
        quads.append((x0, y0, x0 + card_w, y0 + card_h, g))
    # illumination: smooth gradient + vignetting
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    gx, gy = rng.uniform(-0.25, 0.25, 2)
    light = 1.0 + gx * (xx / W - 0.5) + gy * (yy / H - 0.5)
    light *= float(rng.uniform(0.6, 1.1))
    img = canvas * light
    # slight tilt (perspective), then blur and downsample to the camera resolution
    jitter = rng.uniform(-0.02, 0.02, (4, 2)).astype(np.float32) * np.array([W, H], np.float32)
    src = np.array([[0, 0], [W, 0], [W, H], [0, H]], np.float32)
    M = cv2.getPerspectiveTransform(src, src + jitter)
    img = cv2.warpPerspective(img, M, (W, H), borderValue=float(paper * 0.5))
    img = cv2.GaussianBlur(img, (0, 0), s * 1.2)
    img = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
    bgr = cast(F32, np.repeat(img[..., None], 3, axis=2))  # float32 through the cv2 steps above
    u8 = _encode(rng, bgr, noise, False)
    cards = []
    for x0, y0, x1, y1, g in quads:
        pts = (
            cv2.perspectiveTransform(
                np.array([[[x0, y0], [x1, y0], [x1, y1], [x0, y1]]], np.float32), M
            )[0]
            / s
        )
        bx1, by1 = pts[:, 0].max(axis=0) if False else pts[[0, 3], 0].max(), pts[[0, 1], 1].max()
        bx2, by2 = pts[[1, 2], 0].min(), pts[[2, 3], 1].min()
        inset = 0.12 * (bx2 - bx1)
        cards.append((Box(SMOKE, bx1 + inset, by1 + inset, bx2 - inset, by2 - inset), g))
    return ChartImage(u8, tuple(cards), ink, paper)


# --------------------------------------------------------------------------------------------
# datasets


def iter_scenes(seed: int, count: int, spec: SceneSpec | None = None) -> Iterator[Scene]:
    rng = np.random.default_rng(seed)
    for _ in range(count):
        yield render_scene(rng, spec)


def write_dataset(
    out_dir: str | Path,
    train: int = 400,
    val: int = 80,
    test: int = 0,
    seed: int = 2026,
    size: int = 320,
    progress: bool = False,
    hard: float = 0.0,
) -> Path:
    """Write a YOLO dataset and return the path of its ``data.yaml`` (absolute paths inside).

    Splits use disjoint seeds (``seed``, ``seed+1``, ``seed+2``), so the test split is never seen
    in training. ``hard`` is the share of scenes drawn from the harder mix (:meth:`SceneSpec.hard`;
    0: none, 1: all), spread evenly; the others are default scenes. Seeds of the held-out
    validation range (:mod:`smoke_capture.heldout`) are refused.
    """
    from smoke_capture.heldout import HELDOUT_SEEDS

    if any(s in HELDOUT_SEEDS for s in (seed, seed + 1, seed + 2)):
        raise ValidationError(
            "seed",
            seed,
            f"outside the held-out validation range {HELDOUT_SEEDS.start}–{HELDOUT_SEEDS.stop - 1}",
        )
    if not 0.0 <= hard <= 1.0:
        raise ValidationError("hard", hard, "a share in [0, 1]", "fraction")
    out = Path(out_dir).resolve()
    plain, tough = SceneSpec(width=size, height=size), SceneSpec.hard(width=size, height=size)
    splits = [("train", train, seed), ("val", val, seed + 1), ("test", test, seed + 2)]
    for name, count, sd in splits:
        if count <= 0:
            continue
        (out / "images" / name).mkdir(parents=True, exist_ok=True)
        (out / "labels" / name).mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(sd)
        it: Iterator[Scene] = (
            render_scene(rng, tough if int((i + 1) * hard) > int(i * hard) else plain)
            for i in range(count)
        )
        if progress:
            from tqdm import tqdm

            it = tqdm(it, total=count, desc=f"synth {name}", unit="img")
        for i, sc in enumerate(it):
            stem = f"{name}_{i:05d}"
            cv2.imwrite(
                str(out / "images" / name / f"{stem}.jpg"), sc.image, [cv2.IMWRITE_JPEG_QUALITY, 92]
            )
            lines = [b.yolo(size, size) for b in sc.boxes]
            (out / "labels" / name / f"{stem}.txt").write_text(
                "\n".join(lines) + ("\n" if lines else "")
            )
    data = out / "data.yaml"
    names = "\n".join(f"  {i}: {n}" for i, n in enumerate(CLASS_NAMES))
    lines = [f"path: {out}", "train: images/train", "val: images/val"]
    if test > 0:
        lines.append("test: images/test")
    data.write_text("\n".join(lines) + f"\nnames:\n{names}\n")
    return data


def boxes_from_labels(label_file: str | Path, width: int, height: int) -> list[Box]:
    """Read a YOLO label file back into pixel boxes."""
    out = []
    for line in Path(label_file).read_text().splitlines():
        parts = line.split()
        if len(parts) != 5:
            continue
        c, cx, cy, bw, bh = int(parts[0]), *map(float, parts[1:])
        out.append(
            Box(
                c,
                (cx - bw / 2) * width,
                (cy - bh / 2) * height,
                (cx + bw / 2) * width,
                (cy + bh / 2) * height,
            )
        )
    return out


def contact_sheet(scenes: Sequence[Scene], cols: int = 4) -> NDArray[np.uint8]:
    """Tile scenes with their boxes drawn (for eyeballing the generator)."""
    tiles = []
    for sc in scenes:
        im = sc.image.copy()
        for b in sc.boxes:
            colour = (0, 255, 0) if b.cls == VEHICLE else (0, 0, 255)
            cv2.rectangle(im, (int(b.x1), int(b.y1)), (int(b.x2), int(b.y2)), colour, 1)
        tiles.append(im)
    while len(tiles) % cols:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.hstack(tiles[i : i + cols]) for i in range(0, len(tiles), cols)]
    return np.vstack(rows)

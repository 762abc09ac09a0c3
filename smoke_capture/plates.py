"""Plate association: which plate belongs to a vehicle pass (pure).

Responsible for reading plate records from the two places a smoke camera gets them — the camera's
own ANPR metadata (a dict per frame or per trigger, vendor field names) and an ANPR sidecar (a
separate plate camera writing JSON lines: time, camera, lane, plate, colour, type) — normalising
them (upper case, no separators, colour names/codes mapped), and matching a pass to the read
closest in time within a tolerance, same camera and lane. No read, or no read close enough, gives
:data:`UNKNOWN`, a value: the pass is still reported, keyed by camera and track.

Known limits: colour codes differ between vendors; the default map is the GA 36 / upload-format
one (0 blue, 1 yellow, 2 white, 3 black, 4 green, 5 yellow-green) and another map can be passed.
Matching is by time only (no plate-box geometry), so two vehicles in one lane within the tolerance
are ambiguous: the read is then flagged ``plate_ambiguous``.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import SupportsFloat, cast

from core.errors import ValidationError
from core.events import require_range
from smoke_capture.events import PLATE_COLOURS, UNKNOWN_PLATE

DEFAULT_COLOUR_CODES: dict[str, str] = {
    "0": "blue",
    "1": "yellow",
    "2": "white",
    "3": "black",
    "4": "green",
    "5": "yellow_green",
}
COLOUR_WORDS: dict[str, str] = {
    "蓝": "blue",
    "黄": "yellow",
    "白": "white",
    "黑": "black",
    "绿": "green",
    "渐变绿": "green",
    "黄绿": "yellow_green",
    "blue": "blue",
    "yellow": "yellow",
    "white": "white",
    "black": "black",
    "green": "green",
    "yellow_green": "yellow_green",
    "yellowgreen": "yellow_green",
}


def normalise_plate(text: str) -> str:
    t = str(text).strip().upper()
    for ch in " ·.-_\t":
        t = t.replace(ch, "")
    return t


def normalise_colour(value: object, codes: Mapping[str, str] = DEFAULT_COLOUR_CODES) -> str:
    v = str(value).strip().lower() if value is not None else ""
    if v in codes:
        return codes[v]
    v = v.replace("色", "").replace("牌", "")
    return COLOUR_WORDS.get(v, "unknown")


@dataclass(frozen=True, slots=True)
class PlateRead:
    plate: str
    colour: str
    plate_type: str
    confidence: float
    ts: datetime | None
    lane: int | None
    source: str  # "anpr_metadata" | "anpr_sidecar" | "none"
    flags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.plate:
            raise ValidationError("plate", self.plate, f"plate text or {UNKNOWN_PLATE!r}")
        if self.colour not in PLATE_COLOURS:
            raise ValidationError("colour", self.colour, f"one of {', '.join(PLATE_COLOURS)}")
        require_range("confidence", self.confidence, 0.0, 1.0, "fraction")

    @property
    def known(self) -> bool:
        return self.plate != UNKNOWN_PLATE


UNKNOWN = PlateRead(UNKNOWN_PLATE, "unknown", "", 0.0, None, None, "none")

# Field names seen in camera ANPR metadata (first match wins).
_PLATE_KEYS = ("plate", "plateNo", "plate_no", "hphm", "license", "carPlate")
_COLOUR_KEYS = ("plateColor", "plate_colour", "plate_color", "hpys", "colour", "color")
_TYPE_KEYS = ("plateType", "plate_type", "hpzl")
_CONF_KEYS = ("confidence", "plateConfidence", "conf")
_LANE_KEYS = ("lane", "laneNo", "cdh")


def _first(meta: Mapping[str, object], keys: Iterable[str]) -> object | None:
    for k in keys:
        if k in meta and meta[k] not in (None, ""):
            return meta[k]
    return None


def from_metadata(
    meta: Mapping[str, object],
    ts: datetime | None,
    source: str = "anpr_metadata",
    codes: Mapping[str, str] = DEFAULT_COLOUR_CODES,
) -> PlateRead:
    """One ANPR record (camera metadata or sidecar line) → :class:`PlateRead`, or :data:`UNKNOWN`
    when it holds no usable plate (e.g. "无牌", "未识别", empty)."""
    raw = _first(meta, _PLATE_KEYS)
    plate = normalise_plate(str(raw)) if raw is not None else ""
    if not plate or plate in ("无牌", "未识别", "UNKNOWN", "NONE", "-"):
        return UNKNOWN
    conf_raw = _first(meta, _CONF_KEYS)
    try:
        # whatever float() refuses raises TypeError / ValueError, handled below
        conf = float(cast("SupportsFloat | str", conf_raw)) if conf_raw is not None else 0.9
    except (TypeError, ValueError):
        conf = 0.5
    if conf > 1.0:  # percent
        conf = conf / 100.0
    conf = min(max(conf, 0.0), 1.0)
    lane_raw = _first(meta, _LANE_KEYS)
    try:
        lane = int(str(lane_raw)) if lane_raw is not None else None
    except ValueError:
        lane = None
    ptype = _first(meta, _TYPE_KEYS)
    return PlateRead(
        plate=plate,
        colour=normalise_colour(_first(meta, _COLOUR_KEYS), codes),
        plate_type=str(ptype).zfill(2) if ptype is not None else "",
        confidence=conf,
        ts=ts,
        lane=lane,
        source=source,
    )


def parse_sidecar_line(line: str) -> tuple[str, PlateRead]:
    """One JSON line of an ANPR sidecar: ``{"ts": ISO-8601 with offset, "camera": id, ...}``.

    Returns (camera id, read). Raises ``ValidationError`` naming the field on a bad line.
    """
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        raise ValidationError("sidecar line", line[:60], "a JSON object") from None
    if not isinstance(obj, dict):
        raise ValidationError("sidecar line", line[:60], "a JSON object")
    cam = obj.get("camera") or obj.get("camera_id")
    if not cam:
        raise ValidationError("camera", cam, "a camera id")
    try:
        ts = datetime.fromisoformat(str(obj.get("ts")))
    except ValueError:
        raise ValidationError("ts", obj.get("ts"), "ISO-8601 time with offset") from None
    if ts.tzinfo is None:
        raise ValidationError("ts", obj.get("ts"), "ISO-8601 time with offset (devices send GMT+8)")
    return str(cam), from_metadata(obj, ts, source="anpr_sidecar")


@dataclass(slots=True)
class PlateIndex:
    """Plate reads of one camera, sorted by time, for matching passes. Bounded (oldest dropped)."""

    tolerance_s: float = 2.0
    capacity: int = 10_000
    _times: list[float] = field(default_factory=list)
    _reads: list[PlateRead] = field(default_factory=list)
    bad_lines: int = 0

    def add(self, read: PlateRead) -> None:
        if not read.known or read.ts is None:
            return
        t = read.ts.timestamp()
        i = bisect.bisect_right(self._times, t)
        self._times.insert(i, t)
        self._reads.insert(i, read)
        if len(self._times) > self.capacity:
            del self._times[0]
            del self._reads[0]

    def add_sidecar(self, lines: Iterable[str], camera_id: str) -> int:
        """Add the sidecar lines of ``camera_id``; bad lines are counted, not raised."""
        n = 0
        for line in lines:
            if not line.strip():
                continue
            try:
                cam, read = parse_sidecar_line(line)
            except ValidationError:
                self.bad_lines += 1
                continue
            if cam == camera_id:
                self.add(read)
                n += 1
        return n

    def match(self, start: datetime, end: datetime, lane: int | None = None) -> PlateRead:
        """The read closest to the pass window [start, end] (within ``tolerance_s``), same lane
        when both know it; :data:`UNKNOWN` when none."""
        lo = start.timestamp() - self.tolerance_s
        hi = end.timestamp() + self.tolerance_s
        i = bisect.bisect_left(self._times, lo)
        j = bisect.bisect_right(self._times, hi)
        cands = [r for r in self._reads[i:j] if lane is None or r.lane is None or r.lane == lane]
        if not cands:
            return UNKNOWN
        mid = (start.timestamp() + end.timestamp()) / 2

        def dist(r: PlateRead) -> float:
            t = r.ts.timestamp() if r.ts else mid
            if start.timestamp() <= t <= end.timestamp():
                return 0.0
            return min(abs(t - start.timestamp()), abs(t - end.timestamp()))

        cands.sort(key=lambda r: (dist(r), -r.confidence))
        best = cands[0]
        distinct = {r.plate for r in cands}
        if len(distinct) > 1:
            return PlateRead(
                best.plate,
                best.colour,
                best.plate_type,
                best.confidence,
                best.ts,
                best.lane,
                best.source,
                (*best.flags, "plate_ambiguous"),
            )
        return best

"""Vehicle tracking and plume association over the frames of one fixed camera (pure).

Responsible for turning per-frame detections into *passes*: a vehicle track (greedy IoU matching
with a centre-distance fallback for fast movers) and, per frame, the smoke detections attached to
it. A smoke box is attached to the vehicle it overlaps most after growing the vehicle box by
``reach`` × its size (plumes leave the exhaust below/behind the vehicle or a stack above it); ties
go to the nearer vehicle (lower in the image = closer to the camera). A track ends when unseen for
``max_missed`` frames; then it is reported once as a :class:`Pass` — one event per vehicle pass,
never per frame. Passes with fewer than ``min_smoke_frames`` smoky frames are reported as clean.

Known limits: greedy matching (no Kalman filter, no re-identification): two vehicles crossing each
other's boxes may swap tracks; a plume drifting across lanes may be attached to the neighbour (the
reviewer sees the clip). Frames must arrive in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from core.errors import ValidationError
from smoke_capture.detections import Detection, box_distance, iou


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    iou_match: float = 0.2
    centre_match: float = 0.6  # max centre shift as a fraction of the box diagonal
    max_missed: int = 5
    min_vehicle_frames: int = 2
    min_smoke_frames: int = 2
    reach: float = 0.6  # growth of the vehicle box for plume association
    min_vehicle_conf: float = 0.3
    min_smoke_conf: float = 0.25

    def __post_init__(self) -> None:
        if self.max_missed < 0:
            raise ValidationError("max_missed", self.max_missed, ">= 0 frames")
        if not 0 <= self.iou_match <= 1:
            raise ValidationError("iou_match", self.iou_match, "in [0, 1]")


@dataclass(frozen=True, slots=True)
class Observation:
    """One frame of a track: the vehicle box and the plume boxes attached to it."""

    frame_index: int
    ts: datetime
    vehicle: Detection
    smoke: tuple[Detection, ...]


@dataclass(frozen=True, slots=True)
class Pass:
    """A finished vehicle pass."""

    track_id: int
    observations: tuple[Observation, ...]

    @property
    def smoky(self) -> tuple[Observation, ...]:
        return tuple(o for o in self.observations if o.smoke)

    @property
    def first_ts(self) -> datetime:
        return self.observations[0].ts

    @property
    def last_ts(self) -> datetime:
        return self.observations[-1].ts

    @property
    def best_smoke_confidence(self) -> float:
        return max((s.confidence for o in self.observations for s in o.smoke), default=0.0)


@dataclass(slots=True)
class _Track:
    track_id: int
    last: Detection
    observations: list[Observation] = field(default_factory=list)
    missed: int = 0


class Tracker:
    """Feed frames in order with :meth:`update`; it returns the passes that ended. Call
    :meth:`flush` at the end of a stream to close the remaining tracks."""

    def __init__(self, config: TrackerConfig | None = None, first_track_id: int = 1) -> None:
        self.config = config or TrackerConfig()
        self._tracks: list[_Track] = []
        self._next = first_track_id
        self._last_index: int | None = None
        self.unattached_smoke = 0  # plume detections with no vehicle near them (counted)
        self.last_frame: list[
            tuple[int, Observation]
        ] = []  # (track id, observation) of the last update

    @property
    def active(self) -> int:
        return len(self._tracks)

    def update(self, frame_index: int, ts: datetime, detections: Sequence[Detection]) -> list[Pass]:
        cfg = self.config
        if self._last_index is not None and frame_index <= self._last_index:
            raise ValidationError(
                "frame_index", frame_index, f"> {self._last_index} (frames in order)"
            )
        self._last_index = frame_index
        vehicles = [
            d for d in detections if d.cls == "vehicle" and d.confidence >= cfg.min_vehicle_conf
        ]
        smokes = [d for d in detections if d.cls == "smoke" and d.confidence >= cfg.min_smoke_conf]
        assigned = self._match(vehicles)
        plumes = self._attach(vehicles, smokes)
        matched_tracks: set[int] = set()
        self.last_frame = []
        for vi, v in enumerate(vehicles):
            ti = assigned.get(vi)
            if ti is None:
                tr = _Track(self._next, v)
                self._next += 1
                self._tracks.append(tr)
            else:
                tr = self._tracks[ti]
            tr.last = v
            tr.missed = 0
            obs = Observation(frame_index, ts, v, tuple(plumes.get(vi, ())))
            tr.observations.append(obs)
            self.last_frame.append((tr.track_id, obs))
            matched_tracks.add(tr.track_id)
        ended: list[Pass] = []
        keep: list[_Track] = []
        for tr in self._tracks:
            if tr.track_id not in matched_tracks:
                tr.missed += 1
            if tr.missed > cfg.max_missed:
                p = self._finish(tr)
                if p is not None:
                    ended.append(p)
            else:
                keep.append(tr)
        self._tracks = keep
        return ended

    def flush(self) -> list[Pass]:
        out = [p for p in (self._finish(t) for t in self._tracks) if p is not None]
        self._tracks = []
        return out

    # ---- internals -------------------------------------------------------------------------

    def _finish(self, tr: _Track) -> Pass | None:
        if len(tr.observations) < self.config.min_vehicle_frames:
            return None
        return Pass(tr.track_id, tuple(tr.observations))

    def _match(self, vehicles: Sequence[Detection]) -> dict[int, int]:
        """Greedy matching: detection index → track index."""
        cfg = self.config
        pairs: list[tuple[float, int, int]] = []
        for vi, v in enumerate(vehicles):
            for ti, tr in enumerate(self._tracks):
                score = iou(v.box, tr.last.box)
                if score < cfg.iou_match:
                    (cx, cy), (tx, ty) = v.centre, tr.last.centre
                    diag = ((tr.last.x2 - tr.last.x1) ** 2 + (tr.last.y2 - tr.last.y1) ** 2) ** 0.5
                    shift = ((cx - tx) ** 2 + (cy - ty) ** 2) ** 0.5
                    if diag <= 0 or shift > cfg.centre_match * diag:
                        continue
                    score = 0.01 * (1 - shift / (cfg.centre_match * diag))  # below any IoU match
                pairs.append((score, vi, ti))
        pairs.sort(reverse=True)
        used_v: set[int] = set()
        used_t: set[int] = set()
        out: dict[int, int] = {}
        for _score, vi, ti in pairs:
            if vi in used_v or ti in used_t:
                continue
            out[vi] = ti
            used_v.add(vi)
            used_t.add(ti)
        return out

    def _attach(
        self, vehicles: Sequence[Detection], smokes: Sequence[Detection]
    ) -> dict[int, list[Detection]]:
        reach = self.config.reach
        out: dict[int, list[Detection]] = {}
        for s in smokes:
            best: tuple[float, float, int] | None = None
            for vi, v in enumerate(vehicles):
                w, h = v.x2 - v.x1, v.y2 - v.y1
                grown = (v.x1 - reach * w, v.y1 - reach * h, v.x2 + reach * w, v.y2 + reach * h)
                ix = max(0.0, min(grown[2], s.x2) - max(grown[0], s.x1))
                iy = max(0.0, min(grown[3], s.y2) - max(grown[1], s.y1))
                share = ix * iy / s.area
                if share <= 0:
                    continue
                key = (share, v.y2, vi)  # then the nearer vehicle (larger y2)
                if best is None or key > best:
                    best = key
            if best is None:
                self.unattached_smoke += 1
                continue
            out.setdefault(best[2], []).append(s)
        return out


def nearest_vehicle(smoke: Detection, vehicles: Sequence[Detection]) -> Detection | None:
    """The vehicle box closest to a plume box (used for stills, where there is no track)."""
    if not vehicles:
        return None
    return min(vehicles, key=lambda v: (box_distance(smoke.box, v.box), -v.y2))

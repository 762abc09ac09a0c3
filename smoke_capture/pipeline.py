"""One camera's processing chain: detections → tracks → Ringelmann grades → capture events.

Responsible for gluing the pure parts together for a fixed camera:

* a per-pixel background model (running temporal median of sampled frames) for the grader;
* the tracker (one pass per vehicle), with every plume detection graded in the frame it appears
  (vehicle boxes and the strip under each vehicle excluded), so only the best frame's pixels need to
  be kept, not the whole pass;
* temporal evidence (video): a pass becomes a capture only when, besides its plume boxes, the
  background model saw the box darker than the empty road in enough of its frames, and unevenly
  so (:func:`smoke_capture.ringelmann.temporal_evidence`) — a box on a tree, a building's shadow or
  another dark thing that is always there reads no darker than the background and is dropped
  (``passes{kind=no_darkness}``), as is a box on a hard shadow or a dark panel moving with the
  vehicle, which darkens by one even factor where a plume thins out (``uniform_darkness``);
  without a background model yet the capture carries ``no_temporal_evidence``;
* when a pass ends with at least ``min_smoke_frames`` graded frames: the pass grade (confidence-
  weighted median), the plate (ANPR metadata or sidecar, unknown as a value), the evidence bundle
  (best frame, crops, clip from the frame buffer, hashes) and a :class:`SmokeCapture` event.

The detector is not called here (frames arrive with their detections), so the chain is testable with
synthetic boxes. Evidence writing is the only IO; pass ``evidence_root=None`` to skip it (the event
then lists no files, and confirmation will be blocked by BS-EVIDENCE).

Known limits: the background model needs a few frames of the empty road after start-up; until then
grades use the ring-reference fallback and carry ``no_background_model``. Clip frames are stored
downscaled to at most ``clip_width`` pixels wide to bound memory.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from core.errors import ValidationError
from core.metrics import Metrics
from smoke_capture import ringelmann
from smoke_capture.detections import Detection
from smoke_capture.events import UNKNOWN_PLATE, SmokeCapture
from smoke_capture.plates import UNKNOWN, PlateIndex, PlateRead
from smoke_capture.rules import calibration_status
from smoke_capture.tracking import Pass, Tracker, TrackerConfig

COMPONENT = "smoke"


@dataclass(frozen=True, slots=True)
class CameraInfo:
    camera_id: str
    site_id: str
    jurisdiction: str
    lane: int = 1
    calibration_valid_until: date | None = None

    @classmethod
    def from_registry(cls, cam: Any) -> CameraInfo:
        cal = getattr(cam, "calibration", None)
        return cls(
            camera_id=cam.id,
            site_id=cam.site,
            jurisdiction=cam.jurisdiction,
            lane=int(getattr(cam, "lane", 1) or 1),
            calibration_valid_until=getattr(cal, "valid_until", None) if cal is not None else None,
        )


@dataclass(slots=True)
class _TrackGrades:
    grades: list[ringelmann.Grade] = field(default_factory=list)
    best_score: float = -1.0
    best_image: NDArray[np.uint8] | None = None
    best_plume: tuple[float, float, float, float] | None = None
    best_vehicle: tuple[float, float, float, float] | None = None
    best_ts: datetime | None = None
    best_conf: float = 0.0
    plate_reads: list[PlateRead] = field(default_factory=list)


class CameraPipeline:
    def __init__(
        self,
        camera: CameraInfo,
        model_version: str,
        fps: float,
        evidence_root: Path | None = None,
        plates: PlateIndex | None = None,
        tracker: TrackerConfig | None = None,
        grader: ringelmann.GraderConfig | None = None,
        clip_seconds: float = 12.0,
        clip_width: int = 640,
        background_frames: int = 15,
        background_every: int = 2,
        metrics: Metrics | None = None,
        temporal: ringelmann.TemporalConfig | None = None,
    ) -> None:
        if fps <= 0:
            raise ValidationError("fps", fps, "> 0", "frames/s")
        self.camera = camera
        self.model_version = model_version
        self.fps = fps
        self.evidence_root = evidence_root
        self.plates = plates or PlateIndex()
        self.tracker = Tracker(tracker)
        self.grader = grader or ringelmann.GraderConfig()
        self.temporal = temporal or ringelmann.TemporalConfig()
        self.background = ringelmann.BackgroundModel(background_frames, background_every)
        self.clip_width = clip_width
        self._clip: deque[tuple[datetime, NDArray[np.uint8]]] = deque(
            maxlen=max(2, int(clip_seconds * fps))
        )
        self._tracks: dict[int, _TrackGrades] = {}
        self.metrics = metrics
        self.passes_clean = 0
        self.passes_smoky = 0

    # ---- feeding -------------------------------------------------------------------------

    def process(
        self,
        index: int,
        ts: datetime,
        image: NDArray[np.uint8],
        detections: Sequence[Detection],
        anpr: dict[str, object] | None = None,
    ) -> list[SmokeCapture]:
        """One frame with its detections (and the camera's ANPR metadata for it, if any)."""
        self._clip.append((ts, self._small(image)))
        bg = self.background.background()
        ended = self.tracker.update(index, ts, detections)
        vehicles = [d.box for d in detections if d.cls == "vehicle"]
        read = None
        if anpr:
            from smoke_capture.plates import from_metadata

            read = from_metadata(anpr, ts)
        for track_id, obs in self.tracker.last_frame:
            tg = self._tracks.setdefault(track_id, _TrackGrades())
            if read is not None and read.known:
                tg.plate_reads.append(read)
            for s in obs.smoke:
                try:
                    g = ringelmann.grade_plume(image, s.box, bg, vehicles, self.grader)
                except ValidationError:
                    self._count("ungradable_plume")
                    continue
                tg.grades.append(g)
                score = s.confidence * max(g.confidence, 0.05) * (0.5 + g.opacity)
                if score > tg.best_score:
                    tg.best_score = score
                    tg.best_image = image.copy()
                    tg.best_plume = s.box
                    tg.best_vehicle = obs.vehicle.box
                    tg.best_ts = ts
                tg.best_conf = max(tg.best_conf, s.confidence)
        # the background learns after grading, so a plume never grades against itself
        self.background.update(image)
        return [c for c in (self._finish(p) for p in ended) if c is not None]

    def flush(self) -> list[SmokeCapture]:
        return [c for c in (self._finish(p) for p in self.tracker.flush()) if c is not None]

    # ---- internals -----------------------------------------------------------------------

    def _small(self, image: NDArray[np.uint8]) -> NDArray[np.uint8]:
        h, w = image.shape[:2]
        if w <= self.clip_width:
            return image.copy()
        import cv2

        r = self.clip_width / w
        small = cv2.resize(
            image, (self.clip_width, max(1, round(h * r))), interpolation=cv2.INTER_AREA
        )
        return cast("NDArray[np.uint8]", small)  # cv2 stubs: MatLike; resize keeps the dtype

    def _count(self, name: str, labels: dict[str, str] | None = None) -> None:
        if self.metrics is not None:
            self.metrics.inc(
                COMPONENT, name, 1, {"camera": self.camera.camera_id, **(labels or {})}
            )

    def _finish(self, p: Pass) -> SmokeCapture | None:
        tg = self._tracks.pop(p.track_id, None)
        if (
            tg is None
            or len(tg.grades) < self.tracker.config.min_smoke_frames
            or tg.best_image is None
        ):
            self.passes_clean += 1
            self._count("passes", {"kind": "clean"})
            return None
        evidence = ringelmann.temporal_evidence(tg.grades, self.temporal)
        if self.temporal.enabled and evidence.verdict in ("absent", "uniform"):
            # plume boxes, but the background model saw nothing darken (a static dark thing), or
            # saw one even darkening (a shadow or dark panel moving with the vehicle)
            self.passes_clean += 1
            self._count(
                "passes",
                {"kind": "no_darkness" if evidence.verdict == "absent" else "uniform_darkness"},
            )
            return None
        self.passes_smoky += 1
        self._count("passes", {"kind": "smoky"})
        pg = ringelmann.aggregate_pass(tg.grades)
        read = self._plate(p, tg)
        cam = self.camera
        assert tg.best_ts is not None and tg.best_plume is not None
        status = calibration_status(cam.calibration_valid_until, tg.best_ts)
        event_id = SmokeCapture.make_id(cam.camera_id, p.track_id, p.first_ts)
        files: tuple[str, ...] = ()
        hashes: tuple[str, ...] = ()
        uri = ""
        clip_s = 0.0
        if self.evidence_root is not None:
            from smoke_capture.evidence import write_bundle

            folder = self.evidence_root / cam.camera_id / p.first_ts.strftime("%Y%m%d") / event_id
            clip = [img for t, img in self._clip]
            bundle = write_bundle(
                folder,
                best_frame=tg.best_image,
                plume_box=tg.best_plume,
                vehicle_box=tg.best_vehicle,
                plate_box=None,
                clip_frames=clip,
                clip_fps=self.fps,
                meta={
                    "capture_id": event_id,
                    "camera_id": cam.camera_id,
                    "site_id": cam.site_id,
                    "jurisdiction": cam.jurisdiction,
                    "lane": cam.lane,
                    "first_ts": p.first_ts,
                    "last_ts": p.last_ts,
                    "best_ts": tg.best_ts,
                    "grade": pg.grade,
                    "grade_confidence": pg.confidence,
                    "frame_grades": [g.grade for g in tg.grades],
                    "model_version": self.model_version,
                    "detector_confidence": round(tg.best_conf, 4),
                    # the model's own boxes in best_frame_raw.jpg pixels: what a review corrects
                    "plume_box": [round(float(v), 1) for v in tg.best_plume],
                    "vehicle_box": None
                    if tg.best_vehicle is None
                    else [round(float(v), 1) for v in tg.best_vehicle],
                    "calibration_status": status,
                    "plate": read.plate,
                    "plate_colour": read.colour,
                },
            )
            files, hashes, uri, clip_s = (
                bundle.names,
                bundle.hashes,
                bundle.uri,
                bundle.clip_seconds,
            )
        flags = set(pg.flags) | set(read.flags)
        if evidence.verdict == "unavailable":
            flags.add(ringelmann.NO_TEMPORAL_EVIDENCE)
        return SmokeCapture(
            event_id=event_id,
            ts=tg.best_ts,
            camera_id=cam.camera_id,
            site_id=cam.site_id,
            jurisdiction=cam.jurisdiction,
            lane=cam.lane,
            track_id=p.track_id,
            first_ts=p.first_ts,
            last_ts=p.last_ts,
            plate=read.plate if read.known else UNKNOWN_PLATE,
            plate_colour=read.colour,
            plate_type=read.plate_type,
            plate_source=read.source,
            vehicle_class="vehicle",
            grade=pg.grade,
            grade_confidence=pg.confidence,
            opacity=pg.opacity,
            frames=pg.frames,
            detector_confidence=round(tg.best_conf, 4),
            grader_method=tg.grades[0].method
            if all(g.method == tg.grades[0].method for g in tg.grades)
            else "mixed",
            quality_flags=tuple(sorted(flags)),
            model_version=self.model_version,
            calibration_status=status,
            evidence_uri=uri,
            evidence_files=files,
            evidence_sha256=hashes,
            clip_seconds=clip_s,
        )

    def _plate(self, p: Pass, tg: _TrackGrades) -> PlateRead:
        if tg.plate_reads:
            return max(tg.plate_reads, key=lambda r: r.confidence)
        read = self.plates.match(p.first_ts, p.last_ts, self.camera.lane)
        if not read.known:
            self._count("plate_unknown")
        return read if read.known else UNKNOWN

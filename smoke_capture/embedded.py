"""The black-smoke service inside a process: cameras → detector → tracker → grader → events.

Responsible for wiring the camera pipeline to the platform (core/service.py):

* the detector is the live model of the registry (``emwatch smoke promote``), else the shipped model
  (``smoke_capture/models/smoke_yolov8n.onnx``), or the file in
  ``EMW_SMOKE_MODEL``). With no model present the service starts anyway, does nothing, says so in
  ``describe()`` and sets the gauge ``smoke/model_present`` to 0 — the rest of the platform is not
  held hostage by a missing file;
* when ``ctx.simulate`` is true, one simulated camera per registered camera renders synthetic passes
  (a truck with or without a plume, shadows, wet road…), with an ANPR sidecar giving the plate, and
  runs them through the real detector and pipeline; without simulation, cameras with a ``url`` are
  read through OpenCV (``smoke_capture.sources``);
* every camera runs in its own task: a camera that fails is reported offline (gauge
  ``smoke/camera_online`` = 0, counter ``smoke/camera_offline``) and retried, the others go on;
* captures are published with ``ctx.publish`` (returns once the bus accepted them); evidence is
  written under ``<data_dir>/smoke_capture/evidence``.

Known limits: detection runs in the default thread pool, one frame at a time per camera; the
simulated cameras run at ``1 × sim_scale`` frame per second to leave the shared CPU to the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from core.service import ServiceContext
from core.timeutil import utcnow
from smoke_capture.detector import Detector, ModelError, load_detector
from smoke_capture.pipeline import CameraInfo, CameraPipeline
from smoke_capture.plates import PlateIndex, PlateRead
from smoke_capture.registry import live_model_path

log = logging.getLogger(__name__)
COMPONENT = "smoke"
SIM_FPS = 1.0
PROVINCE_BY_JURISDICTION = {"qingpu": "沪", "wujiang": "苏", "jiashan": "浙"}


@dataclass(slots=True)
class SmokeService:
    name: str
    model_version: str | None
    model_problem: str | None
    cameras: list[str]
    evidence_dir: Path
    published: int = 0
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def stop(self) -> None:
        self._stop.set()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()

    def describe(self) -> dict[str, str]:
        if self.model_version is None:
            return {
                "Black-smoke cameras": f"idle — {self.model_problem} (train one: emwatch smoke train --ship)"
            }
        cams = ", ".join(self.cameras) or "none registered"
        return {
            "Black-smoke cameras": f"{len(self.cameras)} camera(s): {cams}; model {self.model_version}",
            "Smoke evidence": str(self.evidence_dir),
        }


def _sim_plate(rng: np.random.Generator, jurisdiction: str) -> tuple[str, str]:
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    prov = PROVINCE_BY_JURISDICTION.get(jurisdiction, "沪")
    serial = "".join(str(int(d)) for d in rng.integers(0, 10, 5))
    if rng.random() < 0.08:
        return f"{prov}{letters[int(rng.integers(0, 24))]}D{serial}", "green"
    return f"{prov}{letters[int(rng.integers(0, 24))]}{serial}", "yellow"


async def simulated_frames(
    cam: CameraInfo, plates: PlateIndex, seed: int, fps: float, stop: asyncio.Event, size: int = 320
) -> AsyncIterator[tuple[int, Any, np.ndarray]]:
    """Synthetic passes in front of one camera, paced at ``fps``; plates go to the sidecar index."""
    from smoke_capture import synth

    rng = np.random.default_rng(seed)
    base = synth.SceneSpec(width=size, height=size, vehicles=1, night=False, fog=False)
    camera = await asyncio.to_thread(synth.FixedCamera, rng, base)
    empty = camera.background
    index = 0
    while not stop.is_set():
        spec = synth.SceneSpec(width=size, height=size, vehicles=1, smoke=bool(rng.random() < 0.6))
        scenes = await asyncio.to_thread(camera.next_pass, 10, spec)
        plate, colour = _sim_plate(rng, cam.jurisdiction)
        start = utcnow()
        ptype = "52" if colour == "green" else "01"
        plates.add(
            PlateRead(
                plate, colour, ptype, 0.95, start + timedelta(seconds=1), cam.lane, "anpr_sidecar"
            )
        )
        for sc in scenes:
            yield index, utcnow(), sc.image
            index += 1
            await asyncio.sleep(1.0 / fps)
        for _ in range(6):  # empty road between passes (the background model learns it)
            yield index, utcnow(), empty
            index += 1
            await asyncio.sleep(1.0 / fps)


async def run_camera(
    ctx: ServiceContext,
    svc: SmokeService,
    detector: Detector,
    pipe: CameraPipeline,
    frames: AsyncIterator[tuple[int, Any, np.ndarray]],
) -> None:
    cam = pipe.camera.camera_id
    labels = {"camera": cam}
    ctx.metrics.gauge(COMPONENT, "camera_online", 1.0, labels)
    async for index, ts, image in frames:
        try:
            dets = await asyncio.to_thread(detector.detect, image)
        except ValueError as exc:
            ctx.metrics.inc(COMPONENT, "bad_frames", 1, {**labels, "reason": "undetectable"})
            log.debug("camera %s frame %s: %s", cam, index, exc)
            continue
        ctx.metrics.inc(COMPONENT, "frames", 1, labels)
        events = await asyncio.to_thread(pipe.process, index, ts, image, dets)
        if events:
            await ctx.publish(events)
            svc.published += len(events)
            ctx.metrics.inc(COMPONENT, "captures", len(events), labels)


async def _supervise(ctx: ServiceContext, svc: SmokeService, cam: CameraInfo, make: Any) -> None:
    """Run one camera; on failure report it offline and retry with backoff."""
    delay = 1.0
    while not svc._stop.is_set():
        try:
            await make()
            delay = 1.0
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one camera must never stop the others
            ctx.metrics.gauge(COMPONENT, "camera_online", 0.0, {"camera": cam.camera_id})
            ctx.metrics.inc(COMPONENT, "camera_offline", 1, {"camera": cam.camera_id})
            log.warning("smoke camera %s failed: %s; retrying in %.0f s", cam.camera_id, exc, delay)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(svc._stop.wait(), timeout=delay)
        delay = min(delay * 2, 60.0)


async def start(ctx: ServiceContext) -> SmokeService:
    base = ctx.data_dir / "smoke_capture"
    evidence = base / "evidence"
    cams = [CameraInfo.from_registry(c) for c in ctx.registry.cameras]
    env_model = os.environ.get("EMW_SMOKE_MODEL")
    # the registry's live model (emwatch smoke promote / rollback), else the shipped one
    model_path = Path(env_model) if env_model else live_model_path(ctx.data_dir)
    detector: Detector | None = None
    problem = None
    if model_path is None:
        problem = "no model present in smoke_capture/models/"
    else:
        try:
            detector = await asyncio.to_thread(load_detector, model_path, None, 0.25, 1)
        except ModelError as exc:
            problem = str(exc)
    svc = SmokeService(
        name="smoke_capture",
        model_version=detector.model_version if detector else None,
        model_problem=problem,
        cameras=[c.camera_id for c in cams],
        evidence_dir=evidence,
    )
    ctx.metrics.gauge(COMPONENT, "model_present", 1.0 if detector else 0.0)
    if detector is None:
        log.warning("black-smoke service idle: %s", problem)
        return svc
    fps = SIM_FPS * max(ctx.sim_scale, 0.1)
    for i, cam in enumerate(cams):
        plates = PlateIndex(tolerance_s=3.0)
        pipe = CameraPipeline(
            cam,
            detector.model_version,
            fps=fps,
            evidence_root=evidence,
            plates=plates,
            metrics=ctx.metrics,
        )
        make: Any
        if ctx.simulate:

            def make_simulated(cam=cam, pipe=pipe, plates=plates, seed=1000 + i) -> Any:
                return run_camera(
                    ctx, svc, detector, pipe, simulated_frames(cam, plates, seed, fps, svc._stop)
                )

            make = make_simulated
        else:
            url = next((c.url for c in ctx.registry.cameras if c.id == cam.camera_id), "")
            if not url:
                continue

            def make_live(cam=cam, pipe=pipe, url=url) -> Any:
                return run_camera(ctx, svc, detector, pipe, _live_frames(ctx, cam, url))

            make = make_live

        svc._tasks.append(
            asyncio.create_task(_supervise(ctx, svc, cam, make), name=f"smoke:{cam.camera_id}")
        )
    return svc


async def _live_frames(
    ctx: ServiceContext, cam: CameraInfo, url: str
) -> AsyncIterator[tuple[int, Any, np.ndarray]]:
    from smoke_capture.sources import StreamSource, iterate_in_thread

    src = StreamSource(url, cam.camera_id, target_fps=5.0, metrics=ctx.metrics, max_attempts=3)
    async for fr in iterate_in_thread(src):
        yield fr.index, fr.ts, fr.image

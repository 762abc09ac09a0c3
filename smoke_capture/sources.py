"""Frame sources: video files, image folders and live camera URLs (RTSP/HTTP) through OpenCV.

Responsible for delivering :class:`Frame` objects (camera id, sequence index, timestamp, BGR image)
with sampling (every n-th decoded frame, or a target rate), and for reporting trouble per source
without stopping the others:

* a frame that cannot be decoded is counted (``smoke`` / ``bad_frames`` with labels camera and
  reason) and skipped; an unreadable image file in a folder is counted and skipped;
* a video that cannot be opened, or a corrupt file that stops decoding, ends that source with a
  :class:`SourceError` (one line: camera, what, why);
* a live camera that disconnects is retried with exponential backoff; while it is down the gauge
  ``smoke`` / ``camera_online`` (label camera) reads 0 and ``camera_offline`` events are counted,
  which the platform status page shows.

Timestamps: video files use ``start_ts`` + the container's position (ms); image folders use
``start_ts`` + index / fps (or each file's modification time with ``use_mtime``); live streams use
the injected ``now`` (the one place a clock is read, at the edge).

Known limits: OpenCV's RTSP/HTTP client blocks while connecting; run live sources in a thread
(:func:`iterate_in_thread`). The container position of some streams is 0 for every frame; then the
index / fps is used instead.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol, cast

import numpy as np
from numpy.typing import NDArray

from core.errors import EmwError, ValidationError
from core.metrics import Metrics
from core.timeutil import utcnow

COMPONENT = "smoke"
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


class SourceError(EmwError):
    """A frame source failed as a whole (cannot open, corrupt, gave up reconnecting)."""

    def __init__(self, camera_id: str, what: str, why: str) -> None:
        self.camera_id = camera_id
        super().__init__(f"camera {camera_id}: {what}: {why}")


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    camera_id: str
    index: int
    ts: datetime
    image: NDArray[np.uint8]

    def __post_init__(self) -> None:
        if self.ts.tzinfo is None:
            raise ValidationError("ts", self.ts, "a timezone-aware datetime")
        if self.image.ndim != 3 or self.image.shape[2] != 3:
            raise ValidationError("image", self.image.shape, "H×W×3 BGR")


class FrameSource(Protocol):
    camera_id: str

    def frames(self) -> Iterator[Frame]: ...


def _bad(metrics: Metrics | None, camera_id: str, reason: str) -> None:
    if metrics is not None:
        metrics.inc(COMPONENT, "bad_frames", 1, {"camera": camera_id, "reason": reason})


def _online(metrics: Metrics | None, camera_id: str, up: bool) -> None:
    if metrics is not None:
        metrics.gauge(COMPONENT, "camera_online", 1.0 if up else 0.0, {"camera": camera_id})
        if not up:
            metrics.inc(COMPONENT, "camera_offline", 1, {"camera": camera_id})


def read_image(path: Path) -> NDArray[np.uint8]:
    """Read an image file as BGR; raises ``ValueError`` with the reason when it cannot."""
    import cv2

    if not path.exists():
        raise ValueError("file not found")
    if path.is_dir():
        raise ValueError("is a folder")
    data = np.fromfile(str(path), dtype=np.uint8)
    if data.size == 0:
        raise ValueError("empty file")
    img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError("not a decodable image")
    return cast(
        "NDArray[np.uint8]", img
    )  # cv2's stubs type every image as MatLike (any dtype); 8-bit BGR here


@dataclass(slots=True)
class ImageFolderSource:
    folder: Path
    camera_id: str
    start_ts: datetime
    fps: float = 5.0
    every: int = 1
    use_mtime: bool = False
    metrics: Metrics | None = None

    def frames(self) -> Iterator[Frame]:
        if not self.folder.is_dir():
            raise SourceError(self.camera_id, str(self.folder), "not a folder")
        files = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_EXTS)
        _online(self.metrics, self.camera_id, True)
        for i, p in enumerate(files):
            if i % self.every:
                continue
            try:
                img = read_image(p)
            except ValueError:
                _bad(self.metrics, self.camera_id, "undecodable_image")
                continue
            if self.use_mtime:
                ts = datetime.fromtimestamp(p.stat().st_mtime, tz=self.start_ts.tzinfo)
            else:
                ts = self.start_ts + timedelta(seconds=i / self.fps)
            yield Frame(self.camera_id, i, ts, img)


@dataclass(slots=True)
class VideoFileSource:
    path: Path
    camera_id: str
    start_ts: datetime
    every: int = 1
    target_fps: float | None = None  # sample down to this rate (overrides ``every``)
    max_bad: int = 25  # consecutive undecodable frames before the file counts as corrupt
    metrics: Metrics | None = None

    def frames(self) -> Iterator[Frame]:
        import cv2

        if not self.path.exists():
            raise SourceError(self.camera_id, str(self.path), "file not found")
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            _online(self.metrics, self.camera_id, False)
            raise SourceError(
                self.camera_id, str(self.path), "cannot open video (codec or corrupt file)"
            )
        try:
            fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
            fps = fps if math.isfinite(fps) and fps > 0 else 25.0
            every = self.every
            if self.target_fps:
                every = max(1, round(fps / self.target_fps))
            total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            _online(self.metrics, self.camera_id, True)
            index = -1
            bad_run = 0
            delivered = 0
            while True:
                ok = cap.grab()
                index += 1
                if not ok:
                    if total and index < total - 1 and bad_run < self.max_bad:
                        bad_run += 1
                        _bad(self.metrics, self.camera_id, "undecodable_frame")
                        continue
                    break
                if index % every:
                    continue
                ok, img = cap.retrieve()
                if not ok or img is None:
                    bad_run += 1
                    _bad(self.metrics, self.camera_id, "undecodable_frame")
                    if bad_run >= self.max_bad:
                        raise SourceError(
                            self.camera_id, str(self.path), f"{bad_run} undecodable frames in a row"
                        )
                    continue
                bad_run = 0
                pos = cap.get(cv2.CAP_PROP_POS_MSEC)
                seconds = pos / 1000.0 if pos and pos > 0 else index / fps
                delivered += 1
                ts = self.start_ts + timedelta(seconds=seconds)
                yield Frame(
                    self.camera_id, index, ts, cast("NDArray[np.uint8]", img)
                )  # decoded frames are 8-bit
            if delivered == 0:
                raise SourceError(self.camera_id, str(self.path), "no decodable frame")
        finally:
            cap.release()


@dataclass(slots=True)
class StreamSource:
    """A live camera (``rtsp://``, ``http://`` MJPEG, or any URL OpenCV opens)."""

    url: str
    camera_id: str
    target_fps: float = 5.0
    reconnect_s: float = 1.0
    max_reconnect_s: float = 60.0
    max_attempts: int | None = None  # None: retry forever
    now: Callable[[], datetime] = utcnow
    sleep: Callable[[float], None] = time.sleep
    metrics: Metrics | None = None
    stop: Callable[[], bool] = lambda: False

    def frames(self) -> Iterator[Frame]:
        import cv2

        attempts = 0
        delay = self.reconnect_s
        index = 0
        while not self.stop():
            cap = cv2.VideoCapture(self.url)
            if not cap.isOpened():
                cap.release()
                attempts += 1
                _online(self.metrics, self.camera_id, False)
                if self.max_attempts is not None and attempts >= self.max_attempts:
                    raise SourceError(
                        self.camera_id, _redact(self.url), f"unreachable after {attempts} attempts"
                    )
                self.sleep(delay)
                delay = min(delay * 2, self.max_reconnect_s)
                continue
            _online(self.metrics, self.camera_id, True)
            attempts, delay = 0, self.reconnect_s
            min_gap = 1.0 / self.target_fps if self.target_fps > 0 else 0.0
            last: datetime | None = None
            try:
                while not self.stop():
                    ok, img = cap.read()
                    if not ok or img is None:
                        _bad(self.metrics, self.camera_id, "stream_read_failed")
                        break  # reconnect
                    ts = self.now()
                    if last is not None and (ts - last).total_seconds() < min_gap:
                        continue
                    last = ts
                    yield Frame(
                        self.camera_id, index, ts, cast("NDArray[np.uint8]", img)
                    )  # 8-bit BGR
                    index += 1
            finally:
                cap.release()
            _online(self.metrics, self.camera_id, False)


def _redact(url: str) -> str:
    """Hide credentials in a camera URL (rtsp://user:pass@host → rtsp://***@host)."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def open_source(
    spec: str,
    camera_id: str,
    start_ts: datetime,
    metrics: Metrics | None = None,
    target_fps: float = 5.0,
) -> FrameSource:
    """A source for a path or URL: folder → images, file → video, ``scheme://`` → live stream."""
    if "://" in spec:
        return StreamSource(spec, camera_id, target_fps=target_fps, metrics=metrics)
    p = Path(spec)
    if p.is_dir():
        return ImageFolderSource(p, camera_id, start_ts, fps=target_fps, metrics=metrics)
    return VideoFileSource(p, camera_id, start_ts, target_fps=target_fps, metrics=metrics)


async def iterate_in_thread(source: FrameSource, maxsize: int = 8) -> AsyncIterator[Frame]:
    """Run a blocking source in a worker thread and yield its frames on the event loop.

    A failing source raises its :class:`SourceError` here, in this source's task only."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Frame | BaseException | None] = asyncio.Queue(maxsize=maxsize)
    cancelled = False

    def pump() -> None:
        try:
            for fr in source.frames():
                if cancelled:
                    return
                asyncio.run_coroutine_threadsafe(queue.put(fr), loop).result()
            asyncio.run_coroutine_threadsafe(queue.put(None), loop).result()
        except BaseException as exc:  # delivered to the consumer, not lost in the thread
            if not cancelled:
                asyncio.run_coroutine_threadsafe(queue.put(exc), loop).result()

    fut = loop.run_in_executor(None, pump)
    try:
        while True:
            item = await queue.get()
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        cancelled = True
        while not queue.empty():
            queue.get_nowait()
        if fut.done():
            fut.result()

"""Frame sources: image folders with a bad file, video files, corrupt video, unreachable camera."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import cv2
import numpy as np
import pytest

from core.metrics import Metrics
from core.timeutil import beijing
from smoke_capture.sources import (
    ImageFolderSource,
    SourceError,
    StreamSource,
    VideoFileSource,
    iterate_in_thread,
    open_source,
)

T0 = beijing(2026, 11, 23, 9, 0, 0)


def frames(n, h=48, w=64):
    return [np.full((h, w, 3), 20 * i, np.uint8) for i in range(n)]


def test_image_folder_skips_and_counts_unreadable_files(tmp_path):
    for i, f in enumerate(frames(3)):
        cv2.imwrite(str(tmp_path / f"{i:03d}.png"), f)
    (tmp_path / "001b.jpg").write_bytes(b"not a jpeg")
    m = Metrics()
    got = list(ImageFolderSource(tmp_path, "CAM-1", T0, fps=2.0, metrics=m).frames())
    assert [fr.index for fr in got] == [0, 1, 3]  # 001b.jpg (index 2) is the broken one
    assert got[2].ts == T0 + timedelta(seconds=1.5)
    assert m.counter("smoke", "bad_frames", {"camera": "CAM-1", "reason": "undecodable_image"}) == 1


def test_video_file_frames_sampled_with_timestamps(tmp_path):
    path = tmp_path / "clip.avi"
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    assert vw.isOpened()
    for f in frames(10):
        vw.write(f)
    vw.release()
    got = list(VideoFileSource(path, "CAM-1", T0, target_fps=5.0).frames())
    assert [fr.index for fr in got] == [0, 2, 4, 6, 8]
    assert got[1].ts - got[0].ts == pytest.approx(
        timedelta(seconds=0.2), abs=timedelta(milliseconds=5)
    )
    assert got[0].image.shape == (48, 64, 3)


def test_corrupt_video_is_an_error_for_that_source_only(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x01garbage" * 100)
    m = Metrics()
    with pytest.raises(SourceError, match="CAM-9"):
        list(VideoFileSource(bad, "CAM-9", T0, metrics=m).frames())
    with pytest.raises(SourceError, match="file not found"):
        list(VideoFileSource(tmp_path / "none.mp4", "CAM-9", T0).frames())


def test_unreachable_camera_is_reported_offline_and_retried():
    m = Metrics()
    sleeps = []
    src = StreamSource(
        "rtsp://user:secret@127.0.0.1:9/none",
        "CAM-X",
        max_attempts=3,
        metrics=m,
        sleep=sleeps.append,
        reconnect_s=0.5,
    )
    with pytest.raises(SourceError) as exc:
        list(src.frames())
    assert "secret" not in str(exc.value) and "CAM-X" in str(exc.value)
    assert sleeps == [0.5, 1.0]
    assert m.counter("smoke", "camera_offline", {"camera": "CAM-X"}) == 3
    snap = {(c, n, lk): v for c, n, lk, v in m.snapshot()}
    assert snap[("smoke", "camera_online", "camera=CAM-X")] == 0.0


def test_open_source_dispatch(tmp_path):
    assert isinstance(open_source(str(tmp_path), "C", T0), ImageFolderSource)
    assert isinstance(open_source("http://127.0.0.1:1/x.mjpg", "C", T0), StreamSource)
    assert isinstance(open_source(str(tmp_path / "a.mp4"), "C", T0), VideoFileSource)


async def test_iterate_in_thread_delivers_frames_and_errors(tmp_path):
    for i, f in enumerate(frames(4)):
        cv2.imwrite(str(tmp_path / f"{i}.png"), f)
    got = [fr.index async for fr in iterate_in_thread(ImageFolderSource(tmp_path, "C", T0))]
    assert got == [0, 1, 2, 3]
    with pytest.raises(SourceError):
        async for _ in iterate_in_thread(ImageFolderSource(tmp_path / "nope", "C", T0)):
            pass
    await asyncio.sleep(0)

"""Evidence bundles for smoke captures: files an officer can review and a court can check.

Responsible for writing, per capture, a folder with

* ``best_frame.jpg`` — the frame with the strongest graded plume, plume and vehicle boxes drawn on a
  copy (``best_frame_raw.jpg`` is the untouched frame);
* ``plume_crop.jpg`` and ``plate_crop.jpg`` (the ANPR plate box when known, otherwise the lower
  middle of the vehicle box where plates sit: its manifest entry then says ``estimated``);
* ``clip.mp4`` (MPEG-4 part 2 via OpenCV; ``clip.avi`` MJPEG when that codec is missing) made of
  the frames buffered around the pass;
* ``manifest.json`` — grade and confidence, model version, camera, site, lane, times, calibration
  status, and the SHA-256 and size of every other file.

The capture event carries the file names and their hashes; :func:`verify_bundle` recomputes them.
Writing is IO: callers run it off the event loop (``asyncio.to_thread``).

Known limits: the clip's duration is what the camera buffer held (the rules require ≥ 10 s for
confirmation: a short clip blocks confirmation rather than failing here); files are written to a
local folder — moving them to object storage keeps the hashes valid.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core.errors import ValidationError

MANIFEST = "manifest.json"


@dataclass(frozen=True, slots=True)
class EvidenceFile:
    name: str
    role: str  # best_frame | best_frame_raw | plume_crop | plate_crop | clip
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class EvidenceBundle:
    uri: str
    files: tuple[EvidenceFile, ...]
    clip_seconds: float
    manifest_sha256: str

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.files)

    @property
    def hashes(self) -> tuple[str, ...]:
        return tuple(f.sha256 for f in self.files)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _crop(img: NDArray[np.uint8], box: Sequence[float], pad: float = 0.1) -> NDArray[np.uint8]:
    h, w = img.shape[:2]
    x1, y1, x2, y2 = box
    px, py = (x2 - x1) * pad, (y2 - y1) * pad
    ix1, iy1 = max(0, int(x1 - px)), max(0, int(y1 - py))
    ix2, iy2 = min(w, int(np.ceil(x2 + px))), min(h, int(np.ceil(y2 + py)))
    if ix2 <= ix1 or iy2 <= iy1:
        raise ValidationError("crop box", tuple(box), f"a box overlapping the {w}×{h} frame", "px")
    return img[iy1:iy2, ix1:ix2].copy()


def estimated_plate_box(vehicle_box: Sequence[float]) -> tuple[float, float, float, float]:
    """Where a rear plate sits on a vehicle seen from behind: lower middle of its box."""
    x1, y1, x2, y2 = vehicle_box
    w, h = x2 - x1, y2 - y1
    return (x1 + 0.3 * w, y1 + 0.62 * h, x2 - 0.3 * w, y1 + 0.9 * h)


def _write_image(path: Path, img: NDArray[np.uint8]) -> None:
    import cv2

    ok, buf = cv2.imencode(path.suffix, img, [cv2.IMWRITE_JPEG_QUALITY, 92])
    if not ok:
        raise OSError(f"cannot encode {path.name}")
    path.write_bytes(buf.tobytes())


def _write_clip(folder: Path, frames: Sequence[NDArray[np.uint8]], fps: float) -> Path | None:
    import cv2

    if not frames:
        return None
    h, w = frames[0].shape[:2]
    for name, fourcc in (("clip.mp4", "mp4v"), ("clip.avi", "MJPG")):
        path = folder / name
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), float(fps), (w, h))
        if not writer.isOpened():
            writer.release()
            continue
        for f in frames:
            writer.write(f if f.shape[:2] == (h, w) else cv2.resize(f, (w, h)))
        writer.release()
        if path.exists() and path.stat().st_size > 0:
            return path
        path.unlink(missing_ok=True)
    return None


def write_bundle(
    folder: Path,
    *,
    best_frame: NDArray[np.uint8],
    plume_box: Sequence[float],
    vehicle_box: Sequence[float] | None,
    plate_box: Sequence[float] | None,
    clip_frames: Sequence[NDArray[np.uint8]],
    clip_fps: float,
    meta: dict[str, Any],
) -> EvidenceBundle:
    """Write the bundle into ``folder`` (created) and return its file list with hashes."""
    import cv2

    if clip_fps <= 0:
        raise ValidationError("clip_fps", clip_fps, "> 0", "frames/s")
    folder.mkdir(parents=True, exist_ok=True)
    roles: list[tuple[str, str]] = []
    raw = folder / "best_frame_raw.jpg"
    _write_image(raw, best_frame)
    annotated = best_frame.copy()
    cv2.rectangle(
        annotated,
        (int(plume_box[0]), int(plume_box[1])),
        (int(plume_box[2]), int(plume_box[3])),
        (0, 0, 255),
        2,
    )
    if vehicle_box is not None:
        vb = vehicle_box
        cv2.rectangle(annotated, (int(vb[0]), int(vb[1])), (int(vb[2]), int(vb[3])), (0, 255, 0), 2)
    _write_image(folder / "best_frame.jpg", annotated)
    roles += [("best_frame.jpg", "best_frame"), ("best_frame_raw.jpg", "best_frame_raw")]
    _write_image(folder / "plume_crop.jpg", _crop(best_frame, plume_box))
    roles.append(("plume_crop.jpg", "plume_crop"))
    plate_estimated = False
    pbox = plate_box
    if pbox is None and vehicle_box is not None:
        pbox = estimated_plate_box(vehicle_box)
        plate_estimated = True
    if pbox is not None:
        _write_image(folder / "plate_crop.jpg", _crop(best_frame, pbox, pad=0.05))
        roles.append(("plate_crop.jpg", "plate_crop"))
    clip = _write_clip(folder, clip_frames, clip_fps)
    clip_seconds = len(clip_frames) / clip_fps if clip is not None else 0.0
    if clip is not None:
        roles.append((clip.name, "clip"))
    files = []
    for name, role in roles:
        p = folder / name
        files.append(EvidenceFile(name, role, sha256_file(p), p.stat().st_size))
    manifest = {
        **meta,
        "clip_seconds": round(clip_seconds, 2),
        "clip_fps": clip_fps,
        "plate_crop": "estimated"
        if plate_estimated
        else ("anpr" if plate_box is not None else "none"),
        "files": [
            {"name": f.name, "role": f.role, "sha256": f.sha256, "size": f.size} for f in files
        ],
    }
    mpath = folder / MANIFEST
    tmp = mpath.with_suffix(".tmp")
    tmp.write_text(
        json.dumps(manifest, ensure_ascii=False, sort_keys=True, indent=1, default=_json_default)
    )
    os.replace(tmp, mpath)
    return EvidenceBundle(str(folder), tuple(files), round(clip_seconds, 2), sha256_file(mpath))


def _json_default(o: object) -> object:
    if isinstance(o, datetime):
        return o.isoformat()
    if isinstance(o, np.generic):
        return o.item()
    return str(o)


def verify_bundle(folder: Path) -> list[str]:
    """Problems found when re-hashing a bundle: missing files or hash mismatches (empty = intact)."""
    mpath = folder / MANIFEST
    if not mpath.exists():
        return [f"{MANIFEST} missing"]
    try:
        manifest = json.loads(mpath.read_text())
    except json.JSONDecodeError:
        return [f"{MANIFEST} unreadable"]
    problems = []
    for entry in manifest.get("files", []):
        p = folder / entry["name"]
        if not p.exists():
            problems.append(f"{entry['name']} missing")
        elif sha256_file(p) != entry["sha256"]:
            problems.append(f"{entry['name']} hash mismatch")
    return problems

"""The review loop as code: reviewed captures become labelled frames, a training set and a queue.

Responsible for

* :class:`LabelledFrame` — one reviewed frame: confirmed or dismissed, the plume box (the model's,
  or the officer's correction), the Ringelmann grade when read by eye, the vehicle class and box,
  who reviewed it and which model version produced the capture;
* :func:`label_from_review` — the **pure** function the desk and the case code call with the
  capture (its row or its evidence manifest), the ``smoke.review`` event and the officer's
  corrections; it validates everything and returns the label (no IO); :func:`record_review` is
  the thin adapter that reads the capture's evidence bundle and stores the label;
* :class:`LabelStore` — the labels as files under the data dir: ``frames/<camera>/<day>/<capture>.jpg``
  (the untouched best frame, copied so evidence retention cannot take it away) and one append-only
  ``index.jsonl`` (a re-review of a capture supersedes the earlier line when read);
* :func:`split_groups` / :func:`export_yolo` — a YOLO data set (class 0 vehicle, class 1 smoke)
  with a train / validation split by camera and Beijing day, so no frame of one pass (one capture,
  one camera, one day) is on both sides;
* :func:`uncertainty`, :func:`order_queue`, :func:`sample_below_threshold` — review effort where it
  teaches most: most uncertain captures first, plus a deterministic sample of the captures the
  rules did not queue, so the model's misses are found.

Known limits: one frame per capture (the best frame); a dismissed capture is a smoke-free frame
(a hard negative), even when the officer dismissed it for a reason other than "not smoke" — those
(plate mismatch, NEV) are kept out of the data set, since the plume may be real.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from core.errors import ValidationError
from core.events import require_aware, require_range
from core.timeutil import BEIJING
from smoke_capture.events import SmokeReview

BoxT = tuple[float, float, float, float]

# Dismissals that say nothing about whether the plume was smoke: kept out of the data set.
NOT_ABOUT_SMOKE = ("plate_mismatch", "nev")
VEHICLE_CLASSES = ("car", "suv", "van", "pickup", "bus", "truck", "tractor", "other", "vehicle")
INDEX = "index.jsonl"


def _box(name: str, value: Sequence[float] | None, width: int, height: int) -> BoxT:
    if value is None or len(value) != 4:
        raise ValidationError(name, value, "four pixel coordinates x1, y1, x2, y2", "px")
    x1, y1, x2, y2 = (float(v) for v in value)
    if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
        raise ValidationError(
            name, value, f"x1 < x2, y1 < y2 inside the {width}×{height} frame", "px"
        )
    return (round(x1, 1), round(y1, 1), round(x2, 1), round(y2, 1))


@dataclass(frozen=True, slots=True)
class LabelledFrame:
    capture_id: str
    camera_id: str
    day: str  # Beijing date of the pass, YYYY-MM-DD
    reviewed_ts: datetime
    reviewer: str
    decision: str  # "confirmed" | "dismissed"
    reason: str
    plume_boxes: tuple[BoxT, ...]  # empty when dismissed
    box_corrected: bool
    grade: float | None  # eye-read Ringelmann grade, None when not read
    vehicle_class: str
    vehicle_boxes: tuple[BoxT, ...]
    model_version: str
    model_confidence: float
    model_grade: float | None
    width: int
    height: int
    image: str = ""  # path of the frame inside the store, set by the store

    def __post_init__(self) -> None:
        require_aware("reviewed_ts", self.reviewed_ts)
        if self.decision not in ("confirmed", "dismissed"):
            raise ValidationError("decision", self.decision, "confirmed or dismissed")
        if self.decision == "confirmed" and not self.plume_boxes:
            raise ValidationError("plume_boxes", (), "at least one plume box when confirmed")
        if self.decision == "dismissed" and self.plume_boxes:
            raise ValidationError("plume_boxes", self.plume_boxes, "none when dismissed")
        if self.vehicle_class not in VEHICLE_CLASSES:
            raise ValidationError(
                "vehicle_class", self.vehicle_class, f"one of {', '.join(VEHICLE_CLASSES)}"
            )
        require_range("grade", self.grade, 0.0, 5.0, "Ringelmann grade")
        require_range("model_confidence", self.model_confidence, 0.0, 1.0, "fraction")
        require_range("width", self.width, 8, 16384, "px")
        require_range("height", self.height, 8, 16384, "px")
        datetime.strptime(self.day, "%Y-%m-%d")

    @property
    def group(self) -> tuple[str, str]:
        """What the train / validation split keeps together: camera and day."""
        return (self.camera_id, self.day)

    @property
    def trainable(self) -> bool:
        return self.reason not in NOT_ABOUT_SMOKE

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["reviewed_ts"] = self.reviewed_ts.isoformat()
        return d

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> LabelledFrame:
        return LabelledFrame(
            **{
                **d,
                "reviewed_ts": datetime.fromisoformat(d["reviewed_ts"]),
                "plume_boxes": tuple(tuple(b) for b in d["plume_boxes"]),
                "vehicle_boxes": tuple(tuple(b) for b in d["vehicle_boxes"]),
            }
        )


def label_from_review(
    capture: Mapping[str, Any],
    review: SmokeReview,
    width: int,
    height: int,
    *,
    plume_box: Sequence[float] | None = None,
    grade: float | None = None,
    vehicle_class: str | None = None,
    vehicle_box: Sequence[float] | None = None,
) -> LabelledFrame:
    """The labelled frame of one reviewed capture (pure).

    ``capture``: the capture's row or its evidence manifest (``camera_id``, ``first_ts``,
    ``model_version``, and when present ``plume_box``, ``vehicle_box``, ``detector_confidence``,
    ``grade``, ``vehicle_class``). ``plume_box``: the officer's corrected box (None keeps the
    model's box); ``grade``: the eye-read grade (defaults to the review's confirmed grade);
    boxes are in the pixels of the untouched best frame (``width`` × ``height``)."""
    cid = str(capture.get("capture_id") or capture.get("event_id") or "")
    if review.capture_id != cid:
        raise ValidationError("capture_id", review.capture_id, f"the reviewed capture {cid!r}")
    first = capture.get("first_ts")
    if isinstance(first, str):
        first = datetime.fromisoformat(first)
    if not isinstance(first, datetime):
        raise ValidationError("first_ts", first, "the capture's first-seen time")
    require_aware("first_ts", first)
    model_box = capture.get("plume_box")
    plumes: tuple[BoxT, ...] = ()
    corrected = False
    if review.decision == "confirmed":
        if plume_box is not None:
            plumes = (_box("plume_box", plume_box, width, height),)
            corrected = model_box is None or tuple(plumes[0]) != _box(
                "model plume_box", model_box, width, height
            )
        else:
            plumes = (_box("model plume_box", model_box, width, height),)
    vbox = vehicle_box if vehicle_box is not None else capture.get("vehicle_box")
    vehicles = (_box("vehicle_box", vbox, width, height),) if vbox is not None else ()
    eye = grade if grade is not None else review.confirmed_grade
    model_grade = capture.get("grade")
    return LabelledFrame(
        capture_id=cid,
        camera_id=str(capture.get("camera_id") or ""),
        day=first.astimezone(BEIJING).strftime("%Y-%m-%d"),
        reviewed_ts=review.ts,
        reviewer=review.reviewer,
        decision=review.decision,
        reason=review.reason,
        plume_boxes=plumes,
        box_corrected=corrected,
        grade=None if review.decision == "dismissed" else eye,
        vehicle_class=vehicle_class or str(capture.get("vehicle_class") or "vehicle"),
        vehicle_boxes=vehicles,
        model_version=str(capture.get("model_version") or ""),
        model_confidence=float(capture.get("detector_confidence") or 0.0),
        model_grade=None if model_grade is None else float(model_grade),
        width=int(width),
        height=int(height),
    )


class LabelStore:
    """Labelled frames as files: ``<root>/frames/<camera>/<day>/<capture>.jpg`` and ``index.jsonl``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def under(cls, data_dir: Path) -> LabelStore:
        return cls(Path(data_dir) / "smoke_capture" / "labels")

    def add(self, label: LabelledFrame, frame_file: Path) -> LabelledFrame:
        """Copy the untouched frame in, then append the label (the index line is written last, so a
        crash leaves at most an unreferenced image)."""
        src = Path(frame_file)
        if not src.is_file():
            raise ValidationError("frame_file", str(src), "an existing image file")
        rel = (
            Path("frames")
            / _safe(label.camera_id)
            / label.day
            / f"{_safe(label.capture_id)}{src.suffix.lower() or '.jpg'}"
        )
        dst = self.root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_suffix(dst.suffix + ".tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
        stored = LabelledFrame(
            **{**{k: getattr(label, k) for k in LabelledFrame.__slots__}, "image": rel.as_posix()}
        )  # type: ignore[arg-type]
        line = json.dumps(stored.to_json(), ensure_ascii=False, sort_keys=True) + "\n"
        with (self.root / INDEX).open("a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        return stored

    def labels(self) -> list[LabelledFrame]:
        """The latest review of each capture, in index order."""
        path = self.root / INDEX
        if not path.exists():
            return []
        latest: dict[str, LabelledFrame] = {}
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                lab = LabelledFrame.from_json(json.loads(line))
            except (ValueError, TypeError, KeyError) as exc:
                raise ValidationError(
                    f"{INDEX} line {n}", line[:80], f"a labelled frame ({exc})"
                ) from None
            prev = latest.get(lab.capture_id)
            if prev is None or lab.reviewed_ts >= prev.reviewed_ts:
                latest.pop(lab.capture_id, None)
                latest[lab.capture_id] = lab
        return list(latest.values())

    def path_of(self, label: LabelledFrame) -> Path:
        return self.root / label.image


def record_review(
    store: LabelStore,
    review: SmokeReview,
    evidence_folder: Path,
    *,
    plume_box: Sequence[float] | None = None,
    grade: float | None = None,
    vehicle_class: str | None = None,
    vehicle_box: Sequence[float] | None = None,
    capture: Mapping[str, Any] | None = None,
) -> LabelledFrame:
    """The one call for the desk and the case code: the capture's evidence bundle (its
    ``manifest.json`` and untouched ``best_frame_raw.jpg``) plus the review and the officer's
    corrections → a stored labelled frame. ``capture`` (the capture's row) fills what an older
    or partial manifest lacks (the manifest wins). Raises ``ValidationError`` naming what is
    wrong (a missing or unreadable bundle, a box outside the frame) and then stores nothing."""
    from smoke_capture.evidence import MANIFEST
    from smoke_capture.sources import read_image

    folder = Path(evidence_folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        raise ValidationError(
            "evidence_folder", str(folder), f"a bundle with a readable {MANIFEST}"
        ) from None
    frame = folder / "best_frame_raw.jpg"
    try:
        h, w = read_image(frame).shape[:2]
    except ValueError as exc:
        raise ValidationError(
            "best_frame_raw.jpg", str(frame), f"a readable image ({exc})"
        ) from None
    label = label_from_review(
        {**(capture or {}), **{k: v for k, v in manifest.items() if v is not None}},
        review,
        w,
        h,
        plume_box=plume_box,
        grade=grade,
        vehicle_class=vehicle_class,
        vehicle_box=vehicle_box,
    )
    return store.add(label, frame)


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text) or "_"


def split_groups(
    labels: Iterable[LabelledFrame], val_fraction: float = 0.2
) -> tuple[list[LabelledFrame], list[LabelledFrame]]:
    """Train and validation frames; each (camera, day) goes wholly to one side, chosen by a hash of
    the group (stable as labels are added). With two or more groups each side gets at least one."""
    if not 0.0 < val_fraction < 1.0:
        raise ValidationError("val_fraction", val_fraction, "in (0, 1)")
    labs = [lab for lab in labels if lab.trainable]
    groups = sorted({lab.group for lab in labs})

    def h(g: tuple[str, str]) -> float:
        d = hashlib.sha256(f"{g[0]}|{g[1]}".encode()).digest()
        return int.from_bytes(d[:8], "big") / 2**64

    val = {g for g in groups if h(g) < val_fraction}
    if len(groups) >= 2 and not val:
        val = {min(groups, key=h)}
    if len(groups) >= 2 and val == set(groups):
        val.discard(max(groups, key=h))
    return [lab for lab in labs if lab.group not in val], [lab for lab in labs if lab.group in val]


def yolo_lines(label: LabelledFrame) -> list[str]:
    w, h = label.width, label.height
    out = []
    for cls, boxes in ((0, label.vehicle_boxes), (1, label.plume_boxes)):
        for x1, y1, x2, y2 in boxes:
            out.append(
                f"{cls} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} "
                f"{(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}"
            )
    return out


def export_yolo(store: LabelStore, out: Path, val_fraction: float = 0.2) -> Path:
    """Write ``images/{train,val}``, ``labels/{train,val}``, ``frames.jsonl`` (every exported frame
    with its split and label, for evaluation) and ``data.yaml``; return the data.yaml path."""
    out = Path(out).resolve()
    train, val = split_groups(store.labels(), val_fraction)
    if not train and not val:
        raise ValidationError("labels", 0, "at least one reviewed frame in the store")
    rows = []
    for split, labs in (("train", train), ("val", val)):
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
        for lab in labs:
            src = store.path_of(lab)
            stem = f"{_safe(lab.camera_id)}_{lab.day}_{_safe(lab.capture_id)}"
            shutil.copyfile(src, out / "images" / split / f"{stem}{src.suffix}")
            lines = yolo_lines(lab)
            (out / "labels" / split / f"{stem}.txt").write_text("".join(x + "\n" for x in lines))
            rows.append(
                {**lab.to_json(), "split": split, "file": f"images/{split}/{stem}{src.suffix}"}
            )
    (out / "frames.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
    )
    data = out / "data.yaml"
    data.write_text(
        f"path: {out}\ntrain: images/train\nval: images/{'val' if val else 'train'}\n"
        "names:\n  0: vehicle\n  1: smoke\n"
    )
    return data


# ---------------------------------------------------------------------------------------------
# where review effort goes


def uncertainty(capture: Mapping[str, Any], grade_limit: float = 1.0) -> float:
    """0 (the model is sure) … 1 (a coin toss): detector confidence near 0.5, a grade near the
    screening limit and a low grade confidence all make a capture worth a human look."""
    conf = float(capture.get("detector_confidence") or 0.0)
    grade = float(capture.get("grade") or 0.0)
    gconf = float(capture.get("grade_confidence") or 0.0)
    det_u = 1.0 - abs(2.0 * conf - 1.0)
    grade_u = max(0.0, 1.0 - abs(grade - grade_limit))
    return round(0.5 * det_u + 0.3 * grade_u + 0.2 * (1.0 - gconf), 4)


def order_queue(
    captures: Iterable[Mapping[str, Any]], grade_limit: float = 1.0
) -> list[Mapping[str, Any]]:
    """Most uncertain first; ties by time (oldest first) then id, so the order is stable."""
    return sorted(
        captures,
        key=lambda c: (
            -uncertainty(c, grade_limit),
            str(c.get("ts") or ""),
            str(c.get("event_id") or c.get("capture_id") or ""),
        ),
    )


def sample_below_threshold(
    captures: Iterable[Mapping[str, Any]], rate: float = 0.05, grade_limit: float = 1.0
) -> list[Mapping[str, Any]]:
    """A deterministic share ``rate`` of the captures the rules did not queue (graded at or below
    ``grade_limit``): chosen by a hash of the capture id, so every process picks the same ones."""
    if not 0.0 <= rate <= 1.0:
        raise ValidationError("rate", rate, "in [0, 1]", "fraction")
    out = []
    for c in captures:
        if float(c.get("grade") or 0.0) > grade_limit:
            continue
        cid = str(c.get("event_id") or c.get("capture_id") or "")
        d = hashlib.sha256(f"below-threshold|{cid}".encode()).digest()
        if int.from_bytes(d[:8], "big") / 2**64 < rate:
            out.append(c)
    return out


def evaluation_frames(store: LabelStore, val_fraction: float = 0.2) -> list[LabelledFrame]:
    """The reviewed validation frames (the same split the export writes)."""
    return split_groups(store.labels(), val_fraction)[1]


def evaluate_reviews(
    detector: Any, store: LabelStore, val_fraction: float = 0.2, conf: float = 0.25
) -> Any:
    """Score ``detector`` (loaded with a low confidence floor) on the reviewed validation frames:
    :class:`smoke_capture.evaluation.Scores`. Raises ``ValidationError`` when there are none."""
    from smoke_capture.evaluation import FrameTruth, LabelledPlume, ring_grade, score
    from smoke_capture.sources import read_image

    frames = evaluation_frames(store, val_fraction)
    if not frames:
        raise ValidationError(
            "validation frames", 0, "reviewed frames from at least two camera-days in the store"
        )
    images = [read_image(store.path_of(lab)) for lab in frames]
    dets = [detector.detect(im) for im in images]
    samples = [
        (
            FrameTruth(
                tuple(LabelledPlume(b, lab.grade) for b in lab.plume_boxes), lab.vehicle_boxes
            ),
            d,
        )
        for lab, d in zip(frames, dets, strict=True)
    ]
    return score(samples, conf=conf, grade=lambda i, box: ring_grade(images[i], box, dets[i]))

"""Review effort where it teaches the model most: the queue by uncertainty, plus a marked sample.

Responsible for :func:`review_queue` — pure: the captures the rules queued for review and the
captures they did not (graded at or below the screening limit) in, one ordered queue out:

* every queued capture, and a deterministic share ``rate`` of the others (chosen by a hash of the
  capture id, so every process and every page load picks the same ones), each item marked
  ``sampled`` when it came in through the sample — an officer's verdict on those is how the model's
  misses (smoke graded too low, plumes the detector barely saw) become training frames;
* ordered most uncertain first (:func:`smoke_capture.review.uncertainty`: detector confidence near
  0.5, a grade near the limit, a low grade confidence), ties oldest first, then by id.

Known limits: uncertainty is read from what the capture stored (best detector confidence, pass
grade and its confidence), not from the model's full output; passes that never became a capture
(too few plume frames, no temporal darkness) are not in any list and cannot be sampled.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import ValidationError
from smoke_capture.review import uncertainty


@dataclass(frozen=True, slots=True)
class QueueItem:
    capture: Mapping[str, Any]
    uncertainty: float  # 0 (the model is sure) … 1 (a coin toss)
    sampled: bool  # below the screening limit, queued by the sample so misses are found

    @property
    def capture_id(self) -> str:
        return _cid(self.capture)


def _cid(c: Mapping[str, Any]) -> str:
    return str(c.get("event_id") or c.get("capture_id") or "")


def in_sample(capture_id: str, rate: float) -> bool:
    """Whether a below-limit capture is drawn into the review sample (stable per id; the same draw
    as :func:`smoke_capture.review.sample_below_threshold`)."""
    d = hashlib.sha256(f"below-threshold|{capture_id}".encode()).digest()
    return int.from_bytes(d[:8], "big") / 2**64 < rate


def review_queue(
    queued: Iterable[Mapping[str, Any]],
    below: Iterable[Mapping[str, Any]] = (),
    *,
    rate: float = 0.05,
    grade_limit: float = 1.0,
) -> list[QueueItem]:
    """The review queue: ``queued`` captures plus a marked sample of ``below`` (share ``rate``),
    most uncertain first. A capture in both lists, or listed twice, appears once (as queued); a
    capture in ``below`` graded above ``grade_limit`` is queued rather than sampled."""
    if not 0.0 <= rate <= 1.0:
        raise ValidationError("rate", rate, "in [0, 1]", "fraction")
    items: dict[str, QueueItem] = {}
    for c in queued:
        cid = _cid(c)
        if not cid:
            raise ValidationError("capture", dict(c), "a capture with event_id or capture_id")
        items.setdefault(cid, QueueItem(c, uncertainty(c, grade_limit), False))
    for c in below:
        cid = _cid(c)
        if not cid:
            raise ValidationError("capture", dict(c), "a capture with event_id or capture_id")
        if cid in items:
            continue
        if float(c.get("grade") or 0.0) > grade_limit:
            items[cid] = QueueItem(c, uncertainty(c, grade_limit), False)
        elif in_sample(cid, rate):
            items[cid] = QueueItem(c, uncertainty(c, grade_limit), True)
    return sorted(
        items.values(),
        key=lambda it: (-it.uncertainty, str(it.capture.get("ts") or ""), it.capture_id),
    )

"""The writes pages make, each checked against fresh data first (no SQL, no rules here).

Today that is one write, a reviewer's decision on a black-smoke capture: it is published as a
``smoke.review`` event through the running pipeline's bus (``streams.warehouse.shared.publisher``),
so the smoke processor applies BS-EVIDENCE / BS-CONFIRM exactly as for any other review. When the
enforcement core's case API lands, :func:`record_smoke_review` becomes a call of the case action
(confirm / dismiss with reason) with the same arguments; pages do not change.

Bad input and races give :class:`ActionError` (a catalogue message and its values) and change
nothing: a capture someone else reviewed meanwhile, a plate that does not parse, a grade out of
range, no running platform to record into.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.errors import ValidationError
from core.ids import Plate
from core.timeutil import utcnow
from dashboards.data import fresh_query, has_rows
from dashboards.i18n import N_, _
from smoke_capture.events import DISMISS_REASONS, SmokeReview
from streams.warehouse import shared


@dataclass
class ActionError(Exception):
    message: str  # catalogue id with {placeholders}
    values: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        return _(self.message).format(**self.values)


def _publish(events: list[Any]) -> None:
    publish = shared.publisher()
    if publish is None:
        raise ActionError(
            N_(
                "Decisions can be recorded only while the platform runs (emwatch run); nothing was saved."
            )
        )
    publish(events)


def record_smoke_review(
    capture_id: str,
    *,
    reviewer: str,
    decision: str,
    reason: str = "",
    confirmed_grade: float | None = None,
    corrected_plate: str = "",
    note: str = "",
) -> SmokeReview:
    """Record a confirm / dismiss decision on a queued capture; returns the published review."""
    if not reviewer.strip():
        raise ActionError(
            N_("Enter your name as reviewer first (a decision needs a named reviewer).")
        )
    if decision == "dismissed" and reason not in DISMISS_REASONS[1:]:
        raise ActionError(N_("Pick a reason to dismiss."))
    plate = ""
    if corrected_plate.strip():
        try:
            plate = Plate.parse(corrected_plate).number
        except ValidationError:
            raise ActionError(
                N_(
                    "“{text}” is not a plate: a province character, a letter and 5–6 characters (e.g. 沪A12345)."
                ),
                {"text": corrected_plate.strip()},
            ) from None
    if confirmed_grade is not None and not 0.0 <= confirmed_grade <= 5.0:
        raise ActionError(N_("A Ringelmann grade is between 0 and 5."))
    current = fresh_query("smoke.capture", capture_id)
    if not has_rows(current):
        raise ActionError(N_("This capture no longer exists; the queue has been refreshed."))
    row = current.iloc[0]
    if isinstance(row.get("decision"), str) and row["decision"]:
        raise ActionError(
            N_("{who} already decided on this capture ({decision}); nothing was changed."),
            {"who": row["reviewer"], "decision": _(row["decision"])},
        )
    now = utcnow()
    try:
        review = SmokeReview(
            event_id=SmokeReview.make_id(capture_id, reviewer.strip(), now),
            ts=now,
            capture_id=capture_id,
            camera_id=str(row["camera_id"]),
            jurisdiction=str(row["jurisdiction"]),
            plate=str(row["plate"]),
            reviewer=reviewer.strip(),
            decision=decision,
            reason=reason if decision == "dismissed" else "",
            confirmed_grade=confirmed_grade if decision == "confirmed" else None,
            note=note.strip(),
            corrected_plate=plate if plate != row["plate"] else "",
        )
    except ValidationError as exc:
        raise ActionError(N_("Not recorded: {problem}"), {"problem": str(exc)}) from None
    _publish([review])
    return review

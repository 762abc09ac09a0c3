"""The writes pages make, each checked against fresh data first (no SQL, no rules here).

Case actions (:func:`case_action`) are ``case.command`` events published through the running
pipeline's bus (``streams.warehouse.shared.publisher``): the case processor applies them in order
per subject (the first of two commands on one version wins) and answers every command in the
case log, so the page waits briefly for that answer and shows it. Input is checked with the
enforcement core's own ``validate`` first, so a bad reading never leaves the page.

A smoke reviewer's decision (:func:`record_smoke_review`) is the smoke case's review + confirm or
dismiss; a capture without a case (recorded before the enforcement core ran) gets a plain
``smoke.review`` event, which the smoke processor judges the same way.

Bad input and races give :class:`ActionError` (a catalogue message and its values) and change
nothing: a capture someone else reviewed meanwhile, a plate that does not parse, a grade out of
range, no running platform to record into.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.errors import ValidationError
from core.ids import Plate
from core.ruleset import default_ruleset
from core.timeutil import utcnow
from dashboards.data import fresh_query, has_rows, refresh
from dashboards.i18n import N_, _
from enforcement.cases import ALLOWED, validate
from enforcement.events import CaseCommand
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
) -> SmokeReview | None:
    """Record a confirm / dismiss decision on a queued capture: through its case when it has one
    (returns None), else as a plain review (returns the published review)."""
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
        raise ActionError(N_("A Ringelmann grade is between 0 and 5; nothing was saved."))
    case = fresh_query("cases.for_capture", capture_id)
    if has_rows(case):
        row = case.iloc[0]
        payload: dict[str, Any] = {"corrected_plate": plate} if plate else {}
        steps: list[tuple[str, str, dict[str, Any]]] = []
        if decision == "confirmed":
            if row["status"] == "new":
                steps.append(("review", "", {}))
            steps.append(("confirm", note, {**payload, "grade": confirmed_grade}))
        else:
            steps.append(
                (
                    "dismiss",
                    note or _(DISMISS_LABELS.get(reason, reason)),
                    {**payload, "dismiss_code": reason},
                )
            )
        case_action(row, steps, actor=reviewer.strip(), actor_jurisdiction=str(row["jurisdiction"]))
        return None
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


def review_smoke_capture(
    capture: Mapping[str, Any],
    evidence_folder: Any,
    *,
    reviewer: str,
    decision: str,
    reason: str = "",
    grade: float | None = None,
    corrected_plate: str = "",
    plume_box: tuple[float, float, float, float] | None = None,
    vehicle_class: str = "vehicle",
) -> tuple[SmokeReview | None, Any, str]:
    """A reviewer's decision on a capture *and* its training label, as one step.

    The reviewer's input is checked before anything is written: the grade (0–5), the reviewer,
    the plate, the vehicle class and — when the capture's evidence bundle (``evidence_folder``:
    its ``manifest.json`` and untouched ``best_frame_raw.jpg``) is on this machine — the corrected
    plume box (inside the frame), through ``smoke_capture.review``'s own pure
    ``label_from_review``; bad input raises :class:`ActionError` and nothing is written. Then the
    decision is recorded (:func:`record_smoke_review`) and the label stored with
    ``record_review`` in the data directory's ``LabelStore``. What the evidence lacks (no bundle
    here, a manifest without the model's box) never blocks the decision: it is recorded and the
    note says why no label was kept.

    Returns (the published review or None when it went through the case, the stored
    ``LabelledFrame`` or None, a catalogue note for the page — "" when all was stored)."""
    import json
    from pathlib import Path

    from PIL import Image, UnidentifiedImageError

    from smoke_capture.evidence import MANIFEST
    from smoke_capture.review import (
        VEHICLE_CLASSES,
        LabelStore,
        label_from_review,
        record_review,
    )

    if not reviewer.strip():
        raise ActionError(
            N_("Enter your name as reviewer first (a decision needs a named reviewer).")
        )
    if decision == "confirmed" and (grade is None or not 0.0 <= float(grade) <= 5.0):
        raise ActionError(N_("A Ringelmann grade is between 0 and 5; nothing was saved."))
    if vehicle_class not in VEHICLE_CLASSES:
        raise ActionError(N_("Pick the vehicle class from the list."))
    folder = Path(evidence_folder) if evidence_folder else None
    manifest: dict[str, Any] | None = None
    size = (0, 0)
    if folder is not None:
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
            with Image.open(folder / "best_frame_raw.jpg") as img:
                size = img.size
        except (OSError, ValueError, UnidentifiedImageError):
            manifest = None
    now = utcnow()
    cid = str(capture.get("capture_id") or capture.get("event_id") or "")
    facts = _capture_facts(capture, cid)
    try:
        label_review = SmokeReview(
            event_id=SmokeReview.make_id(cid, reviewer.strip(), now),
            ts=now,
            capture_id=cid,
            camera_id=str(capture.get("camera_id") or ""),
            jurisdiction=str(capture.get("jurisdiction") or ""),
            plate=str(capture.get("plate") or ""),
            reviewer=reviewer.strip(),
            decision=decision,
            reason=reason if decision == "dismissed" else "",
            confirmed_grade=float(grade) if decision == "confirmed" and grade is not None else None,
            note="",
        )
    except ValidationError as exc:
        if exc.field == "reason":
            raise ActionError(N_("Pick a reason to dismiss.")) from None
        raise ActionError(N_("Not recorded: {problem}"), {"problem": str(exc)}) from None
    note = ""
    if manifest is None:
        note = N_(
            "Decision recorded; no training label: the evidence images are not on this machine."
        )
    else:
        try:
            label_from_review(
                {**facts, **{k: v for k, v in manifest.items() if v is not None}},
                label_review,
                size[0],
                size[1],
                plume_box=plume_box,
                vehicle_class=vehicle_class,
            )
        except ValidationError as exc:
            if exc.field == "plume_box":  # the reviewer's box: refused, nothing written
                raise ActionError(
                    N_(
                        "The plume box must lie inside the picture ({w} × {h} px), left < right "
                        "and top < bottom; nothing was saved."
                    ),
                    {"w": size[0], "h": size[1]},
                ) from None
            note = (  # the evidence lacks something: the decision goes on without a label
                N_(
                    "Decision recorded; no training label: the evidence has no plume box of the "
                    "model (enter one before confirming to keep this frame)."
                )
                if exc.field == "model plume_box"
                else N_("Decision recorded; the training label could not be stored.")
            )
    review = record_smoke_review(
        cid,
        reviewer=reviewer,
        decision=decision,
        reason=reason,
        confirmed_grade=float(grade) if decision == "confirmed" and grade is not None else None,
        corrected_plate=corrected_plate,
    )
    if note or folder is None:
        return review, None, note
    from dashboards.widgets import data_dir

    try:
        label = record_review(
            LabelStore.under(data_dir()),
            label_review,
            folder,
            plume_box=plume_box,
            vehicle_class=vehicle_class,
            capture=facts,
        )
    except (ValidationError, OSError):
        return review, None, N_("Decision recorded; the training label could not be stored.")
    return review, label, ""


def _capture_facts(capture: Mapping[str, Any], cid: str) -> dict[str, Any]:
    """What the capture's row says that a label needs (a partial manifest is filled from it)."""
    from datetime import UTC

    import pandas as pd

    first = capture.get("first_ts")
    if first is None or (isinstance(first, float) and first != first):
        first = capture.get("ts")
    if first is not None and not isinstance(first, str):
        first = pd.Timestamp(first).to_pydatetime()
        if first.tzinfo is None:
            first = first.replace(tzinfo=UTC)
    facts = {
        "capture_id": cid,
        "camera_id": capture.get("camera_id"),
        "first_ts": first,
        "model_version": capture.get("model_version"),
        "detector_confidence": capture.get("detector_confidence"),
        "grade": capture.get("grade"),
    }
    return {k: v for k, v in facts.items() if v is not None and v == v}


DISMISS_LABELS = {
    "shadow": N_("Shadow"),
    "wet_road": N_("Wet road / spray"),
    "nev": N_("New-energy vehicle"),
    "plate_mismatch": N_("Plate does not match"),
    "not_smoke": N_("Not smoke"),
    "other": N_("Other"),
}
ANSWER_WAIT_S = 6.0


def case_action(
    seen: Mapping[str, Any],
    steps: list[tuple[str, str, dict[str, Any]]],
    *,
    actor: str,
    actor_jurisdiction: str,
) -> str:
    """Act on a case as the officer saw it (``seen``: its row with ``case_id`` and ``version``).

    ``steps`` are (action, reason, payload) applied in order on consecutive versions (e.g. review
    then confirm). Raises :class:`ActionError` when the case changed meanwhile, the action is not
    allowed in its state, the input is bad, or the processor rejects it; nothing is changed then.
    Returns the case's status after the last step (or ``pending`` if no answer came in time)."""
    if not actor.strip():
        raise ActionError(
            N_("Enter your name as reviewer first (a decision needs a named reviewer).")
        )
    case_id = str(seen["case_id"])
    now = fresh_query("cases.case", case_id)
    if not has_rows(now):
        raise ActionError(N_("This case no longer exists; the list has been refreshed."))
    cur = now.iloc[0]
    if int(cur["version"]) != int(seen["version"]):
        refresh()
        raise ActionError(
            N_(
                "Someone else acted on case {case} meanwhile (now: {status}); nothing was changed. Look again, then act."
            ),
            {"case": case_id, "status": _(str(cur["status"]))},
        )
    status, version = str(cur["status"]), int(cur["version"])
    rs = default_ruleset()
    commands: list[CaseCommand] = []
    ts = utcnow()
    for i, (action, reason, payload) in enumerate(steps):
        if status not in ALLOWED[action]:
            raise ActionError(
                N_("“{action}” is not possible while the case is {status}; nothing was changed."),
                {"action": _(action), "status": _(status)},
            )
        try:
            validate(action, reason, payload, rs, str(cur["issue"]))
        except ValidationError as exc:
            raise ActionError(N_("Not recorded: {problem}"), {"problem": str(exc)}) from None
        commands.append(
            CaseCommand.make(
                ts=ts,
                case_id=case_id,
                subject_key=f"{cur['subject_kind']}:{cur['subject_id']}",
                action=action,
                actor=actor.strip(),
                actor_jurisdiction=actor_jurisdiction,
                based_on_version=version + i,
                reason=reason,
                payload=payload,
            )
        )
        status = {"check": status}.get(action, _NEXT.get(action, status))
    _publish(list(commands))
    refresh()
    return _await_answer(commands)


_NEXT = {
    "review": "in_review",
    "confirm": "confirmed",
    "dismiss": "dismissed",
    "notify": "notified",
    "refer": "referred",
    "reinspect": "reinspected",
    "close": "closed",
}


def _await_answer(commands: list[CaseCommand]) -> str:
    """Wait (bounded) for the case log to answer the last command; raise on a rejection."""
    ids = tuple(c.event_id for c in commands)
    deadline = time.monotonic() + ANSWER_WAIT_S
    while time.monotonic() < deadline:
        ans = fresh_query("cases.outcome", ids)
        if has_rows(ans):
            rejected = ans[ans["entry"] == "rejected"]
            if len(rejected):
                raise ActionError(
                    N_("Not recorded: {problem}"), {"problem": str(rejected.iloc[0]["reason"])}
                )
            last = ans[ans["request_id"] == ids[-1]]
            if len(last):
                return str(last.iloc[0]["status_after"])
        time.sleep(0.2)
    return "pending"


def suggested_measure(state_json: str) -> dict[str, Any]:
    """The discretion table's suggestion for a case (its own once confirmed, else as of now)."""
    import json

    from enforcement.cases import Case, load_discretion

    state = json.loads(state_json or "{}")
    if state.get("suggested"):
        return dict(state["suggested"])
    try:
        return load_discretion().suggest(Case.from_dict(state))
    except (TypeError, ValidationError):
        return {}


MAX_PHOTO_BYTES = 15 * 1024 * 1024


def store_photo(case_id: str, name: str, data: bytes) -> dict[str, str]:
    """Keep a field photo as evidence (``<data dir>/field_photos/<case>/<sha256>.<ext>``) and
    return its ``{name, sha256}``; a file that is not an image (or too large) is refused."""
    import hashlib
    import io
    from pathlib import Path

    from PIL import Image, UnidentifiedImageError

    if not data or len(data) > MAX_PHOTO_BYTES:
        raise ActionError(
            N_("“{name}” is empty or larger than 15 MB; nothing was saved."), {"name": name}
        )
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
            fmt = (img.format or "").lower()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, ImportError):
        # ImportError: a plug-in opener (ultralytics wraps Image.open to try HEIF) whose codec is
        # missing fails this way on a file that is no image at all
        raise ActionError(
            N_("“{name}” is not a photo (JPEG or PNG); nothing was saved."), {"name": name}
        ) from None
    if fmt not in ("jpeg", "png", "webp"):
        raise ActionError(
            N_("“{name}” is not a photo (JPEG or PNG); nothing was saved."), {"name": name}
        )
    sha = hashlib.sha256(data).hexdigest()
    from dashboards.widgets import data_dir

    folder = Path(data_dir()) / "field_photos" / case_id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{sha}.{'jpg' if fmt == 'jpeg' else fmt}"
    if not path.exists():
        path.write_bytes(data)
    return {"name": name, "sha256": sha}

"""Stream processors of the smoke domain (pure; run by the in-process runner and by Faust agents).

One processor, ``smoke.rules``, consumes both kinds (they share their key, so one state serves
both; state is per processor):

* a ``smoke.capture``: BS-SCREEN / BS-NEV / BS-CAL, and a summary of the capture is remembered under
  its key (plate, or camera when unread) so that a later review can check the evidence;
* a ``smoke.review``: BS-EVIDENCE (blocks confirmation when the evidence is incomplete) and
  BS-CONFIRM (Ringelmann exceedance in the vehicle history).

State per key: ``{"captures": {capture_id: summary}}``, the newest ``KEEP`` captures only.
Known limits: a review whose capture fell out of that window (or never arrived) is judged as having
no evidence, and the confirmation is blocked (the reviewer sees why in the exceedance detail).
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any

from core.processing import Context, Processor
from smoke_capture.events import SmokeCapture, SmokeReview
from smoke_capture.rules import capture_summary, review, screen

KEEP = 200


def handle_capture(
    event: SmokeCapture, state: MutableMapping[str, Any], ctx: Context
) -> Iterable[Any]:
    entry = dict(state.get(event.key) or {})
    caps = dict(entry.get("captures") or {})
    caps[event.event_id] = capture_summary(event)
    if len(caps) > KEEP:
        for old in sorted(caps, key=lambda k: caps[k]["ts"])[: len(caps) - KEEP]:
            del caps[old]
    entry["captures"] = caps
    state[event.key] = entry
    return screen(event, ctx.ruleset)


def handle_review(
    event: SmokeReview, state: MutableMapping[str, Any], ctx: Context
) -> Iterable[Any]:
    entry = state.get(event.key) or {}
    cap = (entry.get("captures") or {}).get(event.capture_id)
    return review(event, cap, ctx.ruleset)


def handle(
    event: SmokeCapture | SmokeReview, state: MutableMapping[str, Any], ctx: Context
) -> Iterable[Any]:
    if isinstance(event, SmokeCapture):
        return handle_capture(event, state, ctx)
    if isinstance(event, SmokeReview):
        return handle_review(event, state, ctx)
    return ()


PROCESSORS: list[Processor] = [
    Processor("smoke.rules", (SmokeCapture.KIND, SmokeReview.KIND), handle)
]


def restore(captures: Iterable[SmokeCapture]) -> dict[str, dict[str, Any]]:
    """Processor state rebuilt from stored captures (the newest ``KEEP`` per key), so that a review
    decided after a restart, or by the CLI without a running platform, finds its capture's evidence."""
    state: dict[str, dict[str, Any]] = {}
    for cap in sorted(captures, key=lambda c: c.ts):
        caps = state.setdefault(cap.key, {"captures": {}})["captures"]
        caps[cap.event_id] = capture_summary(cap)
        if len(caps) > KEEP:
            del caps[next(iter(caps))]
    return state

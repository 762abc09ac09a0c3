"""Smoke events through the embedded pipeline into chDB: review queue, confirmation, replays."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from core.scope import Scope
from core.timeutil import beijing
from smoke_capture.events import SmokeReview, examples
from streams.warehouse.queries import smoke as q

ZONE = Scope.zone()  # named queries take the caller's scope

pytestmark = pytest.mark.component

SINCE = beijing(2026, 11, 1)
UNTIL = beijing(2026, 12, 1)


def review(cap, decision="confirmed", grade=2.0, reason=""):
    ts = cap.ts + timedelta(minutes=30)
    return SmokeReview(
        SmokeReview.make_id(cap.event_id, "officer.zhou", ts),
        ts,
        cap.event_id,
        cap.camera_id,
        cap.jurisdiction,
        cap.plate,
        "officer.zhou",
        decision,
        reason,
        grade if decision == "confirmed" else None,
        "",
    )


async def test_capture_enters_queue_and_leaves_it_on_review(pipeline):
    cap = examples()[0]
    nev = dataclasses.replace(
        cap, event_id="n" * 32, plate="沪AD12345", plate_colour="green", track_id=18
    )
    low = dataclasses.replace(cap, event_id="l" * 32, grade=0.8, track_id=19)
    await pipeline.publish([cap, cap, nev, low])  # cap twice: a replay
    await pipeline.settle()
    client = pipeline.client
    queue = q.review_queue(client, ZONE)
    assert sorted(queue["capture_id"]) == sorted([cap.event_id, nev.event_id])
    assert bool(queue.set_index("capture_id").loc[nev.event_id, "nev_suspect"]) is True
    assert queue.iloc[0]["capture_id"] == cap.event_id  # NEV suspects sort last
    stored = q.captures(client, ZONE, SINCE, UNTIL)
    assert len(stored) == 3
    row = stored.set_index("event_id").loc[cap.event_id]
    assert list(row["evidence_sha256"]) == list(cap.evidence_sha256)

    await pipeline.publish([review(cap), review(nev, "dismissed", reason="nev")])
    await pipeline.settle()
    assert q.review_queue(client, ZONE).empty
    ex = client.query_df(
        "SELECT rule_id, measured, subject_id FROM exceedance FINAL WHERE source = 'smoke_capture' ORDER BY rule_id"
    )
    assert list(ex["rule_id"]) == ["BS-CONFIRM", "BS-NEV", "BS-SCREEN", "BS-SCREEN"]
    one = q.capture(client, ZONE, cap.event_id)
    assert one.iloc[0]["decision"] == "confirmed" and one.iloc[0]["confirmed_grade"] == 2.0
    daily = q.camera_daily(client, ZONE, SINCE, UNTIL)
    assert int(daily["captures"].sum()) == 3 and int(daily["confirmed"].sum()) == 1
    hist = q.vehicle_smoke_history(client, ZONE, cap.plate)
    assert sorted(hist["decision"]) == ["", "confirmed"]  # the grade-0.8 capture is not reviewed


async def test_confirmation_blocked_without_evidence(pipeline):
    cap = dataclasses.replace(
        examples()[0], evidence_files=(), evidence_sha256=(), clip_seconds=0.0
    )
    await pipeline.publish([cap])
    await pipeline.settle()
    await pipeline.publish([review(cap)])
    await pipeline.settle()
    ex = pipeline.client.query_df(
        "SELECT rule_id, detail_json FROM exceedance FINAL WHERE rule_id LIKE 'BS-%' ORDER BY rule_id"
    )
    assert list(ex["rule_id"]) == ["BS-EVIDENCE", "BS-SCREEN"]
    assert "plate_image" in ex.iloc[0]["detail_json"]

"""The review queue by uncertainty with a marked sample of below-limit captures (pure)."""

from __future__ import annotations

import pytest

from core.errors import ValidationError
from smoke_capture.active import in_sample, review_queue
from smoke_capture.review import sample_below_threshold


def cap(cid, conf=0.9, grade=2.5, gconf=0.9, ts="2026-11-23T09:00:00+08:00"):
    return {
        "event_id": cid,
        "detector_confidence": conf,
        "grade": grade,
        "grade_confidence": gconf,
        "ts": ts,
    }


def test_most_uncertain_first_ties_oldest_then_id():
    sure = cap("sure", conf=0.95, grade=4.0, gconf=0.95)
    coin = cap("coin", conf=0.5, grade=1.2, gconf=0.3)
    mid = cap("mid", conf=0.7, grade=2.0, gconf=0.6)
    twin_late = cap("twin-b", conf=0.7, grade=2.0, gconf=0.6, ts="2026-11-23T10:00:00+08:00")
    twin_id = cap("twin-a", conf=0.7, grade=2.0, gconf=0.6, ts="2026-11-23T10:00:00+08:00")
    q = review_queue([sure, twin_late, coin, mid, twin_id], rate=0.0)
    assert [it.capture_id for it in q] == ["coin", "mid", "twin-a", "twin-b", "sure"]
    assert all(not it.sampled for it in q)
    assert q[0].uncertainty > q[-1].uncertainty


def test_a_marked_share_of_below_limit_captures_joins_the_queue():
    below = [cap(f"low-{i}", conf=0.3, grade=0.6) for i in range(2000)]
    q = review_queue([cap("high")], below, rate=0.05)
    sampled = [it for it in q if it.sampled]
    assert 0.035 < len(sampled) / len(below) < 0.065
    assert [it.capture_id for it in q if not it.sampled] == ["high"]
    # the same draw every time, and the same one the review module's sampler makes
    again = review_queue([cap("high")], list(reversed(below)), rate=0.05)
    assert {it.capture_id for it in again if it.sampled} == {it.capture_id for it in sampled}
    assert {it.capture_id for it in sampled} == {
        c["event_id"] for c in sample_below_threshold(below, 0.05)
    }
    assert all(in_sample(it.capture_id, 0.05) for it in sampled)
    # a sampled capture near the limit outranks a sure queued one
    near = cap("near", conf=0.5, grade=0.9, gconf=0.3)
    rate_all = review_queue([cap("high", conf=0.99, grade=4.5, gconf=1.0)], [near], rate=1.0)
    assert [(it.capture_id, it.sampled) for it in rate_all] == [("near", True), ("high", False)]


def test_rate_bounds_duplicates_and_misfiled_captures():
    below = [cap(f"low-{i}", grade=0.5) for i in range(50)]
    assert [it.capture_id for it in review_queue([cap("a")], below, rate=0.0)] == ["a"]
    assert len(review_queue([], below, rate=1.0)) == 50
    # listed in both: once, as queued; a below-list capture over the limit is queued, not sampled
    q = review_queue([cap("dup")], [cap("dup", grade=0.2), cap("over", grade=3.0)], rate=1.0)
    assert sorted((it.capture_id, it.sampled) for it in q) == [("dup", False), ("over", False)]
    for bad in (-0.1, 1.5):
        with pytest.raises(ValidationError):
            review_queue([], below, rate=bad)
    with pytest.raises(ValidationError):
        review_queue([{"grade": 2.0}])

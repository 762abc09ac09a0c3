"""The smoke review page as the review loop: a decision on the page is recorded *and* becomes a
training label (``smoke_capture.review.LabelStore``), with the reviewer's box, grade and vehicle
class; bad input (a box outside the picture, a grade beyond 0–5) says so and writes nothing. The
queue is ordered by model uncertainty and carries a marked sample of captures below the limit."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.exceedance import fire
from core.ruleset import default_ruleset
from core.scope import Scope
from core.timeutil import utcnow
from dashboards.app import PAGES_DIR
from smoke_capture.events import SmokeCapture, SmokeReview
from smoke_capture.events import examples as smoke_examples
from smoke_capture.evidence import write_bundle
from smoke_capture.review import LabelStore
from streams.warehouse import shared
from streams.warehouse.queries import desk
from streams.warehouse.sink import BatchingSink

pytestmark = pytest.mark.component
PAGE = str(PAGES_DIR / "smoke_review.py")
W, H = 320, 240
MODEL_BOX = [100.0, 40.0, 220.0, 150.0]


@pytest.fixture
def desk_env(
    warehouse: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[dict[str, Any]]:
    """The warehouse as reader, a publisher that keeps what the page publishes, and a data
    directory of this test's own (where the label store lives)."""
    import dashboards.widgets
    from dashboards.data import _cached

    published: list[Any] = []
    shared.set_reader(warehouse)
    shared.set_publisher(published.extend)
    monkeypatch.setattr(dashboards.widgets, "data_dir", lambda: tmp_path / "data")
    _cached.clear()
    yield {"published": published, "store": LabelStore.under(tmp_path / "data")}
    shared.set_reader(None)
    shared.set_publisher(None)


def _capture(
    warehouse: Any,
    folder: Path | None,
    *,
    grade: float,
    conf: float,
    track: int,
    queued: bool,
    partial: bool = False,
) -> SmokeCapture:
    base = next(e for e in smoke_examples() if isinstance(e, SmokeCapture))
    ts = utcnow() - timedelta(hours=1, minutes=track)
    eid = SmokeCapture.make_id(base.camera_id, track, ts)
    cap = dataclasses.replace(
        base,
        event_id=eid,
        ts=ts,
        first_ts=ts,
        last_ts=ts,
        track_id=track,
        grade=grade,
        detector_confidence=conf,
        evidence_uri=str(folder) if folder is not None else f"var/nowhere/{eid}",
    )
    if folder is not None:
        img = np.full((H, W, 3), 90, dtype=np.uint8)
        img[40:150, 100:220] = 30  # a dark plume where the model put its box
        write_bundle(
            folder,
            best_frame=img,
            plume_box=MODEL_BOX,
            vehicle_box=[60.0, 120.0, 260.0, 230.0],
            plate_box=None,
            clip_frames=[],
            clip_fps=5.0,
            meta={"capture_id": eid, "camera_id": cap.camera_id, "grade": grade}
            if partial  # as the seeder's bundles: no model box, no times
            else {
                "capture_id": eid,
                "camera_id": cap.camera_id,
                "jurisdiction": cap.jurisdiction,
                "first_ts": ts,
                "grade": grade,
                "grade_confidence": cap.grade_confidence,
                "model_version": cap.model_version,
                "detector_confidence": conf,
                "plume_box": MODEL_BOX,
                "vehicle_box": [60.0, 120.0, 260.0, 230.0],
                "vehicle_class": "truck",
            },
        )
    events: list[Any] = [cap]
    if queued:
        events.append(
            fire(
                default_ruleset().rule("BS-SCREEN"),
                ts,
                source="smoke_capture",
                subject_kind="vehicle",
                subject_id=cap.plate,
                jurisdiction=cap.jurisdiction,
                device_id=cap.camera_id,
                measured=grade,
                limit=1.0,
                unit="Ringelmann",
                detail={"capture_id": eid},
            )
        )
    sink = BatchingSink(warehouse, write_ingest_log=False)
    sink.put(events)
    assert sink.flush()
    return cap


def _reviews(env: dict[str, Any]) -> list[SmokeReview]:
    return [e for e in env["published"] if isinstance(e, SmokeReview)]


def test_confirming_on_the_page_records_the_decision_and_a_training_label(
    accounts: Any, warehouse: Any, desk_env: dict[str, Any], tmp_path: Path
) -> None:
    cap = _capture(warehouse, tmp_path / "ev1", grade=2.4, conf=0.55, track=1, queued=True)
    at = accounts.app(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    at.number_input(key=f"grade_{cap.event_id}").set_value(3.0)
    at.number_input(key=f"box_{cap.event_id}_2").set_value(200.0)  # the reviewer's tighter box
    at.selectbox(key=f"vclass_{cap.event_id}").set_value("bus")
    at.button(key="smoke_confirm").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    (rev,) = _reviews(desk_env)
    assert (rev.capture_id, rev.decision, rev.confirmed_grade) == (cap.event_id, "confirmed", 3.0)
    (lab,) = desk_env["store"].labels()
    assert lab.capture_id == cap.event_id and lab.decision == "confirmed"
    assert lab.plume_boxes == ((100.0, 40.0, 200.0, 150.0),) and lab.box_corrected
    assert (lab.grade, lab.vehicle_class, lab.reviewer) == (3.0, "bus", "joint1")
    assert desk_env["store"].path_of(lab).is_file()
    assert any("训练标注已保存" in s.value for s in at.success), [s.value for s in at.success]


def test_dismissing_stores_a_smoke_free_frame(
    accounts: Any, warehouse: Any, desk_env: dict[str, Any], tmp_path: Path
) -> None:
    cap = _capture(warehouse, tmp_path / "ev2", grade=1.8, conf=0.5, track=2, queued=True)
    at = accounts.app(PAGE).run()
    at.button(key="smoke_dismiss_shadow").click().run()
    assert not at.exception, [e.value for e in at.exception]
    (lab,) = desk_env["store"].labels()
    assert (lab.capture_id, lab.decision, lab.reason, lab.plume_boxes) == (
        cap.event_id,
        "dismissed",
        "shadow",
        (),
    )


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("box_{id}_2", 400.0, "羽烟框"),  # right edge beyond the 320 px picture
        ("box_{id}_0", 230.0, "羽烟框"),  # left beyond right
        ("grade_{id}", 7.0, "林格曼"),
        ("grade_{id}", -1.0, "林格曼"),
    ],
)
def test_bad_input_says_what_is_wrong_and_writes_nothing(
    accounts: Any,
    warehouse: Any,
    desk_env: dict[str, Any],
    tmp_path: Path,
    field: str,
    value: float,
    says: str,
) -> None:
    cap = _capture(warehouse, tmp_path / "ev3", grade=2.0, conf=0.6, track=3, queued=True)
    at = accounts.app(PAGE).run()
    at.number_input(key=field.format(id=cap.event_id)).set_value(value)
    at.button(key="smoke_confirm").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(says in e.value for e in at.error), [e.value for e in at.error]
    assert any("未保存" in e.value for e in at.error)
    assert _reviews(desk_env) == []
    assert desk_env["store"].labels() == []


def test_without_evidence_on_this_machine_the_decision_is_kept_and_the_page_says_no_label(
    accounts: Any, warehouse: Any, desk_env: dict[str, Any]
) -> None:
    _capture(warehouse, None, grade=2.0, conf=0.9, track=4, queued=True)
    at = accounts.app(PAGE).run()
    at.button(key="smoke_confirm").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(_reviews(desk_env)) == 1 and desk_env["store"].labels() == []
    assert any("证据图像不在本机" in w.value for w in at.warning), [w.value for w in at.warning]


def test_queue_is_most_uncertain_first_with_a_marked_sample_below_the_limit(
    accounts: Any, warehouse: Any, desk_env: dict[str, Any]
) -> None:
    sure = _capture(warehouse, None, grade=4.5, conf=0.99, track=5, queued=True)
    toss = _capture(warehouse, None, grade=1.2, conf=0.5, track=6, queued=True)
    belows = [
        _capture(warehouse, None, grade=0.6, conf=0.4, track=10 + i, queued=False)
        for i in range(30)
    ]
    until = utcnow() + timedelta(minutes=1)
    since = until - timedelta(days=1)
    got = desk.smoke_review_candidates(warehouse, Scope.zone(), since, until, below_rate=0.25)
    queued = got[~got["below_threshold"].astype(bool)]
    assert list(queued["capture_id"]) == [toss.event_id, sure.event_id]
    assert list(got["uncertainty"]) == sorted(got["uncertainty"], reverse=True)
    sample = set(got[got["below_threshold"].astype(bool)]["capture_id"])
    assert 0 < len(sample) < len(belows)  # a sample, not all of them
    assert sample <= {b.event_id for b in belows}
    none = desk.smoke_review_candidates(warehouse, Scope.zone(), since, until, below_rate=0.0)
    assert not none["below_threshold"].astype(bool).any()
    at = accounts.app(PAGE)
    at.session_state["smoke_sample_rate"] = 0.25
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["待审核"] == "2"
    assert metrics["低于限值的抽样"] == str(len(sample))


def test_a_partial_manifest_never_blocks_the_decision(
    accounts: Any, warehouse: Any, desk_env: dict[str, Any], tmp_path: Path
) -> None:
    """Evidence whose manifest lacks the model's box and times (older bundles, the seeder's):
    the row fills the times; a confirmation without a box is recorded and says why no label was
    kept; with the reviewer's box, or a dismissal, the label is stored."""
    caps = [
        _capture(
            warehouse,
            tmp_path / f"p{i}",
            grade=2.0,
            conf=0.6,
            track=20 + i,
            queued=True,
            partial=True,
        )
        for i in range(3)
    ]
    at = accounts.app(PAGE)
    at.session_state["smoke_current"] = caps[0].event_id
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.number_input(key=f"box_{caps[0].event_id}_0").value is None
    at.button(key="smoke_confirm").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("没有模型的羽烟框" in w.value for w in at.warning), [w.value for w in at.warning]
    assert [r.capture_id for r in _reviews(desk_env)] == [caps[0].event_id]
    assert desk_env["store"].labels() == []

    at.session_state["smoke_current"] = caps[1].event_id
    at.run()
    for i, v in enumerate((90.0, 30.0, 230.0, 160.0)):
        at.number_input(key=f"box_{caps[1].event_id}_{i}").set_value(v)
    at.button(key="smoke_confirm").click().run()
    assert not at.exception, [e.value for e in at.exception]
    (lab,) = desk_env["store"].labels()
    assert lab.capture_id == caps[1].event_id and lab.box_corrected
    assert lab.plume_boxes == ((90.0, 30.0, 230.0, 160.0),)

    at.session_state["smoke_current"] = caps[2].event_id
    at.run()
    at.number_input(key=f"box_{caps[2].event_id}_0").set_value(10.0)  # half a box: refused
    at.button(key="smoke_confirm").click().run()
    assert any("羽烟框" in e.value for e in at.error), [e.value for e in at.error]
    assert len(_reviews(desk_env)) == 2
    at.button(key="smoke_dismiss_wet_road").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert {lab.capture_id for lab in desk_env["store"].labels()} == {
        caps[1].event_id,
        caps[2].event_id,
    }

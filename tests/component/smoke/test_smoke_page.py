"""AppTest of the black-smoke review page: empty, a queue shown as images, decisions from the
keyboard buttons, and bad input (no reviewer, a plate that does not parse, a capture someone else
decided meanwhile) answered with a message and nothing recorded."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.processing import Context
from core.timeutil import utcnow
from dashboards.app import PAGES_DIR
from smoke_capture.events import SmokeCapture, SmokeReview, examples
from smoke_capture.processors import handle
from streams.warehouse import shared
from streams.warehouse.sink import BatchingSink

pytestmark = pytest.mark.component
PAGE = str(PAGES_DIR / "smoke_review.py")


@pytest.fixture
def reader(warehouse: Any) -> Any:
    shared.set_reader(warehouse)
    from dashboards.data import _cached

    _cached.clear()
    yield warehouse
    shared.set_reader(None)
    shared.set_publisher(None)


@pytest.fixture
def recorded(reader: Any) -> list[Any]:
    """A publisher standing in for the running pipeline: stores what it is given."""
    got: list[Any] = []
    sink = BatchingSink(reader, write_ingest_log=False)

    def publish(events: Any) -> None:
        got.extend(events)
        sink.put(list(events))
        assert sink.flush()

    shared.set_publisher(publish)
    return got


def _queue(reader: Any, ruleset: Any, registry: Any, evidence: Path | None = None) -> SmokeCapture:
    now = utcnow()
    cap = dataclasses.replace(examples()[0], ts=now, first_ts=now, last_ts=now)  # type: ignore[arg-type]
    if evidence is not None:
        from smoke_capture.evidence import write_bundle

        frame = np.full((240, 320, 3), 90, np.uint8)
        bundle = write_bundle(
            evidence,
            best_frame=frame,
            plume_box=(100, 60, 200, 140),
            vehicle_box=(80, 100, 240, 220),
            plate_box=None,
            clip_frames=[frame] * 5,
            clip_fps=5.0,
            meta={"capture_id": cap.event_id},
        )
        cap = dataclasses.replace(
            cap,
            evidence_uri=str(evidence),
            evidence_files=bundle.names,
            evidence_sha256=bundle.hashes,
        )
    nev = dataclasses.replace(cap, event_id="e" * 32, plate_colour="green", track_id=99)
    exc = [e for c in (cap, nev) for e in handle(c, {}, Context(ruleset, registry))]
    sink = BatchingSink(reader, write_ingest_log=False)
    sink.put([cap, nev, *exc])
    assert sink.flush()
    return cap


def _reviews(reader: Any) -> int:
    return int(reader.query("SELECT count() FROM smoke_review FINAL").result_rows[0][0])


def test_without_data(accounts, reader: Any) -> None:
    at = accounts.app(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "黑烟车审核"
    assert sum("暂无数据" in i.value for i in at.info) == 1  # the queue; statistics closed
    at.session_state["smoke_per_camera"] = True  # opened: queried and drawn only now
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert sum("暂无数据" in i.value for i in at.info) == 2


def test_queue_shows_the_capture_as_images(
    accounts, reader: Any, ruleset: Any, registry: Any, tmp_path: Path
) -> None:
    _queue(reader, ruleset, registry, tmp_path / "bundle")
    at = accounts.app(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["待审核"] == "2"
    assert metrics["疑似新能源车"] == "1"
    assert metrics["模型黑度"] == "2.6"  # the highest grade, not the NEV suspect, comes first
    assert len(at.get("image")) == 3  # best frame, plume crop, plate crop
    assert not at.warning  # the images were found
    # the queue list and the per-camera table wait in their expanders (sent when opened)
    assert not at.dataframe
    at.session_state["smoke_queue_list"] = True
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.dataframe) == 1
    assert at.dataframe[0].value["车牌"].iloc[0] == "沪D12345"  # the capture under review first
    at.session_state["smoke_per_camera"] = True
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.dataframe) == 2  # the queue and the per-camera table
    assert "沪D12345" in at.markdown[0].value or any("沪D12345" in m.value for m in at.markdown)


def test_confirm_from_the_keyboard_button_records_and_moves_on(
    accounts, reader: Any, ruleset: Any, registry: Any, recorded: list[Any]
) -> None:
    cap = _queue(reader, ruleset, registry)
    at = accounts.app(PAGE).run()
    at.sidebar.text_input(key="smoke_reviewer").input("王警官").run()
    at.number_input(key=f"grade_{cap.event_id}").set_value(2.5).run()
    at.button(key="smoke_confirm").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [type(e) for e in recorded] == [SmokeReview]
    rev = recorded[0]
    assert (rev.capture_id, rev.decision, rev.confirmed_grade, rev.reviewer) == (
        cap.event_id,
        "confirmed",
        2.5,
        "王警官",
    )
    assert any("已确认" in s.value for s in at.success)
    assert {m.label: m.value for m in at.metric}["待审核"] == "1"  # the next one is preselected


def test_dismiss_with_reason_and_plate_correction(
    accounts, reader: Any, ruleset: Any, registry: Any, recorded: list[Any]
) -> None:
    cap = _queue(reader, ruleset, registry)
    at = accounts.app(PAGE).run()
    at.sidebar.text_input(key="smoke_reviewer").input("li.officer").run()
    at.text_input(key=f"plate_{cap.event_id}").input("沪d 54321").run()
    at.button(key="smoke_dismiss_shadow").click().run()
    assert not at.exception
    (rev,) = recorded
    assert (rev.decision, rev.reason, rev.corrected_plate) == ("dismissed", "shadow", "沪D54321")


@pytest.mark.parametrize(
    ("reviewer", "plate", "message"),
    [("", "", "审核人"), ("li.officer", "ABC123", "不是有效车牌")],
    ids=["no reviewer", "plate that does not parse"],
)
def test_bad_input_changes_nothing(
    accounts,
    reader: Any,
    ruleset: Any,
    registry: Any,
    recorded: list[Any],
    reviewer: str,
    plate: str,
    message: str,
) -> None:
    cap = _queue(reader, ruleset, registry)
    at = accounts.app(PAGE).run()
    at.sidebar.text_input(key="smoke_reviewer").input(reviewer).run()
    at.text_input(key=f"plate_{cap.event_id}").input(plate).run()
    at.button(key="smoke_confirm").click().run()
    assert not at.exception
    assert any(message in e.value for e in at.error), [e.value for e in at.error]
    assert recorded == [] and _reviews(reader) == 0


def test_a_capture_decided_meanwhile_is_not_decided_again(
    accounts, reader: Any, ruleset: Any, registry: Any, recorded: list[Any]
) -> None:
    cap = _queue(reader, ruleset, registry)
    at = accounts.app(PAGE).run()
    at.sidebar.text_input(key="smoke_reviewer").input("li.officer").run()
    other = dataclasses.replace(
        examples()[1],  # type: ignore[arg-type]
        event_id="f" * 32,
        capture_id=cap.event_id,
        reviewer="zhang.officer",
        ts=utcnow(),
    )
    sink = BatchingSink(reader, write_ingest_log=False)
    sink.put([other])
    assert sink.flush()
    at.button(key="smoke_dismiss_shadow").click().run()
    assert not at.exception
    assert any("zhang.officer" in e.value for e in at.error)
    assert recorded == [] and _reviews(reader) == 1


def test_without_a_running_platform_nothing_is_recorded(
    accounts, reader: Any, ruleset: Any, registry: Any
) -> None:
    _queue(reader, ruleset, registry)
    at = accounts.app(PAGE).run()
    at.sidebar.text_input(key="smoke_reviewer").input("li.officer").run()
    at.button(key="smoke_confirm").click().run()
    assert any("emwatch run" in e.value for e in at.error)
    assert _reviews(reader) == 0

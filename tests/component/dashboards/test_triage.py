"""The triage queue and case actions against a running pipeline (its own thread and loop, as in
``emwatch run``): cases listed by score with their explanation, a bulk dismissal recorded in the
case log, a case acted on by someone else meanwhile refused with nothing changed."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from core.exceedance import examples as exceedance_examples
from core.scope import Scope
from core.timeutil import utcnow
from dashboards.app import PAGES_DIR
from streams.pipeline import Pipeline
from streams.warehouse import shared
from streams.warehouse.queries import cases as case_queries

pytestmark = pytest.mark.component
PAGE = str(PAGES_DIR / "triage_queue.py")


class Running:
    """A pipeline in its own thread and event loop; ``publish`` blocks like the runner's."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self._call(pipeline.start(with_services=False))

    def _call(self, coro: Any, timeout: float = 60.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def publish(self, events: Any) -> None:
        self._call(self.pipeline.publish(list(events)))

    def settle(self) -> None:
        self._call(self.pipeline.settle())

    def stop(self) -> None:
        self._call(self.pipeline.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


ZONE = Scope.zone("joint1")


@pytest.fixture
def running(
    warehouse: Any, ruleset: Any, registry: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Running]:
    # direct calls of dashboards.actions (outside a page run) act as a zone-wide officer
    monkeypatch.setattr("dashboards.auth.current_scope", lambda: ZONE)
    r = Running(Pipeline(warehouse, ruleset, registry, tmp_path, max_delay_s=0.05, simulate=False))
    shared.set_reader(warehouse)
    shared.set_publisher(r.publish)
    from dashboards.data import refresh

    refresh()  # every query cache (10 s and 60 s)
    yield r
    shared.set_publisher(None)
    shared.set_reader(None)
    r.stop()


def _open_cases(running: Running, n: int = 2) -> Any:
    base = exceedance_examples()[0]
    events = [
        dataclasses.replace(
            base,
            event_id=f"{i:032x}",
            subject_id=f"LGDCHA1G8MA12773{i}",
            ts=utcnow() - timedelta(hours=i + 1),
            severity="warning",
        )
        for i in range(n)
    ]
    running.publish(events)
    running.settle()
    now = utcnow()
    q = case_queries.queue(
        running.pipeline.client, ZONE, ("new",), now - timedelta(days=2), now + timedelta(minutes=5)
    )
    assert len(q) == n, "each warning opens one case"
    return q


def test_queue_lists_cases_with_their_explanation(accounts, running: Running) -> None:
    _open_cases(running)
    at = accounts.app(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "处置队列"
    assert {m.label: m.value for m in at.metric}["符合条件的案件"] == "2"
    frame = at.dataframe[0].value
    assert list(frame.columns[:3]) == ["研判分值", "分值构成", "车辆或加油站"]
    assert all("严重程度 20" in why for why in frame["分值构成"])


def test_metrics_count_every_matching_case_not_only_the_listed_ones(
    accounts, running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    _open_cases(running, 3)
    listed = case_queries.queue
    # the list is cut (500 rows on the page); here at one row, so three cases overflow it
    monkeypatch.setattr(case_queries, "queue", functools.partial(listed, limit=1))
    at = accounts.app(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.dataframe[0].value) == 1
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["符合条件的案件"] == "3"
    assert metrics["新线索"] == "3"
    assert metrics["重型柴油车"] == "3"  # the example's VINs are heavy diesel
    assert any("共 3 件" in c.value for c in at.caption), [c.value for c in at.caption]


def test_queue_counts_match_the_uncut_queue(running: Running) -> None:
    _open_cases(running, 3)
    now = utcnow()
    args = (("new",), now - timedelta(days=2), now + timedelta(minutes=5))
    full = case_queries.queue(running.pipeline.client, ZONE, *args)
    counts = case_queries.queue_counts(running.pipeline.client, ZONE, *args).iloc[0]
    assert int(counts["total"]) == len(full) == 3
    assert int(counts["cross_source"]) == int(full["sources"].map(len).gt(1).sum())
    none = case_queries.queue_counts(
        running.pipeline.client, ZONE, *args, jurisdictions=("no-such-place",)
    )
    assert int(none["total"].iloc[0]) == 0


def test_bulk_dismiss_is_recorded_in_the_case_log(accounts, running: Running) -> None:
    q = _open_cases(running)
    at = accounts.app(PAGE).run()
    at.multiselect(key="triage_pick").set_value(list(q["case_id"])).run()
    at.text_input(key="bulk_reason").input("重复推送，已在吴江处理")
    at.text_input(key="bulk_officer").input("王警官")
    at.button(key="bulk_go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    running.settle()
    for case_id in q["case_id"]:
        log = case_queries.log(running.pipeline.client, ZONE, case_id)
        last = log.iloc[-1]
        assert (last["action"], last["status_after"], last["actor"]) == (
            "dismiss",
            "dismissed",
            "王警官",
        )


def test_a_case_acted_on_meanwhile_is_refused(running: Running) -> None:
    from dashboards.actions import ActionError, case_action

    q = _open_cases(running, 1)
    seen = q.iloc[0].to_dict()
    case_action(seen, [("review", "", {})], actor="li", actor_jurisdiction="qingpu")  # someone else
    running.settle()
    with pytest.raises(ActionError) as err:
        case_action(seen, [("dismiss", "not ours", {})], actor="wang", actor_jurisdiction="qingpu")
    assert "已被他人处理" in err.value.text()
    log = case_queries.log(running.pipeline.client, ZONE, str(seen["case_id"]))
    assert "dismiss" not in set(log["action"])


def test_bad_input_never_leaves_the_page(running: Running) -> None:
    from dashboards.actions import ActionError, case_action

    seen = _open_cases(running, 1).iloc[0].to_dict()
    with pytest.raises(ActionError) as err:
        case_action(
            seen,
            [("check", "", {"method": "k", "value": 99.0})],
            actor="li",
            actor_jurisdiction="qingpu",
        )
    assert "value" in err.value.text()
    with pytest.raises(ActionError):
        case_action(seen, [("close", "", {})], actor="li", actor_jurisdiction="qingpu")
    running.settle()
    assert set(case_queries.log(running.pipeline.client, ZONE, str(seen["case_id"]))["action"]) == {
        "open"
    }


def test_smoke_review_goes_through_the_capture_s_case(running: Running) -> None:
    from dashboards.actions import record_smoke_review
    from smoke_capture.events import SmokeCapture
    from smoke_capture.events import examples as smoke_examples

    now = utcnow() - timedelta(minutes=5)
    cap = next(e for e in smoke_examples() if isinstance(e, SmokeCapture))
    cap = dataclasses.replace(cap, ts=now, first_ts=now, last_ts=now)
    running.publish([cap])
    running.settle()
    client = running.pipeline.client
    case = case_queries.for_capture(client, ZONE, cap.event_id)
    assert len(case) == 1 and case.iloc[0]["status"] == "new"
    assert (
        record_smoke_review(
            cap.event_id,
            reviewer="王警官",
            decision="confirmed",
            confirmed_grade=2.5,
            corrected_plate="沪d54321",
        )
        is None
    )  # recorded as case actions
    running.settle()
    log = case_queries.log(client, ZONE, str(case.iloc[0]["case_id"]))
    assert list(log["action"])[-2:] == ["review", "confirm"]
    rows = client.query(
        "SELECT decision, confirmed_grade, corrected_plate FROM smoke_review FINAL WHERE capture_id = {c:String}",
        parameters={"c": cap.event_id},
    ).result_rows
    assert rows == [("confirmed", 2.5, "沪D54321")]


def _walk_to_filing(at: AppTest) -> AppTest:
    at.text_input(key="fc_officer").input("王警官")
    at.button(key="fc_next").click().run()
    at.checkbox(key="fc_informed").check()
    at.button(key="fc_next").click().run()
    at.checkbox(key="fc_verified").check()
    at.button(key="fc_next").click().run()
    return at


def test_field_check_steps_through_the_procedure_and_files_the_reading(
    accounts, running: Running
) -> None:
    q = _open_cases(running, 1)
    at = accounts.app(str(PAGES_DIR / "field_check.py")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.text_input(key="fc_officer").value == "joint1"  # the logged-in officer by default
    at.text_input(key="fc_officer").input("").run()
    at.button(key="fc_next").click().run()
    assert any("请先完成本步骤" in e.value for e in at.error)  # no officer name
    _walk_to_filing(at)
    at.number_input(key="fc_value").set_value(99.0)  # out of the instrument's range
    for _step in range(3):
        at.button(key="fc_next").click().run()
    at.button(key="fc_file").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("value" in e.value for e in at.error), [e.value for e in at.error]
    case_id = str(q.iloc[0]["case_id"])
    assert "check" not in set(case_queries.log(running.pipeline.client, ZONE, case_id)["action"])
    # a real reading above the GB 3847 limit (0.7 m⁻¹): the check fails, the case is confirmed
    at.session_state["fc"][case_id]["value"] = 1.2
    at.button(key="fc_file").click().run()
    assert not at.exception
    running.settle()
    log = case_queries.log(running.pipeline.client, ZONE, case_id)
    assert (log.iloc[-1]["action"], log.iloc[-1]["status_after"]) == ("check", "confirmed")


def test_a_photo_that_is_not_an_image_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from PIL import Image

    import dashboards.widgets
    from dashboards.actions import ActionError, store_photo

    monkeypatch.setattr(dashboards.widgets, "data_dir", lambda: tmp_path)
    with pytest.raises(ActionError) as err:
        store_photo("C1", "notes.txt", b"not a picture at all")
    assert "不是照片" in err.value.text()
    assert not (tmp_path / "field_photos").exists()
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(buf, format="JPEG")
    kept = store_photo("C1", "plate.jpg", buf.getvalue())
    assert (
        tmp_path / "field_photos" / "C1" / f"{kept['sha256']}.jpg"
    ).read_bytes() == buf.getvalue()


def test_vehicle_page_shows_the_case_with_its_log_and_next_actions(
    accounts, running: Running
) -> None:
    q = _open_cases(running, 1)
    at = accounts.app(str(PAGES_DIR / "vehicle_profile.py"))
    at.session_state["vehicle"] = {"plate": "", "vin": str(q.iloc[0]["subject_id"])}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(str(q.iloc[0]["case_id"]) in e.label for e in at.expander)
    assert any("建议措施" in i.value for i in at.info)
    assert at.radio(key="act_v0").options == ["审核", "驳回"]  # what a new case allows


def test_the_case_form_asks_only_what_the_chosen_action_needs_and_records_it(
    accounts, running: Running
) -> None:
    q = _open_cases(running, 1)
    at = accounts.app(str(PAGES_DIR / "vehicle_profile.py"))
    at.session_state["vehicle"] = {"plate": "", "vin": str(q.iloc[0]["subject_id"])}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    keys = {w.key for w in at.selectbox} | {w.key for w in at.number_input}
    assert not {"measure_v0", "code_v0", "ch_v0", "to_v0", "grade_v0", "k_v0"} & keys
    at.radio(key="act_v0").set_value("dismiss").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="code_v0") is not None
    assert "measure_v0" not in {w.key for w in at.selectbox}
    at.text_input(key="reason_v0").input("同车重复推送")
    at.text_input(key="who_v0").input("李警官")
    at.button(key="go_v0").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    running.settle()
    last = case_queries.log(running.pipeline.client, ZONE, str(q.iloc[0]["case_id"])).iloc[-1]
    assert (last["action"], last["status_after"], last["actor"], last["reason"]) == (
        "dismiss",
        "dismissed",
        "李警官",
        "同车重复推送",
    )

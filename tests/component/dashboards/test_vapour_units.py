"""The station profile's cases, and the depot and sensor pages, with data and by role: an operator
reads its own station's cases and sensors (nothing of another station, no depot), an officer
opens a case with its log; readings show with units and limits in Beijing time."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from core.exceedance import fire
from core.ruleset import default_ruleset
from core.timeutil import utcnow
from dashboards.app import PAGES_DIR
from enforcement.events import CaseState
from enforcement.events import examples as case_examples
from fuel_vapor.events import DepotReading, SensorReading
from streams.warehouse import shared
from streams.warehouse.queries import desk
from streams.warehouse.sink import BatchingSink

pytestmark = pytest.mark.component


@pytest.fixture
def reader(warehouse: Any) -> Iterator[Any]:
    from dashboards.data import _cached

    shared.set_reader(warehouse)
    _cached.clear()
    yield warehouse
    shared.set_reader(None)


def _store(reader: Any, events: list[Any]) -> None:
    sink = BatchingSink(reader, write_ingest_log=False)
    sink.put(events)
    assert sink.flush()


def _case(case_id: str, subject_kind: str, subject_id: str, status: str, age: timedelta) -> Any:
    base = next(e for e in case_examples() if isinstance(e, CaseState))
    ts = utcnow() - age
    return dataclasses.replace(
        base,
        event_id=f"cs-{case_id}",
        ts=ts,
        opened_at=ts,
        case_id=case_id,
        version=1,
        subject_kind=subject_kind,
        subject_id=subject_id,
        plate="",
        vin="",
        vehicle_class="",
        jurisdiction="qingpu",
        jurisdictions=("qingpu",),
        issue="vapour",
        status=status,
        rules=("FV-AL-WARN",),
        sources=("fuel_vapor",),
        state_json="{}",
    )


@pytest.fixture
def station_cases(reader: Any) -> dict[str, Any]:
    cases = {
        "open": _case("C-QP1-OPEN", "station", "QP-ST-0001", "new", timedelta(days=2)),
        "sensor": _case("C-QP1-GW", "sensor", "QP-GW-0001", "in_review", timedelta(days=1)),
        "recent": _case("C-QP1-DONE", "station", "QP-ST-0001", "closed", timedelta(days=10)),
        "old": _case("C-QP1-OLD", "station", "QP-ST-0001", "dismissed", timedelta(days=200)),
        "other": _case("C-QP3", "station", "QP-ST-0003", "new", timedelta(days=1)),
    }
    _store(reader, list(cases.values()))
    return cases


def test_station_cases_query_is_scoped_and_lists_open_then_recent(
    accounts: Any, reader: Any, station_cases: dict[str, Any]
) -> None:
    since = utcnow() - timedelta(days=90)
    got = desk.station_cases(reader, accounts.scope("op_qp1"), "QP-ST-0001", since)
    assert list(got["case_id"])[:2] == ["C-QP1-GW", "C-QP1-OPEN"]  # open first, newest first
    assert set(got["case_id"]) == {"C-QP1-GW", "C-QP1-OPEN", "C-QP1-DONE"}  # not the old one
    assert desk.station_cases(reader, accounts.scope("op_qp1"), "QP-ST-0003", since).empty
    assert desk.station_cases(reader, accounts.scope("officer_wj"), "QP-ST-0001", since).empty


def test_the_operator_sees_its_station_s_cases_without_actions(
    accounts: Any, reader: Any, station_cases: dict[str, Any]
) -> None:
    at = accounts.app(str(PAGES_DIR / "vapor_station.py"), user="op_qp1").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "本站的案件" in [s.value for s in at.subheader]
    shown = [df.value for df in at.dataframe if "案件编号" in df.value.columns]
    assert len(shown) == 1
    assert set(shown[0]["案件编号"]) == {"C-QP1-GW", "C-QP1-OPEN", "C-QP1-DONE"}
    assert "新线索" in set(shown[0]["状态"])
    assert not _has(at, "unit_case_QP-ST-0001")  # no case panel: operators read the list
    assert any("执法人员办理" in c.value for c in at.caption)


def _has(at: Any, key: str) -> bool:
    try:
        at.selectbox(key=key)
    except KeyError:
        return False
    return True


def test_an_officer_opens_a_station_case_with_its_log(
    accounts: Any, reader: Any, station_cases: dict[str, Any]
) -> None:
    at = accounts.app(str(PAGES_DIR / "vapor_station.py"), user="officer_qp")
    at.session_state["unit_case"] = "C-QP1-OPEN"  # as the triage queue opens it
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    pick = at.selectbox(key="unit_case_QP-ST-0001")
    assert pick.value == "C-QP1-OPEN"
    assert any("C-QP1-OPEN" in e.label for e in at.expander)


def _depot_data(reader: Any) -> None:
    now = utcnow() - timedelta(minutes=30)
    readings = [
        DepotReading(
            event_id=DepotReading.make_id("QP-DP-0001", now + timedelta(minutes=i)),
            ts=now + timedelta(minutes=i),
            depot_id="QP-DP-0001",
            jurisdiction="qingpu",
            mn="3101DP0000000000000000AA",
            outlet_g_m3=8.0 + i,
            efficiency_pct=97.0,
            truck_pressure_kpa=2.0 + i / 2,
            packet_id=f"p{i}",
        )
        for i in range(6)
    ]
    alarm = fire(
        default_ruleset().rule("OD-TRUCK"),
        now,
        source="fuel_vapor",
        subject_kind="depot",
        subject_id="QP-DP-0001",
        jurisdiction="qingpu",
        device_id="QP-DP-0001",
        measured=4.6,
        limit=4.5,
        unit="kPa",
        detail={"check": "truck"},
    )
    _store(reader, [*readings, alarm])


def test_depot_page_with_data(accounts: Any, reader: Any) -> None:
    _depot_data(reader)
    at = accounts.app(str(PAGES_DIR / "vapor_depots.py"), user="officer_qp").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "储油库"
    assert at.sidebar.selectbox(key="depot_pick").options == ["青浦油库（青浦区）"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["排放口浓度（时段内最大）"] == "13.0 g/m³"
    assert metrics["处理效率（时段内最小）"] == "97.0 %"
    assert metrics["罐车压力（时段内最大）"] == "4.50 kPa"
    assert len(at.get("vega_lite_chart")) == 3
    assert any("罐车" in e.label and "北京时间" in e.label for e in at.expander)


def test_depot_page_for_an_operator_says_there_is_none(accounts: Any, reader: Any) -> None:
    _depot_data(reader)
    at = accounts.app(str(PAGES_DIR / "vapor_depots.py"), user="op_qp1").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("没有油库" in i.value for i in at.info)
    assert not at.metric


def _sensor_data(reader: Any) -> None:
    now = utcnow() - timedelta(hours=3)
    events = []
    for sid, kind, station, q, unit, v in (
        ("QP-AM-0001", "ambient", "QP-ST-0001", "nmhc_mg_m3", "mg/m3", 0.6),
        ("QP-GW-0001", "groundwater", "QP-ST-0001", "benzene_ug_l", "ug/L", 1.5),
        ("QP-AM-0002", "ambient", "QP-ST-0002", "nmhc_mg_m3", "mg/m3", 0.9),
    ):
        for i in range(4):
            ts = now + timedelta(minutes=20 * i)
            events.append(
                SensorReading(
                    event_id=SensorReading.make_id(sid, q, ts),
                    ts=ts,
                    sensor_id=sid,
                    sensor_kind=kind,
                    station_id=station,
                    jurisdiction="qingpu",
                    mn="3101SN0000000000000000AA",
                    quantity=q,
                    value=v + i / 10,
                    unit=unit,
                    data_flag="N" if i else "D",
                    packet_id=f"{sid}-{i}",
                )
            )
    _store(reader, events)


def test_sensor_page_with_data_for_the_operator_of_the_station(accounts: Any, reader: Any) -> None:
    _sensor_data(reader)
    at = accounts.app(str(PAGES_DIR / "vapor_sensors.py"), user="op_qp1").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "环境空气与地下水监测"
    pick = at.sidebar.selectbox(key="sensor_pick")
    assert pick.options == [
        "环境空气 · 青浦朱家角加油站（QP-AM-0001）",
        "地下水 · 青浦朱家角加油站（QP-GW-0001）",
    ]  # its own station's sensors only
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["非甲烷总烃（NMHC）（时段内最大）"] == "0.900 mg/m³"
    assert any("基准值 4.0 mg/m³" in c.value for c in at.caption)
    assert any("1 条数据带有设备自身的故障或维护标记" in w.value for w in at.warning)
    at.sidebar.selectbox(key="sensor_pick").set_value("QP-GW-0001").run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["苯（时段内最大）"] == "1.800 µg/L"


def test_sensor_page_opens_a_linked_sensor_and_draws_the_table_when_asked(
    accounts: Any, reader: Any
) -> None:
    _sensor_data(reader)
    at = accounts.app(str(PAGES_DIR / "vapor_sensors.py"), user="op_qp1")
    at.query_params["sensor"] = "QP-GW-0001"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.sidebar.selectbox(key="sensor_pick").value == "QP-GW-0001"
    readings = [d for d in at.dataframe if "监测数据" in d.value.columns]
    assert not readings  # the readings table is sent when its expander is opened
    at.session_state["sensor_table"] = True
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [d for d in at.dataframe if "监测数据" in d.value.columns]
    # a link to another station's sensor opens the operator's own first sensor instead
    other = accounts.app(str(PAGES_DIR / "vapor_sensors.py"), user="op_qp1")
    other.query_params["sensor"] = "QP-AM-0002"
    other.run()
    assert not other.exception
    assert other.sidebar.selectbox(key="sensor_pick").value == "QP-AM-0001"

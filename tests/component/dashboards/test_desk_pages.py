"""AppTest of the vehicle profile and device-health pages with data, and their queries."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from core.exceedance import examples as exceedance_examples
from core.registry import Calibration
from core.scope import Scope
from core.timeutil import utcnow
from dashboards.app import PAGES_DIR
from remote_sensing.events import RsdPass
from remote_sensing.events import examples as rsd_examples
from streams.warehouse import shared
from streams.warehouse.queries import devices, vehicle
from streams.warehouse.sink import BatchingSink

pytestmark = pytest.mark.component


@pytest.fixture
def reader(warehouse: Any) -> Any:
    shared.set_reader(warehouse)
    from dashboards.data import _cached

    _cached.clear()
    yield warehouse
    shared.set_reader(None)


def _store(reader: Any, events: list[Any]) -> None:
    sink = BatchingSink(reader, write_ingest_log=False)
    sink.put(events)
    assert sink.flush()


def _vehicle_data(reader: Any) -> tuple[RsdPass, Any]:
    now = utcnow() - timedelta(hours=2)
    rsd = next(e for e in rsd_examples() if isinstance(e, RsdPass))
    rsd = dataclasses.replace(rsd, ts=now)
    exc = dataclasses.replace(
        exceedance_examples()[0], subject_id=rsd.plate, ts=now, source="remote_sensing"
    )
    _store(reader, [rsd, exc])
    return rsd, exc


def test_timeline_joins_readings_and_events(reader: Any) -> None:
    rsd, _exc = _vehicle_data(reader)
    until = utcnow() + timedelta(minutes=1)
    tl = vehicle.timeline(reader, Scope.zone(), rsd.plate, "", until - timedelta(days=1), until)
    assert sorted(tl["what"]) == ["exceedance", "reading"]
    assert set(tl["source"]) == {"remote_sensing"}


def test_vehicle_page_with_data(accounts, reader: Any) -> None:
    rsd, _exc = _vehicle_data(reader)
    at = accounts.app(str(PAGES_DIR / "vehicle_profile.py"))
    at.session_state["vehicle"] = {"plate": rsd.plate, "vin": ""}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "车辆档案"
    assert {m.label: m.value for m in at.metric}["累计超标"] == "1"
    assert len(at.get("vega_lite_chart")) == 1  # the one time line
    headers = [list(d.value.columns) for d in at.dataframe]
    assert headers[0][:3] == ["时间（北京时间）", "数据来源", "规则"]


def test_vehicle_page_from_a_query_parameter_that_does_not_parse(accounts, reader: Any) -> None:
    at = accounts.app(str(PAGES_DIR / "vehicle_profile.py"))
    at.query_params["plate"] = "not-a-plate"
    at.run()
    assert not at.exception
    assert any("不是有效车牌" in e.value for e in at.error)


def test_calibration_states_on_the_reading_date() -> None:
    on = date(2026, 12, 6)
    cal = Calibration(valid_until=date(2026, 12, 31), certificate="X")
    assert devices._calibration_status(cal, on) == "due_soon"
    assert devices._calibration_status(cal, date(2027, 1, 1)) == "expired"
    assert devices._calibration_status(cal, date(2026, 10, 1)) == "valid"
    assert devices._calibration_status(None, on) == "missing"
    assert devices._calibration_status(None, on, applicable=False) == "not_applicable"


def test_device_health_with_data(accounts, reader: Any, registry: Any) -> None:
    _vehicle_data(reader)
    until = datetime.now(UTC) + timedelta(minutes=1)
    h = devices.health(
        reader, Scope.zone(), until - timedelta(days=7), until, until.date(), registry
    )
    n_devices = (
        len(registry.rsd_sites)
        + len(registry.cameras)
        + len(registry.obd_vehicles)
        + len(registry.stations)
        + len(registry.depots)
        + len(registry.sensors)
    )
    assert len(h) == n_devices
    site = h[h["device_id"] == rsd_examples()[0].site_id].iloc[0]  # type: ignore[union-attr]
    assert site["days_with_data"] == 1 and site["completeness"] == pytest.approx(1 / 7)
    at = accounts.app(str(PAGES_DIR / "platform_devices.py")).run()
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["设备数"] == str(n_devices)
    assert metrics["时段内无数据"] == str(n_devices - 1)
    # one table per kind of device, in tabs drawn only when open: every device in one of them
    labels = [t.label for t in at.tabs]
    assert len(labels) >= 2, labels
    shown: set[str] = set()
    for i, label in enumerate(labels):
        at.session_state["devices_kind"] = label
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        drawn = [j for j, t in enumerate(at.tabs) if len(t.dataframe)]
        assert drawn == [i], (label, drawn)  # the chosen tab only
        shown |= set(at.tabs[i].dataframe[0].value["设备编号"])
    assert shown == set(
        h[h["kind"].isin(["rsd_site", "camera", "obd_terminal", "data_logger"])]["device_id"]
    )

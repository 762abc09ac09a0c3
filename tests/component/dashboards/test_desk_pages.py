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
    from dashboards.data import refresh

    refresh()  # every query cache (10 s and 60 s)
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
    # the sections below the time line are tabs: only the open one is drawn
    assert [t.label for t in at.tabs] == ["该车辆触发的规则", "黑烟抓拍证据", "遥感过车记录"]
    assert len(at.dataframe) == 1
    at.session_state["vehicle_section"] = "遥感过车记录"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    headers = [list(d.value.columns) for d in at.dataframe]
    assert not any("数据来源" in h for h in headers)  # the rules table is not drawn now
    assert any("监测点" in h for h in headers), headers  # the passes are
    assert len(at.get("vega_lite_chart")) == 1  # the time line stays


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


def test_a_vehicles_exceedances_include_its_plate_colour_keys(accounts, reader: Any) -> None:
    # RSD and camera reads key an exceedance by plate|colour: the page counted only the bare plate
    rsd, exc = _vehicle_data(reader)
    coloured = dataclasses.replace(exc, event_id="x-coloured", subject_id=f"{rsd.plate}|yellow")
    other = dataclasses.replace(exc, event_id="x-other", subject_id=f"{rsd.plate}9|yellow")
    _store(reader, [coloured, other])
    ex = vehicle.exceedances(reader, Scope.zone(), rsd.plate, "")
    assert sorted(ex["subject_id"]) == sorted([rsd.plate, f"{rsd.plate}|yellow"])
    assert int(ex["total"].iloc[0]) == 2
    until = utcnow() + timedelta(minutes=1)
    tl = vehicle.timeline(reader, Scope.zone(), rsd.plate, "", until - timedelta(days=1), until)
    assert (tl["what"] == "exceedance").sum() == 2
    at = accounts.app(str(PAGES_DIR / "vehicle_profile.py"))
    at.session_state["vehicle"] = {"plate": rsd.plate, "vin": ""}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert {m.label: m.value for m in at.metric}["累计超标"] == "2"


def test_vehicle_page_reads_the_platforms_registry(
    accounts, reader: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a seeded fleet's vehicle is in <data-dir>/registry (EMW_REGISTRY_DIR), not in the shipped one
    import shutil

    import yaml

    from core.ids import with_check_digit
    from core.registry import DEFAULT_DIR

    vin = with_check_digit("LZYCHB3A0SJ900007")
    reg = tmp_path / "registry"
    reg.mkdir()
    for f in DEFAULT_DIR.glob("*.yaml"):
        shutil.copyfile(f, reg / f.name)
    mine = yaml.safe_load((DEFAULT_DIR / "obd.yaml").read_text(encoding="utf-8"))["obd_vehicles"][0]
    mine.update(vin=vin, plate="苏E7K3Q9", fleet="seeded-fleet-7")
    (reg / "seed_fleet.yaml").write_text(
        yaml.safe_dump({"obd_vehicles": [mine]}, allow_unicode=True), encoding="utf-8"
    )
    monkeypatch.setenv("EMW_REGISTRY_DIR", str(reg))
    now = utcnow() - timedelta(hours=2)
    exc = dataclasses.replace(
        exceedance_examples()[0], subject_id=vin, ts=now, source="obd_gateway"
    )
    _store(reader, [exc])
    at = accounts.app(str(PAGES_DIR / "vehicle_profile.py"))
    at.query_params["plate"] = "苏E7K3Q9"  # the plate: its VIN is known to that registry only
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert {m.label: m.value for m in at.metric}["累计超标"] == "1"
    assert any("seeded-fleet-7" in c.value for c in at.caption)


async def test_a_long_case_log_shows_its_newest_entries(
    accounts, reader: Any, pipeline: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.timeutil import beijing

    t0 = beijing(2026, 11, 2, 9)
    base = next(e for e in rsd_examples() if isinstance(e, RsdPass))
    passes = [  # consecutive NO and Ringelmann exceedances: an emission case, then attachments
        dataclasses.replace(
            base,
            event_id=RsdPass.make_id("RSD-QP-01", f"q{i}"),
            record_id=f"q{i}",
            ts=t0 + timedelta(days=i),
            site_id="RSD-QP-01",
            jurisdiction="qingpu",
            plate="沪D55501",
            plate_colour="yellow",
            fuel="diesel",
            no_ppm=1650.0,
            ringelmann=2.0,
            opacity_pct=None,
        )
        for i in range(3)
    ]
    await pipeline.publish(passes)
    await pipeline.settle()
    await pipeline.settle()
    monkeypatch.setattr("dashboards.case_panel.LOG_ROWS", 1)
    at = accounts.app(str(PAGES_DIR / "vehicle_profile.py"))
    at.session_state["vehicle"] = {"plate": "沪D55501", "vin": ""}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    # the log is drawn when its tab is opened (the next step shows first)
    assert not [d for d in at.dataframe if "链式哈希" in d.value.columns]
    assert at.radio(key="act_v0") is not None
    at.session_state["case_tab_v0"] = "处置记录"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = [c.value for c in at.caption if c.value.startswith("最新 1 条")]
    assert shown and "共 1 条" not in shown[0]  # a log of several entries, one shown
    logs = [d.value for d in at.dataframe if "链式哈希" in d.value.columns]
    assert logs and len(logs[0]) == 1

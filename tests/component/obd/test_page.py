"""AppTest of the OBD page: renders without data and shows a vehicle once data is stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dashboards.app import PAGES_DIR
from obd_gateway.protocol import DataStream
from obd_gateway.session import sample_from_stream
from streams.warehouse import shared
from streams.warehouse.sink import BatchingSink

pytestmark = pytest.mark.component
PAGE = str(PAGES_DIR / "obd_fleet.py")


@pytest.fixture
def reader(warehouse):
    shared.set_reader(warehouse)
    from dashboards.data import refresh

    refresh()  # every query cache (10 s and 60 s)
    yield warehouse
    shared.set_reader(None)


def test_page_without_data(accounts, reader) -> None:
    at = accounts.app(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "重型柴油车远程在线监控（OBD）"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["在线车辆"].startswith("0 / ")


def test_page_with_samples_shows_online_vehicle_and_timeline(accounts, reader, registry) -> None:
    v = registry.obd_vehicles[0]
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    events = [
        sample_from_stream(
            v.vin,
            v,
            now + timedelta(seconds=i),
            DataStream.from_physical(
                speed_kmh=30.0, rpm=1200.0, nox_up_ppm=400.0, nox_down_ppm=30.0
            ),
            received_at=now,
            backfilled=False,
            time_inferred=False,
            signature="absent",
            frame_id="f",
        )
        for i in range(120)
    ]
    sink = BatchingSink(reader)
    sink.put(events)
    assert sink.flush()
    at = accounts.app(PAGE).run()
    assert {m.label: m.value for m in at.metric}["在线车辆"].startswith("1 / ")
    at.text_input(key="obd_vin").input(v.vin.lower()[:8] + " " + v.vin.lower()[8:]).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("共 120 条记录" in c.value for c in at.caption)

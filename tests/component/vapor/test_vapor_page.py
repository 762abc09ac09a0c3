"""Station operator page (AppTest): no data, simulated data, and scoping to the allowed stations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.timeutil import BEIJING
from fuel_vapor.codemaps import default_codemaps
from fuel_vapor.intake import from_hj212
from fuel_vapor.protocol import FrameDecoder, parse_segment
from fuel_vapor.simulator import Fault, Simulation
from streams.warehouse import shared

pytestmark = pytest.mark.component
PAGE = Path(__file__).resolve().parents[3] / "dashboards" / "views" / "vapor_station.py"


@pytest.fixture
def reader(warehouse):
    shared.set_reader(warehouse)
    from dashboards.data import _cached

    _cached.clear()
    yield warehouse
    shared.set_reader(None)


def test_page_without_data_says_so(accounts, reader):
    at = accounts.app(str(PAGE)).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "加油站油气回收"
    assert any("暂无数据" in i.value for i in at.info)


def test_a_link_opens_one_of_the_callers_stations(accounts, reader):
    at = accounts.app(str(PAGE), user="joint1")
    at.query_params["station"] = "JS-ST-0001"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.sidebar.selectbox[0].value == "JS-ST-0001"
    mine = accounts.app(str(PAGE), user="op_qp3")
    mine.query_params["station"] = "JS-ST-0001"  # not theirs: the first of their own instead
    mine.run()
    assert not mine.exception, [e.value for e in mine.exception]
    assert mine.sidebar.selectbox[0].value == "QP-ST-0003"


async def test_page_with_data_shows_alarms_and_respects_scope(accounts, pipeline, registry):
    now = datetime.now(UTC).astimezone(BEIJING)
    start = datetime(now.year, now.month, now.day, tzinfo=BEIJING) - timedelta(days=7)
    sim = Simulation(
        registry,
        start,
        faults=[Fault("QP-ST-0001", "drift", 3, start)],
        seed=5,
        stations=["QP-ST-0001"],
        station_period_s=1800,
    )
    cms = default_codemaps()
    dec = FrameDecoder(extra_chars=b"0")
    events = []
    for o in sim.packets(now):
        (frame,) = dec.feed(o.frame)
        p = parse_segment(frame.segment.decode())
        unit = registry.unit_by_mn(p.mn)
        events += from_hj212(p, frame.raw, unit, cms[unit.code_map], o.ts).all_events
    await pipeline.publish(events)
    await pipeline.settle()
    shared.set_reader(pipeline.client)
    from dashboards.data import _cached

    _cached.clear()
    try:
        at = accounts.app(str(PAGE), user="op_qp1")  # the operator of QP-ST-0001
        at.session_state["allowed_stations"] = ("QP-ST-0002",)  # ignored: the login decides
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert at.sidebar.selectbox[0].options == ["QP-ST-0001 青浦朱家角加油站"]
        metrics = {m.label: m.value for m in at.metric}
        assert metrics["预警或报警的油枪"] == "1"
        labels = [e.label for e in at.expander]
        assert any("（FV-AL-ALARM） · N03 · " in lbl for lbl in labels), labels
        hint_md = [m.value for m in at.markdown if m.value.startswith("**检查建议：**")]
        assert hint_md and "油枪" in hint_md[0]
        assert any("证据" in m.value and "vapor.nozzle_day:" in m.value for m in at.markdown)
        # the table of every alarm is sent when its expander is opened, units in Chinese
        assert not [d for d in at.dataframe if "暂行规则" in d.value.columns]
        at.session_state["vapour_alarms_table"] = True
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        (listed,) = [d.value for d in at.dataframe if "暂行规则" in d.value.columns]
        assert "N03" in set(listed["油枪或设备"]) and "天" in set(listed["单位"])
        assert "days" not in set(listed["单位"])
        # the history tabs draw only the open one; the ISD comparison once it is chosen
        isd = next(t for t in at.tabs if "ISD" in t.label)
        assert not len(isd.dataframe)
        at.session_state["station_history_tab"] = isd.label
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        isd = next(t for t in at.tabs if "ISD" in t.label)
        assert any("ISD" in str(c) for c in isd.dataframe[0].value.columns)
        # the printable sheets and the tank table are tabs too: drawn once chosen
        assert not at.get("download_button") and not at.date_input
        sheets = next(t for t in at.tabs if t.label == "达标报表")
        at.session_state["station_history_tab"] = sheets.label
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert len(at.date_input) == 2
        assert not next(t for t in at.tabs if "ISD" in t.label).dataframe
        # another operator: station QP-ST-0003 only, nothing of QP-ST-0001 visible
        other = accounts.app(str(PAGE), user="op_qp3")
        other.query_params["station"] = "QP-ST-0001"  # a URL parameter changes nothing either
        other.run()
        assert not other.exception
        assert other.sidebar.selectbox[0].options == ["QP-ST-0003 青浦练塘加油站"]
        assert not any("QP-ST-0001" in e.label for e in other.expander)
    finally:
        shared.set_reader(None)

"""Simulated stations through intake, processors and chDB; the station-page queries on the result."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from core.scope import Scope
from core.timeutil import BEIJING
from fuel_vapor.codemaps import default_codemaps
from fuel_vapor.intake import from_hj212
from fuel_vapor.protocol import FrameDecoder, parse_segment
from fuel_vapor.simulator import Fault, Simulation
from streams.warehouse.queries import vapor as q

ZONE = Scope.zone()  # named queries take the caller's scope

pytestmark = pytest.mark.component
T0 = datetime(2026, 11, 1, 0, 0, tzinfo=BEIJING)


async def _run(pipeline, registry, stations, faults, days=7):
    sim = Simulation(registry, T0, faults=faults, seed=11, stations=stations, station_period_s=600)
    cms = default_codemaps()
    dec = FrameDecoder(extra_chars=b"0")
    batch = []
    for o in sim.packets(T0 + timedelta(days=days)):
        (frame,) = dec.feed(o.frame)
        packet = parse_segment(frame.segment.decode())
        unit = registry.unit_by_mn(packet.mn)
        res = from_hj212(packet, frame.raw, unit, cms[unit.code_map], o.ts)
        assert not res.problems, res.problems
        batch += res.all_events
        if len(batch) > 2000:
            await pipeline.publish(batch)
            batch = []
    await pipeline.publish(batch)
    await pipeline.settle()


async def test_drifting_nozzle_reaches_alarm_and_queries_are_scoped(pipeline, registry):
    faults = [Fault("QP-ST-0001", "drift", 3, T0), Fault("QP-ST-0003", "zero_pressure", None, T0)]
    await _run(pipeline, registry, ["QP-ST-0001", "QP-ST-0003"], faults)
    c = pipeline.client
    days = q.nozzle_days(c, ZONE, ("QP-ST-0001",), date(2026, 11, 1), date(2026, 11, 8))
    n3 = days[days.nozzle == 3]
    assert list(n3.state)[:6] == ["exceed"] * 6
    assert list(n3.level)[:5] == ["warning"] * 4 + ["alarm"]
    healthy = days[days.nozzle != 3]
    assert (healthy.state == "pass").mean() > 0.9  # nozzles without a fault pass nearly every day
    assert set(days.station_id) == {"QP-ST-0001"}  # QP-ST-0003 not asked for, not returned

    al = q.alarms(c, ZONE, ("QP-ST-0001",), T0, T0 + timedelta(days=8))
    alarm = al[(al.rule_id == "FV-AL-ALARM") & (al.subject_id == "QP-ST-0001:N03")]
    assert len(alarm) == 1 and alarm.iloc[0].severity == "alarm"
    assert all(e.startswith("vapor.") for e in alarm.iloc[0].evidence)
    assert not (al.subject_id.str.startswith("QP-ST-0003")).any()
    zp = q.alarms(c, ZONE, ("QP-ST-0003",), T0, T0 + timedelta(days=8))
    assert (zp.rule_id == "FV-ZP").sum() >= 5 and "alarm" in set(zp[zp.rule_id == "FV-ZP"].severity)

    status = q.nozzle_status(c, ZONE, ("QP-ST-0001",))
    row = status[status.nozzle == 3].iloc[0]
    assert row.level == "alarm" and row.streak >= 5
    live = q.pass_rate_live(
        c, ZONE, ("QP-ST-0001",), T0 + timedelta(days=6), T0 + timedelta(days=7)
    )
    assert live[live.nozzle == 3].iloc[0].pass_rate < 0.2
    assert live[live.nozzle == 1].iloc[0].pass_rate > 0.75
    month = q.compliance_monthly(c, ZONE, ("QP-ST-0001",), date(2026, 11, 1), date(2026, 12, 1))
    assert int(month[month.nozzle == 3].iloc[0].exceed_days) >= 6
    states = q.station_states(c, ZONE, ("QP-ST-0003",), date(2026, 11, 1), date(2026, 11, 8))
    zp_days = states[states.category == "zero_pressure"]
    assert (zp_days.level != "normal").all() and (zp_days.value >= 12).all()
    assert q.nozzle_days(c, ZONE, (), date(2026, 11, 1), date(2026, 11, 8)).empty


async def test_shield_mode_station_is_flagged(pipeline, registry):
    faults = [Fault("QP-ST-0003", "shield", None, T0), Fault("QP-ST-0003", "drift", 2, T0)]
    await _run(pipeline, registry, ["QP-ST-0003"], faults, days=6)
    al = q.alarms(pipeline.client, ZONE, ("QP-ST-0003",), T0, T0 + timedelta(days=8))
    shield = al[al.rule_id == "FV-SHIELD"]
    assert len(shield) >= 1 and set(shield.subject_id) == {"QP-ST-0003:N02"}
    # the firmware hides the drift from the A/L rules; the too-uniform A/L gives it away
    assert not (al.rule_id == "FV-AL-ALARM").any()


async def test_resent_packet_is_stored_once_even_without_data_time(pipeline, registry):
    st = next(s for s in registry.stations if s.code_map == "guangzhou")
    seg = f"ST=61;CN=2021;PW=123456;MN={st.mn};CP=&&TankPress=120.5&&"
    from fuel_vapor.protocol import encode_frame

    raw = encode_frame(seg, extra_char="0")[:-2]
    cm = default_codemaps()["guangzhou"]
    for minutes in (0, 7):  # the device resent after a lost answer: receipt times differ
        res = from_hj212(parse_segment(seg), raw, st, cm, T0 + timedelta(minutes=minutes))
        assert "no_data_time" in res.problems
        await pipeline.publish(res.all_events)
    await pipeline.settle()
    assert pipeline.client.query("SELECT count() FROM vapor_packet FINAL").result_rows[0][0] == 1

"""Code maps are configuration (round trip per dialect, a new city is a file), intake problems."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.registry import load_registry
from core.timeutil import beijing
from fuel_vapor.codemaps import DEFAULT_DIR, load_codemap, load_codemaps
from fuel_vapor.intake import from_hj212, redact_pw
from fuel_vapor.protocol import FrameDecoder, parse_segment
from fuel_vapor.protocol.framing import Frame

REG = load_registry()
MAPS = load_codemaps()
TS = beijing(2026, 11, 23, 10, 20, 30)
FUEL = {
    "al": 1.07,
    "fuel_volume_l": 31.27,
    "vapour_volume_l": 33.46,
    "fuel_flow_lpm": 35.2,
    "vapour_flow_lpm": 37.66,
    "liquid_resistance_pa": 41.5,
}


def _decode(frame: bytes):
    (f,) = [x for x in FrameDecoder(extra_chars=b"0").feed(frame) if isinstance(x, Frame)]
    return f, parse_segment(f.segment.decode())


def test_shipped_maps_and_registry_use_at_least_two_station_dialects():
    assert {"guangzhou", "chongqing", "hefei", "national", "depot"} <= set(MAPS)
    used = {s.code_map for s in REG.stations}
    assert {"guangzhou", "chongqing"} <= used and used <= set(MAPS)
    assert all(d.code_map in MAPS for d in REG.depots) and all(
        s.code_map in MAPS for s in REG.sensors
    )
    for s in REG.stations:
        assert 4 <= len(s.nozzles) <= 16 and s.password.startswith("sha256:") and len(s.mn) == 24


@pytest.mark.parametrize("name", ["guangzhou", "chongqing"])
def test_fuelling_round_trip_through_each_station_dialect(name):
    cm = MAPS[name]
    st = next(s for s in REG.stations if s.code_map == name)
    cn = next(c for c in cm.cns if cm.message(c).fuelling)
    frame = cm.encode(
        cn=cn,
        mn=st.mn,
        pw="123456",
        ts=TS,
        qn="20261123102030000",
        station_id=st.id,
        nozzle=3,
        fuelling=FUEL,
    )
    f, p = _decode(frame)
    assert (f.extra_char, f.tail) == (
        (cm.profile.extra_char, "crlf") if name == "guangzhou" else ("", "literal")
    )
    assert p.st == cm.profile.st and p.data_time == TS
    assert (p.flag is None) == (cm.profile.flag is None)
    ((nozzle, values),) = cm.decode(p).fuellings
    assert nozzle == 3 and values == pytest.approx(FUEL)
    res = from_hj212(p, f.raw, st, cm, datetime.now(UTC))
    (fb,) = [e for e in res.events if e.KIND == "vapor.fuelling"]
    (fe,) = fb.rows()
    assert (fe.station_id, fe.nozzle, fe.ts, fe.al, fe.key) == (st.id, 3, TS, 1.07, f"{st.id}:N03")
    assert fb.key == st.id
    assert res.packet_event.records == len(res.events) and not res.problems


def test_hefei_lower_case_crc_17_digit_time_and_unattributed_al():
    cm = MAPS["hefei"]
    frame = cm.encode(
        cn="2011",
        mn="HF0001",
        pw="123456",
        ts=TS,
        station={"tank_pressure_pa": 120.0, "al_unattributed": 1.1},
    )
    assert frame[-6:-2] == frame[-6:-2].lower()
    _, p = _decode(frame)
    assert p.qn is None and len(p.get("DataTime")) == 17
    assert p.header[0][0] == "ST" and cm.decode(p).station == {
        "tank_pressure_pa": 120.0,
        "al_unattributed": 1.1,
    }


def test_sensor_and_depot_maps():
    sensor = REG.sensors[0]
    cm = MAPS[sensor.code_map]
    frame = cm.encode(
        cn="2011",
        mn=sensor.mn,
        pw="123456",
        ts=TS,
        qn="1",
        sensor={"nmhc_mg_m3": (0.7, "N"), "no2_ug_m3": (41.0, "N")},
    )
    f, p = _decode(frame)
    res = from_hj212(p, f.raw, sensor, cm, datetime.now(UTC))
    assert sorted((e.quantity, e.value, e.data_flag) for e in res.events) == [
        ("nmhc_mg_m3", 0.7, "N"),
        ("no2_ug_m3", 41.0, "N"),
    ]
    depot = REG.depots[0]
    frame = MAPS["depot"].encode(
        cn="2011",
        mn=depot.mn,
        pw="123456",
        ts=TS,
        qn="2",
        depot={"outlet_g_m3": 8.0, "efficiency_pct": 97.0, "truck_pressure_kpa": 3.1},
    )
    f, p = _decode(frame)
    (d,) = from_hj212(p, f.raw, depot, MAPS["depot"], datetime.now(UTC)).events
    assert (d.depot_id, d.outlet_g_m3, d.truck_pressure_kpa) == (depot.id, 8.0, 3.1)


def test_adding_a_city_is_adding_a_file(tmp_path: Path):
    for p in DEFAULT_DIR.glob("*.yaml"):
        (tmp_path / p.name).write_text(p.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "suzhou.yaml").write_text(
        "name: suzhou\ntitle: test city\nsource: test\nal_unit: percent\n"
        "profile: {st: '31', flag: 5}\n"
        "messages:\n  - cn: '2011'\n    nozzle: {key: 'g(\\d{2})', format: 'g{n:02d}'}\n"
        "    fuelling: {al: '{gun}-AL', fuel_volume_l: '{gun}-YL'}\n",
        encoding="utf-8",
    )
    maps = load_codemaps(tmp_path)
    cm = maps["suzhou"]
    p = parse_segment(
        "QN=1;ST=31;CN=2011;PW=1;MN=X;Flag=5;CP=&&DataTime=20261123102030;g07-AL=112,g07-YL=30&&"
    )
    ((nozzle, values),) = cm.decode(p).fuellings
    assert nozzle == 7 and values["al"] == pytest.approx(1.12)  # percent normalised to a ratio


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("name: wrong\ntitle: t\nsource: s\nprofile: {st: '31'}\nmessages: []\n", "name"),
        (
            "name: bad\ntitle: t\nsource: s\nprofile: {st: '31', crc_case: mixed}\nmessages: []\n",
            "profile.crc_case",
        ),
        (
            "name: bad\ntitle: t\nsource: s\nprofile: {st: '31'}\nmessages:\n  - cn: '1'\n    nozzle: {key: '('}\n",
            "messages.0.nozzle.key",
        ),
    ],
)
def test_bad_code_map_names_file_and_key(tmp_path: Path, text, key):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_codemap(path)
    assert exc.value.key == key and str(path) in str(exc.value)


def test_intake_counts_bad_values_and_keeps_the_packet():
    st = next(s for s in REG.stations if s.code_map == "guangzhou")
    seg = (
        f"QN=20261123102030000;MN={st.mn};ST=61;CN=2011;PW=123456;CP=&&DataTime=20261123102030;"
        "q0003-AlvR=abc,q0003-FuelFlow=30;q0099-AlvR=1.1,q0099-FuelFlow=30&&"
    )
    p = parse_segment(seg)
    res = from_hj212(p, seg.encode(), st, MAPS["guangzhou"], datetime.now(UTC))
    assert res.problems == ["bad_value"] and res.events == []
    assert "bad_value" in res.packet_event.problems
    seg2 = seg.replace("abc", "1.1")
    res2 = from_hj212(parse_segment(seg2), seg2.encode(), st, MAPS["guangzhou"], datetime.now(UTC))
    assert res2.problems == ["unknown_nozzle"] and [e.nozzle for e in res2.events] == [(3,)]
    seg3 = seg.replace("abc", "112")  # a percent value sent by a ratio device: FV-UNIT
    res3 = from_hj212(parse_segment(seg3), seg3.encode(), st, MAPS["guangzhou"], datetime.now(UTC))
    assert "al_out_of_range" in res3.problems
    from core.ruleset import load_ruleset

    rs = load_ruleset()
    res4 = from_hj212(
        parse_segment(seg3), seg3.encode(), st, MAPS["guangzhou"], datetime.now(UTC), ruleset=rs
    )
    (unit_exc,) = [e for e in res4.events if e.KIND == "exceedance"]
    assert (unit_exc.rule_id, unit_exc.subject_id, unit_exc.measured, unit_exc.limit) == (
        "FV-UNIT",
        f"{st.id}:N03",
        112.0,
        3.0,
    )
    assert unit_exc.evidence == (f"vapor.packet:{res4.packet_event.event_id}",)


def test_packet_without_data_time_uses_qn_then_receipt_time():
    st = REG.stations[0]
    now = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    p = parse_segment(f"QN=20261123100000000;ST=61;CN=2021;PW=123456;MN={st.mn};CP=&&TankPress=5&&")
    res = from_hj212(p, b"x", st, MAPS["guangzhou"], now)
    assert res.packet_event.ts == beijing(2026, 11, 23, 10, 0, 0)
    p2 = parse_segment(f"ST=61;CN=2021;PW=123456;MN={st.mn};CP=&&TankPress=5&&")
    res2 = from_hj212(p2, b"y", st, MAPS["guangzhou"], now)
    assert res2.packet_event.ts == now and "no_data_time" in res2.problems


def test_intake_fast_ids_equal_the_event_make_ids():
    from fuel_vapor import intake
    from fuel_vapor.events import (
        FUELLING_VALUES,
        DepotReading,
        DeviceAlarm,
        Fuelling,
        Fuellings,
        SensorReading,
        StationReading,
        VaporPacket,
    )

    for ts in (TS, beijing(2026, 1, 2, 3, 4, 5).replace(microsecond=123000), datetime.now(UTC)):
        t = intake.ts_part(ts)
        b = Fuellings(
            station_id="QP-ST-0001",
            jurisdiction="qingpu",
            mn="M",
            ts=ts,
            al_source_unit="ratio",
            code_map="guangzhou",
            packet_id="p",
            nozzle=(3, 12),
            **{n: (None, None) for n in FUELLING_VALUES},
        )
        assert b.event_ids == (
            Fuelling.make_id("QP-ST-0001", 3, ts),
            Fuelling.make_id("QP-ST-0001", 12, ts),
        )
        assert intake._id(StationReading.KIND, "S", t, "2021") == StationReading.make_id(
            "S", ts, "2021"
        )
        assert intake._id(DeviceAlarm.KIND, "S", "0", "pv", t) == DeviceAlarm.make_id(
            "S", 0, "pv", ts
        )
        assert intake._id(SensorReading.KIND, "X", "voc_mg_m3", t) == SensorReading.make_id(
            "X", "voc_mg_m3", ts
        )
        assert intake._id(DepotReading.KIND, "D", t) == DepotReading.make_id("D", ts)
    assert intake._id(VaporPacket.KIND, "MN1", "ab" * 32) == VaporPacket.make_id("MN1", "ab" * 32)


def test_packet_lookups_keep_first_value_for_get_and_last_for_cp_dict():
    p = parse_segment("QN=1;ST=32;CN=2011;MN=M1;Flag=5;CP=&&a=1;a=2,b=x=y;;c=&&")
    assert p.get("a") == "1" and p.cp_dict()["a"] == "2"
    assert p.get("b") == "x=y" and p.get("c") == "" and p.get("zz") is None
    assert p.cp_dict() == dict(p.items())
    p.cp_dict()["a"] = "changed"  # a copy: the packet is not changed
    assert p.cp_dict()["a"] == "2"


def test_environment_and_settings_packets_of_one_data_time_are_two_readings():
    """A 2021 (environment) and a 2031 (settings) packet with the same DataTime used to share one
    id, so the warehouse kept only one of them (720 readings a month in the seeded zone)."""
    from fuel_vapor.events import StationReading

    st = REG.stations[0]
    now = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    head = f"QN=20261123100000000;ST=61;PW=123456;MN={st.mn};CP=&&DataTime=20261123100000;"
    env = parse_segment(head.replace("ST=61;", "ST=61;CN=2021;") + "TankPress=5&&")
    cfg = parse_segment(head.replace("ST=61;", "ST=61;CN=2031;") + "PVFrwPrs=900&&")
    readings = [
        e
        for p, raw in ((env, b"e"), (cfg, b"c"))
        for e in from_hj212(p, raw, st, MAPS["guangzhou"], now).events
        if isinstance(e, StationReading)
    ]
    assert len(readings) == 2 and readings[0].ts == readings[1].ts
    assert readings[0].event_id != readings[1].event_id
    assert readings[0].tank_pressure_pa == 5 and readings[1].pv_positive_pa == 900


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("QN=1;PW=123456;MN=A;CP=&&&&", "QN=1;PW=******;MN=A;CP=&&&&"),
        ("PW=;MN=A", "PW=******;MN=A"),
        ("PW=12&&", "PW=******&&"),
        ("a;PW=1;CP=&&x-PW=2&&", "a;PW=******;CP=&&x-PW=******&&"),
        ("MN=A;CP=&&&&", "MN=A;CP=&&&&"),
    ],
)
def test_redact_pw_masks_every_password_value(text: str, want: str) -> None:
    assert redact_pw(text) == want

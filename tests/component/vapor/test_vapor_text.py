"""Issue 10 §2 / issue 11: a packet with valid CRC and PW but non-UTF-8 bytes in a value (GBK text,
a stray byte in a ``-Flag``) is decoded or escaped at the codec, so its events serialise (JSON and
Arrow) and are stored; before, one such byte made every insert of the batch fail forever."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import pytest

from core.registry import default_registry
from core.timeutil import BEIJING
from fuel_vapor.codemaps import default_codemaps
from fuel_vapor.events import SensorReading, VaporPacket
from fuel_vapor.intake import from_hj212
from fuel_vapor.protocol import FrameDecoder, encode_frame, parse_segment
from streams import serde
from streams.catalog import table_of

pytestmark = pytest.mark.component
TS = datetime(2026, 11, 20, 9, 0, tzinfo=BEIJING)


def sensor_packet(flag: bytes, info: bytes = b"") -> bytes:
    """A national-code-map sensor packet (QP-AM-0001) whose ``a24088-Flag`` is ``flag`` bytes,
    plus an optional ``-Info`` item; length and CRC are right (the bytes are the device's)."""
    reg = default_registry()
    unit = reg.unit_by_mn("3101SNAD4970302F7EAFC72E")
    assert unit is not None
    cm = default_codemaps()["national"]
    frame = cm.encode(
        cn="2011",
        mn=unit.mn,
        pw=unit.password,
        ts=TS,
        qn="20261120090000000",
        sensor={"nmhc_mg_m3": (1.25, "N"), "no2_ug_m3": (31.0, "N")},
    )
    (f,) = FrameDecoder().feed(frame)
    seg = f.segment.replace(b"a24088-Flag=N", b"a24088-Flag=" + flag)
    if info:
        seg = seg.replace(b"&&DataTime", b"&&a24088-Info=" + info + b";DataTime")
    return encode_frame(seg)


def intake(raw: bytes) -> Any:
    (f,) = FrameDecoder().feed(raw)
    # as the gateway hands the segment over: UTF-8 text with surrogate escapes
    packet = parse_segment(f.segment.decode("utf-8", "surrogateescape"))
    reg = default_registry()
    unit = reg.unit_by_mn(packet.mn)
    cm = default_codemaps()["national"]
    return packet, from_hj212(packet, f.raw, unit, cm, datetime(2026, 11, 20, 1, 0, 5, tzinfo=UTC))


@pytest.mark.parametrize(
    ("flag", "info", "encoding", "want_flag"),
    [
        (b"N\xff", b"", "escaped", "N\\xff"),  # a byte that is neither UTF-8 nor GBK
        (b"N", "油气回收在线监测".encode("gbk"), "gbk", "N"),  # GBK text from a Chinese device
        ("正常".encode("gbk"), b"", "gbk", "正常"),
        ("正常".encode(), b"", "utf-8", "正常"),
    ],
)
def test_non_utf8_values_serialise_and_store(
    warehouse: Any, flag: bytes, info: bytes, encoding: str, want_flag: str
) -> None:
    packet, res = intake(sensor_packet(flag, info))
    assert packet.encoding == encoding
    readings = [e for e in res.events if isinstance(e, SensorReading)]
    flags = {r.quantity: r.data_flag for r in readings}
    assert flags == {"nmhc_mg_m3": want_flag, "no2_ug_m3": "N"}
    assert ("text_escaped" in res.problems) is (encoding == "escaped")  # GBK is not a problem
    events = res.all_events
    for e in events:  # JSON: what the Kafka path sends
        back = json.loads(serde.to_json(e))
        assert back["event_id"] == e.event_id
    by_kind: dict[type, list[Any]] = defaultdict(list)
    for e in events:
        by_kind[type(e)].append(e)
    for cls, evs in by_kind.items():  # Arrow: what the sink inserts
        warehouse.insert_arrow(table_of(cls.KIND), serde.to_arrow(evs))
    rows = warehouse.query(
        "SELECT quantity, data_flag FROM vapor_sensor_reading FINAL ORDER BY quantity"
    ).result_rows
    assert rows == [("nmhc_mg_m3", want_flag), ("no2_ug_m3", "N")]
    (stored_raw,) = warehouse.query("SELECT raw FROM vapor_packet FINAL").result_rows[0]
    pe = next(e for e in events if isinstance(e, VaporPacket))
    assert stored_raw == pe.raw and "a24088-Flag=" in stored_raw
    if info:
        assert "油气回收在线监测" in stored_raw  # GBK text kept readable in the raw record

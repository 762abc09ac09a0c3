"""What real terminals send beyond the samples (issue 10 §2): unset clocks (six zero bytes),
vendor blocks in any position, unknown info types; and that rejection did not weaken."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.registry import default_registry
from core.timeutil import BEIJING
from obd_gateway.events import ObdFrame, ObdInfoSnapshot, sample_rows
from obd_gateway.protocol import (
    DataStream,
    DataUnitError,
    Frame,
    HeaderVariant,
    InfoItem,
    Layout,
    ObdInfo,
    RealTime,
    VendorBlock,
    decode_realtime,
    parse_frame,
)
from obd_gateway.protocol.frame import RESP_ERROR, RESP_SUCCESS
from obd_gateway.protocol.units import UNSET_TIME
from obd_gateway.session import TIME_UNSET, Session

REG = default_registry()
VIN = REG.obd_vehicles[0].vin
T = datetime(2026, 11, 20, 9, 0, 0, tzinfo=BEIJING)
RX = datetime(2026, 11, 20, 1, 0, 7, 250000, tzinfo=UTC)  # receive time (not a whole second)
S1 = DataStream.from_physical(speed_kmh=42.0, rpm=1300.0, nox_down_ppm=80.0)
S2 = DataStream.from_physical(speed_kmh=43.0, rpm=1310.0, nox_down_ppm=81.0)
INFO = ObdInfo.build(vin=VIN, calibration_id="CAL-1", cvn="CVN-1")


def frame(data: bytes, command: int = 0x02) -> Frame:
    return Frame(HeaderVariant.TERMINAL, command, VIN, 1, 1, data)


def vendor(t: int, payload: bytes) -> VendorBlock:
    return VendorBlock(t, len(payload).to_bytes(2, "big") + payload)


# ------------------------------------------------------------------------------ unset times


def test_unit_whose_collection_time_is_six_zero_bytes_keeps_its_values() -> None:
    unit = RealTime(
        Layout.GB17691, None, None, (InfoItem(2, S1, serial=1), InfoItem(2, S2, serial=2))
    )
    data = unit.encode()
    assert data[:6] == UNSET_TIME
    rt = decode_realtime(data, Layout.GB17691)
    assert rt.time is None and rt.time_unset
    assert [it.body for it in rt.items] == [S1, S2]
    rx = RX.astimezone(BEIJING)
    assert [(s.ts, s.unset) for s in rt.streams(rx)] == [
        (rx, True),
        (rx + timedelta(seconds=1), True),
    ]
    with pytest.raises(ValueError, match="fallback"):
        rt.streams()  # no clock in the codec: the caller must say what "now" is
    assert rt.encode() == data


def test_item_with_unset_time_takes_the_units_send_time_and_is_not_left_as_a_tail() -> None:
    items = (
        InfoItem(2, S1, time=T - timedelta(seconds=2)),
        InfoItem(2, S2, time_unset=True),
        InfoItem(1, INFO, time_unset=True),
    )
    data = RealTime(Layout.HJ1239, T, 9, items).encode()
    rt = decode_realtime(data)  # no hint: found by detection
    assert rt.layout is Layout.HJ1239 and [it.body for it in rt.items] == [S1, S2, INFO]
    assert [it.time_unset for it in rt.items] == [False, True, True]
    assert [(s.ts, s.inferred, s.unset) for s in rt.streams()] == [
        (T - timedelta(seconds=2), False, False),
        (T, True, True),
    ]
    assert rt.obd_infos() == [(T, INFO, True)]
    assert rt.encode() == data


def test_session_files_unset_times_under_the_send_time_with_a_quality_flag() -> None:
    items = (
        InfoItem(2, S1, time_unset=True),
        InfoItem(2, S2, time_unset=True),
        InfoItem(1, INFO, time_unset=True),
    )
    f = frame(RealTime(Layout.HJ1239, T, 3, items).encode())
    out = Session(REG).handle(f, f.encode(), RX)
    samples = sample_rows(out.events)
    assert [s.ts for s in samples] == [T.astimezone(UTC), T.astimezone(UTC) + timedelta(seconds=1)]
    assert all(TIME_UNSET in s.quality_flags and s.time_inferred for s in samples)
    assert len({s.event_id for s in samples}) == 2  # distinct ids: neither record is lost
    assert samples[0].rpm == 1300.0 and samples[1].rpm == 1310.0
    assert [e.ts for e in out.events if isinstance(e, ObdInfoSnapshot)] == [T.astimezone(UTC)]
    assert (TIME_UNSET, "item") in out.counters
    assert out.answer is not None and out.answer.data == f.data[:6] + bytes((RESP_SUCCESS,))


def test_session_files_a_wholly_unset_unit_under_the_receive_time() -> None:
    f = frame(RealTime(Layout.HJ1239, None, 3, (InfoItem(2, S1, time_unset=True),)).encode())
    out = Session(REG, layout=Layout.HJ1239).handle(f, f.encode(), RX)
    (fr,) = [e for e in out.events if isinstance(e, ObdFrame)]
    (s,) = sample_rows(out.events)
    assert fr.ts == RX and fr.decode_status == "ok" and "unset" in fr.detail
    assert s.ts == RX and TIME_UNSET in s.quality_flags and s.nox_down_ppm == 80.0
    assert (TIME_UNSET, "unit") in out.counters
    # the answer echoes the terminal's (unset) time as it came
    assert out.answer is not None and out.answer.data == UNSET_TIME + bytes((RESP_SUCCESS,))


# ------------------------------------------------------------------------------ vendor / unknown


def test_vendor_block_in_first_position_is_skipped_kept_raw_and_counted() -> None:
    blk = vendor(0x81, b"\x27\x11\x02\xab\xcd")
    items = (InfoItem(0x81, blk, time=T), InfoItem(2, S1, time=T))
    f = frame(RealTime(Layout.HJ1239, T, 1, items).encode())
    rt = decode_realtime(f.data)
    assert [it.body for it in rt.items] == [blk, S1] and rt.skipped == (rt.items[0],)
    out = Session(REG).handle(f, f.encode(), RX)
    assert ("skipped_blocks", "0x81") in out.counters
    (fr,) = [e for e in out.events if isinstance(e, ObdFrame)]
    assert blk.raw.hex() in fr.detail and fr.n_samples == 1
    assert out.answer is not None and out.answer.data[-1] == RESP_SUCCESS


@pytest.mark.parametrize("layout", [Layout.HJ1239, Layout.GB17691])
def test_unknown_type_whose_length_cannot_be_known_is_rejected_naming_type_and_offset(
    layout: Layout,
) -> None:
    if layout is Layout.HJ1239:
        good = RealTime(layout, T, 1, (InfoItem(2, S1, time=T),))
    else:
        good = RealTime(layout, T, None, (InfoItem(2, S1, serial=1),))
    data = good.encode()
    at = len(data)
    data += b"\x03" + bytes(6) + b"\xff\xff" + b"\x01\x02"  # type 0x03, then a length that lies
    with pytest.raises(DataUnitError) as e:
        decode_realtime(data, layout)
    assert e.value.reason == "unknown_info_type"
    assert "0x03" in e.value.detail and f"data-unit byte {at} " in e.value.detail
    assert f"frame byte {at + 24}" in e.value.detail


def test_vendor_length_beyond_the_unit_is_rejected_with_its_offset() -> None:
    data = RealTime(Layout.HJ1239, T, 1, (InfoItem(2, S1, time=T),)).encode()
    at = len(data)
    data += b"\x80" + bytes(UNSET_TIME) + b"\x01\x00" + b"\x00" * 10
    with pytest.raises(DataUnitError) as e:
        decode_realtime(data, Layout.HJ1239)
    assert e.value.reason == "bad_block_length" and f"0x80 at data-unit byte {at}" in e.value.detail


def test_rejected_units_are_counted_and_answered_with_an_error_and_the_session_goes_on() -> None:
    s = Session(REG)
    base = RealTime(Layout.HJ1239, T, 1, (InfoItem(2, S1, time=T),)).encode()
    bad = [
        base + b"\x03" + bytes(6) + b"\xff\xff",  # unknown type, length cannot be known
        base[:-5],  # truncated data stream
        base + b"\x81" + bytes(6) + b"\x40\x00",  # vendor length beyond the unit
    ]
    for data in bad:
        f = frame(data)
        out = s.handle(f, f.encode(), RX)
        assert out.answer is not None and out.answer.data[-1] == RESP_ERROR
        assert any(name == "bad_frames" for name, _ in out.counters)
        (fr,) = out.events
        assert isinstance(fr, ObdFrame) and fr.decode_status == "bad_data_unit" and fr.detail
    f = frame(base)
    out = s.handle(f, f.encode(), RX)
    assert out.answer is not None and out.answer.data[-1] == RESP_SUCCESS
    assert [e.rpm for e in sample_rows(out.events)] == [1300.0]


def test_real_oem_vector_still_decodes_its_0x80_block() -> None:
    import json
    from pathlib import Path

    vecs = json.loads(
        (Path(__file__).resolve().parents[2] / "data" / "vectors" / "obd_frames.json").read_text()
    )["vectors"]
    o6 = next(bytes.fromhex(v["hex"]) for v in vecs if v["id"] == "O6")
    rt = decode_realtime(parse_frame(o6).data)
    assert [it.info_type for it in rt.items] == [0x01, 0x02, 0x80]
    assert [it.info_type for it in rt.skipped] == [0x80]


# ------------------------------------------------------------------------------ property

times = st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2099, 12, 31)).map(
    lambda d: d.replace(microsecond=0, tzinfo=BEIJING)
)
streams = st.builds(
    DataStream.from_physical,
    speed_kmh=st.floats(0, 120),
    rpm=st.floats(0, 3000),
    nox_down_ppm=st.floats(0, 500),
)
infos = st.builds(
    ObdInfo.build,
    vin=st.just(VIN),
    calibration_id=st.text("ABC123", max_size=18),
    cvn=st.text("0123456789", max_size=18),
    dtcs=st.lists(st.sampled_from(["145600AF", "00000001"]), max_size=3).map(tuple),
)
# vendor types and types the decoder does not know (0x03 … 0x7F), each a WORD-length block
blocks = st.builds(
    vendor,
    st.one_of(st.integers(0x80, 0xFF), st.integers(0x03, 0x7F)),
    st.binary(max_size=40),
)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([Layout.HJ1239, Layout.GB17691]),
    st.lists(st.one_of(streams, infos), min_size=1, max_size=4),
    st.lists(blocks, max_size=4),
    st.randoms(use_true_random=False),
    st.data(),
)
def test_valid_units_among_any_vendor_or_unknown_blocks_decode_to_the_valid_units(
    layout: Layout, valid: list, extra: list, rnd, data: st.DataObject
) -> None:
    bodies = valid + extra
    rnd.shuffle(bodies)
    items = []
    for i, b in enumerate(bodies):
        t = 0x02 if isinstance(b, DataStream) else 0x01 if isinstance(b, ObdInfo) else b.info_type
        if layout is Layout.HJ1239:
            unset = data.draw(st.booleans())
            items.append(InfoItem(t, b, time=None if unset else data.draw(times), time_unset=unset))
        else:
            items.append(InfoItem(t, b, serial=i))
    unit = RealTime(layout, data.draw(times), None if layout is Layout.GB17691 else 7, tuple(items))
    raw = unit.encode()
    rt = decode_realtime(raw, layout)
    got = [it.body for it in rt.items if not isinstance(it.body, VendorBlock)]
    want = [b for b in bodies if not isinstance(b, VendorBlock)]
    assert got == want
    assert rt.encode() == raw
    f = frame(raw)
    out = Session(REG, layout=layout).handle(f, f.encode(), RX)
    assert out.answer is not None and out.answer.data[-1] == RESP_SUCCESS
    n_streams = sum(isinstance(b, DataStream) for b in want)
    assert len(sample_rows(out.events)) == n_streams

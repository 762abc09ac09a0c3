"""The gateway's bulk path (decode_streams → physical_row → trusted events) must give exactly what
the general path gives: same typed unit, same physical values and flags, same events (ids
included), same answer and counters."""

from __future__ import annotations

import dataclasses
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.registry import default_registry
from core.timeutil import BEIJING
from obd_gateway.events import SAMPLE_RANGES, ObdFrame, ObdSample
from obd_gateway.protocol import (
    Command,
    DataStream,
    DataUnitError,
    Frame,
    HeaderVariant,
    InfoItem,
    Layout,
    RealTime,
    decode_realtime,
    decode_time,
    make_answer,
)
from obd_gateway.protocol.bodies import (
    NUMERIC_FIELDS,
    STREAM_FIELDS,
    ObdInfo,
    Signature,
    physical_row,
)
from obd_gateway.protocol.units import (
    DEFAULT_VENDOR,
    _parse_realtime,
    answer_for_block,
    decode_streams,
    time_epoch,
)
from obd_gateway.session import Session, sample_from_stream

REG = default_registry()
VIN = REG.obd_vehicles[0].vin
RX = datetime(2026, 11, 20, 2, 0, 0, 250000, tzinfo=UTC)

raw_st = st.tuples(
    *(
        st.one_of(st.integers(0, 0xFFFF), st.integers(0xFB00, 0xFFFF))
        if f.width == 2
        else st.one_of(st.integers(0, 0xFF), st.integers(0xFB, 0xFF))
        for f in STREAM_FIELDS
    ),
    st.integers(0, 0xFF),
    *(st.one_of(st.integers(0, 200_000_000), st.integers(0, 0xFFFFFFFF)) for _ in range(3)),
)
times_st = st.datetimes(
    min_value=datetime(2001, 1, 1), max_value=datetime(2254, 12, 31), timezones=st.just(BEIJING)
).map(lambda t: t.replace(microsecond=0))


def base_raw() -> list[int]:
    every_field_ok = {
        "speed_kmh": 30.0,
        "baro_kpa": 100.0,
        "torque_pct": 10.0,
        "friction_pct": 5.0,
        "rpm": 1500.0,
        "fuel_lph": 10.0,
        "nox_up_ppm": 500.0,
        "nox_down_ppm": 50.0,
        "reagent_pct": 50.0,
        "air_kgh": 500.0,
        "scr_in_c": 300.0,
        "scr_out_c": 290.0,
        "dpf_dp_kpa": 3.0,
        "coolant_c": 85.0,
        "fuel_level_pct": 50.0,
        "lon": 121.1,
        "lat": 31.1,
        "odometer_km": 1000.0,
    }
    return list(DataStream.from_physical(**every_field_ok).raw)


# ------------------------------------------------------------------------------ physical values


def test_physical_row_agrees_with_reading_for_every_1_and_2_byte_raw() -> None:
    base = base_raw()
    for i, spec in enumerate(STREAM_FIELDS):
        for r in range(1 << (8 * spec.width)):
            raw = list(base)
            raw[i] = r
            s = DataStream(tuple(raw))
            values, flags = physical_row(s.raw)
            want = s.reading(spec.name)
            assert values[i] == want.value and type(values[i]) is type(want.value), (spec, r)
            assert flags == ([] if want.quality == "ok" else [f"{spec.name}:{want.quality}"])


def test_physical_row_coordinates_at_their_limits() -> None:
    for idx, name, limit in ((16, "lon", 180_000_000), (17, "lat", 90_000_000)):
        for r in (*range(limit - 3, limit + 4), 0xFAFFFFFF, 0xFB000000, 0xFE000001, 0xFFFFFFFF):
            for status in range(8):
                raw = base_raw()
                raw[idx], raw[15] = r, status
                s = DataStream(tuple(raw))
                values, flags = physical_row(s.raw)
                want = s.reading(name)
                assert values[NUMERIC_FIELDS.index(name)] == want.value
                assert (f"{name}:{want.quality}" in flags) == (want.quality != "ok")


@given(raw_st)
def test_physical_row_values_are_within_the_event_ranges(raw: tuple[int, ...]) -> None:
    values, _ = physical_row(raw)
    for name, v in zip(NUMERIC_FIELDS, values, strict=True):
        lo, hi, _unit = SAMPLE_RANGES[name]
        assert v is None or lo <= v <= hi, (name, v)


def test_codec_ranges_are_inside_the_event_ranges() -> None:
    for f in STREAM_FIELDS:
        lo, hi, _unit = SAMPLE_RANGES[f.name]
        assert lo <= f.lo and f.hi <= hi, f.name
    assert SAMPLE_RANGES["odometer_km"][1] >= 0xFAFFFFFF / 10


# ------------------------------------------------------------------------------ times and units


@given(st.binary(min_size=6, max_size=6))
def test_time_epoch_agrees_with_decode_time(b: bytes) -> None:
    try:
        want: int | None = int(decode_time(b).timestamp())
    except ValueError:
        want = None
    assert time_epoch(b) == want


def unit_bytes(layout: Layout, t0: datetime, raws: list[tuple[int, ...]], step: int = 1) -> bytes:
    if layout is Layout.HJ1239:
        items = [
            InfoItem(0x02, DataStream(r), time=t0 + timedelta(seconds=step * i))
            for i, r in enumerate(raws)
        ]
        return RealTime(layout, t0, 7, tuple(items)).encode()
    items = [InfoItem(0x02, DataStream(r), serial=i) for i, r in enumerate(raws)]
    return RealTime(layout, t0, None, tuple(items)).encode()


@settings(max_examples=60)
@given(
    st.sampled_from([Layout.HJ1239, Layout.GB17691]),
    times_st,
    st.lists(raw_st, min_size=1, max_size=12),
    st.integers(0, 100),
)
def test_bulk_decode_equals_the_general_parser(
    layout: Layout, t0: datetime, raws: list, step: int
) -> None:
    data = unit_bytes(layout, t0, raws, step)
    blk = decode_streams(data, layout)
    assert blk is not None and list(blk.raws) == raws
    general, used, err = _parse_realtime(data, layout, DEFAULT_VENDOR)
    assert general is not None and used == len(data) and not err
    assert blk.to_realtime() == general == decode_realtime(data, layout)
    if layout is Layout.HJ1239:  # also found without a hint
        assert decode_streams(data) == blk


def test_bulk_decode_leaves_other_units_to_the_general_parser() -> None:
    t0 = datetime(2026, 11, 20, 9, 0, tzinfo=BEIJING)
    raw = tuple(base_raw())
    good = unit_bytes(Layout.HJ1239, t0, [raw, raw])
    assert decode_streams(good) is not None
    bad_time = good[:54] + b"\x0d" + good[55:]  # month 13 in the second item's time
    assert decode_streams(bad_time) is None
    with pytest.raises(DataUnitError) as e:
        decode_realtime(bad_time)
    assert e.value.reason == "bad_time"
    signed = RealTime(
        Layout.HJ1239,
        t0,
        1,
        (InfoItem(0x02, DataStream(raw), time=t0),),
        Signature(b"r" * 32, b"s" * 32),
    ).encode()
    assert decode_streams(signed) is None and decode_realtime(signed).signature is not None
    assert decode_streams(good, Layout.LEGACY2019) is None
    assert decode_streams(good[:-1]) is None


# ------------------------------------------------------------------------------ session


def frame_of(layout: Layout, variant: HeaderVariant, command: int, data: bytes) -> Frame:
    flag = 0x01 if variant is HeaderVariant.TERMINAL else 0xFE
    return Frame(variant, command, VIN, flag, 0x01, data)


def general_only() -> ExitStack:
    """Force the general path (decode_unit → RealTime → sample_from_stream)."""
    stack = ExitStack()
    for target in (
        "obd_gateway.session.decode_streams",
        "obd_gateway.protocol.units.decode_streams",
    ):
        stack.enter_context(mock.patch(target, lambda *a, **k: None))
    return stack


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from([Layout.HJ1239, Layout.GB17691]),
    st.sampled_from(list(HeaderVariant)),
    st.sampled_from([Command.REALTIME, Command.REISSUE]),
    times_st,
    st.lists(raw_st, min_size=1, max_size=12),
    st.integers(0, 100),
    st.booleans(),
)
def test_session_bulk_path_equals_general_path(
    layout: Layout,
    variant: HeaderVariant,
    command: int,
    t0: datetime,
    raws: list,
    step: int,
    logged_in: bool,
) -> None:
    f = frame_of(layout, variant, command, unit_bytes(layout, t0, raws, step))
    raw = f.encode()
    fast_s, slow_s = Session(REG, "127.0.0.1:9", layout), Session(REG, "127.0.0.1:9", layout)
    fast_s.logged_in = slow_s.logged_in = logged_in
    fast = fast_s.handle(f, raw, RX)
    with general_only():
        slow = slow_s.handle(f, raw, RX)
    assert fast.events == slow.events
    assert [type(e) for e in fast.events] == [ObdFrame] + [ObdSample] * len(raws)
    for e in fast.events:  # the trusted events pass the public constructor's validation
        assert dataclasses.replace(e) == e
    assert fast.answer is not None and slow.answer is not None
    assert fast.answer.encode() == slow.answer.encode()
    assert fast.counters == slow.counters
    assert fast_s.layout is slow_s.layout is layout


def test_answer_for_block_equals_make_answer() -> None:
    t0 = datetime(2026, 11, 20, 9, 0, 5, tzinfo=BEIJING)
    data = unit_bytes(Layout.HJ1239, t0, [tuple(base_raw())])
    blk = decode_streams(data)
    assert blk is not None
    for variant in HeaderVariant:
        f = frame_of(Layout.HJ1239, variant, Command.REALTIME, data)
        for result in (0x01, 0x02):
            want = make_answer(f, result, RX, decode_realtime(data))
            assert answer_for_block(f, result, blk) == want


def test_sample_ids_are_the_documented_ids() -> None:
    t0 = datetime(2026, 11, 20, 9, 0, 5, tzinfo=BEIJING)
    raws = [tuple(base_raw())] * 3
    f = frame_of(
        Layout.HJ1239,
        HeaderVariant.TERMINAL,
        Command.REALTIME,
        unit_bytes(Layout.HJ1239, t0, raws, 70),
    )
    out = Session(REG).handle(f, f.encode(), RX)
    samples = [e for e in out.events if isinstance(e, ObdSample)]
    assert [s.event_id for s in samples] == [
        ObdSample.make_id(VIN, t0 + timedelta(seconds=70 * i)) for i in range(3)
    ]


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from([Layout.HJ1239, Layout.GB17691]),
    times_st,
    st.lists(raw_st, min_size=1, max_size=12),
    st.integers(0, 100),
    st.booleans(),
)
def test_bulk_samples_equal_the_validated_constructor(
    layout: Layout, t0: datetime, raws: list, step: int, with_info: bool
) -> None:
    """Both session paths (bulk, and typed units with an OBD body) against sample_from_stream."""
    vehicle = REG.vehicle(VIN)
    assert vehicle is not None
    data = unit_bytes(layout, t0, raws, step)
    if with_info:  # an OBD body first: the typed path
        info = InfoItem(0x01, ObdInfo.build(vin=VIN, calibration_id="C1", cvn="AB12"), serial=1)
        unit = decode_realtime(data, layout)
        items = (
            dataclasses.replace(
                info,
                time=t0 if layout is Layout.HJ1239 else None,
                serial=None if layout is Layout.HJ1239 else 1,
            ),
            *unit.items,
        )
        data = RealTime(layout, unit.time, unit.serial, items).encode()
    f = frame_of(layout, HeaderVariant.TERMINAL, Command.REISSUE, data)
    out = Session(REG, "p", layout).handle(f, f.encode(), RX)
    frame_id = out.events[0].event_id
    want = [
        sample_from_stream(
            VIN,
            vehicle,
            ts,
            s,
            received_at=RX,
            backfilled=True,
            time_inferred=inf,
            signature="absent",
            frame_id=frame_id,
        )
        for ts, s, inf, _unset in decode_realtime(data, layout).streams()
    ]
    assert [e for e in out.events if isinstance(e, ObdSample)] == want

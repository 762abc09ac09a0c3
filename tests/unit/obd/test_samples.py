"""Samples travel as columns: a unit's data-stream records become one ``obd.sample`` batch
(``ObdSamples``) in one place. Its values follow the codec's reading rules for every raw value,
its rows pass the row contract's validation, its ids are the documented ids, its binary form
round-trips, and the session gives the same batch for the same records whichever decoder
(bulk stream unit or typed unit with an OBD body) found them."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.registry import default_registry
from core.timeutil import BEIJING
from obd_gateway.events import (
    RECORD_INFERRED,
    RECORD_TIME_UNSET,
    SAMPLE_RANGES,
    TIME_UNSET,
    ObdFrame,
    ObdSample,
    ObdSamples,
)
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
from obd_gateway.protocol.bodies import NUMERIC_FIELDS, STREAM_FIELDS, ObdInfo, Signature
from obd_gateway.protocol.units import (
    DEFAULT_VENDOR,
    _parse_realtime,
    answer_for_block,
    decode_streams,
    time_epoch,
)
from obd_gateway.session import Session, samples_of
from streams import catalog, serde

REG = default_registry()
VEHICLE = REG.obd_vehicles[0]
VIN = VEHICLE.vin
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


def batch_of(
    raws: list[tuple[int, ...]], t0: datetime = RX, flags: bytes | None = None
) -> ObdSamples:
    return samples_of(
        VIN,
        VEHICLE,
        [round(t0.timestamp() * 1000) + 1000 * i for i in range(len(raws))],
        flags if flags is not None else bytes(len(raws)),
        b"".join(DataStream(r).encode() for r in raws),
        received_at=RX,
        backfilled=False,
        signature="absent",
        frame_id="f" * 32,
    )


# ------------------------------------------------------------------------------ physical values


def test_values_follow_the_reading_rules_for_every_1_and_2_byte_raw() -> None:
    base = base_raw()
    for i, spec in enumerate(STREAM_FIELDS):
        raws = []
        for r in range(1 << (8 * spec.width)):
            raw = list(base)
            raw[i] = r
            raws.append(tuple(raw))
        b = batch_of(raws)
        col = b.value(spec.name)
        for r, raw, v, fl in zip(range(len(raws)), raws, col, b.flags, strict=True):
            want = DataStream(raw).reading(spec.name)
            assert v == want.value and type(v) is type(want.value), (spec, r)
            assert fl == (() if want.quality == "ok" else (f"{spec.name}:{want.quality}",))


def test_coordinates_at_their_limits() -> None:
    for idx, name, limit in ((16, "lon", 180_000_000), (17, "lat", 90_000_000)):
        raws = []
        for r in (*range(limit - 3, limit + 4), 0xFAFFFFFF, 0xFB000000, 0xFE000001, 0xFFFFFFFF):
            for status in range(8):
                raw = base_raw()
                raw[idx], raw[15] = r, status
                raws.append(tuple(raw))
        b = batch_of(raws)
        for raw, v, fl, fix in zip(raws, b.value(name), b.flags, b.fix_valid, strict=True):
            want = DataStream(raw).reading(name)
            assert v == want.value
            assert (f"{name}:{want.quality}" in fl) == (want.quality != "ok")
            assert fix == DataStream(raw).fix_valid
            assert ("position:invalid_fix" in fl) == (not fix)


def _same(a: float | None, b: float | None) -> bool:
    return a == b and type(a) is type(b) and math.copysign(1, a or 1) == math.copysign(1, b or 1)


@settings(max_examples=40, deadline=None)
@given(st.lists(raw_st, min_size=1, max_size=8), st.integers(2, 200))
def test_a_record_decodes_the_same_alone_in_a_unit_or_among_many(
    raws: list[tuple[int, ...]], n: int
) -> None:
    """A unit's records decode at once, and so do many units joined (the warehouse's table): a
    record gets the same values, flags and fix validity alone, among many and joined, and they
    are its own reading's."""
    many = [raws[i % len(raws)] for i in range(n)]
    big = batch_of(many)
    small = [batch_of([r]) for r in raws]
    joined = ObdSamples.concat(small)
    for i, raw in enumerate(many):
        one = small[i % len(raws)]
        for j, name in enumerate(NUMERIC_FIELDS):
            want = DataStream(raw).value(name)
            assert _same(big.values[j][i], want), (name, raw)
            assert _same(one.values[j][0], want), (name, raw)
        assert big.flags[i] == one.flags[0]
        assert big.fix_valid[i] == one.fix_valid[0] == DataStream(raw).fix_valid
    for j, name in enumerate(NUMERIC_FIELDS):
        how, (matrix, row) = joined[name]
        assert how == "float_columns"
        got = [None if v != v else v for v in matrix[row].tolist()]
        assert all(_same(g, b.values[j][0]) for g, b in zip(got, small, strict=True)), name
    assert list(joined["quality_flags"][1]) == [b.flags[0] for b in small]
    assert list(joined["fix_valid"][1]) == [b.fix_valid[0] for b in small]


def test_a_zero_coordinate_west_or_south_is_a_positive_zero() -> None:
    raw = base_raw()
    raw[15], raw[16], raw[17] = 0x06, 0, 0  # west and south, at 0°
    b = batch_of([tuple(raw)])
    assert math.copysign(1, b.value("lon")[0]) == math.copysign(1, b.value("lat")[0]) == 1.0  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(st.lists(raw_st, min_size=1, max_size=12))
def test_rows_pass_the_row_contract(raws: list[tuple[int, ...]]) -> None:
    b = batch_of(raws)
    rows = b.rows()  # ObdSample.__post_init__ checks every range
    assert len(rows) == len(b) == len(raws)
    for row, raw in zip(rows, raws, strict=True):
        assert bytes.fromhex(row.raw_hex) == DataStream(raw).encode()
        for name in NUMERIC_FIELDS:
            lo, hi, _unit = SAMPLE_RANGES[name]
            v = getattr(row, name)
            assert v is None or lo <= v <= hi


def test_codec_ranges_are_inside_the_event_ranges() -> None:
    for f in STREAM_FIELDS:
        lo, hi, _unit = SAMPLE_RANGES[f.name]
        assert lo <= f.lo and f.hi <= hi, f.name
    assert SAMPLE_RANGES["odometer_km"][1] >= 0xFAFFFFFF / 10


def test_ids_times_and_record_flags() -> None:
    t0 = datetime(2026, 11, 20, 9, 0, 5, tzinfo=BEIJING)
    raw = tuple(base_raw())
    b = batch_of([raw] * 3, t0, bytes((0, RECORD_INFERRED, RECORD_TIME_UNSET)))
    assert b.event_ids == tuple(ObdSample.make_id(VIN, t0 + timedelta(seconds=i)) for i in range(3))
    assert [r.ts for r in b.rows()] == [t0 + timedelta(seconds=i) for i in range(3)]
    assert b.inferred == (False, True, False)
    assert [TIME_UNSET in f for f in b.flags] == [False, False, True]
    with pytest.raises(ValueError):
        batch_of([raw] * 2, t0, bytes(3))  # a flag byte per record


@settings(max_examples=60, deadline=None)
@given(st.lists(raw_st, min_size=1, max_size=12), st.binary(min_size=12, max_size=12))
def test_binary_form_round_trips_through_the_bus_codec(raws: list, flags: bytes) -> None:
    fl = bytes(f & 0x03 for f in flags[: len(raws)])
    b = batch_of(raws, flags=fl)
    classes = catalog.classes_by_kind()
    back = serde.decode(serde.encode(b), classes)
    assert back == b and back.values == b.values and back.event_ids == b.event_ids
    assert back.flags == b.flags and back.received_at == b.received_at


def test_slices_and_one_record_json() -> None:
    raws = [tuple(base_raw())] * 4
    b = batch_of(raws)
    s = b.slice(1, 3)
    assert len(s) == 2 and s.event_ids == b.event_ids[1:3] and s.rows() == b.rows()[1:3]
    one = b.slice(2, 3)
    classes = catalog.classes_by_kind()
    assert serde.from_json(serde.to_json(one), classes) == one
    assert one.event_id == b.event_ids[2]


def test_arrow_columns_are_the_rows() -> None:
    b1, b2 = (
        batch_of([tuple(base_raw())] * 2),
        batch_of([tuple(base_raw())] * 3, RX + timedelta(seconds=9)),
    )
    table = serde.to_arrow([b1, b2])
    rows = b1.rows() + b2.rows()
    assert table.num_rows == 5
    got = table.to_pylist()
    for r, g in zip(rows, got, strict=True):
        want = dataclasses.asdict(r)
        want["quality_flags"] = list(want["quality_flags"])
        assert g == want


# ------------------------------------------------------------------------------ codec: bulk decode


@settings(deadline=None)
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


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from([Layout.HJ1239, Layout.GB17691]),
    times_st,
    st.lists(raw_st, min_size=1, max_size=12),
    st.integers(0, 100),
)
def test_bulk_decode_is_the_typed_unit(layout: Layout, t0: datetime, raws: list, step: int) -> None:
    data = unit_bytes(layout, t0, raws, step)
    blk = decode_streams(data, layout)
    assert blk is not None and list(blk.raws) == raws
    general, used, err = _parse_realtime(data, layout, DEFAULT_VENDOR)
    assert general is not None and used == len(data) and not err
    assert blk.to_realtime() == general == decode_realtime(data, layout)


def mixed_unit(t0: datetime, raws: list, at: list[int], step: int = 1) -> bytes:
    """An HJ 1239 unit of data streams with OBD information bodies inserted at item ``at``."""
    items: list[InfoItem] = [
        InfoItem(0x02, DataStream(r), time=t0 + timedelta(seconds=step * i))
        for i, r in enumerate(raws)
    ]
    for j, i in enumerate(sorted(at)):
        dtcs = ("0F2D0300",) * j
        body = ObdInfo.build(vin=VIN, calibration_id=f"C{j}", cvn="AB12", dtcs=dtcs)
        items.insert(i + j, InfoItem(0x01, body, time=t0 + timedelta(seconds=i)))
    return RealTime(Layout.HJ1239, t0, 7, tuple(items)).encode()


@settings(max_examples=60, deadline=None)
@given(
    times_st,
    st.lists(raw_st, min_size=1, max_size=12),
    st.lists(st.integers(0, 12), min_size=1, max_size=3),
    st.integers(0, 100),
)
def test_bulk_decode_of_streams_with_obd_bodies_is_the_typed_unit(
    t0: datetime, raws: list, at: list[int], step: int
) -> None:
    data = mixed_unit(t0, raws, [min(i, len(raws)) for i in at], step)
    blk = decode_streams(data)
    assert blk is not None and list(blk.raws) == raws and len(blk.infos) == len(at)
    general, used, err = _parse_realtime(data, Layout.HJ1239, DEFAULT_VENDOR)
    assert general is not None and used == len(data) and not err
    assert blk.to_realtime() == general == decode_realtime(data)
    assert blk.obd_infos() == general.obd_infos()


def test_session_events_and_answer_are_the_same_whichever_decoder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ids are deterministic whatever path built them: the bulk decoder's events (frame, sample
    batch with its record ids, OBD snapshots) and answer equal the typed decoder's."""
    import obd_gateway.session as session_mod

    t0 = datetime(2026, 11, 20, 9, 0, 5, tzinfo=BEIJING)
    raws = [tuple(base_raw())] * 4
    for data, n_infos in (
        (unit_bytes(Layout.HJ1239, t0, raws), 0),
        (mixed_unit(t0, raws, [0, 4]), 2),
    ):
        f = frame_of(HeaderVariant.TERMINAL, Command.REALTIME, data)
        bulk = Session(REG, "p").receive(f.encode(), RX)
        with monkeypatch.context() as m:
            m.setattr(session_mod, "decode_streams", lambda *a: None)
            typed = Session(REG, "p").receive(f.encode(), RX)
        assert bulk.answers == typed.answers and bulk.counters == typed.counters
        assert bulk.events == typed.events and len(bulk.events) == 2 + n_infos
        batch = bulk.events[1]
        assert isinstance(batch, ObdSamples)
        assert (
            batch.event_ids
            == typed.events[1].event_ids
            == tuple(ObdSample.make_id(VIN, t0 + timedelta(seconds=i)) for i in range(4))
        )
        assert bulk.events[0].event_id == ObdFrame.make_id(VIN, bulk.events[0].frame_sha256)


def test_bulk_decode_leaves_other_units_to_the_typed_decoder() -> None:
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


def frame_of(variant: HeaderVariant, command: int, data: bytes) -> Frame:
    flag = 0x01 if variant is HeaderVariant.TERMINAL else 0xFE
    return Frame(variant, command, VIN, flag, 0x01, data)


def test_answer_for_block_equals_make_answer() -> None:
    t0 = datetime(2026, 11, 20, 9, 0, 5, tzinfo=BEIJING)
    data = unit_bytes(Layout.HJ1239, t0, [tuple(base_raw())])
    blk = decode_streams(data)
    assert blk is not None
    for variant in HeaderVariant:
        f = frame_of(variant, Command.REALTIME, data)
        for result in (0x01, 0x02):
            want = make_answer(f, result, RX, decode_realtime(data))
            assert answer_for_block(f, result, blk) == want


# ------------------------------------------------------------------------------ session


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from([Layout.HJ1239, Layout.GB17691]),
    times_st,
    st.lists(raw_st, min_size=1, max_size=12),
    st.integers(0, 100),
)
def test_session_gives_one_batch_of_the_records_whichever_decoder(
    layout: Layout, t0: datetime, raws: list, step: int
) -> None:
    data = unit_bytes(layout, t0, raws, step)
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
    with_info = RealTime(layout, unit.time, unit.serial, items).encode()
    out = {}
    for name, d in (("streams", data), ("typed", with_info)):
        f = frame_of(HeaderVariant.TERMINAL, Command.REISSUE, d)
        o = Session(REG, "p", layout).handle(f, f.encode(), RX)
        assert isinstance(o.events[0], ObdFrame) and o.events[0].n_samples == len(raws)
        (batch,) = [e for e in o.events if isinstance(e, ObdSamples)]
        assert batch.frame_id == o.events[0].event_id and batch.backfilled
        out[name] = batch
    a, b = out["streams"], out["typed"]
    assert (a.ts_ms, a.record_flags, a.raw, a.values, a.flags) == (
        b.ts_ms,
        b.record_flags,
        b.raw,
        b.values,
        b.flags,
    )
    want_ts = [t for t, _s, _i, _u in decode_realtime(data, layout).streams()]
    assert [r.ts for r in a.rows()] == want_ts
    assert a.inferred == tuple(i > 0 and layout is Layout.GB17691 for i in range(len(raws)))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(raw_st, min_size=1, max_size=5), min_size=2, max_size=6))
def test_batches_prepared_together_read_as_each_alone(units: list[list[tuple[int, ...]]]) -> None:
    batches = [batch_of(raws) for raws in units]
    alone = [batch_of(raws) for raws in units]
    ObdSamples.prepare(batches)
    for b, a in zip(batches, alone, strict=True):
        assert b._decoded is not None
        assert b.flags == a.flags and b.fix_valid == a.fix_valid
        for col_b, col_a in zip(b.values, a.values, strict=True):
            assert all(_same(x, y) for x, y in zip(col_b, col_a, strict=True))

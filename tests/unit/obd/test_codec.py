"""Codec tests: real vectors, the four ways of STYLE §2, limits, and property-based round trips."""

from __future__ import annotations

import functools
import json
import operator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.timeutil import BEIJING
from obd_gateway.protocol import (
    BadInput,
    DataStream,
    DataUnitError,
    Frame,
    FrameDecoder,
    FrameError,
    HeaderVariant,
    InfoItem,
    Layout,
    ObdInfo,
    RealTime,
    Signature,
    bcc,
    decode_realtime,
    decode_unit,
    parse_frame,
)
from obd_gateway.protocol.frame import MAX_DATA_LEN

VECTORS = json.loads(
    (Path(__file__).resolve().parents[2] / "data" / "vectors" / "obd_frames.json").read_text()
)["vectors"]
RAW = {v["id"]: bytes.fromhex(v["hex"]) for v in VECTORS}


def frames_of(items: list) -> list[bytes]:
    return [raw for it in items if isinstance(it, tuple) for raw in [it[1]]]


def bad_of(items: list) -> list[BadInput]:
    return [it for it in items if isinstance(it, BadInput)]


# ------------------------------------------------------------------------------ real vectors


@pytest.mark.parametrize("vec", VECTORS, ids=[v["id"] for v in VECTORS])
def test_every_real_vector_frames_checks_and_round_trips(vec: dict) -> None:
    raw = RAW[vec["id"]]
    f = parse_frame(raw)
    assert len(raw) == vec["check"]["total_length"]
    assert len(f.data) == vec["check"]["data_length"]
    assert f"{raw[-1]:02X}" == vec["check"]["bcc"]
    assert f.encode() == raw
    unit = decode_unit(f)
    assert unit.encode() == f.data
    assert f.command == int(vec["command"].split()[0], 16)


def test_variant_detected_from_byte_3() -> None:
    for vid in ("O6", "O8", "G1", "G2", "G3"):
        assert parse_frame(RAW[vid]).variant is HeaderVariant.RESPONSE_FLAG
    for vid in ("O1", "O2", "O3", "O4", "O5"):
        assert parse_frame(RAW[vid]).variant is HeaderVariant.TERMINAL
    o6 = parse_frame(RAW["O6"])
    assert (o6.vin, o6.response_flag, o6.software_version) == ("LETEDDE10EH000002", 0xFE, None)
    o2 = parse_frame(RAW["O2"])
    assert (o2.vin, o2.software_version) == ("LWHTEST1234567895", 0x11)


def test_layouts_of_real_vectors_are_detected() -> None:
    expect = {
        "O1": Layout.GB17691,
        "O2": Layout.LEGACY2019,
        "O3": Layout.GB17691,
        "O6": Layout.HJ1239,
    }
    for vid, lay in expect.items():
        rt = decode_unit(parse_frame(RAW[vid]))
        assert isinstance(rt, RealTime)
        assert rt.layout is lay, vid
    o6 = decode_unit(parse_frame(RAW["O6"]))
    assert [it.info_type for it in o6.items] == [0x01, 0x02, 0x80]
    assert all(it.time == datetime(2020, 1, 21, 15, 40, 33, tzinfo=BEIJING) for it in o6.items)
    tlv = o6.items[2].body.tlv()
    assert tlv is not None and tlv[0][0] == 0x2711 and len(tlv) == 12


def test_legacy_vector_keeps_one_signature_per_body() -> None:
    rt = decode_unit(parse_frame(RAW["O2"]))
    assert [it.info_type for it in rt.items] == [0x01, 0x02]
    for it in rt.items:
        assert it.signature is not None and len(it.signature.r) == 32 and len(it.signature.s) == 32


def test_o1_markers_and_obd_body() -> None:
    rt = decode_unit(parse_frame(RAW["O1"]))
    ts, stream, inferred, unset = rt.streams()[0]
    assert ts == datetime(2021, 8, 14, 8, 47, 35, tzinfo=BEIJING) and not inferred and not unset
    # NOx raw 0 decodes to -200 ppm: "not ready", never a number
    r = stream.reading("nox_up_ppm")
    assert (r.raw, r.value, r.quality) == (0, None, "not_ready")
    # "FE FF" = 0xFEFF: the J1939 error band
    r = stream.reading("scr_in_c")
    assert (r.raw, r.value, r.quality) == (0xFEFF, None, "error")
    assert stream.raw[1] == 0xC5 and stream.reading("baro_kpa").value == pytest.approx(0xC5 * 0.5)
    info = rt.obd_infos()[0][1]
    assert info.calibration_id == "YCY30165-60"
    assert info.dtc_total == 7 and len(info.dtcs) == 7 and info.dtcs[0] == "145600AF"
    assert info.vin == "LGDCHA1G8MA127733"


# ------------------------------------------------------------------------------ four ways


ALL = [RAW[v["id"]] for v in VECTORS]


def test_whole_buffer_gives_every_frame_in_order() -> None:
    items = FrameDecoder().feed(b"".join(ALL))
    assert frames_of(items) == ALL
    assert bad_of(items) == []


def test_one_byte_at_a_time() -> None:
    dec = FrameDecoder()
    got: list = []
    for b in b"".join(ALL):
        got += dec.feed(bytes((b,)))
    assert frames_of(got) == ALL
    assert dec.buffered == 0


def test_trailing_bytes_of_the_next_frame_wait() -> None:
    dec = FrameDecoder()
    a, b = RAW["O1"], RAW["O6"]
    first = dec.feed(a + b[:30])
    assert frames_of(first) == [a]
    assert dec.buffered == 30
    assert frames_of(dec.feed(b[30:])) == [b]


def test_leading_garbage_and_bad_checksum_resync_and_count() -> None:
    bad = bytearray(RAW["O4"])
    bad[-3] ^= 0x04  # one flipped bit in the data unit: BCC must fail
    stream = b"\x00garbage#\xff" + bytes(bad) + RAW["O6"] + b"##\x02" + RAW["O8"]
    items = FrameDecoder().feed(stream)
    assert frames_of(items) == [RAW["O6"], RAW["O8"]]
    reasons = [b.reason for b in bad_of(items)]
    assert "garbage" in reasons and "bcc" in reasons


def test_payload_containing_start_bytes_is_framed_by_length() -> None:
    o5 = RAW["O5"]
    assert b"##" in o5[2:]
    items = FrameDecoder().feed(b"\x01\x02" + o5 + o5)
    assert frames_of(items) == [o5, o5]


def test_truncated_frame_waits_then_gives_up_onto_the_next_valid_frame() -> None:
    dec = FrameDecoder()
    cut = RAW["O1"][:120]
    o4 = RAW["O4"]
    items = dec.feed(cut + o4[:20])  # nothing complete after the cut frame yet: it waits
    assert frames_of(items) == [] and bad_of(items) == []
    items = dec.give_up_partial()
    assert frames_of(items) == [] and bad_of(items)[0].reason == "truncated"
    assert frames_of(dec.feed(o4[20:])) == [o4]


def test_a_length_that_lies_costs_one_frame_not_the_partial_timeout() -> None:
    """Issue 11: the cut frame's length swallows the next frames; as soon as one of them is
    complete in the buffer the decoder resyncs on it, without give_up_partial."""
    dec = FrameDecoder()
    cut = RAW["O1"][:120]  # claims 198 B
    items = dec.feed(cut + RAW["O4"])  # 153 B: the claimed span is not complete yet
    assert frames_of(items) == [RAW["O4"]]
    (bad,) = bad_of(items)
    assert (bad.reason, bad.nbytes, bad.raw) == ("bad_length", 120, cut)
    assert dec.buffered == 0


def test_lying_length_resync_byte_by_byte_and_with_a_validating_session() -> None:
    from core.registry import default_registry
    from obd_gateway.session import Session

    lie = bytearray(RAW["O1"])
    lie[22:24] = (4000).to_bytes(2, "big")  # a whole frame whose length field lies
    stream = bytes(lie) + RAW["O4"] + RAW["O6"] + RAW["O1"]
    for validate in (None, Session(default_registry()).plausible):
        dec = FrameDecoder(validate=validate)
        got: list = []
        for i in range(len(stream)):
            got += dec.feed(stream[i : i + 1])
        assert frames_of(got) == [RAW["O4"], RAW["O6"], RAW["O1"]]
        assert [b.reason for b in bad_of(got)] == ["bad_length"]
        assert dec.buffered == 0


def test_length_over_the_limit_is_rejected_without_waiting() -> None:
    f = Frame(HeaderVariant.TERMINAL, 2, "LZYCHB3A3PH000001", 1, 1, bytes(200))
    dec = FrameDecoder(max_data_len=100)
    items = dec.feed(f.encode() + RAW["O4"])
    assert frames_of(items) == [RAW["O4"]]
    assert "bad_length" in [b.reason for b in bad_of(items)]


def test_buffer_is_bounded() -> None:
    dec = FrameDecoder(max_data_len=64, max_buffer=200)
    head = Frame(HeaderVariant.TERMINAL, 2, "LZYCHB3A3PH000001", 1, 1, bytes(64)).encode()[:24]
    for chunk in (head, bytes(40), bytes(1000), b"#" * 10 + bytes(300)):
        dec.feed(chunk)
        assert dec.buffered <= 25 + 64
    assert frames_of(dec.feed(RAW["O4"])) == [RAW["O4"]]
    assert dec.buffered == 0


def test_unknown_header_byte_is_rejected() -> None:
    raw = bytearray(RAW["O4"])
    raw[3] = 0x00  # neither a response flag nor a VIN character
    raw[-1] = bcc(raw[2:-1])
    with pytest.raises(FrameError) as e:
        parse_frame(bytes(raw))
    assert e.value.reason == "bad_header"
    assert bad_of(FrameDecoder().feed(bytes(raw)))[0].reason == "bad_header"


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda r: r[:-1], "truncated"),
        (lambda r: r + b"\x00", "trailing_bytes"),
        (lambda r: r[:-1] + bytes((r[-1] ^ 1,)), "bcc"),
        (lambda r: b"\x00" + r[1:], "no_start"),
        (lambda r: r[:22] + b"\xff\xfe" + r[24:], "bad_length"),
    ],
)
def test_parse_frame_reasons(mutate, reason: str) -> None:
    with pytest.raises(FrameError) as e:
        parse_frame(mutate(RAW["O4"]))
    assert e.value.reason == reason


# ------------------------------------------------------------------------------ units


def test_hj1239_signature_block_is_recognised_and_kept() -> None:
    t = datetime(2026, 11, 20, 9, 0, 0, tzinfo=BEIJING)
    sig = Signature(bytes(range(32)), bytes(range(32, 64)))
    unit = RealTime(
        Layout.HJ1239, t, 1, (InfoItem(0x02, DataStream.from_physical(rpm=800.0), time=t),), sig
    )
    data = unit.encode()
    rt = decode_realtime(data)
    assert rt.layout is Layout.HJ1239 and rt.signature == sig
    assert rt.encode() == data


def test_gb17691_streams_get_one_second_steps() -> None:
    t = datetime(2026, 11, 20, 9, 0, 0, tzinfo=BEIJING)
    items = tuple(
        InfoItem(0x02, DataStream.from_physical(rpm=700.0 + i), serial=i) for i in range(3)
    )
    rt = decode_realtime(RealTime(Layout.GB17691, t, None, items).encode())
    assert [(s.ts - t, s.inferred) for s in rt.streams()] == [
        (timedelta(0), False),
        (timedelta(seconds=1), True),
        (timedelta(seconds=2), True),
    ]


def test_bad_data_units_raise_with_reason() -> None:
    f = Frame(HeaderVariant.TERMINAL, 1, "LZYCHB3A3PH000001", 1, 1, b"\x14\x01\x01")
    with pytest.raises(DataUnitError) as e:
        decode_unit(f)
    assert e.value.reason == "bad_data_unit"
    f = Frame(
        HeaderVariant.TERMINAL, 4, "LZYCHB3A3PH000001", 1, 1, b"\x14\x0d\x01\x00\x00\x00\x00\x01"
    )
    with pytest.raises(DataUnitError) as e:
        decode_unit(f)
    assert e.value.reason == "bad_time"


def test_obd_body_with_invalid_dtc_count_has_no_list() -> None:
    body = ObdInfo.build(vin="LZYCHB3A3PH000001", calibration_id="CAL", cvn="CVN")
    raw = bytearray(body.encode())
    raw[95] = 0xFE
    back = ObdInfo.decode(bytes(raw))
    assert back.dtc_total is None and back.dtcs == () and back.encode() == bytes(raw)


# ------------------------------------------------------------------------------ properties


@given(st.binary(max_size=600))
def test_bcc_equals_xor_of_bytes(data: bytes) -> None:
    assert bcc(data) == functools.reduce(operator.xor, data, 0)


vin_st = st.text(alphabet="0123456789ABCDEFGHJKLMNPRSTUVWXYZ", min_size=17, max_size=17)
frame_st = st.builds(
    Frame,
    variant=st.sampled_from(list(HeaderVariant)),
    command=st.integers(0, 255),
    vin=vin_st,
    flag=st.sampled_from([0x01, 0x02, 0x03, 0xFE]),
    encryption=st.integers(0, 255),
    data=st.binary(max_size=300),
)


@given(frame_st)
def test_frame_round_trip_is_byte_identical(f: Frame) -> None:
    raw = f.encode()
    back = parse_frame(raw)
    assert back == f
    assert back.encode() == raw


@settings(max_examples=60)
@given(st.lists(frame_st, min_size=1, max_size=6), st.data())
def test_any_chunking_gives_the_same_frames(frames: list[Frame], data: st.DataObject) -> None:
    stream = b"".join(f.encode() for f in frames)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    dec = FrameDecoder()
    got: list = []
    prev = 0
    for c in [*cuts, len(stream)]:
        got += dec.feed(stream[prev:c])
        prev = c
    assert [it[0] for it in got if isinstance(it, tuple)] == frames


times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)).map(
    lambda d: d.replace(microsecond=0, tzinfo=BEIJING)
)
stream_st = st.builds(
    DataStream,
    st.tuples(
        *(
            st.integers(0, 0xFFFF) if w == 2 else st.integers(0, 0xFF)
            for w in (2, 1, 1, 1, 2, 2, 2, 2, 1, 2, 2, 2, 2, 1, 1, 1)
        ),
        st.integers(0, 0xFFFFFFFF),
        st.integers(0, 0xFFFFFFFF),
        st.integers(0, 0xFFFFFFFF),
    ),
)
obd_st = st.integers(0, 5).flatmap(
    lambda n: st.builds(
        ObdInfo,
        st.integers(0, 255),
        st.integers(0, 255),
        st.integers(0, 0xFFFF),
        st.integers(0, 0xFFFF),
        st.binary(min_size=17, max_size=17),
        st.binary(min_size=18, max_size=18),
        st.binary(min_size=18, max_size=18),
        st.binary(min_size=36, max_size=36),
        st.just(n),
        st.binary(min_size=4 * n, max_size=4 * n),
    )
)


@settings(max_examples=150)
@given(
    st.sampled_from(list(Layout)),
    times,
    st.integers(0, 0xFFFF),
    st.lists(st.one_of(stream_st, obd_st), min_size=1, max_size=5),
    st.data(),
)
def test_realtime_unit_round_trip_is_byte_identical(
    layout: Layout, t0: datetime, serial: int, bodies: list, data: st.DataObject
) -> None:
    items = []
    for i, b in enumerate(bodies):
        it_type = 0x02 if isinstance(b, DataStream) else 0x01
        if layout is Layout.GB17691:
            items.append(InfoItem(it_type, b, serial=(serial + i) & 0xFFFF))
        elif layout is Layout.HJ1239:
            items.append(InfoItem(it_type, b, time=data.draw(times)))
        else:
            sig = Signature(
                data.draw(st.binary(min_size=32, max_size=32)),
                data.draw(st.binary(min_size=32, max_size=32)),
            )
            items.append(InfoItem(it_type, b, signature=sig))
    unit = RealTime(layout, t0, None if layout is Layout.GB17691 else serial, tuple(items))
    raw = unit.encode()
    back = decode_realtime(raw, layout)
    assert back.encode() == raw
    f = Frame(HeaderVariant.TERMINAL, 0x02, "LZYCHB3A3PH000001", 1, 1, raw)
    assert parse_frame(f.encode()).encode() == f.encode()


def test_max_data_len_is_the_protocol_maximum() -> None:
    with pytest.raises(FrameError):
        Frame(HeaderVariant.TERMINAL, 2, "LZYCHB3A3PH000001", 1, 1, bytes(MAX_DATA_LEN + 1))


def test_bcc_collision_on_a_truncated_frame_is_caught_by_the_data_unit_check() -> None:
    from core.registry import default_registry
    from obd_gateway.session import Session
    from obd_gateway.simulator import VehicleModel, build_packet

    v = default_registry().obd_vehicles[0]
    m = VehicleModel(v, seed=4)
    t = datetime(2026, 11, 20, 9, 0, tzinfo=BEIJING)
    a = build_packet(v.vin, [(t + timedelta(seconds=i), m.record()) for i in range(10)], 1).encode()
    b = build_packet(
        v.vin, [(t + timedelta(seconds=10 + i), m.record()) for i in range(10)], 2
    ).encode()
    # a truncated copy of A whose last byte is chosen so the swallowing candidate's BCC passes
    cut = 99
    total = len(a)
    head = a[:cut]
    body = head + b"\x00" + b[: total - cut - 1]
    x = functools.reduce(operator.xor, body[2 : total - 1], 0) ^ body[total - 1]
    stream = head + bytes((x,)) + b
    naive = FrameDecoder().feed(stream)
    assert b not in frames_of(naive)  # without the check the valid frame is lost
    checked = FrameDecoder(validate=Session(default_registry()).plausible).feed(stream)
    assert frames_of(checked) == [b]
    assert "suspect" in [x.reason for x in bad_of(checked)]


@given(stream_st)
def test_fast_physical_path_agrees_with_readings(s: DataStream) -> None:
    values, flags = s.physical()
    for name, r in s.readings().items():
        assert values[name] == r.value
        assert (f"{name}:{r.quality}" in flags) == (r.quality != "ok")


def test_valid_frames_among_lying_and_truncated_ones_come_out_without_the_timeout() -> None:
    """Seeded streams of valid frames with truncated frames, lengths that lie and garbage between
    them, fed in random chunks: every valid frame comes out of ``feed`` itself (at most the last
    one waits for the end of the stream), in order, none invented."""
    import random

    from core.registry import default_registry
    from obd_gateway.session import Session
    from obd_gateway.simulator import VehicleModel, build_packet

    reg = default_registry()
    v = reg.obd_vehicles[0]
    m = VehicleModel(v, seed=3)
    t = datetime(2026, 11, 20, 9, tzinfo=BEIJING)
    goods = [
        build_packet(
            v.vin, [(t + timedelta(seconds=10 * k + i), m.record()) for i in range(10)], k
        ).encode()
        for k in range(120)
    ]
    rng = random.Random(11)
    for _ in range(8):
        parts, want = [], []
        for g in rng.sample(goods, 40):
            r = rng.random()
            if r < 0.2:  # cut short: its length field claims more than follows
                parts.append(g[: rng.randrange(30, len(g) - 1)])
            elif r < 0.3:  # a whole frame whose length field lies
                b = bytearray(g)
                b[22:24] = rng.randrange(len(g), 4000).to_bytes(2, "big")
                parts.append(bytes(b))
            elif r < 0.35:
                parts.append(bytes(rng.choice(b"#\x00A") for _ in range(rng.randrange(1, 30))))
            parts.append(g)
            want.append(g)
        stream = b"".join(parts)
        dec = FrameDecoder(validate=Session(reg).plausible)
        got: list = []
        i = 0
        while i < len(stream):
            n = rng.randrange(1, 2000)
            got += frames_of(dec.feed(stream[i : i + n]))
            i += n
        assert got == want[: len(got)] and len(got) >= len(want) - 1
        while dec.buffered:
            got += frames_of(dec.give_up_partial())
        assert got == want

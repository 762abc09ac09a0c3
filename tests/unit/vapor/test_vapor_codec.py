"""HJ 212 codec: CRC, framing four ways, real vectors, resync, hypothesis round trip."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fuel_vapor.protocol import (
    Frame,
    FrameDecoder,
    FrameError,
    encode_frame,
    hj212_crc,
    inspect_packet,
    modbus_crc,
    parse_segment,
)
from fuel_vapor.protocol.crc import hj212_crc_reference, plausible
from fuel_vapor.protocol.packet import FlagBits, Packet, SegmentError

H1_SEG = b"QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&"


def _frames(items):
    return [i for i in items if isinstance(i, Frame)]


def _errors(items):
    return [i for i in items if isinstance(i, FrameError)]


# ---------------------------------------------------------------- CRC


def test_crc_check_values_from_the_standard():
    assert hj212_crc(b"123456789") == 0x2F80
    assert hj212_crc(b"") == 0xFFFF
    assert hj212_crc(H1_SEG) == 0x1C80


def test_modbus_variant_differs_and_is_rejected():
    assert modbus_crc(b"123456789") == 0x4B37
    bad = b"##%04d%s%04X\r\n" % (len(H1_SEG), H1_SEG, modbus_crc(H1_SEG))
    items = FrameDecoder().feed(bad)
    assert not _frames(items)
    assert [e.reason for e in _errors(items)] == ["crc_mismatch"]
    assert "expected 1C80" in _errors(items)[0].detail


def test_modbus_variant_only_with_opt_in():
    bad = b"##%04d%s%04X\r\n" % (len(H1_SEG), H1_SEG, modbus_crc(H1_SEG))
    (frame,) = FrameDecoder(accept_modbus=True).feed(bad)
    assert isinstance(frame, Frame) and frame.crc_variant == "modbus"


@given(st.binary(min_size=1, max_size=300))
def test_crc_low_byte_is_always_plausible(data):
    assert plausible(hj212_crc(data))


@settings(max_examples=500)
@given(st.binary(max_size=1100))
def test_fast_crc_equals_the_byte_by_byte_appendix_routine(data):
    assert hj212_crc(data) == hj212_crc_reference(data)


def test_reference_routine_check_values():
    assert hj212_crc_reference(b"123456789") == 0x2F80 and hj212_crc_reference(H1_SEG) == 0x1C80


# ---------------------------------------------------------------- real vectors


def test_every_vector_decodes_whole(vectors):
    for v in vectors:
        raw = v["frame"].encode()
        ins = inspect_packet(raw)
        assert ins.ok is v["valid"], (v["id"], ins.message)
        chk = v["check"]
        assert ins.declared_length == chk["declared_length"]
        assert ins.actual_length == chk["actual_length"]
        assert ins.crc_expected == chk["crc_calc"]
        # an invalid vector must fail for the reason its check record documents
        documented = (
            ""
            if v["valid"]
            else "length_mismatch"
            if chk["declared_length"] != chk["actual_length"]
            else "crc_mismatch"
        )
        assert ins.reason == documented, v["id"]
        if not v["valid"]:
            continue
        packet = parse_segment(ins.segment.decode())
        assert packet.st == v["st"], v["id"]
        # rebuilding from the parsed fields gives the same bytes apart from CRC case
        rebuilt = encode_frame(packet.segment, tail="crlf" if raw.endswith(b"\r\n") else "none")
        assert rebuilt.upper() == raw.upper(), v["id"]


def test_every_vector_decodes_as_one_stream(vectors):
    stream = b"".join(v["frame"].encode() for v in vectors)
    dec = FrameDecoder()
    items = dec.feed(stream) + dec.close()
    assert [f.segment for f in _frames(items)] == [
        inspect_packet(v["frame"].encode()).segment for v in vectors if v["valid"]
    ]
    assert len(_errors(items)) == sum(1 for v in vectors if not v["valid"])


def test_every_vector_byte_at_a_time(vectors):
    dec = FrameDecoder()
    got = []
    for v in vectors:
        for b in v["frame"].encode():
            got += dec.feed(bytes([b]))
    got += dec.close()
    assert len(_frames(got)) == sum(1 for v in vectors if v["valid"])
    assert len(_errors(got)) == sum(1 for v in vectors if not v["valid"])


def test_changed_byte_fails_crc_and_changed_length_fails_length(vectors):
    for v in vectors:
        raw = bytearray(v["frame"].encode())
        i = 6 + v["check"]["declared_length"] // 2
        raw[i] = ord("7") if raw[i] != ord("7") else ord("8")
        ins = inspect_packet(bytes(raw))
        assert not ins.ok and ins.reason == "crc_mismatch", v["id"]
        longer = (
            v["frame"]
            .encode()
            .replace(
                b"##%04d" % v["check"]["declared_length"],
                b"##%04d" % (v["check"]["declared_length"] + 1),
                1,
            )
        )
        ins = inspect_packet(longer)
        assert not ins.ok and ins.reason == "length_mismatch", v["id"]


def test_vector_specifics(vectors):
    by_id = {v["id"]: v for v in vectors}
    h14 = parse_segment(inspect_packet(by_id["H14"]["frame"].encode()).segment.decode())
    assert h14.flag == FlagBits(9, True, False, 2)  # unknown version accepted
    h11 = parse_segment(inspect_packet(by_id["H11"]["frame"].encode()).segment.decode())
    assert h11.flag.split and h11.pnum is None  # Flag=3 without PNUM/PNO: not reassembled
    h3 = parse_segment(inspect_packet(by_id["H3"]["frame"].encode()).segment.decode())
    assert h3.qn is None and h3.flag is None
    assert h3.data_time.isoformat() == "2016-08-24T00:38:17+08:00"
    assert h3.factors()["B01"] == {"rtd": "36.91"}  # no -Flag: none invented
    r6 = parse_segment(inspect_packet(by_id["R6"]["frame"].encode()).segment.decode())
    assert r6.cn == "9021" and r6.cp == ()


# ---------------------------------------------------------------- four ways on generated frames


def _frame(i: int, **kw) -> bytes:
    seg = (
        f"QN=2026112310{i:02d}00000;ST=61;CN=2011;PW=123456;MN=UNIT{i:04d};Flag=5;"
        f"CP=&&DataTime=2026112310{i:02d}00;q0001-AlvR=1.{i % 10},q0001-FuelFlow=3{i % 10}.5&&"
    )
    return encode_frame(seg, **kw)


FRAMES = [_frame(i) for i in range(6)]
RAWS = [f[:-2] for f in FRAMES]  # Frame.raw excludes the tail


def test_whole_buffer():
    items = FrameDecoder().feed(b"".join(FRAMES))
    assert [f.raw for f in _frames(items)] == RAWS


def test_one_byte_at_a_time():
    dec = FrameDecoder()
    out = []
    for b in b"".join(FRAMES):
        out += dec.feed(bytes([b]))
    assert [f.raw for f in _frames(out)] == RAWS and not _errors(out)


def test_trailing_bytes_of_next_frame_are_kept():
    dec = FrameDecoder()
    first = dec.feed(FRAMES[0] + FRAMES[1][:17])
    assert [f.raw for f in _frames(first)] == [RAWS[0]]
    assert dec.buffered == 17
    second = dec.feed(FRAMES[1][17:])
    assert [f.raw for f in _frames(second)] == [RAWS[1]]


def test_leading_garbage_and_bad_crc_resync():
    bad_crc = bytearray(FRAMES[1])
    bad_crc[-6:-2] = b"0000" if bad_crc[-6:-2] != b"0000" else b"0001"
    stream = (
        b"\x00\xffgarbage#"
        + FRAMES[0]
        + bytes(bad_crc)
        + b"##12x4"
        + FRAMES[2]
        + b"##0999QN="
        + FRAMES[3]
    )
    dec = FrameDecoder()
    items = dec.feed(stream)
    assert [f.raw for f in _frames(items)] == [RAWS[0], RAWS[2], RAWS[3]]
    reasons = [e.reason for e in _errors(items)]
    assert reasons == ["garbage", "crc_mismatch", "bad_length_field", "length_mismatch"]


def test_truncated_frame_followed_by_valid_one_is_not_swallowed():
    items = FrameDecoder().feed(FRAMES[0][:40] + FRAMES[1])
    assert [f.raw for f in _frames(items)] == [RAWS[1]]
    assert [e.reason for e in _errors(items)] == ["length_mismatch"]


def test_oversize_length_is_refused_without_buffering():
    dec = FrameDecoder(max_segment=1024)
    items = dec.feed(b"##9999" + b"A" * 100 + FRAMES[0])
    assert next(e.reason for e in _errors(items)) == "oversize"
    assert [f.raw for f in _frames(items)] == [RAWS[0]]


def test_buffer_is_capped_on_endless_garbage():
    dec = FrameDecoder(max_segment=1024)
    for _ in range(50):
        dec.feed(b"x" * 1000)
    assert dec.buffered <= 1024 + 1000


def test_missing_crlf_and_literal_tail_and_late_tail():
    a = _frame(1, tail="none")
    b = _frame(2, tail="literal")
    c = _frame(3, crc_case="lower")
    dec = FrameDecoder()
    items = dec.feed(a + b + c)
    assert [f.tail for f in _frames(items)] == ["none", "literal", "crlf"]
    dec2 = FrameDecoder()
    assert _frames(dec2.feed(_frame(4, tail="none")))[0].tail == "pending"
    assert dec2.feed(b"\r\n") == [] and dec2.close() == []


def test_guangzhou_extra_character_only_when_allowed():
    gz = _frame(5, extra_char="0")
    assert _frames(FrameDecoder(extra_chars=b"0").feed(gz))[0].extra_char == "0"
    assert not _frames(FrameDecoder().feed(gz))
    stray = _frame(5, extra_char=";")
    assert not _frames(FrameDecoder(extra_chars=b"0").feed(stray))


# ---------------------------------------------------------------- data segment


def test_field_order_is_free_and_preserved():
    seg = "QN=20261123100000000;MN=ABC;ST=61;CN=2011;PW=123456;CP=&&TankPress=12.5&&"
    p = parse_segment(seg)
    assert (p.mn, p.st, p.cn, p.pw, p.qn) == ("ABC", "61", "2011", "123456", "20261123100000000")
    assert p.segment == seg
    assert p.cp_dict() == {"TankPress": "12.5"}


@pytest.mark.parametrize(
    ("seg", "reason"),
    [
        ("QN=1;ST=32;CN=2011;PW=1;MN=A;Flag=5", "malformed"),
        ("ST=32;CN=2011;PW=1;Flag=5;CP=&&&&", "malformed"),
        ("ST=32;CN=20x1;PW=1;MN=A;CP=&&&&", "bad_cn"),
        ("ST=32;CN=2011;PW=1;MN=A;Flag=300;CP=&&&&", "bad_flag"),
        ("ST=32;CN=2011;PW=1;MN=A;CP=&&a01-Rtd&&", "bad_cp"),
        ("ST=32;CN=2011;PW=1;MN=" + "A" * 25 + ";CP=&&&&", "bad_mn"),
        ("ST=32;ST=31;CN=2011;PW=1;MN=A;CP=&&&&", "malformed"),
    ],
)
def test_malformed_segments_name_the_reason(seg, reason):
    with pytest.raises(SegmentError) as exc:
        parse_segment(seg)
    assert exc.value.reason == reason


def test_data_time_14_and_17_digits():
    p = parse_segment("ST=31;CN=2011;PW=1;MN=A;CP=&&DataTime=20261123101112345&&")
    assert p.data_time.microsecond == 345000 and p.data_time.utcoffset().total_seconds() == 8 * 3600
    with pytest.raises(ValueError, match="14 or 17 digits"):
        _ = parse_segment("ST=31;CN=2011;PW=1;MN=A;CP=&&DataTime=2026112310&&").data_time


_key = st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=8)
_val = st.text(alphabet=string.ascii_letters + string.digits + ".-:", max_size=10)
_item = st.tuples(
    st.builds(lambda c, s: f"{c}-{s}" if s else c, _key, st.one_of(st.just(""), _key)), _val
)


@settings(max_examples=150, deadline=None)
@given(
    mn=st.text(alphabet=string.ascii_letters + string.digits + "_", min_size=1, max_size=24),
    flag=st.one_of(st.none(), st.integers(0, 255)),
    qn=st.one_of(st.none(), st.from_regex(r"\A[0-9]{17}\Z")),
    groups=st.lists(st.lists(_item, min_size=1, max_size=4), max_size=5),
    crc_case=st.sampled_from(["upper", "lower"]),
    tail=st.sampled_from(["crlf", "none", "literal"]),
    split_at=st.integers(0, 2000),
)
def test_round_trip_property(mn, flag, qn, groups, crc_case, tail, split_at):
    p = Packet.build(cn="2011", mn=mn, st="31", pw="123456", qn=qn, flag=flag, cp=groups)
    raw = encode_frame(p.segment, crc_case=crc_case, tail=tail)
    assert inspect_packet(raw).ok
    dec = FrameDecoder()
    k = split_at % (len(raw) + 1)
    items = dec.feed(raw[:k]) + dec.feed(raw[k:]) + dec.close()
    (frame,) = _frames(items)
    assert not _errors(items)
    back = parse_segment(frame.segment.decode())
    assert back == p
    assert (back.flag is None) == (flag is None)
    if flag is not None:
        assert back.flag.value == flag and back.flag.answer == bool(flag & 1)
        assert back.flag.split == bool(flag & 2) and back.flag.version == flag >> 2


@settings(max_examples=100, deadline=None)
@given(junk=st.binary(max_size=200), pos=st.integers(0, 10))
def test_random_junk_between_frames_never_loses_a_valid_frame(junk, pos):
    junk = junk.replace(b"##", b"#")  # a '##' in junk may legally start a frame
    if junk.endswith(b"#"):
        junk = junk[:-1]
    stream = b"".join(FRAMES[: pos % 6]) + junk + b"".join(FRAMES[pos % 6 :])
    dec = FrameDecoder()
    items = dec.feed(stream) + dec.close()
    assert [f.raw for f in _frames(items)] == RAWS

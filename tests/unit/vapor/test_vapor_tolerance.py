"""What real data loggers send beyond the samples (issue 10 §2): a lone CR as the tail, fields the
code map does not know, text that is GBK or not text at all."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.registry import default_registry
from core.timeutil import BEIJING
from fuel_vapor.cli import decode_hj212
from fuel_vapor.codemaps import default_codemaps
from fuel_vapor.intake import from_hj212
from fuel_vapor.protocol import Frame, FrameDecoder, encode_frame, inspect_packet, parse_segment
from fuel_vapor.protocol.packet import segment_text

H1_SEG = (
    b"QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;"
    b"CP=&&RtdInterval=30&&"
)
MN = "3101SNAD4970302F7EAFC72E"  # QP-AM-0001, national code map
TS = datetime(2026, 11, 20, 9, 0, tzinfo=BEIJING)


def frames(items: list) -> list[Frame]:
    return [x for x in items if isinstance(x, Frame)]


# ------------------------------------------------------------------------------ lone CR


def test_packet_ending_in_a_lone_cr_is_accepted_in_a_stream() -> None:
    p = encode_frame(H1_SEG, tail="cr")
    assert p.endswith(b"1C80\r")
    dec = FrameDecoder()
    items = dec.feed(p + p + encode_frame(H1_SEG))
    assert [f.tail for f in frames(items)] == ["cr", "cr", "crlf"] and len(items) == 3
    assert dec.close() == []
    dec = FrameDecoder()  # the lone CR is the last byte of the connection
    assert [f.tail for f in frames(dec.feed(p))] == ["cr"] and dec.close() == []
    dec = FrameDecoder()  # ... or an LF follows later: the tail of the same packet, not garbage
    assert [f.tail for f in frames(dec.feed(p))] == ["cr"]
    assert dec.feed(b"\n") == [] and dec.close() == []


def test_inspect_and_decode_command_accept_a_lone_cr() -> None:
    ins = inspect_packet(encode_frame(H1_SEG, tail="cr"))
    assert ins.ok and ins.tail == "cr" and ins.segment == H1_SEG
    code, obj, reason = decode_hj212(encode_frame(H1_SEG, tail="cr").decode())
    assert (code, reason, obj["tail"], obj["crc"]["ok"]) == (0, "", "cr", True)


# ------------------------------------------------------------------------------ text


@pytest.mark.parametrize(
    ("data", "text", "encoding"),
    [
        (b"a24088-Flag=N", "a24088-Flag=N", "utf-8"),
        ("a-Info=加油站".encode(), "a-Info=加油站", "utf-8"),
        ("a-Info=加油站".encode("gbk"), "a-Info=加油站", "gbk"),
        (b"a24088-Flag=N\xff", "a24088-Flag=N\\xff", "escaped"),
        ("a-Info=加油站".encode() + b"\xfe;", "a-Info=加油站\\xfe;", "escaped"),
    ],
)
def test_segment_text_decodes_gbk_or_escapes(data: bytes, text: str, encoding: str) -> None:
    assert segment_text(data) == (text, encoding)


@settings(max_examples=300)
@given(st.binary(max_size=60))
def test_any_bytes_in_a_value_give_a_packet_whose_strings_encode(value: bytes) -> None:
    value = value.translate(None, b";,=&\r\n#")  # the segment's own delimiters cannot occur
    seg = b"QN=1;ST=22;CN=2011;PW=1;MN=AB;Flag=5;CP=&&a24088-Flag=" + value + b"&&"
    for given_as in (seg, seg.decode("utf-8", "surrogateescape")):  # bytes, or gateway text
        p = parse_segment(given_as)
        for _, v in p.items():
            v.encode("utf-8")  # raises for a lone surrogate
        p.segment.encode("utf-8")
        assert p.encoding in ("utf-8", "gbk", "escaped")
        if p.encoding == "utf-8":
            assert p.get("a24088-Flag") == value.decode()


# ------------------------------------------------------------------------------ unknown fields


def test_field_the_code_map_does_not_know_is_kept_raw_and_counted() -> None:
    reg = default_registry()
    unit = reg.unit_by_mn(MN)
    assert unit is not None
    cm = default_codemaps()["national"]
    frame = cm.encode(cn="2011", mn=MN, pw=unit.password, ts=TS, sensor={"nmhc_mg_m3": (1.5, "N")})
    (f,) = FrameDecoder().feed(frame)
    known = parse_segment(f.segment)
    assert cm.decode(known).unknown == []
    seg = f.segment.replace(b"&&DataTime", b"&&a99999-Rtd=7.5,a99999-Flag=N;DataTime")
    (f,) = FrameDecoder().feed(encode_frame(seg))
    packet = parse_segment(f.segment)
    d = cm.decode(packet)
    assert d.unknown == [("a99999-Rtd", "7.5"), ("a99999-Flag", "N")]
    assert [s[:2] for s in d.sensors] == [("nmhc_mg_m3", 1.5)]  # the known field still decoded
    res = from_hj212(packet, f.raw, unit, cm, datetime(2026, 11, 20, 1, 0, tzinfo=UTC))
    assert "unknown_field" in res.problems
    assert "a99999-Rtd=7.5" in res.packet_event.raw  # kept raw in the packet record
    assert any("a99999-Rtd" in p for p in res.packet_event.problems)
    assert len(res.events) == 1  # the reading of the known field

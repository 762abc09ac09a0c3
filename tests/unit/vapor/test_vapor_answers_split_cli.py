"""Answers (9011/9012/9014), split-packet reassembly and the ``decode hj212`` command."""

from __future__ import annotations

import argparse
import io
import json

import pytest

from fuel_vapor.cli import cmd_decode, decode_hj212, register
from fuel_vapor.protocol import FrameDecoder, Reassembler, SplitError, parse_segment
from fuel_vapor.protocol.answers import (
    QNRTN_BAD_CRC,
    QNRTN_BAD_MN,
    QNRTN_BAD_PW,
    data_answer,
    execution_answer,
    request_answer,
)
from fuel_vapor.protocol.framing import encode_frame, inspect_packet
from fuel_vapor.protocol.packet import Packet

H1 = "##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&1c80\r\n"


def _read(frame: bytes) -> Packet:
    ins = inspect_packet(frame)
    assert ins.ok, ins.message
    return parse_segment(ins.segment.decode())


@pytest.mark.parametrize("code", [QNRTN_BAD_PW, QNRTN_BAD_MN, QNRTN_BAD_CRC])
def test_request_answer_echoes_qn_and_carries_qnrtn(code):
    req = _read(H1.encode())
    ans = _read(request_answer(req, code))
    assert (ans.qn, ans.st, ans.cn, ans.mn, ans.pw) == (req.qn, "91", "9011", req.mn, req.pw)
    assert ans.get("QnRtn") == str(code)
    assert ans.flag.value == 4 and not ans.flag.answer


def test_data_and_execution_answers():
    req = _read(H1.encode())
    a = _read(data_answer(req, cp="QnRtn=1"))
    assert a.cn == "9014" and a.qn == req.qn and a.get("QnRtn") == "1"
    assert _read(data_answer(req)).cp == ()
    e = _read(execution_answer(req, 1))
    assert e.cn == "9012" and e.get("ExeRtn") == "1"


def test_answer_without_qn_for_2005_style_upload():
    up = parse_segment("ST=32;CN=2011;PW=123456;MN=LD130133000015;CP=&&DataTime=20160824003817&&")
    a = _read(data_answer(up, flag=None))
    assert a.qn is None and a.flag is None and a.mn == up.mn


def _part(pno: int, pnum: int = 3, qn: str = "20261123100000000") -> Packet:
    return Packet.build(
        cn="2011",
        mn="M1",
        st="31",
        pw="1",
        qn=qn,
        flag=7,
        pnum=pnum,
        pno=pno,
        cp=[[(f"a{pno}-Rtd", str(pno))]],
    )


def test_split_parts_join_in_pno_order_whatever_the_arrival_order():
    r = Reassembler()
    assert r.add(_part(3), 0.0) is None
    assert r.add(_part(1), 1.0) is None
    joined = r.add(_part(2), 2.0)
    assert [k for k, _ in joined.items()] == ["a1-Rtd", "a2-Rtd", "a3-Rtd"]
    assert joined.pnum is None and not joined.flag.split and joined.flag.answer
    assert r.open_sets == 0
    # the joined packet is a valid packet on its own
    assert inspect_packet(encode_frame(joined.segment)).ok


def test_split_expiry_returns_the_parts_received():
    r = Reassembler(timeout_s=10)
    r.add(_part(1), 0.0)
    r.add(_part(2, qn="20261123100000001"), 5.0)
    expired = r.expire(12.0)
    assert [[p.pno for p in s] for s in expired] == [[1]]
    assert r.open_sets == 1


@pytest.mark.parametrize(
    ("pno", "pnum", "reason"),
    [(0, 3, "split_bad_pno"), (4, 3, "split_bad_pno"), (1, 0, "split_bad_pnum")],
)
def test_split_rejects_bad_numbers(pno, pnum, reason):
    with pytest.raises(SplitError) as exc:
        Reassembler().add(_part(pno, pnum), 0.0)
    assert exc.value.reason == reason


def test_split_set_cap():
    r = Reassembler(max_sets=2)
    r.add(_part(1, qn="1"), 0)
    r.add(_part(1, qn="2"), 0)
    with pytest.raises(SplitError, match="split_too_many_sets"):
        r.add(_part(1, qn="3"), 0)


# ---------------------------------------------------------------- CLI


def test_decode_valid_packet_prints_json_and_exits_0():
    out, err = io.StringIO(), io.StringIO()
    code = cmd_decode(argparse.Namespace(packet=H1), out, err)
    assert code == 0 and err.getvalue() == ""
    obj = json.loads(out.getvalue())
    assert obj["valid"] is True
    assert obj["header"]["MN"] == "010000A8900016F000169DC0"
    assert obj["flag"] == {"value": 5, "answer_required": True, "split": False, "version": 1}
    assert obj["length"] == {"declared": 101, "actual": 101, "ok": True}
    assert obj["crc"] == {"in_frame": "1c80", "expected": "1C80", "ok": True}
    assert obj["cp"][0][0]["key"] == "RtdInterval" and obj["cp"][0][0]["value"] == "30"


def test_decode_literal_backslash_tail_from_a_shell():
    code, obj, _ = decode_hj212(H1.replace("\r\n", "\\r\\n"))
    assert code == 0 and obj["tail"] == "literal"


@pytest.mark.parametrize(
    ("packet", "expect"),
    [
        (H1.replace("1c80", "1c81"), "CRC mismatch: frame has 1c81, expected 1C80"),
        (
            H1.replace("##0101", "##0102"),
            "length mismatch: declared 0102, data segment has 101 bytes",
        ),
        ("##01x1QN=1", "malformed"),
        ("hello", "malformed"),
        (H1.replace(";CP=&&", ";XX=&&").replace("1c80", "{crc}"), "malformed"),
    ],
)
def test_decode_invalid_exits_2_with_one_line_reason(packet, expect):
    if "{crc}" in packet:
        seg = packet[6:].split("&&{crc}")[0] + "&&"
        packet = encode_frame(seg).decode()
    out, err = io.StringIO(), io.StringIO()
    code = cmd_decode(argparse.Namespace(packet=packet), out, err)
    assert code == 2
    line = err.getvalue()
    assert line.count("\n") == 1 and line.startswith(expect)
    assert json.loads(out.getvalue())["valid"] is False


def test_modbus_crc_names_the_variant():
    from fuel_vapor.protocol.crc import modbus_crc

    seg = H1[6:-6].encode()
    packet = "##0101" + seg.decode() + f"{modbus_crc(seg):04X}"
    code, _, reason = decode_hj212(packet)
    assert code == 2 and "CRC-16/MODBUS" in reason


def test_register_adds_decode_and_simulate_commands():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    groups = {
        name: sub.add_parser(name).add_subparsers()
        for name in ("root", "decode", "simulate", "report")
    }
    register(groups)
    args = parser.parse_args(["decode", "hj212", H1])
    assert args.func is cmd_decode
    args = parser.parse_args(
        ["simulate", "vapor", "--seconds", "1", "--fault", "QP-ST-0001:drift:3"]
    )
    assert args.fault == ["QP-ST-0001:drift:3"]


def test_stream_decoder_answers_round_trip():
    frames = FrameDecoder().feed(request_answer(_read(H1.encode()), 9) * 2)
    assert len(frames) == 2

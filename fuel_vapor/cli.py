"""Command-line entries of the vapour-recovery package (registered by ``streams/cli.py``).

``emwatch decode hj212 'PACKET'`` prints one JSON object (header fields, Flag bits, CRC and length
status, parsed CP) and exits 0 when the packet is valid, 2 with a one-line reason on stderr when it
is not. ``emwatch simulate vapor`` runs a gateway on loopback and the station simulator against it
for a while and prints what was received (no warehouse needed).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:  # the codec is imported by the command that uses it (emwatch start-up)
    from fuel_vapor.protocol.packet import Packet


def decode_hj212(text: str) -> tuple[int, dict[str, Any], str]:
    """Decode one packet; returns (exit code, JSON-able object, one-line reason or "")."""
    from fuel_vapor.protocol.framing import inspect_packet
    from fuel_vapor.protocol.packet import SegmentError, parse_segment

    raw = text.encode("utf-8", "surrogateescape")
    ins = inspect_packet(raw)
    obj: dict[str, Any] = {
        "valid": False,
        "length": {
            "declared": ins.declared_length,
            "actual": ins.actual_length,
            "ok": ins.declared_length is not None and ins.declared_length == ins.actual_length,
        },
        "crc": {
            "in_frame": ins.crc_in_frame,
            "expected": ins.crc_expected,
            "ok": ins.crc_expected is not None
            and (ins.crc_in_frame or "").upper() == ins.crc_expected,
        },
        "extra_char": ins.extra_char,
        "tail": ins.tail,
    }
    packet: Packet | None = None
    reason = "" if ins.ok else ins.message
    if ins.segment is not None:
        try:
            packet = parse_segment(ins.segment.decode("utf-8", "surrogateescape"))
        except SegmentError as exc:
            if not reason:
                reason = f"malformed: {exc.detail}"
    if packet is not None:
        obj.update(_packet_json(packet))
    obj["valid"] = not reason
    if reason:
        obj["error"] = reason
    return (0 if not reason else 2), obj, reason


def _packet_json(p: Packet) -> dict[str, Any]:
    try:
        dt = p.data_time
        data_time = None if dt is None else dt.isoformat()
    except ValueError as exc:
        data_time = f"invalid: {exc}"
    return {
        "header": dict(p.header),
        "header_order": [k for k, _ in p.header],
        "flag": None
        if p.flag is None
        else {
            "value": p.flag.value,
            "answer_required": p.flag.answer,
            "split": p.flag.split,
            "version": p.flag.version,
        },
        "split": None if p.pnum is None else {"pnum": p.pnum, "pno": p.pno},
        "data_time": data_time,
        "cp": [
            [
                {
                    "key": k,
                    "code": k.partition("-")[0] if "-" in k else None,
                    "suffix": k.partition("-")[2] or None,
                    "value": v,
                }
                for k, v in group
            ]
            for group in p.cp
        ],
        "factors": p.factors(),
    }


def cmd_decode(
    args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    code, obj, reason = decode_hj212(args.packet)
    out.write(json.dumps(obj, ensure_ascii=False) + "\n")
    if reason:
        err.write(reason.replace("\n", " ") + "\n")
    return code


def cmd_simulate(args: argparse.Namespace) -> int:
    import asyncio
    import os
    from pathlib import Path

    from core.credentials import read_demo_secrets
    from fuel_vapor.simulator import run_demo

    passwords = None
    if args.port:  # a running gateway: its data directory's demo credentials
        passwords = read_demo_secrets(Path(os.environ.get("EMW_DATA_DIR", "var")))
    summary = asyncio.run(
        run_demo(
            seconds=args.seconds,
            speed=args.speed,
            faults=args.fault or [],
            host=args.host,
            port=args.port,
            passwords=passwords,
        )
    )
    print(json.dumps(summary, ensure_ascii=False, indent=2, default=str))
    return 0


def register(groups: dict[str, argparse._SubParsersAction]) -> None:
    p = groups["decode"].add_parser("hj212", help="decode one HJ 212 packet and check length/CRC")
    p.add_argument("packet", help="the packet text, e.g. '##0101QN=...&&1C80'")
    p.set_defaults(func=cmd_decode)
    s = groups["simulate"].add_parser("vapor", help="simulate gas stations speaking HJ 212")
    s.add_argument("--seconds", type=float, default=20.0, help="wall-clock run time")
    s.add_argument("--speed", type=float, default=600.0, help="simulated seconds per second")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=0, help="gateway port (0 = start one here)")
    s.add_argument(
        "--fault",
        action="append",
        metavar="STATION:FAULT[:NOZZLE]",
        help="inject a fault, e.g. QP-ST-0001:drift:3 (repeatable; see simulator.FAULTS)",
    )
    s.set_defaults(func=cmd_simulate)

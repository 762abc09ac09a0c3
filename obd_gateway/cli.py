"""Field-engineer commands of the OBD source: ``emwatch decode obd HEX`` and ``emwatch simulate obd``.

``decode obd`` prints one JSON object (header, checksum status, data unit with every information
body in physical units, markers as ``null`` + quality) and exits 0 for a valid frame, or prints
one line ``invalid frame: <reason>: <detail>`` on stderr and exits 2 (bad BCC, bad length,
truncated, unknown header, not hex, data unit that does not fit its command).

``simulate obd`` drives simulated terminals of the registry against a running gateway.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from obd_gateway.protocol import (
    Command,
    DataUnitError,
    FrameError,
    Layout,
    bcc,
    decode_unit,
    parse_frame,
)

EXIT_OK = 0
EXIT_INVALID = 2


def decode_hex(text: str, layout: Layout | None = None) -> dict[str, Any]:
    """Decode one frame given as hex (spaces, ``0x`` and case ignored) into a JSON-ready dict.
    Raises :class:`FrameError` / :class:`DataUnitError` with a reason."""
    cleaned = "".join(text.split()).removeprefix("0x").removeprefix("0X")
    try:
        raw = bytes.fromhex(cleaned)
    except ValueError:
        raise FrameError("not_hex", "input is not an even-length hex string") from None
    frame = parse_frame(raw)
    unit = decode_unit(frame, layout)
    try:
        cmd_name = Command(frame.command).name.lower()
    except ValueError:
        cmd_name = "vendor" if frame.command >= 0x80 else "unknown"
    header: dict[str, Any] = {
        "variant": frame.variant.value,
        "command": f"0x{frame.command:02X}",
        "command_name": cmd_name,
        "vin": frame.vin,
        "encryption": f"0x{frame.encryption:02X}",
        "data_length": len(frame.data),
    }
    if frame.software_version is not None:
        header["software_version"] = f"0x{frame.software_version:02X}"
    else:
        header["response_flag"] = f"0x{frame.flag:02X}"
    return {
        "header": header,
        "checksum": {"bcc": f"0x{raw[-1]:02X}", "computed": f"0x{bcc(raw[2:-1]):02X}", "ok": True},
        "frame_length": len(raw),
        "unit_type": type(unit).__name__,
        "unit": unit.as_dict(),
    }


def _decode_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="emwatch decode obd", description="Decode one HJ 1239 / GB 17691 frame"
    )
    _decode_args(p)
    return p


def _decode_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("hex", nargs="+", help="frame bytes as hex (spaces allowed)")
    p.add_argument(
        "--layout", choices=[x.value for x in Layout], help="real-time layout (default: detect)"
    )
    p.add_argument("--indent", type=int, default=None, help="pretty-print with this indent")


def run_decode(args: argparse.Namespace) -> int:
    layout = Layout(args.layout) if args.layout else None
    try:
        out = decode_hex(" ".join(args.hex), layout)
    except (FrameError, DataUnitError) as exc:
        print(f"invalid frame: {exc.reason}: {exc.detail}", file=sys.stderr)
        return EXIT_INVALID
    print(json.dumps(out, ensure_ascii=False, indent=args.indent))
    return EXIT_OK


def main_decode(argv: Sequence[str] | None = None) -> int:
    """Entry point usable from tests: ``main_decode(["2323..."])`` → exit code."""
    return run_decode(_decode_parser().parse_args(argv))


def _simulate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9100)
    p.add_argument("--vehicles", type=int, default=0, help="how many registry vehicles (0 = all)")
    p.add_argument("--packets", type=int, default=6, help="10-s packets per vehicle")
    p.add_argument("--speedup", type=float, default=1.0, help="simulated seconds per wall second")
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="VIN=FAULT",
        help="inject a fault (scr_disabled, scr_degraded, urea_empty, nox_flat, mil_dtc, calid_change)",
    )


def run_simulate(args: argparse.Namespace) -> int:
    import asyncio

    from core.registry import default_registry
    from core.timeutil import utcnow
    from obd_gateway.simulator import Fault, run_fleet

    vehicles = list(default_registry().obd_vehicles)
    if args.vehicles:
        vehicles = vehicles[: args.vehicles]
    faults: dict[str, list[Fault]] = {}
    for spec in args.fault:
        vin, _, name = spec.partition("=")
        try:
            faults.setdefault(vin, []).append(Fault(name))
        except ValueError:
            print(
                f"unknown fault {name!r} (known: {', '.join(f.value for f in Fault)})",
                file=sys.stderr,
            )
            return EXIT_INVALID
    try:
        terms = asyncio.run(
            run_fleet(
                args.host,
                args.port,
                vehicles,
                utcnow(),
                args.packets,
                speedup=args.speedup,
                faults=faults,
            )
        )
    except OSError as exc:
        print(f"cannot reach the gateway at {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    records = sum(t.stats.records + t.stats.reissued for t in terms)
    print(
        json.dumps(
            {
                "terminals": len(terms),
                "records": records,
                "answers": sum(t.stats.answers for t in terms),
                "errors": sum(t.stats.errors for t in terms),
            }
        )
    )
    return EXIT_OK


def main_simulate(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="emwatch simulate obd")
    _simulate_args(p)
    return run_simulate(p.parse_args(argv))


def register(groups: dict[str, argparse._SubParsersAction]) -> None:  # type: ignore[type-arg]
    d = groups["decode"].add_parser("obd", help="decode one HJ 1239 / GB 17691 frame given as hex")
    _decode_args(d)
    d.set_defaults(func=run_decode)
    s = groups["simulate"].add_parser("obd", help="simulated OBD terminals against a gateway")
    _simulate_args(s)
    s.set_defaults(func=run_simulate)

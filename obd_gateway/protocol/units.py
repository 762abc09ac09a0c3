"""Data units per command (hj1239.md §2–§3, §7): login, real-time / re-issue, logout, time
calibration, anti-tamper, and the platform's answers. Pure: bytes ↔ typed units.

Times are 6 binary bytes ``YY MM DD hh mm ss`` (year − 2000), Beijing time (GMT+8).

Login 0x01 (28 B + GB/T 32960 extras kept raw)::    time(6) serial(2) ICCID(20) [extra]
Logout 0x04 (8 B)::                                  time(6) serial(2) [extra]
Time calibration 0x05::                              uplink empty; answer time(6)
Anti-tamper 0x06 (17 B, unconfirmed)::               time(6) serial(2) pos(1) lon(4) lat(4)

Real-time 0x02 / re-issue 0x03, three layouts (§3)::

    GB 17691 Annex Q : time(6) { type(1) serial(2) body } × k
    HJ 1239          : time(6) serial(2) { type(1) time(6) body } × k [ SM2 block(66) ]
    legacy 2019 draft: time(6) serial(2) { type(1) body SM2 block } × k

Info bodies have no length field, so an unknown info type ends structured parsing: the rest is
kept raw in ``tail`` (``partial``), never fatal. The layout is a per-terminal setting; when none
is given (or the hint fails) each layout is tried and the one that parses the whole unit wins.
Vendor blocks (0x80 …) are decoded by pluggable per-source decoders (default: WORD-length TLV).

Known limits: the terminal-header answer body (time + result byte) is our choice, since the
standard's answer body for that header is unconfirmed (§2); encrypted data units (0x03) are kept
raw; the GB 17691 layout carries one collection time, so several streams in one packet get
1-second steps from it (``time_inferred``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from core.timeutil import BEIJING
from obd_gateway.protocol.bodies import STREAM_LEN, DataStream, ObdInfo, Signature, VendorBlock
from obd_gateway.protocol.frame import (
    ENC_SM2,
    Command,
    Frame,
    HeaderVariant,
)


class DataUnitError(ValueError):
    """A data unit that does not fit its command's layout; ``reason`` is a metric label."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


class Layout(StrEnum):
    GB17691 = "gb17691"
    HJ1239 = "hj1239"
    LEGACY2019 = "legacy2019"


# ------------------------------------------------------------------------------ time


def decode_time(data: bytes | memoryview, pos: int = 0) -> datetime:
    if len(data) < pos + 6:
        raise DataUnitError("bad_data_unit", f"time at {pos}: needs 6 bytes")
    y, mo, d, h, mi, s = data[pos : pos + 6]
    try:
        return datetime(2000 + y, mo, d, h, mi, s, tzinfo=BEIJING)
    except ValueError:
        raise DataUnitError(
            "bad_time", f"time at {pos}: {bytes(data[pos : pos + 6]).hex()} is not a calendar time"
        ) from None


def encode_time(ts: datetime) -> bytes:
    t = ts.astimezone(BEIJING)
    if not 2000 <= t.year <= 2255:
        raise ValueError(f"time={t.isoformat()}: expected a year in 2000..2255")
    return bytes((t.year - 2000, t.month, t.day, t.hour, t.minute, t.second))


def _u16(data: bytes | memoryview, pos: int) -> int:
    return (data[pos] << 8) | data[pos + 1]


# ------------------------------------------------------------------------------ simple units


@dataclass(frozen=True, slots=True)
class Login:
    time: datetime
    serial: int
    iccid_raw: bytes  # 20 ASCII
    extra: bytes = b""  # GB/T 32960 login: subsystem count, code length, codes

    @property
    def iccid(self) -> str:
        return self.iccid_raw.rstrip(b"\x00 ").decode("ascii", "replace")

    def encode(self) -> bytes:
        return encode_time(self.time) + self.serial.to_bytes(2, "big") + self.iccid_raw + self.extra

    def as_dict(self) -> dict[str, Any]:
        return {
            "time": self.time.isoformat(),
            "serial": self.serial,
            "iccid": self.iccid,
            "extra": self.extra.hex().upper(),
        }


@dataclass(frozen=True, slots=True)
class Logout:
    time: datetime
    serial: int
    extra: bytes = b""

    def encode(self) -> bytes:
        return encode_time(self.time) + self.serial.to_bytes(2, "big") + self.extra

    def as_dict(self) -> dict[str, Any]:
        return {
            "time": self.time.isoformat(),
            "serial": self.serial,
            "extra": self.extra.hex().upper(),
        }


@dataclass(frozen=True, slots=True)
class TimeCalibration:
    time: datetime | None = None  # uplink: None (empty); answer: platform time

    def encode(self) -> bytes:
        return b"" if self.time is None else encode_time(self.time)

    def as_dict(self) -> dict[str, Any]:
        return {"time": None if self.time is None else self.time.isoformat()}


@dataclass(frozen=True, slots=True)
class AntiTamper:
    time: datetime
    serial: int
    pos_status: int
    lon_raw: int
    lat_raw: int
    extra: bytes = b""

    def encode(self) -> bytes:
        return (
            encode_time(self.time)
            + self.serial.to_bytes(2, "big")
            + bytes((self.pos_status,))
            + self.lon_raw.to_bytes(4, "big")
            + self.lat_raw.to_bytes(4, "big")
            + self.extra
        )

    def as_dict(self) -> dict[str, Any]:
        def coord(raw: int, neg: int) -> float | None:
            if raw >= 0xFB000000:
                return None
            return round(raw * 1e-6 * (-1 if self.pos_status & neg else 1), 6)

        return {
            "time": self.time.isoformat(),
            "serial": self.serial,
            "fix_valid": not self.pos_status & 1,
            "lon": coord(self.lon_raw, 0x04),
            "lat": coord(self.lat_raw, 0x02),
        }


@dataclass(frozen=True, slots=True)
class RawUnit:
    """A data unit kept as bytes: unknown/vendor command, encrypted unit, or a GB/T 32960 unit
    this gateway does not interpret (e.g. platform login)."""

    data: bytes
    note: str = ""

    def encode(self) -> bytes:
        return self.data

    def as_dict(self) -> dict[str, Any]:
        return {"raw": self.data.hex().upper(), "note": self.note}


# ------------------------------------------------------------------------------ real-time


Body = DataStream | ObdInfo | VendorBlock
VendorDecoder = Callable[[int, bytes | memoryview, int], VendorBlock]
DEFAULT_VENDOR: Mapping[int, VendorDecoder] = {0x80: VendorBlock.decode}


@dataclass(frozen=True, slots=True)
class InfoItem:
    info_type: int
    body: Body
    serial: int | None = None  # GB 17691 layout
    time: datetime | None = None  # HJ 1239 layout
    signature: Signature | None = None  # legacy layout

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"info_type": f"0x{self.info_type:02X}"}
        if self.serial is not None:
            d["serial"] = self.serial
        if self.time is not None:
            d["time"] = self.time.isoformat()
        d["body"] = self.body.as_dict()
        if self.signature is not None:
            d["signature"] = self.signature.as_dict()
        return d


@dataclass(frozen=True, slots=True)
class RealTime:
    layout: Layout
    time: datetime
    serial: int | None
    items: tuple[InfoItem, ...]
    signature: Signature | None = None
    tail: bytes = b""  # undecoded remainder, starting with its info-type byte
    error: str = ""  # why structured parsing stopped (empty when complete)

    @property
    def partial(self) -> bool:
        return bool(self.tail)

    def encode(self) -> bytes:
        out = [encode_time(self.time)]
        if self.layout is not Layout.GB17691:
            out.append((self.serial or 0).to_bytes(2, "big"))
        for it in self.items:
            out.append(bytes((it.info_type,)))
            if self.layout is Layout.GB17691:
                out.append((it.serial or 0).to_bytes(2, "big"))
            elif self.layout is Layout.HJ1239:
                out.append(encode_time(it.time or self.time))
            out.append(it.body.encode())
            if it.signature is not None:
                out.append(it.signature.encode())
        if self.signature is not None:
            out.append(self.signature.encode())
        out.append(self.tail)
        return b"".join(out)

    def streams(self) -> list[tuple[datetime, DataStream, bool]]:
        """(collection time, stream, time_inferred) for every data-stream body in order."""
        out = []
        k = 0
        for it in self.items:
            if isinstance(it.body, DataStream):
                if it.time is not None:
                    out.append((it.time, it.body, False))
                else:
                    out.append((self.time + timedelta(seconds=k), it.body, k > 0))
                k += 1
        return out

    def obd_infos(self) -> list[tuple[datetime, ObdInfo]]:
        return [
            (it.time or self.time, it.body) for it in self.items if isinstance(it.body, ObdInfo)
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "layout": self.layout.value,
            "time": self.time.isoformat(),
            "serial": self.serial,
            "items": [it.as_dict() for it in self.items],
            "signature": None if self.signature is None else self.signature.as_dict(),
            "partial": self.partial,
            "tail": self.tail.hex().upper(),
            "error": self.error,
        }


def _body_at(
    t: int, data: bytes | memoryview, pos: int, vendor: Mapping[int, VendorDecoder]
) -> tuple[Body, int] | None:
    """Body of info type ``t`` at ``pos`` and its end, or ``None`` for an unknown type."""
    n = len(data)
    if t == 0x02:
        if n < pos + STREAM_LEN:
            raise DataUnitError("bad_data_unit", f"data stream at {pos} truncated")
        return DataStream.decode(data, pos), pos + STREAM_LEN
    if t == 0x01:
        ln = ObdInfo.length_at(data, pos)
        if ln is None or n < pos + ln:
            raise DataUnitError("bad_data_unit", f"OBD body at {pos} truncated")
        return ObdInfo.decode(data, pos), pos + ln
    dec = vendor.get(t)
    if dec is not None:
        try:
            blk = dec(t, data, pos)
        except ValueError as exc:
            raise DataUnitError("bad_data_unit", f"vendor 0x{t:02X} at {pos}: {exc}") from None
        return blk, pos + len(blk.raw)
    return None


def _parse_realtime(
    data: bytes, layout: Layout, vendor: Mapping[int, VendorDecoder]
) -> tuple[RealTime | None, int, str]:
    """Parse with one layout; returns (unit or None, bytes understood, error)."""
    n = len(data)
    try:
        t0 = decode_time(data, 0)
    except DataUnitError as exc:
        return None, 0, exc.detail
    if layout is Layout.GB17691:
        pos, serial = 6, None
    else:
        if n < 8:
            return None, 6, "no info serial"
        pos, serial = 8, _u16(data, 6)
    items: list[InfoItem] = []
    signature = None
    error = ""
    while pos < n:
        t = data[pos]
        try:
            if layout is Layout.GB17691:
                if n < pos + 3:
                    raise DataUnitError("bad_data_unit", f"item header at {pos} truncated")
                got = _body_at(t, data, pos + 3, vendor)
                if got is None:
                    error = f"unknown info type 0x{t:02X} at {pos}"
                    break
                items.append(InfoItem(t, got[0], serial=_u16(data, pos + 1)))
                pos = got[1]
            elif layout is Layout.HJ1239:
                if t not in (0x01, 0x02) and t not in vendor:
                    sig = Signature.match(data, pos, n)
                    if sig is not None:
                        signature = sig
                        pos = n
                        break
                    error = f"unknown info type 0x{t:02X} at {pos}"
                    break
                it_time = decode_time(data, pos + 1)
                got = _body_at(t, data, pos + 7, vendor)
                assert got is not None
                items.append(InfoItem(t, got[0], time=it_time))
                pos = got[1]
            else:  # legacy: type body signature
                got = _body_at(t, data, pos + 1, vendor)
                if got is None:
                    error = f"unknown info type 0x{t:02X} at {pos}"
                    break
                sig = Signature.match(data, got[1])
                if sig is None:
                    raise DataUnitError("bad_data_unit", f"no signature block after body at {pos}")
                items.append(InfoItem(t, got[0], signature=sig))
                pos = got[1] + sig.size
        except DataUnitError as exc:
            error = exc.detail
            break
    if not items and signature is None and pos < n:
        return None, pos, error or "no info body"
    return (
        RealTime(layout, t0, serial, tuple(items), signature, bytes(data[pos:]), error),
        pos,
        error,
    )


def decode_realtime(
    data: bytes, layout: Layout | None = None, vendor: Mapping[int, VendorDecoder] = DEFAULT_VENDOR
) -> RealTime:
    """Decode a real-time / re-issue data unit with ``layout`` (hint) or by trying each layout.

    A complete parse wins; otherwise the parse that understood the most bytes, kept ``partial``.
    Raises :class:`DataUnitError` only when no layout finds even a valid time and one body.
    """
    order = [Layout.HJ1239, Layout.GB17691, Layout.LEGACY2019]
    if layout is not None:
        order.remove(layout)
        order.insert(0, layout)
    best: tuple[int, RealTime] | None = None
    last_err = ""
    for lay in order:
        rt, used, err = _parse_realtime(data, lay, vendor)
        if rt is not None and not rt.tail:
            return rt
        if rt is not None and (best is None or used > best[0]):
            best = (used, rt)
        last_err = last_err or err
    if best is None:
        raise DataUnitError("bad_data_unit", f"real-time unit: {last_err}")
    return best[1]


# ------------------------------------------------------------------------------ dispatch

Unit = Login | Logout | TimeCalibration | AntiTamper | RealTime | RawUnit


def decode_unit(
    frame: Frame, layout: Layout | None = None, vendor: Mapping[int, VendorDecoder] = DEFAULT_VENDOR
) -> Unit:
    """The typed data unit of ``frame``; raises :class:`DataUnitError` for a known command whose
    unit does not fit its layout. Unknown/vendor commands and encrypted units come back raw."""
    d = frame.data
    cmd = frame.command
    if frame.encryption == ENC_SM2:
        return RawUnit(d, "SM2-encrypted data unit (not decrypted)")
    if cmd in (Command.REALTIME, Command.REISSUE):
        return decode_realtime(d, layout, vendor)
    if cmd == Command.LOGIN:
        if len(d) < 28:
            raise DataUnitError("bad_data_unit", f"login unit {len(d)} B: expected >= 28 B")
        return Login(decode_time(d), _u16(d, 6), d[8:28], d[28:])
    if cmd == Command.LOGOUT:
        if len(d) < 8:
            raise DataUnitError("bad_data_unit", f"logout unit {len(d)} B: expected >= 8 B")
        return Logout(decode_time(d), _u16(d, 6), d[8:])
    if cmd == Command.TIME_CALIBRATION:
        if not d:
            return TimeCalibration(None)
        if len(d) == 6:
            return TimeCalibration(decode_time(d))
        return RawUnit(d, "command 0x05 with a non-HJ 1239 body (e.g. GB/T 32960 platform login)")
    if cmd == Command.ANTI_TAMPER:
        if len(d) < 17:
            raise DataUnitError("bad_data_unit", f"anti-tamper unit {len(d)} B: expected >= 17 B")
        return AntiTamper(
            decode_time(d),
            _u16(d, 6),
            d[8],
            int.from_bytes(d[9:13], "big"),
            int.from_bytes(d[13:17], "big"),
            d[17:],
        )
    return RawUnit(d, f"command 0x{cmd:02X} passed through raw")


def unit_time(unit: Unit) -> datetime | None:
    return getattr(unit, "time", None)


def make_answer(frame: Frame, result: int, now: datetime, unit: Unit | None = None) -> Frame:
    """The answer frame for ``frame`` (§2 "Answers"): same header, command and VIN.

    Response-flag header: byte 3 = ``result``; data = the uplink's time (6) when it had one.
    Terminal header: data = the uplink's time (6) + ``result`` (1). Time calibration: data = the
    platform time ``now`` (31-byte answer frame).
    """
    if frame.command == Command.TIME_CALIBRATION:
        data = encode_time(now)
    else:
        t = unit_time(unit) if unit is not None else None
        data = encode_time(t) if t is not None else b""
        if frame.variant is HeaderVariant.TERMINAL:
            data += bytes((result,))
    if frame.variant is HeaderVariant.RESPONSE_FLAG:
        return Frame(frame.variant, frame.command, frame.vin, result, 0x01, data)
    return Frame(frame.variant, frame.command, frame.vin, frame.flag, 0x01, data)

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

A unit is decoded whole or rejected with a reason (never half-kept). Info bodies have no length
field, so:

- vendor types 0x80 … 0xFF (any position, the first included) are skipped by their length and
  kept raw (:class:`VendorBlock`); the default decoder reads the WORD length of the one form seen
  on the wire (O6, §6), a source with another form plugs in its own per type;
- any other type the decoder does not know is tried as such a WORD-length block and kept only if
  the rest of the unit then parses; otherwise its length cannot be known and the unit is rejected
  with ``unknown_info_type``, naming the type and its byte offset;
- a time of six zero bytes (the terminal's clock not set yet, seen in a real OEM platform frame)
  is ``None`` with ``time_unset``: the values are kept and filed under the unit's send time (or
  the receive time the caller passes when that is unset too).

The layout is a per-terminal setting; when none is given (or the hint fails) each layout is tried
and the first that parses the whole unit wins.

Known limits: the terminal-header answer body (time + result byte) is our choice, since the
standard's answer body for that header is unconfirmed (§2); encrypted data units (0x03) are kept
raw; the GB 17691 layout carries one collection time, so several streams in one packet get
1-second steps from it (``time_inferred``).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

from core.timeutil import BEIJING
from obd_gateway.protocol.bodies import (
    STREAM_FORMAT,
    STREAM_LEN,
    DataStream,
    ObdInfo,
    Signature,
    VendorBlock,
)
from obd_gateway.protocol.frame import (
    ENC_SM2,
    Command,
    Frame,
    HeaderVariant,
    encode_frame,
    parse_frame,
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
# §3.4 / §6: types 0x80 … 0xFF are vendor / provincial supplements. The one form seen on the wire
# (O6) is a WORD length + TLV items, so every vendor type is skipped by that WORD by default; a
# source with another form plugs in its own decoder for that type.
DEFAULT_VENDOR: Mapping[int, VendorDecoder] = {t: VendorBlock.decode for t in range(0x80, 0x100)}
DECODED_TYPES = frozenset((DataStream.INFO_TYPE, ObdInfo.INFO_TYPE))
UNSET_TIME = bytes(6)  # a terminal whose clock is not set yet sends six zero bytes
_UNIT_OFFSET = 24  # the data unit starts at frame byte 24 (both headers; frame.HEADER_LEN)


@dataclass(frozen=True, slots=True)
class InfoItem:
    """One information item. ``time`` is the item's collection time (HJ 1239 layout), ``None``
    in the other layouts or when the terminal sent six zero bytes (``time_unset``)."""

    info_type: int
    body: Body
    serial: int | None = None  # GB 17691 layout
    time: datetime | None = None  # HJ 1239 layout
    signature: Signature | None = None  # legacy layout
    time_unset: bool = False  # HJ 1239 layout: the collection time was six zero bytes

    @property
    def skipped(self) -> bool:
        """A vendor or unknown block skipped by its length and kept raw."""
        return isinstance(self.body, VendorBlock)

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"info_type": f"0x{self.info_type:02X}"}
        if self.serial is not None:
            d["serial"] = self.serial
        if self.time is not None:
            d["time"] = self.time.isoformat()
        if self.time_unset:
            d["time"] = None
            d["time_unset"] = True
        d["body"] = self.body.as_dict()
        if self.signature is not None:
            d["signature"] = self.signature.as_dict()
        return d


class TimedStream(NamedTuple):
    """A data-stream body with the time it is filed under: its collection time, or an inferred
    one (``inferred``: GB 17691 1-second steps; ``unset``: the terminal's clock was not set)."""

    ts: datetime
    stream: DataStream
    inferred: bool
    unset: bool


@dataclass(frozen=True, slots=True)
class RealTime:
    """A real-time / re-issue data unit. ``time`` is the unit's time (HJ 1239: send time; other
    layouts: collection time), ``None`` when the terminal sent six zero bytes."""

    layout: Layout
    time: datetime | None
    serial: int | None
    items: tuple[InfoItem, ...]
    signature: Signature | None = None

    @property
    def time_unset(self) -> bool:
        return self.time is None

    @property
    def skipped(self) -> tuple[InfoItem, ...]:
        """Vendor / unknown blocks kept raw."""
        return tuple(it for it in self.items if it.skipped)

    def encode(self) -> bytes:
        out = [_time_bytes(self.time)]
        if self.layout is not Layout.GB17691:
            out.append((self.serial or 0).to_bytes(2, "big"))
        for it in self.items:
            out.append(bytes((it.info_type,)))
            if self.layout is Layout.GB17691:
                out.append((it.serial or 0).to_bytes(2, "big"))
            elif self.layout is Layout.HJ1239:
                out.append(UNSET_TIME if it.time_unset else _time_bytes(it.time or self.time))
            out.append(it.body.encode())
            if it.signature is not None:
                out.append(it.signature.encode())
        if self.signature is not None:
            out.append(self.signature.encode())
        return b"".join(out)

    def _stamps(
        self, want: type, fallback: datetime | None
    ) -> list[tuple[datetime, Any, bool, bool]]:
        """(time, body, inferred, unset) of every body of type ``want``, in order.

        A body without its own collection time gets the unit's time plus 1-second steps (GB 17691
        and legacy layouts); a body whose time is unset gets the unit's send time, or ``fallback``
        (the receive time) when that is unset too, plus 1-second steps among such bodies, so that
        the records of one unit keep distinct times (and ids)."""
        out: list[tuple[datetime, Any, bool, bool]] = []
        k = 0  # bodies timed from the unit's time
        u = 0  # bodies whose time is unset
        for it in self.items:
            if not isinstance(it.body, want):
                continue
            if it.time is not None:
                out.append((it.time, it.body, False, False))
                continue
            unset = it.time_unset or self.time is None
            base = self.time if self.time is not None else fallback
            if base is None:
                raise ValueError("the unit's time is unset: pass the receive time as fallback")
            if unset:
                out.append((base + timedelta(seconds=u), it.body, True, True))
                u += 1
            else:
                out.append((base + timedelta(seconds=k), it.body, k > 0, False))
                k += 1
        return out

    def streams(self, fallback: datetime | None = None) -> list[TimedStream]:
        """Every data-stream body with the time it is filed under (see :meth:`_stamps`)."""
        return [TimedStream(*x) for x in self._stamps(DataStream, fallback)]

    def obd_infos(self, fallback: datetime | None = None) -> list[tuple[datetime, ObdInfo, bool]]:
        """(time, body, time_unset) of every OBD information body."""
        return [(t, b, unset) for t, b, _, unset in self._stamps(ObdInfo, fallback)]

    def as_dict(self) -> dict[str, Any]:
        return {
            "layout": self.layout.value,
            "time": None if self.time is None else self.time.isoformat(),
            "time_unset": self.time is None,
            "serial": self.serial,
            "items": [it.as_dict() for it in self.items],
            "signature": None if self.signature is None else self.signature.as_dict(),
            "skipped_blocks": [
                {"info_type": f"0x{it.info_type:02X}", "length": len(it.body.encode())}
                for it in self.skipped
            ],
        }


def _time_bytes(t: datetime | None) -> bytes:
    return UNSET_TIME if t is None else encode_time(t)


def _time_or_unset(data: bytes | memoryview, pos: int) -> datetime | None:
    """The 6-byte time at ``pos``; ``None`` for six zero bytes (clock not set)."""
    if data[pos : pos + 6] == UNSET_TIME:
        return None
    return decode_time(data, pos)


def _where(pos: int) -> str:
    return f"data-unit byte {pos} (frame byte {pos + _UNIT_OFFSET})"


def _body_at(
    t: int, data: bytes | memoryview, item: int, pos: int, vendor: Mapping[int, VendorDecoder]
) -> tuple[Body, int, bool]:
    """Body of info type ``t`` (item starting at ``item``, body at ``pos``): (body, end, guessed).

    ``guessed``: the type is unknown and its body was taken as a WORD-length block; the caller
    accepts that guess only if the rest of the unit then parses."""
    n = len(data)
    if t == 0x02:
        if n < pos + STREAM_LEN:
            raise DataUnitError(
                "bad_data_unit", f"data stream at {_where(item)} truncated: {n - pos} of 37 B"
            )
        return DataStream.decode(data, pos), pos + STREAM_LEN, False
    if t == 0x01:
        ln = ObdInfo.length_at(data, pos)
        if ln is None or n < pos + ln:
            raise DataUnitError("bad_data_unit", f"OBD body at {_where(item)} truncated")
        return ObdInfo.decode(data, pos), pos + ln, False
    dec = vendor.get(t)
    if dec is not None:
        try:
            blk = dec(t, data, pos)
        except ValueError as exc:
            raise DataUnitError(
                "bad_block_length", f"info type 0x{t:02X} at {_where(item)}: {exc}"
            ) from None
        return blk, pos + len(blk.raw), False
    try:
        blk = VendorBlock.decode(t, data, pos)
    except ValueError as exc:
        raise DataUnitError("unknown_info_type", _unknown(t, item, str(exc))) from None
    return blk, pos + len(blk.raw), True


def _unknown(t: int, item: int, why: str) -> str:
    return (
        f"info type 0x{t:02X} at {_where(item)}: unknown type whose length cannot be known ({why})"
    )


def _parse_realtime(
    data: bytes, layout: Layout, vendor: Mapping[int, VendorDecoder]
) -> tuple[RealTime | None, int, DataUnitError | None]:
    """Parse with one layout, all or nothing: (unit, len(data), None) or (None, bytes understood,
    the error). Vendor types are skipped by their decoder's length; an unknown type is tried as a
    WORD-length block, kept only if the rest of the unit then parses (else the error names it).
    In the HJ 1239 layout an unknown type at the end may be the signature block instead."""
    n = len(data)
    try:
        t0 = _time_or_unset(data, 0)
    except DataUnitError as exc:
        return None, 0, exc
    if layout is Layout.GB17691:
        pos, serial = 6, None
    else:
        if n < 8:
            return None, 6, DataUnitError("bad_data_unit", "no info serial after the unit's time")
        pos, serial = 8, _u16(data, 6)
    items: list[InfoItem] = []
    signature = None
    guess: tuple[int, int] | None = None  # (type, offset) of the first unknown type guessed
    fallback: tuple[int, int, Signature] | None = None  # (offset, items kept, signature)
    error: DataUnitError | None = None
    while pos < n:
        t = data[pos]
        try:
            if layout is Layout.GB17691:
                if n < pos + 3:
                    raise DataUnitError("bad_data_unit", f"item header at {_where(pos)} truncated")
                body, end, guessed = _body_at(t, data, pos, pos + 3, vendor)
                items.append(InfoItem(t, body, serial=_u16(data, pos + 1)))
            elif layout is Layout.HJ1239:
                if t not in DECODED_TYPES and t not in vendor:
                    sig = Signature.match(data, pos, n)
                    if sig is not None:
                        fallback = (pos, len(items), sig)
                if n < pos + 7:
                    raise DataUnitError("bad_data_unit", f"item header at {_where(pos)} truncated")
                it_time = _time_or_unset(data, pos + 1)
                body, end, guessed = _body_at(t, data, pos, pos + 7, vendor)
                items.append(InfoItem(t, body, time=it_time, time_unset=it_time is None))
            else:  # legacy: type body signature
                body, end, guessed = _body_at(t, data, pos, pos + 1, vendor)
                sig = Signature.match(data, end)
                if sig is None:
                    raise DataUnitError(
                        "bad_data_unit", f"no signature block after the body at {_where(pos)}"
                    )
                items.append(InfoItem(t, body, signature=sig))
                end += sig.size
        except DataUnitError as exc:
            error = exc
            break
        if guessed and guess is None:
            guess = (t, pos)
        pos = end
    if error is None:
        return RealTime(layout, t0, serial, tuple(items), signature), n, None
    if fallback is not None:  # the unknown "type" was the first byte of the signature block
        _, keep, sig = fallback
        return RealTime(layout, t0, serial, tuple(items[:keep]), sig), n, None
    if guess is not None:
        t, at = guess
        error = DataUnitError("unknown_info_type", _unknown(t, at, f"then {error.detail}"))
        return None, at, error
    return None, pos, error


def decode_realtime(
    data: bytes, layout: Layout | None = None, vendor: Mapping[int, VendorDecoder] = DEFAULT_VENDOR
) -> RealTime:
    """Decode a real-time / re-issue data unit with ``layout`` (hint) or by trying each layout.

    The first layout that parses the whole unit wins; otherwise :class:`DataUnitError` with the
    reason of the parse that understood the most bytes (a truncated body, a bad time, a vendor
    length beyond the unit, an unknown type whose length cannot be known: type and offset named).
    """
    blk = decode_streams(data, layout)  # a unit of data streams only: the bulk path
    if blk is not None:
        return blk.to_realtime()
    order = [Layout.HJ1239, Layout.GB17691, Layout.LEGACY2019]
    if layout is not None:
        order.remove(layout)
        order.insert(0, layout)
    best: tuple[int, DataUnitError] | None = None
    for lay in order:
        rt, used, err = _parse_realtime(data, lay, vendor)
        if rt is not None:
            return rt
        assert err is not None
        if best is None or used > best[0]:
            best = (used, err)
    assert best is not None
    raise DataUnitError(best[1].reason, f"real-time unit: {best[1].detail}")


# ------------------------------------------------------------------------------ fast path
#
# Almost every real-time / re-issue unit is a run of data streams in the terminal's layout. Such
# a unit is decoded in bulk: one ``iter_unpack`` over fixed-size items (type, time or serial, the
# 19 raw integers), times as Unix seconds (a bounded cache maps the 6 time bytes, shared by every
# terminal sending in the same second), no per-item objects. An HJ 1239 unit that also holds OBD
# information bodies has its item headers walked instead (:func:`_walk_hj1239`, bodies left in
# place). Anything else (vendor blocks, signatures, a bad or unset time, a truncated body)
# returns ``None`` and goes through :func:`decode_realtime`, which gives the same result for the
# units accepted here (tests/unit/obd/test_samples.py).

_HJ_ITEM = struct.Struct(">B6s" + STREAM_FORMAT.lstrip(">"))  # type, time, 19 raw: 44 B
_GB_ITEM = struct.Struct(">BH" + STREAM_FORMAT.lstrip(">"))  # type, serial, 19 raw: 40 B
_BEIJING_OFFSET_S = 8 * 3600
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_EPOCHS: dict[bytes, int] = {}
_EPOCHS_MAX = 1 << 15


def time_epoch(raw6: bytes) -> int | None:
    """Unix seconds of 6 time bytes (Beijing time), ``None`` when they are not a calendar time."""
    e = _EPOCHS.get(raw6)
    if e is not None:
        return e
    if len(raw6) != 6:
        return None
    y, mo, d, h, mi, s = raw6
    if h > 23 or mi > 59 or s > 59:
        return None
    try:
        days = date(2000 + y, mo, d).toordinal() - _EPOCH_ORDINAL
    except ValueError:
        return None
    e = days * 86400 + h * 3600 + mi * 60 + s - _BEIJING_OFFSET_S
    if len(_EPOCHS) >= _EPOCHS_MAX:
        _EPOCHS.clear()
    _EPOCHS[bytes(raw6)] = e
    return e


@dataclass(slots=True)  # not frozen (cheaper to build, once per frame): treat it as read-only
class StreamBlock:
    """A real-time / re-issue unit of data streams (and, in the HJ 1239 layout, OBD information
    bodies), decoded in bulk.

    ``epochs[i]`` is record i's collection time in Unix seconds, ``body_at(i)`` the offset of its
    37-byte body in ``data`` (the bodies are not unpacked: the samples batch keeps them as bytes;
    :attr:`raws` unpacks them for tools). In the GB 17691 layout only the first time is sent; the
    others are inferred 1-second steps. ``offsets`` lists the bodies' offsets when the unit also
    holds OBD information bodies (else they follow at a fixed stride); ``infos`` then gives each
    of those as (item index, collection time in Unix seconds, offset of its body).
    """

    layout: Layout
    epoch: int  # the unit's time, Unix seconds
    time_raw: bytes  # the unit's 6 time bytes (echoed in the answer)
    serial: int | None
    epochs: tuple[int, ...]
    data: bytes
    offsets: tuple[int, ...] | None = None
    infos: tuple[tuple[int, int, int], ...] = ()

    def __len__(self) -> int:
        return len(self.epochs)

    @property
    def raws(self) -> tuple[tuple[int, ...], ...]:
        """Each record's 19 raw integers (as :attr:`DataStream.raw`)."""
        unpack = _STREAM.unpack_from
        return tuple([unpack(self.data, self.body_at(i)) for i in range(len(self.epochs))])

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.epoch, BEIJING)

    @property
    def time_inferred(self) -> bool:
        return self.layout is Layout.GB17691

    def body_at(self, i: int) -> int:
        if self.offsets is not None:
            return self.offsets[i]
        if self.layout is Layout.GB17691:
            return 6 + _GB_ITEM.size * i + 3
        return 8 + _HJ_ITEM.size * i + 7

    def bodies(self) -> bytes:
        """The records' 37-byte bodies, joined in order."""
        data = self.data
        k = len(self.epochs)
        if self.offsets is not None:
            return b"".join([data[p : p + STREAM_LEN] for p in self.offsets])
        first = self.body_at(0)
        stride = self.body_at(1) - first if k > 1 else STREAM_LEN
        return b"".join(
            [data[p : p + STREAM_LEN] for p in range(first, first + stride * k, stride)]
        )

    def obd_infos(self) -> list[tuple[datetime, ObdInfo, bool]]:
        """(collection time, body, time unset: always False here) of each OBD information body,
        as :meth:`RealTime.obd_infos` gives them."""
        return [
            (datetime.fromtimestamp(e, BEIJING), ObdInfo.decode(self.data, off), False)
            for _i, e, off in self.infos
        ]

    def to_realtime(self) -> RealTime:
        """The typed unit, equal to what :func:`decode_realtime` builds for these bytes."""
        items = []
        for i, (e, raw) in enumerate(zip(self.epochs, self.raws, strict=True)):
            stream = DataStream(raw)
            if self.layout is Layout.GB17691:
                pos = 6 + _GB_ITEM.size * i
                items.append(
                    InfoItem(0x02, stream, serial=(self.data[pos + 1] << 8) | self.data[pos + 2])
                )
            else:
                items.append(InfoItem(0x02, stream, time=datetime.fromtimestamp(e, BEIJING)))
        for idx, e, off in self.infos:  # in item order: each index counts the items before it
            body = ObdInfo.decode(self.data, off)
            items.insert(idx, InfoItem(0x01, body, time=datetime.fromtimestamp(e, BEIJING)))
        return RealTime(self.layout, self.time, self.serial, tuple(items))


def _items_struct(head: str, k: int) -> struct.Struct:
    """One ``Struct`` for ``k`` consecutive items (cached: a terminal sends the same k)."""
    key = (head, k)
    st = _ITEMS.get(key)
    if st is None:
        if len(_ITEMS) >= 256:
            _ITEMS.clear()
        st = _ITEMS[key] = struct.Struct(">" + (head + f"{_STREAM.size}x") * k)
    return st


_ITEMS: dict[tuple[str, int], struct.Struct] = {}
_PER_ITEM = 2  # values per unpacked item: type, then time (6 bytes) or serial; the body skipped
_STREAM = struct.Struct(STREAM_FORMAT)


def decode_streams(data: bytes, layout: Layout | None = None) -> StreamBlock | None:
    """Bulk-decode a unit of data streams in the first layout :func:`decode_realtime` would try
    (``layout`` or HJ 1239); ``None`` when the unit is anything else (use the full decoder).

    The items' types and times are unpacked by one ``Struct`` call (the bodies skipped: they stay
    bytes) and taken as strided slices of the flat tuple (C loops, no per-record Python code)."""
    n = len(data)
    t0 = time_epoch(data[:6])
    if t0 is None:
        return None
    epochs: tuple[int | None, ...]
    if layout is Layout.GB17691:
        k, rest = divmod(n - 6, _GB_ITEM.size)
        if k < 1 or rest:
            return None
        flat = _items_struct("BH", k).unpack_from(data, 6)
        if flat[0::_PER_ITEM].count(0x02) != k:
            return None
        epochs = tuple(range(t0, t0 + k))
        serial = None
    elif layout is None or layout is Layout.HJ1239:
        k, rest = divmod(n - 8, _HJ_ITEM.size)
        if k < 1 or rest:
            return _walk_hj1239(data, t0)
        flat = _items_struct("B6s", k).unpack_from(data, 8)
        if flat[0::_PER_ITEM].count(0x02) != k:
            return _walk_hj1239(data, t0)
        times = flat[1::_PER_ITEM]
        epochs = tuple(map(_EPOCHS.get, times))  # type: ignore[arg-type]
        if None in epochs:  # a time not seen lately (or not a calendar time)
            epochs = tuple(map(time_epoch, times))  # type: ignore[arg-type]
            if None in epochs:
                return None
        layout = Layout.HJ1239
        serial = (data[6] << 8) | data[7]
    else:
        return None
    return StreamBlock(layout, t0, data[:6], serial, epochs, data)  # type: ignore[arg-type]


def _walk_hj1239(data: bytes, t0: int) -> StreamBlock | None:
    """An HJ 1239 unit of data streams and OBD information bodies (a terminal adds its OBD
    information every so often): the item headers walked one by one, the bodies left in place;
    ``None`` for anything else (another type, a bad or unset time, a truncated body) and for a
    unit without data streams, which the typed decoder takes."""
    n = len(data)
    pos = 8
    epochs: list[int] = []
    offsets: list[int] = []
    infos: list[tuple[int, int, int]] = []
    get = _EPOCHS.get
    idx = 0
    while pos < n:
        t = data[pos]
        raw6 = data[pos + 1 : pos + 7]
        e = get(raw6)
        if e is None:
            e = time_epoch(raw6)
            if e is None:
                return None
        body = pos + 7
        if t == 0x02:
            end = body + STREAM_LEN
            epochs.append(e)
            offsets.append(body)
        elif t == 0x01:
            ln = ObdInfo.length_at(data, body)
            if ln is None:
                return None
            end = body + ln
            infos.append((idx, e, body))
        else:
            return None
        if end > n:
            return None
        pos = end
        idx += 1
    if not epochs:
        return None
    serial = (data[6] << 8) | data[7]
    return StreamBlock(
        Layout.HJ1239, t0, data[:6], serial, tuple(epochs), data, tuple(offsets), tuple(infos)
    )


def answer_for_block(frame: Frame, result: int, block: StreamBlock) -> Frame:
    """:func:`make_answer` for a frame whose unit decoded as ``block`` (tools, tests: the gateway
    sends :func:`answer_bytes_for_block`, of which this is the parsed frame)."""
    return parse_frame(answer_bytes_for_block(frame, result, block))


def answer_bytes_for_block(frame: Frame, result: int, block: StreamBlock) -> bytes:
    """The bytes of :func:`make_answer` for a frame whose unit decoded as ``block``: the uplink's
    6 time bytes echoed as they came (what ``encode_time(decode_time(...))`` gives), header fields
    from the accepted frame, so nothing needs re-validating."""
    if frame.variant is HeaderVariant.RESPONSE_FLAG:
        return encode_frame(frame.variant, frame.command, frame.vin, result, 0x01, block.time_raw)
    data = block.time_raw + bytes((result,))
    return encode_frame(frame.variant, frame.command, frame.vin, frame.flag, 0x01, data)


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
        if t is not None:
            data = encode_time(t)
        elif isinstance(unit, RealTime):  # the terminal's clock is not set: echo its six zeros
            data = UNSET_TIME
        else:
            data = b""
        if frame.variant is HeaderVariant.TERMINAL:
            data += bytes((result,))
    if frame.variant is HeaderVariant.RESPONSE_FLAG:
        return Frame(frame.variant, frame.command, frame.vin, result, 0x01, data)
    return Frame(frame.variant, frame.command, frame.vin, frame.flag, 0x01, data)

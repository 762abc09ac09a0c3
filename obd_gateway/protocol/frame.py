"""HJ 1239 / GB 17691-2018 Annex Q frame layer: one frame ↔ bytes, and a sans-IO stream decoder.

This module owns the outer envelope only (start bytes, header, length, BCC); data units are decoded
by :mod:`obd_gateway.protocol.units`. No sockets, no clocks: bytes in, frames and bad-input events
out (STYLE §1).

Terminal header (GB 17691 Annex Q / HJ 1239.3 terminal ↔ platform; hj1239.md §1.1)::

     0     2     3                     20    21    22        24            24+N
    +-----+-----+---------------------+-----+-----+---------+-------------+-----+
    | ##  | cmd | VIN (17 ASCII)      | ver | enc | N (u16) | data unit   | BCC |
    +-----+-----+---------------------+-----+-----+---------+-------------+-----+

Response-flag header (GB/T 32960.3 layout carrying HJ 1239 data units; hj1239.md §1.2)::

     0     2     3     4                     21    22        24            24+N
    +-----+-----+-----+---------------------+-----+---------+-------------+-----+
    | ##  | cmd | rsp | VIN (17 ASCII)      | enc | N (u16) | data unit   | BCC |
    +-----+-----+-----+---------------------+-----+---------+-------------+-----+

Both headers are 24 bytes with the length at 22–23, so framing does not depend on the variant
(§1.3). The variant is read from byte 3: 0x01/0x02/0x03/0xFE → response flag; an ASCII VIN
character → terminal header; anything else → unknown header. BCC = XOR of bytes 2 … 23+N (§1.4).

Stream framing (§1.5): find ``##``; wait for 24 header bytes; reject N > ``max_data_len``
(65531 at most) or an insane header by dropping one byte and searching again; wait for 25 + N
bytes; check the BCC (drop one byte on failure); emit the frame. A partial frame waits, but not
behind a length that lies: as soon as a complete valid frame (sane header, BCC, ``validate``) sits
inside the span the waiting candidate claims, the candidate is dropped as ``bad_length`` and the
scan resyncs on that frame (a pipelining terminal's later frames are answered at once, not after
the partial timeout). Otherwise the owner calls :meth:`FrameDecoder.give_up_partial` after its
partial-frame timeout (or at end of stream), which drops one byte and rescans. The XOR BCC passes by chance once in 256 candidates, so an optional ``validate``
hook checks the data unit of any accepted candidate that contains another ``##``; a candidate
that fails it is treated like a BCC failure (reason ``suspect``).

Known limits: the ``~~`` start bytes of the enterprise-platform link are not accepted; encryption
0x03 (SM2-encrypted data unit) is framed and passed on undecoded.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum, StrEnum

START = b"##"
HEADER_LEN = 24  # §1.1 / §1.2
MIN_FRAME_LEN = HEADER_LEN + 1  # empty data unit + BCC
MAX_DATA_LEN = 65531  # §1.5 and GB/T 32960.3 §6.2: data-unit length 0 … 65531
VIN_LEN = 17

# §1.2 / GB/T 32960.3 table 2: response flags
RESP_SUCCESS = 0x01
RESP_ERROR = 0x02
RESP_VIN_DUPLICATE = 0x03
RESP_COMMAND = 0xFE
RESPONSE_FLAGS = frozenset({RESP_SUCCESS, RESP_ERROR, RESP_VIN_DUPLICATE, RESP_COMMAND})

# §1.1: encryption byte
ENC_NONE = 0x01
ENC_SM2 = 0x03  # SM2-encrypted data unit (unconfirmed)


class Command(IntEnum):
    """Command units (hj1239.md §2; GB 17691 Annex Q / HJ 1239.3)."""

    LOGIN = 0x01
    REALTIME = 0x02
    REISSUE = 0x03
    LOGOUT = 0x04
    TIME_CALIBRATION = 0x05
    ANTI_TAMPER = 0x06
    REGISTER = 0x07  # registration/activation to the national platform (unconfirmed)
    REGISTER_ANSWER = 0x08  # (unconfirmed)


KNOWN_COMMANDS = frozenset(int(c) for c in Command)


def is_vendor_command(cmd: int) -> bool:
    """0x80 … 0xFE: vendor / downlink commands (§2, §11); passed through raw."""
    return 0x80 <= cmd <= 0xFE


class HeaderVariant(StrEnum):
    TERMINAL = "terminal"  # §1.1
    RESPONSE_FLAG = "response_flag"  # §1.2


class FrameError(ValueError):
    """A frame that cannot be accepted; ``reason`` is a short metric label."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


# ---------------------------------------------------------------------------------------- BCC


# (shift, mask) steps folding a 2^k-byte integer in halves down to one byte, per k (masks shared)
_MASKS = tuple((1 << (8 << j)) - 1 for j in range(17))
_FOLDS = tuple(tuple((8 << j, _MASKS[j]) for j in range(k - 1, -1, -1)) for k in range(18))


def bcc(data: bytes | bytearray | memoryview) -> int:
    """XOR of all bytes of ``data`` (§1.4), computed by folding one big integer in halves.

    ``int.from_bytes`` plus log2(n) shifts/XORs run in C, ~10× faster than a Python byte loop.
    """
    n = len(data)
    if n == 0:
        return 0
    x = int.from_bytes(data, "little")
    for shift, mask in _FOLDS[(n - 1).bit_length()]:
        x = (x >> shift) ^ (x & mask)
    return x


# ---------------------------------------------------------------------------------------- frame


_VIN_RE = re.compile(rb"[\x21-\x7e]{17}")
_VINS: dict[bytes, str] = {}  # VINs seen lately (checked), so a known terminal costs one lookup
_VINS_MAX = 1 << 14


def _vin_ok(raw: bytes) -> bool:
    # §1.3 cross-check: 17 printable characters (no space, no control bytes)
    return _VIN_RE.fullmatch(raw) is not None


def _vin_text(raw: bytes) -> str | None:
    """The VIN of 17 header bytes, ``None`` when they are not 17 printable characters."""
    vin = _VINS.get(raw)
    if vin is None:
        if len(raw) != VIN_LEN or _VIN_RE.fullmatch(raw) is None:
            return None
        if len(_VINS) >= _VINS_MAX:
            _VINS.clear()
        vin = _VINS[raw] = raw.decode("ascii")
    return vin


def detect_variant(byte3: int) -> HeaderVariant | None:
    """§1.3: byte 3 tells the header variant; ``None`` = unknown header."""
    if byte3 in RESPONSE_FLAGS:
        return HeaderVariant.RESPONSE_FLAG
    if 0x30 <= byte3 <= 0x39 or 0x41 <= byte3 <= 0x5A:
        return HeaderVariant.TERMINAL
    return None


_LEN = struct.Struct(">H")
_VARIANTS = tuple(detect_variant(b) for b in range(256))
_TERMINAL = HeaderVariant.TERMINAL


@dataclass(frozen=True, slots=True)
class Frame:
    """One framed, BCC-checked frame. ``flag`` is the software-version byte of the terminal header
    or the response flag of the response-flag header; ``data`` is the raw data unit."""

    variant: HeaderVariant
    command: int
    vin: str
    flag: int
    encryption: int
    data: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.command <= 0xFF:
            raise FrameError("bad_header", f"command={self.command}: expected a byte 0-255")
        if not 0 <= self.flag <= 0xFF or not 0 <= self.encryption <= 0xFF:
            raise FrameError("bad_header", "flag/encryption: expected a byte 0-255")
        vb = self.vin.encode("ascii", "replace")
        if _VINS.get(vb) != self.vin and (len(vb) != VIN_LEN or not _vin_ok(vb)):
            raise FrameError(
                "bad_header", f"vin={self.vin!r}: expected 17 printable ASCII characters"
            )
        if len(self.data) > MAX_DATA_LEN:
            raise FrameError(
                "bad_length", f"data unit {len(self.data)} B: expected <= {MAX_DATA_LEN}"
            )

    @property
    def software_version(self) -> int | None:
        return self.flag if self.variant is HeaderVariant.TERMINAL else None

    @property
    def response_flag(self) -> int | None:
        return self.flag if self.variant is HeaderVariant.RESPONSE_FLAG else None

    @property
    def known_command(self) -> bool:
        return self.command in KNOWN_COMMANDS

    def encode(self) -> bytes:
        return encode_frame(
            self.variant, self.command, self.vin, self.flag, self.encryption, self.data
        )


def encode_frame(
    variant: HeaderVariant, command: int, vin: str, flag: int, encryption: int, data: bytes
) -> bytes:
    """The bytes of a frame (:meth:`Frame.encode`) from fields the caller took from a valid
    frame (the gateway's answers): start bytes, header, length, data unit, BCC."""
    v = vin.encode("ascii")
    if variant is HeaderVariant.TERMINAL:
        head = bytes((command,)) + v + bytes((flag, encryption))
    else:
        head = bytes((command, flag)) + v + bytes((encryption,))
    body = head + _LEN.pack(len(data)) + data
    return START + body + bytes((bcc(body),))


def parse_header(
    buf: bytes | bytearray | memoryview, pos: int
) -> tuple[HeaderVariant, int, str, int, int] | str:
    """Header fields at ``buf[pos:pos+24]`` or a reason label when the header is not sane."""
    variant = _VARIANTS[buf[pos + 3]]
    if variant is None:
        return "bad_header"
    if variant is _TERMINAL:
        vin = _vin_text(bytes(buf[pos + 3 : pos + 20]))
        flag = buf[pos + 20]
    else:
        vin = _vin_text(bytes(buf[pos + 4 : pos + 21]))
        flag = buf[pos + 3]
    if vin is None:
        return "bad_header"
    return variant, buf[pos + 2], vin, flag, buf[pos + 21]


def parse_frame(raw: bytes, max_data_len: int = MAX_DATA_LEN) -> Frame:
    """Strictly parse exactly one frame (CLI, tests). Raises :class:`FrameError` with a reason:
    ``no_start``, ``truncated``, ``bad_length``, ``bad_header``, ``bcc``, ``trailing_bytes``."""
    if len(raw) < 2 or raw[:2] != START:
        raise FrameError("no_start", "frame must start with ## (0x23 0x23)")
    if len(raw) < HEADER_LEN:
        raise FrameError("truncated", f"{len(raw)} B, header needs {HEADER_LEN} B")
    n = _LEN.unpack_from(raw, 22)[0]
    if n > max_data_len:
        raise FrameError("bad_length", f"data-unit length {n} > {max_data_len}")
    total = HEADER_LEN + n + 1
    if len(raw) < total:
        raise FrameError("truncated", f"{len(raw)} B, length field says {total} B")
    if len(raw) > total:
        raise FrameError(
            "trailing_bytes", f"{len(raw) - total} B after the BCC (length field says {total} B)"
        )
    hdr = parse_header(raw, 0)
    if isinstance(hdr, str):
        raise FrameError(hdr, f"byte 3 = 0x{raw[3]:02X} / VIN not 17 printable characters")
    want = bcc(memoryview(raw)[2 : total - 1])
    if want != raw[total - 1]:
        raise FrameError("bcc", f"BCC 0x{raw[total - 1]:02X}, computed 0x{want:02X}")
    variant, cmd, vin, flag, enc = hdr
    return Frame(variant, cmd, vin, flag, enc, bytes(raw[HEADER_LEN : HEADER_LEN + n]))


# ---------------------------------------------------------------------------------------- stream


@dataclass(frozen=True, slots=True)
class BadInput:
    """Bytes the decoder dropped: ``reason`` is a metric label, ``nbytes`` how many were skipped
    (for ``bcc``/``bad_header``/``bad_length``/``truncated`` the one byte dropped to resync),
    ``vin`` the header's VIN when one could be read (for logging with the device id)."""

    reason: str
    nbytes: int
    vin: str = ""
    raw: bytes = b""  # the rejected candidate (bounded by the frame-size limit)


class FrameDecoder:
    """Sans-IO stream decoder for one connection: ``feed(bytes) -> [(Frame, raw) | BadInput, ...]``
    and ``close() -> [...]`` at the end of the stream; bad input is returned, never raised.

    After each ``feed`` at most one partial candidate frame (≤ 25 + ``max_data_len`` bytes) stays
    buffered; ``max_buffer`` is a hard cap behind that (exceeding it drops the buffer with reason
    ``buffer_overflow``). Callers bound the size of one ``feed`` (the server reads ≤ 64 KiB).
    Each frame comes with its exact raw bytes (for the frame hash and quarantine).
    """

    __slots__ = (
        "_buf",
        "_la_from",
        "_la_pending",
        "_la_pos",
        "max_buffer",
        "max_data_len",
        "validate",
    )

    def __init__(
        self,
        max_data_len: int = MAX_DATA_LEN,
        max_buffer: int = 1 << 18,
        validate: Callable[[Frame], bool] | None = None,
    ) -> None:
        if not 0 <= max_data_len <= MAX_DATA_LEN:
            raise ValueError(f"max_data_len={max_data_len}: expected 0..{MAX_DATA_LEN} bytes")
        if max_buffer < HEADER_LEN + max_data_len + 1:
            raise ValueError(f"max_buffer={max_buffer} B: expected >= one maximal frame")
        self.max_data_len = max_data_len
        self.max_buffer = max_buffer
        self.validate = validate
        self._buf = bytearray()
        # look-ahead state while a candidate waits for its bytes (see _lookahead)
        self._la_pos = -1  # the waiting candidate's offset; -1: no look-ahead state
        self._la_from = 0  # where the search for later '##' resumes
        self._la_pending: list[tuple[int, int]] = []  # later candidates still short: (start, end)

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[tuple[Frame, bytes] | BadInput]:
        """Add bytes; return every complete frame (with its raw bytes) and every bad input found."""
        buf = self._buf
        buf += data
        out: list[tuple[Frame, bytes] | BadInput] = []
        self._scan(out)
        # What stays buffered is at most one partial candidate (<= 25 + max_data_len bytes); the
        # cap is a safety net should that invariant ever break.
        if len(buf) > self.max_buffer:
            out.append(BadInput("buffer_overflow", len(buf)))
            buf.clear()
            self._la_pos = -1
        return out

    def give_up_partial(self) -> list[tuple[Frame, bytes] | BadInput]:
        """The owner's partial-frame timeout fired: drop one byte of the stalled candidate
        (reason ``truncated``) and rescan what follows it."""
        out: list[tuple[Frame, bytes] | BadInput] = []
        if not self._buf:
            return out
        vin = ""
        if len(self._buf) >= HEADER_LEN:
            hdr = parse_header(self._buf, 0)
            vin = hdr[2] if not isinstance(hdr, str) else ""
        out.append(
            BadInput("truncated", 1, vin, bytes(self._buf[: HEADER_LEN + self.max_data_len + 1]))
        )
        del self._buf[:1]
        self._la_pos = -1
        self._scan(out)
        return out

    def close(self) -> list[tuple[Frame, bytes] | BadInput]:
        """End of stream: give up partial candidates until the buffer is empty, keeping every
        frame found behind them (the same ``feed``/``close`` interface as the HJ 212 decoder)."""
        out: list[tuple[Frame, bytes] | BadInput] = []
        while self._buf:
            out += self.give_up_partial()
        return out

    def _scan(self, out: list[tuple[Frame, bytes] | BadInput]) -> None:
        buf = self._buf
        pos = 0
        end = len(buf)
        max_n = self.max_data_len
        while True:
            if end - pos < 2:
                break
            if buf[pos] != 0x23 or buf[pos + 1] != 0x23:
                nxt = buf.find(START, pos + 1)
                if nxt < 0:
                    # keep a trailing '#' that may start the next frame
                    keep = 1 if buf[end - 1] == 0x23 else 0
                    skipped = end - keep - pos
                    if skipped:
                        out.append(BadInput("garbage", skipped))
                    pos = end - keep
                    break
                out.append(BadInput("garbage", nxt - pos))
                pos = nxt
                continue
            if end - pos < HEADER_LEN:
                break
            hdr = parse_header(buf, pos)
            if isinstance(hdr, str):
                out.append(BadInput(hdr, 1))
                pos += 1
                continue
            n = (buf[pos + 22] << 8) | buf[pos + 23]
            if n > max_n:
                out.append(BadInput("bad_length", 1, hdr[2]))
                pos += 1
                continue
            total = HEADER_LEN + n + 1
            if end - pos < total:
                # A length that lies would hold every later frame until the partial timeout:
                # a complete valid frame starting inside the claimed span proves the lie.
                q = self._lookahead(pos, end)
                if q is None:
                    break
                out.append(BadInput("bad_length", q - pos, hdr[2], bytes(buf[pos:q])))
                pos = q
                continue
            stop = pos + total - 1
            if bcc(memoryview(buf)[pos + 2 : stop]) != buf[stop]:
                out.append(BadInput("bcc", 1, hdr[2], bytes(buf[pos : pos + total])))
                pos += 1
                continue
            variant, cmd, vin, flag, enc = hdr
            raw = bytes(buf[pos : pos + total])
            frame = Frame(variant, cmd, vin, flag, enc, raw[HEADER_LEN:-1])
            # XOR BCC passes 1 time in 256 by chance: a candidate that swallowed the start of
            # another frame (a truncated frame followed by a valid one) is caught by the data-unit
            # check, and we resync inside it instead of losing the frame it swallowed.
            if self.validate is not None and raw.find(START, 2) > 0 and not self.validate(frame):
                out.append(BadInput("suspect", 1, vin, raw))
                pos += 1
                continue
            out.append((frame, raw))
            pos += total
        if pos:
            del buf[:pos]
            self._la_pos = -1

    def _lookahead(self, pos: int, end: int) -> int | None:
        """The start of the first complete, valid frame after the waiting candidate at ``pos``
        (header sane, length within the limit, BCC right, and the ``validate`` hook passed),
        or ``None``. Incremental: each buffered byte is searched once per waiting candidate and
        each later candidate is checked once it is complete, so a frame trickling in byte by
        byte costs linear time."""
        buf = self._buf
        if self._la_pos != pos:
            self._la_pos, self._la_from, self._la_pending = pos, pos + 1, []
        waiting: list[tuple[int, int]] = []
        for q, q_end in self._la_pending:  # later candidates, in order, complete ones checked
            if q_end > end:
                waiting.append((q, q_end))
            elif self._valid_at(q, q_end):
                return q
        self._la_pending = pending = waiting
        i = self._la_from
        max_n = self.max_data_len
        found = None
        while True:
            q = buf.find(START, i, end)
            if q < 0:
                i = max(i, end - 1)
                break
            if end - q < HEADER_LEN:
                i = q
                break
            i = q + 1
            if isinstance(parse_header(buf, q), str):
                continue
            n = (buf[q + 22] << 8) | buf[q + 23]
            if n > max_n:
                continue
            q_end = q + HEADER_LEN + n + 1
            if q_end > end:
                pending.append((q, q_end))
            elif self._valid_at(q, q_end):
                found = q
                break
        self._la_from = i
        return found

    def _valid_at(self, q: int, q_end: int) -> bool:
        """The complete candidate ``buf[q:q_end]`` has a right BCC and passes ``validate``."""
        buf = self._buf
        if bcc(memoryview(buf)[q + 2 : q_end - 1]) != buf[q_end - 1]:
            return False
        if self.validate is None:
            return True
        hdr = parse_header(buf, q)
        if isinstance(hdr, str):
            return False
        variant, cmd, vin, flag, enc = hdr
        frame = Frame(variant, cmd, vin, flag, enc, bytes(buf[q + HEADER_LEN : q_end - 1]))
        return self.validate(frame)

"""HJ 212 framing (通讯包): a sans-IO stream decoder, a whole-packet inspector and the encoder.

Packet layout (hj212.md §2)::

    ##  LLLL  [x]  <data segment, LLLL bytes>  CCCC  [\\r\\n]
    |   |     |                               |     +-- tail: CR LF, absent, a lone CR (real
    |   |     |                               |         data loggers), or the literal
    |   |     |                               |         4 characters \\r\\n (Chongqing, §12)
    |   |     |                               +-------- CRC of the segment, hex, any case (§11)
    |   |     +---------------------------------------- optional profile character (Guangzhou "0")
    |   +---------------------------------------------- decimal segment length, 4 digits (§2)
    +-------------------------------------------------- header

``FrameDecoder.feed(bytes)`` returns what the bytes completed: ``Frame`` objects and
``FrameError`` objects (counted by reason, never raised). Resync rule (§12): on a bad length field,
an oversize length, a length that runs into the next ``##`` or a CR LF, or a CRC mismatch, drop one
byte and search for the next ``##``. Bytes between frames that are not a tail are reported once per
run as ``garbage``. The buffer never holds more than one maximum-size packet plus a search margin.

Known limits: a data segment containing ``##`` or CR LF is treated as a truncated packet (neither
occurs in any known device); a CRC field that happens to be valid for a corrupted segment is
accepted (the HJ 212 CRC has about 11 effective bits).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fuel_vapor.protocol.crc import hj212_crc, modbus_crc

HEADER = b"##"
CRLF = b"\r\n"
CR = b"\r"  # a lone CR as the tail (seen from real data loggers)
LITERAL_TAIL = b"\\r\\n"  # backslash r backslash n (Chongqing firmware, §12)
MAX_SEGMENT = 1024  # §2
DEFAULT_MARGIN = 476  # tolerance for oversized vendor packets (§12: configurable)
_HEX = frozenset(b"0123456789abcdefABCDEF")
_HEX_BYTES = bytes(sorted(_HEX))  # ``field.translate(None, _HEX_BYTES)`` is empty iff all hex
_LETTERS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")

# counter labels (core.metrics ``bad_packets{reason=...}``)
GARBAGE = "garbage"
BAD_LENGTH_FIELD = "bad_length_field"
OVERSIZE = "oversize"
LENGTH_MISMATCH = "length_mismatch"
CRC_MISMATCH = "crc_mismatch"
BAD_CRC_FIELD = "bad_crc_field"
MALFORMED = "malformed"


@dataclass(frozen=True, slots=True)
class Frame:
    """A packet whose length and CRC checked out; ``segment`` is the exact data-segment bytes."""

    segment: bytes
    crc_wire: str
    crc_variant: str  # "hj212" or "modbus" (per-device opt-in only)
    extra_char: str  # "" or the profile character between length and segment
    tail: str  # "crlf", "literal", "cr", "none" or "pending" (stream ended at the CRC)
    raw: bytes  # from ``##`` to the CRC, without the tail (so a packet hashes the same however
    # the tail arrived)


@dataclass(frozen=True, slots=True)
class FrameError:
    """Bytes that did not form a packet. ``segment`` is set for CRC errors so the caller can try to
    read QN/MN and answer 9011 QnRtn=9."""

    reason: str
    detail: str
    raw: bytes = b""
    segment: bytes | None = None
    expected_crc: str | None = None


@dataclass(slots=True)
class FrameDecoder:
    """Incremental HJ 212 stream decoder (one per connection)."""

    max_segment: int = MAX_SEGMENT + DEFAULT_MARGIN
    extra_chars: bytes = b""  # profile characters allowed between length and segment
    accept_modbus: bool = False
    _buf: bytearray = field(default_factory=bytearray)
    _after_frame: bool = False
    _skipping: bool = False

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame | FrameError]:
        buf = self._buf
        buf += data
        out: list[Frame | FrameError] = []
        pos = 0
        n = len(buf)
        while pos < n:
            start = buf.find(HEADER, pos)
            if start < 0:
                # keep a trailing '#' (may be half a header); report the rest once it is large
                keep = n - 1 if buf[n - 1] == 0x23 else n
                if keep - pos > self.max_segment:
                    self._gap(bytes(buf[pos:keep]), out)
                    pos = keep
                break
            while start + 2 < n and buf[start + 2] == 0x23:  # '###…': the header is the last two
                start += 1
            if start > pos:
                if self._skipping:  # the rest of a packet already reported: not counted twice
                    self._skipping = False
                else:
                    self._gap(bytes(buf[pos:start]), out)
                pos = start
            self._skipping = False
            if n - start < 7:
                break
            lf = buf[start + 2 : start + 6]
            if not lf.isdigit():
                out.append(FrameError(BAD_LENGTH_FIELD, f"length field {bytes(lf)!r}", bytes(lf)))
                pos = start + 1
                self._after_frame = False
                self._skipping = True
                continue
            length = int(lf)
            if length > self.max_segment:
                out.append(FrameError(OVERSIZE, f"declared {length} > {self.max_segment} bytes"))
                pos = start + 1
                self._after_frame = False
                self._skipping = True
                continue
            seg_at = start + 6
            extra = ""
            first = buf[seg_at]
            if first not in _LETTERS and first in self.extra_chars:
                extra = chr(first)
                seg_at += 1
            end = seg_at + length + 4
            stop = min(end, n)
            cut = _first_of(buf, seg_at, stop)
            if cut >= 0:
                out.append(
                    FrameError(
                        LENGTH_MISMATCH,
                        f"declared {length} bytes, next header or CR LF after {cut - seg_at}",
                        bytes(buf[start:cut]),
                    )
                )
                pos = start + 1
                self._after_frame = False
                self._skipping = True
                continue
            if n < end:
                break
            raw = bytes(buf[start:end])
            body = seg_at - start
            segment = raw[body : body + length]
            crc_field = raw[-4:]
            if crc_field.translate(None, _HEX_BYTES):
                out.append(
                    FrameError(
                        LENGTH_MISMATCH if length else BAD_CRC_FIELD,
                        f"declared {length} bytes but the CRC field reads {crc_field!r}",
                        bytes(buf[start:end]),
                    )
                )
                pos = start + 1
                self._after_frame = False
                self._skipping = True
                continue
            wire = int(crc_field, 16)
            expected = hj212_crc(segment)
            variant = "hj212"
            if wire != expected:
                if self.accept_modbus and wire == modbus_crc(segment):
                    variant = "modbus"
                else:
                    out.append(
                        FrameError(
                            CRC_MISMATCH,
                            f"CRC {crc_field.decode()} in frame, expected {expected:04X}",
                            raw,
                            segment,
                            f"{expected:04X}",
                        )
                    )
                    pos = start + 1
                    self._after_frame = False
                    self._skipping = True
                    continue
            tail = "none"
            after = end
            if buf.startswith(CRLF, end):
                tail, after = "crlf", end + 2
            elif buf.startswith(LITERAL_TAIL, end):
                tail, after = "literal", end + 4
            elif buf.startswith(CR, end):  # a lone CR (an LF arriving later is a tail remnant)
                tail, after = "cr", end + 1
            elif end == n:
                tail = "pending"
            out.append(Frame(segment, crc_field.decode(), variant, extra, tail, raw))
            pos = after
            self._after_frame = True
        del buf[:pos]
        return out

    def close(self) -> list[FrameError]:
        """End of stream: report whatever is left (an incomplete packet or garbage)."""
        rest = bytes(self._buf)
        self._buf.clear()
        skipping, self._skipping = self._skipping, False
        if not rest or (self._after_frame and rest in (CRLF, LITERAL_TAIL, CR, b"\n")):
            return []
        if skipping and not rest.startswith(HEADER):
            return []  # the tail of a packet that was already reported
        reason = LENGTH_MISMATCH if rest.startswith(HEADER) else GARBAGE
        return [FrameError(reason, f"{len(rest)} bytes left at end of stream", rest[:64])]

    def _gap(self, gap: bytes, out: list[Frame | FrameError]) -> None:
        if self._after_frame:
            # a tail that arrived after its packet was already complete
            for tail in (CRLF, LITERAL_TAIL):
                if gap.startswith(tail):
                    gap = gap[len(tail) :]
                    break
        self._after_frame = False
        gap = gap.strip(b"\r\n")
        if gap:
            out.append(FrameError(GARBAGE, f"{len(gap)} bytes outside any packet", gap[:64]))


def _first_of(buf: bytearray, lo: int, hi: int) -> int:
    """Position of the first ``##`` or CR LF in ``buf[lo:hi]``, or -1."""
    a = buf.find(HEADER, lo, hi)
    b = buf.find(CRLF, lo, hi)
    if a < 0:
        return b
    if b < 0:
        return a
    return min(a, b)


def encode_frame(
    segment: str | bytes,
    *,
    crc_case: str = "upper",
    extra_char: str = "",
    tail: str = "crlf",
    modbus: bool = False,
) -> bytes:
    """``##`` + length + [extra] + segment + CRC + tail (``crlf``, ``literal``, ``cr``, ``none``)."""
    seg = segment.encode("utf-8", "surrogateescape") if isinstance(segment, str) else segment
    if len(seg) > 9999:
        raise ValueError(f"data segment of {len(seg)} bytes: expected at most 9999")
    crc = modbus_crc(seg) if modbus else hj212_crc(seg)
    crc_txt = f"{crc:04X}" if crc_case == "upper" else f"{crc:04x}"
    end = {"crlf": CRLF, "literal": LITERAL_TAIL, "cr": CR, "none": b""}[tail]
    return b"##%04d%s%s%s%s" % (len(seg), extra_char.encode(), seg, crc_txt.encode(), end)


@dataclass(frozen=True, slots=True)
class Inspection:
    """Everything ``inspect_packet`` found out about one whole packet."""

    ok: bool
    reason: str  # "" when ok, else a counter label
    message: str  # one line for humans
    declared_length: int | None
    actual_length: int | None
    crc_in_frame: str | None
    crc_expected: str | None
    extra_char: str
    tail: str
    segment: bytes | None


def inspect_packet(data: bytes, *, extra_chars: bytes = b"0") -> Inspection:
    """Check one complete packet (as pasted on a command line): header, length, CRC, tail.

    Unlike the stream decoder this trusts the end of the input, so it reports the actual segment
    length beside the declared one instead of waiting for more bytes.
    """
    raw = data.strip(b" \t")
    tail = "none"
    if raw.endswith(CRLF):
        raw, tail = raw[:-2], "crlf"
    elif raw.endswith(LITERAL_TAIL):
        raw, tail = raw[:-4], "literal"
    elif raw.endswith(CR):
        raw, tail = raw[:-1], "cr"

    def bad(reason: str, message: str, **kw: object) -> Inspection:
        base: dict[str, object] = {
            "declared_length": None,
            "actual_length": None,
            "crc_in_frame": None,
            "crc_expected": None,
            "extra_char": "",
            "tail": tail,
            "segment": None,
        }
        base.update(kw)
        return Inspection(False, reason, message, **base)  # type: ignore[arg-type]

    if not raw.startswith(HEADER):
        return bad(MALFORMED, "malformed: packet does not start with ##")
    if len(raw) < 10 or not raw[2:6].isdigit():
        return bad(BAD_LENGTH_FIELD, f"malformed: length field {raw[2:6]!r} is not 4 digits")
    declared = int(raw[2:6])
    body_at = 6
    extra = ""
    if raw[6:7] and raw[6] not in _LETTERS and raw[6] in extra_chars:
        extra, body_at = chr(raw[6]), 7
    segment, crc_field = raw[body_at:-4], raw[-4:]
    actual = len(segment)
    info = {
        "declared_length": declared,
        "actual_length": actual,
        "crc_in_frame": crc_field.decode("ascii", "replace"),
        "extra_char": extra,
        "segment": segment,
    }
    if not all(c in _HEX for c in crc_field):
        return bad(BAD_CRC_FIELD, f"malformed: CRC field {crc_field!r} is not 4 hex digits", **info)
    expected = f"{hj212_crc(segment):04X}"
    info["crc_expected"] = expected
    if declared != actual:
        return bad(
            LENGTH_MISMATCH,
            f"length mismatch: declared {declared:04d}, data segment has {actual} bytes",
            **info,
        )
    if crc_field.decode().upper() != expected:
        modbus = f"{modbus_crc(segment):04X}"
        hint = (
            " (the frame carries the CRC-16/MODBUS value)"
            if modbus == crc_field.decode().upper()
            else ""
        )
        return bad(
            CRC_MISMATCH,
            f"CRC mismatch: frame has {crc_field.decode()}, expected {expected}{hint}",
            **info,
        )
    return Inspection(True, "", "ok", tail=tail, **info)  # type: ignore[arg-type]

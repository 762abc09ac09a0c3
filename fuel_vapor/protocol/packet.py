"""HJ 212 data segment (数据段): parse into a typed packet, rebuild it byte for byte.

Layout (hj212.md §3)::

    QN=YYYYMMDDhhmmsszzz;ST=nn;CN=nnnn;PW=xxxxxx;MN=<1-24 chars>;Flag=n;[PNUM=n;PNO=n;]CP=&&<cp>&&
    <cp> = group ; group ...      group = item , item ...      item = key=value
    key  = <factor code>-<suffix> (``a21026-Rtd``) or a plain key (``DataTime``, ``TankPress``)

Header keys are parsed in any order (Guangzhou sends ``QN;MN;ST;CN;PW``); unknown header keys and
unknown CP suffixes are kept. The CP content runs from the first ``&&`` after ``CP=`` to the last
``&&`` of the segment (§3). Values stay strings on the packet (exact round trip); typed views
(``data_time``, ``factors``) convert on demand.

Flag (§4) is the decimal byte ``V5..V0 D A``: A = bit 0 answer required, D = bit 1 split packet,
version = bits 2-7 (0 = HJ/T 212-2005, 1 = HJ 212-2017, 2 = seen in 2024+ code, maybe HJ 212-2025).
Unknown versions are accepted. An absent Flag (2005 style) leaves A, D and version unknown.

Text (:func:`segment_text`): devices send ASCII, UTF-8 or, being Chinese devices, GBK. A segment
is decoded as UTF-8, else as GBK, else as UTF-8 with every undecodable byte escaped as the text
``\\xNN``; ``Packet.encoding`` says which. A packet never carries a string that cannot be encoded
(a lone surrogate in one ``-Flag`` value used to crash every serialiser downstream). The packet's
exact wire bytes are the frame's (``Frame.raw``); ``Packet.segment`` is the decoded text.

Known limits: a segment mixing GBK with bytes that are not GBK is escaped as a whole (its
Chinese text then reads as escapes); ``##`` or CR LF inside a value is not supported.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from core.timeutil import BEIJING

HEADER_KEYS = ("QN", "ST", "CN", "PW", "MN", "Flag", "PNUM", "PNO")  # §3, standard order
ANSWER_CNS = frozenset({"9011", "9012", "9013", "9014"})  # §6: answers are never answered
MAX_MN = 24  # §3: 24 characters in 2017; 2005 ids are shorter

Item = tuple[str, str]
Group = tuple[Item, ...]
_ITEM = r"[^;,=]+=[^;,]*"
_GROUP = rf"(?:{_ITEM}(?:,{_ITEM})*)?"
_CP_BODY = re.compile(rf"{_GROUP}(?:;{_GROUP})*")  # linear: keys exclude '=', values exclude ';,'
_CP_ITEM = re.compile(r"([^;,=]+)=([^;,]*)")  # over a body that ``_CP_BODY`` accepted: its items


class SegmentError(ValueError):
    """The data segment does not have the HJ 212 shape; ``reason`` is a short counter label."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


@dataclass(frozen=True, slots=True)
class FlagBits:
    """Decoded Flag byte (§4). ``value`` is the number as sent."""

    value: int
    answer: bool
    split: bool
    version: int

    @classmethod
    def from_value(cls, value: int) -> FlagBits:
        return cls(value, bool(value & 1), bool(value >> 1 & 1), value >> 2)

    @classmethod
    def make(cls, *, answer: bool, split: bool = False, version: int = 1) -> FlagBits:
        return cls.from_value(version << 2 | int(split) << 1 | int(answer))


@dataclass(frozen=True, slots=True)
class Packet:
    """One data segment. ``header`` and ``cp`` keep wire order so that rebuilding is exact.

    The CP text is validated when the packet is parsed and split into groups on first use of
    ``cp`` (a gateway that only stores or forwards a packet never pays for the split). Key look-ups
    (``get``, ``cp_dict``, ``data_time``) go through one mapping built in C on first use.
    """

    header: tuple[Item, ...]
    cp_text: str
    qn: str | None
    st: str | None
    cn: str
    pw: str | None
    mn: str
    flag: FlagBits | None
    pnum: int | None
    pno: int | None
    encoding: str = field(default="utf-8", compare=False)  # "utf-8", "gbk" or "escaped"
    _groups: tuple[Group, ...] | None = field(default=None, compare=False, repr=False)
    _map: dict[str, str] | None = field(default=None, compare=False, repr=False)
    _first: dict[str, str] | None = field(default=None, compare=False, repr=False)

    @property
    def cp(self) -> tuple[Group, ...]:
        """CP groups in wire order: ``((key, value), ...)`` per group."""
        groups = self._groups
        if groups is None:
            groups = _split_cp(self.cp_text)
            object.__setattr__(self, "_groups", groups)
        return groups

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        *,
        cn: str,
        mn: str,
        st: str | None = None,
        pw: str | None = None,
        qn: str | None = None,
        flag: int | None = None,
        pnum: int | None = None,
        pno: int | None = None,
        cp: Iterable[Iterable[Item]] = (),
        order: Sequence[str] = HEADER_KEYS,
    ) -> Packet:
        """Build a packet from fields; ``order`` gives the header order on the wire."""
        values = {
            "QN": qn,
            "ST": st,
            "CN": cn,
            "PW": pw,
            "MN": mn,
            "Flag": None if flag is None else str(flag),
            "PNUM": None if pnum is None else str(pnum),
            "PNO": None if pno is None else str(pno),
        }
        present = [k for k in order if values.get(k) is not None]
        present += [k for k, v in values.items() if v is not None and k not in present]
        header = [(k, str(values[k])) for k in present]
        return parse_segment(_join(header, (tuple(g) for g in cp)))

    # ---- typed views ----------------------------------------------------------------------
    @property
    def is_answer(self) -> bool:
        return self.cn in ANSWER_CNS

    def items(self) -> Iterator[Item]:
        for group in self.cp:
            yield from group

    def cp_map(self) -> dict[str, str]:
        """All CP items as a mapping (later duplicates win), built once; callers must not change
        it (``cp_dict`` returns a copy)."""
        m = self._map
        if m is None:
            pairs = _CP_ITEM.findall(self.cp_text)
            m = dict(pairs)
            object.__setattr__(self, "_map", m)
            # a key that repeats: ``get`` must still see the first value
            first = m if len(m) == len(pairs) else dict(reversed(pairs))
            object.__setattr__(self, "_first", first)
        return m

    def get(self, key: str) -> str | None:
        """First CP value whose key equals ``key`` (case-sensitive, as keys are on the wire)."""
        first = self._first
        if first is None:
            self.cp_map()
            first = self._first
        return first.get(key)  # type: ignore[union-attr]

    def cp_dict(self) -> dict[str, str]:
        """All CP items as a mapping (later duplicates win)."""
        return dict(self.cp_map())

    def factors(self) -> dict[str, dict[str, str]]:
        """``{code: {suffix_lower: value}}`` for keys of the form ``code-suffix`` (§10.2)."""
        out: dict[str, dict[str, str]] = {}
        for k, v in self.items():
            code, sep, suffix = k.partition("-")
            if sep:
                out.setdefault(code, {})[suffix.lower()] = v
        return out

    @property
    def data_time(self) -> datetime | None:
        """``DataTime`` as a Beijing-time instant; 14 or 17 digits (ms kept)."""
        raw = self.get("DataTime")
        return None if raw is None else parse_time(raw)

    @property
    def qn_time(self) -> datetime | None:
        return None if self.qn is None else parse_time(self.qn)

    @property
    def segment(self) -> str:
        head = "".join(f"{k}={v};" for k, v in self.header)
        return f"{head}CP=&&{self.cp_text}&&"


def parse_time(text: str) -> datetime:
    """``YYYYMMDDhhmmss`` or ``YYYYMMDDhhmmsszzz`` (Beijing time) → aware datetime."""
    if not text.isdigit() or len(text) not in (14, 17):
        raise ValueError(f"time {text!r}: expected 14 or 17 digits (YYYYMMDDhhmmss[zzz])")
    ms = int(text[14:17]) if len(text) == 17 else 0
    return datetime(
        int(text[0:4]),
        int(text[4:6]),
        int(text[6:8]),
        int(text[8:10]),
        int(text[10:12]),
        int(text[12:14]),
        ms * 1000,
        tzinfo=BEIJING,
    )


def format_time(ts: datetime, digits: int = 14) -> str:
    """The inverse of ``parse_time`` in Beijing time."""
    t = ts.astimezone(BEIJING)
    base = t.strftime("%Y%m%d%H%M%S")
    return base + f"{t.microsecond // 1000:03d}" if digits == 17 else base


def _join(header: Iterable[Item], cp: Iterable[Group]) -> str:
    head = "".join(f"{k}={v};" for k, v in header)
    body = ";".join(",".join(f"{k}={v}" for k, v in g) for g in cp)
    return f"{head}CP=&&{body}&&"


def _split_cp(body: str) -> tuple[Group, ...]:
    if not body:
        return ()
    return tuple(
        tuple(tuple(i.split("=", 1)) for i in g.split(",")) if g else ()  # type: ignore[misc]
        for g in body.split(";")
    )


def _digits(key: str, value: str, lo: int, hi: int) -> int:
    if not value.isdigit() or not lo <= len(value) <= hi:
        raise SegmentError(f"bad_{key.lower()}", f"{key}={value!r}: expected {lo}-{hi} digits")
    return int(value)


_FLAGS = tuple(FlagBits.from_value(v) for v in range(256))  # immutable, shared by packets


def _header(header_text: str) -> dict[str, str]:
    """Header fields in wire order; the exact error for the first bad or repeated field."""
    seen: dict[str, str] = {}
    for part in header_text.split(";"):
        key, eq, value = part.partition("=")
        if not eq or not key:
            raise SegmentError("malformed", f"header field {part!r} is not key=value")
        if key in seen:
            raise SegmentError("malformed", f"header field {key} repeats")
        seen[key] = value
    return seen


TEXT_ENCODINGS = ("utf-8", "gbk", "escaped")


def segment_text(data: bytes) -> tuple[str, str]:
    """Segment bytes → (text, encoding): UTF-8; else GBK; else UTF-8 with each byte that does not
    decode escaped as ``\\xNN`` (backslash, x, two hex digits). The text always encodes.

    UTF-8 text with a few stray bytes often decodes as GBK too (as mojibake), so GBK is tried
    only when valid multi-byte UTF-8 characters do not outweigh the undecodable bytes."""
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    t = data.decode("utf-8", "surrogateescape")
    bad = sum(1 for c in t if "\udc80" <= c <= "\udcff")
    multi = sum(len(c.encode()) for c in t if c > "\x7f" and not "\udc80" <= c <= "\udcff")
    if multi <= bad:
        try:
            return data.decode("gbk"), "gbk"
        except UnicodeDecodeError:
            pass
    return data.decode("utf-8", "backslashreplace"), "escaped"


def parse_segment(text: str | bytes) -> Packet:
    """Parse a data segment (without length, CRC and tail) given as its bytes or as text. Text
    decoded with ``surrogateescape`` (lone surrogates for undecodable bytes) is taken back to its
    bytes and decoded by :func:`segment_text`. Raises ``SegmentError``."""
    encoding = "utf-8"
    if isinstance(text, bytes):
        text, encoding = segment_text(text)
    elif not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text, encoding = segment_text(text.encode("utf-8", "surrogateescape"))
    cp_at = text.find("CP=&&")
    if cp_at < 0:
        raise SegmentError("malformed", "no CP=&& in the data segment")
    if cp_at and text[cp_at - 1] != ";":
        raise SegmentError("malformed", "CP= is not preceded by ';'")
    if not text.endswith("&&") or len(text) < cp_at + 7:
        raise SegmentError("malformed", "CP area does not end with &&")
    seen: dict[str, str] = {}
    header_text = text[: cp_at - 1] if cp_at else ""
    if header_text:
        parts = header_text.split(";")
        for part in parts:  # fast path: well-formed fields; anything else goes through _header
            key, eq, value = part.partition("=")
            if not eq or not key:
                break
            seen[key] = value
        if len(seen) != len(parts):
            seen = _header(header_text)
    body = text[cp_at + 5 : -2]
    if body and not _CP_BODY.fullmatch(body):
        bad = next(
            (i for g in body.split(";") if g for i in g.split(",") if not re.fullmatch(_ITEM, i)),
            body[:40],
        )
        raise SegmentError("bad_cp", f"CP item {bad[:40]!r} is not key=value")
    get = seen.get
    mn = get("MN")
    cn = get("CN")
    if not mn:
        raise SegmentError("malformed", "MN missing")
    if len(mn) > MAX_MN or not mn.isprintable() or " " in mn:
        raise SegmentError("bad_mn", f"MN={mn[:30]!r}: expected 1-{MAX_MN} printable characters")
    if cn is None:
        raise SegmentError("malformed", "CN missing")
    if len(cn) != 4 or not cn.isdigit():
        _digits("CN", cn, 4, 4)
    st = get("ST")
    if st is not None and not (1 <= len(st) <= 4 and st.isalnum()):
        raise SegmentError("bad_st", f"ST={st!r}: expected 1-4 letters or digits")
    qn = get("QN")
    if qn is not None and not (qn.isdigit() and 1 <= len(qn) <= 20):
        _digits("QN", qn, 1, 20)
    flag = None
    fv_text = get("Flag")
    if fv_text is not None:
        fv = _digits("Flag", fv_text, 1, 3)
        if fv > 255:
            raise SegmentError("bad_flag", f"Flag={fv}: expected 0-255")
        flag = _FLAGS[fv]
    pnum_text = get("PNUM")
    pno_text = get("PNO")
    return Packet(
        header=tuple(seen.items()),
        cp_text=body,
        qn=qn,
        st=st,
        cn=cn,
        pw=get("PW"),
        mn=mn,
        flag=flag,
        pnum=None if pnum_text is None else _digits("PNUM", pnum_text, 1, 4),
        pno=None if pno_text is None else _digits("PNO", pno_text, 1, 4),
        encoding=encoding,
    )

"""Information bodies of the real-time data unit: OBD information (type 0x01), the 37-byte diesel
data stream (type 0x02), vendor blocks (0x80+) and the SM2 signature block.

Every body keeps its raw bytes/integers, so ``encode()`` gives back exactly the decoded bytes; the
physical values are computed from the raw integers on demand, with a quality tag per field.

Data stream, type 0x02 (hj1239.md §5; SAE J1939 SPN scalings)::

    off size field                       resolution / offset      unit
     0   2   vehicle speed               1/256                    km/h
     2   1   barometric pressure         0.5                      kPa
     3   1   net engine torque           1, offset -125           % of reference torque
     4   1   friction torque             1, offset -125           %
     5   2   engine speed                0.125                    rpm
     7   2   fuel rate                   0.05                     L/h
     9   2   SCR upstream NOx            0.05, offset -200        ppm
    11   2   SCR downstream NOx          0.05, offset -200        ppm
    13   1   reagent level               0.4                      %
    14   2   intake air mass flow        0.05                     kg/h
    16   2   SCR inlet temperature       0.03125, offset -273     °C
    18   2   SCR outlet temperature      0.03125, offset -273     °C
    20   2   DPF differential pressure   0.1                      kPa
    22   1   coolant temperature         1, offset -40            °C
    23   1   fuel tank level             0.4                      %
    24   1   position status             bit0 1=invalid fix, bit1 1=south, bit2 1=west
    25   4   longitude                   1e-6                     degree
    29   4   latitude                    1e-6                     degree
    33   4   odometer                    0.1                      km

Markers (§5.1): raw ≥ 0xFB (1 byte), ≥ 0xFB00 (2 bytes), ≥ 0xFB000000 (4 bytes) are never numbers:
0xFE.. = ``error``, 0xFF.. = ``not_available``, 0xFB..–0xFD.. reserved = ``not_available``. Values
that decode outside the plausible range are ``not_ready`` (below: NOx < 0 ppm from raw 0, SCR
temperature < -40 °C) or ``out_of_range`` (above). Only ``ok`` values have a physical value.

OBD information, type 0x01 (§4), 96 + 4·n bytes::

    off size  field
     0   1    OBD protocol (0 ISO 15765, 1 ISO 27145, 2 SAE J1939, 0xFE invalid)
     1   1    MIL (0 off, 1 on, 0xFE invalid)
     2   2    diagnostic support bitmap
     4   2    diagnostic readiness bitmap
     6  17    VIN (ASCII)
    23  18    calibration id (ASCII, padded with spaces/NUL)
    41  18    CVN (ASCII or raw bytes)
    59  36    IUPR: 18 WORDs
    95   1    DTC count n (0xFE invalid → no list)
    96  4n    DTCs, 4 bytes each (kept as hex)

Known limits: the diagnostic bitmaps' bit order and the IUPR counter order are unconfirmed (§13),
so they are exposed raw; DTCs are not unpacked into SPN/FMI.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from fractions import Fraction
from math import lcm
from typing import Any

# ------------------------------------------------------------------------------ data stream (0x02)

STREAM_LEN = 37
STREAM_FORMAT = ">HBBBHHHHBHHHHBBBIII"
_STREAM = struct.Struct(STREAM_FORMAT)
assert _STREAM.size == STREAM_LEN

QUALITY_TAGS = ("ok", "not_available", "error", "not_ready", "out_of_range")


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    width: int  # bytes
    scale: float
    offset: float
    unit: str
    lo: float  # plausible physical range; below → not_ready, above → out_of_range
    hi: float


_MARKER_FLOOR_BY_WIDTH = {1: 0xFB, 2: 0xFB00, 4: 0xFB000000}
_ERROR_BAND_BY_WIDTH = {1: (0xFE, 0xFE), 2: (0xFE00, 0xFEFF), 4: (0xFE000000, 0xFEFFFFFF)}

# Order = wire order. Plausible ranges: the documented range (§5), tightened where a value is
# physically impossible (negative NOx, SCR temperatures below -40 °C).
STREAM_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("speed_kmh", 2, 1 / 256, 0.0, "km/h", 0.0, 250.996),
    FieldSpec("baro_kpa", 1, 0.5, 0.0, "kPa", 0.0, 125.0),
    FieldSpec("torque_pct", 1, 1.0, -125.0, "%", -125.0, 125.0),
    FieldSpec("friction_pct", 1, 1.0, -125.0, "%", -125.0, 125.0),
    FieldSpec("rpm", 2, 0.125, 0.0, "rpm", 0.0, 8031.875),
    FieldSpec("fuel_lph", 2, 0.05, 0.0, "L/h", 0.0, 3212.75),
    FieldSpec("nox_up_ppm", 2, 0.05, -200.0, "ppm", 0.0, 3012.75),
    FieldSpec("nox_down_ppm", 2, 0.05, -200.0, "ppm", 0.0, 3012.75),
    FieldSpec("reagent_pct", 1, 0.4, 0.0, "%", 0.0, 100.0),
    FieldSpec("air_kgh", 2, 0.05, 0.0, "kg/h", 0.0, 3212.75),
    FieldSpec("scr_in_c", 2, 0.03125, -273.0, "°C", -40.0, 1734.96875),
    FieldSpec("scr_out_c", 2, 0.03125, -273.0, "°C", -40.0, 1734.96875),
    FieldSpec("dpf_dp_kpa", 2, 0.1, 0.0, "kPa", 0.0, 6425.5),
    FieldSpec("coolant_c", 1, 1.0, -40.0, "°C", -40.0, 210.0),
    FieldSpec("fuel_level_pct", 1, 0.4, 0.0, "%", 0.0, 100.0),
)
_FAST = tuple(
    (
        f.name,
        _MARKER_FLOOR_BY_WIDTH[f.width],
        *_ERROR_BAND_BY_WIDTH[f.width],
        f.scale,
        f.offset,
        f.lo,
        f.hi,
    )
    for f in STREAM_FIELDS
)
POS_STATUS_INDEX = 15
LON_INDEX, LAT_INDEX, ODO_INDEX = 16, 17, 18
FIELD_INDEX = {f.name: i for i, f in enumerate(STREAM_FIELDS)}
NUMERIC_FIELDS = (*(f.name for f in STREAM_FIELDS), "lon", "lat", "odometer_km")

_MARKER_FLOOR = _MARKER_FLOOR_BY_WIDTH
_ERROR_BAND = _ERROR_BAND_BY_WIDTH


def marker_tag(raw: int, width: int) -> str | None:
    """§5.1 marker rule: ``error``/``not_available`` for marker raws, ``None`` for measurements."""
    if raw < _MARKER_FLOOR[width]:
        return None
    lo, hi = _ERROR_BAND[width]
    return "error" if lo <= raw <= hi else "not_available"


@dataclass(frozen=True, slots=True)
class Reading:
    """One field: raw integer, physical value (``None`` unless quality is ``ok``), quality tag."""

    raw: int
    value: float | None
    quality: str
    unit: str

    def as_dict(self) -> dict[str, Any]:
        return {"raw": self.raw, "value": self.value, "quality": self.quality, "unit": self.unit}


def _scaled(raw: int, spec: FieldSpec) -> Reading:
    tag = marker_tag(raw, spec.width)
    if tag is not None:
        return Reading(raw, None, tag, spec.unit)
    v = raw * spec.scale + spec.offset
    if v < spec.lo:
        return Reading(raw, None, "not_ready", spec.unit)
    if v > spec.hi:
        return Reading(raw, None, "out_of_range", spec.unit)
    return Reading(raw, round(v, 6), "ok", spec.unit)


# ------------------------------------------------------------------------------ physical columns
#
# The gateway's batches convert every field of every record, so the rules of :func:`_scaled` are
# precompiled per field into raw-integer bounds and an exact rational scaling, applied to all the
# records of a unit (or of many units) at once by :func:`physical_columns`:
#
# - ``raw_lo``/``raw_hi``: the raw values whose float value ``raw * scale + offset`` lies in
#   [lo, hi], found by bisection with that same float expression (so the boundaries are exactly
#   those of :func:`_scaled`); every other raw is a marker, ``not_ready`` or ``out_of_range``;
# - value = ``(raw * mul + add) / den`` with integers: one correctly rounded division gives the
#   double nearest to the exact decimal value, which is what ``round(raw * scale + offset, 6)``
#   gives whenever the exact value has at most 6 decimals; only 1/256 km/h (8 decimals) still
#   needs ``round``. ``tests/unit/obd/test_samples.py`` checks every 1- and 2-byte raw value.


def _raw_bound(f: FieldSpec, floor: int, below: bool) -> int:
    """``below``: the smallest raw with value >= lo; else the largest raw with value <= hi."""
    lo, hi = 0, floor - 1
    if below:
        if hi * f.scale + f.offset < f.lo:
            return floor  # nothing is ready
        while lo < hi:
            mid = (lo + hi) // 2
            if mid * f.scale + f.offset < f.lo:
                lo = mid + 1
            else:
                hi = mid
        return lo
    if f.offset > f.hi:
        return -1  # everything is out of range
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if mid * f.scale + f.offset > f.hi:
            hi = mid - 1
        else:
            lo = mid
    return lo


def _decimals(den: int) -> int:
    """Decimal places of 1/den for den = 2^a * 5^b."""
    a = b = 0
    while den % 2 == 0:
        den //= 2
        a += 1
    while den % 5 == 0:
        den //= 5
        b += 1
    assert den == 1, "scalings are decimal fractions"
    return max(a, b)


@dataclass(frozen=True, slots=True)
class _FastSpec:
    raw_lo: int
    raw_hi: int
    mul: int
    add: int
    den: int
    rounded: bool  # the exact value may have more than 6 decimals: round like _scaled
    floor: int
    err_shift: int  # raw >> err_shift == 0xFE: error marker
    flag_error: str
    flag_na: str
    flag_not_ready: str
    flag_oor: str


def _fast_spec(f: FieldSpec) -> _FastSpec:
    floor = _MARKER_FLOOR_BY_WIDTH[f.width]
    scale, offset = Fraction(repr(f.scale)), Fraction(repr(f.offset))
    den = lcm(scale.denominator, offset.denominator)
    return _FastSpec(
        _raw_bound(f, floor, True),
        _raw_bound(f, floor, False),
        int(scale * den),
        int(offset * den),
        den,
        _decimals(den) > 6,
        floor,
        8 * (f.width - 1),
        f"{f.name}:error",
        f"{f.name}:not_available",
        f"{f.name}:not_ready",
        f"{f.name}:out_of_range",
    )


_PHYS = tuple(_fast_spec(f) for f in STREAM_FIELDS)
_COORD_MAX = {  # largest raw whose ``raw * 1e-6`` is within the limit (as in DataStream._coord)
    LON_INDEX: _raw_bound(FieldSpec("lon", 4, 1e-6, 0.0, "degree", 0.0, 180.0), 0xFB000000, False),
    LAT_INDEX: _raw_bound(FieldSpec("lat", 4, 1e-6, 0.0, "degree", 0.0, 90.0), 0xFB000000, False),
}


def _flag_of(r: int, p: _FastSpec) -> str:
    if r >= p.floor:
        return p.flag_error if r >> p.err_shift == 0xFE else p.flag_na
    return p.flag_not_ready if r < p.raw_lo else p.flag_oor


def _coord_flag(r: int, idx: int, name: str) -> str | None:
    if r <= _COORD_MAX[idx]:
        return None
    if r >= 0xFB000000:
        return f"{name}:error" if r >> 24 == 0xFE else f"{name}:not_available"
    return f"{name}:out_of_range"


def _row_flags(raw: tuple[int, ...]) -> list[str]:
    """The ``field:tag`` flags of one record's 19 raw integers (NUMERIC_FIELDS order)."""
    flags = [
        _flag_of(r, p) for r, p in zip(raw, _PHYS, strict=False) if not p.raw_lo <= r <= p.raw_hi
    ]
    for idx, name in ((LON_INDEX, "lon"), (LAT_INDEX, "lat")):
        f = _coord_flag(raw[idx], idx, name)
        if f is not None:
            flags.append(f)
    odo = raw[ODO_INDEX]
    if odo >= 0xFB000000:
        flags.append("odometer_km:error" if odo >> 24 == 0xFE else "odometer_km:not_available")
    return flags


class _Columns:
    """NumPy constants of :func:`physical_columns`, built from the precompiled specs on first use."""

    def __init__(self) -> None:
        import numpy as np

        # rows: the 18 NUMERIC_FIELDS, then the position status
        order = [*range(15), LON_INDEX, LAT_INDEX, ODO_INDEX, POS_STATUS_INDEX]
        # the raw integers of a body as one record of a structured type (big-endian)
        self.dtype = np.dtype([(f"f{j}", ">" + code) for j, code in enumerate(STREAM_FORMAT[1:])])
        self.names = [f"f{j}" for j in order]
        specs = [(p.raw_lo, p.raw_hi, p.mul, p.add, p.den) for p in _PHYS] + [
            (0, _COORD_MAX[LON_INDEX], 1, 0, 10**6),
            (0, _COORD_MAX[LAT_INDEX], 1, 0, 10**6),
            (0, 0xFB000000 - 1, 1, 0, 10),
        ]
        lo, hi, mul, add, den = (
            np.array([[v] for v in c], dtype=np.float64) for c in zip(*specs, strict=True)
        )
        self.lo, self.hi, self.mul, self.add, self.den = lo, hi, mul, add, den
        self.rounded = [j for j, p in enumerate(_PHYS) if p.rounded]
        status = np.arange(256)
        self.lon_sign = np.where(status & 0x04, -1.0, 1.0)  # west
        self.lat_sign = np.where(status & 0x02, -1.0, 1.0)  # south


@functools.cache
def _columns() -> _Columns:
    return _Columns()


def physical_columns(raw: bytes) -> tuple[Any, list[tuple[int, list[str]]], Any]:
    """Physical values of ``k`` concatenated 37-byte bodies, all records at once (NumPy).

    Returns ``(values, bad, status)``: ``status`` is each record's position status byte (uint8
    array), ``values`` an ``(18, k)`` float64 array, one row per
    :data:`NUMERIC_FIELDS` field, NaN where a value is not ``ok`` (marker, not ready, out of
    range); ``bad`` lists ``(record index, flags)`` for the records with such a field, in record
    order, with their ``field:tag`` flags. The rules are those of :meth:`DataStream.reading`,
    from the precompiled specs: a raw integer in ``[raw_lo, raw_hi]`` is ``(raw * mul + add) /
    den`` (integers exact in float64, then one correctly rounded division, as Python's
    ``int / int``), rounded to 6 decimals where the scaling has more (km/h: ``raw * 10**6 / 256``
    is exact, so NumPy's ``round`` gives Python's); coordinates ``±raw / 10**6`` by the position
    status (``+ 0`` turns a west or south zero into ``0.0``); the odometer ``raw / 10``.
    ``tests/unit/obd/test_samples.py`` checks every 1- and 2-byte raw value against
    :meth:`DataStream.reading`.
    """
    import numpy as np

    c = _columns()
    k = len(raw) // STREAM_LEN
    rec = np.frombuffer(raw, dtype=c.dtype, count=k)
    x = np.empty((18, k), dtype=np.float64)  # the raw integers (exact in float64)
    for j, name in enumerate(c.names[:18]):
        x[j] = rec[name]
    ints = x[:18]
    good = ints >= c.lo
    good &= ints <= c.hi
    status = rec[c.names[18]]
    if (status & 0x06).any():  # west or south (never in the zone: skipped there)
        ints[15] *= c.lon_sign[status]
        ints[16] *= c.lat_sign[status]
    out = ints * c.mul
    out += c.add
    out /= c.den
    for j in c.rounded:
        out[j] = np.round(out[j], 6)
    bad: list[tuple[int, list[str]]] = []
    if not good.all():
        out[~good] = np.nan
        for i in np.flatnonzero(~good.all(axis=0)).tolist():
            bad.append((i, _row_flags(_STREAM.unpack_from(raw, i * STREAM_LEN))))
    return out, bad, status


def physical_row(raw: tuple[int, ...]) -> tuple[list[float | None], list[str]]:
    """One record's physical values (``None`` unless ``ok``) and flags: :func:`physical_columns`
    of its body (tools; the gateway's batches decode all their records at once)."""
    values, bad, _status = physical_columns(_STREAM.pack(*raw))
    return [None if v != v else v for v in values[:, 0].tolist()], (bad[0][1] if bad else [])


@dataclass(frozen=True, slots=True)
class DataStream:
    """The 37-byte diesel data stream as its 19 raw integers (wire order)."""

    raw: tuple[int, ...]

    INFO_TYPE = 0x02

    def __post_init__(self) -> None:
        if len(self.raw) != 19:
            raise ValueError(f"raw: expected 19 integers, got {len(self.raw)}")

    @classmethod
    def decode(cls, data: bytes | memoryview, pos: int = 0) -> DataStream:
        obj = object.__new__(cls)  # 19 integers by construction: skip __post_init__
        object.__setattr__(obj, "raw", _STREAM.unpack_from(data, pos))
        return obj

    def encode(self) -> bytes:
        return _STREAM.pack(*self.raw)

    def reading(self, name: str) -> Reading:
        i = FIELD_INDEX.get(name)
        if i is not None:
            return _scaled(self.raw[i], STREAM_FIELDS[i])
        if name == "lon":
            return self._coord(LON_INDEX, 180.0, 0x04)
        if name == "lat":
            return self._coord(LAT_INDEX, 90.0, 0x02)
        if name == "odometer_km":
            raw = self.raw[ODO_INDEX]
            tag = marker_tag(raw, 4)
            if tag:
                return Reading(raw, None, tag, "km")
            return Reading(raw, round(raw * 0.1, 1), "ok", "km")
        raise KeyError(f"data stream has no field {name!r} (has: {', '.join(NUMERIC_FIELDS)})")

    def value(self, name: str) -> float | None:
        return self.reading(name).value

    def _coord(self, idx: int, limit: float, neg_bit: int) -> Reading:
        raw = self.raw[idx]
        tag = marker_tag(raw, 4)
        if tag:
            return Reading(raw, None, tag, "degree")
        v = raw * 1e-6
        if v > limit:
            return Reading(raw, None, "out_of_range", "degree")
        if self.pos_status & neg_bit:
            v = -v
        return Reading(raw, round(v, 6), "ok", "degree")

    @property
    def pos_status(self) -> int:
        return self.raw[POS_STATUS_INDEX]

    @property
    def fix_valid(self) -> bool:
        return not self.pos_status & 0x01

    def physical(self) -> tuple[dict[str, float | None], list[str]]:
        """All physical values (``None`` unless ``ok``) and ``field:tag`` flags for the others, in
        one pass; same rules as :meth:`reading`, without building ``Reading`` objects."""
        values, flags = physical_row(self.raw)
        return dict(zip(NUMERIC_FIELDS, values, strict=True)), flags

    def readings(self) -> dict[str, Reading]:
        return {name: self.reading(name) for name in NUMERIC_FIELDS}

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: r.as_dict() for k, r in self.readings().items()}
        out["position_status"] = {
            "raw": self.pos_status,
            "fix_valid": self.fix_valid,
            "south": bool(self.pos_status & 0x02),
            "west": bool(self.pos_status & 0x04),
        }
        return out

    @classmethod
    def from_physical(cls, *, fix_valid: bool = True, **values: float | None) -> DataStream:
        """Build a stream from physical values (simulator). ``None`` → 0xFF…  (not available).
        Unknown names raise; values are rounded to the field's resolution and clamped to it."""
        unknown = set(values) - set(NUMERIC_FIELDS)
        if unknown:
            raise KeyError(f"unknown data-stream fields: {sorted(unknown)}")
        raw: list[int] = []
        for spec in STREAM_FIELDS:
            v = values.get(spec.name)
            if v is None:
                raw.append((1 << (8 * spec.width)) - 1)
                continue
            r = round((v - spec.offset) / spec.scale)
            raw.append(min(max(r, 0), _MARKER_FLOOR[spec.width] - 1))
        lon, lat = values.get("lon"), values.get("lat")
        status = (0 if fix_valid else 0x01) | (0x02 if lat is not None and lat < 0 else 0)
        status |= 0x04 if lon is not None and lon < 0 else 0
        raw.append(status)
        for v in (lon, lat):
            raw.append(0xFFFFFFFF if v is None else round(abs(v) * 1e6))
        odo = values.get("odometer_km")
        raw.append(0xFFFFFFFF if odo is None else min(round(odo * 10), 0xFAFFFFFF))
        return cls(tuple(raw))


# ------------------------------------------------------------------------------ OBD info (0x01)

OBD_FIXED_LEN = 96
DTC_COUNT_INVALID = 0xFE
OBD_PROTOCOLS = {0: "ISO 15765", 1: "ISO 27145", 2: "SAE J1939"}


def _text(raw: bytes) -> str:
    return raw.rstrip(b"\x00 ").decode("ascii", "replace").strip("\x00 ")


@dataclass(frozen=True, slots=True)
class ObdInfo:
    """OBD information body with every field kept raw (round-trips byte-identically)."""

    protocol: int
    mil: int
    diag_support: int
    diag_ready: int
    vin_raw: bytes
    calid_raw: bytes
    cvn_raw: bytes
    iupr_raw: bytes
    dtc_count: int
    dtcs_raw: bytes

    INFO_TYPE = 0x01

    def __post_init__(self) -> None:
        sizes = (("vin_raw", 17), ("calid_raw", 18), ("cvn_raw", 18), ("iupr_raw", 36))
        for name, size in sizes:
            if len(getattr(self, name)) != size:
                raise ValueError(f"{name}: expected {size} bytes")
        n = 0 if self.dtc_count == DTC_COUNT_INVALID else self.dtc_count
        if len(self.dtcs_raw) != 4 * n:
            raise ValueError(f"dtcs_raw: expected 4 × dtc_count = {4 * n} bytes")

    @staticmethod
    def length_at(data: bytes | memoryview, pos: int) -> int | None:
        """Body length starting at ``pos`` (needs the DTC count byte), ``None`` if it is short."""
        if len(data) < pos + OBD_FIXED_LEN:
            return None
        n = data[pos + 95]
        return OBD_FIXED_LEN + (0 if n == DTC_COUNT_INVALID else 4 * n)

    @classmethod
    def decode(cls, data: bytes | memoryview, pos: int = 0) -> ObdInfo:
        b = bytes(data[pos : pos + OBD_FIXED_LEN])
        n = b[95]
        k = 0 if n == DTC_COUNT_INVALID else 4 * n
        dtcs = bytes(data[pos + 96 : pos + 96 + k])
        if len(dtcs) != k:
            raise ValueError("OBD body truncated in the DTC list")
        return cls(
            b[0],
            b[1],
            (b[2] << 8) | b[3],
            (b[4] << 8) | b[5],
            b[6:23],
            b[23:41],
            b[41:59],
            b[59:95],
            n,
            dtcs,
        )

    def encode(self) -> bytes:
        return (
            bytes((self.protocol, self.mil))
            + self.diag_support.to_bytes(2, "big")
            + self.diag_ready.to_bytes(2, "big")
            + self.vin_raw
            + self.calid_raw
            + self.cvn_raw
            + self.iupr_raw
            + bytes((self.dtc_count,))
            + self.dtcs_raw
        )

    @property
    def mil_on(self) -> bool | None:
        return {0: False, 1: True}.get(self.mil)

    @property
    def vin(self) -> str:
        return _text(self.vin_raw)

    @property
    def calibration_id(self) -> str:
        return _text(self.calid_raw)

    @property
    def cvn(self) -> str:
        """ASCII when printable (after padding is stripped), else upper-case hex."""
        t = self.cvn_raw.rstrip(b"\x00 ")
        if t and all(0x20 <= c <= 0x7E for c in t):
            return t.decode("ascii").strip()
        return self.cvn_raw.hex().upper()

    @property
    def iupr(self) -> tuple[int, ...]:
        return struct.unpack(">18H", self.iupr_raw)

    @property
    def dtcs(self) -> tuple[str, ...]:
        r = self.dtcs_raw
        return tuple(r[i : i + 4].hex().upper() for i in range(0, len(r), 4))

    @property
    def dtc_total(self) -> int | None:
        return None if self.dtc_count > 253 else self.dtc_count  # 0xFE invalid, 0xFF undefined

    def as_dict(self) -> dict[str, Any]:
        return {
            "protocol": {"raw": self.protocol, "name": OBD_PROTOCOLS.get(self.protocol, "invalid")},
            "mil": {"raw": self.mil, "on": self.mil_on},
            "diag_support": f"0x{self.diag_support:04X}",
            "diag_ready": f"0x{self.diag_ready:04X}",
            "vin": self.vin,
            "calibration_id": self.calibration_id,
            "cvn": self.cvn,
            "iupr": list(self.iupr),
            "dtc_count": self.dtc_total,
            "dtcs": list(self.dtcs),
        }

    @classmethod
    def build(
        cls,
        *,
        vin: str,
        calibration_id: str,
        cvn: str,
        mil_on: bool = False,
        dtcs: tuple[str, ...] = (),
        protocol: int = 2,
        diag_support: int = 0,
        diag_ready: int = 0,
        iupr: tuple[int, ...] = (0,) * 18,
    ) -> ObdInfo:
        """Build a body from text values (simulator): text is space-padded, DTCs are 8 hex digits."""

        def pad(t: str, n: int) -> bytes:
            b = t.encode("ascii")
            if len(b) > n:
                raise ValueError(f"{t!r}: expected at most {n} ASCII characters")
            return b.ljust(n, b" ")

        return cls(
            protocol,
            1 if mil_on else 0,
            diag_support,
            diag_ready,
            pad(vin, 17),
            pad(calibration_id, 18),
            pad(cvn, 18),
            struct.pack(">18H", *iupr),
            len(dtcs),
            b"".join(bytes.fromhex(d) for d in dtcs),
        )


# ------------------------------------------------------------------------------ vendor / raw


@dataclass(frozen=True, slots=True)
class VendorBlock:
    """A length-prefixed block kept raw: a vendor type (0x80 … 0xFF; the OEM test program's 0x80
    is a WORD length + TLV items of 2-byte tag, 1-byte length, value, §6) or an unknown type read
    the same way. ``raw`` includes the length WORD."""

    info_type: int
    raw: bytes

    @classmethod
    def decode(cls, info_type: int, data: bytes | memoryview, pos: int) -> VendorBlock:
        if len(data) < pos + 2:
            raise ValueError("vendor block: no length WORD")
        n = (data[pos] << 8) | data[pos + 1]
        if len(data) < pos + 2 + n:
            raise ValueError(f"vendor block: length {n} beyond the data unit")
        return cls(info_type, bytes(data[pos : pos + 2 + n]))

    def encode(self) -> bytes:
        return self.raw

    def tlv(self) -> list[tuple[int, bytes]] | None:
        """TLV items, or ``None`` when the block is not a well-formed TLV list."""
        body, i, out = self.raw[2:], 0, []
        while i < len(body):
            if i + 3 > len(body):
                return None
            tag, ln = (body[i] << 8) | body[i + 1], body[i + 2]
            if i + 3 + ln > len(body):
                return None
            out.append((tag, body[i + 3 : i + 3 + ln]))
            i += 3 + ln
        return out

    def as_dict(self) -> dict[str, Any]:
        items = self.tlv()
        return {
            "raw": self.raw.hex().upper(),
            "tlv": None
            if items is None
            else [{"tag": f"0x{t:04X}", "value": v.hex().upper()} for t, v in items],
        }


@dataclass(frozen=True, slots=True)
class Signature:
    """SM2 signature block (§7): R length, R, S length, S. Verification is pluggable; until a key
    is registered the gateway marks the data ``signature_unverified``."""

    r: bytes
    s: bytes

    @classmethod
    def match(cls, data: bytes | memoryview, pos: int, end: int | None = None) -> Signature | None:
        """A block at ``pos``; with ``end`` it must end exactly there."""
        if len(data) < pos + 2:
            return None
        lr = data[pos]
        if not 1 <= lr <= 64 or len(data) < pos + 2 + lr:
            return None
        ls = data[pos + 1 + lr]
        stop = pos + 2 + lr + ls
        if not 1 <= ls <= 64 or len(data) < stop or (end is not None and stop != end):
            return None
        return cls(bytes(data[pos + 1 : pos + 1 + lr]), bytes(data[pos + 2 + lr : stop]))

    @property
    def size(self) -> int:
        return 2 + len(self.r) + len(self.s)

    def encode(self) -> bytes:
        return bytes((len(self.r),)) + self.r + bytes((len(self.s),)) + self.s

    def as_dict(self) -> dict[str, Any]:
        return {"r": self.r.hex().upper(), "s": self.s.hex().upper(), "verified": None}

"""Events of the remote-OBD source (the contract between gateway, processors and warehouse).

- ``obd.frame``: every accepted frame's header, hash and decode status (provenance of the rest);
- ``obd.sample``: one 1 Hz data-stream record in physical units (``None`` + quality flag for
  markers), de-duplicated by (VIN, collection time): a re-sent or back-filled record is stored once;
- ``obd.info``: one OBD information snapshot (MIL, DTCs, calibration id, CVN, IUPR);
- ``obd.status``: session facts of a vehicle (login, logout, time calibration, anti-tamper,
  disconnect) with the terminal's clock offset;
- ``obd.quarantine``: frames of VINs not in the registry, kept raw and apart from vehicle tables.

Times are the device's collection times (Beijing time converted to aware datetimes);
``received_at`` is the gateway's receive time, never part of an event id.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from core.errors import ValidationError
from core.events import deterministic_id, require_aware, require_range
from obd_gateway.protocol.bodies import (
    NUMERIC_FIELDS,
    STREAM_LEN,
    DataStream,
    physical_columns,
)

SIGNATURE_STATES = ("absent", "unverified", "valid", "invalid")
DECODE_STATUSES = ("ok", "partial", "raw", "bad_data_unit")
STATUS_KINDS = ("login", "logout", "time_calibration", "anti_tamper", "disconnected")

# Physical ranges of the sample fields (hj1239.md §5), used to validate events.
SAMPLE_RANGES: dict[str, tuple[float, float, str]] = {
    "speed_kmh": (0.0, 250.996, "km/h"),
    "baro_kpa": (0.0, 125.0, "kPa"),
    "torque_pct": (-125.0, 125.0, "%"),
    "friction_pct": (-125.0, 125.0, "%"),
    "rpm": (0.0, 8031.875, "rpm"),
    "fuel_lph": (0.0, 3212.75, "L/h"),
    "nox_up_ppm": (0.0, 3012.75, "ppm"),
    "nox_down_ppm": (0.0, 3012.75, "ppm"),
    "reagent_pct": (0.0, 100.0, "%"),
    "air_kgh": (0.0, 3212.75, "kg/h"),
    "scr_in_c": (-40.0, 1734.97, "°C"),
    "scr_out_c": (-40.0, 1734.97, "°C"),
    "dpf_dp_kpa": (0.0, 6425.5, "kPa"),
    "coolant_c": (-40.0, 210.0, "°C"),
    "fuel_level_pct": (0.0, 100.0, "%"),
    "lon": (-180.0, 180.0, "degree"),
    "lat": (-90.0, 90.0, "degree"),
    "odometer_km": (0.0, 429496729.5, "km"),
}


def _one_of(field: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValidationError(field, value, f"one of {', '.join(allowed)}")


def _vin(value: str) -> None:
    if len(value) != 17:
        raise ValidationError("vin", value, "17 characters")


@dataclass(frozen=True, slots=True)
class ObdFrame:
    """One accepted frame: header, SHA-256 of its exact bytes, decode status."""

    KIND: ClassVar[str] = "obd.frame"

    event_id: str
    ts: datetime
    vin: str
    received_at: datetime
    command: int
    header_variant: str
    layout: str
    flag: int
    encryption: int
    data_length: int
    frame_sha256: str
    decode_status: str
    signature: str
    backfilled: bool
    n_samples: int
    n_infos: int
    jurisdiction: str
    fleet: str
    peer: str
    detail: str

    def __post_init__(self) -> None:
        require_aware("ts", self.ts)
        require_aware("received_at", self.received_at)
        _vin(self.vin)
        require_range("command", self.command, 0, 255)
        require_range("data_length", self.data_length, 0, 65531, "B")
        _one_of("decode_status", self.decode_status, DECODE_STATUSES)
        _one_of("signature", self.signature, SIGNATURE_STATES)
        if len(self.frame_sha256) != 64:
            raise ValidationError("frame_sha256", self.frame_sha256, "64 hex digits")

    @staticmethod
    def make_id(vin: str, frame_sha256: str) -> str:
        return deterministic_id(ObdFrame.KIND, vin, frame_sha256)

    @property
    def key(self) -> str:
        return self.vin


@dataclass(frozen=True, slots=True)
class ObdSample:
    """One data-stream record. Numeric fields are physical values or ``None`` (marker, not ready,
    out of range: see ``quality_flags`` as ``field:tag``); ``raw_hex`` is the 37-byte body."""

    KIND: ClassVar[str] = "obd.sample"

    event_id: str
    ts: datetime
    vin: str
    jurisdiction: str
    fleet: str
    vehicle_class: str
    received_at: datetime
    backfilled: bool
    time_inferred: bool
    signature: str
    frame_id: str
    speed_kmh: float | None
    baro_kpa: float | None
    torque_pct: float | None
    friction_pct: float | None
    rpm: float | None
    fuel_lph: float | None
    nox_up_ppm: float | None
    nox_down_ppm: float | None
    reagent_pct: float | None
    air_kgh: float | None
    scr_in_c: float | None
    scr_out_c: float | None
    dpf_dp_kpa: float | None
    coolant_c: float | None
    fuel_level_pct: float | None
    fix_valid: bool
    lon: float | None
    lat: float | None
    odometer_km: float | None
    quality_flags: tuple[str, ...]
    raw_hex: str

    def __post_init__(self) -> None:
        require_aware("ts", self.ts)
        require_aware("received_at", self.received_at)
        _vin(self.vin)
        _one_of("signature", self.signature, SIGNATURE_STATES)
        for name, (lo, hi, unit) in SAMPLE_RANGES.items():
            require_range(name, getattr(self, name), lo, hi, unit)
        if len(self.raw_hex) != 74:
            raise ValidationError("raw_hex", self.raw_hex, "74 hex digits (37-byte body)")

    @staticmethod
    def make_id(vin: str, ts: datetime) -> str:
        return deterministic_id(ObdSample.KIND, vin, ts, 0x02)

    @property
    def key(self) -> str:
        return self.vin


@dataclass(frozen=True, slots=True)
class ObdInfoSnapshot:
    """One OBD information body (type 0x01) with text fields decoded and the body kept raw."""

    KIND: ClassVar[str] = "obd.info"

    event_id: str
    ts: datetime
    vin: str
    jurisdiction: str
    fleet: str
    received_at: datetime
    backfilled: bool
    frame_id: str
    obd_protocol: int
    mil_on: bool | None
    diag_support: int
    diag_ready: int
    obd_vin: str
    calibration_id: str
    cvn: str
    iupr: tuple[int, ...]
    dtc_count: int | None
    dtcs: tuple[str, ...]
    raw_hex: str

    def __post_init__(self) -> None:
        require_aware("ts", self.ts)
        require_aware("received_at", self.received_at)
        _vin(self.vin)
        require_range("dtc_count", self.dtc_count, 0, 253)
        if self.dtc_count is not None and len(self.dtcs) != self.dtc_count:
            raise ValidationError("dtcs", len(self.dtcs), f"{self.dtc_count} codes (dtc_count)")

    @staticmethod
    def make_id(vin: str, ts: datetime) -> str:
        return deterministic_id(ObdInfoSnapshot.KIND, vin, ts, 0x01)

    @property
    def key(self) -> str:
        return self.vin


@dataclass(frozen=True, slots=True)
class ObdStatus:
    """A session fact; ``clock_offset_s`` = receive time − terminal time (login, calibration)."""

    KIND: ClassVar[str] = "obd.status"

    event_id: str
    ts: datetime
    vin: str
    jurisdiction: str
    fleet: str
    status: str
    received_at: datetime
    login_serial: int | None
    iccid: str
    clock_offset_s: float | None
    peer: str
    detail_json: str

    def __post_init__(self) -> None:
        require_aware("ts", self.ts)
        require_aware("received_at", self.received_at)
        _vin(self.vin)
        _one_of("status", self.status, STATUS_KINDS)
        require_range("login_serial", self.login_serial, 0, 65535)

    @staticmethod
    def make_id(vin: str, ts: datetime, status: str, serial: int | None) -> str:
        return deterministic_id(ObdStatus.KIND, vin, ts, status, serial)

    @property
    def key(self) -> str:
        return self.vin


@dataclass(frozen=True, slots=True)
class ObdQuarantine:
    """A frame from a VIN the registry does not know: kept raw, never mixed into vehicle data."""

    KIND: ClassVar[str] = "obd.quarantine"

    event_id: str
    ts: datetime
    vin: str
    reason: str
    command: int
    peer: str
    frame_sha256: str
    raw_hex: str

    def __post_init__(self) -> None:
        require_aware("ts", self.ts)
        require_range("command", self.command, 0, 255)
        if not self.reason:
            raise ValidationError("reason", self.reason, "a non-empty reason")

    @staticmethod
    def make_id(vin: str, frame_sha256: str) -> str:
        return deterministic_id(ObdQuarantine.KIND, vin, frame_sha256)

    @property
    def key(self) -> str:
        return self.vin


# ---------------------------------------------------------------------------- samples as columns

RECORD_INFERRED = 0x01  # record flag bit: the record's time was inferred (GB 17691 layout)
RECORD_TIME_UNSET = 0x02  # record flag bit: the terminal sent six zero bytes as the time
TIME_UNSET = "time_unset"  # quality flag of such a record
_SAMPLE_PREFIX = b"obd.sample\x1f"
_CONSTANTS = ("vin", "jurisdiction", "fleet", "vehicle_class", "signature", "frame_id")
_HEADER = struct.Struct(">HI")  # length of the JSON header, number of records
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # built once, not per batch


class ObdSamples:
    """The data-stream records of one frame (one VIN) as columns: the ``obd.sample`` event.

    High-rate telemetry travels in this shape from the gateway to the rules, the write-ahead log /
    Kafka and the warehouse; each record is one row of table ``obd_sample`` (columns: the fields of
    :class:`ObdSample`, which stays the row's contract and what :meth:`rows` gives). Built in one
    place (this constructor) from the records' times and their 37-byte bodies exactly as received,
    the records' ids (:attr:`event_ids`, :attr:`digests`) are computed from the VIN and the times
    when first read, by whoever needs them (sink, rules), not by the gateway; the physical values,
    fix validity and quality flags are decoded from the bodies on first use, all records at once (:func:`decode_records`, the same function for one
    batch and for many joined ones). The binary form (:meth:`to_bytes`) is those inputs; decoding
    it runs the same constructor.

    Columns are tuples in row order; ``ts_ms`` holds the collection times as UTC epoch
    milliseconds; the vehicle's facts, the receive time and the frame's provenance are one value
    per batch. Treat an instance as immutable.
    """

    KIND: ClassVar[str] = "obd.sample"
    ROW: ClassVar[type] = ObdSample
    __slots__ = (
        "_decoded",
        "_digests",
        "_ids",
        "_values",
        "backfilled",
        "fleet",
        "frame_id",
        "jurisdiction",
        "raw",
        "received_at",
        "record_flags",
        "signature",
        "ts_ms",
        "vehicle_class",
        "vin",
    )

    def __init__(
        self,
        *,
        vin: str,
        jurisdiction: str,
        fleet: str,
        vehicle_class: str,
        received_at: datetime,
        backfilled: bool,
        signature: str,
        frame_id: str,
        ts_ms: Sequence[int],
        record_flags: bytes,
        raw: bytes,
    ) -> None:
        k = len(ts_ms)
        if k == 0 or len(record_flags) != k or len(raw) != k * STREAM_LEN:
            raise ValidationError(
                "raw", len(raw), f"{k} records: {k} flags and {k} × {STREAM_LEN} bytes"
            )
        require_aware("received_at", received_at)
        _vin(vin)
        _one_of("signature", signature, SIGNATURE_STATES)
        self.vin = vin
        self.jurisdiction = jurisdiction
        self.fleet = fleet
        self.vehicle_class = vehicle_class
        self.received_at = received_at
        self.backfilled = backfilled
        self.signature = signature
        self.frame_id = frame_id
        self.ts_ms = ts_ms if isinstance(ts_ms, tuple) else tuple(ts_ms)
        self.record_flags = bytes(record_flags)
        self.raw = bytes(raw)
        self._decoded: tuple[Any, tuple[bool, ...], tuple[tuple[str, ...], ...]] | None = None
        self._values: tuple[tuple[float | None, ...], ...] | None = None
        self._digests: bytes | None = None  # the records' ids, computed on first use
        self._ids: tuple[str, ...] | None = None

    # ------------------------------------------------------------------ record ids
    @property
    def digests(self) -> bytes:
        """The records' ids as 16 bytes each, in row order (:func:`record_digests`): computed
        when first read (the sink, rules, dead letters), not by the gateway that builds the
        batch; the binary form does not carry them."""
        d = self._digests
        if d is None:
            d = self._digests = record_digests(self.vin, self.ts_ms)
        return d

    @property
    def event_ids(self) -> tuple[str, ...]:
        """Each record's ``obd.sample`` id (:meth:`ObdSample.make_id` of its VIN and time)."""
        ids = self._ids
        if ids is None:
            h = self.digests.hex()
            ids = self._ids = tuple([h[j : j + 32] for j in range(0, len(h), 32)])
        return ids

    # ------------------------------------------------------------------ reading
    def __len__(self) -> int:
        return len(self.ts_ms)

    @property
    def key(self) -> str:
        return self.vin

    @property
    def event_id(self) -> str:
        """The record's id for a one-record batch, else the frame's (logs, dead letters)."""
        return self.event_ids[0] if len(self.ts_ms) == 1 else self.frame_id

    @property
    def ts(self) -> datetime:
        return datetime.fromtimestamp(self.ts_ms[0] / 1000, UTC)

    @property
    def inferred(self) -> tuple[bool, ...]:
        return tuple(bool(f & RECORD_INFERRED) for f in self.record_flags)

    def _decode(self) -> tuple[Any, tuple[bool, ...], tuple[tuple[str, ...], ...]]:
        """Physical columns, fix validity and quality flags, decoded from the bodies on first use
        (the gateway and the bus carry the bodies; rules and the warehouse read the values)."""
        d = self._decoded
        if d is None:
            values, fix, flags = decode_records(self.raw, self.record_flags)
            d = self._decoded = (values, tuple(fix.tolist()), tuple(flags))
        return d

    @property
    def fix_valid(self) -> tuple[bool, ...]:
        return self._decode()[1]

    @property
    def flags(self) -> tuple[tuple[str, ...], ...]:
        """Each record's quality flags (``field:tag``, ``position:invalid_fix``, ``time_unset``)."""
        return self._decode()[2]

    @property
    def values(self) -> tuple[tuple[float | None, ...], ...]:
        """The physical columns in :data:`~obd_gateway.protocol.bodies.NUMERIC_FIELDS` order."""
        v = self._values
        if v is None:
            matrix, _fix, flags = self._decode()
            cols = [tuple(c) for c in matrix.tolist()]
            if any(flags):  # NaN (no value) → None, in the columns that have one
                import numpy as np

                for j in np.flatnonzero(np.isnan(matrix).any(axis=1)).tolist():
                    cols[j] = tuple([None if x != x else x for x in cols[j]])
            v = self._values = tuple(cols)
        return v

    def value(self, name: str) -> tuple[float | None, ...]:
        """One physical column (:data:`~obd_gateway.protocol.bodies.NUMERIC_FIELDS`)."""
        return self.values[_NUMERIC_INDEX[name]]

    def column(self, name: str) -> Sequence[Any]:
        """Column ``name`` of table ``obd_sample`` as the warehouse takes it (times as UTC epoch
        milliseconds, ``raw_hex`` as hex)."""
        k = len(self.ts_ms)
        i = _NUMERIC_INDEX.get(name)
        if i is not None:
            return self.values[i]
        if name == "ts":
            return self.ts_ms
        if name == "event_id":
            return self.event_ids
        if name == "quality_flags":
            return self.flags
        if name == "fix_valid":
            return self.fix_valid
        if name == "time_inferred":
            return self.inferred
        if name == "raw_hex":
            h = self.raw.hex()
            return [h[j : j + 2 * STREAM_LEN] for j in range(0, len(h), 2 * STREAM_LEN)]
        if name == "received_at":
            return [round(self.received_at.timestamp() * 1000)] * k
        if name == "backfilled":
            return [self.backfilled] * k
        if name in _CONSTANTS:
            return [getattr(self, name)] * k
        raise KeyError(f"obd_sample has no column {name!r}")

    @staticmethod
    def concat(batches: Sequence[ObdSamples]) -> dict[str, tuple[str, Any]]:
        """The ``obd_sample`` columns of many batches, for one insert (``streams.serde``): per
        column ``("rows", values)``, ``("batch", one value per batch)``, ``("ms", epoch ms)``,
        ``("batch_ms", one epoch ms per batch)``, ``("hex", (bytes, bytes per row))`` or
        ``("float_columns", (an (m, rows) float64 array, NaN for none; row index))``."""
        import numpy as np

        chain = itertools.chain.from_iterable
        raw = b"".join([b.raw for b in batches])
        n = len(raw) // STREAM_LEN
        rflags = b"".join([b.record_flags for b in batches])
        values, fix, flags = decode_records(raw, rflags)
        out: dict[str, tuple[str, Any]] = {
            "event_id": ("hex", (b"".join([b.digests for b in batches]), 16)),
            "ts": ("ms", np.fromiter(chain([b.ts_ms for b in batches]), np.int64, n)),
            "received_at": (
                "batch_ms",
                [round(b.received_at.timestamp() * 1000) for b in batches],
            ),
            "backfilled": ("batch", [b.backfilled for b in batches]),
            "time_inferred": (
                "rows",
                (np.frombuffer(rflags, dtype=np.uint8) & RECORD_INFERRED) != 0,
            ),
            "fix_valid": ("rows", fix),
            "quality_flags": ("rows", flags),
            "raw_hex": ("hex", (raw, STREAM_LEN)),
        }
        for name in _CONSTANTS:
            out[name] = ("batch", [getattr(b, name) for b in batches])
        for j, name in enumerate(NUMERIC_FIELDS):
            out[name] = ("float_columns", (values, j))
        return out

    @staticmethod
    def prepare(batches: Sequence[ObdSamples]) -> None:
        """Decode the records of many batches in one call (:func:`decode_records` over their
        joined bodies) and give each batch its share, so that reading their values later costs
        no decode per batch (the bus does this for what its worker takes at once)."""
        todo = [b for b in batches if b._decoded is None]
        if len(todo) < 2:
            return
        values, fix, flags = decode_records(
            b"".join([b.raw for b in todo]), b"".join([b.record_flags for b in todo])
        )
        fix_l = fix.tolist()
        start = 0
        for b in todo:
            end = start + len(b.ts_ms)
            b._decoded = (values[:, start:end], tuple(fix_l[start:end]), tuple(flags[start:end]))
            start = end

    def rows(self) -> list[ObdSample]:
        """Each record as an :class:`ObdSample` (validated: tests, dead letters, JSON)."""
        out = []
        for i, t in enumerate(self.ts_ms):
            out.append(
                ObdSample(
                    event_id=self.event_ids[i],
                    ts=datetime.fromtimestamp(t / 1000, UTC),
                    vin=self.vin,
                    jurisdiction=self.jurisdiction,
                    fleet=self.fleet,
                    vehicle_class=self.vehicle_class,
                    received_at=self.received_at,
                    backfilled=self.backfilled,
                    time_inferred=bool(self.record_flags[i] & RECORD_INFERRED),
                    signature=self.signature,
                    frame_id=self.frame_id,
                    fix_valid=self.fix_valid[i],
                    quality_flags=self.flags[i],
                    raw_hex=self.raw[i * STREAM_LEN : (i + 1) * STREAM_LEN].hex(),
                    **{n: self.values[j][i] for j, n in enumerate(NUMERIC_FIELDS)},  # type: ignore[arg-type]
                )
            )
        return out

    def slice(self, start: int, stop: int) -> ObdSamples:
        """Records ``start:stop`` as a batch of their own (isolating one record)."""
        out = object.__new__(ObdSamples)
        for name in ("vin", "jurisdiction", "fleet", "vehicle_class", "received_at"):
            setattr(out, name, getattr(self, name))
        for name in ("backfilled", "signature", "frame_id"):
            setattr(out, name, getattr(self, name))
        out.ts_ms = self.ts_ms[start:stop]
        out.record_flags = self.record_flags[start:stop]
        out.raw = self.raw[start * STREAM_LEN : stop * STREAM_LEN]
        out._values = None
        out._decoded = None
        out._ids = None if self._ids is None else self._ids[start:stop]
        out._digests = None if self._digests is None else self._digests[16 * start : 16 * stop]
        if not out.ts_ms:
            raise ValueError(f"empty slice {start}:{stop} of {len(self)} records")
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ObdSamples):
            return NotImplemented
        return self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def _identity(self) -> tuple[Any, ...]:
        return (self._header(), self.ts_ms, self.record_flags, self.raw)

    def __repr__(self) -> str:
        return f"ObdSamples(vin={self.vin!r}, records={len(self)}, frame_id={self.frame_id!r})"

    # ------------------------------------------------------------------ binary form
    def _header(self) -> tuple[Any, ...]:
        rx = self.received_at.astimezone(UTC)
        return (
            *(getattr(self, n) for n in _CONSTANTS),
            rx.isoformat(),
            self.backfilled,
        )

    def to_bytes(self) -> bytes:
        """The compact binary form: a JSON header (vehicle, provenance, receive time), the
        record count, the times (int64 ms), one flag byte per record and the 37-byte bodies as
        received (≈ 46 B a record)."""
        head = _JSON.encode(self._header()).encode()
        k = len(self.ts_ms)
        return b"".join(
            (
                _HEADER.pack(len(head), k),
                head,
                struct.pack(f">{k}q", *self.ts_ms),
                self.record_flags,
                self.raw,
            )
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> ObdSamples:
        n, k = _HEADER.unpack_from(data, 0)
        pos = _HEADER.size
        vin, jur, fleet, vclass, sig, frame_id, rx, backfilled = json.loads(data[pos : pos + n])
        pos += n
        ts = struct.unpack_from(f">{k}q", data, pos)
        pos += 8 * k
        flags = data[pos : pos + k]
        raw = data[pos + k :]
        return cls(
            vin=vin,
            jurisdiction=jur,
            fleet=fleet,
            vehicle_class=vclass,
            received_at=datetime.fromisoformat(rx),
            backfilled=bool(backfilled),
            signature=sig,
            frame_id=frame_id,
            ts_ms=ts,
            record_flags=flags,
            raw=raw,
        )

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ObdSamples:
        """A one-record batch from a row as JSON carries it (dead-letter replay)."""
        ts = row["ts"]
        ts = datetime.fromisoformat(ts) if isinstance(ts, str) else ts
        rx = row["received_at"]
        rx = datetime.fromisoformat(rx) if isinstance(rx, str) else rx
        rf = (RECORD_INFERRED if row.get("time_inferred") else 0) | (
            RECORD_TIME_UNSET if TIME_UNSET in (row.get("quality_flags") or ()) else 0
        )
        return cls(
            vin=row["vin"],
            jurisdiction=row["jurisdiction"],
            fleet=row["fleet"],
            vehicle_class=row["vehicle_class"],
            received_at=rx,
            backfilled=bool(row["backfilled"]),
            signature=row["signature"],
            frame_id=row["frame_id"],
            ts_ms=[round(ts.timestamp() * 1000)],
            record_flags=bytes((rf,)),
            raw=bytes.fromhex(row["raw_hex"]),
        )


def record_digests(vin: str, ts_ms: Sequence[int]) -> bytes:
    """The 16-byte ids of a VIN's records at ``ts_ms`` (UTC epoch ms), joined: the bytes of
    :meth:`ObdSample.make_id` (``deterministic_id`` over the kind, the VIN, the time as
    ``{seconds}.{microseconds:06d}`` and the info type 0x02), one BLAKE2b call per record."""
    prefix = _SAMPLE_PREFIX + vin.encode() + b"\x1f"
    blake2b = hashlib.blake2b
    return b"".join(
        [
            blake2b(
                prefix + b"%d.%06d\x1f2" % (t // 1000, t % 1000 * 1000), digest_size=16
            ).digest()
            for t in ts_ms
        ]
    )


def decode_records(raw: bytes, record_flags: bytes) -> tuple[Any, Any, list[tuple[str, ...]]]:
    """The records of one batch or of many batches joined, decoded at once: ``(values, fix_valid,
    flags)`` with ``values`` the ``(18, k)`` physical columns (NaN for no value, see
    :func:`~obd_gateway.protocol.bodies.physical_columns`), ``fix_valid`` a bool array and
    ``flags`` each record's quality flags (fields, then ``position:invalid_fix``, then
    ``time_unset``; ``()`` for a clean record)."""
    import numpy as np

    values, bad, status = physical_columns(raw)
    k = len(record_flags)
    fix = (status & 0x01) == 0
    flags: list[tuple[str, ...]] = [()] * k
    unset = record_flags.translate(_UNSET_BIT).count(0) != k
    if not bad and not unset and fix.all():
        return values, fix, flags
    odd = ~fix
    if unset:
        odd |= (np.frombuffer(record_flags, dtype=np.uint8) & RECORD_TIME_UNSET) != 0
    more: dict[int, list[str]] = dict(bad)
    for i in np.flatnonzero(odd).tolist():
        more.setdefault(i, [])
    for i, fl in more.items():
        if not fix[i]:
            fl.append("position:invalid_fix")
        if record_flags[i] & RECORD_TIME_UNSET:
            fl.append(TIME_UNSET)
        flags[i] = tuple(fl)
    return values, fix, flags


_NUMERIC_INDEX = {n: i for i, n in enumerate(NUMERIC_FIELDS)}
_UNSET_BIT = bytes(b & RECORD_TIME_UNSET for b in range(256))  # bytes.translate table
_POS_STATUS_OFFSET = 24  # byte of the position status in a data-stream body (bodies.py)

EVENT_TYPES = (ObdFrame, ObdSamples, ObdInfoSnapshot, ObdStatus, ObdQuarantine)


def examples() -> list[object]:
    """One realistic instance of each event class (contract test, docs)."""
    from datetime import UTC

    vin = "LZYCHB3A3PH000001"
    ts = datetime(2026, 11, 20, 1, 30, 5, tzinfo=UTC)
    rx = datetime(2026, 11, 20, 1, 30, 6, 250000, tzinfo=UTC)
    sha = "5" * 64
    frame_id = ObdFrame.make_id(vin, sha)
    return [
        ObdFrame(
            event_id=frame_id,
            ts=ts,
            vin=vin,
            received_at=rx,
            command=2,
            header_variant="terminal",
            layout="hj1239",
            flag=1,
            encryption=1,
            data_length=448,
            frame_sha256=sha,
            decode_status="ok",
            signature="absent",
            backfilled=False,
            n_samples=10,
            n_infos=0,
            jurisdiction="qingpu",
            fleet="qingpu-bus",
            peer="127.0.0.1:50312",
            detail="",
        ),
        ObdSamples(
            vin=vin,
            jurisdiction="qingpu",
            fleet="qingpu-bus",
            vehicle_class="bus",
            received_at=rx,
            backfilled=False,
            signature="absent",
            frame_id=frame_id,
            ts_ms=[round(ts.timestamp() * 1000) + 1000 * i for i in range(3)],
            record_flags=bytes(3),
            raw=b"".join(
                DataStream.from_physical(
                    speed_kmh=32.5 + i,
                    baro_kpa=101.0,
                    torque_pct=38.0,
                    friction_pct=9.0,
                    rpm=1562.5,
                    fuel_lph=18.4,
                    nox_up_ppm=612.3,
                    nox_down_ppm=41.75,
                    reagent_pct=63.2,
                    air_kgh=512.3,
                    scr_in_c=301.25,
                    scr_out_c=293.5,
                    dpf_dp_kpa=3.1,
                    coolant_c=86.0,
                    fuel_level_pct=None if i == 2 else 54.8,
                    lon=121.071234,
                    lat=31.118765,
                    odometer_km=84512.3,
                ).encode()
                for i in range(3)
            ),
        ),
        ObdInfoSnapshot(
            event_id=ObdInfoSnapshot.make_id(vin, ts),
            ts=ts,
            vin=vin,
            jurisdiction="qingpu",
            fleet="qingpu-bus",
            received_at=rx,
            backfilled=False,
            frame_id=frame_id,
            obd_protocol=2,
            mil_on=True,
            diag_support=0x1C03,
            diag_ready=0x1C03,
            obd_vin=vin,
            calibration_id="YC6J245-60",
            cvn="7B486F9D",
            iupr=(0,) * 18,
            dtc_count=1,
            dtcs=("0F2D0300",),
            raw_hex="00" * 100,
        ),
        ObdStatus(
            event_id=ObdStatus.make_id(vin, ts, "login", 3),
            ts=ts,
            vin=vin,
            jurisdiction="qingpu",
            fleet="qingpu-bus",
            status="login",
            received_at=rx,
            login_serial=3,
            iccid="89860616010054587601",
            clock_offset_s=1.25,
            peer="127.0.0.1:50312",
            detail_json="{}",
        ),
        ObdQuarantine(
            event_id=ObdQuarantine.make_id("LUNKNOWN000000001", sha),
            ts=rx,
            vin="LUNKNOWN000000001",
            reason="unknown_vin",
            command=2,
            peer="127.0.0.1:50313",
            frame_sha256=sha,
            raw_hex="2323",
        ),
    ]


def sample_rows(events: Iterable[object]) -> list[ObdSample]:
    """The ``obd.sample`` rows of the batches among ``events``, in order (tools, tests)."""
    return [r for e in events if isinstance(e, ObdSamples) for r in e.rows()]

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

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, ClassVar

from core.errors import ValidationError
from core.events import deterministic_id, require_aware, require_range

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

    @classmethod
    def trusted(cls, *values: Any) -> ObdFrame:
        """Build from all field values in field order without ``__post_init__``: for the gateway,
        whose values come from a checked frame (see :func:`_trusted_builder`)."""
        return _build_frame(values)

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

    @classmethod
    def trusted(cls, *values: Any) -> ObdSample:
        """Build from all field values in field order without ``__post_init__``: for the gateway,
        whose values come from :func:`obd_gateway.protocol.bodies.physical_row` and are within
        :data:`SAMPLE_RANGES` by construction (checked in the unit tests)."""
        obj = _SampleSlots(*values)
        obj.__class__ = cls  # type: ignore[assignment]  # same slots: an ordinary ObdSample
        return obj  # type: ignore[return-value]

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


EVENT_TYPES = (ObdFrame, ObdSample, ObdInfoSnapshot, ObdStatus, ObdQuarantine)


# ---------------------------------------------------------------------------- trusted builders
#
# A frozen dataclass sets each field through ``object.__setattr__`` and then validates: about
# 6 µs for the 32 fields of a sample, i.e. most of the cost of a record. The gateway's values are
# valid by construction, so it fills a plain class with the very same slots (plain attribute
# stores) and then retypes the object; the result is an ordinary, immutable instance of the event
# class (same type, equality, hash, pickling), built in well under 1 µs.


class _SampleSlots:
    __slots__ = ObdSample.__slots__

    def __init__(
        self,
        event_id: str,
        ts: datetime,
        vin: str,
        jurisdiction: str,
        fleet: str,
        vehicle_class: str,
        received_at: datetime,
        backfilled: bool,
        time_inferred: bool,
        signature: str,
        frame_id: str,
        speed_kmh: float | None,
        baro_kpa: float | None,
        torque_pct: float | None,
        friction_pct: float | None,
        rpm: float | None,
        fuel_lph: float | None,
        nox_up_ppm: float | None,
        nox_down_ppm: float | None,
        reagent_pct: float | None,
        air_kgh: float | None,
        scr_in_c: float | None,
        scr_out_c: float | None,
        dpf_dp_kpa: float | None,
        coolant_c: float | None,
        fuel_level_pct: float | None,
        fix_valid: bool,
        lon: float | None,
        lat: float | None,
        odometer_km: float | None,
        quality_flags: tuple[str, ...],
        raw_hex: str,
    ) -> None:
        self.event_id = event_id
        self.ts = ts
        self.vin = vin
        self.jurisdiction = jurisdiction
        self.fleet = fleet
        self.vehicle_class = vehicle_class
        self.received_at = received_at
        self.backfilled = backfilled
        self.time_inferred = time_inferred
        self.signature = signature
        self.frame_id = frame_id
        self.speed_kmh = speed_kmh
        self.baro_kpa = baro_kpa
        self.torque_pct = torque_pct
        self.friction_pct = friction_pct
        self.rpm = rpm
        self.fuel_lph = fuel_lph
        self.nox_up_ppm = nox_up_ppm
        self.nox_down_ppm = nox_down_ppm
        self.reagent_pct = reagent_pct
        self.air_kgh = air_kgh
        self.scr_in_c = scr_in_c
        self.scr_out_c = scr_out_c
        self.dpf_dp_kpa = dpf_dp_kpa
        self.coolant_c = coolant_c
        self.fuel_level_pct = fuel_level_pct
        self.fix_valid = fix_valid
        self.lon = lon
        self.lat = lat
        self.odometer_km = odometer_km
        self.quality_flags = quality_flags
        self.raw_hex = raw_hex


class _FrameSlots:
    __slots__ = ObdFrame.__slots__


_FRAME_FIELDS = tuple(f.name for f in fields(ObdFrame))


def _build_frame(values: tuple[Any, ...]) -> ObdFrame:
    if len(values) != len(_FRAME_FIELDS):
        raise TypeError(f"ObdFrame.trusted: expected {len(_FRAME_FIELDS)} values")
    obj = _FrameSlots()
    for name, value in zip(_FRAME_FIELDS, values, strict=True):
        setattr(obj, name, value)
    obj.__class__ = ObdFrame  # type: ignore[assignment]
    return obj  # type: ignore[return-value]


def _check_builders() -> None:
    """The slot twins must mirror the event classes exactly (a new field must be added here)."""
    sample_fields = tuple(f.name for f in fields(ObdSample))
    code = _SampleSlots.__init__.__code__
    init_args = code.co_varnames[1 : code.co_argcount]
    if _SampleSlots.__slots__ != sample_fields or init_args != sample_fields:
        raise AssertionError("events._SampleSlots is out of date with ObdSample")
    if _FrameSlots.__slots__ != _FRAME_FIELDS:
        raise AssertionError("events._FrameSlots is out of date with ObdFrame")


_check_builders()


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
        ObdSample(
            event_id=ObdSample.make_id(vin, ts),
            ts=ts,
            vin=vin,
            jurisdiction="qingpu",
            fleet="qingpu-bus",
            vehicle_class="bus",
            received_at=rx,
            backfilled=False,
            time_inferred=False,
            signature="absent",
            frame_id=frame_id,
            speed_kmh=32.5,
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
            fuel_level_pct=54.8,
            fix_valid=True,
            lon=121.071234,
            lat=31.118765,
            odometer_km=84512.3,
            quality_flags=(),
            raw_hex="20" * 37,
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

"""Vapour-recovery events: what the HJ 212 gateway publishes and what the compliance processors emit.

One class, one topic ``emw.<KIND>``, one table ``<KIND with dots as underscores>`` (docs/CONTRACTS.md).
Event ids are deterministic over the fields that identify the fact (never ingest time), so a packet
re-sent after a lost answer is stored once. Times are aware; devices send Beijing time.

Gateway output: ``VaporPacket`` (every accepted packet, raw text + SHA-256), ``Fuellings`` (a
packet's fuellings as columns, one row per nozzle: table rows are ``Fuelling``; A/L as a ratio with
the source unit kept), ``StationReading`` (pressures,
temperatures, concentrations), ``DeviceAlarm`` (the device's own flags, kept only to be compared with
recomputed states), ``SensorReading`` (ambient / groundwater), ``DepotReading``.
Processor output: ``NozzleDay`` (daily nozzle compliance), ``StationState`` (daily / on-change station
states) and ``core.exceedance.Exceedance``.

Known limit: validation ranges are plausibility bounds for storage, not compliance limits.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar

from core.errors import ValidationError
from core.events import deterministic_id, require_aware, require_range

AL_UNITS = ("ratio", "percent", "fraction")
UNIT_KINDS = ("station", "depot", "sensor", "unknown")
ALARM_CATEGORIES = (
    "al",
    "tightness",
    "liquid_resistance",
    "tank_pressure",
    "zero_pressure",
    "pv",
    "processing",
)
DAY_STATES = ("pass", "exceed", "pooling", "idle", "insufficient")
LEVELS = ("normal", "warning", "alarm")
ISD_STATES = ("pass", "fail", "insufficient", "off")


_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _nonempty(name: str, value: str) -> None:
    if not value:
        raise ValidationError(name, value, "a non-empty string")


@dataclass(frozen=True, slots=True)
class VaporPacket:
    """One accepted HJ 212 packet (length and CRC checked), kept as evidence."""

    KIND: ClassVar[str] = "vapor.packet"

    event_id: str
    ts: datetime  # DataTime, else QN time, else receipt time
    received_at: datetime
    mn: str
    unit_id: str
    unit_kind: str
    jurisdiction: str
    st: str
    cn: str
    qn: str
    flag: int | None
    version: int | None
    code_map: str
    crc_variant: str
    raw_sha256: str
    raw: str
    length: int
    records: int  # domain events derived from this packet
    problems: tuple[str, ...]

    def __post_init__(self) -> None:
        require_aware("ts", self.ts)
        require_aware("received_at", self.received_at)
        _nonempty("mn", self.mn)
        if self.unit_kind not in UNIT_KINDS:
            raise ValidationError("unit_kind", self.unit_kind, f"one of {', '.join(UNIT_KINDS)}")
        require_range("length", self.length, 0, 9999, "bytes")
        if len(self.raw_sha256) != 64:
            raise ValidationError("raw_sha256", self.raw_sha256, "64 hex digits")

    @property
    def key(self) -> str:
        return self.unit_id or self.mn

    @staticmethod
    def make_id(mn: str, raw_sha256: str) -> str:
        return deterministic_id(VaporPacket.KIND, mn, raw_sha256)


# Plausibility ranges of a fuelling's values (field: (lo, hi, unit)), checked per row.
FUELLING_RANGES: dict[str, tuple[float, float, str]] = {
    "al": (0, 3, "ratio"),
    "fuel_volume_l": (0, 2000, "L"),
    "vapour_volume_l": (0, 6000, "L"),
    "fuel_flow_lpm": (0, 300, "L/min"),
    "vapour_flow_lpm": (0, 900, "L/min"),
    "liquid_resistance_pa": (-5000, 5000, "Pa"),
}
FUELLING_VALUES = tuple(FUELLING_RANGES)  # the per-row float columns, in table order
_FUELLING_BOUNDS = tuple((lo, hi) for lo, hi, _ in FUELLING_RANGES.values())


@dataclass(frozen=True, slots=True)
class Fuelling:
    """One fuelling at one nozzle as reported by the station controller: one row of table
    ``vapor_fuelling``. Travels in :class:`Fuellings` (one packet's rows as columns)."""

    KIND: ClassVar[str] = "vapor.fuelling"

    event_id: str
    ts: datetime
    station_id: str
    nozzle: int
    jurisdiction: str
    mn: str
    al: float | None  # ratio (vapour volume / fuel volume)
    al_source_unit: str
    fuel_volume_l: float | None
    vapour_volume_l: float | None
    fuel_flow_lpm: float | None
    vapour_flow_lpm: float | None
    liquid_resistance_pa: float | None
    code_map: str
    packet_id: str

    def __post_init__(self) -> None:
        require_aware("ts", self.ts)
        _nonempty("station_id", self.station_id)
        require_range("nozzle", self.nozzle, 1, 99)
        require_range("al", self.al, 0, 3, "ratio")
        if self.al_source_unit not in AL_UNITS:
            raise ValidationError("al_source_unit", self.al_source_unit, f"one of {AL_UNITS}")
        for name in FUELLING_VALUES[1:]:
            lo, hi, unit = FUELLING_RANGES[name]
            require_range(name, getattr(self, name), lo, hi, unit)

    @property
    def key(self) -> str:
        return f"{self.station_id}:N{self.nozzle:02d}"

    @staticmethod
    def make_id(station_id: str, nozzle: int, ts: datetime) -> str:
        return deterministic_id(Fuelling.KIND, station_id, nozzle, ts)


_FUEL_HEAD = struct.Struct(">HI")  # length of the JSON header, number of rows
_FUEL_CONSTANTS = ("station_id", "jurisdiction", "mn", "al_source_unit", "code_map", "packet_id")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_NAN = float("nan")


def _epoch_ms(ts: datetime) -> int:
    """Epoch milliseconds as the warehouse stores a time (``DateTime64(3)``: truncated)."""
    return (ts - _EPOCH) // _MS


class Fuellings:
    """The fuellings of one HJ 212 packet (one station, one data time) as columns: the
    ``vapor.fuelling`` event.

    Each row is one row of table ``vapor_fuelling`` (columns: the fields of :class:`Fuelling`, which
    stays the row's contract and what :meth:`rows` gives). Built in one place (this constructor),
    which checks every row as :class:`Fuelling` does (same fields, same order, same message) and
    computes the rows' ids (``Fuelling.make_id``). The packet's facts (station, jurisdiction, MN,
    event time, A/L source unit, code map, packet id) are one value per batch; ``nozzle`` and the
    values (:data:`FUELLING_VALUES`) are tuples in row order, ``None`` for a value not sent.
    Keyed by the station (the device), so one station's packets stay in order; the nozzle
    processor keeps each row's nozzle under its own state key (``nozzle_key``). The binary form
    (:meth:`to_bytes`, the bus and WAL form) is these inputs; decoding it runs this constructor.
    Treat an instance as immutable.
    """

    KIND: ClassVar[str] = "vapor.fuelling"
    ROW: ClassVar[type] = Fuelling
    __slots__ = (
        "al",
        "al_source_unit",
        "code_map",
        "event_ids",
        "fuel_flow_lpm",
        "fuel_volume_l",
        "jurisdiction",
        "liquid_resistance_pa",
        "mn",
        "nozzle",
        "packet_id",
        "station_id",
        "ts",
        "vapour_flow_lpm",
        "vapour_volume_l",
    )

    def __init__(
        self,
        *,
        station_id: str,
        jurisdiction: str,
        mn: str,
        ts: datetime,
        al_source_unit: str,
        code_map: str,
        packet_id: str,
        nozzle: Sequence[int],
        al: Sequence[float | None],
        fuel_volume_l: Sequence[float | None],
        vapour_volume_l: Sequence[float | None],
        fuel_flow_lpm: Sequence[float | None],
        vapour_flow_lpm: Sequence[float | None],
        liquid_resistance_pa: Sequence[float | None],
    ) -> None:
        cols = (
            tuple(al),
            tuple(fuel_volume_l),
            tuple(vapour_volume_l),
            tuple(fuel_flow_lpm),
            tuple(vapour_flow_lpm),
            tuple(liquid_resistance_pa),
        )
        nozzles = tuple(nozzle)
        k = len(nozzles)
        if (
            k == 0
            or len(cols[0]) != k
            or len(cols[1]) != k
            or len(cols[2]) != k
            or len(cols[3]) != k
            or len(cols[4]) != k
            or len(cols[5]) != k
        ):
            raise ValidationError("nozzle", k, "one or more rows, every column as long")
        if ts.__class__ is not datetime or ts.tzinfo is None:
            require_aware("ts", ts)
        if not station_id:
            _nonempty("station_id", station_id)
        ok = al_source_unit in AL_UNITS
        for n in nozzles:
            if not 1 <= n <= 99:
                ok = False
        for col, (lo, hi) in zip(cols, _FUELLING_BOUNDS, strict=True):
            for v in col:
                if v is not None and not lo <= v <= hi:  # NaN fails it too
                    ok = False
        if not ok:  # row by row, fields in Fuelling's order: the same first error
            self._refuse(nozzles, cols, al_source_unit)
        self.station_id = station_id
        self.jurisdiction = jurisdiction
        self.mn = mn
        self.ts = ts
        self.al_source_unit = al_source_unit
        self.code_map = code_map
        self.packet_id = packet_id
        self.nozzle = nozzles
        (
            self.al,
            self.fuel_volume_l,
            self.vapour_volume_l,
            self.fuel_flow_lpm,
            self.vapour_flow_lpm,
            self.liquid_resistance_pa,
        ) = cols
        # the bytes Fuelling.make_id hashes (``_part`` of a time is f"{timestamp:.6f}")
        prefix = f"{Fuelling.KIND}\x1f{station_id}\x1f"
        tail = f"\x1f{ts.timestamp():.6f}"
        blake2b = hashlib.blake2b
        self.event_ids: tuple[str, ...]
        if k == 1:
            self.event_ids = (
                blake2b(f"{prefix}{nozzles[0]}{tail}".encode(), digest_size=16).hexdigest(),
            )
        else:
            self.event_ids = tuple(
                [
                    blake2b(f"{prefix}{n}{tail}".encode(), digest_size=16).hexdigest()
                    for n in nozzles
                ]
            )

    @staticmethod
    def _refuse(
        nozzles: tuple[int, ...], cols: tuple[tuple[float | None, ...], ...], al_source_unit: str
    ) -> None:
        """Raise the error :class:`Fuelling` raises for the first bad row."""
        for i, n in enumerate(nozzles):
            require_range("nozzle", n, 1, 99)
            lo, hi, unit = FUELLING_RANGES["al"]
            require_range("al", cols[0][i], lo, hi, unit)
            if al_source_unit not in AL_UNITS:
                raise ValidationError("al_source_unit", al_source_unit, f"one of {AL_UNITS}")
            for j in range(1, 6):
                lo, hi, unit = FUELLING_RANGES[FUELLING_VALUES[j]]
                require_range(FUELLING_VALUES[j], cols[j][i], lo, hi, unit)
        raise AssertionError("a bad fuelling row without an error")  # pragma: no cover

    # ------------------------------------------------------------------ reading
    def __len__(self) -> int:
        return len(self.nozzle)

    @property
    def key(self) -> str:
        return self.station_id

    @property
    def event_id(self) -> str:
        """The row's id for a one-row batch, else the packet's (logs, dead letters)."""
        return self.event_ids[0] if len(self.nozzle) == 1 else self.packet_id

    def nozzle_key(self, i: int) -> str:
        """Row ``i``'s nozzle as a subject (``Fuelling.key``: ``station:Nnn``)."""
        return f"{self.station_id}:N{self.nozzle[i]:02d}"

    def column(self, name: str) -> Sequence[Any]:
        """Column ``name`` of table ``vapor_fuelling`` (``ts`` as UTC epoch milliseconds)."""
        k = len(self.nozzle)
        if name == "event_id":
            return self.event_ids
        if name == "ts":
            return [_epoch_ms(self.ts)] * k
        if name == "nozzle" or name in FUELLING_RANGES:
            return getattr(self, name)  # type: ignore[no-any-return]
        if name in _FUEL_CONSTANTS:
            return [getattr(self, name)] * k
        raise KeyError(f"vapor_fuelling has no column {name!r}")

    @staticmethod
    def concat(batches: Sequence[Fuellings]) -> dict[str, tuple[str, Any]]:
        """The ``vapor_fuelling`` columns of many batches, for one insert (``streams.serde``):
        ``("rows", values)``, ``("batch", one value per batch)`` or ``("batch_ms", epoch ms)``."""
        chain = itertools.chain.from_iterable
        out: dict[str, tuple[str, Any]] = {
            "event_id": ("rows", list(chain([b.event_ids for b in batches]))),
            "ts": ("batch_ms", [_epoch_ms(b.ts) for b in batches]),
            "nozzle": ("rows", list(chain([b.nozzle for b in batches]))),
        }
        for name in FUELLING_VALUES:
            out[name] = ("rows", list(chain([getattr(b, name) for b in batches])))
        for name in _FUEL_CONSTANTS:
            out[name] = ("batch", [getattr(b, name) for b in batches])
        return out

    def rows(self) -> list[Fuelling]:
        """Each row as a :class:`Fuelling` (tests, dead letters, JSON)."""
        return [
            Fuelling(
                event_id=self.event_ids[i],
                ts=self.ts,
                station_id=self.station_id,
                nozzle=self.nozzle[i],
                jurisdiction=self.jurisdiction,
                mn=self.mn,
                al=self.al[i],
                al_source_unit=self.al_source_unit,
                fuel_volume_l=self.fuel_volume_l[i],
                vapour_volume_l=self.vapour_volume_l[i],
                fuel_flow_lpm=self.fuel_flow_lpm[i],
                vapour_flow_lpm=self.vapour_flow_lpm[i],
                liquid_resistance_pa=self.liquid_resistance_pa[i],
                code_map=self.code_map,
                packet_id=self.packet_id,
            )
            for i in range(len(self.nozzle))
        ]

    def slice(self, start: int, stop: int) -> Fuellings:
        """Rows ``start:stop`` as a batch of their own (isolating one row)."""
        if not 0 <= start < stop <= len(self.nozzle):
            raise ValueError(f"empty slice {start}:{stop} of {len(self)} rows")
        return Fuellings(
            **{n: getattr(self, n) for n in _FUEL_CONSTANTS},
            ts=self.ts,
            nozzle=self.nozzle[start:stop],
            **{n: getattr(self, n)[start:stop] for n in FUELLING_VALUES},
        )

    def _identity(self) -> tuple[Any, ...]:
        return (
            *(getattr(self, n) for n in _FUEL_CONSTANTS),
            self.ts,
            self.nozzle,
            *(getattr(self, n) for n in FUELLING_VALUES),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Fuellings):
            return NotImplemented
        return self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def __repr__(self) -> str:
        return (
            f"Fuellings(station_id={self.station_id!r}, ts={self.ts.isoformat()!r}, "
            f"nozzles={list(self.nozzle)!r})"
        )

    # ------------------------------------------------------------------ binary form
    def to_bytes(self) -> bytes:
        """The compact binary form: a JSON header (the packet's facts, the event time in ISO
        8601 with its offset), the row count, one byte per row for the nozzle and the six values
        as big-endian float64, column after column (NaN for a value not sent: a stored value is
        never NaN): ≈ 49 B a row after the header."""
        head = _JSON.encode(
            [*(getattr(self, n) for n in _FUEL_CONSTANTS), self.ts.isoformat()]
        ).encode()
        k = len(self.nozzle)
        values = [_NAN if v is None else v for n in FUELLING_VALUES for v in getattr(self, n)]
        return b"".join(
            (
                _FUEL_HEAD.pack(len(head), k),
                head,
                bytes(self.nozzle),
                struct.pack(f">{6 * k}d", *values),
            )
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Fuellings:
        n, k = _FUEL_HEAD.unpack_from(data, 0)
        pos = _FUEL_HEAD.size
        station_id, jur, mn, al_unit, code_map, packet_id, ts = json.loads(data[pos : pos + n])
        pos += n
        nozzle = tuple(data[pos : pos + k])
        flat = [None if v != v else v for v in struct.unpack_from(f">{6 * k}d", data, pos + k)]
        cols = {name: flat[j * k : (j + 1) * k] for j, name in enumerate(FUELLING_VALUES)}
        return cls(
            station_id=station_id,
            jurisdiction=jur,
            mn=mn,
            ts=datetime.fromisoformat(ts),
            al_source_unit=al_unit,
            code_map=code_map,
            packet_id=packet_id,
            nozzle=nozzle,
            **cols,
        )

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Fuellings:
        """A one-row batch from a row as JSON carries it (dead-letter replay, tests)."""
        ts = row["ts"]
        return cls(
            station_id=row["station_id"],
            jurisdiction=row["jurisdiction"],
            mn=row["mn"],
            ts=datetime.fromisoformat(ts) if isinstance(ts, str) else ts,
            al_source_unit=row["al_source_unit"],
            code_map=row["code_map"],
            packet_id=row["packet_id"],
            nozzle=(int(row["nozzle"]),),
            **{n: (None if row.get(n) is None else float(row[n]),) for n in FUELLING_VALUES},
        )


@dataclass(frozen=True, slots=True)
class StationReading:
    """Station-level values: tank and liquid-resistance pressure, temperatures, concentrations."""

    KIND: ClassVar[str] = "vapor.station_reading"

    event_id: str
    ts: datetime
    station_id: str
    jurisdiction: str
    mn: str
    tank_pressure_pa: float | None
    lr_pressure_pa: float | None
    vapour_temp_c: float | None
    unloading_conc: float | None
    proc_outlet_g_m3: float | None
    al_unattributed: float | None
    pv_positive_pa: float | None
    pv_negative_pa: float | None
    code_map: str
    packet_id: str

    def __post_init__(self) -> None:
        require_aware("ts", self.ts)
        _nonempty("station_id", self.station_id)
        require_range("tank_pressure_pa", self.tank_pressure_pa, -20000, 20000, "Pa")
        require_range("lr_pressure_pa", self.lr_pressure_pa, -20000, 20000, "Pa")
        require_range("vapour_temp_c", self.vapour_temp_c, -50, 100, "degC")
        require_range("proc_outlet_g_m3", self.proc_outlet_g_m3, 0, 2000, "g/m3")
        require_range("al_unattributed", self.al_unattributed, 0, 3, "ratio")

    @property
    def key(self) -> str:
        return self.station_id

    @staticmethod
    def make_id(station_id: str, ts: datetime, cn: str) -> str:
        """One reading per station, data time and command: a settings packet (CN 2031) and an
        environment packet (CN 2021) of the same DataTime are two readings, not one."""
        return deterministic_id(StationReading.KIND, station_id, ts, cn)


@dataclass(frozen=True, slots=True)
class DeviceAlarm:
    """An alarm flag as the device reported it (0 normal, 1 warning, 2 alarm, -1 'N' no data)."""

    KIND: ClassVar[str] = "vapor.device_alarm"

    event_id: str
    ts: datetime
    station_id: str
    nozzle: int  # 0 = station-level flag
    jurisdiction: str
    mn: str
    category: str
    state: int
    raw_code: str
    code_map: str

    def __post_init__(self) -> None:
        require_aware("ts", self.ts)
        _nonempty("station_id", self.station_id)
        require_range("nozzle", self.nozzle, 0, 99)
        if self.category not in ALARM_CATEGORIES:
            raise ValidationError(
                "category", self.category, f"one of {', '.join(ALARM_CATEGORIES)}"
            )
        require_range("state", self.state, -1, 2)

    @property
    def key(self) -> str:
        """The station (the device), as for its packet's fuellings: one partition per station."""
        return self.station_id

    @property
    def nozzle_key(self) -> str:
        """The flag's subject: ``station:Nnn`` for a nozzle's, the station for a station-level one."""
        return f"{self.station_id}:N{self.nozzle:02d}" if self.nozzle else self.station_id

    @staticmethod
    def make_id(station_id: str, nozzle: int, category: str, ts: datetime) -> str:
        return deterministic_id(DeviceAlarm.KIND, station_id, nozzle, category, ts)


@dataclass(frozen=True, slots=True)
class SensorReading:
    """An ambient (VOCs/NOx) or groundwater (VOCs/petroleum) sensor value."""

    KIND: ClassVar[str] = "vapor.sensor_reading"

    event_id: str
    ts: datetime
    sensor_id: str
    sensor_kind: str
    station_id: str
    jurisdiction: str
    mn: str
    quantity: str
    value: float
    unit: str
    data_flag: str | None
    packet_id: str

    def __post_init__(self) -> None:
        require_aware("ts", self.ts)
        _nonempty("sensor_id", self.sensor_id)
        _nonempty("quantity", self.quantity)
        if self.sensor_kind not in ("ambient", "groundwater"):
            raise ValidationError("sensor_kind", self.sensor_kind, "ambient or groundwater")
        require_range("value", self.value, -1e6, 1e6, self.unit)

    @property
    def key(self) -> str:
        return self.sensor_id

    @staticmethod
    def make_id(sensor_id: str, quantity: str, ts: datetime) -> str:
        return deterministic_id(SensorReading.KIND, sensor_id, quantity, ts)


@dataclass(frozen=True, slots=True)
class DepotReading:
    """Oil-depot processing unit outlet, efficiency and tank-truck compartment pressure."""

    KIND: ClassVar[str] = "vapor.depot_reading"

    event_id: str
    ts: datetime
    depot_id: str
    jurisdiction: str
    mn: str
    outlet_g_m3: float | None
    efficiency_pct: float | None
    truck_pressure_kpa: float | None
    packet_id: str

    def __post_init__(self) -> None:
        require_aware("ts", self.ts)
        _nonempty("depot_id", self.depot_id)
        require_range("outlet_g_m3", self.outlet_g_m3, 0, 2000, "g/m3")
        require_range("efficiency_pct", self.efficiency_pct, 0, 100, "%")
        require_range("truck_pressure_kpa", self.truck_pressure_kpa, -100, 100, "kPa")

    @property
    def key(self) -> str:
        return self.depot_id

    @staticmethod
    def make_id(depot_id: str, ts: datetime) -> str:
        return deterministic_id(DepotReading.KIND, depot_id, ts)


@dataclass(frozen=True, slots=True)
class NozzleDay:
    """Daily A/L compliance of one nozzle (Beijing day), recomputed from the fuellings."""

    KIND: ClassVar[str] = "vapor.nozzle_day"

    event_id: str
    ts: datetime  # Beijing midnight starting the day
    day: date
    station_id: str
    nozzle: int
    jurisdiction: str
    fuellings: int
    valid: int
    under_min: int
    slow_dispenser: int
    pump_fault: int
    slow_vapour: int
    in_band: int
    above: int
    below: int
    mean_al: float | None
    pass_rate: float | None  # of the (possibly pooled) judgement this day closed, else None
    pooled_valid: int
    state: str
    streak: int  # consecutive exceedance days up to and including this day
    level: str
    isd_daily: str
    isd_weekly: str
    ruleset_version: str

    def __post_init__(self) -> None:
        require_aware("ts", self.ts)
        require_range("nozzle", self.nozzle, 1, 99)
        require_range("pass_rate", self.pass_rate, 0, 1, "fraction")
        if self.state not in DAY_STATES:
            raise ValidationError("state", self.state, f"one of {', '.join(DAY_STATES)}")
        if self.level not in LEVELS:
            raise ValidationError("level", self.level, f"one of {', '.join(LEVELS)}")
        if self.isd_daily not in ISD_STATES or self.isd_weekly not in ISD_STATES:
            raise ValidationError("isd_daily", self.isd_daily, f"one of {', '.join(ISD_STATES)}")
        for name in ("fuellings", "valid", "in_band", "streak"):
            require_range(name, getattr(self, name), 0, 1e6, "count")

    @property
    def key(self) -> str:
        return f"{self.station_id}:N{self.nozzle:02d}"

    @staticmethod
    def make_id(station_id: str, nozzle: int, day: date) -> str:
        return deterministic_id(NozzleDay.KIND, station_id, nozzle, day)


@dataclass(frozen=True, slots=True)
class StationState:
    """A station-level state for one category on one day (zero pressure, P/V, processing unit)."""

    KIND: ClassVar[str] = "vapor.station_state"

    event_id: str
    ts: datetime
    day: date
    station_id: str
    jurisdiction: str
    category: str
    level: str
    value: float | None
    unit: str
    streak: int
    device_state: int | None  # the device's own flag that day, for comparison (-1..2)
    ruleset_version: str

    def __post_init__(self) -> None:
        require_aware("ts", self.ts)
        _nonempty("station_id", self.station_id)
        if self.level not in LEVELS:
            raise ValidationError("level", self.level, f"one of {', '.join(LEVELS)}")
        require_range("streak", self.streak, 0, 1e6, "days")

    @property
    def key(self) -> str:
        return self.station_id

    @staticmethod
    def make_id(station_id: str, category: str, day: date) -> str:
        return deterministic_id(StationState.KIND, station_id, category, day)


EVENT_CLASSES = (
    VaporPacket,
    Fuellings,
    StationReading,
    DeviceAlarm,
    SensorReading,
    DepotReading,
    NozzleDay,
    StationState,
)


def examples() -> list[Any]:
    """One realistic instance of each event class (used by the contract test)."""
    from core.timeutil import beijing

    ts = beijing(2026, 11, 23, 10, 15, 30)
    day = ts.date()
    pid = VaporPacket.make_id("3101ST030581E664B3C4B502", "0" * 64)
    common = {
        "station_id": "QP-ST-0001",
        "jurisdiction": "qingpu",
        "mn": "3101ST030581E664B3C4B502",
    }
    return [
        VaporPacket(
            event_id=pid,
            ts=ts,
            received_at=ts,
            mn=common["mn"],
            unit_id="QP-ST-0001",
            unit_kind="station",
            jurisdiction="qingpu",
            st="61",
            cn="2011",
            qn="20261123101530000",
            flag=None,
            version=None,
            code_map="guangzhou",
            crc_variant="hj212",
            raw_sha256="0" * 64,
            raw="##0120QN=20261123101530000;MN=…&&ABCD",
            length=120,
            records=1,
            problems=(),
        ),
        Fuellings(
            ts=ts,
            al_source_unit="ratio",
            code_map="guangzhou",
            packet_id=pid,
            nozzle=(3, 7),
            al=(1.08, None),
            fuel_volume_l=(31.27, 4.2),
            vapour_volume_l=(33.77, None),
            fuel_flow_lpm=(35.2, 12.5),
            vapour_flow_lpm=(38.0, None),
            liquid_resistance_pa=(42.0, None),
            **common,
        ),
        StationReading(
            event_id=StationReading.make_id("QP-ST-0001", ts, "2011"),
            ts=ts,
            tank_pressure_pa=125.0,
            lr_pressure_pa=160.0,
            vapour_temp_c=21.5,
            unloading_conc=0.0,
            proc_outlet_g_m3=None,
            al_unattributed=None,
            pv_positive_pa=1000.0,
            pv_negative_pa=-1000.0,
            code_map="guangzhou",
            packet_id=pid,
            **common,
        ),
        DeviceAlarm(
            event_id=DeviceAlarm.make_id("QP-ST-0001", 3, "al", ts),
            ts=ts,
            nozzle=3,
            category="al",
            state=0,
            raw_code="0",
            code_map="guangzhou",
            **common,
        ),
        SensorReading(
            event_id=SensorReading.make_id("QP-AM-0001", "nmhc_mg_m3", ts),
            ts=ts,
            sensor_id="QP-AM-0001",
            sensor_kind="ambient",
            station_id="QP-ST-0001",
            jurisdiction="qingpu",
            mn="3101SN0000000000000000AA",
            quantity="nmhc_mg_m3",
            value=0.62,
            unit="mg/m3",
            data_flag="N",
            packet_id=pid,
        ),
        DepotReading(
            event_id=DepotReading.make_id("QP-DP-0001", ts),
            ts=ts,
            depot_id="QP-DP-0001",
            jurisdiction="qingpu",
            mn="3101DP0000000000000000AA",
            outlet_g_m3=8.5,
            efficiency_pct=97.8,
            truck_pressure_kpa=2.9,
            packet_id=pid,
        ),
        NozzleDay(
            event_id=NozzleDay.make_id("QP-ST-0001", 3, day),
            ts=ts.replace(hour=0, minute=0, second=0),
            day=day,
            station_id="QP-ST-0001",
            nozzle=3,
            jurisdiction="qingpu",
            fuellings=64,
            valid=52,
            under_min=12,
            slow_dispenser=1,
            pump_fault=0,
            slow_vapour=0,
            in_band=47,
            above=2,
            below=3,
            mean_al=1.09,
            pass_rate=0.9038,
            pooled_valid=52,
            state="pass",
            streak=0,
            level="normal",
            isd_daily="pass",
            isd_weekly="pass",
            ruleset_version="2026.11-1",
        ),
        StationState(
            event_id=StationState.make_id("QP-ST-0001", "zero_pressure", day),
            ts=ts.replace(hour=0, minute=0, second=0),
            day=day,
            station_id="QP-ST-0001",
            jurisdiction="qingpu",
            category="zero_pressure",
            level="normal",
            value=0.5,
            unit="h",
            streak=0,
            device_state=0,
            ruleset_version="2026.11-1",
        ),
    ]

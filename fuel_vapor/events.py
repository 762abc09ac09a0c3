"""Vapour-recovery events: what the HJ 212 gateway publishes and what the compliance processors emit.

One class, one topic ``emw.<KIND>``, one table ``<KIND with dots as underscores>`` (docs/CONTRACTS.md).
Event ids are deterministic over the fields that identify the fact (never ingest time), so a packet
re-sent after a lost answer is stored once. Times are aware; devices send Beijing time.

Gateway output: ``VaporPacket`` (every accepted packet, raw text + SHA-256), ``Fuelling`` (one per
nozzle per fuelling, A/L as a ratio with the source unit kept), ``StationReading`` (pressures,
temperatures, concentrations), ``DeviceAlarm`` (the device's own flags, kept only to be compared with
recomputed states), ``SensorReading`` (ambient / groundwater), ``DepotReading``.
Processor output: ``NozzleDay`` (daily nozzle compliance), ``StationState`` (daily / on-change station
states) and ``core.exceedance.Exceedance``.

Known limit: validation ranges are plausibility bounds for storage, not compliance limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
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


@dataclass(frozen=True, slots=True)
class Fuelling:
    """One fuelling at one nozzle as reported by the station controller."""

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
        require_range("fuel_volume_l", self.fuel_volume_l, 0, 2000, "L")
        require_range("vapour_volume_l", self.vapour_volume_l, 0, 6000, "L")
        require_range("fuel_flow_lpm", self.fuel_flow_lpm, 0, 300, "L/min")
        require_range("vapour_flow_lpm", self.vapour_flow_lpm, 0, 900, "L/min")
        require_range("liquid_resistance_pa", self.liquid_resistance_pa, -5000, 5000, "Pa")

    @property
    def key(self) -> str:
        return f"{self.station_id}:N{self.nozzle:02d}"

    @staticmethod
    def make_id(station_id: str, nozzle: int, ts: datetime) -> str:
        return deterministic_id(Fuelling.KIND, station_id, nozzle, ts)


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
    Fuelling,
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
        Fuelling(
            event_id=Fuelling.make_id("QP-ST-0001", 3, ts),
            ts=ts,
            nozzle=3,
            al=1.08,
            al_source_unit="ratio",
            fuel_volume_l=31.27,
            vapour_volume_l=33.77,
            fuel_flow_lpm=35.2,
            vapour_flow_lpm=38.0,
            liquid_resistance_pa=42.0,
            code_map="guangzhou",
            packet_id=pid,
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

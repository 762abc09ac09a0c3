"""Terminal simulator: heavy diesel vehicles of the registry driving plausible duty cycles in the
zone and reporting like HJ 1239 terminals over real TCP connections.

- :class:`VehicleModel` (pure, seeded): 1 Hz physics-lite model of one vehicle — duty cycle per
  class (bus: stop-and-go; sanitation: slow work with stops; freight: road cruising), engine speed
  and torque, fuel and air flow, coolant and SCR temperatures warming up, engine-out NOx and SCR
  conversion by catalyst temperature, reagent level falling and refilled, position moving inside
  the zone, odometer. Faults: ``scr_disabled``, ``scr_degraded``, ``urea_empty``, ``nox_flat``,
  ``mil_dtc``, ``calid_change`` (see :class:`Fault`); ``offline`` is a terminal fault.
- :func:`build_packet`: 10 one-second records → one real-time frame (HJ 1239 layout by default).
- :class:`Terminal`: login, one packet per ``packet_s`` of simulated time, waits for each answer
  (records ack latency), logout; with an ``offline`` window it drops the link, buffers records and
  back-fills them with 0x03 packets after reconnecting.

Simulated time runs ``speedup`` times faster than wall time (1.0 for demos; tests and benchmarks
use large values). Known limits: no road network (positions are a bounded random walk), the
engine model is calibrated to look plausible, not to reproduce a certified engine map.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from core.ids import with_check_digit
from core.registry import ObdVehicle
from core.timeutil import BEIJING
from obd_gateway.protocol import (
    Command,
    DataStream,
    Frame,
    FrameDecoder,
    HeaderVariant,
    InfoItem,
    Layout,
    Login,
    Logout,
    ObdInfo,
    RealTime,
)

ZONE_BOX = (120.75, 121.15, 30.85, 31.20)  # lon min/max, lat min/max of the demonstration zone
JURISDICTION_CENTRES = {
    "qingpu": (121.05, 31.12),
    "wujiang": (120.78, 31.00),
    "jiashan": (120.92, 30.88),
}


class Fault(StrEnum):
    SCR_DISABLED = "scr_disabled"
    SCR_DEGRADED = "scr_degraded"
    UREA_EMPTY = "urea_empty"
    NOX_FLAT = "nox_flat"
    MIL_DTC = "mil_dtc"
    CALID_CHANGE = "calid_change"
    OFFLINE = "offline"


_PROFILES = {
    # cruise speed range km/h, cruise s, stop s, rpm per km/h, idle rpm
    "bus": ((25.0, 45.0), (30, 90), (15, 40), 28.0, 650.0),
    "sanitation": ((5.0, 15.0), (60, 240), (20, 90), 60.0, 700.0),
    "freight": ((60.0, 85.0), (300, 1200), (10, 60), 18.0, 600.0),
    "other": ((30.0, 60.0), (60, 300), (20, 60), 25.0, 650.0),
}


@dataclass(slots=True)
class VehicleModel:
    """One vehicle's 1 Hz state. ``step(ts)`` advances one second and returns the record."""

    vehicle: ObdVehicle
    seed: int = 0
    faults: frozenset[Fault] = frozenset()
    rng: random.Random = field(init=False)
    phase: str = "stop"
    phase_left: int = 5
    target_kmh: float = 0.0
    speed: float = 0.0
    scr_in: float = 20.0
    scr_out: float = 20.0
    coolant: float = 20.0
    reagent: float = 80.0
    fuel_level: float = 70.0
    odometer: float = 0.0
    lon: float = 121.0
    lat: float = 31.0
    heading: float = 0.0
    flat_value: float = 14.55

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        c = JURISDICTION_CENTRES.get(self.vehicle.jurisdiction, (120.95, 31.02))
        self.lon = c[0] + self.rng.uniform(-0.03, 0.03)
        self.lat = c[1] + self.rng.uniform(-0.03, 0.03)
        self.heading = self.rng.uniform(0, 2 * math.pi)
        self.odometer = self.rng.uniform(20_000, 300_000)
        self.reagent = 0.0 if Fault.UREA_EMPTY in self.faults else self.rng.uniform(40, 95)

    def _next_phase(self) -> None:
        prof = _PROFILES.get(self.vehicle.vehicle_class, _PROFILES["other"])
        if self.phase in ("stop",):
            self.phase = "drive"
            self.target_kmh = self.rng.uniform(*prof[0])
            self.phase_left = self.rng.randint(*prof[1])
        else:
            self.phase = "stop"
            self.target_kmh = 0.0
            self.phase_left = self.rng.randint(*prof[2])

    def step(self) -> dict[str, float | None]:
        """Advance one second; physical values of the record (``None`` = not available)."""
        rng = self.rng
        prof = _PROFILES.get(self.vehicle.vehicle_class, _PROFILES["other"])
        self.phase_left -= 1
        if self.phase_left <= 0:
            self._next_phase()
        # speed with bounded acceleration (≈1 m/s² up, 1.5 m/s² down)
        dv = self.target_kmh - self.speed
        accel = max(-5.4, min(3.6, dv))
        self.speed = max(0.0, self.speed + accel + (rng.gauss(0, 0.3) if self.speed > 3 else 0.0))
        rpm = prof[4] + self.speed * prof[3] * (0.9 + 0.2 * rng.random())
        rpm = min(rpm, 2200.0)
        if accel > 0.5:
            torque = rng.uniform(55, 90)
        elif accel < -0.5:
            torque = 0.0
        elif self.speed > 1:
            torque = rng.uniform(22, 45)
        else:
            torque = rng.uniform(7, 12)
        friction = 9.0 + rng.uniform(-1, 1)
        power_kw = (
            max(0.0, torque - friction) / 100 * self.vehicle.engine_ref_torque_nm * rpm / 9550
        )
        fuel_lph = 1.4 + power_kw * 0.205 / 0.84
        afr = 60.0 - 35.0 * min(1.0, power_kw / max(self.vehicle.rated_power_kw, 1.0))
        air_kgh = fuel_lph * 0.84 * afr
        # temperatures: first-order lags towards load-dependent targets
        load = min(1.0, power_kw / max(self.vehicle.rated_power_kw, 1.0))
        self.coolant += (88.0 - self.coolant) / 400.0
        target_t = 160.0 + 330.0 * load**0.6
        self.scr_in += (target_t - self.scr_in) / 240.0
        self.scr_out += (self.scr_in - 8.0 - self.scr_out) / 60.0
        # NOx: engine out by load; SCR conversion by temperature (and faults)
        nox_up = 180.0 + 700.0 * load + rng.gauss(0, 15)
        eta = 0.0 if self.scr_in < 180 else min(0.95, (self.scr_in - 180.0) / 70.0 * 0.95)
        if Fault.SCR_DISABLED in self.faults or self.reagent <= 0.0:
            eta = 0.02
        elif Fault.SCR_DEGRADED in self.faults:
            eta = min(eta, 0.35)
        nox_down = max(0.5, nox_up * (1 - eta) + rng.gauss(0, 3))
        if Fault.NOX_FLAT in self.faults:
            nox_down = self.flat_value
        # reagent: dosing ∝ converted NOx; refilled at the depot when low
        if Fault.UREA_EMPTY not in self.faults and Fault.SCR_DISABLED not in self.faults:
            self.reagent -= nox_up * eta * power_kw * 2.0e-8 * 100
            if self.reagent < 12.0 and self.speed < 0.5:
                self.reagent = 95.0
        self.fuel_level -= fuel_lph / 3600 / 4.0
        if self.fuel_level < 10.0 and self.speed < 0.5:
            self.fuel_level = 95.0
        # movement inside the zone
        km = self.speed / 3600.0
        self.odometer += km
        self.heading += rng.gauss(0, 0.05)
        lon = self.lon + km * math.sin(self.heading) / (111.32 * math.cos(math.radians(self.lat)))
        lat = self.lat + km * math.cos(self.heading) / 110.57
        if not (ZONE_BOX[0] < lon < ZONE_BOX[1] and ZONE_BOX[2] < lat < ZONE_BOX[3]):
            self.heading += math.pi
        else:
            self.lon, self.lat = lon, lat
        return {
            "speed_kmh": self.speed,
            "baro_kpa": 101.0,
            "torque_pct": torque,
            "friction_pct": friction,
            "rpm": rpm,
            "fuel_lph": fuel_lph,
            "nox_up_ppm": max(0.0, nox_up),
            "nox_down_ppm": nox_down,
            "reagent_pct": max(0.0, self.reagent),
            "air_kgh": air_kgh,
            "scr_in_c": self.scr_in,
            "scr_out_c": self.scr_out,
            "dpf_dp_kpa": 1.0 + air_kgh / 250.0,
            "coolant_c": self.coolant,
            "fuel_level_pct": self.fuel_level,
            "lon": self.lon,
            "lat": self.lat,
            "odometer_km": self.odometer,
        }

    def record(self) -> DataStream:
        return DataStream.from_physical(fix_valid=True, **self.step())

    def obd_info(self) -> ObdInfo:
        v = self.vehicle
        calid, cvn = v.calibration_id or "SIMCAL-0001", v.cvn or "0BADC0DE"
        if Fault.CALID_CHANGE in self.faults:
            calid, cvn = (calid[:12] + "-TUNE")[:18], "DEADBEEF"
        dtcs: tuple[str, ...] = ("0F2D0300", "0E8F0400") if Fault.MIL_DTC in self.faults else ()
        return ObdInfo.build(
            vin=v.vin,
            calibration_id=calid,
            cvn=cvn,
            mil_on=Fault.MIL_DTC in self.faults,
            dtcs=dtcs,
            diag_support=0x1C03,
            diag_ready=0x1C03,
        )


def build_packet(
    vin: str,
    records: list[tuple[datetime, DataStream]],
    serial: int,
    *,
    command: int = Command.REALTIME,
    info: ObdInfo | None = None,
    layout: Layout = Layout.HJ1239,
    variant: HeaderVariant = HeaderVariant.TERMINAL,
    software_version: int = 0x01,
) -> Frame:
    """One real-time (or re-issue) frame carrying ``records`` (and an OBD body when given)."""
    if not records:
        raise ValueError("records: expected at least one record")
    t0 = records[0][0]
    items: list[InfoItem] = []
    if info is not None:
        items.append(
            InfoItem(
                0x01, info, serial=serial & 0xFFFF, time=t0 if layout is Layout.HJ1239 else None
            )
        )
    for i, (ts, s) in enumerate(records):
        if layout is Layout.HJ1239:
            items.append(InfoItem(0x02, s, time=ts))
        else:
            items.append(InfoItem(0x02, s, serial=(serial + i) & 0xFFFF))
    if layout is Layout.HJ1239:
        send = records[-1][0]
        unit = RealTime(layout, send, serial & 0xFFFF, tuple(items))
    else:
        unit = RealTime(layout, t0, None, tuple(items))
    flag = software_version if variant is HeaderVariant.TERMINAL else 0xFE
    return Frame(variant, int(command), vin, flag, 0x01, unit.encode())


def terminal_iccid(vin: str) -> str:
    """The ICCID a simulated terminal logs in with (its demo terminal identity)."""
    return f"8986{zlib.crc32(vin.encode()) * 7919 % 10**16:016d}"


def login_frame(
    vin: str, ts: datetime, serial: int, variant: HeaderVariant = HeaderVariant.TERMINAL
) -> Frame:
    iccid = terminal_iccid(vin).encode()
    flag = 0x01 if variant is HeaderVariant.TERMINAL else 0xFE
    return Frame(variant, Command.LOGIN, vin, flag, 0x01, Login(ts, serial, iccid).encode())


def logout_frame(
    vin: str, ts: datetime, serial: int, variant: HeaderVariant = HeaderVariant.TERMINAL
) -> Frame:
    flag = 0x01 if variant is HeaderVariant.TERMINAL else 0xFE
    return Frame(variant, Command.LOGOUT, vin, flag, 0x01, Logout(ts, serial).encode())


@dataclass(slots=True)
class TerminalStats:
    packets: int = 0
    records: int = 0
    reissued: int = 0
    answers: int = 0
    errors: int = 0
    ack_ms: list[float] = field(default_factory=list)


class Terminal:
    """One simulated terminal over a real TCP connection."""

    def __init__(
        self,
        vehicle: ObdVehicle,
        start: datetime,
        *,
        seed: int = 0,
        faults: Iterable[Fault] = (),
        packet_s: int = 10,
        speedup: float = 1.0,
        layout: Layout = Layout.HJ1239,
        variant: HeaderVariant = HeaderVariant.TERMINAL,
        offline: tuple[int, int] | None = None,
        wait_answers: bool = True,
        track_records: bool = False,
    ) -> None:
        self.vehicle = vehicle
        fs = frozenset(Fault(f) for f in faults)
        self.model = VehicleModel(vehicle, seed, fs)
        self.now = start.astimezone(BEIJING).replace(microsecond=0)
        self.packet_s = packet_s
        self.speedup = speedup
        self.layout = layout
        self.variant = variant
        self.offline = offline  # (first packet index offline, number of packets offline)
        self.wait_answers = wait_answers
        self.stats = TerminalStats()
        self.track_records = track_records
        self.sent_records: list[datetime] = []  # collection times sent (when track_records)
        self._serial = 0
        self._login_serial = 0
        self._info_day: str = ""

    def _records(self) -> list[tuple[datetime, DataStream]]:
        out = []
        for _ in range(self.packet_s):
            out.append((self.now, self.model.record()))
            self.now += timedelta(seconds=1)
        return out

    def _info_due(self) -> ObdInfo | None:
        day = self.now.date().isoformat()
        if day != self._info_day:
            self._info_day = day
            return self.model.obd_info()
        return None

    async def run(self, host: str, port: int, packets: int) -> TerminalStats:
        """Send ``packets`` real-time packets (plus login/logout and any back-fill), then close."""
        backlog: list[list[tuple[datetime, DataStream]]] = []
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter, FrameDecoder] | None = None
        interval = self.packet_s / self.speedup
        next_at = time.perf_counter() - interval  # the first window was collected before connecting
        try:
            for i in range(packets):
                off = (
                    self.offline is not None
                    and self.offline[0] <= i < self.offline[0] + self.offline[1]
                )
                recs = self._records()
                # a terminal sends a window once it has been collected: wait for the window's end
                # (keeps the terminal clock and the receive time together, as OBD-CLOCK checks)
                next_at += interval
                delay = next_at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                if off:
                    if conn is not None:
                        await self._close(conn)
                        conn = None
                    backlog.append(recs)
                else:
                    if conn is None:
                        conn = await self._connect(host, port)
                    info = self._info_due()
                    await self._send(
                        conn,
                        build_packet(
                            self.vehicle.vin,
                            recs,
                            self._next_serial(),
                            info=info,
                            layout=self.layout,
                            variant=self.variant,
                        ),
                    )
                    self.stats.records += len(recs)
                    self._track(recs)
                    if backlog:  # one re-issue packet per live packet (terminals pace them, §8)
                        old = backlog.pop(0)
                        await self._send(
                            conn,
                            build_packet(
                                self.vehicle.vin,
                                old,
                                self._next_serial(),
                                command=Command.REISSUE,
                                layout=self.layout,
                                variant=self.variant,
                            ),
                        )
                        self.stats.reissued += len(old)
                        self._track(old)
            if conn is None and backlog:
                conn = await self._connect(host, port)
            while backlog and conn is not None:
                old = backlog.pop(0)
                await self._send(
                    conn,
                    build_packet(
                        self.vehicle.vin,
                        old,
                        self._next_serial(),
                        command=Command.REISSUE,
                        layout=self.layout,
                        variant=self.variant,
                    ),
                )
                self.stats.reissued += len(old)
                self._track(old)
            if conn is not None:
                await self._send(
                    conn, logout_frame(self.vehicle.vin, self.now, self._login_serial, self.variant)
                )
        finally:
            if conn is not None:
                await self._close(conn)
        return self.stats

    def _track(self, recs: list[tuple[datetime, DataStream]]) -> None:
        if self.track_records:
            self.sent_records.extend(t for t, _ in recs)

    def _next_serial(self) -> int:
        self._serial = (self._serial + 1) & 0xFFFF
        return self._serial

    async def _connect(
        self, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, FrameDecoder]:
        r, w = await asyncio.open_connection(host, port)
        conn = (r, w, FrameDecoder())
        self._login_serial += 1
        await self._send(
            conn, login_frame(self.vehicle.vin, self.now, self._login_serial, self.variant)
        )
        return conn

    async def _send(
        self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter, FrameDecoder], frame: Frame
    ) -> None:
        r, w, dec = conn
        t0 = time.perf_counter()
        w.write(frame.encode())
        self.stats.packets += 1
        if not self.wait_answers:
            return
        await w.drain()
        while True:
            data = await r.read(4096)
            if not data:
                raise ConnectionError("gateway closed the connection")
            got = [x for x in dec.feed(data) if isinstance(x, tuple)]
            if got:
                self.stats.answers += len(got)
                self.stats.ack_ms.append((time.perf_counter() - t0) * 1000.0)
                if any(
                    f.response_flag == 0x02
                    or (f.variant is HeaderVariant.TERMINAL and f.data[-1:] == b"\x02")
                    for f, _ in got
                ):
                    self.stats.errors += 1
                return

    async def _close(
        self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter, FrameDecoder]
    ) -> None:
        _, w, _ = conn
        w.close()
        with contextlib.suppress(ConnectionError, OSError):
            await w.wait_closed()


def synthetic_vehicles(
    n: int, jurisdictions: tuple[str, ...] = ("qingpu", "wujiang", "jiashan")
) -> list[ObdVehicle]:
    """``n`` extra registry entries (valid VINs) for load tests and benchmarks."""
    out = []
    classes: tuple[Literal["bus", "sanitation", "freight"], ...] = ("bus", "sanitation", "freight")
    for i in range(n):
        cls = classes[i % 3]
        jur = jurisdictions[i % len(jurisdictions)]
        vin = with_check_digit(f"LSSMBNCH0R{i:07d}")
        out.append(
            ObdVehicle(
                vin=vin,
                plate=f"沪D{i % 100000:05d}",
                jurisdiction=jur,
                fleet=f"{jur}-sim-{cls}",
                vehicle_class=cls,
                engine_ref_torque_nm=1000.0 if cls != "freight" else 2100.0,
                rated_power_kw=190.0 if cls != "freight" else 338.0,
                calibration_id="SIMCAL-0001",
                cvn="0BADC0DE",
                terminal_id="",
                sm2_public_key="",
                sm2_signer_id="",
            )
        )
    return out


async def run_fleet(
    host: str,
    port: int,
    vehicles: list[ObdVehicle],
    start: datetime,
    packets: int,
    *,
    speedup: float = 1.0,
    faults: Mapping[str, Iterable[Fault]] | None = None,
    offline: dict[str, tuple[int, int]] | None = None,
    seed: int = 0,
) -> list[Terminal]:
    """Run one terminal per vehicle concurrently; returns the terminals (with their stats)."""
    faults = faults or {}
    offline = offline or {}
    terms = [
        Terminal(
            v,
            start,
            seed=seed + i,
            faults=faults.get(v.vin, ()),
            speedup=speedup,
            offline=offline.get(v.vin),
        )
        for i, v in enumerate(vehicles)
    ]
    await asyncio.gather(*(t.run(host, port, packets) for t in terms))
    return terms

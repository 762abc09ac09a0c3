"""Gas-station, depot and sensor simulator speaking real HJ 212 over TCP.

Models (pure, seeded, driven by a simulated clock):

* ``StationModel``: fuellings per nozzle (Poisson, busier by day; volume log-normal around 30 L;
  fuel flow ~35 L/min; A/L around 1.10 with a nozzle-specific offset and per-event noise; the
  controller computes A/L = vapour / fuel), tank pressure following temperature (diurnal), deliveries
  (unloading raises pressure and unloading-area concentration) and processing-unit runs (start/stop
  pressures, outlet concentration), plus the controller's own alarm flags.
* ``SensorModel`` (ambient NMHC/NO2, groundwater petroleum/benzene) and ``DepotModel``.

Faults (``FAULTS``): ``drift`` (one nozzle's A/L drifts down out of band), ``blocked_vapour``
(vapour return too slow), ``pump`` (vacuum pump fault, vapour flow < 1 L/min), ``zero_pressure``
(leak: tank pressure near 0), ``pv_stuck`` (P/V valve stuck closed: pressure beyond the setting),
``liquid_resistance`` (liquid in the vapour line), ``slow_dispenser``, ``shield`` (the controller
rewrites alarm flags to 0 and replaces out-of-band A/L with uniform random values in [1.0, 1.2),
vapour recomputed as fuel x A/L), ``voc_spike`` (ambient sensor of a station reports a VOC spike).

Each unit's packets are encoded through its code map (Guangzhou and Chongqing stations in the demo
registry, national codes for sensors, the depot map for depots). ``UnitClient`` sends them over TCP,
waits for the answer the profile expects and resends on timeout (OverTime / ReCount).

Known limits: one fuelling per nozzle at a time; deliveries are fixed per day; weather is a sinusoid.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import math
import random
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from core.registry import Depot, Registry, Sensor, Station, default_registry
from core.timeutil import BEIJING
from fuel_vapor.codemaps import CodeMap, default_codemaps
from fuel_vapor.protocol.framing import Frame, FrameDecoder
from fuel_vapor.protocol.packet import format_time

FAULTS = (
    "drift",
    "blocked_vapour",
    "pump",
    "zero_pressure",
    "pv_stuck",
    "liquid_resistance",
    "slow_dispenser",
    "shield",
    "voc_spike",
)


@dataclass(frozen=True, slots=True)
class Fault:
    unit_id: str
    kind: str
    nozzle: int | None = None
    start: datetime | None = None  # None = from the beginning

    @classmethod
    def parse(cls, text: str) -> Fault:
        parts = text.split(":")
        if len(parts) < 2 or parts[1] not in FAULTS:
            raise ValueError(f"fault {text!r}: expected UNIT:KIND[:NOZZLE], KIND one of {FAULTS}")
        return cls(parts[0], parts[1], int(parts[2]) if len(parts) > 2 else None)

    def active(self, ts: datetime, nozzle: int | None = None) -> bool:
        if self.start is not None and ts < self.start:
            return False
        return self.nozzle is None or nozzle is None or self.nozzle == nozzle


@dataclass(slots=True, order=True)
class Outgoing:
    """One packet due at simulated time ``ts``."""

    ts: datetime
    seq: int
    mn: str = field(compare=False)
    frame: bytes = field(compare=False)
    wants_answer: bool = field(compare=False)
    fuellings: int = field(compare=False, default=0)
    nozzle: int | None = field(compare=False, default=None)


class _QN:
    """Unique 17-digit QNs per unit (bumps the milliseconds on collisions)."""

    def __init__(self) -> None:
        self.last: datetime | None = None

    def __call__(self, ts: datetime) -> str:
        if self.last is not None and ts <= self.last:
            ts = self.last + timedelta(milliseconds=1)
        self.last = ts
        return format_time(ts, 17)


def _wants(cm: CodeMap) -> bool:
    p = cm.profile
    return bool(p.flag & 1) if p.flag is not None else p.answer_when_no_flag


def _daylight(ts: datetime) -> float:
    h = ts.astimezone(BEIJING).hour + ts.minute / 60
    return 1.0 if 6 <= h < 22 else 0.15


class StationModel:
    def __init__(
        self, station: Station, cm: CodeMap, rng: random.Random, faults: Sequence[Fault]
    ) -> None:
        self.s = station
        self.cm = cm
        self.rng = rng
        self.faults = [f for f in faults if f.unit_id == station.id]
        self.offset = {n.number: rng.gauss(0.0, 0.03) for n in station.nozzles}
        self.pressure = 100.0
        self.proc_on = False
        self.qn = _QN()
        self.rate_per_h = 4.0  # fuellings per nozzle per daylight hour
        self.alarm_flags: dict[int, str] = {n.number: "0" for n in station.nozzles}
        self.out_of_band: dict[int, int] = dict.fromkeys(self.alarm_flags, 0)

    def fault(self, kind: str, ts: datetime, nozzle: int | None = None) -> bool:
        return any(f.kind == kind and f.active(ts, nozzle) for f in self.faults)

    # ---- fuelling -------------------------------------------------------------------------
    def fuelling(self, ts: datetime, nozzle: int) -> dict[str, float]:
        rng = self.rng
        volume = min(150.0, max(3.0, rng.lognormvariate(math.log(28.0), 0.45)))
        fuel_flow = max(12.0, rng.gauss(36.0, 4.0))
        al = 1.10 + self.offset[nozzle] + rng.gauss(0.0, 0.035)
        if self.fault("drift", ts, nozzle):
            start = next((f.start for f in self.faults if f.kind == "drift" and f.start), None)
            days = 0.0 if start is None else max(0.0, (ts - start).total_seconds() / 86400)
            al -= 0.25 + 0.03 * days
        if self.fault("slow_dispenser", ts, nozzle):
            fuel_flow = rng.uniform(5.0, 9.0)
            al = rng.uniform(0.6, 0.9)
        vapour_flow = fuel_flow * al
        if self.fault("blocked_vapour", ts, nozzle):
            vapour_flow = rng.uniform(3.0, 8.0)
            al = vapour_flow / fuel_flow
        if self.fault("pump", ts, nozzle):
            vapour_flow = rng.uniform(0.0, 0.8)
            al = vapour_flow / fuel_flow
        # a healthy vapour line sits well under the GB 20952 curve 5.75 Q - 66 Pa
        lr = max(0.0, (5.75 * vapour_flow - 66) * rng.uniform(0.25, 0.65))
        if self.fault("liquid_resistance", ts, nozzle):
            lr = 5.75 * vapour_flow - 66 + rng.uniform(80.0, 200.0)
        al = max(0.0, al)
        vapour = round(volume * al, 2)
        fuel = round(volume, 2)
        al_rep = round(vapour / fuel, 3) if fuel else 0.0
        out_band = not 1.0 <= al_rep <= 1.2
        if self.fault("shield", ts) and out_band:
            al_rep = rng.uniform(1.0, 1.2)
            vapour = fuel * al_rep  # the firmware keeps the record consistent
        self.out_of_band[nozzle] = self.out_of_band[nozzle] + 1 if out_band else 0
        flag = (
            "2" if self.out_of_band[nozzle] >= 25 else "1" if self.out_of_band[nozzle] >= 5 else "0"
        )
        self.alarm_flags[nozzle] = "0" if self.fault("shield", ts) else flag
        return {
            "al": al_rep,
            "fuel_volume_l": fuel,
            "vapour_volume_l": round(vapour, 6),
            "fuel_flow_lpm": round(fuel_flow, 2),
            "vapour_flow_lpm": round(vapour_flow, 2),
            "liquid_resistance_pa": round(lr, 1),
        }

    # ---- station state --------------------------------------------------------------------
    def station_values(self, ts: datetime, dt_s: float) -> dict[str, float]:
        rng = self.rng
        local = ts.astimezone(BEIJING)
        hour = local.hour + local.minute / 60
        temp = 18 + 7 * math.sin((hour - 9) / 24 * 2 * math.pi)
        target = 60 + 12 * (temp - 18)
        unloading = 0.0
        if local.hour in (3, 15) and local.minute < 40:  # two deliveries a day
            target += 450
            unloading = rng.uniform(200, 800)
        self.pressure += (target - self.pressure) * min(1.0, dt_s / 900) + rng.gauss(0, 8)
        start, stop = 300.0, 100.0
        if self.pressure > start:
            self.proc_on = True
        if self.proc_on:
            self.pressure -= 40 * dt_s / 60
            if self.pressure < stop:
                self.proc_on = False
        p = self.pressure
        if self.fault("zero_pressure", ts):
            p = rng.gauss(0, 12)
        if self.fault("pv_stuck", ts):
            p = self.s.pv_positive_pa + 350 + rng.gauss(0, 30)
        return {
            "tank_pressure_pa": round(p, 1),
            "lr_pressure_pa": round(p + rng.uniform(20, 60), 1),
            "vapour_temp_c": round(temp + rng.gauss(0, 0.3), 1),
            "unloading_conc": round(unloading, 1),
            "proc_outlet_g_m3": round(rng.uniform(4, 14), 2) if self.proc_on else 0.0,
        }

    def station_alarms(self, ts: datetime) -> dict[str, str]:
        if self.fault("shield", ts):
            return dict.fromkeys(
                ("tightness", "liquid_resistance", "tank_pressure", "zero_pressure", "pv"), "0"
            )
        zp = "1" if self.fault("zero_pressure", ts) else "0"
        return {
            "tightness": zp,
            "liquid_resistance": "0",
            "tank_pressure": "0",
            "zero_pressure": zp,
            "pv": "0",
        }


class SensorModel:
    def __init__(self, sensor: Sensor, rng: random.Random, faults: Sequence[Fault]) -> None:
        self.s = sensor
        self.rng = rng
        self.faults = [f for f in faults if f.unit_id in (sensor.id, sensor.station)]
        self.qn = _QN()
        self.level = 0.02

    def values(self, ts: datetime) -> dict[str, tuple[float, str]]:
        rng = self.rng
        if self.s.kind == "groundwater":
            self.level = max(0.0, self.level + rng.gauss(0, 0.001))
            return {
                "petroleum_mg_l": (round(self.level, 4), "N"),
                "benzene_ug_l": (round(max(0.0, rng.gauss(0.6, 0.1)), 3), "N"),
            }
        hour = ts.astimezone(BEIJING).hour
        nmhc = max(0.05, rng.gauss(0.6 + 0.3 * math.sin((hour - 7) / 24 * 2 * math.pi), 0.08))
        if any(f.kind == "voc_spike" and f.active(ts) for f in self.faults):
            nmhc = rng.uniform(4.5, 7.0)
        return {
            "nmhc_mg_m3": (round(nmhc, 3), "N"),
            "no2_ug_m3": (round(max(1.0, rng.gauss(38, 9)), 1), "N"),
        }


class DepotModel:
    def __init__(self, depot: Depot, rng: random.Random) -> None:
        self.d = depot
        self.rng = rng
        self.qn = _QN()

    def values(self, ts: datetime) -> dict[str, float]:
        rng = self.rng
        loading = ts.astimezone(BEIJING).hour in range(7, 19)
        return {
            "outlet_g_m3": round(rng.uniform(3, 15), 2),
            "efficiency_pct": round(rng.uniform(96, 99.5), 2),
            "truck_pressure_kpa": round(rng.uniform(1.5, 3.8), 2) if loading else 0.0,
        }


class Simulation:
    """All units of a registry, producing ``Outgoing`` packets in simulated-time order."""

    def __init__(
        self,
        registry: Registry,
        start: datetime,
        *,
        faults: Sequence[Fault] = (),
        seed: int = 212,
        codemaps: dict[str, CodeMap] | None = None,
        station_period_s: float = 60.0,
        sensor_period_s: float = 60.0,
        stations: Sequence[str] | None = None,
        passwords: Mapping[str, str] | None = None,
        depots: Sequence[str] | None = None,
    ) -> None:
        self.registry = registry
        # plain PW per unit id (the demo credentials of the data dir); the registry holds digests
        self.passwords = dict(passwords or {})
        self.cms = codemaps or default_codemaps()
        self.start = start
        self.rng = random.Random(seed)
        self.faults = list(faults)
        self.station_period = timedelta(seconds=station_period_s)
        self.sensor_period = timedelta(seconds=sensor_period_s)
        chosen = [s for s in registry.stations if stations is None or s.id in stations]
        self.stations = {
            s.id: StationModel(
                s, self.cms[s.code_map], random.Random(self.rng.random()), self.faults
            )
            for s in chosen
        }
        self.sensors = {
            s.id: SensorModel(s, random.Random(self.rng.random()), self.faults)
            for s in registry.sensors
            if stations is None or s.station in stations
        }
        self.depots = {
            d.id: DepotModel(d, random.Random(self.rng.random()))
            for d in registry.depots
            if stations is None
        }
        if stations is not None and depots:
            # depots named beside a choice of stations: each its own random stream (the others'
            # packets stay what they were without them)
            for d in registry.depots:
                if d.id in depots:
                    self.depots[d.id] = DepotModel(d, random.Random(f"{seed}:depot:{d.id}"))
        self._seq = 0
        self._heap: list[tuple[datetime, int, str, Any]] | None = None

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def packets(self, until: datetime) -> Iterator[Outgoing]:
        """The next packets up to ``until`` in time order; later calls continue where this stopped."""
        if self._heap is None:
            self._heap = self._initial()
        heap = self._heap
        while heap:
            if heap[0][0] >= until:
                break
            ts, _, kind, ref = heapq.heappop(heap)
            yield from self._emit(heap, ts, kind, ref)

    def _initial(self) -> list[tuple[datetime, int, str, Any]]:
        heap: list[tuple[datetime, int, str, Any]] = []
        for sid, m in self.stations.items():
            heapq.heappush(heap, (self.start, self._next(), "station", sid))
            if self.cms[m.s.code_map].message("2031") is not None:
                heapq.heappush(heap, (self.start, self._next(), "settings", sid))
            for n in m.s.nozzles:
                first = self.start + timedelta(seconds=round(self.rng.uniform(0, 900)))
                heapq.heappush(heap, (first, self._next(), "fuel", (sid, n.number)))
        for sid in self.sensors:
            heapq.heappush(heap, (self.start, self._next(), "sensor", sid))
        for did in self.depots:
            heapq.heappush(heap, (self.start, self._next(), "depot", did))
        return heap

    def _emit(
        self, heap: list[tuple[datetime, int, str, Any]], ts: datetime, kind: str, ref: Any
    ) -> Iterator[Outgoing]:
        if kind == "fuel":
            sid, n = ref
            m = self.stations[sid]
            yield self._fuel_packet(m, ts, n)
            rate = m.rate_per_h * _daylight(ts)
            gap = round(max(90.0, self.rng.expovariate(rate / 3600)))  # whole seconds (DataTime)
            heapq.heappush(heap, (ts + timedelta(seconds=gap), self._next(), kind, ref))
        elif kind == "station":
            m = self.stations[ref]
            yield from self._station_packets(m, ts)
            heapq.heappush(heap, (ts + self.station_period, self._next(), kind, ref))
        elif kind == "settings":
            m = self.stations[ref]
            cm = self.cms[m.s.code_map]
            frame = cm.encode(
                cn="2031",
                mn=m.s.mn,
                pw=self.passwords.get(m.s.id, ""),
                ts=ts,
                qn=m.qn(ts),
                settings={
                    "pv_positive_pa": m.s.pv_positive_pa,
                    "pv_negative_pa": m.s.pv_negative_pa,
                    "proc_start_pa": 300.0,
                    "proc_stop_pa": 100.0,
                },
            )
            yield Outgoing(ts, self._next(), m.s.mn, frame, _wants(cm))
            heapq.heappush(heap, (ts + timedelta(hours=6), self._next(), kind, ref))
        elif kind == "sensor":
            sm = self.sensors[ref]
            cm = self.cms[sm.s.code_map]
            frame = cm.encode(
                cn="2011",
                mn=sm.s.mn,
                pw=self.passwords.get(sm.s.id, ""),
                ts=ts,
                qn=sm.qn(ts),
                sensor=sm.values(ts),
            )
            yield Outgoing(ts, self._next(), sm.s.mn, frame, _wants(cm))
            period = self.sensor_period * (60 if sm.s.kind == "groundwater" else 1)
            heapq.heappush(heap, (ts + period, self._next(), kind, ref))
        elif kind == "depot":
            dm = self.depots[ref]
            cm = self.cms[dm.d.code_map]
            frame = cm.encode(
                cn="2011",
                mn=dm.d.mn,
                pw=self.passwords.get(dm.d.id, ""),
                ts=ts,
                qn=dm.qn(ts),
                depot=dm.values(ts),
            )
            yield Outgoing(ts, self._next(), dm.d.mn, frame, _wants(cm))
            heapq.heappush(heap, (ts + self.sensor_period, self._next(), kind, ref))

    def _fuel_packet(self, m: StationModel, ts: datetime, nozzle: int) -> Outgoing:
        cm = self.cms[m.s.code_map]
        values = m.fuelling(ts, nozzle)
        msg = next(cn for cn in cm.cns if cm.message(cn).fuelling)  # type: ignore[union-attr]
        spec = cm.message(msg)
        assert spec is not None
        extra: dict[str, Any] = {}
        if spec.nozzle_alarms:
            extra["nozzle_alarms"] = {nozzle: {"al": m.alarm_flags[nozzle]}}
        frame = cm.encode(
            cn=msg,
            mn=m.s.mn,
            pw=self.passwords.get(m.s.id, ""),
            ts=ts,
            qn=m.qn(ts),
            station_id=m.s.id,
            nozzle=nozzle,
            fuelling=values,
            **extra,
        )
        return Outgoing(ts, self._next(), m.s.mn, frame, _wants(cm), fuellings=1, nozzle=nozzle)

    def _station_packets(self, m: StationModel, ts: datetime) -> Iterator[Outgoing]:
        cm = self.cms[m.s.code_map]
        values = m.station_values(ts, self.station_period.total_seconds())
        alarms = m.station_alarms(ts)
        wants = _wants(cm)
        if cm.message("2021") is not None:  # Guangzhou style: environment and alarm messages
            yield Outgoing(
                ts,
                self._next(),
                m.s.mn,
                cm.encode(
                    cn="2021",
                    mn=m.s.mn,
                    pw=self.passwords.get(m.s.id, ""),
                    ts=ts,
                    qn=m.qn(ts),
                    station=values,
                ),
                wants,
            )
            if cm.message("2041") is not None and ts.minute % 10 == 0:
                yield Outgoing(
                    ts,
                    self._next(),
                    m.s.mn,
                    cm.encode(
                        cn="2041",
                        mn=m.s.mn,
                        pw=self.passwords.get(m.s.id, ""),
                        ts=ts,
                        qn=m.qn(ts),
                        station_id=m.s.id,
                        alarms=alarms,
                        nozzle_alarms={n: {"al": f} for n, f in m.alarm_flags.items()},
                    ),
                    wants,
                )
            return
        # Chongqing style: one 3020 message per cycle with "no fuelling" (i41008=N) and all values
        msg = cm.cns[0]
        spec = cm.message(msg)
        assert spec is not None
        frame = cm.encode(
            cn=msg,
            mn=m.s.mn,
            pw=self.passwords.get(m.s.id, ""),
            ts=ts,
            qn=m.qn(ts),
            station_id=m.s.id,
            nozzle=m.s.nozzles[0].number,
            station=values,
            alarms=alarms,
            settings={"pv_positive_pa": m.s.pv_positive_pa, "pv_negative_pa": m.s.pv_negative_pa},
            nozzle_alarms={m.s.nozzles[0].number: {"al": "N"}},
        )
        yield Outgoing(ts, self._next(), m.s.mn, frame, wants)


# ---------------------------------------------------------------- TCP side


class UnitClient:
    """One data unit's TCP connection: send a packet, wait for the expected answer, resend."""

    def __init__(
        self, host: str, port: int, *, over_time_s: float = 5.0, re_count: int = 3
    ) -> None:
        self.host, self.port = host, port
        self.over_time = over_time_s
        self.re_count = re_count
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.decoder = FrameDecoder()
        self.pending: list[Frame] = []
        self.sent = 0
        self.answered = 0
        self.resent = 0
        self.latencies: list[float] = []

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()

    async def send(self, frame: bytes, wants_answer: bool) -> bool:
        assert self.writer is not None
        for attempt in range(self.re_count + 1):
            t0 = time.perf_counter()
            self.writer.write(frame)
            await self.writer.drain()
            self.sent += 1
            if attempt:
                self.resent += 1
            if not wants_answer:
                return True
            ans = await self.answer(self.over_time)
            if ans is not None:
                self.latencies.append(time.perf_counter() - t0)
                self.answered += 1
                return True
        return False

    async def answer(self, timeout: float) -> Frame | None:
        assert self.reader is not None
        deadline = time.monotonic() + timeout
        while not self.pending:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                async with asyncio.timeout(left):  # a timer, not a task per read (wait_for)
                    data = await self.reader.read(65536)
            except TimeoutError:
                return None
            if not data:
                return None
            self.pending += [f for f in self.decoder.feed(data) if isinstance(f, Frame)]
        return self.pending.pop(0)


async def run_demo(
    *,
    seconds: float = 20.0,
    speed: float = 600.0,
    faults: Sequence[str] = (),
    host: str = "127.0.0.1",
    port: int = 0,
    registry: Registry | None = None,
    start: datetime | None = None,
    passwords: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Start a gateway (unless ``port`` names a running one) and replay the simulation into it.
    A gateway started here gets fresh in-memory credentials; for a running one pass its units'
    ``passwords`` (the demo credentials of its data directory)."""
    from core.credentials import DeviceCredentials
    from core.metrics import Metrics
    from fuel_vapor.server import GatewaySettings, VaporGateway

    reg = registry or default_registry()
    credentials = None
    if port == 0:
        credentials, passwords = DeviceCredentials.ephemeral(reg)
    counts: dict[str, int] = {}

    async def publish(events: Sequence[Any]) -> None:
        for e in events:
            counts[e.KIND] = counts.get(e.KIND, 0) + 1

    gateway = None
    metrics = Metrics()
    if port == 0:
        gateway = VaporGateway(
            publish, reg, metrics, settings=GatewaySettings(host=host), credentials=credentials
        )
        host, port = await gateway.start()
    t0 = start or datetime(2026, 11, 23, 6, 0, tzinfo=BEIJING)
    sim = Simulation(reg, t0, faults=[Fault.parse(f) for f in faults], passwords=passwords)
    sent = await feed(
        sim,
        host,
        port,
        t0 + timedelta(seconds=seconds * speed),
        speed=speed,
        wall_limit=seconds + 5,
    )
    if gateway is not None:
        await gateway.stop()
    return {
        "gateway": f"tcp://{host}:{port}",
        "sent": sent,
        "received_events": counts,
        "bad_packets": metrics.counters("fuel_vapor", "bad_packets"),
    }


async def feed(
    sim: Simulation,
    host: str,
    port: int,
    until: datetime,
    *,
    speed: float | None = None,
    wall_limit: float | None = None,
) -> dict[str, int]:
    """Send the simulation's packets, one TCP connection per MN, pacing at ``speed`` (None = as
    fast as answers come back)."""
    by_mn: dict[str, list[Outgoing]] = {}
    for o in sim.packets(until):
        by_mn.setdefault(o.mn, []).append(o)
    t_start = time.monotonic()
    stats = {"packets": 0, "answered": 0, "unanswered": 0, "resent": 0, "fuellings": 0}

    async def unit(items: list[Outgoing]) -> None:
        c = UnitClient(host, port)
        await c.connect()
        try:
            for o in items:
                if wall_limit is not None and time.monotonic() - t_start > wall_limit:
                    break
                if speed:
                    due = (o.ts - sim.start).total_seconds() / speed
                    delay = due - (time.monotonic() - t_start)
                    if delay > 0:
                        await asyncio.sleep(delay)
                ok = await c.send(o.frame, o.wants_answer)
                stats["packets"] += 1
                stats["fuellings"] += o.fuellings
                if o.wants_answer:
                    stats["answered" if ok else "unanswered"] += 1
            stats["resent"] += c.resent
        finally:
            await c.close()

    await asyncio.gather(*(unit(items) for items in by_mn.values()))
    return stats


class Feeder:
    """Persistent per-MN connections that send windows of packets, optionally paced to a clock."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.clients: dict[str, UnitClient] = {}
        self.stats = {"packets": 0, "answered": 0, "unanswered": 0, "fuellings": 0}

    async def _client(self, mn: str) -> UnitClient:
        c = self.clients.get(mn)
        if c is None:
            c = UnitClient(self.host, self.port)
            await c.connect()
            self.clients[mn] = c
        return c

    async def send(self, packets: Sequence[Outgoing], delay_for: Any = None) -> None:
        """Send ``packets`` (one task per MN); ``delay_for(ts) -> seconds`` paces them."""
        by_mn: dict[str, list[Outgoing]] = {}
        for o in packets:
            by_mn.setdefault(o.mn, []).append(o)

        async def unit(mn: str, items: list[Outgoing]) -> None:
            try:
                c = await self._client(mn)
                for o in items:
                    if delay_for is not None and (d := delay_for(o.ts)) > 0:
                        await asyncio.sleep(d)
                    ok = await c.send(o.frame, o.wants_answer)
                    self.stats["packets"] += 1
                    self.stats["fuellings"] += o.fuellings
                    if o.wants_answer:
                        self.stats["answered" if ok else "unanswered"] += 1
            except (OSError, ConnectionError):
                old = self.clients.pop(mn, None)
                if old is not None:
                    await old.close()

        await asyncio.gather(*(unit(mn, items) for mn, items in by_mn.items()))

    async def close(self) -> None:
        for c in self.clients.values():
            await c.close()
        self.clients.clear()

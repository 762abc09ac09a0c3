"""Bulk seeder: a month of the zone's traffic, ending now, at warehouse speed (``emwatch seed``).

Responsible for filling a warehouse with realistic readings of all four sources without a running
platform, and for running the same processors over them (``streams.catalog.processors()``, what the
in-process bus runs, enforcement processors included once catalogued), so the seeded warehouse holds
the exceedances, daily states and cases those readings deserve.

How it stays fast and faithful:

* Time goes day by day (Beijing-time days). Each day's events of every source are generated in
  batches, sorted by event time (so each key's events are in time order), run through the
  processors synchronously (``InProcessBus.process_now``: same routing, same per-key state stores),
  and handed with the processors' outputs to the same ``BatchingSink`` the platform writes through
  (Arrow inserts, ``ingest_log`` rows). Outputs are fed back to the processors round by round, so
  processors of exceedances (cases, repeat rules) see them in time order.
* Each source's events are made by that source's own code from the simulators' distributions:
  OBD records are encoded as real HJ 1239 data-stream bodies and turned into ``obd.sample``
  batches (one per packet of up to 10 records) by the gateway's ``samples_of``; vapour packets are
  real HJ 212 packets from ``fuel_vapor.simulator.Simulation`` decoded by ``fuel_vapor.intake.from_hj212``; RSD passes are the
  simulator's canonical passes through ``remote_sensing.assemble.build_passes`` (the intake's
  validation and g/kg computation); smoke captures are synthesised capture events with their
  evidence files (drawn small with numpy + Pillow under the data directory; a few rendered by
  ``smoke_capture.synth`` when OpenCV is installed).
* OBD data streams are kept at one record per 10 s (the HJ 1239 packet interval) instead of 1 Hz,
  to bound the volume (1,200 vehicles at 10 s would already be 300 M records a month).
* Where the time goes (scale 1.0, one day ≈ 383 k readings ≈ 18 CPU-s): generating RSD passes
  (the simulator's per-pass draws and ``build_passes``) ≈ 18 %, HJ 212 packets encoded and decoded ≈
  15 %, OBD bodies and batches ≈ 10 %, the processors ≈ 23 % (OBD rules, RSD rules, identity and
  cases), the sink's thread ≈ 13 %; the rest is the day loop, smoke evidence and chDB's threads.
  The seeder does no work whose result it throws away (the stream bodies are made as bytes only; a
  batch's ids are counted at once); the rules, the intakes and the sink are the platform's, per
  event, as live.

The story in the data (deterministic for a given ``--seed``): a heavy-diesel fleet with SCR
tampering, flat NOx sensors, empty urea tanks, MIL faults and a recalibration; terminals that go
offline for days; a handful of repeat offenders whose plate is registered for OBD in one
jurisdiction, passes RSD sites and smoke cameras of the others, and exceeds in both; stations whose
alarms persist several days (leak, stuck P/V valve, drifting and blocked nozzles, shielded alarms).
A smaller ``--scale`` seeds a share of the stations and of the depots, at least one of each. Every
smoke capture's evidence manifest carries the capture's facts (times, grade, detector confidence,
the model's plume and vehicle boxes) as the live pipeline writes them.

Known limits: OBD rules count records as seconds (``obd_gateway.rules``: Δt = 1 s), so time-based OBD
thresholds (SCR minutes per day, flat-sensor hours, work windows) are reached ten times later at the
default 10 s cadence (``--obd-cadence 1`` seeds the terminals' 1 Hz, ten times the volume); the last
day of each OBD vehicle is not closed (a day closes when the next day's first record arrives).
Events that share an id with an earlier one of the same day are stored once (ReplacingMergeTree)
and counted apart in the report (``repeated_ids``): vapour settings (CN 2031) and environment
(CN 2021) packets with the same DataTime give two ``vapor.station_reading`` with one id.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import math
import random
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import EmwError
from core.ids import with_check_digit
from core.processing import Context, Processor
from core.registry import ObdVehicle, Registry
from core.ruleset import RuleSet
from core.timeutil import BEIJING

MARKER = "seed.json"
OBD_CADENCE_S = 10
JURISDICTIONS = ("qingpu", "wujiang", "jiashan")
PLATE_PREFIX = {"qingpu": "沪D", "wujiang": "苏E", "jiashan": "浙F"}
_PLATE_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
# Readings: events that come from devices (what "readings" counts in the progress bar and report).
READING_KINDS = (
    "obd.sample",
    "obd.info",
    "obd.status",
    "vapor.packet",
    "vapor.fuelling",
    "vapor.station_reading",
    "vapor.device_alarm",
    "vapor.sensor_reading",
    "vapor.depot_reading",
    "rsd.pass",
    "rsd.calibration",
    "rsd.downtime",
    "smoke.capture",
    "smoke.review",
)


class SeedError(EmwError):
    """Seeding refused (directory already seeded, warehouse not empty, bad argument)."""

    def __init__(self, message: str) -> None:
        Exception.__init__(self, message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# ------------------------------------------------------------------------------------- plan


@dataclass(frozen=True, slots=True)
class SeedPlan:
    """What to seed. ``scale`` multiplies fleet sizes and rates (1.0 ≈ 10 M readings in 30 days)."""

    days: int
    end: datetime
    scale: float = 1.0
    seed: int = 1
    obd_cadence_s: int = OBD_CADENCE_S

    def __post_init__(self) -> None:
        if not 1 <= self.days <= 366:
            raise SeedError(f"--days {self.days}: expected 1 to 366 days")
        if not 0.001 <= self.scale <= 20:
            raise SeedError(f"--scale {self.scale}: expected 0.001 to 20")
        if not 1 <= self.obd_cadence_s <= 60:
            raise SeedError(f"--obd-cadence {self.obd_cadence_s}: expected 1 to 60 s")
        if self.end.tzinfo is None:
            raise SeedError("--end: expected a time with a timezone")

    @property
    def start(self) -> datetime:
        return self.end - timedelta(days=self.days)

    @property
    def obd_vehicles(self) -> int:
        return max(4, round(65 * self.scale))

    @property
    def rsd_passes_per_site_day(self) -> float:
        return 20_000 * self.scale

    @property
    def rsd_fleet(self) -> int:
        return max(200, round(25_000 * self.scale))

    @property
    def smoke_per_camera_day(self) -> float:
        return max(0.5, 25 * self.scale)

    def station_count(self, available: int) -> int:
        return max(1, min(available, math.ceil(available * self.scale)))

    @property
    def station_period_s(self) -> float:
        return max(10.0, 120.0 / max(1.0, self.scale))

    def days_list(self) -> list[tuple[datetime, datetime]]:
        """(start, end) of each seeded slice: Beijing days, the first and last cut at start/end."""
        out = []
        t = self.start
        while t < self.end:
            local = t.astimezone(BEIJING)
            nxt = datetime(local.year, local.month, local.day, tzinfo=BEIJING) + timedelta(days=1)
            e = min(nxt.astimezone(UTC), self.end)
            out.append((t, e))
            t = e
        return out


@dataclass
class SeedReport:
    rows: Counter[str] = field(default_factory=Counter)  # event kind -> distinct facts stored
    repeated: Counter[str] = field(default_factory=Counter)  # kind -> events sharing an earlier id
    readings: int = 0
    seconds: float = 0.0
    processor_errors: int = 0
    evidence_bundles: int = 0
    registry_dir: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "rows": dict(sorted(self.rows.items())),
            "readings": self.readings,
            "seconds": round(self.seconds, 1),
            "readings_per_s": round(self.readings / self.seconds) if self.seconds else None,
            "repeated_ids": dict(sorted(self.repeated.items())),
            "processor_errors": self.processor_errors,
            "evidence_bundles": self.evidence_bundles,
            "registry_dir": self.registry_dir,
        }


# ------------------------------------------------------------------------------------- cast


@dataclass(frozen=True, slots=True)
class Cast:
    """Who is in the story: the fleet, its faults and offline windows, the repeat offenders."""

    vehicles: tuple[ObdVehicle, ...]
    synthetic: tuple[ObdVehicle, ...]
    faults: dict[str, tuple[str, ...]]  # vin -> obd fault names
    offline: dict[str, tuple[int, int]]  # vin -> (first day index, days offline)
    clock_skew: frozenset[str]  # vins whose terminal clock is off
    offenders: tuple[ObdVehicle, ...]  # cross-jurisdiction repeat offenders


def _synthetic_vehicles(n: int, rng: random.Random, taken: set[str]) -> list[ObdVehicle]:
    out: list[ObdVehicle] = []
    classes = ("freight", "freight", "bus", "sanitation")
    i = 0
    while len(out) < n:
        i += 1
        cls = classes[i % len(classes)]
        jur = JURISDICTIONS[i % 3]
        vin = with_check_digit(f"LSEEDH{cls[0].upper()}X0R{i:07d}")
        plate = PLATE_PREFIX[jur] + "".join(rng.choice(_PLATE_CHARS) for _ in range(5))
        if plate in taken:
            continue
        taken.add(plate)
        heavy = cls == "freight"
        out.append(
            ObdVehicle(
                vin=vin,
                plate=plate,
                jurisdiction=jur,
                fleet=f"{jur}-{cls}-seed",
                vehicle_class=cls,  # type: ignore[arg-type]
                emission_stage=rng.choice(["China V", "China VI", "China VI"]),
                engine_ref_torque_nm=2100.0 if heavy else 1000.0,
                rated_power_kw=338.0 if heavy else 184.0,
                calibration_id=f"SEEDCAL-{cls[:3].upper()}",
                cvn=f"{rng.getrandbits(32):08X}",
                terminal_type=rng.choice(["oem", "oem", "retrofit"]),
            )
        )
    return out


def make_cast(registry: Registry, plan: SeedPlan) -> Cast:
    rng = random.Random(plan.seed * 7919 + 11)
    by_j = [[v for v in registry.obd_vehicles if v.jurisdiction == j] for j in JURISDICTIONS]
    spread = [v for group in itertools.zip_longest(*by_j) for v in group if v is not None]
    base = spread[: plan.obd_vehicles]  # every jurisdiction's fleet, even at a small scale
    taken = {v.plate for v in registry.obd_vehicles}
    synth = _synthetic_vehicles(max(0, plan.obd_vehicles - len(base)), rng, taken)
    vehicles = [*base, *synth]
    order = list(vehicles)
    rng.shuffle(order)
    faults: dict[str, tuple[str, ...]] = {}
    n = len(order)
    k = max(1, round(n * 0.06))
    picks = iter(order)
    for name, count in (
        ("scr_disabled", k),
        ("scr_degraded", k),
        ("nox_flat", max(1, k // 2)),
        ("urea_empty", max(1, k // 2)),
        ("mil_dtc", k),
        ("calid_change", 1),
    ):
        for _ in range(count):
            v = next(picks, None)
            if v is not None:
                faults[v.vin] = (name,)
    offline: dict[str, tuple[int, int]] = {}
    healthy = [v for v in order if v.vin not in faults]
    for v in healthy[: max(1, round(n * 0.08))]:
        span = rng.choice([2, 3, 4, 6])
        first = rng.randrange(1, max(2, plan.days - 1))
        offline[v.vin] = (first, span)
    skew = frozenset(v.vin for v in healthy[-max(1, round(n * 0.04)) :])
    tampered = [v for v in order if faults.get(v.vin, ("",))[0] in ("scr_disabled", "nox_flat")]
    offenders = tuple(tampered[: max(3, min(6, len(tampered)))])
    return Cast(tuple(vehicles), tuple(synth), faults, offline, skew, offenders)


# ------------------------------------------------------------------------------------- OBD


_DUTY = {
    # class: (cruise km/h, cruise s, stop s, rpm per km/h, idle rpm, shift start h, shift hours)
    "bus": ((25.0, 45.0), (30, 90), (15, 40), 28.0, 650.0, (5.5, 6.5), (13.0, 15.5)),
    "sanitation": ((5.0, 15.0), (60, 240), (20, 90), 60.0, 700.0, (4.5, 5.5), (7.0, 9.0)),
    "freight": ((60.0, 85.0), (300, 1200), (10, 60), 18.0, 600.0, (6.0, 10.0), (8.0, 12.0)),
    "other": ((30.0, 60.0), (60, 300), (20, 60), 25.0, 650.0, (7.0, 9.0), (6.0, 9.0)),
}
_CENTRES = {"qingpu": (121.05, 31.12), "wujiang": (120.78, 31.00), "jiashan": (120.92, 30.88)}
_BOX = (120.75, 121.15, 30.85, 31.20)


@dataclass(slots=True)
class _Vehicle:
    """Slow state of one vehicle between days (the fast state lives in the day loop)."""

    v: ObdVehicle
    rng: random.Random
    faults: tuple[str, ...]
    reagent: float
    fuel_level: float
    odometer: float
    lon: float
    lat: float
    heading: float
    login_serial: int = 0


def _vehicle_state(v: ObdVehicle, faults: tuple[str, ...], seed: int) -> _Vehicle:
    rng = random.Random(seed)
    c = _CENTRES.get(v.jurisdiction, (120.95, 31.02))
    return _Vehicle(
        v,
        rng,
        faults,
        reagent=0.0 if "urea_empty" in faults else rng.uniform(40, 95),
        fuel_level=rng.uniform(40, 90),
        odometer=rng.uniform(20_000, 300_000),
        lon=c[0] + rng.uniform(-0.03, 0.03),
        lat=c[1] + rng.uniform(-0.03, 0.03),
        heading=rng.uniform(0, 2 * math.pi),
    )


def _refill(
    level0: float, use: np.ndarray, stopped: np.ndarray, low: float, full: float
) -> np.ndarray:
    """Tank level after each step: ``use`` drawn per step, refilled to ``full`` when below ``low``
    while stopped (the simulator's reagent and fuel logic, vectorised between refills)."""
    n = len(use)
    level = np.empty(n)
    start, r = 0, level0
    while start < n:
        seg = r - np.cumsum(use[start:])
        hit = np.flatnonzero((seg < low) & stopped[start:])
        if not len(hit):
            level[start:] = seg
            break
        j = int(hit[0])
        level[start : start + j] = seg[:j]
        level[start + j] = r = full
        start += j + 1
    return level


def _fold(x: np.ndarray, a: float, b: float) -> np.ndarray:
    """Reflect a walk into [a, b] (a vehicle turning back at the zone's edge)."""
    w = b - a
    y = np.mod(x - a, 2 * w)
    return a + np.where(y > w, 2 * w - y, y)


def _lag(x: np.ndarray, alpha: float, y0: float) -> np.ndarray:
    """First-order lag y[i] = y[i-1] + alpha (x[i] - y[i-1]) (temperatures warming up)."""
    from scipy.signal import lfilter

    y, _ = lfilter([alpha], [1.0, alpha - 1.0], x, zi=[(1.0 - alpha) * y0])
    return np.asarray(y)


_STREAM_DTYPE = np.dtype(
    [(f"f{i}", ">u" + c) for i, c in enumerate("2111222212222111444".replace("", " ").split())]
)


def encode_streams(cols: dict[str, np.ndarray], fix_valid: np.ndarray) -> tuple[list[Any], bytes]:
    """Many HJ 1239 data-stream bodies at once: raw integers per record (wire order) and the
    concatenated 37-byte bodies; the same quantisation as ``DataStream.from_physical``."""
    arr = _stream_array(cols, fix_valid)
    return arr.tolist(), arr.tobytes()


def encode_bodies(cols: dict[str, np.ndarray], fix_valid: np.ndarray) -> bytes:
    """The concatenated 37-byte bodies of :func:`encode_streams` alone (what the seeder sends: the
    per-record integers would be a Python object per field, thrown away)."""
    return _stream_array(cols, fix_valid).tobytes()


def _stream_array(cols: dict[str, np.ndarray], fix_valid: np.ndarray) -> np.ndarray:
    from obd_gateway.protocol.bodies import _MARKER_FLOOR_BY_WIDTH, STREAM_FIELDS, STREAM_LEN

    n = len(fix_valid)
    arr = np.empty(n, dtype=_STREAM_DTYPE)
    assert arr.itemsize == STREAM_LEN
    for i, spec in enumerate(STREAM_FIELDS):
        r = np.rint((cols[spec.name] - spec.offset) / spec.scale)
        arr[f"f{i}"] = np.clip(r, 0, _MARKER_FLOOR_BY_WIDTH[spec.width] - 1)
    lon, lat = cols["lon"], cols["lat"]
    arr["f15"] = np.where(fix_valid, 0, 1) | np.where(lat < 0, 2, 0) | np.where(lon < 0, 4, 0)
    arr["f16"] = np.rint(np.abs(lon) * 1e6)
    arr["f17"] = np.rint(np.abs(lat) * 1e6)
    arr["f18"] = np.minimum(np.rint(cols["odometer_km"] * 10), 0xFAFFFFFF)
    return arr


def _obd_day(
    st: _Vehicle,
    day0: datetime,
    lo: datetime,
    hi: datetime,
    *,
    skew: bool,
    tuned: bool,
    dt: int = OBD_CADENCE_S,
    cut: bool = False,
) -> list[Any]:
    """One vehicle's shift on the Beijing day starting at ``day0``: login, data-stream records
    every ``dt`` s (the simulator's duty cycle and engine model, stepped at ``dt`` and vectorised; the
    last record has the engine off), the day's OBD information body, logout. The records are real
    HJ 1239 bodies decoded as the gateway decodes them. Only events within [lo, hi) are returned."""
    from obd_gateway.events import ObdStatus
    from obd_gateway.protocol import ObdInfo
    from obd_gateway.session import info_from_body, samples_of

    v, rng = st.v, st.rng
    prof = _DUTY.get(v.vehicle_class, _DUTY["other"])
    if v.vehicle_class == "freight" and day0.weekday() == 6 and rng.random() < 0.6:
        return []  # most freight rests on Sundays
    start = day0 + timedelta(seconds=round(rng.uniform(*prof[5]) * 3600 / dt) * dt)
    n = int(rng.uniform(*prof[6]) * 3600 / dt)
    if cut:  # the terminal drops out mid-drive: no engine-off record, no logout
        n = max(12, int(n * rng.uniform(0.3, 0.8)))
    t0 = int(start.timestamp())
    lo_s, hi_s = lo.timestamp(), hi.timestamp()
    nrng = np.random.default_rng(rng.getrandbits(64))
    # duty cycle: alternating stops and drives with the class's durations and cruise speeds
    counts, targets, total, drive = [], [], 0, False
    while total < n:
        span = rng.randint(*(prof[1] if drive else prof[2]))
        k = max(1, round(span / dt))
        counts.append(k)
        targets.append(rng.uniform(*prof[0]) if drive else 0.0)
        total += k
        drive = not drive
    target = np.repeat(np.array(targets), counts)[:n]
    from scipy.signal import lfilter

    x = 0.65 * target + np.where(target > 3, nrng.normal(0, 1.0, n), 0.0)
    speed = np.maximum(0.0, np.asarray(lfilter([1.0], [1.0, -0.35], x)))
    accel = np.diff(speed, prepend=0.0) / dt
    rpm = np.minimum(2200.0, prof[4] + speed * prof[3] * (0.9 + 0.2 * nrng.random(n)))
    torque = np.select(
        [accel > 0.5, accel < -0.5, speed > 1],
        [nrng.uniform(55, 90, n), np.zeros(n), nrng.uniform(22, 45, n)],
        nrng.uniform(7, 12, n),
    )
    friction = 9.0 + nrng.uniform(-1, 1, n)
    power = np.maximum(0.0, torque - friction) / 100 * v.engine_ref_torque_nm * rpm / 9550
    fuel = 1.4 + power * 0.205 / 0.84
    load = np.minimum(1.0, power / max(v.rated_power_kw, 1.0))
    air = fuel * 0.84 * (60.0 - 35.0 * load)
    cold = 18.0 + rng.uniform(-3, 3)
    coolant = _lag(np.full(n, 88.0), 1 - (1 - 1 / 400) ** dt, cold)
    scr_in = _lag(160.0 + 330.0 * load**0.6, 1 - (1 - 1 / 240) ** dt, cold)
    scr_out = _lag(scr_in - 8.0, 1 - (1 - 1 / 60) ** dt, cold)
    nox_up = np.maximum(0.0, 180.0 + 700.0 * load + nrng.normal(0, 15, n))
    eta = np.where(scr_in < 180, 0.0, np.minimum(0.95, (scr_in - 180.0) / 70.0 * 0.95))
    f = st.faults
    stopped = speed < 0.5
    if "scr_disabled" in f or "urea_empty" in f:
        eta = np.full(n, 0.02)
        reagent = np.full(n, max(0.0, st.reagent))
    else:
        if "scr_degraded" in f:
            eta = np.minimum(eta, 0.35)
        reagent = _refill(st.reagent, nox_up * eta * power * 2.0e-6 * dt, stopped, 12.0, 95.0)
        st.reagent = float(reagent[-1])
    if "nox_flat" in f:
        nox_down = np.full(n, 14.55)
    else:
        nox_down = np.maximum(0.5, nox_up * (1 - eta) + nrng.normal(0, 3, n))
    fuel_level = _refill(st.fuel_level, fuel / 3600 / 4.0 * dt, stopped, 10.0, 95.0)
    st.fuel_level = float(fuel_level[-1])
    km = speed * dt / 3600.0
    heading = st.heading + np.cumsum(nrng.normal(0, 0.15, n))
    lon = _fold(
        st.lon + np.cumsum(km * np.sin(heading) / (111.32 * math.cos(math.radians(st.lat)))),
        _BOX[0] + 0.01,
        _BOX[1] - 0.01,
    )
    lat = _fold(st.lat + np.cumsum(km * np.cos(heading) / 110.57), _BOX[2] + 0.01, _BOX[3] - 0.01)
    odometer = st.odometer + np.cumsum(km)
    st.lon, st.lat, st.heading = float(lon[-1]), float(lat[-1]), float(heading[-1])
    st.odometer = float(odometer[-1])
    if not cut:
        for arr in (speed, rpm, torque, friction, fuel, air):  # last record: engine switched off
            arr[-1] = 0.0
    body = encode_bodies(
        {
            "speed_kmh": speed,
            "baro_kpa": np.full(n, 101.0),
            "torque_pct": torque,
            "friction_pct": friction,
            "rpm": rpm,
            "fuel_lph": fuel,
            "nox_up_ppm": nox_up,
            "nox_down_ppm": nox_down,
            "reagent_pct": np.maximum(0.0, reagent),
            "air_kgh": air,
            "scr_in_c": scr_in,
            "scr_out_c": scr_out,
            "dpf_dp_kpa": 1.0 + air / 250.0,
            "coolant_c": coolant,
            "fuel_level_pct": fuel_level,
            "lon": lon,
            "lat": lat,
            "odometer_km": odometer,
        },
        nrng.random(n) > 0.01,
    )
    out: list[Any] = []
    common = {"jurisdiction": v.jurisdiction, "fleet": v.fleet, "peer": "seed"}
    st.login_serial = (st.login_serial + 1) & 0xFFFF
    login = t0 - 20
    offset = rng.uniform(95, 240) if skew else rng.uniform(0.3, 2.5)
    if lo_s <= login < hi_s:
        lts = datetime.fromtimestamp(login, UTC)
        out.append(
            ObdStatus(
                event_id=ObdStatus.make_id(v.vin, lts, "login", st.login_serial),
                ts=lts,
                vin=v.vin,
                status="login",
                received_at=lts + timedelta(seconds=offset),
                login_serial=st.login_serial,
                iccid=f"8986{int(hashlib.md5(v.vin.encode()).hexdigest()[:12], 16):016d}"[:20],
                clock_offset_s=round(offset, 3),
                detail_json="{}",
                **common,
            )
        )
    # the gateway's shape: one obd.sample batch per HJ 1239 packet (up to 10 records), built by
    # the same constructor from the records' times and bodies
    lag_s = 1.5
    lag = timedelta(seconds=lag_s)
    first = max(0, math.ceil((lo_s - t0) / dt))
    last = min(n, math.ceil((hi_s - t0) / dt))
    vin = v.vin
    for j in range(first, last, 10):
        k = min(10, last - j)
        ts_ms = [(t0 + (j + i) * dt) * 1000 for i in range(k)]
        out.append(
            samples_of(
                vin,
                v,
                ts_ms,
                bytes(k),
                body[j * 37 : (j + k) * 37],
                received_at=datetime.fromtimestamp(ts_ms[-1] / 1000 + lag_s, UTC),
                backfilled=False,
                signature="absent",
                frame_id="",
            )
        )
    info_e = t0 + 120
    if lo_s <= info_e < hi_s and n > 12:
        calid, cvn = v.calibration_id or "SIMCAL-0001", v.cvn or "0BADC0DE"
        if tuned:
            calid, cvn = (calid[:12] + "-TUNE")[:18], "DEADBEEF"
        mil = "mil_dtc" in f
        its = datetime.fromtimestamp(info_e, UTC)
        out.append(
            info_from_body(
                vin,
                v,
                its,
                ObdInfo.build(
                    vin=vin,
                    calibration_id=calid,
                    cvn=cvn,
                    mil_on=mil,
                    dtcs=("0F2D0300", "0E8F0400") if mil else (),
                    diag_support=0x1C03,
                    diag_ready=0x1C03,
                ),
                received_at=its + lag,
                backfilled=False,
                frame_id="",
            )
        )
    logout = t0 + n * dt
    if lo_s <= logout < hi_s and not cut:
        ots = datetime.fromtimestamp(logout, UTC)
        out.append(
            ObdStatus(
                event_id=ObdStatus.make_id(vin, ots, "logout", st.login_serial),
                ts=ots,
                vin=vin,
                status="logout",
                received_at=ots + lag,
                login_serial=st.login_serial,
                iccid="",
                clock_offset_s=None,
                detail_json="{}",
                **common,
            )
        )
    return out


class ObdSource:
    def __init__(self, cast: Cast, plan: SeedPlan) -> None:
        self.cast = cast
        self.plan = plan
        self.states = {
            v.vin: _vehicle_state(v, cast.faults.get(v.vin, ()), plan.seed * 100_003 + i)
            for i, v in enumerate(cast.vehicles)
        }
        self.calid_day = plan.start + timedelta(days=plan.days // 2)

    def day(self, index: int, day0: datetime, lo: datetime, hi: datetime) -> list[Any]:
        out: list[Any] = []
        for vin, st in self.states.items():
            off = self.cast.offline.get(vin)
            if off is not None and off[0] <= index < off[0] + off[1]:
                continue  # terminal offline: nothing arrives (back-fill window lost when > 5 d)
            tuned = "calid_change" in st.faults and day0 >= self.calid_day
            out += _obd_day(
                st,
                day0,
                lo,
                hi,
                skew=vin in self.cast.clock_skew,
                tuned=tuned,
                dt=self.plan.obd_cadence_s,
                cut=off is not None and index + 1 == off[0],
            )
        return out


# ------------------------------------------------------------------------------------- vapour


class VaporSource:
    """Real HJ 212 packets of ``fuel_vapor.simulator.Simulation``, decoded by the intake."""

    def __init__(self, registry: Registry, plan: SeedPlan, ruleset: RuleSet) -> None:
        from fuel_vapor.codemaps import default_codemaps
        from fuel_vapor.simulator import Fault, Simulation

        ids = [s.id for s in registry.stations]
        rng = random.Random(plan.seed * 31 + 212)
        chosen = sorted(rng.sample(ids, plan.station_count(len(ids))))
        # depots: all at full scale (with every station), else a share, at least one, drawn apart
        # so that the stations' data stay what they were without them
        depot_ids = sorted(d.id for d in registry.depots)
        self.depots = sorted(
            random.Random(plan.seed * 37 + 1010).sample(
                depot_ids, plan.station_count(len(depot_ids))
            )
            if depot_ids
            else []
        )
        self.registry = registry
        self.ruleset = ruleset
        self.codemaps = default_codemaps()
        self.sim = Simulation(
            registry,
            plan.start,
            seed=plan.seed * 17 + 212,
            station_period_s=plan.station_period_s,
            sensor_period_s=plan.station_period_s,
            stations=chosen if len(chosen) < len(ids) else None,
            depots=self.depots if len(chosen) < len(ids) else None,
        )
        # persistent station problems: (unit, kind, nozzle, first day, days)
        days = plan.days
        stations = list(self.sim.stations)
        rng.shuffle(stations)
        kinds = [
            ("zero_pressure", None, 4),
            ("pv_stuck", None, 3),
            ("drift", 2, days),
            ("blocked_vapour", 1, 6),
            ("shield", None, days),
            ("pump", 3, 2),
            ("liquid_resistance", 1, 3),
        ]
        self.episodes: list[tuple[Any, int, int]] = []
        for i, (kind, nozzle, span) in enumerate(kinds):
            sid = stations[i % len(stations)]
            first = rng.randrange(0, max(1, days - min(span, days)) + 1) if span < days else 0
            start = plan.start + timedelta(days=first, hours=rng.uniform(0, 20))
            self.episodes.append((Fault(sid, kind, nozzle, start), first, min(span, days - first)))
        sensors = [s for s in self.sim.sensors if self.sim.sensors[s].s.kind == "ambient"]
        if sensors:
            first = rng.randrange(0, days)
            sid = sensors[0]
            self.episodes.append(
                (Fault(sid, "voc_spike", None, plan.start + timedelta(days=first)), first, 1)
            )
        self.problems: Counter[str] = Counter()

    def _set_faults(self, index: int) -> None:
        active = [f for f, first, span in self.episodes if first <= index < first + span]
        for m in self.sim.stations.values():
            m.faults = [f for f in active if f.unit_id == m.s.id]
        for sm in self.sim.sensors.values():
            sm.faults = [f for f in active if f.unit_id in (sm.s.id, sm.s.station)]

    def day(self, index: int, day0: datetime, lo: datetime, hi: datetime) -> list[Any]:
        from fuel_vapor.intake import from_hj212
        from fuel_vapor.protocol.framing import Frame, FrameDecoder
        from fuel_vapor.protocol.packet import parse_segment

        self._set_faults(index)
        out: list[Any] = []
        dec = FrameDecoder(  # as the gateway configures it: every code map's framing allowed
            extra_chars="".join(
                sorted({m.profile.extra_char for m in self.codemaps.values()})
            ).encode(),
            accept_modbus=any(m.profile.modbus_crc for m in self.codemaps.values()),
        )
        for pk in self.sim.packets(hi):
            if pk.ts < lo:
                continue
            unit = self.registry.unit_by_mn(pk.mn)
            for item in dec.feed(pk.frame):
                if not isinstance(item, Frame):
                    self.problems["bad_frame"] += 1
                    continue
                packet = parse_segment(item.segment.decode("utf-8", "surrogateescape"))
                cm = self.codemaps[unit.code_map] if unit is not None else None
                if cm is None:
                    self.problems["unknown_unit"] += 1
                    continue
                res = from_hj212(
                    packet,
                    item.raw,
                    unit,
                    cm,
                    pk.ts + timedelta(seconds=1.2),
                    crc_variant=item.crc_variant,
                    ruleset=self.ruleset,
                )
                self.problems.update(res.problems)
                out.append(res.packet_event)
                out += res.events
        return out


# ------------------------------------------------------------------------------------- RSD


def _diurnal(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds after local midnight of ``n`` passes: morning and evening peaks, quiet nights."""
    hours = np.arange(24)
    w = (
        0.15
        + np.exp(-0.5 * ((hours - 8) / 1.6) ** 2)
        + 0.8 * np.exp(-0.5 * ((hours - 17.5) / 2.0) ** 2)
        + 0.45 * ((hours >= 7) & (hours <= 20))
    )
    h = rng.choice(24, size=n, p=w / w.sum())
    return np.sort(h * 3600 + rng.uniform(0, 3600, size=n))


class RsdSource:
    """The simulator's canonical passes, validated and computed by ``build_passes`` (the intake's
    core), plus each site's daily calibration entry and rain downtime."""

    def __init__(self, registry: Registry, plan: SeedPlan, ruleset: RuleSet, cast: Cast) -> None:
        from remote_sensing.evaluate import Evaluator
        from remote_sensing.profiles import load_profile
        from remote_sensing.simulator import SimConfig, SiteTraffic, Vehicle, make_fleet

        self.registry = registry
        self.plan = plan
        cfg = SimConfig(seed=plan.seed, fleet_size=plan.rsd_fleet)
        rng = random.Random(plan.seed * 13 + 3)
        fleet = make_fleet(rng, cfg)
        offenders = {v.vin for v in cast.offenders}
        # OBD-registered heavy diesels pass the roadside too (same plate): a vehicle, many sources
        for v in cast.vehicles:
            if v.vin in offenders:
                veh = Vehicle(v.plate, "yellow", "01", "diesel", "China 4", rng.uniform(18, 30))
                fleet += [veh] * max(4, round(cfg.fleet_size / 600))
            else:
                veh = Vehicle(
                    v.plate, "yellow", "01", "diesel", "China 5", math.exp(rng.gauss(0, 0.6))
                )
                fleet += [veh] * max(1, round(cfg.fleet_size / 6000))
        self.fleet = fleet
        self.evaluator = Evaluator.from_ruleset(ruleset)
        self.profile = load_profile("national")
        self.present = frozenset(self.profile.fields)
        self.traffic = [
            SiteTraffic(site, fleet, cfg, plan.seed * 1000 + k)
            for k, site in enumerate(registry.rsd_sites)
        ]
        self.nprng = np.random.default_rng(plan.seed * 101 + 7)
        self.rejected = 0

    def day(self, index: int, day0: datetime, lo: datetime, hi: datetime) -> list[Any]:
        from remote_sensing.assemble import build_passes, canonical_columns
        from remote_sensing.events import RsdCalibration, RsdDowntime

        out: list[Any] = []
        weekend = day0.weekday() >= 5
        for tr in self.traffic:
            site = tr.site
            rate = self.plan.rsd_passes_per_site_day * (0.75 if weekend else 1.0)
            if site.kind == "mobile":
                rate *= 0.35  # the mobile unit is deployed part of the day
            secs = _diurnal(self.nprng, int(self.nprng.poisson(rate)))
            cal_ts = day0 + timedelta(hours=6, minutes=tr.rng.uniform(0, 50))
            if lo <= cal_ts < hi:
                out.append(
                    RsdCalibration(
                        event_id=RsdCalibration.make_id(site.id, "daily", cal_ts),
                        ts=cal_ts.astimezone(UTC),
                        site_id=site.id,
                        jurisdiction=site.jurisdiction,
                        check_kind="daily",
                        passed=True,
                        valid_until=(day0 + timedelta(days=1)).date(),
                        operator="seed-operator",
                        certificate=site.calibration.certificate if site.calibration else "",
                        co_error_pct=round(tr.rng.gauss(0, 3), 1),
                        no_error_pct=round(tr.rng.gauss(0, 4), 1),
                        hc_error_pct=round(tr.rng.gauss(0, 5), 1),
                        note="",
                    )
                )
            recs: list[dict[str, Any]] = []
            last = day0
            for s in secs.tolist():
                ts = (day0 + timedelta(seconds=s)).replace(microsecond=0)
                rain = tr.weather(ts, max(1.0, (ts - last).total_seconds()))
                last = ts
                if rain is not None and lo <= rain[0] < hi:
                    out.append(
                        RsdDowntime(
                            event_id=RsdDowntime.make_id(site.id, rain[0], "rain"),
                            ts=rain[0].astimezone(UTC),
                            end=rain[1].astimezone(UTC),
                            site_id=site.id,
                            jurisdiction=site.jurisdiction,
                            reason="rain",
                            note="",
                        )
                    )
                if tr.raining(ts) or not lo <= ts < hi:
                    continue
                recs.append(tr.canonical_pass(ts))
            if not recs:
                continue
            cols = canonical_columns(recs)
            events, errors = build_passes(
                cols,
                list(range(len(recs))),
                registry=self.registry,
                evaluator=self.evaluator,
                profile=self.profile.name,
                now=hi + timedelta(minutes=1),
                token_sites=None,  # trusted, like the watched-folder intake
                raw_ref=f"seed:rsd/{site.id}/{day0:%Y%m%d}",
                present=self.present,
            )
            self.rejected += len(errors)
            out += [events[i] for i in sorted(events)]
        return out


# ------------------------------------------------------------------------------------- smoke

EVIDENCE_FILES = ("best_frame.jpg", "best_frame_raw.jpg", "plume_crop.jpg", "plate_crop.jpg")
CLIP_FRAMES, CLIP_FRAME_MS = 6, 2000  # the drawn clip: 6 frames of 2 s (BS-EVIDENCE wants ≥ 10 s)
_YY, _XX = np.mgrid[0:180, 0:320].astype(np.float32)
PLATE_RGB = {"yellow": (236, 190, 24), "blue": (24, 70, 170), "green": (120, 200, 120)}


def _scene(rng: np.random.Generator, grade: float, shift: int = 0) -> tuple[Any, tuple[int, ...]]:
    """A small roadside frame drawn with numpy (320×180 RGB): sky, road, lane marks, a truck and a
    plume whose blackness follows the Ringelmann grade (20 % per grade). Returns (image, plume box)."""
    h, w = 180, 320
    img = np.empty((h, w, 3), dtype=np.float32)
    img[:70] = np.linspace(200, 170, 70, dtype=np.float32)[:, None, None]  # sky
    img[70:] = np.linspace(95, 70, h - 70, dtype=np.float32)[:, None, None]  # asphalt
    img[:, :, 2] += 12
    img[120:124, [*range(10, 60), *range(110, 160), *range(210, 260)]] = 230  # lane marks
    x0 = 150 + shift
    body = tuple(int(c) for c in rng.integers(40, 200, 3))
    img[80:130, x0 : x0 + 110] = body  # box
    img[95:130, x0 + 110 : x0 + 140] = (60, 60, 70)  # cab
    for wx in (x0 + 10, x0 + 80, x0 + 120):
        img[128:140, wx : wx + 16] = 25  # wheels
    cx, cy = x0 - 35, 115
    blob = np.exp(-(((_XX - cx) / 38.0) ** 2 + ((_YY - cy) / 22.0) ** 2))
    blob *= 1.0 + 0.15 * rng.standard_normal((h, w), dtype=np.float32)
    a = np.clip(min(1.0, grade * 0.2) * blob, 0.0, 1.0)[..., None]
    img = img * (1.0 - a) + 15.0 * a
    box = (max(0, cx - 60), cy - 35, min(w, cx + 60), cy + 35)
    return np.clip(img, 0, 255).astype(np.uint8), box


def _plate_image(plate: str, colour: str) -> Any:
    """The plate crop: the plate's colour with its letters and digits (the province character needs
    a CJK font, which is not shipped: it is left out of the drawing, not of the record)."""
    from PIL import Image, ImageDraw

    bg = PLATE_RGB.get(colour, (200, 200, 200))
    im = Image.new("RGB", (132, 40), bg)
    d = ImageDraw.Draw(im)
    d.rectangle((2, 2, 129, 37), outline=(20, 20, 20) if colour == "yellow" else (240, 240, 240))
    text = plate[1:] if plate and not plate[0].isascii() else (plate or "?")
    ink = (15, 15, 15) if colour in ("yellow", "green") else (245, 245, 245)
    d.text((12, 13), text[:1] + " " + text[1:], fill=ink)
    return im


def write_drawn_evidence(
    folder: Path, *, seed: int, grade: float, plate: str, colour: str, meta: dict[str, Any]
) -> tuple[tuple[str, ...], tuple[str, ...], float]:
    """Small real evidence for a seeded capture, drawn with numpy and written with Pillow (nothing
    downloaded): best frame (plume boxed), the untouched frame, plume and plate crops, a 12-second
    grey GIF clip and the bundle's ``manifest.json`` (smoke_capture.evidence's format). Returns (file
    names, SHA-256 of each, clip seconds)."""
    from PIL import Image

    from smoke_capture.evidence import MANIFEST

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    frame, box = _scene(rng, grade)
    boxed = frame.copy()
    x0, y0, x1, y1 = box
    boxed[y0 : y0 + 2, x0:x1] = boxed[y1 - 2 : y1, x0:x1] = (230, 30, 30)
    boxed[y0:y1, x0 : x0 + 2] = boxed[y0:y1, x1 - 2 : x1] = (230, 30, 30)
    images = {
        "best_frame.jpg": Image.fromarray(boxed),
        "best_frame_raw.jpg": Image.fromarray(frame),
        "plume_crop.jpg": Image.fromarray(frame[y0:y1, x0:x1]),
        "plate_crop.jpg": _plate_image(plate, colour),
    }
    for name, im in images.items():
        im.save(folder / name, format="JPEG", quality=80)
    grey = frame[::2, ::2].mean(axis=2).astype(np.uint8)  # 160×90 grey: no palette to compute
    frames = [  # the scene passing by, 6 px a second
        Image.fromarray(np.roll(grey, 12 * i - 30, axis=1), mode="L") for i in range(CLIP_FRAMES)
    ]
    frames[0].save(
        folder / "clip.gif",
        save_all=True,
        append_images=frames[1:],
        duration=CLIP_FRAME_MS,
        loop=0,
    )
    names = (*images, "clip.gif")
    hashes = tuple(hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in names)
    roles = ("best_frame", "best_frame_raw", "plume_crop", "plate_crop", "clip")
    clip_s = CLIP_FRAMES * CLIP_FRAME_MS / 1000.0
    manifest = {
        **meta,
        "plume_box": list(box),
        "vehicle_box": None,
        "clip_seconds": clip_s,
        "clip_fps": 1000.0 / CLIP_FRAME_MS,
        "plate_crop": "drawn",
        "synthetic": True,
        "files": [
            {"name": n, "role": r, "sha256": h, "size": (folder / n).stat().st_size}
            for n, r, h in zip(names, roles, hashes, strict=True)
        ],
    }
    (folder / MANIFEST).write_text(
        json.dumps(manifest, ensure_ascii=False, sort_keys=True, indent=1), encoding="utf-8"
    )
    return names, hashes, clip_s


SEED_MODEL = "smoke_yolov8n-seed"
REVIEWERS = {"qingpu": "officer.wang", "wujiang": "officer.shen", "jiashan": "officer.zhu"}


class SmokeSource:
    """Synthesised black-smoke captures with their evidence metadata, and reviews of older ones.

    Every capture gets real evidence files under ``<data dir>/smoke_capture/evidence/<camera>/<day>/
    <capture>/``, referenced by that path relative to the data directory (so an evidence export
    and ``evidence verify`` find and hash them, and the pages show them): a few (``real_bundles``)
    rendered by the synthetic scene generator when OpenCV is installed, the others drawn small
    (:func:`write_drawn_evidence`, numpy + Pillow). Without an evidence root (a bare test source)
    the files are named under a ``seed://`` URI with nothing behind them."""

    def __init__(
        self,
        registry: Registry,
        plan: SeedPlan,
        cast: Cast,
        rsd_fleet: Sequence[Any],
        evidence_root: Path | None,
        real_bundles: int = 8,
    ) -> None:
        self.registry = registry
        self.plan = plan
        self.rng = random.Random(plan.seed * 29 + 4)
        self.diesel = [v for v in rsd_fleet if v.fuel == "diesel"]
        self.nev = [v for v in rsd_fleet if v.fuel == "electric"][:200]
        self.offenders = {v.plate: v for v in cast.offenders}
        self.evidence_root = evidence_root
        self.real_left = real_bundles if evidence_root is not None else 0
        self.bundles = 0
        self.drawn = 0
        self.pending: list[tuple[datetime, int, Any]] = []  # reviews due later
        self._n = 0
        self.track = 0

    def _capture(self, cam: Any, ts: datetime) -> Any:
        from smoke_capture.events import SmokeCapture

        rng = self.rng
        self.track += 1
        u = rng.random()
        offender = False
        if u < 0.08:
            plate, colour, ptype, source = "unknown", "unknown", "", "none"
        elif u < 0.11 and self.nev:
            v = rng.choice(self.nev)
            plate, colour, ptype, source = v.plate, v.colour, v.plate_type, "anpr_metadata"
        elif u < 0.2 and self.offenders:
            plate = rng.choice(sorted(self.offenders))
            colour, ptype, source, offender = "yellow", "01", "anpr_metadata", True
        else:
            v = rng.choice(self.diesel)
            plate, colour, ptype, source = v.plate, v.colour, v.plate_type, "anpr_metadata"
        grade = (
            round(rng.uniform(2.0, 3.6), 1)
            if offender
            else round(min(5.0, max(0.5, rng.lognormvariate(math.log(1.2), 0.35))), 1)
        )
        first = ts - timedelta(seconds=rng.uniform(2, 6))
        eid = SmokeCapture.make_id(cam.id, self.track, first)
        clip = round(rng.uniform(10.5, 14.0), 1)
        files: tuple[str, ...] = (*EVIDENCE_FILES, "clip.mp4")
        hashes = tuple(hashlib.sha256(f"{eid}/{n}".encode()).hexdigest() for n in files)
        uri = f"seed://smoke_capture/{cam.id}/{first:%Y%m%d}/{eid}"
        want_real = self.real_left > 0 and (offender or self.bundles == 0 or rng.random() < 0.02)
        # the capture's facts, drawn before its evidence is written (the bundle's manifest carries
        # them, as the live pipeline's does: what a review and its training label read)
        last = ts + timedelta(seconds=rng.uniform(1, 4))
        grade_conf = round(rng.uniform(0.55, 0.95), 2)
        opacity = round(min(1.0, grade / 5 + rng.uniform(0, 0.08)), 3)
        frames = rng.randint(4, 30)
        det_conf = round(rng.uniform(0.5, 0.95), 2)
        meta = {
            "capture_id": eid,
            "camera_id": cam.id,
            "site_id": cam.site,
            "jurisdiction": cam.jurisdiction,
            "lane": cam.lane,
            "ts": ts.isoformat(),
            "first_ts": first.astimezone(UTC).isoformat(),
            "last_ts": last.astimezone(UTC).isoformat(),
            "best_ts": ts.astimezone(UTC).isoformat(),
            "grade": grade,
            "grade_confidence": grade_conf,
            "model_version": SEED_MODEL,
            "detector_confidence": det_conf,
            "calibration_status": "valid",
            "plate": plate,
            "plate_colour": colour,
        }
        real = None
        if want_real:
            real = self._bundle(cam, eid, first, meta)
            if real is not None:
                uri, files, hashes, clip = real
                self.real_left -= 1
        if real is None and self.evidence_root is not None:
            folder = self.evidence_root / cam.id / first.strftime("%Y%m%d") / eid
            files, hashes, clip = write_drawn_evidence(
                folder,
                seed=int(eid[:8], 16),
                grade=grade,
                plate="" if plate == "unknown" else plate,
                colour=colour,
                meta=meta,
            )
            uri = self._uri(folder)
            self.drawn += 1
        return SmokeCapture(
            event_id=eid,
            ts=ts.astimezone(UTC),
            camera_id=cam.id,
            site_id=cam.site,
            jurisdiction=cam.jurisdiction,
            lane=cam.lane,
            track_id=self.track,
            first_ts=first.astimezone(UTC),
            last_ts=last.astimezone(UTC),
            plate=plate,
            plate_colour=colour,
            plate_type=ptype,
            plate_source=source,
            vehicle_class="truck" if colour == "yellow" else "vehicle",
            grade=grade,
            grade_confidence=grade_conf,
            opacity=opacity,
            frames=frames,
            detector_confidence=det_conf,
            grader_method="background_model",
            quality_flags=(),
            model_version=SEED_MODEL,
            calibration_status="valid",
            evidence_uri=uri,
            evidence_files=files,
            evidence_sha256=hashes,
            clip_seconds=clip,
        )

    def _bundle(
        self, cam: Any, eid: str, first: datetime, meta: dict[str, Any]
    ) -> tuple[str, tuple[str, ...], tuple[str, ...], float] | None:
        """A real evidence bundle from the synthetic scene generator (None without OpenCV)."""
        assert self.evidence_root is not None
        try:
            from smoke_capture.evidence import write_bundle
            from smoke_capture.synth import SceneSpec, render_pass
        except ImportError:
            self.real_left = 0
            return None
        nrng = np.random.default_rng(int(eid[:8], 16))
        spec = SceneSpec(
            width=384,
            height=288,
            vehicles=1,
            smoke=True,
            opacity=min(0.95, float(meta["grade"]) / 5 + 0.1),
        )
        try:
            scenes = render_pass(nrng, 24, spec)
        except ImportError:
            self.real_left = 0
            return None
        best = max(range(len(scenes)), key=lambda i: len(scenes[i].smoke_boxes))
        sc = scenes[best]
        plume = sc.smoke_boxes[0].xyxy if sc.smoke_boxes else (0, 0, 40, 40)
        veh = sc.vehicle_boxes[0].xyxy if sc.vehicle_boxes else None
        folder = self.evidence_root / cam.id / first.strftime("%Y%m%d") / eid
        bundle = write_bundle(
            folder,
            best_frame=sc.image,
            plume_box=plume,
            vehicle_box=veh,
            plate_box=None,
            clip_frames=[s.image for s in scenes],
            clip_fps=2.0,
            meta={
                **meta,
                # the scene's own boxes in best_frame_raw.jpg pixels: what a review corrects
                "plume_box": [round(float(x), 1) for x in plume],
                "vehicle_box": None if veh is None else [round(float(x), 1) for x in veh],
                "synthetic": True,
            },
        )
        self.bundles += 1
        return self._uri(folder), bundle.names, bundle.hashes, bundle.clip_seconds

    def _uri(self, folder: Path) -> str:
        """The evidence folder relative to the data directory (``smoke_capture/evidence/…``): the
        warehouse stays valid when the directory moves; the API and pages resolve it there."""
        assert self.evidence_root is not None
        return (
            Path("smoke_capture") / "evidence" / folder.relative_to(self.evidence_root)
        ).as_posix()

    def _review(self, cap: Any) -> Any | None:
        from smoke_capture.events import SmokeReview

        rng = self.rng
        if rng.random() > 0.7:
            return None  # still in the queue
        ts = cap.ts + timedelta(hours=rng.uniform(1, 30))
        nev = cap.plate_type in ("51", "52") or cap.plate_colour in ("green", "yellow_green")
        if nev:
            decision, reason, grade = "dismissed", "nev", None
        elif cap.plate in self.offenders or (cap.grade >= 1.5 and rng.random() < 0.6):
            decision, reason, grade = "confirmed", "", float(max(1, round(cap.grade)))
        else:
            decision, grade = "dismissed", None
            reason = rng.choice(["shadow", "wet_road", "not_smoke", "plate_mismatch"])
        reviewer = REVIEWERS.get(cap.jurisdiction, "officer.zone")
        return SmokeReview(
            event_id=SmokeReview.make_id(cap.event_id, reviewer, ts),
            ts=ts,
            capture_id=cap.event_id,
            camera_id=cap.camera_id,
            jurisdiction=cap.jurisdiction,
            plate=cap.plate,
            reviewer=reviewer,
            decision=decision,
            reason=reason,
            confirmed_grade=grade,
            note="seeded review",
        )

    def day(self, index: int, day0: datetime, lo: datetime, hi: datetime) -> list[Any]:
        out: list[Any] = []
        review_until = self.plan.end - timedelta(days=2)
        for cam in self.registry.cameras:
            n = np.random.default_rng(self.plan.seed * 1_000_003 + index * 97 + self._n).poisson(
                self.plan.smoke_per_camera_day
            )
            self._n += 1
            for _ in range(int(n)):
                ts = day0 + timedelta(hours=self.rng.uniform(6.0, 20.0))
                if not lo <= ts < hi:
                    continue
                cap = self._capture(cam, ts.replace(microsecond=0))
                out.append(cap)
                if cap.ts < review_until:
                    rev = self._review(cap)
                    if rev is not None:
                        self._n += 1
                        heapq.heappush(self.pending, (rev.ts, self._n, rev))
        while self.pending and self.pending[0][0] < hi:
            out.append(heapq.heappop(self.pending)[2])
        return out


# ------------------------------------------------------------------------------------- run


def _event_ts(e: Any) -> datetime:
    return e.ts  # type: ignore[no-any-return]


class Seeder:
    """Generate, judge and store; ``run`` returns the report. The sink is the platform's."""

    def __init__(
        self,
        client: Any,
        plan: SeedPlan,
        *,
        ruleset: RuleSet,
        registry: Registry,
        data_dir: Path,
        processors: Sequence[Processor] | None = None,
        real_bundles: int = 8,
        batch_size: int = 100_000,
    ) -> None:
        from streams import catalog

        self.client = client
        self.plan = plan
        self.ruleset = ruleset
        self.data_dir = data_dir
        self.cast = make_cast(registry, plan)
        self.registry = (
            registry.merged(Registry(obd_vehicles=list(self.cast.synthetic)))
            if self.cast.synthetic
            else registry
        )
        self.processors = catalog.processors() if processors is None else tuple(processors)
        self.real_bundles = real_bundles
        self.batch_size = batch_size

    def write_registry(self) -> Path | None:
        """The seeded fleet as a registry directory (the shipped files + ``seed_fleet.yaml``)."""
        if not self.cast.synthetic:
            return None
        import yaml

        from core.registry import DEFAULT_DIR

        d = self.data_dir / "registry"
        d.mkdir(parents=True, exist_ok=True)
        for f in sorted(DEFAULT_DIR.glob("*.yaml")):
            shutil.copyfile(f, d / f.name)
        data = {"obd_vehicles": [v.model_dump(mode="json") for v in self.cast.synthetic]}
        (d / "seed_fleet.yaml").write_text(
            "# Synthetic heavy-diesel fleet written by `emwatch seed` (not real vehicles).\n"
            + yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
            encoding="utf-8",
        )
        return d

    def run(self, progress: bool = True, on_day: Callable[[int], None] | None = None) -> SeedReport:
        from streams.bus.inproc import InProcessBus
        from streams.warehouse.sink import BatchingSink

        plan = self.plan
        report = SeedReport()
        reg_dir = self.write_registry()
        report.registry_dir = str(reg_dir or "")
        ctx = Context(self.ruleset, self.registry)
        bus = InProcessBus(None, self.processors, ctx)
        sink = BatchingSink(
            self.client,
            batch_size=self.batch_size,
            max_delay_s=5.0,
            max_buffered=2 * self.batch_size,
        ).start()
        rsd = RsdSource(self.registry, plan, self.ruleset, self.cast)
        sources: list[Any] = [
            ObdSource(self.cast, plan),
            VaporSource(self.registry, plan, self.ruleset),
            rsd,
            SmokeSource(
                self.registry,
                plan,
                self.cast,
                rsd.fleet,
                self.data_dir / "smoke_capture" / "evidence",
                self.real_bundles,
            ),
        ]
        slices = plan.days_list()
        bar = _progress(progress)
        t0 = time.perf_counter()
        try:
            for index, (lo, hi) in enumerate(slices):
                local = lo.astimezone(BEIJING)
                day0 = datetime(local.year, local.month, local.day, tzinfo=BEIJING)
                events: list[Any] = []
                for src in sources:
                    events += src.day(index, day0, lo, hi)
                events.sort(key=_event_ts)
                report.readings += sum(_records(e) for e in events)
                bar.set_postfix_str(f"day {index + 1}/{len(slices)} {day0:%Y-%m-%d}")
                self._judge_and_store(bus, sink, events, report, bar.update)
                if on_day is not None:
                    on_day(index)
        finally:
            bar.close()
            state = sink.close(timeout=120)
        report.seconds = time.perf_counter() - t0
        report.processor_errors = bus.processor_errors
        report.evidence_bundles = sources[3].bundles + sources[3].drawn
        if state.buffered:
            raise SeedError(
                f"{state.buffered} events could not be written to the warehouse: {state.last_error}"
            )
        return report

    def _judge_and_store(
        self,
        bus: Any,
        sink: Any,
        events: list[Any],
        report: SeedReport,
        progress: Callable[[int], Any],
    ) -> None:
        """Store and judge one day's events (time order); then the processors' outputs, round by
        round, until nothing new comes out. ``progress`` is told how many readings were done."""
        pending = events
        rounds = 0
        seen: set[str] = set()  # ids are time-based: a repeat can only come from the same day
        process = bus.process_now
        rows, repeated = report.rows, report.repeated
        step = 20_000
        while pending:
            outputs: list[Any] = []
            for i in range(0, len(pending), step):
                chunk = pending[i : i + step]
                sink.put(chunk)  # blocks while the sink is full: backpressure, as on the bus
                done = 0
                for e in chunk:
                    ids = getattr(e, "event_ids", None)
                    if ids is None:  # one event, one id
                        done += 1
                        if e.event_id in seen:  # same id, stored once (ReplacingMergeTree): apart
                            repeated[e.KIND] += 1
                        else:
                            seen.add(e.event_id)
                            rows[e.KIND] += 1
                    else:  # a columnar batch: its ids at once
                        n0 = len(seen)
                        seen.update(ids)
                        new = len(seen) - n0
                        done += len(ids)
                        rows[e.KIND] += new
                        if new != len(ids):
                            repeated[e.KIND] += len(ids) - new
                    outputs += process(e)
                if rounds == 0:
                    progress(done)
            outputs.sort(key=_event_ts)
            pending = outputs
            rounds += 1
            if rounds > 20:
                raise SeedError("processors keep producing events after 20 rounds (a loop?)")


def _records(e: Any) -> int:
    """Readings in an event: a columnar batch's records, else 1."""
    return len(e) if hasattr(e, "event_ids") else 1


def _progress(enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(
        unit=" readings", unit_scale=True, disable=not enabled, dynamic_ncols=True, smoothing=0.1
    )


# ------------------------------------------------------------------------------------- guard


def seeded_marker(data_dir: Path) -> dict[str, Any] | None:
    p = data_dir / MARKER
    if not p.exists():
        return None
    try:
        return json.loads(p.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    except ValueError:
        return {"status": "unreadable"}


def warehouse_rows(client: Any) -> int:
    """Rows in the reading and exceedance tables (0 for a fresh warehouse)."""
    from streams import catalog

    tables = {et.table for et in catalog.event_types().values()}
    have = {
        r[0]
        for r in client.query(
            "SELECT name FROM system.tables WHERE database = currentDatabase()"
        ).result_rows
    }
    total = 0
    for t in sorted(tables & have):
        total += int(client.query(f"SELECT count() FROM `{t}`").result_rows[0][0])
    return total


def prepare_dir(data_dir: Path, replace: bool) -> None:
    """Refuse a directory seeded before (unless ``replace``) or holding a platform's data."""
    marker = seeded_marker(data_dir)
    wh = data_dir / "warehouse"
    if marker is not None and not replace:
        what = (
            "was already seeded"
            if marker.get("status") == "complete"
            else "holds a seed that did not finish (or is still running)"
        )
        raise SeedError(
            f"{data_dir} {what} ({marker.get('days', '?')} days ending "
            f"{marker.get('end', '?')}); use --replace to seed it again or choose another --data-dir"
        )
    if marker is not None and replace:
        from streams.warehouse.client import WarehouseLocked, _check_not_locked

        if wh.exists():
            try:  # never delete a warehouse that a running platform holds open
                _check_not_locked(wh)
            except WarehouseLocked as exc:
                raise SeedError(str(exc)) from None
        for sub in ("warehouse", "registry", "smoke_capture"):
            shutil.rmtree(data_dir / sub, ignore_errors=True)
        (data_dir / MARKER).unlink(missing_ok=True)
    # a warehouse without a marker is checked against its tables once open (it may be empty)


def write_marker(data_dir: Path, plan: SeedPlan, status: str, report: SeedReport | None) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    body: dict[str, Any] = {
        "status": status,
        "days": plan.days,
        "scale": plan.scale,
        "seed": plan.seed,
        "start": plan.start.isoformat(),
        "end": plan.end.isoformat(),
        "written_at": datetime.now(UTC).isoformat(),
    }
    if report is not None:
        body["report"] = report.as_json()
    tmp = data_dir / (MARKER + ".tmp")
    tmp.write_text(json.dumps(body, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(data_dir / MARKER)


def parse_end(text: str) -> datetime:
    """``now`` or an ISO time (naive = Beijing time)."""
    if text == "now":
        return datetime.now(UTC).replace(microsecond=0)
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        raise SeedError(
            f"--end {text!r}: expected 'now' or an ISO time such as 2026-12-01T00:00"
        ) from None
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=BEIJING)


def table_counts(client: Any, kinds: Iterable[str]) -> dict[str, int]:
    from streams.catalog import table_of

    return {
        k: int(client.query(f"SELECT count() FROM `{table_of(k)}` FINAL").result_rows[0][0])
        for k in kinds
    }

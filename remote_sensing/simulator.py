"""RSD traffic simulator: sites in the three jurisdictions posting realistic passes to the intake.

Responsible for demo, test and benchmark traffic that looks like real roadside remote sensing:

* a fleet with a fuel mix (gasoline, diesel, new-energy plates) and China emission stages, plates of
  Shanghai (沪), Suzhou (苏E) and Jiaxing (浙F) plus visitors, with repeat visits (a few plates pass
  very often, most rarely: Zipf-like weights);
* plume ratios shaped after the real UK data (tests/data/rsd, 100,000 passes): per-vehicle
  lognormal emitter factors with a heavy tail (a small share of vehicles emits most; in the real
  data the top 10 % of gasoline passes carry about 75 % of CO), per-pass lognormal variation and
  additive instrument noise that makes near-zero ratios negative, as in the real data;
* driving conditions (speed and acceleration spread like the real data), weather downtime (rain
  periods in which a site posts a downtime record instead of passes), and invalid passes (low speed,
  unread or low-confidence plates, strong wind, short headway);
* a small share of malformed records (negative speed, impossible ratio) so that the intake's
  per-record errors are exercised continuously.

Records are written in the site's vendor profile (``national`` or ``vendor_b`` field names and code
tables) by inverting that profile, and posted over HTTP to the real intake endpoint.

Known limits: emission levels by stage are coarse multipliers, not an emission model; opacity and
Ringelmann are drawn independently of the gas ratios except through the emitter factor.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from core.registry import Registry, RsdSite
from core.timeutil import BEIJING, utcnow
from remote_sensing.profiles import Profile, load_profile

# Median plume ratios (mol/mol) of "modern" vehicles, from the real UK data (Euro 4/5 medians):
# gasoline NO 0.0003, diesel NO 0.003; CO and HC medians across all stages.
BASE_MEDIANS = {
    "gasoline": {"co": 0.0022, "hc": 0.00025, "no": 0.0003},
    "diesel": {"co": 0.0009, "hc": 0.00029, "no": 0.0030},
}
# Largest ratios seen in the real data (CO 2.05, HC 0.235, NO 0.054): the simulator caps there.
RATIO_CAP = {"co": 2.0, "hc": 0.2, "no": 0.05}
# How strongly the per-vehicle emitter factor acts on a pollutant: diesel NO is not heavy-tailed in
# the real data (top 10 % of passes carry 28 % of NO, against 62-75 % for CO).
EMITTER_EXPONENT = {("diesel", "no"): 0.3}
# Instrument noise (sd, mol/mol) that produces the negative values seen in the real data.
NOISE_SD = {"co": 0.003, "hc": 0.0006, "no": 0.0002}
# Emission-stage multipliers (older stages emit more; Euro 2/3 vs 4/5 medians in the real data).
STAGE_FACTOR = {"China 3": 3.0, "China 4": 1.6, "China 5": 1.0, "China 6": 0.6}
STAGE_WEIGHTS = {"China 3": 0.08, "China 4": 0.22, "China 5": 0.40, "China 6": 0.30}
PROVINCE_PREFIX = {"qingpu": "沪A", "wujiang": "苏E", "jiashan": "浙F"}
_SERIAL = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"


@dataclass(frozen=True, slots=True)
class Vehicle:
    plate: str
    colour: str  # canonical colour
    plate_type: str
    fuel: str  # gasoline | diesel | electric
    stage: str
    emitter: float  # multiplier on the stage median (lognormal, heavy tail)


@dataclass(frozen=True, slots=True)
class SimConfig:
    rate_per_site: float = 2.0  # passes per second per site (wall clock)
    batch: int = 20  # records per upload
    seed: int = 1
    duration_s: float | None = None  # None: until stopped
    fleet_size: int = 5000
    high_emitter_share: float = 0.03
    nev_share: float = 0.10
    diesel_share: float = 0.22
    rain_chance_per_hour: float = 0.04
    malformed_share: float = 0.002
    invalid_share: float = 0.08


@dataclass(slots=True)
class SimStats:
    requests: int = 0
    posted: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    downtime: int = 0
    errors: list[str] = field(default_factory=list)


def make_fleet(rng: random.Random, cfg: SimConfig) -> list[Vehicle]:
    """A fleet with the configured fuel mix, stages and a heavy-tailed emitter distribution."""
    fleet: list[Vehicle] = []
    used: set[str] = set()
    provinces = [*PROVINCE_PREFIX.values(), "苏A", "浙A", "皖A"]
    weights = [0.35, 0.2, 0.2, 0.1, 0.1, 0.05]
    while len(fleet) < cfg.fleet_size:
        prefix = rng.choices(provinces, weights)[0]
        u = rng.random()
        if u < cfg.nev_share:
            fuel, serial_len = "electric", 6
            colour = rng.choice(["green", "green", "yellow_green"])
            ptype = "52" if colour == "green" else "51"
        elif u < cfg.nev_share + cfg.diesel_share:
            fuel, serial_len, colour, ptype = "diesel", 5, "yellow", "01"
        else:
            fuel, serial_len, colour, ptype = "gasoline", 5, "blue", "02"
        plate = prefix + "".join(rng.choice(_SERIAL) for _ in range(serial_len))
        if plate in used:
            continue
        used.add(plate)
        stage = rng.choices(list(STAGE_WEIGHTS), list(STAGE_WEIGHTS.values()))[0]
        emitter = math.exp(rng.gauss(0.0, 0.9))
        if rng.random() < cfg.high_emitter_share:
            emitter *= rng.uniform(8.0, 30.0)
        fleet.append(Vehicle(plate, colour, ptype, fuel, stage, emitter))
    return fleet


class SiteTraffic:
    """Canonical passes of one site, in time order, from a shared fleet."""

    def __init__(self, site: RsdSite, fleet: list[Vehicle], cfg: SimConfig, seed: int) -> None:
        self.site = site
        self.fleet = fleet
        self.cfg = cfg
        self.rng = random.Random(seed)
        n = len(fleet)
        # Zipf-like visit weights: a few plates pass often (commuters, buses), most rarely
        self._cum = list(_cumulative([1.0 / (i + 1) ** 0.9 for i in range(n)]))
        self._order = list(range(n))
        self.rng.shuffle(self._order)
        self.seq = 0
        self.co2_ref = round(self.rng.uniform(14.2, 15.0), 2)
        self.rain_until: datetime | None = None
        # per pass, these do not change: the site's road grade terms and the Beijing day's text
        g = site.road_grade
        tan_g = math.tan(math.radians(g)) if site.grade_unit == "degree" else g / 100.0
        self._sin_g = math.sin(math.atan(tan_g))
        self._unit_id = f"YC-{site.id[4:]}"
        self._day: tuple[float, float, str] = (0.0, -1.0, "")  # [start, end) epoch s, YYYYMMDD
        self._medians: dict[int, tuple[tuple[str, float], ...]] = {}  # fleet index -> medians

    def _pick_index(self) -> int:
        # the first cumulative weight ≥ x (a binary search, as bisect_left does)
        return self._order[bisect.bisect_left(self._cum, self.rng.random() * self._cum[-1])]

    def pick(self) -> Vehicle:
        return self.fleet[self._pick_index()]

    def _day_text(self, ts: datetime) -> str:
        t = ts.timestamp()
        lo, hi, text = self._day
        if not lo <= t < hi:
            local = ts.astimezone(BEIJING)
            start = local.replace(hour=0, minute=0, second=0, microsecond=0)
            text = f"{local:%Y%m%d}"
            self._day = (start.timestamp(), (start + timedelta(days=1)).timestamp(), text)
        return text

    def _median_of(self, i: int, v: Vehicle) -> tuple[tuple[str, float], ...]:
        """The vehicle's median ratio per pollutant (stage × emitter factor × base median)."""
        got = self._medians.get(i)
        if got is None:
            fuel = v.fuel
            got = self._medians[i] = tuple(
                (
                    p,
                    BASE_MEDIANS[fuel][p]
                    * (STAGE_FACTOR[v.stage] * v.emitter ** EMITTER_EXPONENT.get((fuel, p), 1.0)),
                )
                for p in ("co", "hc", "no")
            )
        return got

    def weather(self, ts: datetime, dt_s: float) -> tuple[datetime, datetime] | None:
        """Start a rain period with the configured hourly chance; returns (start, end) when it does."""
        if self.rain_until is not None and ts < self.rain_until:
            return None
        self.rain_until = None
        if self.rng.random() < self.cfg.rain_chance_per_hour * dt_s / 3600.0:
            end = ts + timedelta(minutes=self.rng.uniform(20, 150))
            self.rain_until = end
            return ts, end
        return None

    def raining(self, ts: datetime) -> bool:
        return self.rain_until is not None and ts < self.rain_until

    def canonical_pass(self, ts: datetime) -> dict[str, Any]:
        rng, cfg = self.rng, self.cfg
        self.seq += 1
        i = self._pick_index()
        v = self.fleet[i]
        rec: dict[str, Any] = {
            "record_id": f"{self.site.id}-{self._day_text(ts)}-{self.seq:07d}",
            "site_id": self.site.id,
            "unit_id": self._unit_id,
            "lane": rng.choice([1, 1, 2]),
            "ts": ts,
            "plate": v.plate,
            "plate_colour": v.colour,
            "plate_type": v.plate_type,
            "plate_confidence": round(min(100.0, rng.gauss(95, 3)), 1),
            "fuel": v.fuel,
            "emission_stage": v.stage,
            "speed_kmh": round(max(1.0, rng.gauss(38, 12)), 1),
            "accel_ms2": round(rng.gauss(0.2, 0.4), 2),
            "wind_ms": round(abs(rng.gauss(2.0, 1.3)), 1),
            "temperature_c": round(rng.gauss(16, 5), 1),
            "humidity_pct": round(min(100.0, max(10.0, rng.gauss(70, 12))), 0),
            "precipitation": False,
            "headway_s": round(rng.expovariate(1 / 6.0) + 1.0, 1),
            "co2_ref_pct": self.co2_ref,
            "plume_co2": round(rng.uniform(20, 120), 1),
        }
        if v.fuel != "electric":
            fuel = v.fuel
            for p, med in self._median_of(i, v):
                q = med * math.exp(rng.gauss(0.0, 0.8)) + rng.gauss(0.0, NOISE_SD[p])
                rec[f"ratio_{p}"] = round(min(q, RATIO_CAP[p]), 6)
            if fuel == "diesel":
                opa = min(99.0, max(0.0, 4.0 * v.emitter * math.exp(rng.gauss(0, 0.5))))
                rec["opacity_pct"] = round(opa, 1)
                rec["ringelmann"] = 0 if opa < 20 else (1 if opa < 40 else 2)
            for p, unit in (("co", "co_pct"), ("hc", "hc_ppm"), ("no", "no_ppm")):
                scale = 1.0 if p == "co" else 1e4
                rec[f"device_{unit}"] = _sig(rec[f"ratio_{p}"] * self.co2_ref * scale, 5)
            rec.update({"limit_co_pct": 2.5, "limit_hc_ppm": 1200, "limit_no_ppm": 1500})
            if fuel == "diesel":
                rec.update({"limit_opacity_pct": 30, "limit_ringelmann": 1})
        rec["device_result"] = "pass"
        # invalid passes (screened, still accepted)
        if rng.random() < cfg.invalid_share:
            kind = rng.choice(["slow", "unread", "lowconf", "wind", "headway", "accel"])
            if kind == "slow":
                rec["speed_kmh"] = round(rng.uniform(1, 9), 1)
            elif kind == "unread":
                rec["plate"] = ""
            elif kind == "lowconf":
                rec["plate_confidence"] = round(rng.uniform(40, 79), 1)
            elif kind == "wind":
                rec["wind_ms"] = round(rng.uniform(5.5, 12), 1)
            elif kind == "headway":
                rec["headway_s"] = round(rng.uniform(0.1, 0.9), 1)
            else:
                rec["accel_ms2"] = round(rng.choice([-1, 1]) * rng.uniform(3.2, 5), 2)
        sp = rec["speed_kmh"]
        a = rec["accel_ms2"] * 3.6 / 1.609344
        vm = sp / 1.609344
        sin_g = self._sin_g
        rec["grade"] = self.site.road_grade
        rec["device_vsp"] = round(
            4.39 * sin_g * vm + 0.22 * vm * a + 0.0954 * vm + 0.0000272 * vm**3, 2
        )
        if self.raining(ts):
            rec["precipitation"] = True
        # malformed records: the intake must reject them one by one
        if rng.random() < cfg.malformed_share:
            bad = rng.choice(["neg_speed", "ratio", "colour"])
            if bad == "neg_speed":
                rec["speed_kmh"] = -round(rng.uniform(1, 50), 1)
            elif bad == "ratio":
                rec["ratio_co"] = 12.0
            else:
                rec["plate_colour"] = "purple"
        return rec


def _sig(x: float, digits: int) -> float:
    return 0.0 if x == 0 else round(x, digits - 1 - math.floor(math.log10(abs(x))))


def _cumulative(xs: list[float]) -> Iterator[float]:
    s = 0.0
    for x in xs:
        s += x
        yield s


def to_vendor(profile: Profile, canon: Mapping[str, Any]) -> dict[str, Any]:
    """Write a canonical record in a vendor profile (inverse field names, scales and codes)."""
    inv_codes = {k: {v: code for code, v in t.items()} for k, t in profile.codes.items()}
    out: dict[str, Any] = {}
    for cf, vf in profile.fields.items():
        if cf not in canon or canon[cf] is None:
            continue
        v = canon[cf]
        if cf == "ts":
            v = v.astimezone(profile.tz).strftime(profile.time_format)
        elif cf in inv_codes:
            v = inv_codes[cf].get(v, v)
        elif cf in profile.scale and isinstance(v, int | float):
            v = round(v / profile.scale[cf], 6)
        out[vf] = v
    rid = canon["record_id"]
    if profile.images:
        out[profile.images[0]] = f"https://rsd.sim/{canon['site_id']}/{rid}_plate.jpg"
        if len(profile.images) > 1:
            out[profile.images[1]] = f"https://rsd.sim/{canon['site_id']}/{rid}_scene.jpg"
    return out


def generate(
    registry: Registry,
    n_per_site: int,
    start: datetime,
    cfg: SimConfig | None = None,
    interval_s: float = 2.0,
) -> Iterator[tuple[RsdSite, str, dict[str, Any]]]:
    """Deterministic offline traffic: (site, profile name, vendor record) in time order per site.

    Rain periods are skipped (no passes while it rains). Used by tests and benchmarks.
    """
    cfg = cfg or SimConfig()
    rng = random.Random(cfg.seed)
    fleet = make_fleet(rng, cfg)
    for k, site in enumerate(registry.rsd_sites):
        prof = load_profile(site.vendor_profile)
        tr = SiteTraffic(site, fleet, cfg, cfg.seed * 1000 + k)
        ts = start
        made = 0
        while made < n_per_site:
            dt = tr.rng.expovariate(1.0 / interval_s)
            ts = ts + timedelta(seconds=dt)
            tr.weather(ts, dt)
            if tr.raining(ts):
                continue
            yield site, prof.name, to_vendor(prof, tr.canonical_pass(ts))
            made += 1


async def run_simulator(
    url: str,
    registry: Registry,
    cfg: SimConfig,
    stop: asyncio.Event | None = None,
    now: Any = utcnow,
    tokens: Mapping[str, str] | None = None,
) -> SimStats:
    """Post passes of every registered site to the intake at ``url`` until ``stop`` or duration,
    with each site's plain token from ``tokens`` (the demo credentials; the registry has digests)."""
    tokens = dict(tokens or {})
    import aiohttp

    stop = stop or asyncio.Event()
    stats = SimStats()
    rng = random.Random(cfg.seed)
    fleet = make_fleet(rng, cfg)
    loop = asyncio.get_running_loop()
    t_end = None if cfg.duration_s is None else loop.time() + cfg.duration_s
    base = url.rstrip("/")

    async def post(session: aiohttp.ClientSession, path: str, token: str, payload: Any) -> Any:
        async with session.post(
            base + path,
            data=json.dumps(payload, ensure_ascii=False).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        ) as resp:
            stats.requests += 1
            body = await resp.json(content_type=None)
            if resp.status != 200:
                stats.errors.append(f"{path}: HTTP {resp.status} {body}")
                del stats.errors[:-20]
            return body

    async def one_site(session: aiohttp.ClientSession, k: int, site: RsdSite) -> None:
        prof = load_profile(site.vendor_profile)
        tr = SiteTraffic(site, fleet, cfg, cfg.seed * 1000 + k)
        today: date | None = None
        period = cfg.batch / max(cfg.rate_per_site, 1e-6)
        while not stop.is_set() and (t_end is None or loop.time() < t_end):
            ts = now()
            day = ts.astimezone(BEIJING).date()
            if day != today:  # the operator's daily calibration entry
                today = day
                await post(
                    session,
                    "/api/rsd/v1/calibrations",
                    tokens.get(site.id, ""),
                    {
                        "site_id": site.id,
                        "check_kind": "daily",
                        "passed": True,
                        "valid_until": (day + timedelta(days=1)).isoformat(),
                        "ts": ts.isoformat(),
                        "operator": "sim-operator",
                        "co_error_pct": round(tr.rng.gauss(0, 3), 1),
                        "no_error_pct": round(tr.rng.gauss(0, 4), 1),
                        "hc_error_pct": round(tr.rng.gauss(0, 5), 1),
                    },
                )
            rain = tr.weather(ts, period)
            if rain is not None:
                stats.downtime += 1
                await post(
                    session,
                    "/api/rsd/v1/downtime",
                    tokens.get(site.id, ""),
                    {
                        "site_id": site.id,
                        "start": rain[0].isoformat(),
                        "end": rain[1].isoformat(),
                        "reason": "rain",
                    },
                )
            if not tr.raining(ts):
                recs = []
                for i in range(cfg.batch):
                    t_i = ts - timedelta(seconds=period * (cfg.batch - 1 - i) / cfg.batch)
                    recs.append(to_vendor(prof, tr.canonical_pass(t_i)))
                body = await post(
                    session,
                    f"/api/rsd/v1/records?profile={prof.name}",
                    tokens.get(site.id, ""),
                    recs,
                )
                stats.posted += len(recs)
                if isinstance(body, dict):
                    stats.accepted += int(body.get("accepted", 0))
                    stats.duplicates += int(body.get("duplicates", 0))
                    stats.rejected += int(body.get("rejected", 0))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), period)

    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(
            *(one_site(session, k, s) for k, s in enumerate(registry.rsd_sites)),
            return_exceptions=False,
        )
    return stats

"""Enforcement benchmarks (printed, never asserted). Anchors (issue 12): with the warehouse loaded,
the case list and one vehicle's full history through the API at p95 < 200 ms each; cases keep up
with the exceedance rate of the load.

The bulk seeder (``emwatch seed``, branch ``seed``) had not landed when this was written, so the
load is generated here at a smaller scale from the simulators' distributions: plates from the RSD
simulator's fleet (``remote_sensing.simulator.make_fleet``: fuel mix, heavy-tailed emitters), the
registry's OBD vehicles; RSD passes, smoke captures and OBD samples are the events' own ``examples()``
with those plates, VINs, sites and times (stored through the platform's batching sink); exceedances
are fired with ``core.exceedance.fire`` at the rates the emitters imply and run through the
enforcement processors on the in-process bus (identity → findings → cases), outputs stored.

Run: ``.venv/bin/python bench/bench_enforcement.py [--readings 1000000] [--exceedances 100000]``
(the synthetic load above), or on a month seeded by ``emwatch seed`` (made once and kept under
``$TMPDIR/emw-bench-seeded``, see ``bench/seeded.py``): ``--seed-scale 0.1`` (≈ 1 M readings) or
``--seed-scale 1`` (≈ 10 M), or ``--data-dir DIR`` of any seeded directory. The seeded runs print
p50 / p95 of the case list (all, and filtered by status and jurisdiction) and of the history of the
vehicles with the most records, per scope: the zone's joint team and an officer of each
jurisdiction; ``--requests N`` per figure, after two unmeasured rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import random
import statistics
import tempfile
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core.exceedance import Exceedance, fire
from core.metrics import Metrics
from core.processing import Context
from core.registry import default_registry
from core.ruleset import default_ruleset
from core.scope import Scope
from obd_gateway import events as obd_events
from remote_sensing import events as rsd_events
from remote_sensing.simulator import SimConfig, make_fleet
from smoke_capture import events as smoke_events
from streams import catalog
from streams.api import EnforcementService, routes
from streams.bus.inproc import InProcessBus
from streams.warehouse.client import connect
from streams.warehouse.migrator import migrate
from streams.warehouse.sink import BatchingSink

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

DAYS = 30


def readings(
    n: int, plates: list[Any], vins: list[str], start: datetime, rng: random.Random
) -> Any:
    """RSD passes (45 %), OBD samples (45 %), smoke captures (10 %) over DAYS days."""
    rsd_p = rsd_events.examples()[0]
    obd_s = next(e for e in obd_events.examples() if type(e).__name__ == "ObdSamples").rows()[0]
    cap = smoke_events.examples()[0]
    reg = default_registry()
    sites = [(s.id, s.jurisdiction) for s in reg.rsd_sites]
    span = DAYS * 86400
    for i in range(n):
        ts = start + timedelta(seconds=rng.random() * span)
        u = i % 20
        if u < 9:
            v = plates[int(rng.paretovariate(1.2)) % len(plates)]
            site, jur = sites[i % len(sites)]
            yield dataclasses.replace(
                rsd_p,
                event_id=f"p{i}",
                ts=ts,
                plate=v.plate,
                plate_colour=v.colour,
                site_id=site,
                jurisdiction=jur,
                record_id=str(i),
                no_ppm=rsd_p.no_ppm * v.emitter,
            )
        elif u < 18:
            yield dataclasses.replace(obd_s, event_id=f"o{i}", ts=ts, vin=vins[i % len(vins)])
        else:
            v = plates[i % len(plates)]
            yield dataclasses.replace(cap, event_id=f"c{i}", ts=ts, plate=v.plate)


def exceedances(
    n: int, plates: list[Any], reg: Any, start: datetime, rng: random.Random
) -> list[Exceedance]:
    """Exceedances of the load in time order: RSD limits and repeats from high emitters, smoke
    screens, OBD leads of registered vehicles, vapour warnings of stations."""
    rs = default_ruleset()
    emitters = sorted(plates, key=lambda v: -v.emitter)[: max(50, len(plates) // 20)]
    out: list[Exceedance] = []
    span = DAYS * 86400
    stations = [s for s in reg.stations]
    for i in range(n):
        ts = start + timedelta(seconds=rng.random() * span)
        u = rng.random()
        if u < 0.55:
            v = emitters[int(rng.paretovariate(1.1)) % len(emitters)]
            rule = "RS-REPEAT" if rng.random() < 0.1 else "RS-D-NO"
            out.append(
                fire(
                    rs.rule(rule),
                    ts,
                    source="remote_sensing",
                    subject_kind="vehicle",
                    subject_id=f"{v.plate}|{v.colour}",
                    jurisdiction=rng.choice(["qingpu", "wujiang", "jiashan"]),
                    device_id="RSD-QP-01",
                    measured=1500 + 500 * rng.random(),
                    limit=1500.0,
                    unit="ppm",
                    evidence=[f"rsd.pass:p{i}"],
                    detail={"fuel": "diesel", "pollutant": "no", "plate_colour": v.colour},
                    window=str(i),
                )
            )
        elif u < 0.75:
            v = emitters[i % len(emitters)]
            out.append(
                fire(
                    rs.rule("BS-SCREEN"),
                    ts,
                    source="smoke_capture",
                    subject_kind="vehicle",
                    subject_id=v.plate,
                    jurisdiction="wujiang",
                    device_id="CAM-WJ-01",
                    measured=2.5,
                    limit=1.0,
                    unit="grade",
                    evidence=[f"evidence/CAM-WJ-01/c{i}/clip.mp4#sha256={'0' * 64}"],
                    detail={"capture_id": f"c{i}"},
                    window=str(i),
                )
            )
        elif u < 0.9:
            ov = reg.obd_vehicles[i % len(reg.obd_vehicles)]
            rule = rng.choice(["OBD-SCR", "OBD-MIL", "OBD-OFFLINE"])
            out.append(
                fire(
                    rs.rule(rule),
                    ts,
                    source="obd_gateway",
                    subject_kind="vehicle",
                    subject_id=ov.vin,
                    jurisdiction=ov.jurisdiction,
                    device_id=ov.vin,
                    measured=0.3,
                    limit=0.5,
                    unit="ratio",
                    detail={"since": (ts - timedelta(hours=30)).isoformat()},
                    window=str(i),
                )
            )
        else:
            st = stations[i % len(stations)]
            out.append(
                fire(
                    rs.rule("FV-AL-WARN"),
                    ts,
                    source="fuel_vapor",
                    subject_kind="nozzle",
                    subject_id=f"{st.id}:N01",
                    jurisdiction=st.jurisdiction,
                    device_id=st.mn,
                    measured=0.8,
                    limit=1.0,
                    unit="ratio",
                    window=str(i),
                )
            )
    out.sort(key=lambda e: e.ts)
    return out


def p95(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=20)[-1] if len(xs) >= 20 else max(xs)


def bench_scopes(reg: Any) -> list[tuple[str, Scope]]:
    """The scopes measured: the zone's joint team (every jurisdiction) and one officer of each
    jurisdiction (scope filters in SQL differ: a jurisdiction's own cases and its findings')."""
    from core.access import scope_for

    out: list[tuple[str, Scope]] = [("zone", Scope.zone("bench-joint-team"))]
    for j in ("qingpu", "wujiang", "jiashan"):
        out.append((j, scope_for(f"bench-{j}", "officer", [j])))
    return out


def measure_api(
    client: Any,
    rs: Any,
    reg: Any,
    tmp: Path,
    args: argparse.Namespace,
    rng: random.Random,
    label: str = "",
) -> dict[str, dict[str, tuple[float, float]]]:
    """p50 / p95 of the case list and a busy vehicle's history through the API routes (Starlette,
    JSON out), per scope; a case's detail for the zone. Returns {scope: {figure: (p50, p95)}}."""
    svc = EnforcementService(client, lambda cmd: None, rs, reg, tmp)
    cases = svc.list_cases(Scope.zone(), limit=5000)["cases"]
    from bench.seeded import busy_vehicles

    plates = (
        busy_vehicles(client)
        or [
            c["subject_id"]
            for c in cases
            if c["subject_kind"] == "vehicle"
            and not c["subject_id"].startswith(("unread:", "camera:"))
        ][:5]
    )
    if not plates:
        print("no vehicle in the warehouse: nothing to measure")
        return {}
    print(f"busy vehicles (most records first): {', '.join(plates)}")
    out: dict[str, dict[str, tuple[float, float]]] = {}
    scopes = bench_scopes(reg) if args.scopes == "all" else bench_scopes(reg)[:1]
    for name, scope in scopes:
        http = TestClient(
            Starlette(routes=routes(lambda: svc, scope_of=lambda _r, _actor="", s=scope: s))
        )
        own = scope.jurisdictions[0] if len(scope.jurisdictions) == 1 else "qingpu"
        paths = {
            "case list": "/api/v1/cases?limit=200",
            "case list (status+jurisdiction)": f"/api/v1/cases?status=new&jurisdiction={own}&limit=200",
            "vehicle history": "",
        }
        if name == "zone" and cases:
            paths["case detail"] = ""
        timings: dict[str, list[float]] = {k: [] for k in paths}
        cpu: dict[str, list[float]] = {k: [] for k in paths}
        for i in range(args.requests + 2):
            for fig, path in paths.items():
                if fig == "vehicle history":
                    path = f"/api/v1/vehicles/{plates[i % len(plates)]}"
                elif fig == "case detail":
                    path = f"/api/v1/cases/{rng.choice(cases)['case_id']}"
                t, c = time.perf_counter(), time.process_time()
                r = http.get(path)
                dt = (time.perf_counter() - t) * 1000
                if i >= 2:  # two rounds to warm the engine's caches
                    timings[fig].append(dt)
                    cpu[fig].append((time.process_time() - c) * 1000)
                assert r.status_code in (200, 404), (path, r.status_code, r.text[:200])
        out[name] = {}
        for fig, xs in timings.items():
            p50, p95_ = statistics.median(xs), p95(xs)
            out[name][fig] = (p50, p95_)
            print(
                f"API{label} {name:<8} {fig:<32} p50 {p50:7.1f} ms   p95 {p95_:7.1f} ms   "
                f"(anchor p95 < 200 ms; {len(xs)} requests; CPU of this process per request "
                f"p50 {statistics.median(cpu[fig]):6.1f} ms, p95 {p95(cpu[fig]):6.1f} ms)"
            )
    print(
        f"machine: {os.cpu_count()} CPUs, load average "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} after measuring "
        "(shared: figures above 1 load per CPU are contended)"
    )
    return out


async def seeded(args: argparse.Namespace) -> None:
    """Against a warehouse filled by ``emwatch seed``: the load's exceedance rate, the case
    processors' rate on those exceedances (replayed, in memory), and the API timings."""
    from core.registry import load_registry
    from streams.serde import from_dict

    rng = random.Random(7)
    if args.data_dir:
        data_dir = Path(args.data_dir).resolve()
    else:
        from bench.seeded import seeded_dir

        data_dir = seeded_dir(args.seed_scale, args.seed_days, timeout_s=args.seed_timeout)
    rs = default_ruleset()
    reg = (
        load_registry(data_dir / "registry")
        if (data_dir / "registry").is_dir()
        else default_registry()
    )
    client = connect(f"chdb://{data_dir / 'warehouse'}", "emw")
    t0 = time.perf_counter()
    applied = migrate(client)
    if applied:
        print(
            f"migrated the seeded warehouse: {', '.join(applied)} in {time.perf_counter() - t0:.1f} s"
        )
    from streams.seed import READING_KINDS

    n_read = 0
    for kind in READING_KINDS:
        try:
            n_read += int(
                client.query(f"SELECT count() FROM {kind.replace('.', '_')}").result_rows[0][0]
            )
        except Exception:
            continue
    span = client.query("SELECT min(ts), max(ts), count() FROM exceedance").result_rows[0]
    days = max((span[1] - span[0]).total_seconds() / 86400, 1e-9)
    n_cases = int(client.query("SELECT count() FROM case_latest FINAL").result_rows[0][0])
    print(
        f"seeded warehouse {data_dir}: {n_read:,} readings, {span[2]:,} exceedances over "
        f"{days:.1f} days ({span[2] / days:,.0f}/day), {n_cases:,} cases"
    )
    df = client.query_df(
        "SELECT * EXCEPT ingested_at FROM exceedance FINAL ORDER BY ts LIMIT {n:UInt32}",
        parameters={"n": args.exceedances},
    )
    from streams.pipeline import _plain

    exs = [from_dict(Exceedance, _plain(r)) for r in df.to_dict("records")]
    procs = [p for p in catalog.processors() if p.name.startswith("enforcement.")]
    bus = InProcessBus(None, procs, Context(rs, reg), metrics=Metrics())
    t0 = time.perf_counter()
    produced = 0
    queue = list(exs)
    while queue:
        nxt: list[Any] = []
        for e in queue:
            nxt.extend(bus.process_now(e))
        produced += len(nxt)
        queue = [e for e in nxt if e.KIND in ("exceedance", "case.finding", "case.command")]
    dt = time.perf_counter() - t0
    rate = len(exs) / dt
    load = span[2] / days / 86400
    print(
        f"cases: {len(exs):,} of the seeded exceedances through identity → cases in {dt:.1f} s = "
        f"{rate:,.0f} exceedances/s, {produced:,} outputs (anchor: keep up with the load's "
        f"{load:.3f}/s; {rate / max(load, 1e-9):,.0f}× headroom)"
    )
    label = f" [{n_read / 1e6:.1f} M readings]"
    measure_api(client, rs, reg, data_dir, args, rng, label)


async def main(args: argparse.Namespace) -> None:
    if args.data_dir or args.seed_scale:
        await seeded(args)
        return
    rng = random.Random(7)
    reg, rs = default_registry(), default_ruleset()
    fleet = make_fleet(random.Random(1), SimConfig(fleet_size=args.fleet))
    plates = [v for v in fleet if v.fuel != "electric"]
    vins = [v.vin for v in reg.obd_vehicles]
    start = datetime.now(UTC) - timedelta(days=DAYS)
    tmp = Path(tempfile.mkdtemp(prefix="emw-bench-enf-"))
    client = connect(f"chdb://{tmp / 'wh'}", "bench")
    migrate(client)
    sink = BatchingSink(client, batch_size=100_000, max_delay_s=1.0, max_buffered=1_000_000).start()

    t0 = time.perf_counter()
    batch: list[Any] = []
    for ev in readings(args.readings, plates, vins, start, rng):
        batch.append(ev)
        if len(batch) >= 50_000:
            await asyncio.to_thread(sink.put, batch)
            batch = []
    await asyncio.to_thread(sink.put, batch)
    await asyncio.to_thread(sink.flush)
    dt = time.perf_counter() - t0
    print(f"load: {args.readings:,} readings (RSD 45 %, OBD 45 %, smoke 10 %) stored in {dt:.1f} s")

    exs = exceedances(args.exceedances, plates, reg, start, rng)
    procs = [p for p in catalog.processors() if p.name.startswith("enforcement.")]
    bus = InProcessBus(sink, procs, Context(rs, reg), metrics=Metrics())
    await bus.start()
    t0 = time.perf_counter()
    for i in range(0, len(exs), 5_000):
        await bus.publish(exs[i : i + 5_000])
    await bus.drain()
    t_proc = time.perf_counter() - t0
    await asyncio.to_thread(sink.flush)
    t_all = time.perf_counter() - t0
    await bus.stop()
    n_cases = int(client.query("SELECT uniqExact(case_id) FROM case_state").result_rows[0][0])
    n_entries = int(client.query("SELECT count() FROM case_entry").result_rows[0][0])
    per_day = len(exs) / DAYS
    print(
        f"cases: {len(exs):,} exceedances ({per_day:,.0f}/day in the load) → {n_cases:,} cases, "
        f"{n_entries:,} log entries; processed in {t_proc:.1f} s, stored in {t_all:.1f} s = "
        f"{len(exs) / t_all:,.0f} exceedances/s (anchor: keep up with the load's "
        f"{per_day / 86400:.2f}/s; {len(exs) / t_all / (per_day / 86400):,.0f}× headroom)"
    )

    await asyncio.to_thread(measure_api, client, rs, reg, tmp, args, rng)
    sink.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--readings", type=int, default=1_000_000)
    ap.add_argument("--exceedances", type=int, default=100_000)
    ap.add_argument("--fleet", type=int, default=20_000)
    ap.add_argument("--requests", type=int, default=40)
    ap.add_argument(
        "--data-dir", help="measure a warehouse seeded by `emwatch seed --data-dir DIR` instead"
    )
    ap.add_argument(
        "--seed-scale",
        type=float,
        help="seed (or reuse, bench/seeded.py) a month at this scale and measure it: "
        "0.1 ≈ 1 M readings, 1.0 ≈ 10 M",
    )
    ap.add_argument("--seed-days", type=int, default=30)
    ap.add_argument("--seed-timeout", type=float, default=3600.0, help="seconds to seed at most")
    ap.add_argument(
        "--scopes", choices=("all", "zone"), default="all", help="scopes measured (API timings)"
    )
    asyncio.run(main(ap.parse_args()))

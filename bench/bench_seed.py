"""Bulk seeder benchmark (printed, never asserted).

Seeds ``--days`` at ``--scale`` into a fresh embedded warehouse in a temporary directory and prints
the seeder's readings/s (generation + the platform's processors + the batching sink, end to end)
beside its anchor measured in the same run on the same warehouse: the sink's raw Arrow insert rate
(``serde.to_arrow`` then ``insert_arrow`` of already-made ``obd.sample`` and ``rsd.pass`` events,
i.e. the cost of storage alone). Goal of issue 12: 10 M readings in minutes, not hours.

With ``--baseline DIR`` (another checkout of the project, e.g. main before a change) the same
seed also runs with that checkout's code, in child processes alternating with this checkout's
(``--pairs`` rounds, real smoke bundles off in both): readings per CPU-second of each, side by side,
and their ratio. CPU seconds (the process's, all threads) are the figure to compare on a shared
machine; wall-clock readings/s there measure the neighbours.

Figures (2 cores shared with other sessions, load ≈ 9; ``--days 1 --scale 1.0 --baseline /work/main
--pairs 2``, 383,461 readings): main at 737f47b 20,861 readings per CPU-second, this seeder 20,823
(1.00×). Five days at scale 0.5 (919,628 readings): 19,504, against 21,905 for one day (the test
suite ran beside it): no marked growth with the days. 10 M readings are ≈ 8 CPU-minutes. The 4,142
readings/s of the first full month (2,621 s) predate OBD samples travelling as columns (an object
per record then). About 40 % of the CPU is the platform's processors and sink thread (rules,
identity, cases, Arrow inserts) and about 40 % the sources' generation through their own intake
code (the RSD simulator's draws and ``build_passes``, HJ 212 encode and decode, HJ 1239 bodies into
``ObdSamples``), all per event as live: another 5× needs those to work on batches, not the seeder.

Run: ``PYTHONPATH=. .venv/bin/python bench/bench_seed.py [--days 2] [--scale 1.0]
[--baseline ../main --pairs 2]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.registry import default_registry
from core.ruleset import default_ruleset
from core.timeutil import BEIJING
from streams import serde
from streams.seed import ObdSource, RsdSource, Seeder, SeedPlan, make_cast
from streams.warehouse.client import connect
from streams.warehouse.migrator import migrate


def raw_insert_rate(
    client: Any, plan: SeedPlan
) -> dict[str, tuple[int, float, float, float, float]]:
    """Per kind, into a scratch database: rows; rows/s of to_arrow, of insert_arrow, of both
    (wall clock); rows per CPU-second of both."""
    reg, rs = default_registry(), default_ruleset()
    cast = make_cast(reg, plan)
    from core.registry import Registry

    reg2 = reg.merged(Registry(obd_vehicles=list(cast.synthetic))) if cast.synthetic else reg
    lo, hi = plan.days_list()[-1]  # a whole Beijing day (the plan ends at a midnight)
    local = lo.astimezone(BEIJING)
    day0 = datetime(local.year, local.month, local.day, tzinfo=BEIJING)
    made = {
        "obd.sample": [
            e for e in ObdSource(cast, plan).day(0, day0, lo, hi) if e.KIND == "obd.sample"
        ],
        "rsd.pass": [
            e for e in RsdSource(reg2, plan, rs, cast).day(0, day0, lo, hi) if e.KIND == "rsd.pass"
        ],
    }
    out = {}
    for kind, events in made.items():
        t0, c0 = time.perf_counter(), time.process_time()
        table = serde.to_arrow(events)
        t1 = time.perf_counter()
        client.insert_arrow(kind.replace(".", "_"), table)
        t2, c2 = time.perf_counter(), time.process_time()
        n = sum(len(e) if hasattr(e, "event_ids") else 1 for e in events)  # OBD: batches of rows
        out[kind] = (n, n / (t1 - t0), n / (t2 - t1), n / (t2 - t0), n / (c2 - c0))
    return out


# one seed in a child process, with the code of the checkout on its PYTHONPATH (API both share)
_CHILD = """
import json, sys, tempfile, time
from datetime import UTC, datetime
from pathlib import Path
from core.registry import default_registry
from core.ruleset import default_ruleset
from streams.seed import Seeder, SeedPlan
from streams.warehouse.client import connect
from streams.warehouse.migrator import migrate
days, scale, seed = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
plan = SeedPlan(days=days, end=datetime(2026, 11, 30, 16, 0, tzinfo=UTC), scale=scale, seed=seed)
with tempfile.TemporaryDirectory(prefix="emw-bench-seed-") as tmp:
    client = connect("chdb://" + str(Path(tmp) / "warehouse"), "emw")
    migrate(client)
    s = Seeder(client, plan, ruleset=default_ruleset(), registry=default_registry(),
               data_dir=Path(tmp), real_bundles=0)
    c0, t0 = time.process_time(), time.perf_counter()
    r = s.run(progress=False)
    print(json.dumps({"readings": r.readings, "cpu": time.process_time() - c0,
                      "wall": time.perf_counter() - t0}))
"""


def child_seed(root: Path, days: int, scale: float, seed: int) -> dict[str, float]:
    """Seed in a child process with ``root``'s code; its readings, CPU and wall seconds."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    env.pop("EMW_WAREHOUSE_DSN", None)
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(days), str(scale), str(seed)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"seed with {root} failed: {done.stderr[-1500:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def compare(baseline: Path, days: int, scale: float, seed: int, pairs: int) -> None:
    """Alternate the baseline's seeder and this one; print readings per CPU-second of each."""
    here = Path(__file__).resolve().parents[1]
    got: dict[str, list[dict[str, float]]] = {"baseline": [], "this": []}
    for _ in range(pairs):
        got["baseline"].append(child_seed(baseline, days, scale, seed))
        got["this"].append(child_seed(here, days, scale, seed))
    print(f"side by side ({pairs} alternating pair(s), child processes, real bundles off):")
    rate = {}
    for name, runs in got.items():
        n = runs[0]["readings"]
        cpu = sum(r["cpu"] for r in runs) / len(runs)
        wall = sum(r["wall"] for r in runs) / len(runs)
        rate[name] = n / cpu
        where = baseline if name == "baseline" else here
        print(
            f"  {name:<8} {where!s:<32} {n:>10,.0f} readings, {cpu:6.1f} CPU-s "
            f"({wall:6.1f} s wall): {n / cpu:>8,.0f} readings per CPU-second"
        )
    print(f"  this / baseline: {rate['this'] / rate['baseline']:.2f}× readings per CPU-second")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=2)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--baseline", type=Path, help="another checkout to compare with (e.g. main)")
    ap.add_argument("--pairs", type=int, default=1, help="alternating runs with --baseline")
    args = ap.parse_args()
    if args.baseline is not None:
        compare(args.baseline.resolve(), args.days, args.scale, args.seed, args.pairs)
    end = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)  # a Beijing midnight: whole days
    plan = SeedPlan(days=args.days, end=end, scale=args.scale, seed=args.seed)
    with tempfile.TemporaryDirectory(prefix="emw-bench-seed-") as tmp:
        dsn = f"chdb://{Path(tmp) / 'warehouse'}"
        client = connect(dsn, "emw")
        migrate(client)
        seeder = Seeder(
            client,
            plan,
            ruleset=default_ruleset(),
            registry=default_registry(),
            data_dir=Path(tmp),
            real_bundles=0,
        )
        cpu0 = time.process_time()
        report = seeder.run(progress=False)
        cpu = time.process_time() - cpu0
        scratch = connect(dsn, "emw_raw")
        migrate(scratch)
        raw = raw_insert_rate(scratch, plan)
    print(f"seed: {args.days} day(s) at scale {args.scale:g}, seed {args.seed}")
    for kind, n in sorted(report.rows.items()):
        print(f"  {kind:<24} {n:>12,}")
    rate = report.readings / report.seconds
    print(
        f"seeder end to end: {report.readings:,} readings in {report.seconds:.1f} s = "
        f"{rate:,.0f} readings/s, {report.readings / cpu:,.0f} readings per CPU-second "
        f"(10 M readings would take {1e7 / rate / 60:.1f} min at this rate)"
    )
    print("anchor, same run: the sink's raw Arrow path on already-made events")
    for kind, (n, arrow_rate, insert_rate, both, per_cpu) in raw.items():
        print(
            f"  {kind:<12} {n:>9,} rows: serde.to_arrow {arrow_rate:>10,.0f} rows/s, "
            f"insert_arrow {insert_rate:>10,.0f} rows/s, both {both:>10,.0f} rows/s, "
            f"{per_cpu:>10,.0f} rows per CPU-second"
        )


if __name__ == "__main__":
    main()

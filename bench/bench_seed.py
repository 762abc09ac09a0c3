"""Bulk seeder benchmark (printed, never asserted).

Seeds ``--days`` at ``--scale`` into a fresh embedded warehouse in a temporary directory and prints
the seeder's readings/s (generation + the platform's processors + the batching sink, end to end)
beside its anchor measured in the same run on the same warehouse: the sink's raw Arrow insert rate
(``serde.to_arrow`` then ``insert_arrow`` of already-made ``obd.sample`` and ``rsd.pass`` events,
i.e. the cost of storage alone). Goal of issue 12: 10 M readings in minutes, not hours.

Run: ``PYTHONPATH=. .venv/bin/python bench/bench_seed.py [--days 2] [--scale 1.0]``.
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=2)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
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

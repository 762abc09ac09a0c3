"""``emwatch seed``: the command line of the bulk seeder (``streams.seed``).

Light at import time (``emwatch --help`` must not load numpy or the warehouse): everything heavy is
imported inside the command. Exit codes: 0 seeded, 2 refused or bad input (one line on stderr).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def cmd_seed(args: Any) -> int:
    """``emwatch seed``: open (and migrate) the data directory's warehouse, seed it, report."""
    from core.registry import load_registry
    from core.ruleset import load_ruleset
    from streams.seed import (
        BEIJING,
        Seeder,
        SeedError,
        SeedPlan,
        parse_end,
        prepare_dir,
        warehouse_rows,
        write_marker,
    )
    from streams.settings import load_settings
    from streams.warehouse.client import WarehouseLocked, connect
    from streams.warehouse.migrator import migrate

    overrides: dict[str, Any] = {}
    if args.data_dir:
        overrides["data_dir"] = Path(args.data_dir)
    s = load_settings(**overrides)
    plan = SeedPlan(
        days=args.days,
        end=parse_end(args.end),
        scale=args.scale,
        seed=args.seed,
        obd_cadence_s=args.obd_cadence,
    )
    if not s.resolved_dsn.startswith("chdb:"):
        raise SeedError(
            "emwatch seed fills the embedded warehouse of --data-dir (EMW_WAREHOUSE_DSN is set "
            "to a server; unset it)"
        )
    data_dir = Path(s.data_dir)
    # the seeder starts from the shipped registry (or one named in EMW_REGISTRY_DIR), never from
    # the fleet a previous seed wrote into this directory (which --replace removes)
    own = s.registry_dir is not None and Path(s.registry_dir) == data_dir / "registry"
    registry = load_registry(None if own else s.registry_dir)
    prepare_dir(data_dir, args.replace)
    try:
        client = connect(s.resolved_dsn, s.warehouse_database)
    except WarehouseLocked as exc:
        raise SeedError(str(exc)) from None
    migrate(client)
    rows = warehouse_rows(client)
    if rows:
        raise SeedError(
            f"the warehouse in {data_dir} already holds {rows:,} rows that were not seeded; "
            "seed an empty --data-dir"
        )
    seeder = Seeder(
        client,
        plan,
        ruleset=load_ruleset(s.ruleset_dir),
        registry=registry,
        data_dir=data_dir,
    )
    n_obd = len(seeder.cast.vehicles)
    print(
        f"seeding {plan.days} day(s) ending {plan.end.astimezone(BEIJING):%Y-%m-%d %H:%M} "
        f"北京时间 at scale {plan.scale:g} (seed {plan.seed}) into {data_dir}: "
        f"{n_obd} OBD vehicles, {len(seeder.registry.rsd_sites)} RSD sites, "
        f"{len(seeder.registry.cameras)} smoke cameras, "
        f"{plan.station_count(len(seeder.registry.stations))} stations",
        file=sys.stderr,
    )
    write_marker(data_dir, plan, "running", None)
    report = seeder.run(progress=not args.quiet)
    write_marker(data_dir, plan, "complete", report)
    out = report.as_json()
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=1))
    else:
        width = max(len(k) for k in report.rows) if report.rows else 10
        for kind, n in sorted(report.rows.items()):
            print(f"{kind:<{width}}  {n:>12,}")
        print(
            f"{report.readings:,} readings in {report.seconds:.0f} s "
            f"({out['readings_per_s'] or 0:,} readings/s); processor errors: "
            f"{report.processor_errors}; evidence bundles: {report.evidence_bundles}"
        )
        if report.repeated:
            print(
                "events sharing an earlier event's id (stored once): "
                + ", ".join(f"{k} {n:,}" for k, n in sorted(report.repeated.items()))
            )
        if report.registry_dir:
            print(
                f"the seeded fleet is in {report.registry_dir}: the platform run on this data "
                f"(EMW_DATA_DIR={data_dir}) uses it by default"
            )
    return 0


def register(groups: dict[str, Any]) -> None:
    p = groups["root"].add_parser(
        "seed",
        help="fill a warehouse with days of simulated traffic, judged by the rules (demos, benches)",
        description=(
            "Fill the embedded warehouse of --data-dir with DAYS of the zone's traffic ending at "
            "--end, from the bundled simulators at warehouse speed, run through the platform's "
            "processors (exceedances, daily states, cases). Refuses a directory seeded before "
            "unless --replace."
        ),
    )
    p.add_argument("--days", type=int, default=30, help="days of traffic (default 30)")
    p.add_argument(
        "--scale", type=float, default=1.0, help="fleet sizes and rates (1.0 ≈ 10 M readings/30 d)"
    )
    p.add_argument("--end", default="now", help="'now' (default) or an ISO time (naive = 北京时间)")
    p.add_argument("--data-dir", help="data directory (default var/, or EMW_DATA_DIR)")
    p.add_argument("--seed", type=int, default=1, help="random seed (same seed, same data)")
    p.add_argument(
        "--obd-cadence",
        type=int,
        default=10,  # streams.seed.OBD_CADENCE_S (not imported: emwatch starts light)
        help="seconds between OBD data-stream records (default 10; 1 = the terminals' 1 Hz)",
    )
    p.add_argument("--replace", action="store_true", help="re-seed a directory seeded before")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_seed)

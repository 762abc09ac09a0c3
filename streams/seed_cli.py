"""``emwatch seed``: the command's arguments, kept light (the seeder in ``streams.seed`` imports
numpy and the warehouse, loaded only when the command runs: ``tests/unit/test_cli_start.py``)."""

from __future__ import annotations

import argparse
from typing import Any


def _cmd_seed(args: argparse.Namespace) -> int:
    from streams.seed import cmd_seed

    return cmd_seed(args)


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
        default=10,  # streams.seed.OBD_CADENCE_S (not imported: it would load numpy)
        help="seconds between OBD data-stream records (default 10; 1 = the terminals' 1 Hz)",
    )
    p.add_argument("--replace", action="store_true", help="re-seed a directory seeded before")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_cmd_seed)

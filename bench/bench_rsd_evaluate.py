"""Benchmark: ``emwatch rsd evaluate`` over the 100,000 real passes (rows/s). Goal: ≥ 500,000 rows/s.

Measures (0) the command as analysts run it, in a fresh process (``emwatch rsd evaluate``: Python
start-up and imports included), and what start-up, the CLI parser, the imports and the rule set cost
before the first byte is read, (1) the evaluation in this process (gzip CSV in; CSV, CSV.gz and
Parquet out; no progress bar), as wall-clock rows/s and rows per CPU-second (all threads; the
machine is shared, so CPU time is the steadier figure), and (2) its phases: read (pyarrow, gzip), profile + computation
(g/kg, VSP, concentrations, validity, judgement) and the Arrow result, and writing CSV / Parquet.
Uses tests/data/rsd/conox_uk_2012_2013_100k.csv.gz (shipped with the tests). Prints figures;
asserts nothing. ``--json`` prints one JSON object instead (for bench/run_all.py).

    .venv/bin/python bench/bench_rsd_evaluate.py [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data" / "rsd" / "conox_uk_2012_2013_100k.csv.gz"
GOAL = 500_000


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """(median wall s, median CPU s) over ``repeat`` runs."""
    walls, cpus = [], []
    for _ in range(repeat):
        c, w = _cpu(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(_cpu() - c)
    return statistics.median(walls), statistics.median(cpus)


def _command(out: Path, repeat: int) -> dict[str, float]:
    """``emwatch rsd evaluate`` in a fresh process: median wall and CPU (user + system) seconds."""
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "streams.cli", "rsd", "evaluate", str(DATA), "-o", str(out), "-q"]
    walls, cpus = [], []
    for _ in range(repeat):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        w = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, capture_output=True, cwd=REPO)
        walls.append(time.perf_counter() - w)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    return {"wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus)}


_STARTUP = (
    "import sys\n"
    "from streams.cli import build_parser\n"
    "build_parser()\n"
    "import core.ruleset, remote_sensing.cli, remote_sensing.evaluate, remote_sensing.profiles\n"
    "import pyarrow.csv, pyarrow.parquet\n"
    "core.ruleset.load_ruleset()\n"
    "print('pandas' in sys.modules)\n"
)


def _startup(repeat: int) -> dict[str, Any]:
    """What the command costs before it reads a byte: Python start-up, the CLI's parser and the
    imports and rule set that ``rsd evaluate`` loads (median CPU seconds of a fresh process), and
    whether pandas came with them."""
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cpus, pandas = [], ""
    for _ in range(repeat):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        r = subprocess.run([sys.executable, "-c", _STARTUP], check=True, env=env,
                           capture_output=True, text=True, cwd=REPO)  # fmt: skip
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
        pandas = r.stdout.strip()
    return {"cpu_s": statistics.median(cpus), "pandas_imported": pandas == "True"}


def measure(repeat: int) -> dict[str, Any]:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from core.ruleset import load_ruleset
    from remote_sensing.cli import evaluate_file, evaluate_table, read_passes
    from remote_sensing.evaluate import Evaluator
    from remote_sensing.profiles import load_profile

    if not DATA.is_file():
        raise SystemExit(f"real RSD data missing: {DATA}")
    prof = load_profile("conox")
    ev = Evaluator.from_ruleset(load_ruleset())
    res: dict[str, Any] = {"rows": 0, "whole": {}, "phases": {}, "command": {}}
    res["startup"] = _startup(repeat)
    with tempfile.TemporaryDirectory() as d:
        for name in ("out.csv", "out.parquet"):
            f = _command(Path(d) / name, repeat)
            n = 100_000
            f["rows_per_s"], f["rows_per_cpu_s"] = n / f["wall_s"], n / f["cpu_s"]
            res["command"][name] = f
        for name in ("out.csv", "out.csv.gz", "out.parquet"):
            out = Path(d) / name
            evaluate_file(DATA, out, prof, progress=False)  # warm-up
            box: dict[str, Any] = {}

            def run(out: Path = out, box: dict[str, Any] = box) -> None:
                box["st"] = evaluate_file(DATA, out, prof, progress=False)

            wall, cpu = _timed(run, repeat)
            n = box["st"].rows
            res["rows"] = n
            res["whole"][name] = {"wall_s": wall, "cpu_s": cpu, "rows_per_s": n / wall,
                                  "rows_per_cpu_s": n / cpu}  # fmt: skip
        st = box["st"]
        res["counts"] = {"valid": st.valid, "judged": st.judged, "failed": st.failed,
                         "provisional": st.provisional}  # fmt: skip

    table = read_passes(DATA)
    result, _ = evaluate_table(table, prof, ev)

    def write_csv() -> None:
        pacsv.write_csv(result, io.BytesIO())

    def write_parquet() -> None:
        pq.write_table(result, io.BytesIO())

    for name, fn in (
        ("read gzip CSV (pyarrow)", lambda: read_passes(DATA)),
        ("profile + compute + Arrow result", lambda: evaluate_table(table, prof, ev)),
        ("write CSV (one thread)", write_csv),
        ("write Parquet", write_parquet),
    ):
        wall, cpu = _timed(fn, repeat)
        res["phases"][name] = {"wall_s": wall, "cpu_s": cpu}
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    a = ap.parse_args()
    res = measure(a.repeat)
    if a.json:
        print(json.dumps(res))
        return
    n = res["rows"]
    print(f"rsd evaluate, {n} real passes, median of {a.repeat}; load average {os.getloadavg()}")
    print(f"  {'output':<12} {'wall rows/s':>12} {'rows/CPU-s':>12}   goal {GOAL:,} rows/s")
    for name, f in res["command"].items():
        print(
            f"  {name:<12} {f['rows_per_s']:>12,.0f} {f['rows_per_cpu_s']:>12,.0f}"
            f"   whole command in a fresh process (start-up and imports included; "
            f"{f['cpu_s']:.2f} CPU-s)"
        )
    su = res["startup"]
    print(
        f"  start-up, parser, imports and rule set of the command: {su['cpu_s']:.2f} CPU-s "
        f"({n / su['cpu_s'] if su['cpu_s'] else 0:,.0f} rows/CPU-s if nothing else ran; "
        f"pandas imported: {'yes' if su['pandas_imported'] else 'no'})"
    )
    print("  in this process (no start-up):")
    for name, f in res["whole"].items():
        print(
            f"  {name:<12} {f['rows_per_s']:>12,.0f} {f['rows_per_cpu_s']:>12,.0f}"
            f"   ratio {f['rows_per_s'] / GOAL:.2f} (wall) {f['rows_per_cpu_s'] / GOAL:.2f} (CPU)"
        )
    c = res["counts"]
    print(
        f"  valid {c['valid']}, judged {c['judged']}, fail {c['failed']}, provisional {c['provisional']}"
    )
    print("phases (median):")
    for name, f in res["phases"].items():
        print(
            f"  {name:<36} wall {f['wall_s'] * 1000:7.1f} ms  CPU {f['cpu_s'] * 1000:7.1f} ms"
            f"  {n / f['cpu_s']:>11,.0f} rows/CPU-s"
        )


if __name__ == "__main__":
    main()

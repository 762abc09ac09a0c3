"""Benchmark: ``emwatch rsd evaluate`` over the 100,000 real passes (rows/s). Goal: ≥ 500,000 rows/s.

Measures (1) the whole command as analysts run it (gzip CSV in → CSV out, chunked, no progress
bar), and (2) its phases on the data already in memory: vendor profile → canonical columns, the
vectorised computation (g/kg, VSP, concentrations, validity, judgement), and writing the CSV. Uses
tests/data/rsd/conox_uk_2012_2013_100k.csv.gz (shipped with the tests). Prints
figures; asserts nothing.

    .venv/bin/python bench/bench_rsd_evaluate.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data" / "rsd" / "conox_uk_2012_2013_100k.csv.gz"


def _best(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    if not DATA.is_file():
        raise SystemExit(f"real RSD data missing: {DATA}")
    from core.ruleset import load_ruleset
    from remote_sensing.cli import evaluate_file, evaluate_frame
    from remote_sensing.evaluate import Evaluator
    from remote_sensing.profiles import load_profile

    prof = load_profile("conox")
    ev = Evaluator.from_ruleset(load_ruleset())
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "out.csv"
        runs = []
        for _ in range(a.repeat):
            st = evaluate_file(DATA, out, prof, progress=False)
            runs.append(st.seconds)
        n = st.rows
        print(f"rsd evaluate (end to end, {n} passes, gzip CSV in, CSV out):")
        print(
            f"  best {min(runs):.3f} s -> {n / min(runs):,.0f} rows/s (median {n / statistics.median(runs):,.0f})"
        )
        print(f"  valid {st.valid}, judged {st.judged}, over a limit {st.failed}")

        df = pd.read_csv(DATA, low_memory=False)
        t_read = _best(lambda: pd.read_csv(DATA, low_memory=False), a.repeat)
        t_prof = _best(lambda: prof.frame(df), a.repeat)
        cols = prof.frame(df)
        t_comp = _best(lambda: ev.compute(cols, len(df), "percent"), a.repeat)
        res = evaluate_frame(df, prof, ev)
        from remote_sensing.cli import _CsvWriter

        def write() -> None:
            w = _CsvWriter(out, res)
            w.write(res)
            w.close()

        t_write = _best(write, a.repeat)
        print(f"phases (best of {a.repeat}):")
        for name, t in (
            ("read gzip CSV", t_read),
            ("profile -> canonical columns", t_prof),
            ("compute (g/kg, VSP, validity, judgement)", t_comp),
            ("write CSV", t_write),
        ):
            print(f"  {name:<42} {t * 1000:8.1f} ms  {n / t:>12,.0f} rows/s")


if __name__ == "__main__":
    main()

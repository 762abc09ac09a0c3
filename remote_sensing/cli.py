"""``emwatch rsd …`` and ``emwatch simulate rsd``: analyst and demo commands of the RSD package.

Responsible for: ``rsd evaluate INPUT.csv[.gz] --profile NAME -o OUTPUT.{csv,csv.gz,parquet}``
(every input column plus the computed columns of ``remote_sensing.evaluate.OUTPUT_COLUMNS`` and
``ruleset_version``; read with pyarrow on all cores, computed column-wise and written in chunks with
a tqdm progress bar) and ``simulate rsd`` (posts simulated passes to
a running intake). The work is done by plain functions (``evaluate_file``) so tests call them
directly.

Imports of numpy, pandas, pyarrow, the rule set and the evaluator happen inside the commands, so
that ``emwatch --help`` and other commands do not pay for them.

Known limits: the input is held in memory as Arrow columns (about the size of the uncompressed
file); a row with an unparseable number gets NaN for it (and is then screened invalid where that
number is needed), it is not dropped; an empty input gives a header-only output.
"""

from __future__ import annotations

import argparse
import gzip
import sys
import time
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import ConfigError

if TYPE_CHECKING:
    import pyarrow as pa

    from core.registry import Registry
    from core.ruleset import RuleSet
    from remote_sensing.evaluate import Evaluator
    from remote_sensing.profiles import Profile

CHUNK_ROWS = 25_000  # a few chunks per 100,000 rows: CSV formatting runs on two threads


@dataclass(frozen=True, slots=True)
class EvaluateStats:
    rows: int
    valid: int
    judged: int
    failed: int
    seconds: float
    provisional: int = 0  # over provisional limits only (not failures)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


def _grade_units(
    profile: Profile, cols: Mapping[str, Any], registry: Registry | None, n: int
) -> Any:
    if profile.grade_unit != "site":
        return profile.grade_unit
    units = {s.id: s.grade_unit for s in (registry.rsd_sites if registry else [])}
    sites = cols.get("site_id")
    if sites is None:
        return "percent"
    import numpy as np

    return np.array([units.get(s, "percent") for s in sites], dtype=object)


# pandas' missing-value spellings, so a file reads the same as it did through pandas
_NULLS = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
)  # fmt: skip


def read_passes(path: Path) -> pa.Table:
    """A CSV (``.gz``: gzip) of passes as an Arrow table, read on all cores. Types are inferred
    over the whole file; times are not parsed (they pass through as written)."""
    import pyarrow.csv as pacsv

    try:
        return pacsv.read_csv(
            str(path),
            read_options=pacsv.ReadOptions(block_size=4 << 20),
            convert_options=pacsv.ConvertOptions(
                null_values=list(_NULLS),
                strings_can_be_null=True,
                timestamp_parsers=["%Y"],  # no timestamp inference: a bare year is an integer first
            ),
        )
    except Exception as exc:  # pyarrow.ArrowInvalid and friends: a file we cannot read
        raise ConfigError(str(path), "(content)", f"a readable CSV of passes ({exc})") from None


def evaluate_table(
    table: pa.Table, profile: Profile, ev: Evaluator, registry: Registry | None = None
) -> tuple[pa.Table, dict[str, Any]]:
    """``table`` with the computed columns appended (input columns of the same name replaced),
    and the computed columns themselves (numpy arrays) for counting."""
    import pyarrow as pa

    from remote_sensing.arrowcols import from_bool, from_float64, from_text, repeat_text
    from remote_sensing.evaluate import OUTPUT_COLUMNS

    n = table.num_rows
    cols = profile.frame(table)
    out = ev.compute(cols, n, _grade_units(profile, cols, registry, n))
    names = [*OUTPUT_COLUMNS, "ruleset_version"]
    keep = [c for c in table.column_names if c not in names]
    arrays = [table.column(c) for c in keep]
    for c in OUTPUT_COLUMNS:
        v = out[c]
        if v.dtype == object:
            arrays.append(from_text(v))
        elif v.dtype == bool:
            arrays.append(from_bool(v))
        else:  # NaN is written as an empty field, as before
            arrays.append(from_float64(v))
    arrays.append(repeat_text(ev.ruleset_version, n))
    return pa.table(arrays, names=[*keep, *names]), out


class _Writer:
    """Parquet when the output ends in ``.parquet`` (dictionary-encoded text columns, snappy),
    else CSV through ``pyarrow.csv`` (``.gz``: gzip level 1, about 10x faster than the default
    level for ~25 % larger files). The schema is fixed by the first table.

    CSV text is formatted on worker threads (pyarrow releases the GIL; formatting the numbers is
    most of the command's time), at most ``threads`` chunks ahead, and written in order; the
    caller computes the next chunk meanwhile."""

    def __init__(self, path: Path, schema: pa.Schema, threads: int = 2) -> None:
        import pyarrow as pa

        self._sink: Any = None
        self._pq: Any = None
        self._pending: deque[Future[bytes]] = deque()
        self._pool: ThreadPoolExecutor | None = None
        self._threads = threads
        self._first = True
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            text = [f.name for f in schema if pa.types.is_string(f.type)]
            self._pq = pq.ParquetWriter(str(path), schema, use_dictionary=text)
        else:
            self._sink = (  # closed in close()
                gzip.open(path, "wb", compresslevel=1)  # noqa: SIM115
                if path.suffix == ".gz"
                else open(path, "wb")  # noqa: SIM115
            )
            self._pool = ThreadPoolExecutor(threads, thread_name_prefix="rsd-csv")

    @staticmethod
    def _csv(table: pa.Table, header: bool) -> bytes:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        buf = pa.BufferOutputStream()
        pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=header))
        return bytes(buf.getvalue())

    def write(self, table: pa.Table) -> None:
        if self._pq is not None:
            self._pq.write_table(table)
            return
        assert self._pool is not None
        self._pending.append(self._pool.submit(self._csv, table, self._first))
        self._first = False
        while len(self._pending) > self._threads:
            self._sink.write(self._pending.popleft().result())

    def close(self) -> None:
        try:
            while self._pending:
                self._sink.write(self._pending.popleft().result())
        finally:
            if self._pool is not None:
                self._pool.shutdown(cancel_futures=True)
            if self._pq is not None:
                self._pq.close()
            if self._sink is not None:
                self._sink.close()


def evaluate_file(
    input_path: str | Path,
    output_path: str | Path,
    profile: str | Profile = "conox",
    *,
    ruleset: RuleSet | None = None,
    registry: Registry | None = None,
    chunk_rows: int = CHUNK_ROWS,
    progress: bool = True,
) -> EvaluateStats:
    """Evaluate a CSV (optionally gzip) of passes and write the result (CSV, CSV.gz or Parquet).
    The input is read whole into Arrow columns (about the size of the uncompressed file), then
    computed and written ``chunk_rows`` at a time. Returns counts."""
    from core.ruleset import load_ruleset
    from remote_sensing.evaluate import Evaluator
    from remote_sensing.profiles import Profile, load_profile

    src, dst = Path(input_path), Path(output_path)
    if not src.is_file():
        raise ConfigError(str(src), "(file)", "an existing CSV or CSV.gz file of passes")
    if chunk_rows < 1:
        raise ConfigError("--chunk-rows", str(chunk_rows), "a positive number of rows")
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    ev = Evaluator.from_ruleset(ruleset or load_ruleset())
    reg = registry
    if reg is None and prof.grade_unit == "site":
        from core.registry import load_registry  # only then: its models cost ~0.3 s to import

        reg = load_registry()
    t0 = time.perf_counter()
    table = read_passes(src)
    rows = valid = judged = failed = provisional = 0
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(
            total=table.num_rows, unit="rows", desc=f"rsd evaluate {src.name}", file=sys.stderr
        )
    writer: _Writer | None = None
    try:
        for off in range(0, max(table.num_rows, 1), chunk_rows):
            res, out = evaluate_table(table.slice(off, chunk_rows), prof, ev, reg)
            if writer is None:
                writer = _Writer(dst, res.schema)
            writer.write(res)
            j = out["judgement"]
            rows += res.num_rows
            valid += int(out["valid"].sum())
            judged += int((j != "not_judged").sum())
            failed += int((j == "fail").sum())
            provisional += int((j == "provisional").sum())
            if bar is not None:
                bar.update(res.num_rows)
    finally:
        if writer is not None:
            writer.close()
        if bar is not None:
            bar.close()
    return EvaluateStats(rows, valid, judged, failed, time.perf_counter() - t0, provisional)


def cmd_evaluate(args: argparse.Namespace) -> int:
    try:
        st = evaluate_file(
            args.input,
            args.output,
            args.profile,
            chunk_rows=args.chunk_rows,
            progress=not args.quiet,
        )
    except ConfigError as exc:
        print(f"emwatch rsd evaluate: {exc}", file=sys.stderr)
        return 2
    print(
        f"{st.rows} passes: {st.valid} valid, {st.judged} judged, {st.failed} over a limit, "
        f"{st.provisional} over a provisional limit only; "
        f"{st.rows_per_s:,.0f} rows/s -> {args.output}"
    )
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    import asyncio

    from core.registry import load_registry
    from remote_sensing.simulator import SimConfig, run_simulator

    cfg = SimConfig(
        rate_per_site=args.rate, batch=args.batch, seed=args.seed, duration_s=args.duration
    )
    import os
    from pathlib import Path

    from core.credentials import read_demo_secrets

    tokens = read_demo_secrets(Path(os.environ.get("EMW_DATA_DIR", "var")))  # the demo sites'
    stats = asyncio.run(run_simulator(args.url, load_registry(), cfg, tokens=tokens))
    print(
        f"posted {stats.posted} records in {stats.requests} requests: "
        f"{stats.accepted} accepted, {stats.duplicates} duplicates, {stats.rejected} rejected"
    )
    return 0 if stats.requests else 1


def register(groups: dict[str, Any]) -> None:
    """Add ``rsd`` under the root and ``rsd`` under ``simulate``."""
    rsd = groups["root"].add_parser("rsd", help="roadside remote sensing: analyst commands")
    sub = rsd.add_subparsers(dest="rsd_command", metavar="WHAT")
    sub.required = True
    p = sub.add_parser(
        "evaluate",
        help="compute g/kg, VSP, validity and judgement for a CSV of passes",
        description="Writes every input column plus co_gpkg, hc_gpkg, no_gpkg, no2_gpkg, nox_gpkg, "
        "nh3_gpkg, vsp_kw_t, valid, invalid_reason and the judgement columns. judgement is pass, "
        "fail (over a confirmed limit), provisional (over only limits of provisional rules such "
        "as RS-G-HC: not a failure) or not_judged.",
    )
    p.add_argument("input", help="CSV or CSV.gz of passes")
    p.add_argument("--profile", default="conox", help="vendor field mapping (default: conox)")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="output: .parquet is Parquet, anything else CSV (.gz compressed)",
    )
    p.add_argument("--chunk-rows", type=int, default=CHUNK_ROWS, help="rows per chunk")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_evaluate)

    s = groups["simulate"].add_parser("rsd", help="post simulated RSD passes to an intake")
    s.add_argument("--url", default="http://127.0.0.1:8088", help="intake base URL")
    s.add_argument("--rate", type=float, default=2.0, help="passes per second per site")
    s.add_argument("--batch", type=int, default=20, help="records per upload")
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--duration", type=float, default=60.0, help="seconds to run")
    s.set_defaults(func=cmd_simulate)

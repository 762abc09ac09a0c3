"""Foundation benchmarks (printed, never asserted):

1. Batching sink into chDB: rows/s for N rows of a realistic reading table (goal ≥ 1 M rows/s).
2. OBD samples as they travel (one columnar ``obd.sample`` batch per HJ 1239 frame of 10 records):
   the batching sink into the real ``obd_sample`` table beside chDB's raw Arrow insert of the same
   rows in the same run (goal: sink ≥ 0.8 × raw), as rows per CPU-second of this process (all
   threads: chDB included) and per wall second; the OBD rules' cost per sample; the bus form
   (``serde.encode`` / ``decode``) per frame.
3. In-process bus + a trivial processor + sink: events/s end to end (goal ≥ 100 k/s).

Run: ``python bench/bench_platform.py [--rows 1000000] [--events 200000] [--frames 20000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from core.events import deterministic_id
from core.processing import Context, Processor
from core.registry import Registry
from core.ruleset import default_ruleset
from streams.bus.inproc import InProcessBus
from streams.warehouse.client import connect
from streams.warehouse.sink import BatchingSink

DDL = """
CREATE TABLE IF NOT EXISTS bench_reading (
    event_id String, ts DateTime64(3, 'UTC'), device_id LowCardinality(String),
    jurisdiction LowCardinality(String), nozzle LowCardinality(String),
    fuel_l Float64, vapour_l Float64, al_ratio Nullable(Float64), flow_lpm Float64,
    flags Array(String), valid Bool,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = ReplacingMergeTree ORDER BY (device_id, nozzle, ts, event_id)
"""


@dataclass(frozen=True, slots=True)
class BenchReading:
    """Shaped like a vapour-recovery fuelling record (one row per fuelling)."""

    KIND: ClassVar[str] = "bench.reading"
    event_id: str
    ts: datetime
    device_id: str
    jurisdiction: str
    nozzle: str
    fuel_l: float
    vapour_l: float
    al_ratio: float | None
    flow_lpm: float
    flags: tuple[str, ...]
    valid: bool

    @property
    def key(self) -> str:
        return f"{self.device_id}:{self.nozzle}"


def make_events(n: int) -> list[BenchReading]:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        dev = f"MN{i % 500:05d}"
        fuel = 15.0 + (i % 40)
        al = 1.0 + (i % 25) / 100
        out.append(
            BenchReading(
                deterministic_id("bench", dev, i),
                t0 + timedelta(milliseconds=i * 37),
                dev,
                ("qingpu", "wujiang", "jiashan")[i % 3],
                f"N{i % 12:02d}",
                fuel,
                fuel * al,
                al,
                30.0 + (i % 10),
                ("slow",) if i % 97 == 0 else (),
                i % 50 != 0,
            )
        )
    return out


def bench_sink(client: Any, rows: int) -> float:
    events = make_events(rows)
    sink = BatchingSink(
        client, batch_size=100_000, max_delay_s=1.0, max_buffered=rows + 1, write_ingest_log=True
    )
    t = time.perf_counter()
    for i in range(0, rows, 100_000):
        sink.put(events[i : i + 100_000])
        sink.flush()
    elapsed = time.perf_counter() - t
    n = client.query("SELECT count() FROM bench_reading").result_rows[0][0]
    assert n == rows, (n, rows)
    return rows / elapsed


def bench_sink_columnar(client: Any, rows: int) -> tuple[float, float]:
    """The bulk path: events converted to Arrow batches, then inserted (conversion timed apart)."""
    from streams import serde

    client.command("TRUNCATE TABLE bench_reading")
    events = make_events(rows)
    sink = BatchingSink(client)
    t = time.perf_counter()
    tables = [serde.to_arrow(events[i : i + 100_000]) for i in range(0, rows, 100_000)]
    conv = time.perf_counter() - t
    t = time.perf_counter()
    for tb in tables:
        sink.write_arrow("bench.reading", tb)
    ins = time.perf_counter() - t
    n = client.query("SELECT count() FROM bench_reading").result_rows[0][0]
    assert n == rows, (n, rows)
    return rows / conv, rows / ins


def _cpu() -> float:
    return time.process_time()  # this process, all threads (chDB inserts included)


def obd_batches(frames: int, vehicles: int = 200) -> list[Any]:
    """``frames`` HJ 1239 frames' worth of ``obd.sample`` batches (10 one-second records each) from
    the terminal simulator's engine model, ``vehicles`` vehicles round robin, 10 s apart."""
    from obd_gateway.session import samples_of
    from obd_gateway.simulator import VehicleModel, synthetic_vehicles

    fleet = synthetic_vehicles(vehicles)
    models = [VehicleModel(v, seed=i) for i, v in enumerate(fleet)]
    t0 = datetime(2026, 11, 20, tzinfo=UTC)
    base_ms = round(t0.timestamp() * 1000)
    out = []
    for k in range(frames):
        m = models[k % vehicles]
        start = base_ms + (k // vehicles) * 10_000
        raw = b"".join(m.record().encode() for _ in range(10))
        out.append(
            samples_of(
                m.vehicle.vin,
                m.vehicle,
                [start + 1000 * i for i in range(10)],
                bytes(10),
                raw,
                received_at=datetime.fromtimestamp((start + 10_500) / 1000, UTC),
                backfilled=False,
                signature="absent",
                frame_id=f"{k:032x}",
            )
        )
    return out, fleet


def bench_obd(d: str, frames: int) -> dict[str, float]:
    """Sink vs raw Arrow insert (same rows, same run), rules per sample, bus form per frame."""
    from core.processing import Context
    from obd_gateway.processors import PROCESSORS
    from streams import catalog, serde
    from streams.warehouse.migrator import migrate

    # its own database in the same chDB directory: one process opens one chDB path only, and
    # the full run has opened ``d`` already
    client = connect(f"chdb://{d}", "bench_obd")
    migrate(client)
    batches, fleet = obd_batches(frames)
    rows = sum(len(b) for b in batches)
    res: dict[str, float] = {"rows": rows, "frames": frames}

    def sink_once() -> tuple[float, float]:
        client.command("TRUNCATE TABLE obd_sample")
        sink = BatchingSink(client, batch_size=100_000, max_delay_s=60, max_buffered=rows + 1)
        c, w = _cpu(), time.perf_counter()
        for i in range(0, len(batches), 10_000):  # 100,000 rows a flush
            sink.put(batches[i : i + 10_000])
            sink.flush()
        sink.close()
        return _cpu() - c, time.perf_counter() - w

    def raw_once() -> tuple[float, float, float]:
        client.command("TRUNCATE TABLE obd_sample")
        c = _cpu()
        tables = [serde.to_arrow(batches[i : i + 10_000]) for i in range(0, len(batches), 10_000)]
        conv = _cpu() - c
        c, w = _cpu(), time.perf_counter()
        for t in tables:
            client.insert_arrow("obd_sample", t)
        return _cpu() - c, time.perf_counter() - w, conv

    sink_once()  # warm-up
    pairs = [(sink_once(), raw_once()) for _ in range(5)]  # interleaved: same load for both
    sink = [p[0] for p in pairs]
    raw = [p[1] for p in pairs]
    res["ratio_cpu"] = statistics.median(r[0] / s[0] for s, r in pairs)
    n = client.query("SELECT count() FROM obd_sample").result_rows[0][0]
    assert n == rows, (n, rows)
    res["sink_rows_per_cpu_s"] = rows / statistics.median(c for c, _ in sink)
    res["sink_rows_per_s"] = rows / statistics.median(w for _, w in sink)
    res["raw_rows_per_cpu_s"] = rows / statistics.median(c for c, _, _ in raw)
    res["raw_rows_per_s"] = rows / statistics.median(w for _, w, _ in raw)
    res["to_arrow_rows_per_cpu_s"] = rows / statistics.median(v for _, _, v in raw)

    # the OBD rules (the obd.analytics processor), per sample
    reg = Registry(obd_vehicles=fleet)
    ctx = Context(default_ruleset(), reg)
    proc = next(p for p in PROCESSORS if p.name == "obd.analytics")
    state: dict[str, Any] = {}
    c = _cpu()
    fired = 0
    for b in batches:
        fired += len(list(proc.handle(b, state, ctx)))
    res["rules_us_per_sample"] = (_cpu() - c) / rows * 1e6
    res["rules_fired"] = fired
    # the rules alone: the same frames again (fresh state), their records decoded by the run above
    # (decoding a frame's bodies, ~3 µs a sample one frame at a time, is the gateway's to pay; the
    # bus decodes what a worker takes in one call, ObdSamples.prepare)
    state = {}
    c = _cpu()
    for b in batches:
        list(proc.handle(b, state, ctx))
    res["rules_only_us_per_sample"] = (_cpu() - c) / rows * 1e6

    # the bus / WAL form of a frame
    classes = catalog.classes_by_kind()
    c = _cpu()
    enc = [serde.encode(b) for b in batches]
    res["encode_us_per_frame"] = (_cpu() - c) / frames * 1e6
    c = _cpu()
    for e in enc:
        serde.decode(e, classes)
    res["decode_us_per_frame"] = (_cpu() - c) / frames * 1e6
    res["bytes_per_frame"] = statistics.mean(len(e) for e in enc)
    return res


def _count_handler(event: Any, state: MutableMapping[str, Any], ctx: Context) -> Iterable[Any]:
    st = state.get(event.key) or {"n": 0}
    st["n"] += 1
    state[event.key] = st
    return ()


async def bench_bus(client: Any, n: int) -> float:
    client.command("TRUNCATE TABLE bench_reading")
    events = make_events(n)
    sink = BatchingSink(client, batch_size=50_000, max_delay_s=0.2, max_buffered=400_000).start()
    ctx = Context(default_ruleset(), Registry())
    bus = InProcessBus(sink, [Processor("count", ("bench.reading",), _count_handler)], ctx)
    await bus.start()
    t = time.perf_counter()
    for i in range(0, n, 1000):  # gateways publish a packet's worth at a time
        await bus.publish(events[i : i + 1000])
    await bus.drain()
    await asyncio.to_thread(sink.close)
    elapsed = time.perf_counter() - t
    stored = client.query("SELECT count() FROM bench_reading").result_rows[0][0]
    counted = sum(v["n"] for v in bus.states["count"].values())
    assert stored == n and counted == n, (stored, counted, n)
    return n / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--frames", type=int, default=20_000, help="OBD frames of 10 records")
    ap.add_argument("--only-obd", action="store_true", help="only part 2 (OBD samples)")
    ap.add_argument("--json", action="store_true", help="part 2 also as one JSON line")
    args = ap.parse_args()
    if args.only_obd:
        with tempfile.TemporaryDirectory() as d:
            _print_obd(bench_obd(d, args.frames), args.json)
        return
    with tempfile.TemporaryDirectory() as d:
        client = connect(f"chdb://{d}", "bench")
        client.command(DDL)
        client.command(
            "CREATE TABLE IF NOT EXISTS ingest_log (ts DateTime64(3, 'UTC'), kind String, "
            "jurisdiction String, rows UInt64) ENGINE = MergeTree ORDER BY ts"
        )

        r = bench_sink(client, args.rows)
        print(
            f"sink → chDB (events in, batched): {args.rows:,} rows, {r:,.0f} rows/s (goal ≥ 1,000,000)"
        )
        conv, ins = bench_sink_columnar(client, args.rows)
        print(
            f"  of which: events → Arrow {conv:,.0f} rows/s; Arrow insert {ins:,.0f} rows/s (bulk path)"
        )
        _print_obd(bench_obd(d, args.frames), args.json)
        e = asyncio.run(bench_bus(client, args.events))
        print(
            f"in-process bus + processor + sink: {args.events:,} events, {e:,.0f} events/s (goal ≥ 100,000)"
        )


def _print_obd(r: dict[str, Any], as_json: bool) -> None:
    ratio = r["ratio_cpu"]
    print(
        f"OBD samples → obd_sample, {r['rows']:,.0f} rows in {r['frames']:,.0f} frame batches "
        f"(median of 5 interleaved pairs, same run):"
    )
    print(
        f"  sink (batches in)      {r['sink_rows_per_cpu_s']:>12,.0f} rows/CPU-s "
        f"{r['sink_rows_per_s']:>12,.0f} rows/s"
    )
    print(
        f"  raw Arrow insert       {r['raw_rows_per_cpu_s']:>12,.0f} rows/CPU-s "
        f"{r['raw_rows_per_s']:>12,.0f} rows/s   (anchor)"
    )
    print(f"  sink / raw (CPU)       {ratio:.2f}   goal ≥ 0.8 (median of the pairs' ratios)")
    print(f"  of the sink: batches → Arrow {r['to_arrow_rows_per_cpu_s']:,.0f} rows/CPU-s")
    print(
        f"OBD rules (obd.analytics): {r['rules_us_per_sample']:.2f} µs CPU per sample "
        f"({r['rules_fired']:.0f} exceedances)"
    )
    print(
        f"  of which the rules alone (records already decoded): "
        f"{r['rules_only_us_per_sample']:.2f} µs CPU per sample"
    )
    print(
        f"bus form of a frame (serde.encode / decode): {r['encode_us_per_frame']:.1f} / "
        f"{r['decode_us_per_frame']:.1f} µs CPU, {r['bytes_per_frame']:.0f} B"
    )
    if as_json:
        print(json.dumps(r))


if __name__ == "__main__":
    main()

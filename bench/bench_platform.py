"""Foundation benchmarks (printed, never asserted):

1. Batching sink into chDB: rows/s for N rows of a realistic reading table (goal ≥ 1 M rows/s).
2. In-process bus + a trivial processor + sink: events/s end to end (goal ≥ 100 k/s).

Run: ``python bench/bench_platform.py [--rows 1000000] [--events 200000]``.
"""

from __future__ import annotations

import argparse
import asyncio
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
    args = ap.parse_args()
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
        e = asyncio.run(bench_bus(client, args.events))
        print(
            f"in-process bus + processor + sink: {args.events:,} events, {e:,.0f} events/s (goal ≥ 100,000)"
        )


if __name__ == "__main__":
    main()

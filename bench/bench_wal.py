"""Benchmark: the write-ahead log alone at the real OBD cadence (what it adds to an ack).

N terminals each publish one frame's events (one ObdFrame + one ObdSamples batch of 10 records +
status, in the bus form, ``serde.encode``) every ``--interval`` seconds at a random phase; each publish
awaits ``WriteAheadLog.write`` (fsynced, group commit). Prints p50/p95/p99 of that wait, fsyncs per
second and
records per fsync, and the disk's bare ``fdatasync`` latency beside it. Asserts nothing.

Anchor: the real-cadence ack p99 of the whole gateway must stay under 50 ms; this is the part of it
that the log costs.

Usage: PYTHONPATH=. .venv/bin/python bench/bench_wal.py [--terminals 2000] [--seconds 30] [--interval 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
from pathlib import Path


def bare_fdatasync_ms(directory: Path, n: int = 200) -> tuple[float, float]:
    path = directory / "probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    lat = []
    for _ in range(n):
        os.write(fd, b"x" * 6000)
        t = time.perf_counter()
        os.fdatasync(fd)
        lat.append((time.perf_counter() - t) * 1000)
    os.close(fd)
    path.unlink()
    lat.sort()
    return lat[n // 2], lat[int(n * 0.99)]


async def run(args: argparse.Namespace, directory: Path) -> None:
    from obd_gateway.events import examples
    from streams import serde
    from streams.wal import WriteAheadLog

    evs = examples()  # its obd.sample batch has 3 records: the size of a frame's 10 is close enough
    payloads = [serde.encode(e) for e in evs]
    wal = WriteAheadLog(directory)
    wal.open()
    lat: list[float] = []
    deadline = time.monotonic() + args.seconds

    async def terminal() -> None:
        await asyncio.sleep(random.uniform(0, args.interval))
        while time.monotonic() < deadline:
            t = time.perf_counter()
            seg = await wal.write(payloads)
            lat.append((time.perf_counter() - t) * 1000)
            wal.release({seg: len(payloads)})
            await asyncio.sleep(args.interval)

    await asyncio.gather(*(terminal() for _ in range(args.terminals)))
    wal.close()
    lat.sort()
    p50, p95, p99 = (lat[int(len(lat) * q)] for q in (0.5, 0.95, 0.99))
    st = wal.stats
    print(
        f"terminals={args.terminals} interval={args.interval} s seconds={args.seconds} "
        f"(cores {os.cpu_count()}, load average {Path('/proc/loadavg').read_text().split()[0]})"
    )
    print(f"publishes                      {len(lat):,} ({len(lat) * len(payloads):,} records)")
    print(
        f"WAL write (fsynced) latency    p50 {p50:.1f} ms   p95 {p95:.1f} ms   p99 {p99:.1f} ms   "
        f"max {lat[-1]:.0f} ms   (anchor: ack p99 < 50 ms)"
    )
    print(
        f"group commit                   {st.fsyncs / args.seconds:.0f} fsyncs/s, "
        f"{st.records / max(1, st.fsyncs):.0f} records per fsync (max {st.max_group} publishes); "
        f"slowest write+fsync {st.max_fsync_ms:.0f} ms; "
        f"rotations with the segment made ahead {getattr(st, 'segments_made_ahead', 'n/a')}"
    )
    b50, b99 = bare_fdatasync_ms(directory)
    print(f"bare fdatasync on this disk    p50 {b50:.1f} ms   p99 {b99:.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--terminals", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--interval", type=float, default=10.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("EMW_DATA_DIR") or None) as tmp:
        asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()

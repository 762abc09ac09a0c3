"""Benchmark: simulated terminals on loopback → OBD gateway → in-process bus → chDB.

The gateway runs in its own process (with the embedded pipeline: bus, OBD processors and the
batching sink into chDB in a temporary directory); the terminals run in this process. Prints
figures; asserts nothing.

Phases:
  1. connect N terminals and log them in (answer awaited) → gateway RSS growth per connection;
  2. every terminal sends P real-time packets (10 one-second records each, HJ 1239 layout),
     closed loop: the next packet leaves when the previous answer arrived → frames/s and
     acknowledgement latency (send → answer, client side; the gateway answers only after the
     bus accepted the events);
  3. close, settle (processors + final flush) → rows in chDB, time to settle.

Also printed: CPU seconds of the gateway process (all threads: event loop, sink, chDB) and of the
terminals during phase 2. ``--gateway-only`` replaces the bus by a publish that only counts the
events (no sink, no chDB, no processors): the gateway's own cost (TCP, framing, decoding, events,
answers), i.e. what one gateway process in front of Kafka would do.

Usage: python bench/bench_obd_gateway.py [--terminals 200] [--packets 20] [--window 1] [--no-processors]
       python bench/bench_obd_gateway.py --terminals 2000 --packets 5 --gateway-only
       python bench/bench_obd_gateway.py --terminals 2000 --packets 4 --interval 10   (real cadence)
       python bench/bench_obd_gateway.py --terminals 2000 --packets 5
       python bench/bench_obd_gateway.py --terminals 2000 --packets 4 --interval 2   (ack p99 anchor)
       (--loop asyncio: the gateway process on asyncio's loop instead of uvloop's)
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any


def cpu_split(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of process ``pid`` (all its threads: loop, sink, chDB)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tck, int(fields[12]) / tck


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _server(
    n: int,
    tmpdir: str,
    port_q: Any,
    cmd_q: Any,
    res_q: Any,
    processors: bool,
    gateway_only: bool,
    use_uvloop: bool = False,
) -> None:
    from core.gateway import loop_name, new_event_loop

    def run(coro: Any) -> None:
        with asyncio.Runner(loop_factory=lambda: new_event_loop(use_uvloop)) as runner:
            runner.run(coro)

    async def gateway_only_main() -> None:
        from collections import Counter

        from core.gateway import GatewaySettings
        from core.metrics import Metrics
        from core.registry import Registry, default_registry
        from obd_gateway.server import ObdGateway
        from obd_gateway.simulator import synthetic_vehicles

        reg = default_registry().merged(Registry(obd_vehicles=synthetic_vehicles(n)))
        kinds: Counter[str] = Counter()

        async def publish(events: Any) -> None:  # accepted at once (no bus)
            for e in events:  # an obd.sample batch counts its records (ids are not computed:
                kind = e.KIND  # a bus in front of Kafka does not need them)
                kinds[kind] += len(e) if kind == "obd.sample" else 1

        metrics = Metrics()
        gw = ObdGateway(publish, reg, metrics, GatewaySettings(max_connections=n + 100))
        await gw.start()
        port_q.put((gw.port, os.getpid(), loop_name(asyncio.get_running_loop())))
        await asyncio.to_thread(cmd_q.get)
        await gw.stop()
        snap = {
            f"{c}.{name}{'{' + lk + '}' if lk else ''}": v
            for c, name, lk, v in metrics.snapshot()
            if c == "obd_gateway"
        }
        res_q.put(
            {
                "rows": kinds["obd.sample"],
                "frames": kinds["obd.frame"],
                "settle_s": 0.0,
                "metrics": snap,
            }
        )

    async def main() -> None:
        from core.gateway import GatewaySettings
        from core.registry import Registry, default_registry
        from core.ruleset import default_ruleset
        from obd_gateway.server import ObdGateway
        from obd_gateway.simulator import synthetic_vehicles
        from streams.pipeline import Pipeline
        from streams.warehouse.client import connect
        from streams.warehouse.migrator import migrate

        reg = default_registry().merged(Registry(obd_vehicles=synthetic_vehicles(n)))
        client = connect(f"chdb://{tmpdir}/chdb", "bench")
        migrate(client)
        p = Pipeline(
            client,
            default_ruleset(),
            reg,
            Path(tmpdir),
            max_delay_s=0.5,
            simulate=False,
            processors=None if processors else (),
        )
        await p.start(with_services=False)
        gw = ObdGateway(p.publish, reg, p.metrics, GatewaySettings(max_connections=n + 100))
        await gw.start()
        port_q.put((gw.port, os.getpid(), loop_name(asyncio.get_running_loop())))
        await asyncio.to_thread(cmd_q.get)
        await gw.stop()
        t = time.perf_counter()
        await p.settle()
        settle_s = time.perf_counter() - t
        rows = client.query("SELECT count() FROM obd_sample FINAL").result_rows[0][0]
        frames = client.query("SELECT count() FROM obd_frame FINAL").result_rows[0][0]
        snap = {
            f"{c}.{name}{'{' + lk + '}' if lk else ''}": v
            for c, name, lk, v in p.metrics.snapshot()
            if c == "obd_gateway"
        }
        await p.stop()
        res_q.put({"rows": rows, "frames": frames, "settle_s": settle_s, "metrics": snap})

    prof_path = os.environ.get("OBD_BENCH_PROFILE")
    if prof_path:  # profile the gateway process (event-loop thread only)
        import cProfile

        entry = gateway_only_main if gateway_only else main
        cProfile.runctx("run(entry())", globals(), {"run": run, "entry": entry}, prof_path)
    else:
        run(gateway_only_main() if gateway_only else main())


async def _client(
    n: int, packets: int, window: int, port: int, pid: int, interval: float
) -> dict[str, Any]:
    from core.timeutil import BEIJING
    from obd_gateway.protocol import FrameDecoder
    from obd_gateway.simulator import VehicleModel, build_packet, login_frame, synthetic_vehicles

    vehicles = synthetic_vehicles(n)
    t0 = datetime(2026, 11, 20, 8, 0, tzinfo=BEIJING)
    t_build = time.perf_counter()
    plans: list[tuple[bytes, list[bytes]]] = []
    for i, v in enumerate(vehicles):
        m = VehicleModel(v, seed=i)
        pk = []
        for k in range(packets):
            recs = [(t0 + timedelta(seconds=10 * k + j), m.record()) for j in range(10)]
            pk.append(
                build_packet(v.vin, recs, k + 1, info=m.obd_info() if k == 0 else None).encode()
            )
        plans.append((login_frame(v.vin, t0, 1).encode(), pk))
    build_s = time.perf_counter() - t_build
    base = rss_kib(pid)

    conns: list[Any] = [None] * n

    async def open_one(i: int) -> None:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        d = FrameDecoder()
        w.write(plans[i][0])
        await w.drain()
        while not [x for x in d.feed(await r.read(4096)) if isinstance(x, tuple)]:
            pass
        conns[i] = (r, w, d)

    for i in range(0, n, 250):
        await asyncio.gather(*(open_one(k) for k in range(i, min(n, i + 250))))
    per_conn_kib = (rss_kib(pid) - base) / n
    lat: list[float] = []
    rng = random.Random(7)

    async def drive(
        r: asyncio.StreamReader, w: asyncio.StreamWriter, d: FrameDecoder, pk: list[bytes]
    ) -> None:
        sent: list[float] = []
        got = 0
        i = 0
        if interval > 0:  # open loop at the terminal cadence, random phase
            await asyncio.sleep(rng.uniform(0, interval))
            for i, frame in enumerate(pk):
                t_send = time.perf_counter()
                w.write(frame)
                await w.drain()
                while True:
                    data = await r.read(65536)
                    if not data:
                        raise ConnectionError("gateway closed")
                    if [x for x in d.feed(data) if isinstance(x, tuple)]:
                        break
                lat.append((time.perf_counter() - t_send) * 1000)
                if i + 1 < len(pk):
                    await asyncio.sleep(max(0.0, interval - (time.perf_counter() - t_send)))
            return
        while got < len(pk):
            while i < len(pk) and i - got < window:
                sent.append(time.perf_counter())
                w.write(pk[i])
                i += 1
            await w.drain()
            data = await r.read(65536)
            if not data:
                raise ConnectionError("gateway closed")
            for x in d.feed(data):
                if isinstance(x, tuple):
                    lat.append((time.perf_counter() - sent[got]) * 1000)
                    got += 1

    t = time.perf_counter()
    (gw_u0, gw_s0), me_cpu0 = cpu_split(pid), time.process_time()
    await asyncio.gather(
        *(drive(r, w, d, pk) for (r, w, d), (_lg, pk) in zip(conns, plans, strict=True))
    )
    wall = time.perf_counter() - t
    gw_u1, gw_s1 = cpu_split(pid)
    gw_cpu, me_cpu = (gw_u1 - gw_u0) + (gw_s1 - gw_s0), time.process_time() - me_cpu0
    for _r, w, _d in conns:
        w.close()
    lat.sort()
    return {
        "build_s": build_s,
        "wall_s": wall,
        "frames": n * packets,
        "lat": lat,
        "per_conn_kib": per_conn_kib,
        "rss_base_kib": base,
        "gw_cpu_s": gw_cpu,
        "gw_user_s": gw_u1 - gw_u0,
        "gw_sys_s": gw_s1 - gw_s0,
        "client_cpu_s": me_cpu,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--terminals", type=int, default=200)
    ap.add_argument("--packets", type=int, default=20)
    ap.add_argument("--window", type=int, default=1, help="packets in flight per terminal")
    ap.add_argument(
        "--interval",
        type=float,
        default=0.0,
        help="seconds between a terminal's packets (0 = closed loop, as fast as answers come; 10 = HJ 1239 cadence)",
    )
    ap.add_argument("--no-processors", action="store_true", help="bus → chDB only (no rules)")
    ap.add_argument(
        "--gateway-only",
        action="store_true",
        help="publish only counts the events: no bus, sink, chDB or processors",
    )
    ap.add_argument(
        "--loop",
        choices=("asyncio", "uvloop"),
        default="uvloop",
        help="event loop of the gateway process (uvloop: what `emwatch gateway` runs on)",
    )
    args = ap.parse_args()
    load0 = Path("/proc/loadavg").read_text().split()[0]
    ctx = mp.get_context("spawn")
    port_q, cmd_q, res_q = ctx.Queue(), ctx.Queue(), ctx.Queue()
    with tempfile.TemporaryDirectory() as tmp:
        proc = ctx.Process(
            target=_server,
            args=(
                args.terminals,
                tmp,
                port_q,
                cmd_q,
                res_q,
                not args.no_processors,
                args.gateway_only,
                args.loop == "uvloop",
            ),
        )
        proc.start()
        port, pid, loop = port_q.get(timeout=120)
        try:
            out = asyncio.run(
                _client(args.terminals, args.packets, args.window, port, pid, args.interval)
            )
        finally:
            cmd_q.put("stop")
        res = res_q.get(timeout=600)
        proc.join(60)
    lat = out["lat"]
    n_frames = out["frames"]
    p50 = statistics.median(lat)
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    print(
        f"terminals={args.terminals} packets/terminal={args.packets} window={args.window} interval={args.interval} s "
        f"processors={'off' if args.no_processors or args.gateway_only else 'on'} "
        f"{'gateway only (no bus) ' if args.gateway_only else ''}(cpu cores: {os.cpu_count()}, shared by "
        f"gateway and terminals; load average before: {load0}; gateway event loop: {loop})"
    )
    print(f"frames sent and answered      {n_frames:,} ({n_frames * 10:,} records)")
    print(f"phase 2 wall                  {out['wall_s']:.2f} s")
    print(
        f"gateway throughput            {n_frames / out['wall_s']:,.0f} frames/s  "
        f"({n_frames * 10 / out['wall_s']:,.0f} records/s)"
    )
    print(f"ack latency (client)          p50 {p50:.1f} ms   p99 {p99:.1f} ms")
    gw_us = out["gw_cpu_s"] / n_frames * 1e6
    gu, gs = out["gw_user_s"], out["gw_sys_s"]
    what = "bus+sink" + ("" if args.no_processors else "+processors")
    if args.gateway_only:
        what = "no bus"
    cap = "" if args.interval > 0 else f" → {1e6 / gw_us:,.0f} frames/s per busy core"
    print(
        f"CPU in phase 2                gateway process {out['gw_cpu_s']:.2f} s "
        f"({gw_us:.0f} µs/frame{cap}; {what} and idle background threads included); "
        f"terminals {out['client_cpu_s']:.2f} s"
    )
    print(
        f"gateway CPU split             user {gu / n_frames * 1e6:.0f} µs/frame, "
        f"system (kernel: recv, send, epoll) {gs / n_frames * 1e6:.0f} µs/frame"
    )
    m = res["metrics"]
    if "obd_gateway.ack_latency_s.p50" in m:
        print(
            f"ack latency (gateway)         p50 {m['obd_gateway.ack_latency_s.p50'] * 1000:.1f} ms   "
            f"p99 {m['obd_gateway.ack_latency_s.p99'] * 1000:.1f} ms (read → answers written, last 2048)"
        )
    print(
        f"gateway RSS                   base {out['rss_base_kib'] / 1024:.0f} MiB; "
        f"{out['per_conn_kib']:.1f} KiB per logged-in connection"
    )
    print(
        f"{'published (no bus)           ' if args.gateway_only else 'stored in chDB (FINAL)        '}"
        f"{res['rows']:,} samples, {res['frames']:,} frames; settle {res['settle_s']:.1f} s"
    )
    print(
        f"end to end incl. settle       {n_frames / (out['wall_s'] + res['settle_s']):,.0f} frames/s"
    )
    bad = {k: v for k, v in m.items() if "bad_frames" in k}
    print(f"bad frames                    {bad or 0}")
    # anchors (issue 16), from this run; CPU-based where the machine is shared
    if args.interval > 0:
        print(
            f"anchor: ack p99 < 50 ms at 2,000 terminals on a 2 s cadence → "
            f"{p99:.1f} ms at {args.terminals:,} terminals every {args.interval:g} s "
            f"({'met' if p99 < 50 else 'not met'})"
        )
    else:
        goal = 20_000 if args.gateway_only else 10_000
        what = "gateway alone" if args.gateway_only else "embedded end to end"
        per_core = 1e6 / gw_us
        print(
            f"anchor: {what} ≥ {goal:,} frames/s per process → {per_core:,.0f} frames/s per busy "
            f"core of the gateway process (ratio {per_core / goal:.2f}; "
            f"{n_frames / out['wall_s']:,.0f} frames/s wall clock, terminals on the same cores)"
        )


if __name__ == "__main__":
    main()

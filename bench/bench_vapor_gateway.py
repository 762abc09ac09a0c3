"""Benchmark: the HJ 212 gateway end to end on loopback with N simulated data units.

N stations (half Guangzhou, half Chongqing dialect) are generated into a benchmark registry; each
unit opens one TCP connection and sends fuelling packets that ask for an answer, waiting for each
9014 before the next (as devices do): closed loop by default (saturation throughput; by Little's
law the latency is then units / throughput), or one packet every ``--interval`` seconds per unit
(latency at a given offered load). The gateway publishes into an in-process collector (no bus, no
warehouse). The clients run in a child process (pre-encoded packets, asyncio protocols, answers
counted by their CR LF, not decoded) so that they cost the machine little. Prints packets/s and
answer latency percentiles measured at the clients, and the CPU seconds per packet of the server
process and of the client process over the measured window (less noisy than packets/s on a shared
machine), then the CPU per packet of the HJ 212 session alone on the same packets (no socket, no
loop), which splits the server's figure into the session's share and the shell's;
``--profile`` adds a cProfile of the server over the window. Nothing is asserted.
Usage: python bench/bench_vapor_gateway.py [--units 200] [--seconds 20] [--interval 0.2] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import multiprocessing as mp
import os
import pstats
import statistics
import time
from datetime import datetime, timedelta
from pathlib import Path

from core.credentials import DeviceCredentials
from core.gateway import GatewaySettings, loop_name, new_event_loop
from core.metrics import Metrics
from core.registry import Registry
from core.timeutil import BEIJING
from fuel_vapor.codemaps import default_codemaps
from fuel_vapor.events import VaporPacket
from fuel_vapor.server import VaporGateway


def bench_registry(units: int) -> Registry:
    jur = ("qingpu", "wujiang", "jiashan")
    stations = []
    for i in range(units):
        stations.append(
            {
                "id": f"BX-ST-{i:04d}",
                "name": f"bench station {i}",
                "jurisdiction": jur[i % 3],
                "operator": "bench",
                "mn": hashlib.sha1(f"bench{i}".encode()).hexdigest().upper()[:24],
                "code_map": "guangzhou" if i % 2 else "chongqing",
                "nozzles": [{"number": n} for n in range(1, 9)],
            }
        )
    return Registry.model_validate({"stations": stations})


def bench_pw(unit_id: str) -> str:
    """The benchmark's own PW per unit (the registry holds digests of secrets nobody knows)."""
    return f"{sum(map(ord, unit_id)) % 10**6:06d}"


def frames_for(reg: Registry, per_unit: int) -> list[list[bytes]]:
    cms = default_codemaps()
    t0 = datetime(2026, 11, 23, 8, 0, tzinfo=BEIJING)
    out = []
    for s in reg.stations:
        cm = cms[s.code_map]
        cn = next(c for c in cm.cns if cm.message(c).fuelling)
        frames = []
        for k in range(per_unit):
            ts = t0 + timedelta(seconds=97 * k)
            frames.append(
                cm.encode(
                    cn=cn,
                    mn=s.mn,
                    pw=bench_pw(s.id),
                    ts=ts,
                    qn=f"{ts:%Y%m%d%H%M%S}{k % 1000:03d}",
                    station_id=s.id,
                    nozzle=1 + k % 8,
                    flag=5 if s.code_map == "chongqing" else -1,
                    fuelling={
                        "al": 1.1,
                        "fuel_volume_l": 30.0 + k % 13,
                        "vapour_volume_l": 33.0,
                        "fuel_flow_lpm": 35.0,
                        "vapour_flow_lpm": 38.5,
                        "liquid_resistance_pa": 40.0,
                    },
                )
            )
        out.append(frames)
    return out


class _Unit(asyncio.Protocol):
    """One simulated data unit: pre-encoded packets, one outstanding request, no decoding.

    Every answer the gateway writes ends with CR LF and a unit has one request in flight, so an
    answer is complete when the bytes received end with CR LF (counted, not parsed: the client
    must not be the bottleneck of a benchmark of the server).
    """

    def __init__(self, items: list[bytes], shared: dict, interval: float) -> None:
        self.items = items
        self.i = 0
        self.shared = shared
        self.interval = interval
        self.t = 0.0
        self.buf = b""
        self.transport: asyncio.Transport | None = None
        self.done = asyncio.get_running_loop().create_future()
        self.sending = False

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport
        if isinstance(getattr(transport, "max_size", None), int):
            transport.max_size = 4096  # recv() buffer: 256 KiB by default, slow to allocate

    def send(self) -> None:
        if time.time() >= self.shared["end"]:
            self.sending = False
            if not self.done.done():
                self.done.set_result(None)
            return
        self.sending = True
        self.t = time.perf_counter()
        self.transport.write(self.items[self.i % len(self.items)])  # type: ignore[union-attr]
        self.i += 1

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.buf.endswith(b"\r\n"):
            return
        self.buf = b""
        now = time.perf_counter()
        self.shared["lat"].append(now - self.t)
        if self.interval:
            delay = max(0.0, self.interval - (now - self.t))
            asyncio.get_running_loop().call_later(delay, self.send)
        else:
            self.send()

    def connection_lost(self, exc) -> None:  # type: ignore[override]
        if self.sending:
            self.shared["errors"] += 1
        if not self.done.done():
            self.done.set_result(None)


async def _clients(
    port: int, frames: list[list[bytes]], seconds: float, start_at: float, interval: float = 0.0
) -> dict:
    loop = asyncio.get_running_loop()
    shared: dict = {"lat": [], "errors": 0, "end": start_at + seconds}
    units: list[_Unit] = []
    for items in frames:
        try:
            _, u = await loop.create_connection(
                lambda items=items: _Unit(items, shared, interval), "127.0.0.1", port
            )
        except OSError:
            shared["errors"] += 1
            continue
        units.append(u)
    await asyncio.sleep(max(0.0, start_at - time.time()))
    c0 = os.times()
    for u in units:
        if interval:  # spread the units over one interval
            loop.call_later(interval * (hash(u.items[0]) % 1000) / 1000, u.send)
        else:
            u.send()
    await asyncio.sleep(max(0.0, shared["end"] - time.time()))
    c1 = os.times()
    in_window = len(shared["lat"])
    await asyncio.wait([u.done for u in units], timeout=5.0)
    for u in units:
        u.transport.close()  # type: ignore[union-attr]
    lat = shared["lat"]
    cpu = (c1.user - c0.user) + (c1.system - c0.system)
    return {"sent": len(lat), "lat": lat, "errors": shared["errors"], "cpu": cpu, "n": in_window}


def _client_process(
    port: int, frames: list[list[bytes]], seconds: float, start_at: float, interval: float, q
) -> None:
    # ``frames`` reach the child through fork (not pickled): encoded once, before the clock starts
    q.put(asyncio.run(_clients(port, frames, seconds, start_at, interval)))


def session_cost(reg: Registry, creds: DeviceCredentials, frames: list[list[bytes]]) -> float:
    """CPU µs per packet of the HJ 212 session alone (frame, checks, decode, events, answer; no
    socket, no event loop) on the same packets (up to 5 a unit), each unit's through its own
    session: what the shell's share is measured against (best of three passes)."""
    from fuel_vapor.session import Hj212Units

    units = Hj212Units(reg, creds, default_codemaps())
    sample = [items[:5] for items in frames]  # bounded: at most 5 packets a unit
    sessions = [units.session(f"bench:{i}") for i in range(len(sample))]
    now = datetime.now(BEIJING)
    best = float("inf")
    n = sum(map(len, sample))
    for _ in range(3):
        t = time.process_time()
        for s, items in zip(sessions, sample, strict=True):
            for f in items:
                s.receive(f, now)
        best = min(best, time.process_time() - t)
    return best / n * 1e6


async def main_async(args: argparse.Namespace) -> None:
    load0 = Path("/proc/loadavg").read_text().split()[0]
    reg = bench_registry(args.units)
    received = [0]

    packets = [0]

    async def publish(events) -> None:
        received[0] += len(events)
        for e in events:
            if e.__class__ is VaporPacket:
                packets[0] += 1

    metrics = Metrics()
    creds, _ = DeviceCredentials.ephemeral(reg, lambda _kind, dev: bench_pw(dev))
    gw = VaporGateway(
        publish,
        reg,
        metrics,
        settings=GatewaySettings(max_connections=args.units + 10),
        credentials=creds,
    )
    _, port = await gw.start()
    frames = frames_for(reg, args.per_unit)  # pre-encoded, before the warm-up starts
    start_at = time.time() + args.warmup
    window: dict[str, float] = {}
    prof = cProfile.Profile(time.process_time) if args.profile else None

    async def server_window() -> None:  # server CPU over the measured window
        await asyncio.sleep(max(0.0, start_at - time.time()))
        t = os.times()
        window["u0"], window["s0"], window["p0"] = t.user, t.system, packets[0]
        if prof is not None:
            prof.enable()
        await asyncio.sleep(args.seconds)
        if prof is not None:
            prof.disable()
        t = os.times()
        window["u1"], window["s1"], window["p1"] = t.user, t.system, packets[0]

    watcher = asyncio.create_task(server_window())
    if args.same_process:
        res = await _clients(port, frames, args.seconds, start_at, args.interval)
    else:
        ctx = mp.get_context("fork")
        q = ctx.Queue()
        p = ctx.Process(
            target=_client_process,
            args=(port, frames, args.seconds, start_at, args.interval, q),
        )
        p.start()
        while q.empty():
            await asyncio.sleep(0.05)
        res = q.get()
        p.join()
    await watcher
    await gw.stop()
    lat = sorted(res["lat"])
    if not lat:
        print("no answers received")
        return
    pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000  # noqa: E731
    mode = f"one packet per {args.interval:g} s per unit" if args.interval else "closed loop"
    where = "same process" if args.same_process else "child process"
    print(
        f"units={args.units} seconds={args.seconds} {mode}, clients in {where}; "
        f"gateway event loop: {loop_name(asyncio.get_running_loop())}; cpu cores: {os.cpu_count()}; "
        f"load average before: {load0}"
    )
    print(f"answered packets   : {res['sent']:,} ({res['sent'] / args.seconds:,.0f} packets/s)")
    print(
        f"answer latency ms  : p50 {pct(0.5):.1f}  p90 {pct(0.9):.1f}  p99 {pct(0.99):.1f}  max {lat[-1] * 1000:.1f}  mean {statistics.mean(lat) * 1000:.1f}"
    )
    n = window["p1"] - window["p0"]
    user, system = window["u1"] - window["u0"], window["s1"] - window["s0"]
    per = 1e6 / max(n, 1)
    print(
        f"server CPU         : {user + system:.2f} s for {n:,.0f} packets in the window = "
        f"{(user + system) * per:.1f} us/packet (user {user * per:.1f}, system {system * per:.1f}; "
        f"{'all in one process' if args.same_process else 'server process only'})"
    )
    print(f"server per CPU-s   : {n / max(user + system, 1e-9):,.0f} packets per CPU-second")
    sess = session_cost(reg, creds, frames)
    print(
        f"session alone      : {sess:.1f} us/packet CPU (HJ 212 session without socket or loop; "
        f"the shell, the event loop and the system calls are the other "
        f"{max(0.0, (user + system) * per - sess):.1f})"
    )
    if not args.same_process:
        print(
            f"client CPU         : {res['cpu']:.2f} s = "
            f"{res['cpu'] / max(res['n'], 1) * 1e6:.1f} us/packet (the child process)"
        )
    print(
        f"events published   : {received[0]:,}; client errors {res['errors']}; "
        f"bad packets {sum(metrics.counters('fuel_vapor', 'bad_packets').values()):.0f}"
    )
    if prof is not None:
        st = pstats.Stats(prof)
        st.sort_stats("tottime").print_stats(30)
        st.sort_stats("cumulative").print_stats(40)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--units", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--per-unit", type=int, default=50, help="distinct packets per unit (cycled)")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds for connections to open")
    ap.add_argument(
        "--interval",
        type=float,
        default=0.0,
        help="seconds between one unit's packets (0 = closed loop: next packet right after the answer)",
    )
    ap.add_argument("--same-process", action="store_true", help="run clients in the server's loop")
    ap.add_argument("--profile", action="store_true", help="cProfile the server over the window")
    ap.add_argument(
        "--loop",
        choices=("asyncio", "uvloop"),
        default="asyncio",
        help="event loop of the gateway; clients always use asyncio",
    )
    args = ap.parse_args()
    with asyncio.Runner(loop_factory=lambda: new_event_loop(args.loop == "uvloop")) as runner:
        runner.run(main_async(args))


if __name__ == "__main__":
    main()

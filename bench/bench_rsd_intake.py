"""Benchmark: RSD intake throughput over HTTP on loopback (records/s). Goal: ≥ 20,000 records/s.

The intake (Starlette app under uvicorn, the same code as the embedded service, with its SQLite
idempotence store and raw-body store in a temp dir) runs in a child process; this process posts
pre-built JSON batches of simulator records with aiohttp. ``publish`` in the server only counts
events, so the figure is the intake's own cost (parse, validate, compute, dedupe, answer), not the
bus's. Besides wall-clock records/s it prints records per CPU-second of the server process (from
/proc; steadier than wall time on a shared machine), and, as the anchor from the same run, the same
bodies posted to an endpoint of the same server that only reads them (the transport's share).
Prints figures; asserts nothing.

    .venv/bin/python bench/bench_rsd_intake.py [--records 60000] [--batch 2000] [--concurrency 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import socket
import tempfile
import time
from pathlib import Path

GOAL = 20_000


def _cpu_of(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (Linux /proc; 0.0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(port: int, state_dir: str, ready: mp.Event) -> None:  # type: ignore[valid-type]
    import uvicorn

    from core.registry import load_registry
    from core.ruleset import load_ruleset
    from remote_sensing.intake import Intake, IntakeState, RawStore, create_app

    async def publish(events: object) -> None:
        return None

    from core.credentials import DeviceCredentials

    reg = load_registry()
    creds, _ = DeviceCredentials.ephemeral(reg, lambda _kind, dev: f"bench-{dev}")
    intake = Intake(
        credentials=creds,
        registry=reg,
        ruleset=load_ruleset(),
        publish=publish,
        state=IntakeState(Path(state_dir) / "intake.sqlite"),
        raw=RawStore(Path(state_dir) / "raw"),
        max_records=10_000,
    )
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    async def sink(request: Request) -> JSONResponse:  # the anchor: read the body, answer
        body = await request.body()
        return JSONResponse({"accepted": 0, "duplicates": 0, "rejected": 0, "bytes": len(body)})

    app = create_app(intake)
    app.add_route("/bench/sink", sink, methods=["POST"])
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)

    async def main() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        ready.set()
        await task

    asyncio.run(main())


def _bodies(n: int, batch: int) -> list[tuple[str, str, bytes]]:
    from datetime import timedelta

    from core.registry import load_registry
    from core.timeutil import utcnow
    from remote_sensing.simulator import SimConfig, generate

    reg = load_registry()
    per_site = n // len(reg.rsd_sites) + 1
    start = utcnow() - timedelta(days=3)
    by_site: dict[str, list[dict]] = {}
    meta: dict[str, tuple[str, str]] = {}
    for site, prof, rec in generate(reg, per_site, start, SimConfig(seed=5), interval_s=1.0):
        by_site.setdefault(site.id, []).append(rec)
        meta[site.id] = (f"bench-{site.id}", prof)
    out = []
    for sid, recs in by_site.items():
        tok, prof = meta[sid]
        for i in range(0, len(recs), batch):
            out.append((tok, prof, json.dumps(recs[i : i + batch], ensure_ascii=False).encode()))
    return out


async def _post_all(
    port: int, bodies: list[tuple[str, str, bytes]], conc: int, path: str = "/api/rsd/v1/records"
) -> tuple[int, int, int, float]:
    import aiohttp

    q: asyncio.Queue[tuple[str, str, bytes]] = asyncio.Queue()
    for b in bodies:
        q.put_nowait(b)
    acc = dup = rej = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal acc, dup, rej
        while not q.empty():
            tok, prof, body = q.get_nowait()
            async with session.post(
                f"http://127.0.0.1:{port}{path}?profile={prof}",
                data=body,
                headers={"Authorization": f"Bearer {tok}", "Content-Type": "application/json"},
            ) as r:
                res = await r.json()
                acc += res["accepted"]
                dup += res["duplicates"]
                rej += res["rejected"]

    t0 = time.perf_counter()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as s:
        await asyncio.gather(*(worker(s) for _ in range(conc)))
    return acc, dup, rej, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=60_000)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    a = ap.parse_args()
    bodies = _bodies(a.records, a.batch)
    n = sum(len(json.loads(b)) for _, _, b in bodies)
    port = _free_port()
    with tempfile.TemporaryDirectory() as d:
        ready = mp.Event()
        proc = mp.Process(target=_serve, args=(port, d, ready), daemon=True)
        proc.start()
        if not ready.wait(60):
            raise SystemExit("intake did not start")
        assert proc.pid is not None
        try:
            c0 = _cpu_of(proc.pid)
            acc, dup, rej, secs = asyncio.run(_post_all(port, bodies, a.concurrency))
            cpu = _cpu_of(proc.pid) - c0
            res = {"records": n, "wall_s": secs, "server_cpu_s": cpu}
            c0 = _cpu_of(proc.pid)
            acc2, dup2, rej2, secs2 = asyncio.run(_post_all(port, bodies, a.concurrency))
            cpu2 = _cpu_of(proc.pid) - c0
            res.update(dup_wall_s=secs2, dup_server_cpu_s=cpu2)
            c0 = _cpu_of(proc.pid)
            *_, secs3 = asyncio.run(_post_all(port, bodies, a.concurrency, "/bench/sink"))
            cpu3 = _cpu_of(proc.pid) - c0
            res.update(anchor_wall_s=secs3, anchor_server_cpu_s=cpu3)
            if a.json:
                print(json.dumps(res))
                return
            print(
                f"first upload : {n} records in {len(bodies)} batches of {a.batch}, "
                f"concurrency {a.concurrency}; load average {os.getloadavg()}"
            )
            print(
                f"  accepted {acc}, duplicates {dup}, rejected {rej} (simulated malformed records)"
            )
            print(
                f"  {secs:.2f} s -> {n / secs:,.0f} records/s (goal {GOAL:,}: ratio {n / secs / GOAL:.2f}); "
                f"server CPU {cpu:.2f} s -> {n / cpu:,.0f} records/CPU-s (ratio {n / cpu / GOAL:.2f})"
            )
            print(
                f"re-upload (all duplicates): accepted {acc2}, duplicates {dup2}, rejected {rej2}"
            )
            print(
                f"  {secs2:.2f} s -> {n / secs2:,.0f} records/s; "
                f"server CPU {cpu2:.2f} s -> {n / cpu2:,.0f} records/CPU-s"
            )
            print(
                "anchor, same bodies to an endpoint that reads and drops them (uvicorn, Starlette, "
                f"this client): {n / secs3:,.0f} records/s; server CPU {cpu3:.2f} s -> "
                f"{cpu3 / n * 1e6:.1f} µs/record of the intake's {cpu / n * 1e6:.1f}"
            )
        finally:
            proc.terminate()
            proc.join(5)


if __name__ == "__main__":
    main()

"""Benchmark: CPU cost per event of the vapour processors (``fuel_vapor.processors``) over
simulated HJ 212 data of every registry unit, with the two state stores they run on:

  embedded store   a plain dict per processor keeping the typed state objects (the in-process bus)
  Faust table view ``streams.faust_app.KeyedState`` over a dict, committed after every event: the
                   state is read back from its stored dict (``from_dict``) and written as
                   ``to_dict()`` JSON, as on the Kafka path

Events are decoded before timing (packets → frames → ``from_hj212``), so only the processors are
measured. Prints figures; asserts nothing. Anchor: the issue's embedded end-to-end budget of 100 µs
per frame (≥ 10 k frames/s on one process), of which the rules are a part.

Usage: python bench/bench_vapor_rules.py [--days 2] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from core.processing import Context, Processor
from core.registry import load_registry
from core.ruleset import load_ruleset
from core.timeutil import BEIJING
from fuel_vapor.codemaps import default_codemaps
from fuel_vapor.intake import from_hj212
from fuel_vapor.processors import PROCESSORS
from fuel_vapor.protocol import FrameDecoder, parse_segment
from fuel_vapor.simulator import Simulation

BUDGET_US = 100.0  # per frame, embedded end to end (≥ 10 k frames/s)


def simulated_events(days: float) -> list[Any]:
    reg = load_registry()
    t0 = datetime(2026, 11, 2, 0, 0, tzinfo=BEIJING)
    sim = Simulation(reg, t0, seed=5, station_period_s=60, sensor_period_s=60)
    dec = FrameDecoder(extra_chars=b"0")
    cms = default_codemaps()
    out: list[Any] = []
    for o in sim.packets(t0 + timedelta(days=days)):
        for frame in dec.feed(o.frame):
            p = parse_segment(frame.segment.decode())
            unit = reg.unit_by_mn(p.mn)
            assert unit is not None
            out.extend(from_hj212(p, frame.raw, unit, cms[unit.code_map], o.ts).events)
    return out


def cpu_us_per_event(events: list[Any], ctx: Context, faust: bool) -> float:
    from streams.faust_app import KeyedState

    routes: dict[str, list[Processor]] = {}
    for p in PROCESSORS:
        for kind in p.inputs:
            routes.setdefault(kind, []).append(p)
    states: dict[str, dict[str, Any]] = {p.name: {} for p in PROCESSORS}
    t = time.process_time()
    for e in events:
        for p in routes.get(e.KIND, ()):
            if faust:
                view = KeyedState(states[p.name])
                p.handle(e, view, ctx)
                view.commit()
            else:
                p.handle(e, states[p.name], ctx)
    return (time.process_time() - t) / len(events) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=float, default=2.0)
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args()
    ctx = Context(load_ruleset(), load_registry())
    events = simulated_events(a.days)
    kinds = Counter(e.KIND.removeprefix("vapor.") for e in events)
    print(f"cores {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")
    print(f"{len(events)} events over {a.days:g} simulated days: {dict(kinds)}")
    for label, faust in (("embedded store", False), ("Faust table view", True)):
        us = min(cpu_us_per_event(events, ctx, faust) for _ in range(a.repeat))
        print(
            f"{label:18s} {us:7.1f} µs CPU/event   anchor {BUDGET_US:.0f} µs/frame end to end"
            f"   share {us / BUDGET_US:.2f}"
        )


if __name__ == "__main__":
    main()

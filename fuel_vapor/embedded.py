"""The vapour-recovery source inside a process: the HJ 212 gateway on ``ctx.ports["hj212"]`` and,
when ``ctx.simulate`` is true, the registry's stations, depots and sensors simulated over loopback.

The simulator first back-fills ``backfill_days`` of history as fast as the gateway answers (so the
station page has days to show), then runs in real time. A few faults are injected on fixed demo
stations so that every vapour rule has something to show: a drifting nozzle (A/L warning → alarm),
a vacuum-pump fault, a zero-pressure leak, a station in shield mode and a VOC spike.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.credentials import random_digits
from core.gateway import GatewaySettings
from core.service import ServiceContext
from core.timeutil import utcnow
from fuel_vapor.server import VaporGateway
from fuel_vapor.simulator import Fault, Feeder, Simulation

log = logging.getLogger(__name__)
DEFAULT_PORT = 9212
WINDOW = timedelta(minutes=5)


def demo_faults(start: datetime) -> list[Fault]:
    return [
        Fault("QP-ST-0001", "drift", 3, start),
        Fault("WJ-ST-0001", "pump", 2, start + timedelta(days=1)),
        Fault("JS-ST-0002", "zero_pressure", None, start),
        Fault("QP-ST-0004", "shield", None, start),
        Fault("QP-ST-0002", "voc_spike", None, start + timedelta(days=1, hours=14)),
    ]


@dataclass(slots=True)
class VaporService:
    gateway: VaporGateway
    host: str
    port: int
    sim_task: asyncio.Task[None] | None = None
    feeder: Feeder | None = None
    name: str = "fuel_vapor"
    notes: dict[str, str] = field(default_factory=dict)

    async def stop(self) -> None:
        if self.sim_task is not None:
            self.sim_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.sim_task
        if self.feeder is not None:
            await self.feeder.close()
        await self.gateway.stop()

    def describe(self) -> dict[str, str]:
        out = {"Vapour-recovery gateway (HJ 212)": f"tcp://{self.host}:{self.port}"}
        if self.sim_task is not None:
            out["Vapour simulator"] = (
                f"{len(self.gateway.registry.stations)} stations, "
                f"{len(self.gateway.registry.depots)} depots, {len(self.gateway.registry.sensors)} sensors"
            )
        return out


async def _simulate(svc: VaporService, sim: Simulation) -> None:
    try:
        await _simulate_loop(svc, sim)
    except asyncio.CancelledError:
        raise
    except Exception:  # a simulator bug must not take the gateway down
        log.exception("vapour simulator stopped")


async def _simulate_loop(svc: VaporService, sim: Simulation) -> None:
    feeder = svc.feeder
    assert feeder is not None
    t = sim.start
    while True:
        end = t + WINDOW
        packets = list(sim.packets(end))
        now = utcnow()
        if end <= now:
            await feeder.send(packets)  # back-fill as fast as answers come back
        else:
            await feeder.send(packets, lambda ts: (ts - utcnow()).total_seconds())
            wait = (end - utcnow()).total_seconds()
            if wait > 0:
                await asyncio.sleep(wait)
        t = end


async def start(ctx: ServiceContext, backfill_days: float = 2.0) -> VaporService:
    port = ctx.ports.get("hj212", DEFAULT_PORT)
    gw = VaporGateway(
        ctx.publish,
        ctx.registry,
        ctx.metrics,
        settings=GatewaySettings(host=ctx.host, port=port),
        ruleset=ctx.ruleset,
        credentials=ctx.device_credentials(),
    )
    host, bound = await gw.start()
    svc = VaporService(gw, host, bound)
    if ctx.simulate:
        start_ts = (utcnow() - timedelta(days=backfill_days)).replace(second=0, microsecond=0)
        reg = ctx.registry
        units = [
            *(s.id for s in reg.stations),
            *(d.id for d in reg.depots),
            *(s.id for s in reg.sensors),
        ]
        passwords = gw.credentials.demo_secrets(units, random_digits())
        sim = Simulation(
            ctx.registry,
            start_ts,
            faults=demo_faults(start_ts),
            seed=2026,
            passwords=passwords,
        )
        for m in sim.stations.values():
            m.rate_per_h *= max(0.05, ctx.sim_scale)
        svc.feeder = Feeder(host, bound)
        svc.sim_task = asyncio.create_task(_simulate(svc, sim))
    return svc

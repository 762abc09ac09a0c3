"""The OBD source inside a process: the HJ 1239 gateway on ``ctx.ports["obd"]`` and, when
``ctx.simulate`` is true, the registry's fleet of simulated terminals feeding it over loopback.

The simulator runs in real time (one 10-s packet per vehicle every 10 s), restarts each
terminal's session after ``session_packets`` packets (so logins, logouts and reconnects are seen)
and injects a few faults on fixed vehicles (and one terminal that goes offline for 10 minutes per
session, then back-fills) so the OBD rules have something to show in demos.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from core.gateway import GatewaySettings
from core.service import ServiceContext
from core.timeutil import utcnow
from obd_gateway.server import ObdGateway
from obd_gateway.simulator import Fault, Terminal, terminal_iccid

log = logging.getLogger(__name__)
DEFAULT_PORT = 9100
DEMO_OFFLINE = (30, 60)  # packets: offline from the 30th packet of a session for 10 minutes
DEMO_FAULTS = (
    (Fault.SCR_DISABLED,),
    (Fault.NOX_FLAT,),
    (Fault.MIL_DTC,),
    (Fault.CALID_CHANGE,),
    (Fault.SCR_DEGRADED, Fault.UREA_EMPTY),
)


@dataclass(slots=True)
class ObdService:
    gateway: ObdGateway
    sim_tasks: list[asyncio.Task[None]] = field(default_factory=list)
    name: str = "obd_gateway"

    @property
    def port(self) -> int:
        return self.gateway.port

    async def stop(self) -> None:
        for t in self.sim_tasks:
            t.cancel()
        for t in self.sim_tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await self.gateway.stop()

    def describe(self) -> dict[str, str]:
        sims = f" ({len(self.sim_tasks)} simulated terminals)" if self.sim_tasks else ""
        return {"OBD gateway (HJ 1239)": f"tcp://{self.gateway.host}:{self.port}{sims}"}


async def _drive(term: Terminal, host: str, port: int, session_packets: int) -> None:
    while True:
        try:
            await term.run(host, port, session_packets)
        except (OSError, ConnectionError) as exc:
            log.warning("obd simulator %s: %s; retrying in 20 s", term.vehicle.vin, exc)
            await asyncio.sleep(20)


async def start(ctx: ServiceContext, session_packets: int = 360) -> ObdService:
    port = ctx.ports.get("obd", DEFAULT_PORT)
    gw = ObdGateway(
        ctx.publish,
        ctx.registry,
        ctx.metrics,
        GatewaySettings(host=ctx.host, port=port, idle_timeout_s=180.0),
        credentials=ctx.device_credentials(),
    )
    await gw.start()
    svc = ObdService(gw)
    if ctx.simulate:
        vehicles = list(ctx.registry.obd_vehicles)
        n = max(1, round(len(vehicles) * ctx.sim_scale)) if vehicles else 0
        # register the simulated terminals' ICCIDs (first run only; later runs keep them)
        gw.credentials.demo_secrets((v.vin for v in vehicles[:n]), terminal_iccid)
        now = utcnow() - timedelta(seconds=10)  # first 10-s window already collected
        for i, v in enumerate(vehicles[:n]):
            faults = DEMO_FAULTS[i // 6] if i % 6 == 5 and i // 6 < len(DEMO_FAULTS) else ()
            offline = DEMO_OFFLINE if i == 2 else None  # one terminal drops out, then back-fills
            term = Terminal(v, now, seed=i, faults=faults, offline=offline)
            svc.sim_tasks.append(
                asyncio.create_task(_drive(term, ctx.host, gw.port, session_packets))
            )
    return svc

"""The RSD service inside a process: the HTTP intake (uvicorn), the watched folder and the simulator.

Responsible for wiring ``remote_sensing.intake`` to the platform (core/service.py): the intake is
served by uvicorn on ``ctx.host:ctx.ports.get("rsd", 8088)`` (0 = any free port; the bound port is
``service.port``), the folder intake polls ``<data_dir>/remote_sensing/folder/inbox``, and when
``ctx.simulate`` is true the simulator posts passes of every registered site to the intake over
loopback HTTP. Seen record ids and operator calibrations persist in
``<data_dir>/remote_sensing/intake.sqlite``; raw bodies under ``<data_dir>/remote_sensing/raw``.

Known limits: uvicorn runs inside the caller's event loop without installing signal handlers (the
runner owns shutdown); one process per data directory (SQLite state).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from core.service import ServiceContext
from remote_sensing.intake import FolderIntake, Intake, IntakeState, RawStore, create_app
from remote_sensing.simulator import SimConfig, run_simulator

log = logging.getLogger(__name__)
DEFAULT_PORT = 8088


def _server_class() -> Any:
    import uvicorn

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:  # the runner owns signals
            yield

    return _Server


@dataclass(slots=True)
class RsdService:
    name: str
    intake: Intake
    host: str
    port: int
    folder: FolderIntake
    _server: Any
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        self._stop.set()
        self._server.should_exit = True
        for t in self._tasks:
            # a simulator request cut off by the closing server is expected at shutdown
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError, OSError):
                await asyncio.wait_for(t, 5.0)
        for t in self._tasks:
            if not t.done():
                t.cancel()
        self.intake.state.close()

    def describe(self) -> dict[str, str]:
        return {
            "RSD intake (HTTP)": f"{self.url}/api/rsd/v1/records",
            "RSD drop folder": str(self.folder.root / "inbox"),
        }


async def start(ctx: ServiceContext) -> RsdService:
    base = ctx.data_dir / "remote_sensing"
    base.mkdir(parents=True, exist_ok=True)
    intake = Intake(
        registry=ctx.registry,
        ruleset=ctx.ruleset,
        publish=ctx.publish,
        state=IntakeState(base / "intake.sqlite"),
        raw=RawStore(base / "raw"),
        metrics=ctx.metrics,
        credentials=ctx.device_credentials(),
    )
    port = ctx.ports.get("rsd", DEFAULT_PORT)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((ctx.host, port))
    sock.listen(512)
    sock.setblocking(False)
    bound = sock.getsockname()[1]

    import uvicorn

    config = uvicorn.Config(
        create_app(intake), log_level="warning", access_log=False, lifespan="off"
    )
    server = _server_class()(config)
    folder = FolderIntake(intake, base / "folder")
    svc = RsdService("remote_sensing", intake, ctx.host, bound, folder, server)
    svc._tasks.append(asyncio.create_task(server.serve(sockets=[sock]), name="rsd-intake-http"))
    svc._tasks.append(asyncio.create_task(folder.run(1.0, svc._stop), name="rsd-intake-folder"))
    for _ in range(200):  # wait until uvicorn accepts connections
        if server.started:
            break
        await asyncio.sleep(0.01)
    if ctx.simulate:
        cfg = SimConfig(rate_per_site=2.0 * ctx.sim_scale, batch=10, seed=7)
        tokens = intake.credentials.demo_secrets(s.id for s in ctx.registry.rsd_sites)
        svc._tasks.append(
            asyncio.create_task(
                run_simulator(svc.url, ctx.registry, cfg, svc._stop, tokens=tokens),
                name="rsd-simulator",
            )
        )
    log.info("RSD intake on %s", svc.url)
    return svc

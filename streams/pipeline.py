"""The embedded pipeline: sink + in-process bus + processors + source services, one event loop.

Used by the embedded runner (``emwatch run``), by gateway commands in embedded mode, and by
component tests (``Pipeline.for_tests``). Production replaces the bus by ``KafkaBus`` at the edge
and Faust workers for processors and storage; the services and processors are the same objects.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.metrics import Metrics
from core.processing import Context, Processor
from core.registry import Registry
from core.ruleset import RuleSet
from core.service import Service, ServiceContext
from streams import catalog
from streams.bus.inproc import InProcessBus
from streams.warehouse.sink import BatchingSink

log = logging.getLogger(__name__)


@dataclass
class Pipeline:
    client: Any  # writer client
    ruleset: RuleSet
    registry: Registry
    data_dir: Path
    processors: Sequence[Processor] | None = None
    metrics: Metrics = field(default_factory=Metrics)
    batch_size: int = 50_000
    max_delay_s: float = 0.5
    max_buffered: int = 500_000
    host: str = "127.0.0.1"
    ports: dict[str, int] = field(default_factory=dict)
    simulate: bool = True
    sim_scale: float = 1.0
    services: list[Service] = field(default_factory=list)
    bus: InProcessBus | None = None
    sink: BatchingSink | None = None

    async def start(self, with_services: bool = True, only: Sequence[str] | None = None) -> None:
        """Start sink and bus; then, if asked, every source service (or those named in ``only``)."""
        self.sink = BatchingSink(
            self.client,
            batch_size=self.batch_size,
            max_delay_s=self.max_delay_s,
            max_buffered=self.max_buffered,
            on_written=lambda kind, n: self.metrics.inc("sink", "rows_written", n, {"kind": kind}),
        ).start()
        catalog.load_all()  # every plugin's parts import, or start-up fails here, naming the part
        procs = catalog.processors() if self.processors is None else self.processors
        self.bus = InProcessBus(
            self.sink, procs, Context(self.ruleset, self.registry), metrics=self.metrics
        )
        await self.bus.start()
        if with_services:
            await self.start_services(only)

    @property
    def service_context(self) -> ServiceContext:
        assert self.bus is not None, "start() first"
        return ServiceContext(
            publish=self.bus.publish,
            registry=self.registry,
            ruleset=self.ruleset,
            metrics=self.metrics,
            data_dir=self.data_dir,
            host=self.host,
            ports=dict(self.ports),
            simulate=self.simulate,
            sim_scale=self.sim_scale,
        )

    async def start_services(self, only: Sequence[str] | None = None) -> None:
        for mod in catalog.embedded_modules():
            short = mod.__name__.split(".")[0]
            if only is not None and short not in only:
                continue
            try:
                svc = await mod.start(self.service_context)
            except Exception:  # one source failing to start must not take the platform down
                log.exception("service %s failed to start", short)
                self.metrics.inc("runner", "service_start_failures", labels={"service": short})
                continue
            self.services.append(svc)
            log.info("started %s", getattr(svc, "name", short))

    async def publish(self, events: Sequence[Any]) -> None:
        assert self.bus is not None, "start() first"
        await self.bus.publish(events)

    async def settle(self) -> None:
        """Process everything queued and write it to the warehouse (tests, shutdown)."""
        assert self.bus is not None and self.sink is not None
        await self.bus.drain()
        await asyncio.to_thread(self.sink.flush)

    def snapshot_metrics(self) -> None:
        """Write the current metrics into ``platform_metric`` (through the writer client)."""
        rows = self.metrics.snapshot()
        if self.sink is not None:
            st = self.sink.state()
            rows += [
                ("sink", "buffered", "", float(st.buffered)),
                ("sink", "backpressure", "", float(st.backpressure)),
                ("sink", "failed_flushes", "", float(st.failed_flushes)),
                ("sink", "dead_lettered", "", float(st.dead_lettered)),
                ("sink", "healthy", "", float(st.healthy)),
            ]
        if not rows:
            return
        now = datetime.now(UTC)
        self.client.insert(
            "platform_metric",
            [[now, c, n, lk, float(v)] for c, n, lk, v in rows],
            column_names=["ts", "component", "name", "labels", "value"],
        )

    async def stop(self) -> None:
        for svc in reversed(self.services):
            try:
                await svc.stop()
            except Exception:
                log.exception("service %s failed to stop cleanly", getattr(svc, "name", svc))
        self.services.clear()
        if self.bus is not None:
            await self.bus.stop()
        if self.sink is not None:
            state = await asyncio.to_thread(self.sink.close)
            if state.buffered:
                log.error("%d events could not be written: %s", state.buffered, state.last_error)

    def describe(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for svc in self.services:
            out.update(svc.describe())
        return out

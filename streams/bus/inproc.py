"""In-process bus for the embedded default: publish → sink (storage) + processors, same code path
as Kafka/Faust in production.

``publish`` hands events to the batching sink (awaiting while it is full: backpressure) and to a
bounded processing queue; a worker task runs every processor subscribed to an event's kind with
that key's state. State lives in a plain dict per processor (``StateStore``), the embedded stand-in
for a Faust table.

The worker never waits on itself: what processors return is stored and then processed by the same
worker from a local, unbounded list (generation after generation, at most ``max_depth`` deep), never
put back into the bounded queue that only this worker empties. A full queue therefore slows the
gateways (their ``publish`` awaits) but cannot deadlock the bus. A chain of processors deeper than
``max_depth`` (a cycle in the processor graph) is cut, logged and counted
(``bus.depth_exceeded``): its last outputs are stored but not processed further.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import MutableMapping, Sequence
from typing import Any

from core.metrics import Metrics
from core.processing import Context, Processor
from streams.warehouse.sink import BatchingSink

log = logging.getLogger(__name__)


class StateStore(dict[str, Any]):
    """A processor's state: a mapping keyed by the event key (Faust table in production)."""


class InProcessBus:
    def __init__(
        self,
        sink: BatchingSink | None,
        processors: Sequence[Processor],
        ctx: Context,
        metrics: Metrics | None = None,
        queue_size: int = 1_000,
        max_depth: int = 16,
    ) -> None:
        self._sink = sink
        self._ctx = ctx
        self._metrics = metrics or Metrics()
        self._routes: dict[str, list[Processor]] = defaultdict(list)
        for p in processors:
            for kind in p.inputs:
                self._routes[kind].append(p)
        self.states: dict[str, MutableMapping[str, Any]] = {
            p.name: StateStore() for p in processors
        }
        self._queue: asyncio.Queue[list[Any]] | None = None
        self._queue_size = queue_size
        self.max_depth = max_depth
        self._worker: asyncio.Task[None] | None = None
        self.published = 0
        self.processor_errors = 0
        self.depth_exceeded = 0

    async def start(self) -> None:
        self._queue = asyncio.Queue(self._queue_size)
        self._worker = asyncio.create_task(self._work(), name="emw-inproc-bus")

    async def publish(self, events: Sequence[Any]) -> None:
        """Store ``events`` and queue them for the processors (awaits while either is full)."""
        if not events:
            return
        if self._queue is None:
            raise RuntimeError("bus not started")
        await self._store(events)
        routed = [e for e in events if e.KIND in self._routes]
        if routed:  # one queue item per published batch: per-event queue overhead is too high
            await self._queue.put(routed)

    async def _store(self, events: Sequence[Any]) -> None:
        if self._sink is not None:
            await self._sink.aput(events)
        self.published += len(events)

    def process_now(self, event: Any) -> list[Any]:
        """Run the processors of ``event`` synchronously and return their outputs (tests, replay)."""
        out: list[Any] = []
        for p in self._routes.get(event.KIND, ()):
            try:
                out.extend(p.handle(event, self.states[p.name], self._ctx))
            except Exception:  # a processor bug must not stop the bus: count, log, go on
                self.processor_errors += 1
                self._metrics.inc("bus", "processor_errors", labels={"processor": p.name})
                log.exception("processor %s failed on %s %s", p.name, event.KIND, event.event_id)
        return out

    async def process(self, batch: Sequence[Any]) -> None:
        """Process ``batch`` and, generation by generation, whatever the processors return.

        Outputs are stored (sink) and processed here, from a local list: the worker never puts
        into its own queue, so it cannot wait on itself."""
        generation: Sequence[Any] = batch
        depth = 0
        while generation:
            outputs: list[Any] = []
            for event in generation:
                outputs.extend(self.process_now(event))
            if not outputs:
                return
            await self._store(outputs)
            depth += 1
            generation = [e for e in outputs if e.KIND in self._routes]
            if generation and depth >= self.max_depth:
                self.depth_exceeded += 1
                self._metrics.inc("bus", "depth_exceeded")
                log.error(
                    "processor chain deeper than %d (a cycle?): %d %s events stored, not processed",
                    self.max_depth,
                    len(generation),
                    generation[0].KIND,
                )
                return

    async def _work(self) -> None:
        assert self._queue is not None
        q = self._queue
        while True:
            batch = await q.get()
            try:
                await self.process(batch)
            except Exception:  # e.g. the sink closed under us: log, keep the worker alive
                log.exception("bus worker: batch of %d events not processed", len(batch))
            finally:
                q.task_done()

    async def drain(self) -> None:
        """Wait until every queued event has been processed."""
        if self._queue is not None:
            await self._queue.join()

    async def stop(self) -> None:
        await self.drain()
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None

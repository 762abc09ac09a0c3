"""In-process bus for the embedded default: publish → sink (storage) + processors, same code path
as Kafka/Faust in production.

``publish`` hands events to the batching sink (awaiting while it is full: backpressure) and to a
bounded processing queue; a worker task runs every processor subscribed to an event's kind with
that key's state and publishes what they return. State lives in a plain dict per processor
(``StateStore``), the embedded stand-in for a Faust table.
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
        self._worker: asyncio.Task[None] | None = None
        self.published = 0
        self.processor_errors = 0

    async def start(self) -> None:
        self._queue = asyncio.Queue(self._queue_size)
        self._worker = asyncio.create_task(self._work(), name="emw-inproc-bus")

    async def publish(self, events: Sequence[Any]) -> None:
        if not events:
            return
        if self._sink is not None:
            await self._sink.aput(events)
        self.published += len(events)
        if self._queue is None:
            raise RuntimeError("bus not started")
        routed = [e for e in events if e.KIND in self._routes]
        if routed:  # one queue item per published batch: per-event queue overhead is too high
            await self._queue.put(routed)

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

    async def _work(self) -> None:
        assert self._queue is not None
        q = self._queue
        while True:
            batch = await q.get()
            try:
                outputs: list[Any] = []
                for event in batch:
                    outputs.extend(self.process_now(event))
                if outputs:
                    await self.publish(outputs)
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

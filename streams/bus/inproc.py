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

With a write-ahead log (``streams.wal``, the embedded default) ``publish`` returns only once the
events are fsynced in the log: that is what lets a gateway acknowledge. Each event is serialised
once, for the log; one that cannot be serialised becomes a dead letter (logged too) instead of
failing its batch. The log keeps a segment until the sink has stored every record of it and the
worker has processed every routed one (``release``); processor outputs are logged without waiting
(their input is still in the log until they are). ``replay`` feeds what the log held at start
through the same sink and processors.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import MutableMapping, Sequence
from typing import Any

from core.metrics import Metrics
from core.processing import Context, Processor
from streams import serde
from streams.wal import Recovered, WriteAheadLog
from streams.warehouse import deadletter
from streams.warehouse.deadletter import DeadLetter
from streams.warehouse.sink import BatchingSink

log = logging.getLogger(__name__)
DEAD_LETTER_KIND = "__dead_letter__"  # a WAL record holding a dead letter, not an event
PREPARE_ITEMS = 64  # queued publishes the worker takes at once to prepare their batches together


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
        wal: WriteAheadLog | None = None,
    ) -> None:
        self._sink = sink
        self._wal = wal
        self._ctx = ctx
        self._metrics = metrics or Metrics()
        self._routes: dict[str, list[Processor]] = defaultdict(list)
        for p in processors:
            for kind in p.inputs:
                self._routes[kind].append(p)
        self.states: dict[str, MutableMapping[str, Any]] = {
            p.name: StateStore() for p in processors
        }
        self._queue: asyncio.Queue[tuple[list[Any], int | None]] | None = None
        self._queue_size = queue_size
        self.max_depth = max_depth
        self._worker: asyncio.Task[None] | None = None
        self.published = 0
        self.processor_errors = 0
        self.depth_exceeded = 0
        self.dead_lettered = 0
        self.replayed = 0

    async def start(self) -> None:
        self._queue = asyncio.Queue(self._queue_size)
        self._worker = asyncio.create_task(self._work(), name="emw-inproc-bus")

    async def publish(self, events: Sequence[Any]) -> None:
        """Store ``events`` and queue them for the processors (awaits while either is full)."""
        if not events:
            return
        if self._queue is None:
            raise RuntimeError("bus not started")
        if self._wal is None:
            await self._store(events)
            routed = [e for e in events if e.KIND in self._routes]
            seg = None
        else:
            good, payloads, letters = self._encode(events)
            routed = [e for e in good if e.KIND in self._routes]
            seg = await self._wal.write(payloads, extra_refs=len(routed))  # fsynced: ackable
            await self._hand_over(good, letters, seg)
        if routed:  # one queue item per published batch: per-event queue overhead is too high
            await self._queue.put((routed, seg))

    def _encode(self, events: Sequence[Any]) -> tuple[list[Any], list[bytes], list[DeadLetter]]:
        good: list[Any] = []
        payloads: list[bytes] = []
        letters: list[DeadLetter] = []
        for e in events:
            try:
                payloads.append(serde.encode(e))
            except Exception as exc:  # cannot be serialised: isolate this one record
                letters.append(deadletter.of_event(e, "serialise", f"{type(exc).__name__}: {exc}"))
                continue
            good.append(e)
        for d in letters:
            log.warning(
                "bus: %s %s from device %r cannot be serialised, dead-lettered: %s",
                d.kind,
                d.event_id,
                d.device_id,
                d.reason,
            )
            payloads.append(json.dumps({"kind": DEAD_LETTER_KIND, **d.to_json()}).encode())
        self.dead_lettered += len(letters)
        return good, payloads, letters

    async def _hand_over(self, good: list[Any], letters: list[DeadLetter], seg: int | None) -> None:
        if self._sink is not None:
            await self._sink.aput(good, tag=seg)
            self._sink.dead_letter(letters, [seg] * len(letters))
        elif self._wal is not None and seg is not None:  # nowhere to store: nothing to keep
            self._wal.release({seg: len(good) + len(letters)})
        self.published += len(good)

    async def _store(self, events: Sequence[Any]) -> None:
        """Store processor outputs (logged without waiting for the fsync: see the docstring)."""
        if self._wal is None:
            if self._sink is not None:
                await self._sink.aput(events)
            self.published += len(events)
            return
        good, payloads, letters = self._encode(events)
        seg = await self._wal.write(payloads, durable=False)
        await self._hand_over(good, letters, seg)

    async def replay(self, recovered: Sequence[Recovered], classes: dict[str, type]) -> int:
        """Feed records the log held at start through the sink and the processors."""
        if self._queue is None:
            raise RuntimeError("bus not started")
        n = 0
        for rec in recovered:
            good: list[Any] = []
            letters: list[DeadLetter] = []
            for raw in rec.payloads:
                try:
                    if raw[:1] == b"{":
                        data = json.loads(raw)
                        if data.get("kind") == DEAD_LETTER_KIND:
                            letters.append(DeadLetter.from_json(data))
                            continue
                    good.append(serde.decode(raw, classes))
                except Exception as exc:  # written by another version? keep it, do not block
                    letters.append(deadletter.undecodable(raw, exc))
            routed = [e for e in good if e.KIND in self._routes]
            if self._wal is not None:
                self._wal.hold(rec.segment, len(routed))
            await self._hand_over(good, letters, rec.segment)
            for i in range(0, len(routed), 1000):
                chunk = routed[i : i + 1000]
                await self._queue.put((chunk, rec.segment))
            n += len(good) + len(letters)
        self.replayed += n
        return n

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
            items = [await q.get()]
            while len(items) < PREPARE_ITEMS and not q.empty():
                items.append(q.get_nowait())  # what is already queued: prepared together
            try:
                serde.prepare([e for batch, _seg in items for e in batch])
            except Exception:  # only a speed-up: each batch still works on its own
                log.exception("bus worker: preparing %d queued publishes failed", len(items))
            for batch, seg in items:
                try:
                    await self.process(batch)
                except Exception:  # e.g. the sink closed under us: log, keep the worker alive
                    log.exception("bus worker: batch of %d events not processed", len(batch))
                finally:
                    if seg is not None and self._wal is not None:
                        self._wal.release({seg: len(batch)})
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

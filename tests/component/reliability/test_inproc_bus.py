"""The in-process bus cannot wait on itself: a full queue slows publishers but never deadlocks
the worker, whose processors' outputs are processed from its own unbounded list."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, ClassVar

from core.processing import Context, Processor
from streams.bus.inproc import InProcessBus


@dataclass(frozen=True, slots=True)
class Ping:
    KIND: ClassVar[str] = "test.ping"
    event_id: str
    n: int

    @property
    def key(self) -> str:
        return "k"


@dataclass(frozen=True, slots=True)
class Pong:
    KIND: ClassVar[str] = "test.pong"
    event_id: str
    n: int

    @property
    def key(self) -> str:
        return "k"


CTX = Context(ruleset=None, registry=None)  # type: ignore[arg-type]


class YieldingSink:
    """Stores events, yielding to the loop on every put as a busy ``BatchingSink`` does (its
    ``aput`` sleeps while full): that is when publishers refill the queue."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    async def aput(self, events: Any) -> None:
        await asyncio.sleep(0)
        self.events.extend(events)


async def test_full_queue_never_blocks_the_worker_on_its_own_outputs() -> None:
    seen: list[int] = []

    def ping(e: Ping, state: Any, ctx: Context) -> list[Pong]:
        return [Pong(f"pong-{e.n}", e.n)]

    def pong(e: Pong, state: Any, ctx: Context) -> list[Any]:
        seen.append(e.n)
        return []

    sink = YieldingSink()
    bus = InProcessBus(
        sink,  # type: ignore[arg-type]
        [Processor("ping", (Ping.KIND,), ping), Processor("pong", (Pong.KIND,), pong)],
        CTX,
        queue_size=1,
    )
    await bus.start()
    n = 200  # bounded load; one publish per event keeps the one-slot queue full all the time
    try:
        # the old bus put outputs back into this one-slot queue from its only consumer and hung
        # here forever; the bound turns such a hang into a failure instead of a stuck suite
        await asyncio.wait_for(
            asyncio.gather(*(bus.publish([Ping(f"ping-{i}", i)]) for i in range(n))), 30
        )
        await asyncio.wait_for(bus.drain(), 30)
        await bus.stop()
    finally:
        if bus._worker is not None:  # a hung worker: cancel it rather than drain forever
            bus._worker.cancel()
    assert sorted(seen) == list(range(n))
    assert bus.published == 2 * n  # inputs and outputs both reached storage
    assert sorted(e.event_id for e in sink.events if e.KIND == Pong.KIND) == sorted(
        f"pong-{i}" for i in range(n)
    )


async def test_a_processor_cycle_is_cut_at_max_depth_and_counted() -> None:
    def echo(e: Ping, state: Any, ctx: Context) -> list[Ping]:
        return [Ping(f"{e.event_id}+", e.n + 1)]

    bus = InProcessBus(None, [Processor("echo", (Ping.KIND,), echo)], CTX, max_depth=5)
    await bus.start()
    try:
        await bus.publish([Ping("p", 0)])
        await asyncio.wait_for(bus.drain(), 30)
    finally:
        await bus.stop()
    assert bus.depth_exceeded == 1
    assert bus.published == 1 + 5  # the input and five generations of outputs were stored

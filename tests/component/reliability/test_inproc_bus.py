"""The in-process bus cannot wait on itself: a full queue slows publishers but never deadlocks
the worker, whose processors' outputs are processed from its own unbounded list."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
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


async def test_queued_sample_batches_are_decoded_together_in_order() -> None:
    """What the worker takes at once is prepared together (one decode for the OBD batches):
    the processor still sees every batch once, in publish order, with the values each batch
    decodes to on its own."""
    from obd_gateway.events import ObdSamples
    from obd_gateway.simulator import VehicleModel, synthetic_vehicles

    fleet = synthetic_vehicles(3)
    models = [VehicleModel(v, seed=i) for i, v in enumerate(fleet)]
    t0 = 1_763_600_000_000
    batches = []
    for k in range(30):
        m = models[k % 3]
        batches.append(
            ObdSamples(
                vin=m.vehicle.vin,
                jurisdiction=m.vehicle.jurisdiction,
                fleet=m.vehicle.fleet,
                vehicle_class=m.vehicle.vehicle_class,
                received_at=datetime.now(UTC),
                backfilled=False,
                signature="absent",
                frame_id=f"{k:032x}",
                ts_ms=[t0 + 10_000 * k + 1000 * i for i in range(1 + k % 4)],
                record_flags=bytes(1 + k % 4),
                raw=b"".join(m.record().encode() for _ in range(1 + k % 4)),
            )
        )
    fresh = [ObdSamples.from_bytes(b.to_bytes()) for b in batches]
    seen: list[tuple[str, Any, Any, Any]] = []
    prepared: list[bool] = []

    def judge(e: ObdSamples, state: Any, ctx: Context) -> list[Any]:
        prepared.append(e._decoded is not None)
        seen.append((e.frame_id, e.values, e.flags, e.fix_valid))
        return []

    class Sink:  # stores at once: the publishes below queue up before the worker runs
        async def aput(self, events: Any) -> None:
            pass

    bus = InProcessBus(Sink(), [Processor("judge", (ObdSamples.KIND,), judge)], CTX)  # type: ignore[arg-type]
    await bus.start()
    try:
        for b in batches:  # queued before the worker runs: it takes them at once
            await bus.publish([b])
        await asyncio.wait_for(bus.drain(), 30)
        await bus.stop()
    finally:
        if bus._worker is not None:
            bus._worker.cancel()
    assert [s[0] for s in seen] == [b.frame_id for b in batches]
    assert any(prepared)  # the worker did prepare what it took at once
    for (_fid, values, flags, fix), f in zip(seen, fresh, strict=True):
        assert values == f.values and flags == f.flags and fix == f.fix_valid

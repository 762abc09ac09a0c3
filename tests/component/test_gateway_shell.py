"""The one gateway shell (core.gateway) over real sockets, on asyncio's loop and on uvloop's:
publish-then-ack, refusals after a failed publish, partial-frame timeout, limits and the metric
names both protocol gateways share."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, ClassVar

import pytest

from core.credentials import DeviceCredentials
from core.gateway import Gateway, GatewaySettings, Outcome, loop_name, new_event_loop
from core.metrics import Metrics
from core.registry import default_registry
from fuel_vapor.server import VaporGateway
from obd_gateway.server import ObdGateway

pytestmark = pytest.mark.component

LOOPS = [
    "asyncio",
    pytest.param(
        "uvloop",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("uvloop") is None,
            reason="uvloop is not installed (not available on this platform)",
        ),
    ),
]


class LineSession:
    """A toy protocol: lines ending in LF; ``ok`` is an event acknowledged ``A``, ``no`` is
    refused ``R`` (nothing to publish); the rest of a line is buffered until the partial timeout."""

    close_on_publish_failure: ClassVar[bool] = False

    def __init__(self) -> None:
        self.buf = b""
        self.closed = False

    @property
    def buffered(self) -> int:
        return len(self.buf)

    def receive(self, data: bytes, now: datetime) -> Outcome:
        out = Outcome()
        *lines, self.buf = (self.buf + data).split(b"\n")
        for line in lines:
            out.count(("lines", "kind", line.decode()))
            if line == b"ok":
                out.events.append(line)
                out.answers.append(b"A\n")
            else:
                out.refuse(b"R\n")
        return out

    def expire(self, now: datetime) -> Outcome:
        out = Outcome()
        out.count(("stalled", "", ""))
        out.refuse(b"T\n")
        self.buf = b""
        return out

    def close(self, now: datetime) -> Outcome:
        self.closed = True
        return Outcome()


def run(loop: str, body: Callable[[], Awaitable[None]]) -> None:
    with asyncio.Runner(loop_factory=lambda: new_event_loop(loop == "uvloop")) as r:
        assert loop_name(r.get_loop()) == loop
        r.run(body())


async def read_until(r: asyncio.StreamReader, n: int, timeout: float = 5.0) -> bytes:
    got = b""
    while got.count(b"\n") < n:
        data = await asyncio.wait_for(r.read(4096), timeout)
        if not data:
            break
        got += data
    return got


@pytest.mark.parametrize("loop", LOOPS)
def test_answers_only_after_publish_and_refusals_survive_a_failed_publish(loop: str) -> None:
    async def body() -> None:
        gate = asyncio.Event()
        published: list[Any] = []
        fail = [False]

        async def publish(events: Any) -> None:
            await gate.wait()
            if fail[0]:
                raise RuntimeError("bus down")
            published.extend(events)

        metrics = Metrics()
        gw = Gateway(publish, metrics, "toy", lambda peer: LineSession())
        await gw.start()
        try:
            r, w = await asyncio.open_connection("127.0.0.1", gw.port)
            w.write(b"ok\nno\nok\n")
            with pytest.raises(TimeoutError):  # the publish has not returned: nothing written
                await asyncio.wait_for(r.read(10), 0.3)
            gate.set()
            assert await read_until(r, 3) == b"A\nR\nA\n"  # one read, one write, frame order
            assert published == [b"ok", b"ok"]
            fail[0] = True
            w.write(b"ok\nno\n")
            assert await read_until(r, 1) == b"R\n"  # the acknowledgement is dropped
            fail[0] = False
            w.write(b"ok\n")
            assert await read_until(r, 1) == b"A\n"  # the connection stays (protocol's choice)
            w.close()
        finally:
            await gw.stop()
        assert metrics.counter("toy", "answers_sent") == 5
        assert metrics.counter("toy", "events_published") == 3
        assert metrics.counter("toy", "publish_failures", {"reason": "RuntimeError"}) == 1
        assert metrics.counter("toy", "lines", {"kind": "ok"}) == 4
        assert metrics.counter("toy", "bytes_in") == len(b"ok\nno\nok\nok\nno\nok\n")

    run(loop, body)


@pytest.mark.parametrize("loop", LOOPS)
def test_partial_timeout_idle_sweep_and_close(loop: str) -> None:
    async def body() -> None:
        sessions: list[LineSession] = []

        def new(peer: str) -> LineSession:
            sessions.append(LineSession())
            return sessions[-1]

        async def publish(events: Any) -> None:
            return None

        metrics = Metrics()
        settings = GatewaySettings(partial_timeout_s=0.2, idle_timeout_s=0.6)
        gw = Gateway(publish, metrics, "toy", new, settings)
        await gw.start()
        try:
            r, w = await asyncio.open_connection("127.0.0.1", gw.port)
            w.write(b"o")  # a partial line: handed back to the session after 0.2 s
            assert await read_until(r, 1) == b"T\n"
            assert await asyncio.wait_for(r.read(10), 5) == b""  # then idle: closed by the sweep
        finally:
            await gw.stop()
        assert sessions and sessions[0].closed
        assert metrics.counter("toy", "stalled") == 1
        assert metrics.counter("toy", "idle_timeouts") == 1
        assert gw.active_connections == 0

    run(loop, body)


@pytest.mark.parametrize(
    "make",
    [
        lambda pub, m, s: ObdGateway(pub, default_registry(), m, s),
        lambda pub, m, s: VaporGateway(
            pub,
            default_registry(),
            m,
            s,
            credentials=DeviceCredentials.ephemeral(default_registry())[0],
        ),
    ],
    ids=["obd_gateway", "fuel_vapor"],
)
def test_both_protocols_share_the_shell_metric_names(make: Any) -> None:
    async def body() -> None:
        async def publish(events: Any) -> None:
            return None

        metrics = Metrics()
        gw = make(publish, metrics, GatewaySettings(max_connections=1))
        await gw.start()
        try:
            _r1, w1 = await asyncio.open_connection("127.0.0.1", gw.port)
            await asyncio.sleep(0.05)
            r2, _w2 = await asyncio.open_connection("127.0.0.1", gw.port)
            assert await asyncio.wait_for(r2.read(10), 5) == b""  # over the limit
            metrics_now = {n for _c, n, _l, _v in metrics.snapshot()}
            assert "connections" in metrics_now
            w1.close()
        finally:
            await gw.stop()
        comp = gw.component
        assert metrics.counter(comp, "connections_rejected") == 1
        assert metrics.counter(comp, "connections_total") == 1

    run("asyncio", body)


class CloseOnFailure(LineSession):
    close_on_publish_failure: ClassVar[bool] = True


@pytest.mark.parametrize("loop", LOOPS)
def test_reads_of_many_connections_share_a_publish_and_each_keeps_its_order(loop: str) -> None:
    """Reads handled in the transport callback: the reads of one loop turn go out in one
    publish; a connection's bytes received while its read is in flight wait for that publish,
    then go out in the next one, in order."""

    async def body() -> None:
        gate = asyncio.Event()
        calls: list[list[Any]] = []

        async def publish(events: Any) -> None:
            calls.append(list(events))
            await gate.wait()

        metrics = Metrics()
        gw = Gateway(publish, metrics, "toy", lambda peer: LineSession())
        await gw.start()
        try:
            conns = [await asyncio.open_connection("127.0.0.1", gw.port) for _ in range(3)]
            for i, (_r, w) in enumerate(conns):
                w.write(b"ok\n" * (i + 1))
            await asyncio.sleep(0.3)
            first = sum(len(c) for c in calls)
            assert first == 6 and len(calls) <= 3  # every read published, none answered yet
            conns[0][1].write(b"ok\nno\n")  # arrives while its first read is in flight
            await asyncio.sleep(0.2)
            assert sum(len(c) for c in calls) == first  # queued behind the publish in flight
            for r, _w in conns:
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(r.read(10), 0.05)
            gate.set()
            assert await read_until(conns[0][0], 3) == b"A\nA\nR\n"
            assert await read_until(conns[1][0], 2) == b"A\nA\n"
            assert await read_until(conns[2][0], 3) == b"A\nA\nA\n"
            assert sum(len(c) for c in calls) == first + 1  # the queued read: a later publish
            for _r, w in conns:
                w.close()
        finally:
            await gw.stop()
        assert metrics.counter("toy", "events_published") == 7
        assert metrics.counter("toy", "answers_sent") == 8
        assert gw.active_connections == 0

    run(loop, body)


@pytest.mark.parametrize("loop", LOOPS)
def test_publish_timeout_drops_the_acknowledgement_writes_refusals_then_closes(loop: str) -> None:
    async def body() -> None:
        sessions: list[LineSession] = []

        def new(peer: str) -> LineSession:
            sessions.append(CloseOnFailure())
            return sessions[-1]

        async def publish(events: Any) -> None:
            await asyncio.sleep(30)  # never confirmed in time

        metrics = Metrics()
        gw = Gateway(publish, metrics, "toy", new, GatewaySettings(publish_timeout_s=0.2))
        await gw.start()
        try:
            r, w = await asyncio.open_connection("127.0.0.1", gw.port)
            w.write(b"ok\nno\n")
            got = await read_until(r, 2)
            assert got == b"R\n"  # the refusal only, then the connection is closed
            assert await asyncio.wait_for(r.read(10), 5) == b""
        finally:
            await gw.stop()
        assert metrics.counter("toy", "publish_failures", {"reason": "timeout"}) == 1
        assert metrics.counter("toy", "answers_sent") == 1
        assert sessions[0].closed and gw.active_connections == 0

    run(loop, body)


class BigAnswers(LineSession):
    """Each ``ok`` is acknowledged by 1 MiB (a device that stopped reading fills the socket)."""

    def receive(self, data: bytes, now: datetime) -> Outcome:
        out = super().receive(data, now)
        out.answers = [b"A" * (1 << 20) + b"\n" for _ in out.answers]
        return out


@pytest.mark.parametrize("loop", LOOPS)
def test_a_reader_that_stops_reading_is_closed_after_the_write_timeout(loop: str) -> None:
    async def body() -> None:
        async def publish(events: Any) -> None:
            return None

        metrics = Metrics()
        settings = GatewaySettings(write_timeout_s=0.3, drain_above=4096)
        gw = Gateway(publish, metrics, "toy", lambda peer: BigAnswers(), settings)
        await gw.start()
        try:
            r, w = await asyncio.open_connection("127.0.0.1", gw.port, limit=1 << 26)
            r._transport.pause_reading()  # type: ignore[attr-defined]  # a device that never reads
            for _ in range(64):  # far more answer bytes than the sockets' buffers hold
                w.write(b"ok\n")
                await asyncio.sleep(0.01)
            for _ in range(200):
                if gw.active_connections == 0:
                    break
                await asyncio.sleep(0.05)
            assert gw.active_connections == 0
            w.close()
        finally:
            await gw.stop()
        assert metrics.counter("toy", "write_errors") == 1
        assert metrics.counter("toy", "answers_sent") < 64  # it stopped answering when blocked

    run(loop, body)

"""The one TCP gateway shell: sockets, limits, timeouts and publish-then-ack for every device protocol.

A device protocol is a per-connection :class:`Session` (sans-IO: bytes in, an :class:`Outcome` out);
this module owns everything else, the same way for HJ 1239 (``obd_gateway``) and HJ 212
(``fuel_vapor``):

- **connections**: at most ``max_connections`` (one more is closed at once and counted
  ``connections_rejected``); one task per connection, so a device's data is handled in order;
- **idle sweep**: one task per gateway closes connections that sent nothing for
  ``idle_timeout_s`` (``idle_timeouts``) and cancels a publish older than ``publish_timeout_s``;
  both fire up to one sweep interval (``min(1 s, timeout / 4)``) late. A partial frame that stalls
  for ``partial_timeout_s`` is handed back to the session (:meth:`Session.expire`);
- **publish, then acknowledge**: per read, the session returns the events of every frame the read
  completed and their answers; the events go out in one ``await publish(events)`` and the answers
  in one ``write``, in frame order, only after that publish returned (an acknowledgement means the
  bus confirmed, CONTRACTS "Publishing"). When it fails or times out the acknowledgements of that
  read are dropped (the device re-sends) and only the answers listed in ``Outcome.refusals`` are
  written; a session whose protocol expects it (``close_on_publish_failure``) has its connection
  closed as well;
- **back-pressure**: the shell waits for the socket (``drain``) only when more than
  ``drain_above`` bytes of answers are queued, under ``write_timeout_s``;
- **metrics** (``core.metrics``, component = the protocol's): ``connections`` (gauge),
  ``connections_total``, ``connections_rejected``, ``idle_timeouts``, ``bytes_in``,
  ``events_published``, ``answers_sent``, ``publish_failures{reason}``, ``write_errors``,
  ``connection_errors``, ``internal_errors``, ``publish_latency_s`` and ``ack_latency_s`` (read →
  answers written), plus every counter the sessions report. Counters are summed in the gateway
  and added to ``metrics`` by each sweep, when a connection ends, on stop and by
  :meth:`Gateway.flush_metrics` (one dictionary update per read instead of a registry call per
  frame); gauges and latencies are written at once.

A bug of ours while handling a read is logged and counted (``internal_errors``); the connection and
the gateway go on. Sessions catch their own per-frame errors so one bad frame costs only itself.

Known limits: no TLS; one process serves all connections (scale out with replicas behind a TCP
load balancer); timeouts are as precise as the sweep.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol

from core.metrics import Metrics

log = logging.getLogger(__name__)

Count = tuple[str, str, str]
"""A counter a session reports: (metric name, label name, label value); ``""`` = no label."""

INTERNAL_ERROR: Count = ("internal_errors", "", "")
LATENCY_WINDOW = 2048  # latency samples kept per flush (core.metrics keeps the last 2048)


@dataclass(slots=True)
class Outcome:
    """What one read (or a timeout, or the end of a connection) produced.

    ``answers`` are written in order after ``publish(events)`` returned; ``refusals`` lists the
    indexes of answers that acknowledge nothing (protocol refusals) and are written even when the
    publish failed. ``counters`` maps a :data:`Count` to how many times it happened.
    """

    events: list[Any] = field(default_factory=list)
    answers: list[bytes] = field(default_factory=list)
    counters: dict[Count, int] = field(default_factory=dict)
    refusals: list[int] | None = None

    def count(self, key: Count, n: int = 1) -> None:
        c = self.counters
        c[key] = c.get(key, 0) + n

    def refuse(self, answer: bytes) -> None:
        """Add an answer that acknowledges no data (written whatever the publish does)."""
        if self.refusals is None:
            self.refusals = []
        self.refusals.append(len(self.answers))
        self.answers.append(answer)


class Session(Protocol):
    """One device connection of a protocol, sans-IO. The shell calls :meth:`receive` once per
    read, :meth:`expire` when a partial frame stalled, :meth:`close` once when the connection
    ends (end of stream, timeout, error or stop), and never two of them at the same time."""

    close_on_publish_failure: ClassVar[bool]

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete frame held by the session's decoder."""
        ...

    def receive(self, data: bytes, now: datetime) -> Outcome: ...

    def expire(self, now: datetime) -> Outcome: ...

    def close(self, now: datetime) -> Outcome: ...


SessionFactory = Callable[[str], Session]
"""Builds the session of a new connection from the peer's ``host:port``."""


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """Settings of one gateway (both protocols). ``max_frame`` (bytes of one frame's data unit or
    segment) is given to the protocol's decoder; ``None`` keeps the protocol's default."""

    host: str = "127.0.0.1"
    port: int = 0  # 0 = any free port (see Gateway.port)
    max_connections: int = 5000
    idle_timeout_s: float = 300.0  # no bytes for this long closes the connection
    partial_timeout_s: float = 5.0  # a partial frame stalled this long is given up
    publish_timeout_s: float = 15.0  # a publish not confirmed by then counts as failed
    write_timeout_s: float = 10.0  # waiting for a slow reader of answers
    drain_above: int = 1 << 16  # bytes of queued answers before the shell waits for the socket
    read_size: int = 65536  # bytes taken from the socket per read
    max_frame: int | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.max_connections <= 1_000_000:
            raise ValueError(f"max_connections={self.max_connections}: expected 1..1000000")
        for name in ("idle_timeout_s", "partial_timeout_s", "publish_timeout_s", "write_timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}={getattr(self, name)} s: expected > 0 s")
        if not 1024 <= self.read_size <= 1 << 22:
            raise ValueError(f"read_size={self.read_size} B: expected 1024..4194304 B")
        if self.max_frame is not None and not 64 <= self.max_frame <= 65531:
            raise ValueError(f"max_frame={self.max_frame} B: expected 64..65531 B")


def new_event_loop(use_uvloop: bool = True) -> asyncio.AbstractEventLoop:
    """The event loop for a gateway process: uvloop's (libuv, a dependency on Linux and macOS) when asked
    for and installed, else asyncio's. The shell behaves the same on both; uvloop only costs less CPU
    per read and write. Use as ``asyncio.Runner(loop_factory=new_event_loop)``."""
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.new_event_loop()  # type: ignore[no-any-return]
    return asyncio.new_event_loop()


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"


def _utcnow() -> datetime:
    return datetime.now(UTC)


@functools.cache
def _labels(key: str, value: str) -> dict[str, str] | None:
    return {key: value} if key else None


class _Conn(asyncio.Protocol):
    """One connection: the transport's callbacks buffer the bytes, a task handles them in order."""

    __slots__ = (
        "chunks",
        "cid",
        "closing",
        "drain_waiter",
        "eof",
        "gw",
        "paused",
        "peer",
        "publish_deadline",
        "publish_expired",
        "reading_paused",
        "task",
        "transport",
        "waiter",
        "waiting_since",
    )

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.chunks: list[bytes] = []
        self.eof = False
        self.closing = False
        self.waiter: asyncio.Future[None] | None = None
        self.drain_waiter: asyncio.Future[None] | None = None
        self.paused = False  # the transport asked us to stop writing
        self.reading_paused = False
        self.transport: asyncio.Transport | None = None
        self.task: asyncio.Task[None] | None = None
        self.peer = "?"
        self.cid = 0
        self.waiting_since: float | None = None
        self.publish_deadline: float | None = None
        self.publish_expired = False

    # ---- transport callbacks (event loop, no awaiting) ------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport (or uvloop's)
        self.gw._accept(self)

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        w = self.waiter
        if w is not None:
            self.waiter = None
            if not w.done():
                w.set_result(None)
        if len(self.chunks) > 16 and not self.reading_paused and self.transport is not None:
            self.reading_paused = True  # the handler is behind: let TCP push back
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self._end()
        return True  # half-closed: the task still answers what came before, then closes

    def connection_lost(self, exc: Exception | None) -> None:
        self._end()
        d = self.drain_waiter
        if d is not None and not d.done():
            d.set_exception(ConnectionResetError("connection lost"))

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        d = self.drain_waiter
        if d is not None and not d.done():
            d.set_result(None)

    def _end(self) -> None:
        self.eof = True
        w = self.waiter
        if w is not None:
            self.waiter = None
            if not w.done():
                w.set_result(None)

    # ---- the connection's task --------------------------------------------------------------
    async def wait(self, partial_timeout: float | None) -> bool:
        """Wait for bytes or the end of the stream; False when ``partial_timeout`` ran out."""
        w = self.waiter = asyncio.get_running_loop().create_future()
        self.waiting_since = time.perf_counter()
        try:
            if partial_timeout is None:
                await w
            else:
                try:
                    await asyncio.wait_for(w, partial_timeout)
                except TimeoutError:
                    return False
        finally:
            self.waiting_since = None
            self.waiter = None
        return True

    def take(self) -> bytes:
        """Everything received since the last call (the caller checked there is something)."""
        chunks = self.chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        if self.reading_paused and self.transport is not None:
            self.reading_paused = False
            self.transport.resume_reading()
        return data

    async def drain(self, timeout: float) -> None:
        if not self.paused:
            return
        if self.transport is None or self.transport.is_closing():
            raise ConnectionResetError("connection closed")
        d = self.drain_waiter = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(timeout):
                await d
        finally:
            self.drain_waiter = None


class Gateway:
    """A TCP server for one device protocol: ``await gw.start()`` binds ``settings.host:port``
    (port 0 = any free port, see :attr:`port`); ``await gw.stop()`` closes every connection and
    flushes the counters. ``publish`` may be replaced while running (tests, fault benches)."""

    def __init__(
        self,
        publish: Callable[[Sequence[Any]], Awaitable[None]],
        metrics: Metrics,
        component: str,
        new_session: SessionFactory,
        settings: GatewaySettings | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.publish = publish
        self.metrics = metrics
        self.component = component
        self.new_session = new_session
        self.settings = settings or GatewaySettings()
        self.clock = clock
        self._server: asyncio.Server | None = None
        self._conns: dict[int, _Conn] = {}
        self._next_id = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._pending: dict[Count, int] = {}  # counters not yet added to ``metrics``
        self._bytes_in = 0
        self._events_published = 0
        self._answers_sent = 0
        self._ack_lat: list[float] = []  # latencies not yet added to ``metrics``
        self._publish_lat: list[float] = []

    # ---- lifecycle ---------------------------------------------------------------------------
    @property
    def host(self) -> str:
        return self.settings.host

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            return self.settings.port
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def active_connections(self) -> int:
        return len(self._conns)

    async def start(self) -> tuple[str, int]:
        s = self.settings
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Conn(self), s.host, s.port, backlog=4096)
        self._sweeper = asyncio.create_task(self._sweep())
        return s.host, self.port

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        if self._server is not None:
            self._server.close()
        for c in list(self._conns.values()):
            if c.transport is not None:
                c.transport.close()
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None
        self.flush_metrics()

    def flush_metrics(self) -> None:
        """Add the counters and latencies gathered since the last flush to ``metrics`` (of the
        latencies only the last :data:`LATENCY_WINDOW`: the summary keeps no more)."""
        m, comp = self.metrics, self.component
        for name in ("bytes_in", "events_published", "answers_sent"):
            n = getattr(self, "_" + name)
            if n:
                setattr(self, "_" + name, 0)
                m.inc(comp, name, n)
        for name, lat in (
            ("ack_latency_s", self._ack_lat),
            ("publish_latency_s", self._publish_lat),
        ):
            for v in lat[-LATENCY_WINDOW:]:
                m.observe(comp, name, v)
            lat.clear()
        if self._pending:
            pending, self._pending = self._pending, {}
            for (name, key, value), n in pending.items():
                m.inc(comp, name, n, _labels(key, value))

    def _count(self, name: str, label: str = "", value: str = "", n: int = 1) -> None:
        k = (name, label, value)
        self._pending[k] = self._pending.get(k, 0) + n

    async def _sweep(self) -> None:
        """Idle and publish timeouts and counter flushes: one timer for the gateway instead of one
        per read and per publish."""
        s = self.settings
        every = max(0.01, min(1.0, s.idle_timeout_s / 4, s.publish_timeout_s / 4))
        while True:
            await asyncio.sleep(every)
            try:
                now = time.perf_counter()
                for c in list(self._conns.values()):
                    since = c.waiting_since
                    if since is not None and now - since >= s.idle_timeout_s and not c.closing:
                        c.closing = True
                        self._count("idle_timeouts")
                        if c.transport is not None:
                            c.transport.close()
                    due = c.publish_deadline
                    if due is not None and now >= due and not c.publish_expired and c.task:
                        c.publish_expired = True  # _publish turns the cancellation into a timeout
                        c.task.cancel()
                self.flush_metrics()
            except Exception:  # a bug here must not stop the timeouts for good
                log.exception("%s: sweep failed", self.component)

    # ---- connections -------------------------------------------------------------------------
    def _accept(self, conn: _Conn) -> None:
        transport = conn.transport
        assert transport is not None
        if len(self._conns) >= self.settings.max_connections:
            self._count("connections_rejected")
            transport.abort()
            return
        if isinstance(getattr(transport, "max_size", None), int):
            # asyncio's selector transport recv()s 256 KiB at a time; allocating that buffer
            # costs ~9 us per read on Linux, ~1 us at 64 KiB (measured), so read what we use
            transport.max_size = self.settings.read_size  # type: ignore[attr-defined]
        transport.set_write_buffer_limits(high=self.settings.drain_above)
        peer = transport.get_extra_info("peername")
        conn.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self._next_id += 1
        conn.cid = self._next_id
        self._conns[conn.cid] = conn
        self._count("connections_total")
        self.metrics.gauge(self.component, "connections", len(self._conns))
        task = conn.task = asyncio.get_running_loop().create_task(self._serve(conn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, conn: _Conn) -> None:
        comp = self.component
        try:
            session = self.new_session(conn.peer)
        except Exception:
            log.exception("%s: no session for %s", comp, conn.peer)
            self._count("internal_errors")
            self._drop(conn)
            return
        clock = self.clock
        perf = time.perf_counter
        partial = self.settings.partial_timeout_s
        chunks = conn.chunks
        deliver = self._deliver
        try:
            while True:
                if not chunks:
                    if conn.eof:
                        break
                    if await conn.wait(partial if session.buffered else None):
                        continue
                    t_read = perf()
                    out = session.expire(clock())  # a partial frame stalled
                else:
                    t_read = perf()
                    data = conn.take()
                    self._bytes_in += len(data)
                    out = session.receive(data, clock())
                if not await deliver(conn, session, out, t_read):
                    break
        except (ConnectionError, TimeoutError):
            self._count("connection_errors")
        except asyncio.CancelledError:
            pass  # stopping
        except Exception:  # a bug of ours: log it, keep the gateway serving the others
            log.exception("%s: connection %s failed", comp, conn.peer)
            self._count("internal_errors")
        finally:
            try:
                out = session.close(clock())
                if out.events or out.answers:
                    with contextlib.suppress(Exception):
                        await deliver(conn, session, out, perf())
                else:
                    self._add_counts(out.counters)
            except Exception:
                log.exception("%s: closing the session of %s failed", comp, conn.peer)
                self._count("internal_errors")
            self._drop(conn)

    def _drop(self, conn: _Conn) -> None:
        self._conns.pop(conn.cid, None)
        self.metrics.gauge(self.component, "connections", len(self._conns))
        if conn.transport is not None:
            conn.transport.close()
        self.flush_metrics()

    def _add_counts(self, counters: dict[Count, int]) -> None:
        pending = self._pending
        for k, n in counters.items():
            pending[k] = pending.get(k, 0) + n

    async def _deliver(self, conn: _Conn, session: Session, out: Outcome, t_read: float) -> bool:
        """Publish the outcome's events, then write its answers. False: close the connection.

        The publish runs under ``publish_timeout_s``, enforced by the sweep, which cancels the
        connection's task; the cancellation is taken back here, as ``asyncio.timeout`` does."""
        if out.counters:
            pending = self._pending
            for k, n in out.counters.items():
                pending[k] = pending.get(k, 0) + n
        answers = out.answers
        keep = True
        events = out.events
        if events:
            t = time.perf_counter()
            conn.publish_deadline = t + self.settings.publish_timeout_s
            failure = ""
            try:
                await self.publish(events)
            except asyncio.CancelledError:
                if not conn.publish_expired:  # the gateway is stopping
                    conn.publish_deadline = None
                    raise
                failure = "timeout"
                log.warning("%s: publish for %s timed out", self.component, conn.peer)
            except Exception as exc:  # the bus refused: do not acknowledge, the device re-sends
                failure = type(exc).__name__
                log.warning("%s: publish for %s failed: %s", self.component, conn.peer, exc)
            conn.publish_deadline = None
            if conn.publish_expired:  # timed out, or returned just as the sweep cancelled it
                conn.publish_expired = False
                if conn.task is not None:
                    conn.task.uncancel()
            if failure:
                self._count("publish_failures", "reason", failure)
                refusals = out.refusals
                answers = [answers[i] for i in refusals] if refusals else []
                keep = not session.close_on_publish_failure
            else:
                self._events_published += len(events)
                self._publish_lat.append(time.perf_counter() - t)
        transport = conn.transport
        if answers and transport is not None and not transport.is_closing():
            transport.write(answers[0] if len(answers) == 1 else b"".join(answers))
            self._answers_sent += len(answers)
            if conn.paused:  # more than ``drain_above`` bytes queued: the transport paused us
                try:
                    await conn.drain(self.settings.write_timeout_s)
                except (ConnectionError, TimeoutError):
                    self._count("write_errors")
                    return False
            self._ack_lat.append(time.perf_counter() - t_read)
        return keep


__all__ = [
    "INTERNAL_ERROR",
    "Count",
    "Gateway",
    "GatewaySettings",
    "Outcome",
    "Session",
    "SessionFactory",
    "loop_name",
    "new_event_loop",
]

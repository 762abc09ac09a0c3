"""The one TCP gateway shell: sockets, limits, timeouts and publish-then-ack for every device protocol.

A device protocol is a per-connection :class:`Session` (sans-IO: bytes in, an :class:`Outcome` out);
this module owns everything else, the same way for HJ 1239 (``obd_gateway``) and HJ 212
(``fuel_vapor``):

- **connections**: at most ``max_connections`` (one more is closed at once and counted
  ``connections_rejected``). A read is handed to the session in the transport's
  ``data_received`` callback (no task per connection or per read); while a read's publish is in
  flight the connection's later bytes are queued, and handled in order when it is answered, so a
  device's data is handled in order;
- **idle sweep**: one task per gateway closes connections that sent nothing for
  ``idle_timeout_s`` (``idle_timeouts``), hands a partial frame that stalled for
  ``partial_timeout_s`` back to the session (:meth:`Session.expire`), cancels a publish older than
  ``publish_timeout_s`` and closes a connection whose answers wait for the socket longer than
  ``write_timeout_s`` (``write_errors``); each fires up to one sweep interval
  (``min(1 s, timeout / 4)``) late;
- **publish, then acknowledge**: per read, the session returns the events of every frame the read
  completed and their answers. The events of every read of one event-loop turn (all
  connections) go out in one ``await publish(events)`` (one task per turn); each read's answers
  are written in one ``write``, in frame order, only after that publish returned (an
  acknowledgement means the bus confirmed, CONTRACTS "Publishing"). When it fails or times out
  the acknowledgements of its reads are dropped (the devices re-send) and only the answers listed
  in ``Outcome.refusals`` are written; a session whose protocol expects it
  (``close_on_publish_failure``) has its connection closed as well;
- **back-pressure**: when more than ``drain_above`` bytes of answers are queued the connection
  handles nothing more until the socket drained (under ``write_timeout_s``); a connection whose
  queued reads pile up (the bus or the socket is behind) stops reading, so TCP pushes back;
- **metrics** (``core.metrics``, component = the protocol's): ``connections`` (gauge),
  ``connections_total``, ``connections_rejected``, ``idle_timeouts``, ``bytes_in``,
  ``events_published``, ``answers_sent``, ``publish_failures{reason}``, ``write_errors``,
  ``connection_errors``, ``internal_errors``, ``publish_latency_s`` and ``ack_latency_s`` (read →
  answers written), plus every counter the sessions report. Counters are summed in the gateway
  and added to ``metrics`` by each sweep, when a connection ends, on stop and by
  :meth:`Gateway.flush_metrics` (one dictionary update per read instead of a registry call per
  frame); gauges and latencies are written at once.

A bug of ours while handling a read is logged and counted (``internal_errors``); that connection is
closed, the gateway goes on. Sessions catch their own per-frame errors so one bad frame costs only itself.

Known limits: no TLS; one process serves all connections (scale out with replicas behind a TCP
load balancer); timeouts are as precise as the sweep; a publish that fails drops the
acknowledgements of every read it carried (all of one loop turn's, one ``publish_failures`` per
read): the bus is shared, so they would have failed one by one too.
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
    """One connection. Its bytes are handled in the transport's ``data_received`` callback while
    the connection is idle; while a read's publish is in flight (``busy``) or its answers wait for
    the socket (``write_since``), later bytes are queued and handled, in order, when that ends."""

    __slots__ = (
        "busy",
        "chunks",
        "cid",
        "closing",
        "eof",
        "finished",
        "gw",
        "idle_since",
        "paused",
        "peer",
        "reading_paused",
        "session",
        "transport",
        "write_since",
    )

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.chunks: list[bytes] = []
        self.busy = False  # a read's events are being published; its answers not yet written
        self.eof = False  # the peer ended the stream or the connection is lost
        self.closing = False  # we closed it (idle, limit, publish failure, bug)
        self.finished = False  # the session was closed (once)
        self.paused = False  # the transport asked us to stop writing
        self.reading_paused = False
        self.transport: asyncio.Transport | None = None
        self.session: Session | None = None
        self.peer = "?"
        self.cid = 0
        self.idle_since = time.perf_counter()  # since when it waits for bytes (idle, partial)
        self.write_since: float | None = None  # answers queued beyond ``drain_above`` since

    # ---- transport callbacks (event loop, never awaiting) -----------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport (or uvloop's)
        self.gw._accept(self)

    def data_received(self, data: bytes) -> None:
        gw = self.gw
        gw._bytes_in += len(data)
        if self.busy or self.write_since is not None or self.finished or self.session is None:
            self.chunks.append(data)
            if len(self.chunks) > 16 and not self.reading_paused and self.transport is not None:
                self.reading_paused = True  # the bus or the socket is behind: let TCP push back
                self.transport.pause_reading()
            return
        gw._read(self, data)

    def eof_received(self) -> bool:
        self.eof = True
        self.gw._resume(self)
        return True  # half-closed: what came before is still answered, then the connection ends

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None and not self.closing:
            self.gw._count("connection_errors")
        self.eof = True
        self.write_since = None
        self.gw._resume(self)  # what came before is still published (not acknowledged), then ends

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if self.write_since is not None:
            self.write_since = None
            self.gw._resume(self)


_Entry = tuple[_Conn, Outcome, float]  # a read's outcome awaiting its publish, and its read time


class Gateway:
    """A TCP server for one device protocol: ``await gw.start()`` binds ``settings.host:port``
    (port 0 = any free port, see :attr:`port`); ``await gw.stop()`` closes every connection and
    flushes the counters. ``publish`` may be replaced while running (tests, fault benches).

    How a read flows: the transport's ``data_received`` gives the bytes to the connection's
    session at once (no task per connection or per read); a read that produced events joins the
    gateway's next publish, which carries the events of every read of one event-loop turn in one
    ``await publish(events)`` (one task per turn, not per read); when it returns, each read's
    answers are written to its connection and that connection's queued bytes are handled. A
    connection with a read in flight queues what it receives, so its frames stay in order."""

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
        self._batch: list[_Entry] = []  # reads waiting for the next publish
        self._flush_handle: asyncio.Handle | None = None
        # publishes in flight: task → [deadline (perf_counter), expired]
        self._inflight: dict[asyncio.Task[None], list[Any]] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._stopping = False
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
        self._stopping = False
        self._server = await loop.create_server(lambda: _Conn(self), s.host, s.port, backlog=4096)
        self._sweeper = asyncio.create_task(self._sweep())
        return s.host, self.port

    async def stop(self) -> None:
        """Close every connection: publish what their sessions give back on closing (errors
        suppressed: nothing of it is acknowledged), cancel the publishes in flight (their reads
        are not acknowledged) and flush the counters."""
        self._stopping = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        if self._server is not None:
            self._server.close()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        for t in list(self._inflight):
            t.cancel()
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
        for c in list(self._conns.values()):
            c.closing = c.eof = True
            c.busy = False
            c.write_since = None
            c.chunks.clear()
            if c.transport is not None:
                c.transport.close()
            self._finish(c)
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._batch:  # the sessions' last events (e.g. disconnections)
            batch, self._batch = self._batch, []
            await self._publish_batch(batch)
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
        """Idle, partial-frame, publish and write timeouts and counter flushes: one timer for the
        gateway instead of one per connection, read and publish."""
        s = self.settings
        every = max(
            0.01,
            min(1.0, s.idle_timeout_s / 4, s.publish_timeout_s / 4, s.partial_timeout_s / 4),
        )
        while True:
            await asyncio.sleep(every)
            try:
                self._check_timeouts(time.perf_counter())
                self.flush_metrics()
            except Exception:  # a bug here must not stop the timeouts for good
                log.exception("%s: sweep failed", self.component)

    def _check_timeouts(self, now: float) -> None:
        s = self.settings
        for task, state in list(self._inflight.items()):
            if now >= state[0] and not state[1]:
                state[1] = True  # _publish_batch turns the cancellation into a timeout
                task.cancel()
        for c in list(self._conns.values()):
            if c.closing or c.finished:
                continue
            since = c.write_since
            if since is not None:
                if now - since >= s.write_timeout_s:
                    self._count("write_errors")
                    c.closing = True  # the reader is gone: drop what it did not take
                    if c.transport is not None:
                        c.transport.abort()
                continue
            if c.busy or c.eof:
                continue
            idle = now - c.idle_since
            if idle >= s.idle_timeout_s:
                self._count("idle_timeouts")
                self._close(c)
            elif idle >= s.partial_timeout_s and c.session is not None and c.session.buffered:
                c.idle_since = now  # a partial frame stalled: hand it back to the session
                try:
                    out = c.session.expire(self.clock())
                except Exception:
                    log.exception("%s: partial-frame timeout of %s failed", self.component, c.peer)
                    self._count("internal_errors")
                    self._close(c)
                    continue
                self._take(c, out, now)

    # ---- connections -------------------------------------------------------------------------
    def _accept(self, conn: _Conn) -> None:
        transport = conn.transport
        assert transport is not None
        if self._stopping or len(self._conns) >= self.settings.max_connections:
            self._count("connections_rejected")
            conn.finished = conn.closing = True
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
        try:
            conn.session = self.new_session(conn.peer)
        except Exception:
            log.exception("%s: no session for %s", self.component, conn.peer)
            self._count("internal_errors")
            conn.finished = True
            self._close(conn)
            self._drop(conn)

    def _close(self, conn: _Conn) -> None:
        """Close the connection; its session is closed when the transport reports the loss."""
        conn.closing = True
        if conn.transport is not None:
            conn.transport.close()

    def _read(self, conn: _Conn, data: bytes) -> None:
        """One read of an idle connection: the session's outcome, published or answered."""
        t_read = time.perf_counter()
        session = conn.session
        assert session is not None
        try:
            out = session.receive(data, self.clock())
        except Exception:  # a bug of ours: log it, close this connection, keep serving the others
            log.exception("%s: connection %s failed", self.component, conn.peer)
            self._count("internal_errors")
            self._close(conn)
            return
        self._take(conn, out, t_read)

    def _take(self, conn: _Conn, out: Outcome, t_read: float) -> None:
        """A session's outcome: its events join the next publish (the connection waits for it),
        or, with nothing to publish, its answers are written at once."""
        if out.counters:
            pending = self._pending
            for k, n in out.counters.items():
                pending[k] = pending.get(k, 0) + n
        if out.events:
            conn.busy = True
            self._batch.append((conn, out, t_read))
            if self._flush_handle is None:
                self._flush_handle = asyncio.get_running_loop().call_soon(self._flush)
            return
        if out.answers:
            self._write(conn, out.answers, t_read)
        conn.idle_since = t_read

    def _resume(self, conn: _Conn) -> None:
        """The connection is free again (publish answered, socket drained, or the stream
        ended): handle its queued bytes in order, then end it if the stream ended."""
        if conn.busy or conn.write_since is not None or conn.finished:
            return
        if conn.chunks and not conn.closing:
            chunks = conn.chunks
            data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            chunks.clear()
            if conn.reading_paused and conn.transport is not None:
                conn.reading_paused = False
                conn.transport.resume_reading()
            self._read(conn, data)
            if conn.busy or conn.write_since is not None:
                return
        if conn.eof:
            self._finish(conn)

    def _finish(self, conn: _Conn) -> None:
        """End of the connection (once, when no read is in flight): the session's last outcome
        (what stayed in its decoder, a disconnection event) is published, then it is dropped."""
        if conn.finished:
            return
        conn.finished = True
        session = conn.session
        out = None
        if session is not None:
            try:
                out = session.close(self.clock())
            except Exception:
                log.exception("%s: closing the session of %s failed", self.component, conn.peer)
                self._count("internal_errors")
        if out is not None and out.events:
            conn.busy = True  # dropped when this last publish is done (_done)
            self._take(conn, out, time.perf_counter())
            return
        if out is not None:
            self._take(conn, out, time.perf_counter())  # counters, and answers if still open
        self._drop(conn)

    def _drop(self, conn: _Conn) -> None:
        if self._conns.pop(conn.cid, None) is None:
            return
        self.metrics.gauge(self.component, "connections", len(self._conns))
        if conn.transport is not None:
            conn.transport.close()
        self.flush_metrics()

    # ---- publish, then acknowledge -------------------------------------------------------------
    def _flush(self) -> None:
        """Publish the reads gathered in this event-loop turn (one task for all of them)."""
        self._flush_handle = None
        batch, self._batch = self._batch, []
        if not batch:
            return
        task = asyncio.get_running_loop().create_task(self._publish_batch(batch))
        self._inflight[task] = [time.perf_counter() + self.settings.publish_timeout_s, False]
        task.add_done_callback(self._inflight.pop)

    async def _publish_batch(self, batch: list[_Entry]) -> None:
        """``await publish`` of the batch's events, under ``publish_timeout_s`` (enforced by the
        sweep, which cancels this task; the cancellation is taken back here, as
        ``asyncio.timeout`` does), then each read's answers."""
        events = [e for _c, out, _t in batch for e in out.events]
        t = time.perf_counter()
        failure = ""
        try:
            await self.publish(events)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            state = self._inflight.get(task) if task is not None else None  # type: ignore[arg-type]
            if state is None or not state[1]:  # the gateway is stopping: nothing acknowledged
                raise
            assert task is not None
            task.uncancel()
            failure = "timeout"
            log.warning("%s: publish for %d connection(s) timed out", self.component, len(batch))
        except Exception as exc:  # the bus refused: do not acknowledge, the devices re-send
            failure = type(exc).__name__
            log.warning(
                "%s: publish for %d connection(s) failed: %s", self.component, len(batch), exc
            )
        if not failure:
            self._events_published += len(events)
            self._publish_lat.append(time.perf_counter() - t)
        self._done(batch, failure)

    def _done(self, batch: list[_Entry], failure: str) -> None:
        for conn, out, t_read in batch:
            answers = out.answers
            close = False
            if failure:
                self._count("publish_failures", "reason", failure)
                refusals = out.refusals
                answers = [answers[i] for i in refusals] if refusals else []
                session = conn.session
                close = session is not None and session.close_on_publish_failure
            conn.busy = False
            if answers:
                self._write(conn, answers, t_read)
            if close:  # the protocol's terminals re-send after reconnecting
                self._close(conn)
            conn.idle_since = time.perf_counter()
            if conn.finished:  # the connection's last publish
                self._drop(conn)
            else:
                try:
                    self._resume(conn)
                except Exception:  # a bug of ours on this connection: the others go on
                    log.exception("%s: connection %s failed", self.component, conn.peer)
                    self._count("internal_errors")
                    self._close(conn)

    def _write(self, conn: _Conn, answers: list[bytes], t_read: float) -> None:
        transport = conn.transport
        if transport is None or transport.is_closing():
            return
        transport.write(answers[0] if len(answers) == 1 else b"".join(answers))
        self._answers_sent += len(answers)
        self._ack_lat.append(time.perf_counter() - t_read)
        if conn.paused:  # more than ``drain_above`` bytes queued: wait for the reader
            conn.write_since = time.perf_counter()


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

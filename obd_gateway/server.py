"""The asyncio TCP gateway for HJ 1239 / GB 17691 terminals: the only IO of the OBD source.

Per connection: a sans-IO :class:`~obd_gateway.protocol.FrameDecoder` and a
:class:`~obd_gateway.session.Session`. For each read, every frame is interpreted, all resulting
events are published in one call, and only after ``await publish(...)`` returns are the answers
written (acknowledge after durable publish, CONTRACTS "Publishing"). If publishing fails the
connection is closed without answers, so the terminal re-sends or back-fills.

Limits: connections (excess ones are closed at once and counted), data-unit size (frames claiming
more are dropped by the decoder), buffered bytes per connection, idle timeout (no bytes for
``idle_timeout_s``), partial-frame timeout (a stalled partial frame is given up byte-wise so a
truncated frame cannot hide the valid frames behind it).

Metrics (component ``obd_gateway``): ``connections`` (gauge), ``connections_total``,
``connections_rejected``, ``frames`` by command, ``bad_frames`` by reason, ``samples``,
``publish_latency_s`` and ``ack_latency_s`` (read → answers written), ``idle_timeouts``,
``publish_failures``.

Known limits: TLS and SM2 verification are not done here; one process serves all connections
(scale out with replicas behind a TCP load balancer).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from core.credentials import DeviceCredentials
from core.metrics import Metrics
from core.processing import Publish
from core.registry import Registry
from core.timeutil import utcnow
from obd_gateway.protocol import BadInput, FrameDecoder, Layout, make_answer
from obd_gateway.protocol.frame import RESP_ERROR, Frame, FrameError, parse_header
from obd_gateway.session import COUNTER_BAD, Session

log = logging.getLogger(__name__)
COMPONENT = "obd_gateway"


@dataclass(frozen=True, slots=True)
class GatewayLimits:
    max_connections: int = 5000
    max_data_len: int = 16384  # bytes of one data unit (protocol maximum 65531)
    max_buffer: int = 1 << 17  # bytes buffered per connection
    idle_timeout_s: float = 180.0
    partial_timeout_s: float = 5.0
    read_size: int = 65536

    def __post_init__(self) -> None:
        if not 1 <= self.max_connections <= 1_000_000:
            raise ValueError(f"max_connections={self.max_connections}: expected 1..1000000")
        if not 64 <= self.max_data_len <= 65531:
            raise ValueError(f"max_data_len={self.max_data_len} B: expected 64..65531 B")
        if self.max_buffer < self.max_data_len + 25:
            raise ValueError(f"max_buffer={self.max_buffer} B: expected >= max_data_len + 25 B")
        if self.idle_timeout_s <= 0 or self.partial_timeout_s <= 0:
            raise ValueError("idle_timeout_s / partial_timeout_s: expected > 0 s")


class ObdGateway:
    """``await gw.start()`` binds ``host:port`` (port 0 = any free port, see :attr:`port`)."""

    def __init__(
        self,
        publish: Publish,
        registry: Registry,
        metrics: Metrics,
        host: str = "127.0.0.1",
        port: int = 0,
        limits: GatewayLimits | None = None,
        layout: Layout | None = None,
        clock: Callable[[], datetime] = utcnow,
        credentials: DeviceCredentials | None = None,
    ) -> None:
        self.publish = publish
        self.registry = registry
        # terminal registrations (VIN + ICCID); by default the registry's, where it has one
        self.credentials = credentials or DeviceCredentials.for_registry(
            registry, None, required=False
        )
        self.metrics = metrics
        self.host = host
        self._port = port
        self.limits = limits or GatewayLimits()
        self.layout = layout
        self.clock = clock
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._active = 0
        self._last_seen: dict[asyncio.StreamWriter, float] = {}
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            return self._port
        return self._server.sockets[0].getsockname()[1]

    @property
    def active_connections(self) -> int:
        return self._active

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._on_connect, self.host, self._port, backlog=4096
        )
        self._sweeper = asyncio.create_task(self._sweep())

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        for w in list(self._writers):
            w.close()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    async def _sweep(self) -> None:
        """Close connections idle for longer than the idle timeout (one task for all)."""
        idle = self.limits.idle_timeout_s
        while True:
            await asyncio.sleep(min(1.0, idle / 2))
            now = time.monotonic()
            for w, seen in list(self._last_seen.items()):
                if now - seen > idle:
                    self.metrics.inc(COMPONENT, "idle_timeouts")
                    self._last_seen.pop(w, None)
                    w.close()

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if self._active >= self.limits.max_connections:
            self.metrics.inc(COMPONENT, "connections_rejected")
            writer.close()
            return
        if task is not None:
            self._tasks.add(task)
        self._active += 1
        self._writers.add(writer)
        self.metrics.inc(COMPONENT, "connections_total")
        self.metrics.gauge(COMPONENT, "connections", self._active)
        peer_info = writer.get_extra_info("peername")
        peer = f"{peer_info[0]}:{peer_info[1]}" if peer_info else "?"
        try:
            await self._serve(reader, writer, peer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug of ours: log it, keep the gateway serving others
            log.exception("obd gateway: connection %s failed", peer)
            self.metrics.inc(COMPONENT, "handler_errors")
        finally:
            self._active -= 1
            self._writers.discard(writer)
            self._last_seen.pop(writer, None)
            self.metrics.gauge(COMPONENT, "connections", self._active)
            writer.close()
            if task is not None:
                self._tasks.discard(task)

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> None:
        lim = self.limits
        session = Session(self.registry, peer, self.layout, self.credentials)
        decoder = FrameDecoder(lim.max_data_len, lim.max_buffer, validate=session.plausible)
        self._last_seen[writer] = time.monotonic()
        try:
            while True:
                if decoder.buffered:
                    try:
                        data = await asyncio.wait_for(
                            reader.read(lim.read_size), lim.partial_timeout_s
                        )
                    except TimeoutError:
                        if not await self._process(
                            decoder.give_up_partial(), session, writer, time.perf_counter()
                        ):
                            return
                        continue
                else:
                    data = await reader.read(lim.read_size)
                if not data:  # end of stream: give up any partial frame, keep what follows it
                    while decoder.buffered:
                        if not await self._process(
                            decoder.give_up_partial(), session, writer, time.perf_counter()
                        ):
                            return
                    return
                t_read = time.perf_counter()
                self._last_seen[writer] = time.monotonic()
                if not await self._process(decoder.feed(data), session, writer, t_read):
                    return
        finally:
            gone = session.disconnected(self.clock())
            if gone:
                with contextlib.suppress(Exception):
                    await self.publish(gone)

    async def _process(
        self,
        items: list[tuple[Frame, bytes] | BadInput],
        session: Session,
        writer: asyncio.StreamWriter,
        t_read: float,
    ) -> bool:
        """Interpret, publish, then answer. Returns False when the connection must close."""
        if not items:
            return True
        m = self.metrics
        now = self.clock()
        events: list[object] = []
        answers: list[bytes] = []
        counts: dict[tuple[str, str], int] = {}
        for it in items:
            if isinstance(it, BadInput):
                key = (COUNTER_BAD, it.reason)
                counts[key] = counts.get(key, 0) + 1
                ans = _answer_bad(it, now)
                if ans is not None:
                    answers.append(ans)
                if it.vin:
                    log.debug("obd gateway: %s from %s (%s)", it.reason, it.vin, session.peer)
                continue
            frame, raw = it
            try:
                out = session.handle(frame, raw, now)
            except Exception:  # a bug of ours on one frame: count it, keep the connection
                log.exception(
                    "obd gateway: frame from %s (%s) not handled", frame.vin, session.peer
                )
                key = (COUNTER_BAD, "internal_error")
                counts[key] = counts.get(key, 0) + 1
                continue
            events.extend(out.events)
            for key in out.counters:
                counts[key] = counts.get(key, 0) + 1
            if out.answer is not None:
                answers.append(out.answer.encode())
        for (name, label), k in counts.items():  # one update per counter and read, not per frame
            m.inc(COMPONENT, name, k, _labels(name, label))
        if events:
            t0 = time.perf_counter()
            try:
                await self.publish(events)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "obd gateway: publish failed for %s; closing without answers", session.peer
                )
                m.inc(COMPONENT, "publish_failures")
                return False
            m.observe(COMPONENT, "publish_latency_s", time.perf_counter() - t0)
        if answers:
            writer.write(answers[0] if len(answers) == 1 else b"".join(answers))
            # Wait only when the kernel does not take the answers as fast as they come (the
            # transport has paused us): an idle socket accepts them at once.
            if writer.transport.get_write_buffer_size() > _DRAIN_ABOVE:
                await writer.drain()
            m.observe(COMPONENT, "ack_latency_s", time.perf_counter() - t_read)
        return True


_DRAIN_ABOVE = 1 << 16  # bytes of answers queued in the transport before we await drain()
_LABEL_KEYS = {COUNTER_BAD: "reason", "frames": "command"}


@functools.cache
def _labels(name: str, label: str) -> dict[str, str] | None:
    """The metric labels of a session counter (cached: a handful of distinct pairs)."""
    if not label:
        return None
    return {_LABEL_KEYS.get(name, "kind"): label}


def _answer_bad(bad: BadInput, now: datetime) -> bytes | None:
    """A BCC failure or a length that lies (a frame whose header is readable) is answered with an
    error result (GB/T 32960 convention); other bad input (garbage, over-long lengths, headers)
    cannot be answered."""
    if bad.reason not in ("bcc", "bad_length") or len(bad.raw) < 24:
        return None
    hdr = parse_header(bad.raw, 0)
    if isinstance(hdr, str):
        return None
    variant, cmd, vin, flag, _enc = hdr
    try:
        f = Frame(variant, cmd, vin, flag, 0x01, b"")
        return make_answer(f, RESP_ERROR, now, None).encode()
    except FrameError:
        return None

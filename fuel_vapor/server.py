"""Asyncio HJ 212 gateway for gas stations, oil depots and station sensors.

Owns sockets, timeouts and counters only; bytes are decoded by the sans-IO codec
(``fuel_vapor.protocol``), values by the unit's code map, events built by ``fuel_vapor.intake``.

Per packet: frame errors are counted by reason (``bad_packets{reason}``) and the connection goes on;
a request whose CRC fails is answered 9011 QnRtn=9 when its QN/MN can still be read (uploads with a
bad CRC are not answered by default, hj212.md §8); an unknown MN gets 9011 QnRtn=4, a wrong PW
QnRtn=3 (only when the packet asks for an answer); PWs are checked against ``core.credentials`` (digests,
reloaded when ``emwatch devices set-secret`` rotates one) and a refused packet is counted, not stored. A good upload is published (keyed by
``station:nozzle`` for fuellings) and answered 9014 **only after** ``publish`` returned; if publish
fails or times out nothing is answered and the device resends after its OverTime. Split packets are
stored part by part (each part is evidence and answered individually) and reassembled per
(MN, QN, CN). Sessions are tracked per MN (last seen, packets, connection).

Per read: the packets that one read completed are handled together: their events go out in one
``publish`` call and their answers in one ``write``, in packet order, after that publish returned
(a failed publish drops the acknowledgements of that read; 9011 refusals are written anyway).
``drain()`` is awaited only when the transport buffer is above 64 KiB. Idle and publish timeouts
are enforced by one sweep task per gateway (every ``min(1 s, timeout / 4)``) instead of a timer
per read and per publish, so they fire up to one sweep interval late. The hot-path counters
``bytes_in``, ``packets_ok``, ``records`` and ``answers_sent{cn}`` are counted locally and added
to ``metrics`` by each sweep, at the end of each connection and on stop (``flush_metrics``);
every other counter is written at once.

Known limits: one connection is served sequentially (ordering per device is kept); answers to
platform-originated commands (9011/9012 from a device) are stored but not matched to requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from core.credentials import DeviceCredentials
from core.metrics import Metrics
from core.processing import Publish
from core.registry import Registry, Station
from core.ruleset import RuleSet
from core.timeutil import utcnow
from fuel_vapor.codemaps import CodeMap, default_codemaps
from fuel_vapor.events import VaporPacket
from fuel_vapor.intake import from_hj212, raw_hash
from fuel_vapor.protocol import answers
from fuel_vapor.protocol.framing import CRC_MISMATCH, Frame, FrameDecoder, FrameError
from fuel_vapor.protocol.packet import Packet, SegmentError, parse_segment
from fuel_vapor.protocol.split import Reassembler, SplitError

log = logging.getLogger(__name__)
COMPONENT = "fuel_vapor"
UPLOAD_CNS = frozenset({"2011", "2021", "2031", "2041", "2051", "2061", "2081", "3020"})


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    host: str = "127.0.0.1"
    port: int = 0  # 0 = pick a free port
    max_connections: int = 5000
    idle_timeout_s: float = 300.0  # no bytes for this long closes the connection
    publish_timeout_s: float = 15.0
    write_timeout_s: float = 10.0
    max_segment: int = 1500
    read_size: int = 65536
    split_timeout_s: float = 120.0
    answer_bad_crc_uploads: bool = False
    modbus_mns: frozenset[str] = frozenset()  # per-device opt-in for the CRC-16/MODBUS variant


@dataclass(slots=True)
class Session:
    mn: str
    unit_id: str
    connection: int
    first_seen: float
    last_seen: float
    packets: int = 0
    bad: int = 0


@dataclass(slots=True)
class _Conn:
    cid: int
    peer: str
    writer: asyncio.StreamWriter
    decoder: FrameDecoder
    mns: set[str] = field(default_factory=set)
    task: asyncio.Task[None] | None = None
    waiting_since: float | None = None  # loop time the current read began (None: not reading)
    idle_closed: bool = False
    publish_deadline: float | None = None  # loop time by which the current publish must return
    publish_expired: bool = False  # the sweep cancelled the task because the publish was late


class _Chunk:
    """What the packets of one read produce: events to publish and answers to write after."""

    __slots__ = ("answers", "events", "ok", "received", "records", "t0")

    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.events: list[object] = []
        self.answers: list[tuple[bytes, str, bool]] = []  # (frame, cn, needs the publish)
        self.ok = 0  # packets that count as packets_ok once the publish returned
        self.records = 0
        self.received: datetime | None = None


class VaporGateway:
    def __init__(
        self,
        publish: Publish,
        registry: Registry,
        metrics: Metrics,
        *,
        codemaps: Mapping[str, CodeMap] | None = None,
        settings: GatewaySettings | None = None,
        ruleset: RuleSet | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utcnow,
        credentials: DeviceCredentials | None = None,
    ) -> None:
        self.publish = publish
        self.registry = registry
        self.metrics = metrics
        # PW per data unit: the registry's digests unless the runner passes the managed store
        self.credentials = credentials or DeviceCredentials.for_registry(registry, None)
        self.codemaps = dict(codemaps or default_codemaps())
        self.settings = settings or GatewaySettings()
        self.ruleset = ruleset  # for FV-UNIT exceedances at intake (optional)
        self.clock = clock
        self.now = now
        self.sessions: dict[str, Session] = {}
        self.reassembler = Reassembler(timeout_s=self.settings.split_timeout_s)
        self._extra = "".join(sorted({m.profile.extra_char for m in self.codemaps.values()}))
        self._modbus = bool(self.settings.modbus_mns) or any(
            m.profile.modbus_crc for m in self.codemaps.values()
        )
        self._server: asyncio.base_events.Server | None = None
        self._conns: dict[int, _Conn] = {}
        self._next_id = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        # hot-path counters, added to ``metrics`` by ``flush_metrics`` (every sweep, at the end of
        # a connection, on stop); rare counters (bad packets, errors) go to ``metrics`` at once
        self._bytes_in = 0
        self._packets_ok = 0
        self._records = 0
        self._answers: dict[str, int] = {}

    # ---- lifecycle -------------------------------------------------------------------------
    async def start(self) -> tuple[str, int]:
        s = self.settings
        self._server = await asyncio.start_server(self._serve, s.host, s.port, limit=s.read_size)
        host, port = self._server.sockets[0].getsockname()[:2]
        self.address = (host, port)
        self._sweeper = asyncio.create_task(self._sweep())
        return host, port

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        if self._server is not None:
            self._server.close()
        for c in list(self._conns.values()):
            c.writer.close()
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        self.flush_metrics()

    def describe(self) -> dict[str, str]:
        host, port = getattr(self, "address", (self.settings.host, self.settings.port))
        return {"Vapour-recovery HJ 212 gateway": f"tcp://{host}:{port}"}

    def bad_counts(self) -> dict[str, float]:
        return self.metrics.counters(COMPONENT, "bad_packets")

    def flush_metrics(self) -> None:
        """Add the locally counted hot-path counters to ``metrics``."""
        m = self.metrics
        if self._bytes_in:
            m.inc(COMPONENT, "bytes_in", self._bytes_in)
            self._bytes_in = 0
        if self._packets_ok:
            m.inc(COMPONENT, "packets_ok", self._packets_ok)
            self._packets_ok = 0
        if self._records:
            m.inc(COMPONENT, "records", self._records)
            self._records = 0
        if self._answers:
            answers_sent, self._answers = self._answers, {}
            for cn, n in answers_sent.items():
                m.inc(COMPONENT, "answers_sent", n, {"cn": cn})

    async def _sweep(self) -> None:
        """Idle and publish timeouts and counter flushes: one timer for the gateway instead of
        one per read and one per publish (each costs ~10 us on the hot path). A timeout fires
        between ``t`` and ``t + every`` after it is due."""
        s = self.settings
        every = max(0.01, min(1.0, s.idle_timeout_s / 4, s.publish_timeout_s / 4))
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(every)
            try:
                now = loop.time()
                for c in list(self._conns.values()):
                    since = c.waiting_since
                    if since is not None and now - since >= s.idle_timeout_s and not c.idle_closed:
                        c.idle_closed = True  # the read returns b"" and the connection ends
                        self._inc("idle_timeouts")
                        c.writer.close()
                    due = c.publish_deadline
                    if due is not None and now >= due and not c.publish_expired and c.task:
                        c.publish_expired = True  # _publish turns the cancellation into a timeout
                        c.task.cancel()
                self.flush_metrics()
            except Exception:  # a bug here must not stop the timeouts for good
                log.exception("fuel_vapor gateway: sweep failed")

    # ---- connection ------------------------------------------------------------------------
    def _inc(self, name: str, reason: str | None = None, value: float = 1.0) -> None:
        self.metrics.inc(COMPONENT, name, value, {"reason": reason} if reason else None)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        s = self.settings
        if len(self._conns) >= s.max_connections:
            self._inc("rejected_connections")
            writer.close()
            if task is not None:
                self._tasks.discard(task)
            return
        self._next_id += 1
        peer = str(writer.get_extra_info("peername"))
        conn = _Conn(
            self._next_id,
            peer,
            writer,
            FrameDecoder(
                max_segment=s.max_segment,
                extra_chars=self._extra.encode(),
                accept_modbus=self._modbus,
            ),
        )
        conn.task = task
        transport = writer.transport
        if isinstance(getattr(transport, "max_size", None), int):
            # asyncio's selector transport recv()s 256 KiB at a time; allocating that buffer
            # costs ~9 us per read on Linux, ~1 us at 64 KiB (measured), so read what we use
            transport.max_size = s.read_size  # type: ignore[attr-defined]
        self._conns[conn.cid] = conn
        self._inc("connections_total")
        self.metrics.gauge(COMPONENT, "connections_open", len(self._conns))
        loop = asyncio.get_running_loop()
        read_size = s.read_size
        feed = conn.decoder.feed
        perf = time.perf_counter
        try:
            while True:
                conn.waiting_since = loop.time()
                data = await reader.read(read_size)
                conn.waiting_since = None
                if not data:  # end of stream, or closed by the idle sweep
                    break
                self._bytes_in += len(data)
                t0 = perf()
                items = feed(data)
                if items:
                    await self._on_chunk(conn, items, t0)
            for err in conn.decoder.close():
                await self._on_chunk(conn, [err], perf())
        except (ConnectionError, asyncio.IncompleteReadError):
            self._inc("connection_errors")
        except asyncio.CancelledError:
            pass
        except Exception:  # our bug: log it, keep the gateway serving others
            log.exception("fuel_vapor gateway: connection %s %s failed", conn.cid, conn.mns)
            self._inc("internal_errors")
        finally:
            conn.waiting_since = None
            self._conns.pop(conn.cid, None)
            self.metrics.gauge(COMPONENT, "connections_open", len(self._conns))
            writer.close()
            self.flush_metrics()
            if task is not None:
                self._tasks.discard(task)

    async def _on_chunk(self, conn: _Conn, items: list[Frame | FrameError], t0: float) -> None:
        """Handle the packets one read completed: one publish, then one write of the answers.

        An answer that acknowledges an upload is written only after the publish of its events
        returned; when the publish fails or times out those answers are dropped (the device
        resends), answers that need no publish (9011 refusals) are written all the same.
        """
        chunk = _Chunk(t0)
        handle = self._handle
        for item in items:
            try:
                handle(conn, item, chunk)
            except (ConnectionError, asyncio.CancelledError):
                raise
            except Exception:  # our bug on one packet: count it, keep the connection
                log.exception("fuel_vapor gateway: packet from %s failed", sorted(conn.mns))
                self._inc("internal_errors")
        answers = chunk.answers
        if chunk.events:
            if await self._publish(conn, chunk.events):
                self._packets_ok += chunk.ok
                self._records += chunk.records
            elif answers:
                answers = [a for a in answers if not a[2]]
        if answers:
            await self._send(conn, answers, t0)

    async def _send(self, conn: _Conn, answers: list[tuple[bytes, str, bool]], t0: float) -> None:
        try:
            writer = conn.writer
            writer.write(answers[0][0] if len(answers) == 1 else b"".join(a[0] for a in answers))
            if writer.transport.get_write_buffer_size() > 65536:  # only wait when the peer is slow
                async with asyncio.timeout(self.settings.write_timeout_s):
                    await writer.drain()
        except (ConnectionError, TimeoutError):
            self._inc("write_errors")
            return
        sent = self._answers
        for _, cn, _ in answers:
            sent[cn] = sent.get(cn, 0) + 1
        latency = time.perf_counter() - t0
        observe = self.metrics.observe
        for _ in answers:
            observe(COMPONENT, "answer_latency_s", latency)

    # ---- packets ---------------------------------------------------------------------------
    def _handle(self, conn: _Conn, item: Frame | FrameError, chunk: _Chunk) -> None:
        """One frame or framing error: counters now, events and answers into ``chunk``."""
        if item.__class__ is FrameError:
            self._inc("bad_packets", item.reason)  # type: ignore[union-attr]
            log.debug("bad packet from %s %s: %s", conn.peer, sorted(conn.mns), item.detail)  # type: ignore[union-attr]
            if item.reason == CRC_MISMATCH and item.segment is not None:  # type: ignore[union-attr]
                self._answer_bad_crc(item.segment, chunk)  # type: ignore[union-attr]
            return
        assert isinstance(item, Frame)
        try:
            packet = parse_segment(item.segment.decode("utf-8", "surrogateescape"))
        except SegmentError as exc:
            self._inc("bad_packets", exc.reason)
            return
        flag = packet.flag
        wants = flag.answer if flag is not None else None
        unit = self.registry.unit_by_mn(packet.mn)
        if unit is None:
            self._inc("bad_packets", "unknown_mn")
            if wants and not packet.is_answer:
                chunk.answers.append(
                    (answers.request_answer(packet, answers.QNRTN_BAD_MN), "9011", False)
                )
            return
        if not self.credentials.verify(unit.id, packet.pw):
            self._inc("bad_packets", "bad_password")  # never stored, never logged with the PW
            self._session(conn, packet.mn, unit.id).bad += 1
            if wants and not packet.is_answer:
                chunk.answers.append(
                    (answers.request_answer(packet, answers.QNRTN_BAD_PW), "9011", False)
                )
            return
        cm = self.codemaps.get(unit.code_map)
        if cm is None:
            self._inc("bad_packets", "no_code_map")
            return
        profile = cm.profile
        if item.extra_char and item.extra_char != profile.extra_char:
            self._inc("bad_packets", "framing_not_in_profile")
            return
        if item.crc_variant != "hj212":
            if not (profile.modbus_crc or packet.mn in self.settings.modbus_mns):
                self._inc("bad_packets", CRC_MISMATCH)
                return
            self._inc("modbus_crc_accepted")
        session = self._session(conn, packet.mn, unit.id)
        session.packets += 1
        if wants is None:
            wants = profile.answer_when_no_flag and packet.cn in UPLOAD_CNS
        received = chunk.received
        if received is None:  # one receipt time per read: the packets arrived together
            received = chunk.received = self.now()
        if packet.is_answer:
            self._inc("answers_received")
            wants = False
        if flag is not None and flag.split and packet.pnum and packet.pno:
            self._split_part(packet, item, unit, cm, received, wants, chunk)
            return
        result = from_hj212(
            packet, item.raw, unit, cm, received, crc_variant=item.crc_variant, ruleset=self.ruleset
        )
        for p in result.problems:
            self._inc("bad_values", p)
        chunk.events.append(result.packet_event)
        chunk.events += result.events
        chunk.ok += 1
        chunk.records += len(result.events)
        if wants:
            chunk.answers.append(
                (
                    answers.data_answer(packet, cp=profile.answer_cp, flag=profile.answer_flag),
                    "9014",
                    True,
                )
            )

    def _split_part(
        self,
        packet: Packet,
        item: Frame,
        unit: object,
        cm: CodeMap,
        received: datetime,
        wants: bool,
        chunk: _Chunk,
    ) -> None:
        for parts in self.reassembler.expire(self.clock()):  # parts are already stored as packets
            self._inc("split_expired")
            self._inc("split_parts_unjoined", value=len(parts))
        try:
            joined = self.reassembler.add(packet, self.clock())
        except SplitError as exc:
            self._inc("bad_packets", exc.reason)
            return
        part = from_hj212(packet, item.raw, None, cm, received, crc_variant=item.crc_variant)
        part_event = _as_unit(part.packet_event, unit)
        events: list[object] = [part_event]
        if joined is not None:
            raw = joined.segment.encode("utf-8", "surrogateescape")
            result = from_hj212(joined, raw, unit, cm, received, ruleset=self.ruleset)  # type: ignore[arg-type]
            for p in result.problems:
                self._inc("bad_values", p)
            events += result.events
            self._inc("split_joined")
        chunk.events += events
        chunk.ok += 1
        if wants:
            profile = cm.profile
            chunk.answers.append(
                (
                    answers.data_answer(packet, cp=profile.answer_cp, flag=profile.answer_flag),
                    "9014",
                    True,
                )
            )

    async def _publish(self, conn: _Conn, events: list[object]) -> bool:
        """``await publish(events)`` under ``publish_timeout_s`` (enforced by the sweep, which
        cancels the connection's task; the cancellation is taken back here, as asyncio.timeout
        does). True when the bus confirmed the events."""
        t = time.perf_counter()
        conn.publish_deadline = asyncio.get_running_loop().time() + self.settings.publish_timeout_s
        try:
            await self.publish(events)
        except asyncio.CancelledError:
            if not conn.publish_expired:  # the gateway is stopping
                raise
            conn.publish_expired = False
            if conn.task is not None:
                conn.task.uncancel()
            self._inc("publish_failed", "timeout")
            return False
        except Exception as exc:  # the bus refused: do not answer, the device resends
            log.warning("fuel_vapor publish failed: %s", exc)
            self._inc("publish_failed", type(exc).__name__)
            return False
        finally:
            conn.publish_deadline = None
        if conn.publish_expired:  # publish swallowed the cancellation and returned: it counts
            conn.publish_expired = False
            if conn.task is not None:
                conn.task.uncancel()
        self.metrics.observe(COMPONENT, "publish_latency_s", time.perf_counter() - t)
        return True

    def _answer_bad_crc(self, segment: bytes, chunk: _Chunk) -> None:
        try:
            packet = parse_segment(segment.decode("utf-8", "surrogateescape"))
        except SegmentError:
            return
        if packet.flag is None or not packet.flag.answer or packet.is_answer:
            return
        if packet.cn in UPLOAD_CNS and not self.settings.answer_bad_crc_uploads:
            return
        chunk.answers.append((answers.request_answer(packet, answers.QNRTN_BAD_CRC), "9011", False))

    def _session(self, conn: _Conn, mn: str, unit_id: str) -> Session:
        now = self.clock()
        s = self.sessions.get(mn)
        if s is None:
            s = self.sessions[mn] = Session(mn, unit_id, conn.cid, now, now)
            self.metrics.gauge(COMPONENT, "sessions", len(self.sessions))
            conn.mns.add(mn)
        else:
            if s.connection != conn.cid:
                s.connection = conn.cid
                self._inc("session_moved")
                conn.mns.add(mn)
            s.last_seen = now
        return s


def _as_unit(pe: VaporPacket, unit: object) -> VaporPacket:
    """The packet record of a split part, attributed to its unit."""
    from dataclasses import replace

    uid = getattr(unit, "id", "")
    kind = (
        "station"
        if isinstance(unit, Station)
        else "depot"
        if hasattr(unit, "operator")
        else "sensor"
    )
    return replace(
        pe, unit_id=uid, unit_kind=kind, jurisdiction=getattr(unit, "jurisdiction", "unknown")
    )


__all__ = ["GatewaySettings", "Session", "VaporGateway", "raw_hash"]

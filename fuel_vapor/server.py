"""Asyncio HJ 212 gateway for gas stations, oil depots and station sensors.

Owns sockets, timeouts and counters only; bytes are decoded by the sans-IO codec
(``fuel_vapor.protocol``), values by the unit's code map, events built by ``fuel_vapor.intake``.

Per packet: frame errors are counted by reason (``bad_packets{reason}``) and the connection goes on;
a request whose CRC fails is answered 9011 QnRtn=9 when its QN/MN can still be read (uploads with a
bad CRC are not answered by default, hj212.md §8); an unknown MN gets 9011 QnRtn=4, a wrong PW
QnRtn=3 (only when the packet asks for an answer). A good upload is published (keyed by
``station:nozzle`` for fuellings) and answered 9014 **only after** ``publish`` returned; if publish
fails or times out nothing is answered and the device resends after its OverTime. Split packets are
stored part by part (each part is evidence and answered individually) and reassembled per
(MN, QN, CN). Sessions are tracked per MN (last seen, packets, connection).

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
    ) -> None:
        self.publish = publish
        self.registry = registry
        self.metrics = metrics
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

    # ---- lifecycle -------------------------------------------------------------------------
    async def start(self) -> tuple[str, int]:
        s = self.settings
        self._server = await asyncio.start_server(self._serve, s.host, s.port, limit=s.read_size)
        host, port = self._server.sockets[0].getsockname()[:2]
        self.address = (host, port)
        return host, port

    async def stop(self) -> None:
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

    def describe(self) -> dict[str, str]:
        host, port = getattr(self, "address", (self.settings.host, self.settings.port))
        return {"Vapour-recovery HJ 212 gateway": f"tcp://{host}:{port}"}

    def bad_counts(self) -> dict[str, float]:
        return self.metrics.counters(COMPONENT, "bad_packets")

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
        self._conns[conn.cid] = conn
        self._inc("connections_total")
        self.metrics.gauge(COMPONENT, "connections_open", len(self._conns))
        try:
            while True:
                try:
                    data = await asyncio.wait_for(reader.read(s.read_size), s.idle_timeout_s)
                except TimeoutError:
                    self._inc("idle_timeouts")
                    break
                if not data:
                    break
                self._inc("bytes_in", value=len(data))
                t0 = time.perf_counter()
                for item in conn.decoder.feed(data):
                    try:
                        await self._on_item(conn, item, t0)
                    except (ConnectionError, asyncio.CancelledError):
                        raise
                    except Exception:  # our bug on one packet: count it, keep the connection
                        log.exception("fuel_vapor gateway: packet from %s failed", sorted(conn.mns))
                        self._inc("internal_errors")
            for err in conn.decoder.close():
                await self._on_item(conn, err, time.perf_counter())
        except (ConnectionError, asyncio.IncompleteReadError):
            self._inc("connection_errors")
        except asyncio.CancelledError:
            pass
        except Exception:  # our bug: log it, keep the gateway serving others
            log.exception("fuel_vapor gateway: connection %s %s failed", conn.cid, conn.mns)
            self._inc("internal_errors")
        finally:
            self._conns.pop(conn.cid, None)
            self.metrics.gauge(COMPONENT, "connections_open", len(self._conns))
            writer.close()
            if task is not None:
                self._tasks.discard(task)

    async def _send(self, conn: _Conn, data: bytes, cn: str, t0: float) -> None:
        try:
            conn.writer.write(data)
            transport = conn.writer.transport
            if transport.get_write_buffer_size() > 65536:  # only wait when the peer is slow
                async with asyncio.timeout(self.settings.write_timeout_s):
                    await conn.writer.drain()
        except (ConnectionError, TimeoutError):
            self._inc("write_errors")
            return
        self.metrics.inc(COMPONENT, "answers_sent", 1, {"cn": cn})
        self.metrics.observe(COMPONENT, "answer_latency_s", time.perf_counter() - t0)

    # ---- packets ---------------------------------------------------------------------------
    async def _on_item(self, conn: _Conn, item: Frame | FrameError, t0: float) -> None:
        if isinstance(item, FrameError):
            self._inc("bad_packets", item.reason)
            log.debug("bad packet from %s %s: %s", conn.peer, sorted(conn.mns), item.detail)
            if item.reason == CRC_MISMATCH and item.segment is not None:
                await self._answer_bad_crc(conn, item.segment, t0)
            return
        try:
            packet = parse_segment(item.segment.decode("utf-8", "surrogateescape"))
        except SegmentError as exc:
            self._inc("bad_packets", exc.reason)
            return
        wants = packet.flag.answer if packet.flag is not None else None
        unit = self.registry.unit_by_mn(packet.mn)
        if unit is None:
            self._inc("bad_packets", "unknown_mn")
            if wants and not packet.is_answer:
                await self._send(
                    conn, answers.request_answer(packet, answers.QNRTN_BAD_MN), "9011", t0
                )
            return
        if packet.pw != unit.password:
            self._inc("bad_packets", "bad_password")
            self._session(conn, packet.mn, unit.id).bad += 1
            if wants and not packet.is_answer:
                await self._send(
                    conn, answers.request_answer(packet, answers.QNRTN_BAD_PW), "9011", t0
                )
            return
        cm = self.codemaps.get(unit.code_map)
        if cm is None:
            self._inc("bad_packets", "no_code_map")
            return
        if item.extra_char and item.extra_char != cm.profile.extra_char:
            self._inc("bad_packets", "framing_not_in_profile")
            return
        if item.crc_variant == "modbus" and not (
            cm.profile.modbus_crc or packet.mn in self.settings.modbus_mns
        ):
            self._inc("bad_packets", CRC_MISMATCH)
            return
        if item.crc_variant == "modbus":
            self._inc("modbus_crc_accepted")
        session = self._session(conn, packet.mn, unit.id)
        session.packets += 1
        if wants is None:
            wants = cm.profile.answer_when_no_flag and packet.cn in UPLOAD_CNS
        received = self.now()
        if packet.is_answer:
            self._inc("answers_received")
            wants = False
        if packet.flag is not None and packet.flag.split and packet.pnum and packet.pno:
            await self._split_part(conn, packet, item, unit, cm, received, wants, t0)
            return
        result = from_hj212(
            packet, item.raw, unit, cm, received, crc_variant=item.crc_variant, ruleset=self.ruleset
        )
        for p in result.problems:
            self._inc("bad_values", p)
        if not await self._publish(result.all_events):
            return
        self._inc("packets_ok")
        self._inc("records", value=len(result.events))
        if wants:
            await self._answer_data(conn, packet, cm, t0)

    async def _split_part(
        self,
        conn: _Conn,
        packet: Packet,
        item: Frame,
        unit: object,
        cm: CodeMap,
        received: datetime,
        wants: bool,
        t0: float,
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
        if not await self._publish(events):
            return
        self._inc("packets_ok")
        if wants:
            await self._answer_data(conn, packet, cm, t0)

    async def _publish(self, events: list[object]) -> bool:
        t = time.perf_counter()
        try:
            async with asyncio.timeout(self.settings.publish_timeout_s):  # no extra task per call
                await self.publish(events)
        except TimeoutError:
            self._inc("publish_failed", "timeout")
            return False
        except Exception as exc:  # the bus refused: do not answer, the device resends
            log.warning("fuel_vapor publish failed: %s", exc)
            self._inc("publish_failed", type(exc).__name__)
            return False
        self.metrics.observe(COMPONENT, "publish_latency_s", time.perf_counter() - t)
        return True

    async def _answer_data(self, conn: _Conn, packet: Packet, cm: CodeMap, t0: float) -> None:
        flag = cm.profile.answer_flag
        await self._send(
            conn, answers.data_answer(packet, cp=cm.profile.answer_cp, flag=flag), "9014", t0
        )

    async def _answer_bad_crc(self, conn: _Conn, segment: bytes, t0: float) -> None:
        try:
            packet = parse_segment(segment.decode("utf-8", "surrogateescape"))
        except SegmentError:
            return
        if packet.flag is None or not packet.flag.answer or packet.is_answer:
            return
        if packet.cn in UPLOAD_CNS and not self.settings.answer_bad_crc_uploads:
            return
        await self._send(conn, answers.request_answer(packet, answers.QNRTN_BAD_CRC), "9011", t0)

    def _session(self, conn: _Conn, mn: str, unit_id: str) -> Session:
        now = self.clock()
        s = self.sessions.get(mn)
        if s is None:
            s = self.sessions[mn] = Session(mn, unit_id, conn.cid, now, now)
            self.metrics.gauge(COMPONENT, "sessions", len(self.sessions))
        elif s.connection != conn.cid:
            s.connection = conn.cid
            self._inc("session_moved")
        s.last_seen = now
        conn.mns.add(mn)
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

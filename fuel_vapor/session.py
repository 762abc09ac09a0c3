"""Per-connection HJ 212 session logic, sans-IO: one read's bytes in → events, answers, counters.

The gateway shell (``core.gateway``) owns sockets, timeouts and publishing; this module owns what
a packet means (hj212.md §7–§9, §12):

- frame errors are counted by reason (``bad_packets{reason}``) and the connection goes on; a
  request whose CRC fails is answered 9011 QnRtn=9 when its QN/MN can still be read (uploads with
  a bad CRC are not answered unless ``answer_bad_crc_uploads``, §8);
- an unknown MN gets 9011 QnRtn=4, a wrong PW QnRtn=3 (only when the packet asks for an answer);
  PWs are checked against ``core.credentials`` (digests, reloaded when ``emwatch devices
  set-secret`` rotates one); a refused packet is counted, never stored, never logged with its PW;
- the unit's code map decides the dialect: the profile character, the CRC variant (CRC-16/MODBUS
  only per code map or per MN opt-in), whether an upload without a Flag is answered, and the 9014
  CP and Flag;
- a good upload becomes a ``vapor.packet`` record plus its events and is answered 9014, after the
  shell published them; split packets (§9) are stored part by part (each part is evidence and
  answered on its own) and reassembled per (MN, QN, CN) across connections;
- data units are tracked per MN (:class:`UnitSession`: last seen, packets, connection).

:class:`Hj212Units` is the gateway-wide state (registry, credentials, code maps, split sets, units
seen); :class:`Hj212Session` the state of one connection (its decoder and the MNs it carried).
The 9011 refusals acknowledge nothing: they are written even when the publish of the same read
failed, and the connection stays open (devices re-send after their OverTime).

Known limits: answers to platform-originated commands (9011/9012 from a device) are stored but
not matched to requests.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import ClassVar

from core.credentials import DeviceCredentials
from core.gateway import INTERNAL_ERROR, Count, Outcome
from core.registry import Registry, Station
from core.ruleset import RuleSet
from fuel_vapor.codemaps import CodeMap
from fuel_vapor.events import VaporPacket
from fuel_vapor.intake import from_hj212
from fuel_vapor.protocol import answers
from fuel_vapor.protocol.framing import (
    CRC_MISMATCH,
    DEFAULT_MARGIN,
    MAX_SEGMENT,
    Frame,
    FrameDecoder,
    FrameError,
)
from fuel_vapor.protocol.packet import Packet, SegmentError, parse_segment
from fuel_vapor.protocol.split import Reassembler, SplitError

log = logging.getLogger(__name__)
UPLOAD_CNS = frozenset({"2011", "2021", "2031", "2041", "2051", "2061", "2081", "3020"})
DEFAULT_MAX_SEGMENT = MAX_SEGMENT + DEFAULT_MARGIN

PACKETS_OK: Count = ("packets_ok", "", "")
MODBUS_ACCEPTED: Count = ("modbus_crc_accepted", "", "")
ANSWERS_RECEIVED: Count = ("answers_received", "", "")
SPLIT_JOINED: Count = ("split_joined", "", "")
SPLIT_EXPIRED: Count = ("split_expired", "", "")
SPLIT_UNJOINED: Count = ("split_parts_unjoined", "", "")
SESSION_MOVED: Count = ("session_moved", "", "")
RECORDS: Count = ("records", "", "")


def bad(reason: str) -> Count:
    return ("bad_packets", "reason", reason)


def bad_value(problem: str) -> Count:
    return ("bad_values", "reason", problem)


@dataclass(slots=True)
class UnitSession:
    """One data unit (MN) as the gateway has seen it."""

    mn: str
    unit_id: str
    connection: int
    first_seen: float
    last_seen: float
    packets: int = 0
    bad: int = 0


class Hj212Units:
    """Gateway-wide HJ 212 state shared by the connections' sessions."""

    def __init__(
        self,
        registry: Registry,
        credentials: DeviceCredentials,
        codemaps: Mapping[str, CodeMap],
        *,
        ruleset: RuleSet | None = None,
        split_timeout_s: float = 120.0,
        answer_bad_crc_uploads: bool = False,
        modbus_mns: frozenset[str] = frozenset(),
        max_segment: int = DEFAULT_MAX_SEGMENT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.credentials = credentials
        self.codemaps = dict(codemaps)
        self.ruleset = ruleset  # for FV-UNIT exceedances at intake (optional)
        self.answer_bad_crc_uploads = answer_bad_crc_uploads
        self.modbus_mns = modbus_mns
        self.max_segment = max_segment
        self.clock = clock
        self.sessions: dict[str, UnitSession] = {}
        self.reassembler = Reassembler(timeout_s=split_timeout_s)
        self.extra = "".join(sorted({m.profile.extra_char for m in self.codemaps.values()}))
        self.modbus = bool(modbus_mns) or any(m.profile.modbus_crc for m in self.codemaps.values())
        self._connections = 0

    def session(self, peer: str = "") -> Hj212Session:
        self._connections += 1
        return Hj212Session(self, self._connections, peer)


class Hj212Session:
    """One HJ 212 connection (``core.gateway.Session``)."""

    close_on_publish_failure: ClassVar[bool] = (
        False  # devices re-send on the same connection after OverTime
    )

    __slots__ = ("cid", "decoder", "mns", "peer", "units")

    def __init__(self, units: Hj212Units, cid: int, peer: str = "") -> None:
        self.units = units
        self.cid = cid
        self.peer = peer
        self.mns: set[str] = set()
        self.decoder = FrameDecoder(
            max_segment=units.max_segment,
            extra_chars=units.extra.encode(),
            accept_modbus=units.modbus,
        )

    @property
    def buffered(self) -> int:
        return self.decoder.buffered

    def receive(self, data: bytes, now: datetime) -> Outcome:
        return self._handle_all(self.decoder.feed(data), now)

    def expire(self, now: datetime) -> Outcome:
        return self._handle_all(self.decoder.close(), now)

    def close(self, now: datetime) -> Outcome:
        return self._handle_all(self.decoder.close(), now)

    def _handle_all(self, items: Sequence[Frame | FrameError], now: datetime) -> Outcome:
        out = Outcome()
        handle = self._handle
        for item in items:
            try:
                handle(item, now, out)
            except Exception:  # our bug on one packet: count it, keep the connection
                log.exception("fuel_vapor gateway: packet from %s failed", sorted(self.mns))
                out.count(INTERNAL_ERROR)
        return out

    def _handle(self, item: Frame | FrameError, received: datetime, out: Outcome) -> None:
        """One frame or framing error: counters, events and answers into ``out``."""
        units = self.units
        if item.__class__ is FrameError:
            assert isinstance(item, FrameError)
            out.count(bad(item.reason))
            log.debug("bad packet from %s %s: %s", self.peer, sorted(self.mns), item.detail)
            if item.reason == CRC_MISMATCH and item.segment is not None:
                self._answer_bad_crc(item.segment, out)
            return
        assert isinstance(item, Frame)
        try:
            packet = parse_segment(item.segment.decode("utf-8", "surrogateescape"))
        except SegmentError as exc:
            out.count(bad(exc.reason))
            return
        flag = packet.flag
        wants = flag.answer if flag is not None else None
        unit = units.registry.unit_by_mn(packet.mn)
        if unit is None:
            out.count(bad("unknown_mn"))
            if wants and not packet.is_answer:
                out.refuse(answers.request_answer(packet, answers.QNRTN_BAD_MN))
            return
        if not units.credentials.verify(unit.id, packet.pw):
            out.count(bad("bad_password"))  # never stored, never logged with the PW
            self._unit(packet.mn, unit.id, out).bad += 1
            if wants and not packet.is_answer:
                out.refuse(answers.request_answer(packet, answers.QNRTN_BAD_PW))
            return
        cm = units.codemaps.get(unit.code_map)
        if cm is None:
            out.count(bad("no_code_map"))
            return
        profile = cm.profile
        if item.extra_char and item.extra_char != profile.extra_char:
            out.count(bad("framing_not_in_profile"))
            return
        if item.crc_variant != "hj212":
            if not (profile.modbus_crc or packet.mn in units.modbus_mns):
                out.count(bad(CRC_MISMATCH))
                return
            out.count(MODBUS_ACCEPTED)
        self._unit(packet.mn, unit.id, out).packets += 1
        if wants is None:
            wants = profile.answer_when_no_flag and packet.cn in UPLOAD_CNS
        if packet.is_answer:
            out.count(ANSWERS_RECEIVED)
            wants = False
        if flag is not None and flag.split and packet.pnum and packet.pno:
            self._split_part(packet, item, unit, cm, received, wants, out)
            return
        result = from_hj212(
            packet,
            item.raw,
            unit,
            cm,
            received,
            crc_variant=item.crc_variant,
            ruleset=units.ruleset,
        )
        for p in result.problems:
            out.count(bad_value(p))
        out.events.append(result.packet_event)
        out.events += result.events
        out.count(PACKETS_OK)
        out.count(RECORDS, result.packet_event.records)
        if wants:
            out.answers.append(
                answers.data_answer(packet, cp=profile.answer_cp, flag=profile.answer_flag)
            )

    def _split_part(
        self,
        packet: Packet,
        item: Frame,
        unit: object,
        cm: CodeMap,
        received: datetime,
        wants: bool,
        out: Outcome,
    ) -> None:
        units = self.units
        now = units.clock()
        for parts in units.reassembler.expire(now):  # parts are already stored as packets
            out.count(SPLIT_EXPIRED)
            out.count(SPLIT_UNJOINED, len(parts))
        try:
            joined = units.reassembler.add(packet, now)
        except SplitError as exc:
            out.count(bad(exc.reason))
            return
        part = from_hj212(packet, item.raw, None, cm, received, crc_variant=item.crc_variant)
        out.events.append(_as_unit(part.packet_event, unit))
        if joined is not None:
            raw = joined.segment.encode("utf-8", "surrogateescape")
            result = from_hj212(joined, raw, unit, cm, received, ruleset=units.ruleset)  # type: ignore[arg-type]
            for p in result.problems:
                out.count(bad_value(p))
            out.events += result.events
            out.count(RECORDS, result.packet_event.records)
            out.count(SPLIT_JOINED)
        out.count(PACKETS_OK)
        if wants:
            profile = cm.profile
            out.answers.append(
                answers.data_answer(packet, cp=profile.answer_cp, flag=profile.answer_flag)
            )

    def _answer_bad_crc(self, segment: bytes, out: Outcome) -> None:
        try:
            packet = parse_segment(segment.decode("utf-8", "surrogateescape"))
        except SegmentError:
            return
        if packet.flag is None or not packet.flag.answer or packet.is_answer:
            return
        if packet.cn in UPLOAD_CNS and not self.units.answer_bad_crc_uploads:
            return
        out.refuse(answers.request_answer(packet, answers.QNRTN_BAD_CRC))

    def _unit(self, mn: str, unit_id: str, out: Outcome) -> UnitSession:
        units = self.units
        now = units.clock()
        s = units.sessions.get(mn)
        if s is None:
            s = units.sessions[mn] = UnitSession(mn, unit_id, self.cid, now, now)
            self.mns.add(mn)
        else:
            if s.connection != self.cid:
                s.connection = self.cid
                out.count(SESSION_MOVED)
                self.mns.add(mn)
            s.last_seen = now
        return s


def _as_unit(pe: VaporPacket, unit: object) -> VaporPacket:
    """The packet record of a split part, attributed to its unit."""
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


__all__ = ["UPLOAD_CNS", "Hj212Session", "Hj212Units", "UnitSession"]

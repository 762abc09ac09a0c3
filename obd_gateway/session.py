"""Per-connection session logic of the gateway, sans-IO: one decoded frame in → events to publish,
the answer to send once they are published, and counter labels. The asyncio server owns sockets,
timeouts and publishing; this module owns what a frame means.

Policy (hj1239.md §2, §8, §9):

- a VIN not in the registry: answered with an error result, counted (``unknown_vin``), and kept
  only as an ``obd.quarantine`` record, never mixed into the vehicle tables;
- real-time (0x02) and re-issue (0x03) units become ``obd.frame`` + ``obd.sample`` (one per
  data-stream body, at its own collection time) + ``obd.info``; re-issued records are flagged
  ``backfilled``. Event ids depend on (VIN, collection time), so a re-sent record is stored once;
- login/logout/time calibration/anti-tamper become ``obd.status`` with the terminal's clock
  offset (receive time − terminal time);
- a unit or item whose time is six zero bytes (clock not set) keeps its values: the records are
  filed under the unit's send time (or the receive time when that is unset too) in 1-second
  steps, flagged ``time_unset`` and ``time_inferred``, counted (``time_unset``);
- vendor / unknown info blocks skipped by their length are counted (``skipped_blocks`` by type)
  and kept raw in the frame's ``detail``;
- unknown commands and data units that do not fit their layout (a truncated body, a bad time, a
  vendor length beyond the unit, an unknown type whose length cannot be known) are counted and
  answered with an error result; the frame header, hash and the reason are still recorded.
- data before a login is accepted (GB 17691-mode firmware may not log in) and counted, unless the
  VIN has a registered terminal identity (``core.credentials``: the ICCID its login must carry):
  then a login with another ICCID is answered with an error and counted (``bad_credential``), and
  the connection's frames of that VIN are refused the same way (``not_authenticated``) until a
  login proves it; refused frames are not stored. A rotated identity applies to the next login.

Samples travel as columns: a unit's data-stream records become one ``obd.sample`` batch
(:class:`~obd_gateway.events.ObdSamples`, built by :func:`samples_of` from the records' times and
bodies). A unit made only of data streams (almost every frame) gets its records from the codec's
bulk decoder (:func:`~obd_gateway.protocol.units.decode_streams`, no object per record); any other
unit from the typed decoder; both then take the same path (:meth:`Session._realtime`).

Connection interface (``core.gateway.Session``): :meth:`Session.receive` feeds one read's bytes to
the connection's :class:`~obd_gateway.protocol.FrameDecoder` and returns one
``core.gateway.Outcome`` for all the frames it completed (events, answers in frame order,
counters); :meth:`Session.expire` gives up a stalled partial frame and :meth:`Session.close` the
rest of the stream (plus the ``disconnected`` status). A BCC failure or a lying length whose
header is readable is answered with an error result (GB/T 32960 convention); other bad input
cannot be answered. After a failed publish the shell closes the connection
(``close_on_publish_failure``): HJ 1239 terminals re-send after reconnecting.

SM2: a unit-level signature is verified when the vehicle has a registered ``sm2_public_key``
(``obd_gateway.signature``); a bad one is refused like a bad credential (``bad_signature``, error
answer, nothing stored). Known limits: without a key (see that module for why keys are not
available here) or in the legacy per-item form, signatures are recognised but not verified, so signed
data is ``unverified``; the layout seen first is kept as the connection's hint.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from core.credentials import DeviceCredentials
from core.gateway import INTERNAL_ERROR, Count
from core.gateway import Outcome as ReadOutcome
from core.registry import ObdVehicle, Registry
from core.timeutil import to_utc
from obd_gateway.events import (
    RECORD_INFERRED,
    RECORD_TIME_UNSET,
    TIME_UNSET,
    ObdFrame,
    ObdInfoSnapshot,
    ObdQuarantine,
    ObdSamples,
    ObdStatus,
)
from obd_gateway.protocol import (
    AntiTamper,
    BadInput,
    Command,
    DataStream,
    DataUnitError,
    Frame,
    FrameDecoder,
    FrameError,
    HeaderVariant,
    Layout,
    Login,
    Logout,
    RawUnit,
    RealTime,
    TimeCalibration,
    decode_unit,
    make_answer,
)
from obd_gateway.protocol.bodies import ObdInfo
from obd_gateway.protocol.frame import (
    ENC_SM2,
    RESP_ERROR,
    RESP_SUCCESS,
    parse_frame,
    parse_header,
)
from obd_gateway.protocol.units import StreamBlock, answer_bytes_for_block, decode_streams

log = logging.getLogger(__name__)
COUNTER_FRAMES = "frames"
COUNTER_BAD = "bad_frames"
_COMMAND_LABELS = tuple(f"0x{c:02X}" for c in range(256))
DEFAULT_MAX_DATA_LEN = 16384  # bytes of one data unit accepted by default (protocol: 65531)
_LABEL_KEYS = {COUNTER_BAD: "reason", COUNTER_FRAMES: "command"}


class Outcome:
    """What one frame gave: events, the answer's bytes (``wire``; :attr:`answer` parses them
    back for tools and tests) and counters as (name, label)."""

    __slots__ = ("counters", "events", "wire")

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.wire: bytes | None = None
        self.counters: list[tuple[str, str]] = []

    @property
    def answer(self) -> Frame | None:
        return None if self.wire is None else parse_frame(self.wire)

    @answer.setter
    def answer(self, frame: Frame | None) -> None:
        self.wire = None if frame is None else frame.encode()


def sample_from_stream(
    vin: str,
    vehicle: ObdVehicle,
    ts: datetime,
    stream: DataStream,
    *,
    received_at: datetime,
    backfilled: bool,
    time_inferred: bool,
    signature: str,
    frame_id: str,
    time_unset: bool = False,
) -> ObdSamples:
    """One decoded 37-byte body as a one-record ``obd.sample`` batch (tools, tests, the seeder)."""
    return samples_of(
        vin,
        vehicle,
        [_ms(ts)],
        bytes(
            ((RECORD_INFERRED if time_inferred else 0) | (RECORD_TIME_UNSET if time_unset else 0),)
        ),
        stream.encode(),
        received_at=received_at,
        backfilled=backfilled,
        signature=signature,
        frame_id=frame_id,
    )


def samples_of(
    vin: str,
    vehicle: ObdVehicle,
    ts_ms: Sequence[int],
    record_flags: bytes,
    raw: bytes,
    *,
    received_at: datetime,
    backfilled: bool,
    signature: str,
    frame_id: str,
) -> ObdSamples:
    """The one place a unit's data-stream records become an ``obd.sample`` batch."""
    return ObdSamples(
        vin=vin,
        jurisdiction=vehicle.jurisdiction,
        fleet=vehicle.fleet,
        vehicle_class=vehicle.vehicle_class,
        received_at=received_at,
        backfilled=backfilled,
        signature=signature,
        frame_id=frame_id,
        ts_ms=ts_ms,
        record_flags=record_flags,
        raw=raw,
    )


def _ms(ts: datetime) -> int:
    return round(ts.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class _Records:
    """A real-time unit's data-stream records: times (UTC epoch ms), flag bytes, bodies."""

    ts_ms: Sequence[int]
    flags: bytes
    raw: bytes


def _records_of_block(block: StreamBlock) -> _Records:
    k = len(block)
    flags = bytes([0] + [RECORD_INFERRED] * (k - 1)) if block.time_inferred else bytes(k)
    return _Records([e * 1000 for e in block.epochs], flags, block.bodies())


def _records_of_unit(unit: RealTime, received_at: datetime) -> _Records:
    streams = unit.streams(received_at)
    return _Records(
        [_ms(s.ts) for s in streams],
        bytes(
            (RECORD_INFERRED if s.inferred else 0) | (RECORD_TIME_UNSET if s.unset else 0)
            for s in streams
        ),
        b"".join([s.stream.encode() for s in streams]),
    )


def info_from_body(
    vin: str,
    vehicle: ObdVehicle,
    ts: datetime,
    body: ObdInfo,
    *,
    received_at: datetime,
    backfilled: bool,
    frame_id: str,
) -> ObdInfoSnapshot:
    return ObdInfoSnapshot(
        event_id=ObdInfoSnapshot.make_id(vin, ts),
        ts=to_utc(ts),
        vin=vin,
        jurisdiction=vehicle.jurisdiction,
        fleet=vehicle.fleet,
        received_at=received_at,
        backfilled=backfilled,
        frame_id=frame_id,
        obd_protocol=body.protocol,
        mil_on=body.mil_on,
        diag_support=body.diag_support,
        diag_ready=body.diag_ready,
        obd_vin=body.vin,
        calibration_id=body.calibration_id,
        cvn=body.cvn,
        iupr=body.iupr,
        dtc_count=body.dtc_total,
        dtcs=body.dtcs,
        raw_hex=body.encode().hex(),
    )


class Session:
    """State of one terminal connection (login → data → logout)."""

    close_on_publish_failure: ClassVar[bool] = (
        True  # the terminal reconnects and re-sends (core.gateway)
    )

    __slots__ = (
        "authenticated",
        "credentials",
        "decoder",
        "layout",
        "logged_in",
        "peer",
        "registry",
        "variant",
        "vin",
    )

    def __init__(
        self,
        registry: Registry,
        peer: str = "",
        layout: Layout | None = None,
        credentials: DeviceCredentials | None = None,
        max_data_len: int = DEFAULT_MAX_DATA_LEN,
    ) -> None:
        self.decoder = FrameDecoder(
            max_data_len, max(1 << 17, 2 * (max_data_len + 25)), validate=self.plausible
        )
        self.registry = registry
        self.peer = peer
        self.layout = layout
        self.vin: str | None = None
        self.variant: HeaderVariant | None = None
        self.logged_in = False
        # terminal registration (VIN + ICCID, core.credentials); None = not checked (codec tools)
        self.credentials = credentials
        self.authenticated: str | None = None  # the VIN whose login carried its registered ICCID

    @staticmethod
    def _signature(frame: Frame, unit: RealTime, vehicle: ObdVehicle) -> str:
        """ "absent", "unverified" (no key registered, or the legacy per-item form), "valid" or
        "invalid" (``obd_gateway.signature``: SM2 over the unit bytes before the block)."""
        if unit.signature is None:
            return "unverified" if any(it.signature is not None for it in unit.items) else "absent"
        if not vehicle.sm2_public_key:
            return "unverified"
        from obd_gateway.signature import verify

        signed = bytes(frame.data[: len(frame.data) - unit.signature.size])
        ok = verify(
            vehicle.sm2_public_key,
            signed,
            unit.signature.r,
            unit.signature.s,
            vehicle.sm2_signer_id,
        )
        return "valid" if ok else "invalid"

    def _refuse(self, frame: Frame, received_at: datetime, out: Outcome, reason: str) -> Outcome:
        """A terminal that did not prove its identity: error answer, counted, nothing stored."""
        out.counters.append((COUNTER_BAD, reason))
        out.answer = make_answer(frame, RESP_ERROR, received_at, None)
        return out

    # ------------------------------------------------------------ connection (core.gateway.Session)

    @property
    def buffered(self) -> int:
        return self.decoder.buffered

    def receive(self, data: bytes, now: datetime) -> ReadOutcome:
        """One read's bytes: every frame they complete, interpreted at ``now`` (aware, UTC)."""
        return self._interpret(self.decoder.feed(data), now)

    def expire(self, now: datetime) -> ReadOutcome:
        """The partial-frame timeout fired: give up the stalled candidate, keep what follows."""
        return self._interpret(self.decoder.give_up_partial(), now)

    def close(self, now: datetime) -> ReadOutcome:
        """End of the connection: what is left in the decoder, then the ``disconnected`` status."""
        out = self._interpret(self.decoder.close(), now)
        out.events += self.disconnected(now)
        return out

    def _interpret(self, items: list[tuple[Frame, bytes] | BadInput], now: datetime) -> ReadOutcome:
        res = ReadOutcome()
        events, answers, count = res.events, res.answers, res.count
        for it in items:
            if it.__class__ is BadInput:
                assert isinstance(it, BadInput)
                count(_count(COUNTER_BAD, it.reason))
                ans = _answer_bad(it, now)
                if ans is not None:
                    res.refuse(ans)
                if it.vin:
                    log.debug("obd gateway: %s from %s (%s)", it.reason, it.vin, self.peer)
                continue
            frame, raw = it  # type: ignore[misc]
            try:
                out = self.handle(frame, raw, now)
            except Exception:  # a bug of ours on one frame: count it, keep the connection
                log.exception("obd gateway: frame from %s (%s) not handled", frame.vin, self.peer)
                count(INTERNAL_ERROR)
                continue
            events += out.events
            for name, label in out.counters:
                count(_count(name, label))
            if out.wire is not None:
                if out.events:
                    answers.append(out.wire)
                else:  # a refusal (unauthenticated, bad signature): nothing to publish first
                    res.refuse(out.wire)
        return res

    def plausible(self, frame: Frame) -> bool:
        """Data-unit check used by the decoder on suspicious candidates (see FrameDecoder): a
        frame whose data streams contain ``##`` by chance (about 1 in 120) costs the bulk decode."""
        cmd = frame.command
        realtime = (
            cmd == Command.REALTIME or cmd == Command.REISSUE
        ) and frame.encryption != ENC_SM2
        if realtime and decode_streams(frame.data, self.layout) is not None:
            return True  # what decode_unit would find first
        try:
            decode_unit(frame, self.layout)
        except DataUnitError:
            return False
        return True

    def handle(self, frame: Frame, raw: bytes, received_at: datetime) -> Outcome:
        """Interpret one framed, BCC-checked frame received at ``received_at`` (aware, UTC)."""
        out = Outcome()
        out.counters.append((COUNTER_FRAMES, _COMMAND_LABELS[frame.command]))
        sha = hashlib.sha256(raw).hexdigest()
        if self.variant is None:
            self.variant = frame.variant
        elif frame.variant is not self.variant:
            out.counters.append(("variant_switch", frame.variant.value))
            self.variant = frame.variant
        vehicle = self.registry.vehicle(frame.vin)
        if vehicle is None:
            out.counters.append((COUNTER_BAD, "unknown_vin"))
            out.events.append(
                ObdQuarantine(
                    event_id=ObdQuarantine.make_id(frame.vin, sha),
                    ts=received_at,
                    vin=frame.vin,
                    reason="unknown_vin",
                    command=frame.command,
                    peer=self.peer,
                    frame_sha256=sha,
                    raw_hex=raw.hex(),
                )
            )
            out.answer = make_answer(frame, RESP_ERROR, received_at, None)
            return out
        cmd = frame.command
        creds = self.credentials
        if (
            creds is not None
            and self.authenticated != frame.vin
            and cmd != Command.LOGIN
            and not creds.verify(frame.vin, None)  # registered terminal, no valid login yet
        ):
            return self._refuse(frame, received_at, out, "not_authenticated")
        self.vin = frame.vin
        if (cmd == Command.REALTIME or cmd == Command.REISSUE) and frame.encryption != ENC_SM2:
            # a unit of data streams only (almost every frame): the codec's bulk decoder gives its
            # records without building an object per record; the rest is the same path
            block = decode_streams(frame.data, self.layout)
            if block is not None:
                if self.layout is None:
                    self.layout = block.layout
                self._realtime(
                    frame,
                    vehicle,
                    sha,
                    received_at,
                    out,
                    layout=block.layout,
                    unit_time=datetime.fromtimestamp(block.epoch, UTC),
                    records=_records_of_block(block),
                    infos=block.obd_infos() if block.infos else (),
                )
                if not self.logged_in:
                    out.counters.append(("data_before_login", ""))
                out.wire = answer_bytes_for_block(frame, RESP_SUCCESS, block)
                return out
        try:
            unit = decode_unit(frame, self.layout)
        except DataUnitError as exc:
            out.counters.append((COUNTER_BAD, exc.reason))
            out.events.append(
                self._frame_event(
                    frame,
                    vehicle,
                    sha,
                    received_at,
                    received_at,
                    "bad_data_unit",
                    detail=exc.detail,
                )
            )
            out.answer = make_answer(frame, RESP_ERROR, received_at, None)
            return out

        result = RESP_SUCCESS
        if isinstance(unit, RealTime):
            verdict = self._signature(frame, unit, vehicle)
            if verdict == "invalid":  # a registered key and a signature that does not match it
                return self._refuse(frame, received_at, out, "bad_signature")
            if self.layout is None:
                self.layout = unit.layout
            notes = self._notes(unit, out)
            self._realtime(
                frame,
                vehicle,
                sha,
                received_at,
                out,
                layout=unit.layout,
                unit_time=unit.time or received_at,
                records=_records_of_unit(unit, received_at),
                infos=unit.obd_infos(received_at),
                notes=notes,
                signature=verdict,
            )
        elif isinstance(unit, Login):
            if creds is not None:
                if not creds.verify(frame.vin, unit.iccid):
                    self.authenticated = None
                    self.logged_in = False
                    return self._refuse(frame, received_at, out, "bad_credential")
                self.authenticated = frame.vin
            self.logged_in = True
            out.events.append(self._frame_event(frame, vehicle, sha, unit.time, received_at, "ok"))
            out.events.append(
                self._status(vehicle, "login", unit.time, received_at, unit.serial, unit.iccid)
            )
        elif isinstance(unit, Logout):
            self.logged_in = False
            out.events.append(self._frame_event(frame, vehicle, sha, unit.time, received_at, "ok"))
            out.events.append(self._status(vehicle, "logout", unit.time, received_at, unit.serial))
        elif isinstance(unit, TimeCalibration):
            t = unit.time or received_at
            out.events.append(self._frame_event(frame, vehicle, sha, t, received_at, "ok"))
            out.events.append(
                self._status(
                    vehicle, "time_calibration", t, received_at, None, offset=unit.time is not None
                )
            )
        elif isinstance(unit, AntiTamper):
            out.events.append(self._frame_event(frame, vehicle, sha, unit.time, received_at, "ok"))
            out.events.append(
                self._status(
                    vehicle,
                    "anti_tamper",
                    unit.time,
                    received_at,
                    unit.serial,
                    detail=unit.as_dict(),
                )
            )
        else:
            assert isinstance(unit, RawUnit)
            if not frame.known_command:
                out.counters.append((COUNTER_BAD, "unknown_command"))
                result = RESP_ERROR
            out.events.append(
                self._frame_event(
                    frame, vehicle, sha, received_at, received_at, "raw", detail=unit.note
                )
            )
        if not self.logged_in and frame.command in (Command.REALTIME, Command.REISSUE):
            out.counters.append(("data_before_login", ""))
        out.answer = make_answer(frame, result, received_at, unit)
        return out

    # -------------------------------------------------------------------------------- helpers

    @staticmethod
    def _notes(unit: RealTime, out: Outcome) -> list[str]:
        """What the frame's ``detail`` says about unset times and skipped blocks (counted)."""
        notes = []
        if unit.time is None:
            notes.append("unit time unset (six zero bytes): filed under the receive time")
            out.counters.append((TIME_UNSET, "unit"))
        n_unset = sum(it.time_unset for it in unit.items)
        if n_unset:
            out.counters.append((TIME_UNSET, "item"))
            notes.append(f"{n_unset} item time(s) unset (six zero bytes)")
        for it in unit.skipped:
            raw_block = it.body.encode()
            out.counters.append(("skipped_blocks", _COMMAND_LABELS[it.info_type]))
            notes.append(
                f"info type 0x{it.info_type:02X} skipped, {len(raw_block)} B kept raw: "
                f"{raw_block.hex()}"
            )
        return notes

    def _realtime(
        self,
        frame: Frame,
        vehicle: ObdVehicle,
        sha: str,
        received_at: datetime,
        out: Outcome,
        *,
        layout: Layout,
        unit_time: datetime,
        records: _Records,
        infos: Sequence[tuple[datetime, ObdInfo, bool]] = (),
        notes: Sequence[str] = (),
        signature: str = "absent",
    ) -> None:
        """A real-time / re-issue unit: ``obd.frame``, one ``obd.sample`` batch, ``obd.info``."""
        backfilled = frame.command == Command.REISSUE
        n = len(records.ts_ms)
        fr = self._frame_event(
            frame,
            vehicle,
            sha,
            unit_time,
            received_at,
            "ok",
            layout=_LAYOUT_VALUES[layout],
            signature=signature,
            n_samples=n,
            n_infos=len(infos),
            detail="; ".join(notes),
            backfilled=backfilled,
        )
        frame_id = fr.event_id
        out.events.append(fr)
        if n:
            out.events.append(
                samples_of(
                    frame.vin,
                    vehicle,
                    records.ts_ms,
                    records.flags,
                    records.raw,
                    received_at=received_at,
                    backfilled=backfilled,
                    signature=signature,
                    frame_id=frame_id,
                )
            )
        for ts, body, _unset in infos:
            out.events.append(
                info_from_body(
                    frame.vin,
                    vehicle,
                    ts,
                    body,
                    received_at=received_at,
                    backfilled=backfilled,
                    frame_id=frame_id,
                )
            )
        out.counters.append(("samples", "backfilled" if backfilled else "live"))

    def _frame_event(
        self,
        frame: Frame,
        vehicle: ObdVehicle,
        sha: str,
        ts: datetime,
        received_at: datetime,
        status: str,
        *,
        layout: str = "",
        signature: str = "absent",
        n_samples: int = 0,
        n_infos: int = 0,
        detail: str = "",
        backfilled: bool = False,
    ) -> ObdFrame:
        return ObdFrame(
            event_id=_frame_id(frame.vin, sha),
            ts=ts if ts.tzinfo is UTC else to_utc(ts),
            vin=frame.vin,
            received_at=received_at,
            command=frame.command,
            header_variant=_VARIANT_VALUES[frame.variant],
            layout=layout,
            flag=frame.flag,
            encryption=frame.encryption,
            data_length=len(frame.data),
            frame_sha256=sha,
            decode_status=status,
            signature=signature,
            backfilled=backfilled,
            n_samples=n_samples,
            n_infos=n_infos,
            jurisdiction=vehicle.jurisdiction,
            fleet=vehicle.fleet,
            peer=self.peer,
            detail=detail,
        )

    def _status(
        self,
        vehicle: ObdVehicle,
        status: str,
        ts: datetime,
        received_at: datetime,
        serial: int | None,
        iccid: str = "",
        *,
        offset: bool = True,
        detail: dict[str, Any] | None = None,
    ) -> ObdStatus:
        off = round((received_at - ts).total_seconds(), 3) if offset else None
        return ObdStatus(
            event_id=ObdStatus.make_id(vehicle.vin, ts, status, serial),
            ts=to_utc(ts),
            vin=vehicle.vin,
            jurisdiction=vehicle.jurisdiction,
            fleet=vehicle.fleet,
            status=status,
            received_at=received_at,
            login_serial=serial,
            iccid=iccid,
            clock_offset_s=off,
            peer=self.peer,
            detail_json=json.dumps(detail or {}, sort_keys=True),
        )

    def disconnected(self, received_at: datetime) -> list[ObdStatus]:
        """Status event when the connection ends without a logout (for online-rate queries)."""
        if self.vin is None or not self.logged_in:
            return []
        vehicle = self.registry.vehicle(self.vin)
        if vehicle is None:
            return []
        self.logged_in = False
        return [self._status(vehicle, "disconnected", received_at, received_at, None, offset=False)]


_VARIANT_VALUES = {v: v.value for v in HeaderVariant}
_LAYOUT_VALUES = {v: v.value for v in Layout}
_FRAME_ID_PREFIX = ObdFrame.KIND.encode() + b"\x1f"


def _frame_id(vin: str, sha: str) -> str:
    """:meth:`ObdFrame.make_id` (``deterministic_id`` of the kind, the VIN and the frame's
    SHA-256), hashed in one call (tests/unit/obd/test_session.py checks the two agree)."""
    return hashlib.blake2b(
        b"%s%s\x1f%s" % (_FRAME_ID_PREFIX, vin.encode(), sha.encode()), digest_size=16
    ).hexdigest()


@functools.cache
def _count(name: str, label: str) -> Count:
    """The ``core.gateway`` counter of a session counter (a handful of distinct pairs)."""
    return (name, _LABEL_KEYS.get(name, "kind") if label else "", label)


def _answer_bad(bad: BadInput, now: datetime) -> bytes | None:
    """An error result for a BCC failure or a lying length whose header is readable."""
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

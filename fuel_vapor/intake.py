"""From HJ 212 to domain events: the one place where a parsed packet becomes vapour events.

``from_hj212`` takes a checked packet, the registry entry of its data unit and that unit's code map
and returns the ``VaporPacket`` evidence record plus the ``Fuellings`` (the packet's per-nozzle
rows as one columnar batch) / ``StationReading`` / ``DeviceAlarm`` / ``SensorReading`` /
``DepotReading`` events it carries. Bad values never raise:
each is returned as a problem label (counted by the gateway) and the rest of the packet is kept.

Event time: ``DataTime``, else the QN time, else the receipt time (flagged ``no_data_time``; such
readings cannot be de-duplicated when re-sent, only their packet record can).
A/L is normalised to a ratio by the code map; a normalised A/L outside 0-3 is FV-UNIT (record
dropped, problem ``al_out_of_range``; with a rule set an FV-UNIT exceedance is returned as well).

Hot path (the gateway calls this once per packet): event ids are ``core.events.deterministic_id``
computed by ``_id`` with the event time formatted once per packet (the same bytes are hashed, a
unit test checks every ``make_id`` against it); per-ruleset A/L bounds and per-station nozzle sets
are cached.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.errors import ValidationError
from core.exceedance import fire
from core.registry import Depot, Sensor, Station
from core.ruleset import RuleSet
from fuel_vapor.codemaps import CodeMap, Decoded, ValueProblem
from fuel_vapor.events import (
    FUELLING_VALUES,
    DepotReading,
    DeviceAlarm,
    Fuellings,
    SensorReading,
    StationReading,
    VaporPacket,
)
from fuel_vapor.protocol.packet import Packet, segment_text

ALARM_CODES = {"0": 0, "1": 1, "2": 2, "N": -1, "n": -1}
_blake2b = hashlib.blake2b
_sha256 = hashlib.sha256
_BOUNDS: dict[int, tuple[RuleSet, tuple[float, float]]] = {}
_NOZZLES: dict[int, tuple[Station, frozenset[int]]] = {}
_UNIT_KIND: dict[type, str] = {Station: "station", Depot: "depot", Sensor: "sensor"}


def _al_bounds(ruleset: RuleSet | None) -> tuple[float, float]:
    if ruleset is None:
        return 0.0, 3.0
    got = _BOUNDS.get(id(ruleset))
    if got is not None and got[0] is ruleset:
        return got[1]
    rule = ruleset.rule("FV-UNIT")
    bounds = float(rule.param("al_min")), float(rule.param("al_max"))
    if len(_BOUNDS) > 64:
        _BOUNDS.clear()
    _BOUNDS[id(ruleset)] = (ruleset, bounds)
    return bounds


def _nozzle_numbers(unit: Station) -> frozenset[int]:
    got = _NOZZLES.get(id(unit))
    if got is not None and got[0] is unit:
        return got[1]
    numbers = frozenset(n.number for n in unit.nozzles)
    if len(_NOZZLES) > 100_000:
        _NOZZLES.clear()
    _NOZZLES[id(unit)] = (unit, numbers)
    return numbers


def ts_part(ts: datetime) -> str:
    """An event time as ``deterministic_id`` hashes it."""
    return f"{ts.timestamp():.6f}"


def _id(kind: str, *parts: str) -> str:
    """``core.events.deterministic_id(kind, *parts)`` for parts that are already strings."""
    return _blake2b("\x1f".join((kind, *parts)).encode(), digest_size=16).hexdigest()


@dataclass(slots=True)
class IntakeResult:
    packet_event: VaporPacket
    events: list[Any] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def all_events(self) -> list[Any]:
        return [self.packet_event, *self.events]


def records(events: list[Any]) -> int:
    """Domain records among ``events``: a ``Fuellings`` batch counts its rows."""
    n = len(events)
    for e in events:
        if e.__class__ is Fuellings:
            n += len(e.nozzle) - 1
    return n


def raw_hash(raw: bytes) -> str:
    return _sha256(raw).hexdigest()


def event_time(packet: Packet, received_at: datetime) -> tuple[datetime, list[str]]:
    try:
        ts = packet.data_time or packet.qn_time
    except ValueError:
        return received_at, ["bad_data_time"]
    return (ts, []) if ts is not None else (received_at, ["no_data_time"])


_PW = re.compile(r"PW=[^;&]*")  # a literal start: the engine jumps to each "PW=" (a look-behind
# tried at every position cost ~4x as much per packet)


def redact_pw(text: str) -> str:
    """The packet text with its access password masked: the stored evidence keeps the packet
    (its SHA-256 is over the bytes as received), never the device's credential."""
    return _PW.sub("PW=******", text)


def from_hj212(
    packet: Packet,
    raw: bytes,
    unit: Station | Depot | Sensor | None,
    codemap: CodeMap,
    received_at: datetime,
    *,
    crc_variant: str = "hj212",
    ruleset: RuleSet | None = None,
) -> IntakeResult:
    ts, problems = event_time(packet, received_at)
    sha = _sha256(raw).hexdigest()
    pid = _id(VaporPacket.KIND, packet.mn, sha)
    events: list[Any] = []
    decoded: Decoded | None = None
    try:
        decoded = codemap.decode(packet)
    except ValueProblem as exc:
        problems.append("bad_value")
        problems.append(f"detail:{exc}"[:120])
    if decoded is not None and not decoded.known_cn and not packet.is_answer:
        problems.append("unknown_cn")
    if packet.encoding == "escaped":  # bytes neither UTF-8 nor GBK, escaped at the codec
        problems.append("text_escaped")
    if decoded is not None and decoded.unknown:  # kept raw in ``raw``; named in the detail
        problems.append("unknown_field")
        names = ",".join(k for k, _ in decoded.unknown)
        problems.append(f"detail:fields not in code map {codemap.name}: {names}"[:120])
    if decoded is not None and unit is not None:
        try:
            events = _events(decoded, packet, unit, codemap, ts, pid, problems, ruleset)
        except ValidationError as exc:  # a value outside its plausibility range
            problems.append("bad_value")
            problems.append(f"detail:{exc}"[:120])
            events = []
    kind = _UNIT_KIND.get(unit.__class__) or (
        "station"
        if isinstance(unit, Station)
        else "depot"
        if isinstance(unit, Depot)
        else "sensor"
        if isinstance(unit, Sensor)
        else "unknown"
    )
    flag = packet.flag
    if problems:
        kept = [p for p in problems if not p.startswith("detail:")]
        stored = (*kept, *[p for p in problems if p.startswith("detail:")][:1])
    else:
        kept, stored = problems, ()
    pe = VaporPacket(
        event_id=pid,
        ts=ts,
        received_at=received_at,
        mn=packet.mn,
        unit_id=unit.id if unit is not None else "",
        unit_kind=kind,
        jurisdiction=unit.jurisdiction if unit is not None else "unknown",
        st=packet.st or "",
        cn=packet.cn,
        qn=packet.qn or "",
        flag=None if flag is None else flag.value,
        version=None if flag is None else flag.version,
        code_map=codemap.name,
        crc_variant=crc_variant,
        raw_sha256=sha,
        raw=redact_pw(segment_text(raw)[0]),
        length=int(raw[2:6])
        if raw[:2] == b"##" and raw[2:6].isdigit()
        else len(packet.segment.encode("utf-8", "surrogateescape")),
        records=records(events),
        problems=stored,
    )
    return IntakeResult(pe, events, kept)


def _events(
    d: Decoded,
    packet: Packet,
    unit: Station | Depot | Sensor,
    cm: CodeMap,
    ts: datetime,
    pid: str,
    problems: list[str],
    ruleset: RuleSet | None = None,
) -> list[Any]:
    out: list[Any] = []
    mn, jur = packet.mn, unit.jurisdiction
    if isinstance(unit, Station):
        numbers = _nozzle_numbers(unit)
        lo, hi = _al_bounds(ruleset) if d.fuellings else (0.0, 3.0)
        rows: list[tuple[int, dict[str, float]]] = []
        for nozzle, v in d.fuellings:
            if nozzle not in numbers:
                problems.append("unknown_nozzle")
                continue
            al = v.get("al")
            if al is not None and not lo <= al <= hi:
                problems.append("al_out_of_range")
                if ruleset is not None:
                    rule = ruleset.rule("FV-UNIT")
                    out.append(
                        fire(
                            rule=rule,
                            ts=ts,
                            source="fuel_vapor",
                            subject_kind="nozzle",
                            subject_id=f"{unit.id}:N{nozzle:02d}",
                            jurisdiction=jur,
                            device_id=mn,
                            measured=al,
                            limit=hi if al > hi else lo,
                            unit="ratio",
                            evidence=[f"{VaporPacket.KIND}:{pid}"],
                            quality_flags=["invalid_record"],
                            detail={"source_unit": cm.spec.al_unit, "code_map": cm.name},
                        )
                    )
                continue
            rows.append((nozzle, v))
        if rows:
            if len(rows) == 1:  # the usual packet: one fuelling
                nozzle, v = rows[0]
                get = v.get
                cols: list[tuple[float | None, ...]] = [(get(name),) for name in FUELLING_VALUES]
                nozzles: tuple[int, ...] = (nozzle,)
            else:
                cols = [tuple([v.get(name) for _, v in rows]) for name in FUELLING_VALUES]
                nozzles = tuple([n for n, _ in rows])
            out.append(
                Fuellings(
                    station_id=unit.id,
                    jurisdiction=jur,
                    mn=mn,
                    ts=ts,
                    al_source_unit=cm.spec.al_unit,
                    code_map=cm.name,
                    packet_id=pid,
                    nozzle=nozzles,
                    al=cols[0],
                    fuel_volume_l=cols[1],
                    vapour_volume_l=cols[2],
                    fuel_flow_lpm=cols[3],
                    vapour_flow_lpm=cols[4],
                    liquid_resistance_pa=cols[5],
                )
            )
        s, settings = d.station, d.settings
        tsp = ts_part(ts) if s or settings or d.alarms else ""
        if s or settings:
            out.append(
                StationReading(
                    event_id=_id(StationReading.KIND, unit.id, tsp, packet.cn),
                    ts=ts,
                    station_id=unit.id,
                    jurisdiction=jur,
                    mn=mn,
                    tank_pressure_pa=s.get("tank_pressure_pa"),
                    lr_pressure_pa=s.get("lr_pressure_pa"),
                    vapour_temp_c=s.get("vapour_temp_c"),
                    unloading_conc=s.get("unloading_conc"),
                    proc_outlet_g_m3=s.get("proc_outlet_g_m3"),
                    al_unattributed=s.get("al_unattributed"),
                    pv_positive_pa=settings.get("pv_positive_pa"),
                    pv_negative_pa=settings.get("pv_negative_pa"),
                    code_map=cm.name,
                    packet_id=pid,
                )
            )
        for nozzle, cat, code in d.alarms:
            state = ALARM_CODES.get(code.strip())
            if state is None:
                problems.append("bad_alarm_code")
                continue
            out.append(
                DeviceAlarm(
                    event_id=_id(DeviceAlarm.KIND, unit.id, str(nozzle), cat, tsp),
                    ts=ts,
                    station_id=unit.id,
                    nozzle=nozzle,
                    jurisdiction=jur,
                    mn=mn,
                    category=cat,
                    state=state,
                    raw_code=code,
                    code_map=cm.name,
                )
            )
    elif isinstance(unit, Sensor):
        tsp = ts_part(ts)
        for quantity, value, unit_txt, flag in d.sensors:
            out.append(
                SensorReading(
                    event_id=_id(SensorReading.KIND, unit.id, quantity, tsp),
                    ts=ts,
                    sensor_id=unit.id,
                    sensor_kind=unit.kind,
                    station_id=unit.station,
                    jurisdiction=jur,
                    mn=mn,
                    quantity=quantity,
                    value=value,
                    unit=unit_txt,
                    data_flag=flag,
                    packet_id=pid,
                )
            )
    elif isinstance(unit, Depot) and d.depot:
        out.append(
            DepotReading(
                event_id=_id(DepotReading.KIND, unit.id, ts_part(ts)),
                ts=ts,
                depot_id=unit.id,
                jurisdiction=jur,
                mn=mn,
                outlet_g_m3=d.depot.get("outlet_g_m3"),
                efficiency_pct=d.depot.get("efficiency_pct"),
                truck_pressure_kpa=d.depot.get("truck_pressure_kpa"),
                packet_id=pid,
            )
        )
    return out

"""Vapour-recovery processors (pure): A/L per nozzle, station pressures, sensors and depots.

Each handler keeps its subject's state under ``state[event.key]`` (the nozzle processor: under each
row's ``station:Nnn``, for events keyed by their station), as the subject's typed state
class (``NozzleTrack``, ``StationTrack``, ``SensorTrack``, ``DepotTrack``), and re-assigns it after
mutation so a Faust table sees the change. The store decides the stored form: the embedded store
keeps the object; a Faust table keeps its ``to_dict()`` and hands that dict back, which the handler
reads with ``from_dict`` (so state written by the first release, always a dict, loads too). Rules
come from ``ctx.ruleset``; P/V settings default to the registry's station entry until the device
reports its own.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, MutableMapping
from typing import Any, TypeVar

from core.processing import Context, Processor
from core.ruleset import RuleSet
from fuel_vapor.events import (
    DepotReading,
    DeviceAlarm,
    Fuellings,
    SensorReading,
    StationReading,
)
from fuel_vapor.rules import (
    DepotRules,
    DepotTrack,
    NozzleRules,
    NozzleTrack,
    SensorRules,
    SensorTrack,
    StationRules,
    StationTrack,
)

Track = TypeVar("Track", NozzleTrack, StationTrack, SensorTrack, DepotTrack)


def _typed(stored: Any, cls: type[Track]) -> Track | None:
    """The state-store boundary: the stored value as ``cls`` (a dict from a Faust table or from
    the first release is read with ``from_dict``; the embedded store's object passes as it is)."""
    if stored is None or isinstance(stored, cls):
        return stored
    return cls.from_dict(stored)


@functools.lru_cache(maxsize=8)
def _nozzle_rules(rs: RuleSet) -> NozzleRules:
    return NozzleRules(rs)


@functools.lru_cache(maxsize=8)
def _station_rules(rs: RuleSet) -> StationRules:
    return StationRules(rs)


@functools.lru_cache(maxsize=8)
def _sensor_rules(rs: RuleSet) -> SensorRules:
    return SensorRules(rs)


@functools.lru_cache(maxsize=8)
def _depot_rules(rs: RuleSet) -> DepotRules:
    return DepotRules(rs)


def handle_nozzle(event: Any, state: MutableMapping[str, Any], ctx: Context) -> Iterable[Any]:
    """A packet's fuellings row by row, or a nozzle's device flag. The events are keyed by the
    station (their device), the state by the nozzle (``station:Nnn``): every event that touches
    a nozzle's state carries its station's key, so the state stays on one partition."""
    rules = _nozzle_rules(ctx.ruleset)
    if isinstance(event, Fuellings):
        out: list[Any] = []
        for i, nozzle in enumerate(event.nozzle):
            key = event.nozzle_key(i)
            st = _typed(state.get(key), NozzleTrack) or NozzleTrack(
                event.station_id, nozzle, event.jurisdiction, event.mn
            )
            out += rules.on_fuellings(st, event, i)
            state[key] = st
        return out
    if not isinstance(event, DeviceAlarm) or event.nozzle == 0:
        return []  # station-level flags belong to the station processor
    key = event.nozzle_key
    st = _typed(state.get(key), NozzleTrack) or NozzleTrack(
        event.station_id, event.nozzle, event.jurisdiction, event.mn
    )
    out = rules.on_device_alarm(st, event)
    state[key] = st
    return out


def handle_station(event: Any, state: MutableMapping[str, Any], ctx: Context) -> Iterable[Any]:
    if isinstance(event, DeviceAlarm) and event.nozzle != 0:
        return []
    if not isinstance(event, StationReading | DeviceAlarm):
        return []
    rules = _station_rules(ctx.ruleset)
    st = _typed(state.get(event.key), StationTrack)
    if st is None:
        reg = ctx.registry.station(event.station_id)
        pv = rules.r_pv
        pos = reg.pv_positive_pa if reg else float(pv.param("default_pv_positive_pa"))
        neg = reg.pv_negative_pa if reg else float(pv.param("default_pv_negative_pa"))
        st = StationTrack(event.station_id, event.jurisdiction, event.mn, (pos, neg))
    out = (
        rules.on_reading(st, event)
        if isinstance(event, StationReading)
        else rules.on_device_alarm(st, event)
    )
    state[event.key] = st
    return out


def handle_sensor(event: Any, state: MutableMapping[str, Any], ctx: Context) -> Iterable[Any]:
    if not isinstance(event, SensorReading):
        return []
    rules = _sensor_rules(ctx.ruleset)
    st = _typed(state.get(event.key), SensorTrack) or SensorTrack(
        event.sensor_id, event.sensor_kind, event.jurisdiction, event.mn
    )
    out = rules.on_reading(st, event)
    state[event.key] = st
    return out


def handle_depot(event: Any, state: MutableMapping[str, Any], ctx: Context) -> Iterable[Any]:
    if not isinstance(event, DepotReading):
        return []
    rules = _depot_rules(ctx.ruleset)
    st = _typed(state.get(event.key), DepotTrack) or DepotTrack(
        event.depot_id, event.jurisdiction, event.mn
    )
    out = rules.on_reading(st, event)
    state[event.key] = st
    return out


PROCESSORS: list[Processor] = [
    Processor("vapor.nozzle", (Fuellings.KIND, DeviceAlarm.KIND), handle_nozzle),
    Processor("vapor.station", (StationReading.KIND, DeviceAlarm.KIND), handle_station),
    Processor("vapor.sensor", (SensorReading.KIND,), handle_sensor),
    Processor("vapor.depot", (DepotReading.KIND,), handle_depot),
]

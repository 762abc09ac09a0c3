"""The catalogue of event types, topics, tables, processors and embedded services.

Everything is discovered from the module lists below, so adding a source means adding its module
names here once. Topic = ``emw.<KIND>``; table = KIND with dots as underscores.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
from dataclasses import dataclass
from typing import Any

from core.processing import Processor

EVENT_MODULES = (
    "core.exceedance",
    "enforcement.events",
    "remote_sensing.events",
    "smoke_capture.events",
    "obd_gateway.events",
    "fuel_vapor.events",
)
PROCESSOR_MODULES = (
    "remote_sensing.processors",
    "smoke_capture.processors",
    "obd_gateway.processors",
    "fuel_vapor.processors",
    "enforcement.processors",
)
EMBEDDED_MODULES = (
    "obd_gateway.embedded",
    "fuel_vapor.embedded",
    "remote_sensing.embedded",
    "smoke_capture.embedded",
)
DEFAULT_PARTITIONS = 6
PARTITIONS: dict[str, int] = {  # explicit partition counts per busy topic
    "obd.sample": 12,
    "obd.frame": 12,
    "obd.info": 12,  # same count as obd.sample: both feed obd.analytics (no repartition hop)
    "obd.status": 12,
    "vapor.device_alarm": 12,  # same count as vapor.fuelling: both feed vapor.nozzle
    "vapor.fuelling": 12,
    "rsd.pass": 6,
}


@dataclass(frozen=True, slots=True)
class EventType:
    kind: str
    cls: type
    topic: str
    table: str
    partitions: int


def topic_of(kind: str) -> str:
    return f"emw.{kind}"


def table_of(kind: str) -> str:
    return kind.replace(".", "_")


def _import_optional(name: str) -> Any | None:
    """Import a module that a source package may not have yet; real import errors propagate."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return None
        raise


@functools.cache
def event_types() -> dict[str, EventType]:
    out: dict[str, EventType] = {}
    for modname in EVENT_MODULES:
        mod = _import_optional(modname)
        if mod is None:
            continue
        for obj in vars(mod).values():
            if (
                isinstance(obj, type)
                and dataclasses.is_dataclass(obj)
                and isinstance(getattr(obj, "KIND", None), str)
                and obj.__module__ == modname
            ):
                kind = obj.KIND
                if kind in out and out[kind].cls is not obj:
                    raise RuntimeError(f"event kind {kind} defined twice")
                out[kind] = EventType(
                    kind,
                    obj,
                    topic_of(kind),
                    table_of(kind),
                    PARTITIONS.get(kind, DEFAULT_PARTITIONS),
                )
    return out


def classes_by_kind() -> dict[str, type]:
    return {k: et.cls for k, et in event_types().items()}


@functools.cache
def processors() -> tuple[Processor, ...]:
    out: list[Processor] = []
    for modname in PROCESSOR_MODULES:
        mod = _import_optional(modname)
        if mod is not None:
            out.extend(getattr(mod, "PROCESSORS", ()))
    return tuple(out)


def embedded_modules() -> list[Any]:
    mods = []
    for modname in EMBEDDED_MODULES:
        mod = _import_optional(modname)
        if mod is not None:
            mods.append(mod)
    return mods

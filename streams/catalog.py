"""The catalogue of event types, topics, tables, processors, embedded services and commands.

Everything comes from :data:`PLUGINS`, the one list of what each package plugs in (its
``plugin.py``: events, processors, embedded service, command module, each imported directly). A
package's plugin that is missing here is not wired; a part that cannot be imported raises
``core.plugin.PluginError`` (an ``ImportError``) naming the plugin and the part, at start-up
(``load_all`` in ``Pipeline.start``) and in ``tests/unit/test_catalog.py``, never skipped.
Topic = ``emw.<KIND>``; table = KIND with dots as underscores.

Importing this module imports only the plugin declarations (standard library and ``core.plugin``):
``emwatch`` builds its parser from it without loading processors or servers.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

from core.plugin import PLUGIN as CORE
from core.plugin import Part, Plugin
from enforcement.plugin import PLUGIN as ENFORCEMENT
from fuel_vapor.plugin import PLUGIN as FUEL_VAPOR
from obd_gateway.plugin import PLUGIN as OBD_GATEWAY
from remote_sensing.plugin import PLUGIN as REMOTE_SENSING
from smoke_capture.plugin import PLUGIN as SMOKE_CAPTURE

if TYPE_CHECKING:
    from core.processing import Processor


def _deadletter_cli() -> ModuleType:
    from streams import deadletter_cli

    return deadletter_cli


def _report_cli() -> ModuleType:
    from streams.report import cli

    return cli


def _seed_cli() -> ModuleType:
    from streams import seed_cli

    return seed_cli


def _auth_cli() -> ModuleType:
    from streams.auth import cli

    return cli


# the platform's own command modules, one plugin each (a plugin has one module per part)
STREAMS = (
    Plugin("streams.deadletter", cli=_deadletter_cli),
    Plugin("streams.report", cli=_report_cli),
    Plugin("streams.seed", cli=_seed_cli),
    Plugin("streams.auth", cli=_auth_cli),
)

PLUGINS: tuple[Plugin, ...] = (
    CORE,
    OBD_GATEWAY,
    FUEL_VAPOR,
    REMOTE_SENSING,
    SMOKE_CAPTURE,
    ENFORCEMENT,  # after the sources: its processors consume what theirs return
    *STREAMS,
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


def plugin(name: str) -> Plugin:
    """The plugin of package ``name`` (KeyError naming the known ones)."""
    for p in PLUGINS:
        if p.name == name:
            return p
    raise KeyError(f"no plugin {name!r} (plugins: {', '.join(p.name for p in PLUGINS)})")


def modules(part: Part) -> list[ModuleType]:
    """The ``part`` module of every plugin that declares one, in :data:`PLUGINS` order."""
    return [m for p in PLUGINS if (m := p.load(part)) is not None]


def load_all() -> dict[str, dict[str, ModuleType]]:
    """Import and check every part of every plugin (start-up): ``{plugin: {part: module}}``."""
    out: dict[str, dict[str, ModuleType]] = {}
    for p in PLUGINS:
        out[p.name] = {part: m for part in p.parts() if (m := p.load(part)) is not None}
    event_types()
    processors()
    return out


@functools.cache
def event_types() -> dict[str, EventType]:
    out: dict[str, EventType] = {}
    for mod in modules("events"):
        # a columnar batch class (``ROW``: its row dataclass) is the event type of its kind
        rows = {getattr(o, "ROW", None) for o in vars(mod).values() if isinstance(o, type)}
        for obj in vars(mod).values():
            kind = getattr(obj, "KIND", None)
            if (
                isinstance(obj, type)
                and (dataclasses.is_dataclass(obj) or isinstance(getattr(obj, "ROW", None), type))
                and obj not in rows
                and isinstance(kind, str)
                and obj.__module__ == mod.__name__
            ):
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
    for mod in modules("processors"):
        out.extend(mod.PROCESSORS)
    return tuple(out)


def embedded_modules() -> list[ModuleType]:
    return modules("embedded")


def command_modules() -> list[ModuleType]:
    return modules("cli")

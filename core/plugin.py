"""What a package plugs into the platform, declared once in ``<package>/plugin.py``.

A :class:`Plugin` names up to four parts of its package: the events module (event types and
``examples()``), the processors module (``PROCESSORS``), the embedded service (``start(ctx)``) and
the command module (``register(groups)``). Each part is a function that imports its module
directly (``from obd_gateway import events``), never a module-name string, so:

* a renamed or missing module is an ``ImportError`` where the plugin names it; ruff, mypy and
  import-linter see the import; nothing is skipped silently;
* a part is imported only when asked for, so ``emwatch decode`` loads command modules without
  loading processors or servers (start-up stays light: ``tests/unit/test_cli_start.py``).

``streams.catalog.PLUGINS`` is the one list of plugins; ``streams.catalog.load_all()`` imports and
checks every part at start-up (``Pipeline.start``), and ``tests/unit/test_catalog.py`` in tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Literal

Part = Literal["events", "processors", "embedded", "cli"]
PARTS: tuple[Part, ...] = ("events", "processors", "embedded", "cli")
Loader = Callable[[], ModuleType]

# what each part's module must offer (checked on load, so a half-renamed module fails too)
_REQUIRED: dict[Part, str] = {
    "events": "examples",
    "processors": "PROCESSORS",
    "embedded": "start",
    "cli": "register",
}


class PluginError(ImportError):
    """A declared part cannot be imported or lacks what its role needs: our bug, raised loudly."""


@dataclass(frozen=True, slots=True)
class Plugin:
    name: str  # the package, e.g. "obd_gateway"
    events: Loader | None = None
    processors: Loader | None = None
    embedded: Loader | None = None
    cli: Loader | None = None

    def parts(self) -> tuple[Part, ...]:
        """The parts this plugin declares."""
        return tuple(p for p in PARTS if getattr(self, p) is not None)

    def load(self, part: Part) -> ModuleType | None:
        """The module of ``part`` (``None`` when the plugin declares none); raises
        :class:`PluginError` naming the plugin and the part when it cannot be imported or lacks
        its entry point."""
        loader: Loader | None = getattr(self, part)
        if loader is None:
            return None
        try:
            mod = loader()
        except ImportError as exc:
            raise PluginError(
                f"plugin {self.name!r}: its {part} module cannot be imported: {exc}",
                name=self.name,
            ) from exc
        need = _REQUIRED[part]
        if not hasattr(mod, need):
            raise PluginError(
                f"plugin {self.name!r}: its {part} module {mod.__name__} has no {need}",
                name=self.name,
            )
        return mod


def _events() -> ModuleType:
    from core import exceedance

    return exceedance


PLUGIN = Plugin("core", events=_events)
"""The kernel's own part: the exceedance event every source emits."""

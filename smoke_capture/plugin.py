"""What ``smoke_capture`` plugs into the platform (listed in ``streams.catalog.PLUGINS``)."""

from __future__ import annotations

from types import ModuleType

from core.plugin import Plugin


def _events() -> ModuleType:
    from smoke_capture import events

    return events


def _processors() -> ModuleType:
    from smoke_capture import processors

    return processors


def _embedded() -> ModuleType:
    from smoke_capture import embedded

    return embedded


def _cli() -> ModuleType:
    from smoke_capture import cli

    return cli


PLUGIN = Plugin(
    "smoke_capture", events=_events, processors=_processors, embedded=_embedded, cli=_cli
)

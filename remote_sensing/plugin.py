"""What ``remote_sensing`` plugs into the platform (listed in ``streams.catalog.PLUGINS``)."""

from __future__ import annotations

from types import ModuleType

from core.plugin import Plugin


def _events() -> ModuleType:
    from remote_sensing import events

    return events


def _processors() -> ModuleType:
    from remote_sensing import processors

    return processors


def _embedded() -> ModuleType:
    from remote_sensing import embedded

    return embedded


def _cli() -> ModuleType:
    from remote_sensing import cli

    return cli


PLUGIN = Plugin(
    "remote_sensing", events=_events, processors=_processors, embedded=_embedded, cli=_cli
)

"""What ``enforcement`` plugs into the platform (listed in ``streams.catalog.PLUGINS``)."""

from __future__ import annotations

from types import ModuleType

from core.plugin import Plugin


def _events() -> ModuleType:
    from enforcement import events

    return events


def _processors() -> ModuleType:
    from enforcement import processors

    return processors


def _cli() -> ModuleType:
    from enforcement import cli

    return cli


PLUGIN = Plugin("enforcement", events=_events, processors=_processors, cli=_cli)

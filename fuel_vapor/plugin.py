"""What ``fuel_vapor`` plugs into the platform (listed in ``streams.catalog.PLUGINS``)."""

from __future__ import annotations

from types import ModuleType

from core.plugin import Plugin


def _events() -> ModuleType:
    from fuel_vapor import events

    return events


def _processors() -> ModuleType:
    from fuel_vapor import processors

    return processors


def _embedded() -> ModuleType:
    from fuel_vapor import embedded

    return embedded


def _cli() -> ModuleType:
    from fuel_vapor import cli

    return cli


PLUGIN = Plugin("fuel_vapor", events=_events, processors=_processors, embedded=_embedded, cli=_cli)

"""What ``obd_gateway`` plugs into the platform (listed in ``streams.catalog.PLUGINS``)."""

from __future__ import annotations

from types import ModuleType

from core.plugin import Plugin


def _events() -> ModuleType:
    from obd_gateway import events

    return events


def _processors() -> ModuleType:
    from obd_gateway import processors

    return processors


def _embedded() -> ModuleType:
    from obd_gateway import embedded

    return embedded


def _cli() -> ModuleType:
    from obd_gateway import cli

    return cli


PLUGIN = Plugin("obd_gateway", events=_events, processors=_processors, embedded=_embedded, cli=_cli)

"""Imports that only chart pages need (Altair, about half a second of CPU), done once per process
in a background thread when the entry script first runs: the login form is on screen meanwhile, so
neither the officer's start page nor the first chart page waits for them. Pages still import what
they use; this only makes the first such import find the module loaded."""

from __future__ import annotations

import contextlib
import functools
import importlib
import threading

MODULES = ("altair",)


@functools.cache
def start() -> None:
    """Start the background import (once per process; later calls do nothing)."""
    threading.Thread(target=_load, name="emw-warm-up", daemon=True).start()


def _load() -> None:
    for name in MODULES:
        with contextlib.suppress(Exception):  # a page that needs it reports a failed import itself
            importlib.import_module(name)

"""Named, parameterised queries: the only SQL the dashboards and reports use.

One module per domain (``platform``, ``obd``, ``vapor``, ``rsd``, ``smoke``, ``enforcement``); each function takes a
client first and returns a pandas DataFrame (possibly empty and column-less: callers must handle
"no data yet"). Tables written by the sink are ReplacingMergeTree: read them with ``FINAL`` so that
replayed events count once.
"""

from __future__ import annotations

import importlib
from types import ModuleType

DOMAIN_MODULES = ("platform", "obd", "vapor", "rsd", "smoke", "enforcement", "audit")


def domain(name: str) -> ModuleType | None:
    """The query module of a domain, or None if that domain has none yet."""
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"{__name__}.{name}":
            return None
        raise

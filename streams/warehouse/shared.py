"""Process-wide handle on the warehouse reader client.

In the embedded mode the runner owns the only chDB handle of the data directory and registers a
reader client here; dashboards fetch it from this plain module (never by importing the runner).
In production nothing is registered and readers connect to the ClickHouse server from settings.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_reader: Any | None = None


def set_reader(client: Any | None) -> None:
    global _reader
    with _lock:
        _reader = client


def reader() -> Any | None:
    return _reader

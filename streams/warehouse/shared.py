"""Process-wide handle on the warehouse reader client.

In the embedded mode the runner owns the only chDB handle of the data directory and registers a
reader client here; dashboards fetch it from this plain module (never by importing the runner).
In production nothing is registered and readers connect to the ClickHouse server from settings.

The runner also registers a *publisher*: a blocking ``publish(events)`` that hands events to the
running pipeline's bus (so processors see them, as if a device had sent them). Pages use it for
the few writes they make (a smoke review) until the case API serves those writes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

_lock = threading.Lock()
_reader: Any | None = None
_publisher: Callable[[Sequence[Any]], None] | None = None


def set_reader(client: Any | None) -> None:
    global _reader
    with _lock:
        _reader = client


def reader() -> Any | None:
    return _reader


def set_publisher(publish: Callable[[Sequence[Any]], None] | None) -> None:
    global _publisher
    with _lock:
        _publisher = publish


def publisher() -> Callable[[Sequence[Any]], None] | None:
    return _publisher

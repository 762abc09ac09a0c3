"""Conventions shared by every event dataclass (see docs/CONTRACTS.md)."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from enum import Enum
from typing import ClassVar, Protocol

from core.errors import ValidationError


class Event(Protocol):
    """What every event dataclass provides (docs/CONTRACTS.md): its kind, its id and its key.

    The bus, the serialiser, the sink and the processors are typed against this, not ``Any``.
    """

    KIND: ClassVar[str]

    @property
    def event_id(self) -> str: ...

    @property
    def key(self) -> str: ...


def _part(value: object) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("deterministic_id: naive datetime")
        return f"{value.timestamp():.6f}"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, float):
        return repr(round(value, 9))
    return str(value)


def deterministic_id(kind: str, *parts: object) -> str:
    """A stable 32-hex-digit id for a fact: the same inputs always give the same id.

    Built from the event kind and the fields that identify the fact (device, subject, event time,
    sequence), never from ingest time, so a re-sent or replayed event is stored once.
    """
    h = hashlib.blake2b(digest_size=16)
    h.update(kind.encode())
    for p in parts:
        h.update(b"\x1f")
        h.update(_part(p).encode())
    return h.hexdigest()


def require_range(
    field: str, value: float | None, lo: float | None, hi: float | None, unit: str = ""
) -> None:
    """Raise ``ValidationError`` naming field, unit and range when ``value`` is outside [lo, hi]."""
    if value is None:
        return
    if value != value:  # NaN
        raise ValidationError(field, value, "a number, not NaN", unit)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        lo_t = "-inf" if lo is None else f"{lo:g}"
        hi_t = "+inf" if hi is None else f"{hi:g}"
        raise ValidationError(field, value, f"in [{lo_t}, {hi_t}]", unit)


def require_aware(field: str, ts: datetime) -> None:
    if not isinstance(ts, datetime) or ts.tzinfo is None:
        raise ValidationError(field, ts, "a timezone-aware datetime")

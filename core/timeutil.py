"""Time helpers: devices speak Beijing time (GMT+8), the warehouse stores UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

BEIJING = timezone(timedelta(hours=8), "GMT+8")


def to_utc(ts: datetime) -> datetime:
    """Return ``ts`` as an aware UTC datetime; naive input is refused (it hides a bug)."""
    if ts.tzinfo is None:
        raise ValueError(f"naive datetime {ts.isoformat()} has no timezone")
    return ts.astimezone(UTC)


def beijing(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    """A Beijing-time instant (what devices put in their frames)."""
    return datetime(year, month, day, hour, minute, second, tzinfo=BEIJING)


def utcnow() -> datetime:
    """The only wall-clock read helper; pure code takes ``now`` as an argument instead."""
    return datetime.now(UTC)

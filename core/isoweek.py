"""ISO weeks in Beijing time: the reporting period of the weekly report.

A week is Monday 00:00 to the next Monday 00:00, Beijing time (GMT+8), whatever the server's clock
zone; ``bounds_utc`` gives the half-open [start, end) interval as UTC instants for the warehouse.
Pure: the current time is always passed in (``last_full(now)``), never read here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from core.errors import EmwError
from core.timeutil import BEIJING

_WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")


class WeekError(EmwError):
    """A week the user typed is malformed, does not exist, or has not ended yet."""


@dataclass(frozen=True, slots=True, order=True)
class IsoWeek:
    year: int
    week: int

    def __post_init__(self) -> None:
        try:
            date.fromisocalendar(self.year, self.week, 1)
        except ValueError:
            raise WeekError(
                f"week {self.year}-W{self.week:02d} does not exist (ISO weeks of {self.year}: "
                f"1–{_weeks_in(self.year)})"
            ) from None

    @classmethod
    def parse(cls, text: str) -> IsoWeek:
        """``2026-W49`` → IsoWeek(2026, 49); anything else raises ``WeekError`` saying the form."""
        m = _WEEK_RE.match(text.strip())
        if not m:
            raise WeekError(f"malformed week {text!r}: expected YYYY-Www, e.g. 2026-W49")
        return cls(int(m.group(1)), int(m.group(2)))

    @classmethod
    def of(cls, day: date) -> IsoWeek:
        y, w, _ = day.isocalendar()
        return cls(y, w)

    @classmethod
    def last_full(cls, now: datetime) -> IsoWeek:
        """The last ISO week that has ended at ``now`` (Beijing time)."""
        today = now.astimezone(BEIJING).date()
        return cls.of(today - timedelta(days=7))

    def __str__(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)

    def days(self) -> list[date]:
        return [self.monday + timedelta(days=i) for i in range(7)]

    @property
    def start(self) -> datetime:
        """Monday 00:00 Beijing time (aware)."""
        m = self.monday
        return datetime(m.year, m.month, m.day, tzinfo=BEIJING)

    @property
    def end(self) -> datetime:
        """The next Monday 00:00 Beijing time (exclusive end)."""
        return self.start + timedelta(days=7)

    def bounds_utc(self) -> tuple[datetime, datetime]:
        return self.start.astimezone(UTC), self.end.astimezone(UTC)

    def previous(self, n: int = 1) -> IsoWeek:
        return IsoWeek.of(self.monday - timedelta(days=7 * n))

    def next(self) -> IsoWeek:
        return IsoWeek.of(self.monday + timedelta(days=7))

    def has_ended(self, now: datetime) -> bool:
        return now.astimezone(BEIJING) >= self.end

    def label_zh(self) -> str:
        """``2026年第49周（12月1日—12月7日）``."""
        a, b = self.monday, self.sunday
        return f"{self.year}年第{self.week}周（{a.month}月{a.day}日—{b.month}月{b.day}日）"


def _weeks_in(year: int) -> int:
    return date(year, 12, 28).isocalendar()[1]


def check_reportable(week: IsoWeek, now: datetime) -> None:
    """Refuse a week that has not ended yet at ``now`` (a report of an unfinished week would change)."""
    if not week.has_ended(now):
        raise WeekError(
            f"week {week} has not ended yet (it ends {week.end:%Y-%m-%d %H:%M} Beijing time); "
            f"the last full week is {IsoWeek.last_full(now)}"
        )

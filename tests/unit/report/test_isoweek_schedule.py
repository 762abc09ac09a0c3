"""ISO weeks in Beijing time, and when the scheduler decides a weekly report is due."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from core.isoweek import IsoWeek, WeekError, check_reportable
from core.timeutil import BEIJING
from streams.report.generate import list_reports, parse_formats
from streams.report.schedule import LEVELS, due


def test_parse_and_bounds_are_beijing_weeks() -> None:
    w = IsoWeek.parse("2026-W49")
    assert (w.monday, w.sunday) == (date(2026, 11, 30), date(2026, 12, 6))
    since, until = w.bounds_utc()
    assert since == datetime(2026, 11, 29, 16, 0, tzinfo=UTC)  # Monday 00:00 GMT+8
    assert until == datetime(2026, 12, 6, 16, 0, tzinfo=UTC)
    assert str(w.previous()) == "2026-W48" and str(w.next()) == "2026-W50"
    assert str(IsoWeek(2027, 1).previous()) == "2026-W53"  # 2026 has 53 ISO weeks
    assert w.label_zh() == "2026年第49周（11月30日—12月6日）"


@pytest.mark.parametrize("bad", ["2026-49", "2026W49", "26-W49", "2026-W4", "", "2026-W49x"])
def test_malformed_weeks_are_refused(bad: str) -> None:
    with pytest.raises(WeekError, match="malformed week"):
        IsoWeek.parse(bad)


def test_a_week_that_does_not_exist_is_refused() -> None:
    with pytest.raises(WeekError, match="does not exist"):
        IsoWeek.parse("2025-W53")


def test_last_full_week_turns_at_beijing_midnight() -> None:
    # Sunday 23:59 Beijing = Sunday 15:59 UTC: the week of that Sunday is not over yet
    assert str(IsoWeek.last_full(datetime(2026, 12, 6, 15, 59, tzinfo=UTC))) == "2026-W48"
    # Monday 00:00 Beijing = Sunday 16:00 UTC: it is
    assert str(IsoWeek.last_full(datetime(2026, 12, 6, 16, 0, tzinfo=UTC))) == "2026-W49"


def test_future_and_current_weeks_are_not_reportable() -> None:
    now = datetime(2026, 12, 3, 12, 0, tzinfo=BEIJING)
    with pytest.raises(WeekError, match="has not ended"):
        check_reportable(IsoWeek(2026, 49), now)
    with pytest.raises(WeekError, match="has not ended"):
        check_reportable(IsoWeek(2027, 10), now)
    check_reportable(IsoWeek(2026, 48), now)


def test_formats() -> None:
    assert parse_formats("pdf, html,pdf") == ("pdf", "html")
    with pytest.raises(Exception, match="unknown format docx"):
        parse_formats("html,docx")


def test_due_on_monday_morning_beijing_time() -> None:
    sunday_night = datetime(2026, 12, 6, 23, 0, tzinfo=BEIJING)
    assert {str(w) for w, _ in due(sunday_night, set())} == {"2026-W48"}
    monday_early = datetime(2026, 12, 7, 5, 59, tzinfo=BEIJING)
    assert {str(w) for w, _ in due(monday_early, set())} == {"2026-W48"}
    monday = datetime(2026, 12, 7, 6, 0, tzinfo=BEIJING)
    got = due(monday, set())
    assert {str(w) for w, _ in got} == {"2026-W49"} and [lv for _, lv in got] == list(LEVELS)
    done = {("2026-W49", lv) for lv in LEVELS if lv != "jiashan"}
    assert [(str(w), lv) for w, lv in due(monday, done)] == [("2026-W49", "jiashan")]


def test_list_reports_groups_formats(tmp_path) -> None:
    for name in (
        "weekly-2026-W49-zone.pdf",
        "weekly-2026-W49-zone.html",
        "weekly-2026-W48-qingpu.xlsx",
        "notes.txt",
    ):
        (tmp_path / name).write_bytes(b"x")
    got = list_reports(tmp_path)
    assert [(e["week"], e["level"], sorted(e["files"])) for e in got] == [
        ("2026-W49", "zone", ["html", "pdf"]),
        ("2026-W48", "qingpu", ["xlsx"]),
    ]

"""The scheduler writes last week's reports once, for the zone and each jurisdiction, and keeps them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from core.timeutil import BEIJING
from streams.report.schedule import LEVELS, run_once

pytestmark = pytest.mark.component


def test_monday_run_writes_every_level_once(warehouse, registry, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    old = reports / "weekly-2026-W40-zone.pdf"
    old.write_bytes(b"%PDF past report")
    monday = datetime(2026, 12, 7, 6, 30, tzinfo=BEIJING)
    written = run_once(warehouse, registry, reports, monday)
    assert sorted(p.name for p in written if p.parent == reports) == sorted(
        f"weekly-2026-W49-{lv}.{f}" for lv in LEVELS for f in ("html", "pdf", "xlsx")
    )
    # the week's partner exports come with the zone report, recorded as the scheduler's
    exports = sorted(p.name for p in written if p.parent == tmp_path / "exports")
    assert exports == sorted(
        f"{k}-zone-20261130-20261206.{f}" for k in ("referrals", "credit") for f in ("csv", "json")
    )
    log = warehouse.query_df("SELECT DISTINCT user FROM export_log")
    assert log["user"].tolist() == ["scheduler"]
    assert run_once(warehouse, registry, reports, monday.replace(hour=9)) == []  # done already
    assert old.read_bytes() == b"%PDF past report"  # past reports are kept

"""The scheduler writes last week's reports once, for the zone and each jurisdiction, and keeps them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from core.timeutil import BEIJING
from streams.report.schedule import LEVELS, run_once

pytestmark = pytest.mark.component


def test_monday_run_writes_every_level_once(warehouse, registry, tmp_path: Path) -> None:
    old = tmp_path / "weekly-2026-W40-zone.pdf"
    tmp_path.mkdir(exist_ok=True)
    old.write_bytes(b"%PDF past report")
    monday = datetime(2026, 12, 7, 6, 30, tzinfo=BEIJING)
    written = run_once(warehouse, registry, tmp_path, monday)
    assert sorted(p.name for p in written) == sorted(
        f"weekly-2026-W49-{lv}.{f}" for lv in LEVELS for f in ("html", "pdf", "xlsx")
    )
    assert run_once(warehouse, registry, tmp_path, monday.replace(hour=9)) == []  # done already
    assert old.read_bytes() == b"%PDF past report"  # past reports are kept

"""Watched-folder intake: files move to done/failed, images to images/<day>, error reports."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from core.timeutil import beijing
from remote_sensing.intake import FolderIntake, Intake

pytestmark = pytest.mark.component

NOW = beijing(2026, 11, 23, 12, 0, 0)
DAY = "20261123"


class Pub:
    def __init__(self) -> None:
        self.events: list[Any] = []

    async def __call__(self, events: Any) -> None:
        self.events.extend(events)


def row(rid: str, **over: Any) -> dict[str, Any]:
    r = {
        "jlbh": rid,
        "dwbh": "RSD-JS-01",
        "jcrq": "2026-11-23 09:00:00",
        "hphm": "浙F12345",
        "cpys": "1",
        "hpzl": "01",
        "sbzxd": "92",
        "rlzl": "B",
        "co2jg": "14.1",
        "coco2": "0.002",
        "hcco2": "5",
        "noco2": "60",
        "btgdjg": "12",
        "lgmhd": "0",
        "clsd": "38",
        "cljsd": "0.1",
        "tp1": f"{rid}_plate.jpg",
        "tp2": f"{rid}_scene.jpg",
    }
    r.update(over)
    return r


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


@pytest.fixture
def folder(registry: Any, ruleset: Any, tmp_path: Path) -> tuple[FolderIntake, Pub]:
    pub = Pub()
    intake = Intake(registry=registry, ruleset=ruleset, publish=pub, now=lambda: NOW)
    return FolderIntake(intake, tmp_path / "drop", profile="national"), pub


async def test_good_file_goes_to_done_with_images(folder: Any) -> None:
    fi, pub = folder
    inbox = fi.root / "inbox"
    write_csv(inbox / "batch1.csv", [row("F1"), row("F2")])
    for rid in ("F1", "F2"):
        (inbox / f"{rid}_plate.jpg").write_bytes(b"\xff\xd8jpeg")
        (inbox / f"{rid}_scene.jpg").write_bytes(b"\xff\xd8jpeg")
    assert await fi.poll_once() == []  # first sight: wait until the size is stable
    assert await fi.poll_once() == [("batch1.csv", "done")]
    assert (fi.root / "done" / DAY / "batch1.csv").is_file()
    assert (fi.root / "images" / DAY / "F1_plate.jpg").is_file()
    assert list(inbox.iterdir()) == []
    f1 = next(e for e in pub.events if e.record_id == "F1")
    assert f1.images == (f"file:images/{DAY}/F1_plate.jpg", f"file:images/{DAY}/F1_scene.jpg")
    assert f1.opacity_pct == 12.0 and f1.fuel == "diesel"


async def test_file_with_bad_record_goes_to_failed_with_report(folder: Any) -> None:
    fi, pub = folder
    write_csv(
        fi.root / "inbox" / "b2.csv", [row("G1"), row("G2", clsd="-3"), row("G3", dwbh="NOPE")]
    )
    assert await fi.poll_once(require_stable=False) == [("b2.csv", "failed")]
    report = json.loads(
        (fi.root / "failed" / DAY / "b2.csv.errors.json").read_text(encoding="utf-8")
    )
    assert report["accepted"] == 1 and report["rejected"] == 2
    assert {r["error"] for r in report["results"] if r["status"] == "rejected"} == {
        "out_of_range",
        "unknown_site",
    }
    assert [e.record_id for e in pub.events] == ["G1"]


async def test_unreadable_file_and_redrop(folder: Any) -> None:
    fi, pub = folder
    (fi.root / "inbox" / "junk.json").write_text("{oops", encoding="utf-8")
    assert await fi.poll_once(require_stable=False) == [("junk.json", "failed")]
    assert "not valid JSON" in (fi.root / "failed" / DAY / "junk.json.errors.json").read_text()
    # the same data dropped twice: second time all duplicates, still "done", nothing re-published
    write_csv(fi.root / "inbox" / "b3.csv", [row("H1")])
    await fi.poll_once(require_stable=False)
    write_csv(fi.root / "inbox" / "b3.csv", [row("H1")])
    assert await fi.poll_once(require_stable=False) == [("b3.csv", "done")]
    assert [e.record_id for e in pub.events] == ["H1"]
    assert len(list((fi.root / "done" / DAY).glob("b3*.csv"))) == 2

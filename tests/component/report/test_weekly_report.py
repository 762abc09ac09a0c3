"""The weekly report's numbers against counts computed here, in plain Python, from the events this
test seeds (never from the report's SQL); the three renderers; the no-data week; the CLI's bad input.

Seeded: two ISO weeks (2026-W48, W49) of exceedances from every source in every jurisdiction, with
vehicles seen in several jurisdictions and OBD VINs that join to their plates, rows just outside the
week's Beijing-time bounds, and re-sent duplicates (same event id) that must count once; nozzle and
station states; OBD samples of registered vehicles; RSD passes, camera captures, station packets.
"""

from __future__ import annotations

import io
import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.isoweek import IsoWeek
from core.timeutil import BEIJING
from streams.report.generate import FORMATS, write_report
from streams.report.model import collect
from streams.warehouse.queries.report import ZONE_SCOPE, Scope
from streams.warehouse.scope import OutOfScope, ScopeRequired

pytestmark = pytest.mark.component

W = IsoWeek(2026, 49)
P = W.previous()
NOW = datetime(2026, 12, 14, 3, 0, tzinfo=UTC)
JURS = ("qingpu", "wujiang", "jiashan")
SOURCES = ("remote_sensing", "smoke_capture", "obd_gateway", "fuel_vapor")
RULES = {
    "remote_sensing": ("RS-D-NO", "RS-G-CO", "RS-REPEAT"),
    "smoke_capture": ("BS-SCREEN",),
    "obd_gateway": ("OBD-SCR", "OBD-OFFLINE"),
    "fuel_vapor": ("FV-AL-DAY", "FV-ZP"),
}
SEVERITIES = ("info", "notice", "warning", "alarm")
EXC_COLS = [
    "event_id",
    "ts",
    "source",
    "subject_kind",
    "subject_id",
    "jurisdiction",
    "device_id",
    "rule_id",
    "ruleset_version",
    "severity",
    "unit",
    "provisional",
    "detail_json",
]


def _bj(d: date, hour: int, minute: int = 0) -> datetime:
    return datetime(d.year, d.month, d.day, hour, minute, tzinfo=BEIJING)


def seed(client: Any, registry: Any, rng: random.Random) -> list[dict[str, Any]]:
    """Insert exceedances of W48, W49 and the edges around them; return the distinct events."""
    vins = [(v.vin, v.plate) for v in registry.obd_vehicles]
    # plates as sources write them (with and without the middle dot), plus unread plates
    plates = [f"沪A{n:05d}" for n in range(40)] + [f"沪A·{n:05d}" for n in range(5)]
    plates += [p for _, p in vins[:6]] + ["unread:RSD-QP-01:7", "camera:CAM-WJ-01:3"]
    events: list[dict[str, Any]] = []
    first, last = P.monday - timedelta(days=1), W.sunday + timedelta(days=1)
    day = first
    while day <= last:
        for _ in range(rng.randint(10, 25)):
            src = rng.choice(SOURCES)
            if src == "obd_gateway":
                subj_kind, subj = "vehicle", rng.choice(vins)[0]
            elif src == "fuel_vapor":
                subj_kind, subj = (
                    "nozzle",
                    f"{rng.choice(registry.stations).id}:{rng.randint(1, 4)}",
                )
            else:
                subj_kind, subj = "vehicle", rng.choice(plates)
            ts = _bj(day, rng.randint(0, 23), rng.randint(0, 59))
            events.append(
                {
                    "event_id": f"e{len(events)}",
                    "ts": ts,
                    "source": src,
                    "subject_kind": subj_kind,
                    "subject_id": subj,
                    "jurisdiction": rng.choice(JURS),
                    "device_id": "d",
                    "rule_id": rng.choice(RULES[src]),
                    "ruleset_version": "t",
                    "severity": rng.choice(SEVERITIES),
                    "unit": "",
                    "provisional": False,
                    "detail_json": "{}",
                }
            )
        day += timedelta(days=1)
    # the bounds of W49 in Beijing time: Monday 00:00 is in, next Monday 00:00 is out
    for i, ts in enumerate((_bj(W.monday, 0, 0), W.end - timedelta(milliseconds=1), W.end)):
        events.append(
            {
                **events[0],
                "event_id": f"edge{i}",
                "ts": ts,
                "jurisdiction": "wujiang",
                "source": "remote_sensing",
                "subject_kind": "vehicle",
                "subject_id": "苏E00001",
                "rule_id": "RS-D-NO",
            }
        )
    rows = [[e[c] for c in EXC_COLS] for e in events]
    client.insert(
        "exceedance", [[*r[:1], r[1].astimezone(UTC), *r[2:]] for r in rows], column_names=EXC_COLS
    )
    dup = rng.sample(rows, 30)  # re-sent copies: same event ids, must count once
    client.insert(
        "exceedance", [[*r[:1], r[1].astimezone(UTC), *r[2:]] for r in dup], column_names=EXC_COLS
    )
    return events


def expected(
    events: list[dict[str, Any]], week: IsoWeek, level: str, vin_to_plate: dict[str, str]
) -> dict[str, Any]:
    """Counts for one level, computed directly from the seeded events."""
    lo, hi = week.start, week.end
    inweek = [e for e in events if lo <= e["ts"] < hi]
    mine = [e for e in inweek if level == "zone" or e["jurisdiction"] == level]
    by_src: dict[str, int] = defaultdict(int)
    for e in mine:
        by_src[e["source"]] += 1
    veh_days: dict[str, set[date]] = defaultdict(set)
    veh_jurs: dict[str, set[str]] = defaultdict(set)
    for e in inweek:
        if e["subject_kind"] != "vehicle":
            continue
        sid = e["subject_id"]
        if sid.startswith(("unread:", "camera:")):
            continue  # an unread plate is an exceedance, not a vehicle
        plate = vin_to_plate.get(sid, sid.replace("·", ""))
        veh_jurs[plate].add(e["jurisdiction"])
        if level == "zone" or e["jurisdiction"] == level:
            veh_days[plate].add(e["ts"].astimezone(BEIJING).date())
    return {
        "exceedances": len(mine),
        "by_source": dict(by_src),
        "flagged": len(veh_days),
        "repeat": sum(len(d) >= 2 for d in veh_days.values()),
        "cross": sum(len(veh_jurs[p]) >= 2 for p in veh_days),
    }


@pytest.fixture
def seeded(warehouse: Any, registry: Any) -> tuple[Any, list[dict[str, Any]]]:
    rng = random.Random(20261207)
    events = seed(warehouse, registry, rng)
    return warehouse, events


def test_exceedance_and_vehicle_numbers_match_independent_counts(seeded, registry) -> None:
    client, events = seeded
    vin_to_plate = {v.vin: v.plate for v in registry.obd_vehicles}
    rep = collect(client, W, "zone", ZONE_SCOPE, registry, NOW)
    assert rep.has_data
    for level in ("zone", *JURS):
        for week, got in ((W, rep.metrics[level]), (P, rep.previous[level])):
            exp = expected(events, week, level, vin_to_plate)
            assert got.exceedances == exp["exceedances"], (level, week)
            assert {k: v for k, v in got.by_source.items() if v} == exp["by_source"], (level, week)
            assert got.vehicles_flagged == exp["flagged"], (level, week)
            assert got.repeat_offenders == exp["repeat"], (level, week)
            assert got.cross_offenders == exp["cross"], (level, week)
    # the summary table carries this week, last week and the change
    summary = rep.sections[0].tables[0]
    row = next(r for r in summary.rows if r[0] == "吴江区" and r[1] == "超标事件（条）")
    a, b = rep.metrics["wujiang"].exceedances, rep.previous["wujiang"].exceedances
    assert row[2:5] == (a, b, a - b)


def test_a_jurisdiction_report_counts_only_its_own(seeded, registry) -> None:
    client, events = seeded
    vin_to_plate = {v.vin: v.plate for v in registry.obd_vehicles}
    rep = collect(client, W, "jiashan", Scope("t", ("jiashan",)), registry, NOW)
    assert rep.levels == ("jiashan",)
    exp = expected(events, W, "jiashan", vin_to_plate)
    assert rep.metrics["jiashan"].exceedances == exp["exceedances"]
    # with a one-jurisdiction scope, "also flagged elsewhere" cannot look outside it
    assert rep.metrics["jiashan"].cross_offenders == 0


def test_scope_is_enforced(seeded, registry) -> None:
    client, _ = seeded
    with pytest.raises(OutOfScope):
        collect(client, W, "qingpu", Scope("t", ("jiashan",)), registry, NOW)
    with pytest.raises(OutOfScope):
        collect(client, W, "zone", Scope("t", ("jiashan",)), registry, NOW)
    with pytest.raises(ScopeRequired):
        collect(client, W, "zone", None, registry, NOW)


def test_stations_obd_and_device_health(warehouse, registry) -> None:
    st = [s for s in registry.stations if s.jurisdiction == "qingpu"][:3]
    nd_cols = [
        "event_id",
        "ts",
        "day",
        "station_id",
        "nozzle",
        "jurisdiction",
        "state",
        "streak",
        "level",
    ]
    rows = []
    # station 0: warning for the last three days; station 1: alarm; station 2: back to normal on Sunday
    for i, d in enumerate(W.days()):
        rows.append(
            [
                f"a{i}",
                W.start.astimezone(UTC),
                d,
                st[0].id,
                1,
                "qingpu",
                "exceed",
                max(0, i - 3),
                "warning" if i >= 4 else "normal",
            ]
        )
        rows.append(
            [f"b{i}", W.start.astimezone(UTC), d, st[1].id, 2, "qingpu", "exceed", i + 5, "alarm"]
        )
        rows.append(
            [
                f"c{i}",
                W.start.astimezone(UTC),
                d,
                st[2].id,
                1,
                "qingpu",
                "exceed",
                0 if i == 6 else 2,
                "normal" if i == 6 else "warning",
            ]
        )
    warehouse.insert("vapor_nozzle_day", rows, column_names=nd_cols)
    # OBD: 4 of qingpu's registered vehicles online on some days of W49, 2 in W48
    qp = [v for v in registry.obd_vehicles if v.jurisdiction == "qingpu"]
    samples = []
    for k, v in enumerate(qp[:4]):
        for d in W.days()[: k + 1]:
            samples.append([f"s{k}{d}", _bj(d, 10).astimezone(UTC), v.vin, "qingpu"])
    for k, v in enumerate(qp[:2]):
        samples.append([f"p{k}", _bj(P.monday, 10).astimezone(UTC), v.vin, "qingpu"])
    warehouse.insert("obd_sample", samples, column_names=["event_id", "ts", "vin", "jurisdiction"])
    # RSD: 30 passes at RSD-QP-01 spread over 12 distinct hours, 20 valid
    passes = [
        [
            f"r{i}",
            (W.start + timedelta(hours=i % 12, minutes=i)).astimezone(UTC),
            "RSD-QP-01",
            "qingpu",
            i < 20,
            "沪B1",
        ]
        for i in range(30)
    ]
    warehouse.insert(
        "rsd_pass",
        passes,
        column_names=["event_id", "ts", "site_id", "jurisdiction", "valid", "plate"],
    )
    rep = collect(warehouse, W, "qingpu", ZONE_SCOPE, registry, NOW)
    m, p = rep.metrics["qingpu"], rep.previous["qingpu"]
    assert (m.stations_warning, m.stations_alarm) == (1, 1)
    assert m.obd_registered == len(qp) and m.obd_online == 4 and p.obd_online == 2
    table = next(t for t in rep.tables() if t.key == "预警报警加油站")
    assert {(r[0], r[4], r[5]) for r in table.rows} == {
        (st[0].id, "预警", 3),
        (st[1].id, "报警", 11),
    }
    rsd = next(t for t in rep.tables() if t.key == "遥感设备")
    site = next(r for r in rsd.rows if r[0] == "RSD-QP-01")
    assert (
        site[3] == 30 and site[4] == pytest.approx(20 / 30) and site[6] == pytest.approx(12 / 168)
    )
    obd_fig = next(f for f in rep.figures() if f.key == "obd")
    assert obd_fig.series[0][1][0] == pytest.approx(round(100 * 4 / len(qp), 1))  # Monday: all 4


def test_renderers_show_the_same_numbers(seeded, registry, tmp_path: Path) -> None:
    import pymupdf
    from openpyxl import load_workbook

    client, _ = seeded
    rep = collect(client, W, "zone", ZONE_SCOPE, registry, NOW)
    paths = write_report(rep, FORMATS, tmp_path)
    assert [p.suffix for p in paths] == [".html", ".pdf", ".xlsx"]
    html = paths[0].read_text(encoding="utf-8")
    assert "示范区机动车与加油站排放监管周报" in html and "北京时间" in html
    assert html.count("data:image/png;base64,") == len(rep.figures())
    wb = load_workbook(io.BytesIO(paths[2].read_bytes()))
    assert wb.sheetnames == ["封面", *(t.key for t in rep.tables())]
    ws = wb["概要"]
    zone_total = next(
        r
        for r in ws.iter_rows(min_row=3, values_only=True)
        if r[0] == "示范区" and r[1] == "超标事件（条）"
    )
    assert zone_total[2] == rep.metrics["zone"].exceedances
    doc = pymupdf.open(paths[1])
    text = "".join(page.get_text() for page in doc)
    assert "示范区机动车与加油站排放监管周报" in text and "吴江区" in text and "案件数量" in text
    fonts = {f[3] for page in doc for f in page.get_fonts()}
    assert any("NotoSansSC" in f for f in fonts), fonts  # the CJK font is embedded
    assert sum(len(page.get_images()) for page in doc) == len(rep.figures())


def test_without_case_tables_the_case_section_says_why(warehouse, registry) -> None:
    # a warehouse where the enforcement module's tables are missing (e.g. not migrated yet)
    warehouse.command("DROP TABLE IF EXISTS case_entry")
    rep = collect(warehouse, W, "zone", ZONE_SCOPE, registry, NOW)
    cases = next(s for s in rep.sections if s.title == "四、执法案件")
    assert cases.unavailable.startswith("案件数据暂不可用：") and not cases.tables


def test_a_week_without_data_says_so(warehouse, registry, tmp_path: Path) -> None:
    rep = collect(warehouse, W, "zone", ZONE_SCOPE, registry, NOW)
    assert not rep.has_data
    assert rep.sections[0].title == "本周无数据"
    paths = write_report(rep, ("html",), tmp_path)
    assert "本周无数据" in paths[0].read_text(encoding="utf-8")

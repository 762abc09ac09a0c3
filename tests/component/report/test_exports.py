"""Partner exports: referral records and the credit list from confirmed cases (pure), their files,
the export log, and the report's case section against counts made here from the seeded case log.

The end-to-end tests need the enforcement issue's case tables (DDL 0500: case_state, case_entry,
case_finding); the CLI's refusal is tested on a warehouse where they were dropped.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from core.isoweek import IsoWeek
from streams.cli import main
from streams.report.exports import credit_list, export, referrals, to_csv, to_json
from streams.report.model import collect
from streams.warehouse.queries.report import ZONE_SCOPE, case_tables_present

pytestmark = pytest.mark.component

W = IsoWeek(2026, 49)
NOW = datetime(2026, 12, 14, 3, 0, tzinfo=UTC)
SHA = "ab" * 32


def _cases_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    base = {
        "subject_kind": "vehicle",
        "subject_id": "",
        "plate": "",
        "vin": "",
        "vehicle_class": "heavy_diesel",
        "jurisdiction": "qingpu",
        "issue": "emission",
        "status": "confirmed",
        "rules": ["RS-REPEAT"],
        "jurisdictions": ["qingpu"],
        "finding_ids": [],
        "confirmed_at": pd.Timestamp("2026-12-02T02:00:00Z"),
        "confirmed_by": "qp-officer-1",
    }
    return pd.DataFrame([{**base, **r} for r in rows])


def test_referral_records_carry_what_traffic_police_take(registry) -> None:
    v = registry.obd_vehicles[0]
    cases = _cases_frame(
        [
            {
                "case_id": "C1",
                "subject_id": v.plate,
                "plate": v.plate,
                "vin": v.vin,
                "finding_ids": ["f2", "f1"],
            }
        ]
    )
    findings = pd.DataFrame(
        [
            {
                "event_id": "f1",
                "ts": pd.Timestamp("2026-12-01T01:30:00Z"),
                "plate": v.plate,
                "plate_colour": "yellow",
                "vin": "",
                "source": "remote_sensing",
                "rule_id": "RS-D-NO",
                "severity": "notice",
                "jurisdiction": "qingpu",
                "device_id": "RSD-QP-01",
                "measured": 1.0,
                "limit": 0.5,
                "unit": "g/kg",
                "evidence": [f"rsd.pass:p1#sha256={SHA}", "rsd.image:p1.jpg"],
            },
            {
                "event_id": "f2",
                "ts": pd.Timestamp("2026-12-02T01:00:00Z"),
                "plate": v.plate,
                "plate_colour": "yellow",
                "vin": "",
                "source": "smoke_capture",
                "rule_id": "BS-CONFIRM",
                "severity": "warning",
                "jurisdiction": "wujiang",
                "device_id": "CAM-WJ-01",
                "measured": 2.0,
                "limit": 1.0,
                "unit": "grade",
                "evidence": [],
            },
        ]
    )
    (r,) = referrals(cases, findings, registry)
    assert (r.plate, r.vin, r.plate_colour, r.plate_type) == (
        v.plate,
        v.vin,
        "黄",
        "01 大型汽车号牌",
    )
    assert r.violation_code == "RS-D-NO、BS-CONFIRM、RS-REPEAT"
    assert r.violation_text.startswith("柴油车NO遥感超标")
    assert r.occurred_at == "2026-12-01T09:30:00+08:00"  # the earliest finding, Beijing time
    assert "RSD-QP-01" in r.place and r.jurisdiction == "青浦区"
    assert r.evidence_sha256 == (SHA,) and len(r.evidence_refs) == 2
    data = to_csv([r], "referrals")
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][:3] == ["案件编号", "号牌号码", "号牌颜色"] and rows[1][1] == v.plate
    doc = json.loads(to_json([r], "referrals", {"jurisdiction": "示范区"}))
    assert doc["count"] == 1 and doc["records"][0]["evidence_sha256"] == [SHA]


def test_credit_list_groups_stations_and_fleets(registry) -> None:
    st = registry.stations[0]
    v1, v2 = registry.obd_vehicles[0], registry.obd_vehicles[1]
    assert v1.fleet == v2.fleet
    cases = _cases_frame(
        [
            {
                "case_id": "S1",
                "subject_kind": "nozzle",
                "subject_id": f"{st.id}:2",
                "rules": ["FV-AL-ALARM"],
            },
            {
                "case_id": "S2",
                "subject_kind": "station",
                "subject_id": st.id,
                "rules": ["FV-ZP"],
                "confirmed_at": pd.Timestamp("2026-12-03T02:00:00Z"),
            },
            {"case_id": "V1", "plate": v1.plate, "vin": v1.vin},
            {"case_id": "V2", "plate": v2.plate, "vin": ""},  # joined to its fleet by plate
            {"case_id": "X", "plate": "沪Z99999"},  # not a fleet vehicle: not on the list
        ]
    )
    got = {(e.subject_type, e.subject_id): e for e in credit_list(cases, registry)}
    assert set(got) == {("加油站", st.id), ("用车大户（车队）", v1.fleet)}
    s = got[("加油站", st.id)]
    assert s.confirmed_cases == 2 and s.operator == st.operator and s.case_ids == ("S1", "S2")
    assert s.first_confirmed.endswith("+08:00") and "FV-ZP" in s.violations
    assert got[("用车大户（车队）", v1.fleet)].confirmed_cases == 2


def test_export_without_case_tables_is_refused_and_logs_nothing(
    chdb_dsn, tmp_path: Path, capsys, monkeypatch
) -> None:
    import uuid

    monkeypatch.setenv("EMW_WAREHOUSE_DSN", chdb_dsn)
    monkeypatch.setenv("EMW_WAREHOUSE_DATABASE", f"exp_{uuid.uuid4().hex[:8]}")
    from streams.warehouse.client import connect

    client = connect(chdb_dsn, __import__("os").environ["EMW_WAREHOUSE_DATABASE"])
    from streams.warehouse.migrator import migrate

    migrate(client)
    client.command("DROP TABLE IF EXISTS case_state")  # a warehouse without the enforcement tables
    assert not case_tables_present(client, ZONE_SCOPE)
    rc = main(
        ["export", "referrals", "--week", "2026-W49", "-o", str(tmp_path / "out"), "--as", "lead1"]
    )
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "案件数据暂不可用" in err
    assert not (tmp_path / "out").exists()
    assert client.query("SELECT count() FROM export_log").result_rows[0][0] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2026-12-01"], "both --since and --until"),
        (["--since", "2026-12-09", "--until", "2026-12-01"], "is before"),
        (["--since", "1.12.2026", "--until", "2026-12-07"], "malformed date"),
        (["--week", "2026-W49", "--format", "xml"], "unknown format xml"),
        (["--jurisdiction", "kunshan"], "unknown jurisdiction"),
    ],
)
def test_export_bad_input(args, message, tmp_path: Path, capsys) -> None:
    rc = main(["export", "credit", *args, "--data-dir", str(tmp_path / "var")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "var").exists()


# --- end to end against the case tables ------------------------------------------------------------


def _seed_cases(client: Any, registry: Any) -> dict[str, Any]:
    """Six cases: opened, acted on, confirmed, dismissed, closed; one of them last week."""
    v = registry.obd_vehicles[0]
    st = registry.stations[0]
    entries, states, findings = [], [], []

    def case(cid, kind, subject, jur, opened, steps, plate="", vin="", fids=()):
        seq = 0
        entries.append(
            [
                f"{cid}-0",
                opened.astimezone(UTC),
                cid,
                0,
                kind,
                subject,
                jur,
                "opened",
                "",
                "system",
                "",
                "",
                "new",
            ]
        )
        status = "new"
        for ts, action, after in steps:
            seq += 1
            entries.append(
                [
                    f"{cid}-{seq}",
                    ts.astimezone(UTC),
                    cid,
                    seq,
                    kind,
                    subject,
                    jur,
                    "action",
                    action,
                    "officer",
                    jur,
                    status,
                    after,
                ]
            )
            status = after
        states.append(
            [
                f"{cid}-s",
                opened.astimezone(UTC),
                cid,
                seq,
                kind,
                subject,
                plate,
                vin,
                jur,
                "emission",
                status,
                opened.astimezone(UTC),
                ["RS-REPEAT"],
                json.dumps({"finding_ids": list(fids)}),
            ]
        )

    w = W.start
    case(
        "A",
        "vehicle",
        v.plate,
        "qingpu",
        w + timedelta(hours=10),
        [
            (w + timedelta(hours=12), "review", "in_review"),
            (w + timedelta(days=1), "confirm", "confirmed"),
        ],
        plate=v.plate,
        vin=v.vin,
        fids=("fa",),
    )
    case(
        "B",
        "vehicle",
        "沪A00001",
        "wujiang",
        w + timedelta(days=2),
        [(w + timedelta(days=2, hours=5), "dismiss", "dismissed")],
    )
    case("C", "vehicle", "沪A00002", "jiashan", w + timedelta(days=3), [])  # no action yet
    case(
        "D",
        "nozzle",
        f"{st.id}:1",
        st.jurisdiction,
        w + timedelta(days=1),
        [
            (w + timedelta(days=1, hours=1), "review", "in_review"),
            (w + timedelta(days=2), "confirm", "confirmed"),
        ],
    )
    case(
        "E",
        "vehicle",
        "沪A00003",
        "qingpu",
        w - timedelta(days=3),  # opened last week, closed this week
        [
            (w - timedelta(days=3) + timedelta(hours=3), "review", "in_review"),
            (w - timedelta(days=2), "confirm", "confirmed"),
            (w + timedelta(days=4), "notify", "notified"),
            (w + timedelta(days=5), "close", "closed"),
        ],
    )
    findings.append(
        [
            "fa",
            (w + timedelta(hours=9)).astimezone(UTC),
            "exceedance",
            "vehicle",
            v.plate,
            v.plate,
            "yellow",
            v.vin,
            "remote_sensing",
            "RS-D-NO",
            "notice",
            "qingpu",
            "RSD-QP-01",
            [f"rsd.pass:x#sha256={SHA}"],
        ]
    )
    client.insert(
        "case_entry",
        entries,
        column_names=[
            "event_id",
            "ts",
            "case_id",
            "seq",
            "subject_kind",
            "subject_id",
            "jurisdiction",
            "entry",
            "action",
            "actor",
            "actor_jurisdiction",
            "status_before",
            "status_after",
        ],
    )
    client.insert(
        "case_state",
        states,
        column_names=[
            "event_id",
            "ts",
            "case_id",
            "version",
            "subject_kind",
            "subject_id",
            "plate",
            "vin",
            "jurisdiction",
            "issue",
            "status",
            "opened_at",
            "rules",
            "state_json",
        ],
    )
    client.insert(
        "case_finding",
        findings,
        column_names=[
            "event_id",
            "ts",
            "finding",
            "subject_kind",
            "subject_id",
            "plate",
            "plate_colour",
            "vin",
            "source",
            "rule_id",
            "severity",
            "jurisdiction",
            "device_id",
            "evidence",
        ],
    )
    return {"vehicle": v, "station": st}


@pytest.fixture
def with_cases(warehouse, registry):
    if not case_tables_present(warehouse, ZONE_SCOPE):
        pytest.skip(
            "the case tables (DDL 0500_enforcement.sql of the enforcement issue) are not in this warehouse"
        )
    return warehouse, _seed_cases(warehouse, registry)


def test_report_case_section_matches_the_seeded_log(with_cases, registry) -> None:
    client, _ = with_cases
    rep = collect(client, W, "zone", ZONE_SCOPE, registry, NOW)
    cases = next(s for s in rep.sections if s.title == "四、执法案件")
    assert not cases.unavailable
    counts = {(r[0], r[1]): r[2] for r in cases.tables[0].rows}
    # this week: opened A, B, C, D (E was opened last week); confirmed A, D; dismissed B; closed E
    assert counts[("示范区", "新立案")] == 4
    assert (
        counts[("示范区", "确认")] == 2
        and counts[("示范区", "驳回")] == 1
        and counts[("示范区", "结案")] == 1
    )
    assert counts[("青浦区", "结案")] == 1 and counts[("吴江区", "驳回")] == 1
    speed = {r[0]: r for r in cases.tables[1].rows}
    # first actions: A after 2 h, B after 5 h, D after 1 h; C waits → median 2 h
    assert speed["示范区"][1:5] == (4, 3, 1, pytest.approx(2.0))


def test_exports_write_files_and_the_log(with_cases, registry, tmp_path: Path) -> None:
    client, seeded = with_cases
    v, st = seeded["vehicle"], seeded["station"]
    written = export(
        client,
        "referrals",
        W.start,
        W.end,
        "zone",
        ZONE_SCOPE,
        registry,
        ("csv", "json"),
        tmp_path,
        "lead1",
        NOW,
    )
    assert [(p.suffix, n) for p, n in written] == [(".csv", 1), (".json", 1)]
    doc = json.loads(written[1][0].read_text(encoding="utf-8"))
    rec = doc["records"][0]
    assert (rec["case_id"], rec["plate"], rec["vin"], rec["evidence_sha256"]) == (
        "A",
        v.plate,
        v.vin,
        [SHA],
    )
    credit = export(
        client,
        "credit",
        W.start,
        W.end,
        "zone",
        ZONE_SCOPE,
        registry,
        ("json",),
        tmp_path,
        "lead1",
        NOW,
    )
    ids = {r["subject_id"] for r in json.loads(credit[0][0].read_text(encoding="utf-8"))["records"]}
    assert ids == {st.id, v.fleet}
    log = client.query_df(
        "SELECT kind, fmt, user, rows, file_name FROM export_log ORDER BY kind, fmt"
    )
    assert log.values.tolist() == [
        ["credit", "json", "lead1", 2, credit[0][0].name],
        ["referrals", "csv", "lead1", 1, written[0][0].name],
        ["referrals", "json", "lead1", 1, written[1][0].name],
    ]

"""HTTP intake: per-record errors, auth, idempotence, CSV and JSON, body limits (Starlette TestClient)."""

from __future__ import annotations

import csv
import io
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from core.credentials import DeviceCredentials
from core.registry import default_registry
from core.timeutil import beijing
from remote_sensing.events import RsdCalibration, RsdDowntime, RsdPass
from remote_sensing.intake import Intake, IntakeState, RawStore, create_app

with warnings.catch_warnings():  # starlette's notice about httpx, not about this code
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient

pytestmark = [
    pytest.mark.component,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

NOW = beijing(2026, 11, 23, 12, 0, 0)
QP, WJ = "RSD-QP-01", "RSD-WJ-01"


class Published:
    def __init__(self) -> None:
        self.events: list[Any] = []
        self.calls = 0

    async def __call__(self, events: Any) -> None:
        self.calls += 1
        self.events.extend(events)


def rec(rid: str, **over: Any) -> dict[str, Any]:
    r = {
        "jlbh": rid,
        "dwbh": QP,
        "jcrq": "2026-11-23 10:00:00",
        "hphm": "沪A12345",
        "cpys": "0",
        "hpzl": "02",
        "sbzxd": "96",
        "rlzl": "A",
        "co2jg": "14.46",
        "coco2": "0.0121",
        "hcco2": "43.48",
        "noco2": "105.39",
        "clsd": "46.81",
        "cljsd": "0.21",
        "fs": "1.2",
        "tp1": f"https://img.example/{rid}_plate.jpg",
        "tp2": f"https://img.example/{rid}_scene.jpg",
    }
    r.update(over)
    return r


@pytest.fixture
def setup(registry: Any, ruleset: Any, tmp_path: Path) -> tuple[TestClient, Published, Intake]:
    pub = Published()
    intake = Intake(
        registry=registry,
        ruleset=ruleset,
        publish=pub,
        state=IntakeState(tmp_path / "state.sqlite"),
        raw=RawStore(tmp_path / "raw"),
        now=lambda: NOW,
        max_records=100,
        max_body_bytes=200_000,
        credentials=CREDS,
    )
    return TestClient(create_app(intake)), pub, intake


CREDS, TOKENS = DeviceCredentials.ephemeral(default_registry())  # the registry holds digests


def auth(site: str, registry: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[site]}"}


def test_single_record_accepted_with_evidence(setup: Any, registry: Any, tmp_path: Path) -> None:
    client, pub, _ = setup
    r = client.post(
        "/api/rsd/v1/records?profile=national", json=rec("R1"), headers=auth(QP, registry)
    )
    assert r.status_code == 200
    body = r.json()
    assert body["accepted"] == 1 and body["rejected"] == 0
    (ev,) = pub.events
    assert isinstance(ev, RsdPass)
    assert ev.ts == datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 Beijing
    assert ev.ts.utcoffset().total_seconds() == 8 * 3600
    assert ev.images == ("https://img.example/R1_plate.jpg", "https://img.example/R1_scene.jpg")
    assert ev.raw_ref.startswith("raw:") and ev.raw_ref.endswith("#0")
    day_dir, name = ev.raw_ref[4:].split("#")[0].split("/")
    assert (tmp_path / "raw" / day_dir / name).read_bytes() == r.request.content
    # Beijing record arithmetic (rules.md §2.1): noco2 105.39 × co2jg 14.46 ≈ 1524 ppm
    assert ev.no_ppm == pytest.approx(105.39 * 14.46, rel=1e-9)
    assert ev.ratio_no == pytest.approx(105.39e-4)
    assert ev.valid and ev.calibration_ok


def test_bad_records_rejected_one_by_one(setup: Any, registry: Any) -> None:
    client, pub, _ = setup
    batch = [
        rec("OK1"),
        rec("NEG", clsd="-12"),  # negative speed
        rec("RATIO", coco2="9.5"),  # CO/CO2 ratio far outside any plume
        rec("FUT", jcrq="2026-11-23 12:30:00"),  # 30 min after server time
        rec("SITE", dwbh="RSD-XX-99"),  # unknown site
        rec("TOKEN", dwbh=WJ),  # token of QP used for a WJ record
        rec("NUM", clsd="fast"),  # not a number
        rec("COLOUR", cpys="9"),  # unknown vendor code
        "not an object",
        rec("", jlbh=""),  # missing id
        rec("OK2", hphm="沪B77777"),
    ]
    r = client.post("/api/rsd/v1/records", json={"records": batch}, headers=auth(QP, registry))
    assert r.status_code == 200
    body = r.json()
    assert body["accepted"] == 2 and body["rejected"] == 9
    res = {x["index"]: x for x in body["results"]}
    assert [res[i]["status"] for i in range(len(batch))] == ["accepted"] + ["rejected"] * 9 + [
        "accepted"
    ]
    assert res[1]["error"] == "out_of_range" and "speed_kmh=-12.0 km/h" in res[1]["message"]
    assert "[0, 250]" in res[1]["message"]
    assert res[2]["error"] == "out_of_range" and "ratio_co" in res[2]["message"]
    assert res[3]["error"] == "future" and "server time" in res[3]["message"]
    assert res[4]["error"] == "unknown_site" and "RSD-XX-99" in res[4]["message"]
    assert res[5]["error"] == "bad_token" and WJ in res[5]["message"]
    assert res[6]["error"] == "malformed" and "clsd" in res[6]["message"]
    assert res[7]["error"] == "malformed" and "cpys" in res[7]["message"]
    assert res[8]["error"] == "malformed"
    assert res[9]["error"] == "malformed" and "jlbh" in res[9]["message"]
    assert sorted(e.record_id for e in pub.events) == ["OK1", "OK2"]


def test_idempotent_on_record_id(setup: Any, registry: Any) -> None:
    client, pub, _ = setup
    h = auth(QP, registry)
    first = client.post("/api/rsd/v1/records", json=[rec("D1"), rec("D2")], headers=h).json()
    assert first["accepted"] == 2
    stored = list(pub.events)
    again = client.post(
        "/api/rsd/v1/records", json=[rec("D1"), rec("D2", clsd="12"), rec("D3")], headers=h
    ).json()
    assert again["accepted"] == 1 and again["duplicates"] == 2
    res = {x["record_id"]: x for x in again["results"]}
    assert "conflict" not in res["D1"]
    assert "stored record unchanged" in res["D2"]["conflict"]
    assert pub.events[:2] == stored and [e.record_id for e in pub.events[2:]] == ["D3"]
    # the same id twice inside one batch is stored once
    dup = client.post(
        "/api/rsd/v1/records", json=[rec("D4"), rec("D4"), rec("D4", clsd="33")], headers=h
    ).json()
    assert dup["accepted"] == 1 and dup["duplicates"] == 2
    assert "conflict" not in dup["results"][1] and "conflict" in dup["results"][2]
    assert [e.record_id for e in pub.events].count("D4") == 1


def test_seen_ids_survive_restart(registry: Any, ruleset: Any, tmp_path: Path) -> None:
    pubs = []
    for _ in range(2):
        pub = Published()
        pubs.append(pub)
        intake = Intake(
            registry=registry,
            ruleset=ruleset,
            publish=pub,
            state=IntakeState(tmp_path / "s.sqlite"),
            now=lambda: NOW,
            credentials=CREDS,
        )
        with TestClient(create_app(intake)) as c:
            c.post("/api/rsd/v1/records", json=[rec("P1")], headers=auth(QP, registry))
        intake.state.close()
    assert len(pubs[0].events) == 1 and pubs[1].events == []


def test_csv_upload_and_vendor_b_codes(setup: Any, registry: Any) -> None:
    client, pub, _ = setup
    rows = [
        rec("C1", dwbh=WJ, cpys="2", hpzl="01", rlzl="B", hphm="苏E12345"),
        rec("C2", dwbh=WJ, cpys="5", hphm="苏EAB1234"),
    ]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    r = client.post(
        "/api/rsd/v1/records",  # profile from the token's site: vendor_b
        content=buf.getvalue().encode("utf-8"),
        headers={**auth(WJ, registry), "Content-Type": "text/csv"},
    )
    body = r.json()
    assert body["accepted"] == 2, body
    c1, c2 = pub.events
    assert (c1.plate_colour, c1.fuel, c1.profile) == ("yellow", "diesel", "vendor_b")
    assert c2.plate_colour == "green" and c2.is_new_energy
    assert c1.grade_unit == "degree"  # WJ site measures lane slope in degrees


def test_auth_and_body_errors(setup: Any, registry: Any) -> None:
    client, pub, intake = setup
    assert client.post("/api/rsd/v1/records", json=[rec("X")]).status_code == 401
    # a token of no site: 401 before anything is stored or published, counted; no secret echoed
    raw_before = sorted((intake.raw.root or Path("/nonexistent")).rglob("*"))
    r = client.post(
        "/api/rsd/v1/records", json=[rec("X")], headers={"Authorization": "Bearer dev-guess"}
    )
    assert r.status_code == 401 and "dev-guess" not in r.text and not pub.events
    assert sorted((intake.raw.root or Path("/nonexistent")).rglob("*")) == raw_before
    assert intake.metrics.counters("rsd_intake", "requests_unauthorised")
    r = client.post(
        "/api/rsd/v1/records",
        content=b"{not json",
        headers={**auth(QP, registry), "Content-Type": "application/json"},
    )
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]
    too_many = [rec(f"M{i}") for i in range(101)]
    r = client.post("/api/rsd/v1/records", json=too_many, headers=auth(QP, registry))
    assert r.status_code in (400, 413)
    big = b"[" + b" " * 300_000 + b"]"
    r = client.post(
        "/api/rsd/v1/records",
        content=big,
        headers={**auth(QP, registry), "Content-Type": "application/json"},
    )
    assert r.status_code == 413
    r = client.post("/api/rsd/v1/records?profile=nope", json=[rec("X")], headers=auth(QP, registry))
    assert r.status_code == 400 and "nope" in r.json()["error"]
    r = client.post("/api/rsd/v1/records", content=b"", headers=auth(QP, registry))
    assert r.status_code == 400
    assert pub.events == []


def test_failed_calibration_makes_passes_not_judgeable(setup: Any, registry: Any) -> None:
    client, pub, _ = setup
    h = auth(QP, registry)
    r = client.post(
        "/api/rsd/v1/calibrations",
        json={
            "site_id": QP,
            "check_kind": "daily",
            "passed": False,
            "valid_until": "2026-11-23",
            "ts": "2026-11-23T07:30:00+08:00",
            "operator": "op-1",
            "no_error_pct": 21.5,
        },
        headers=h,
    )
    assert r.status_code == 200, r.json()
    client.post("/api/rsd/v1/records", json=[rec("K1")], headers=h)
    cal, p = pub.events
    assert isinstance(cal, RsdCalibration) and not cal.passed
    assert not p.valid and "calibration_expired" in p.invalid_reasons
    # wrong token for the site, bad body, out-of-range values
    assert (
        client.post(
            "/api/rsd/v1/calibrations", json={"site_id": WJ, "passed": True}, headers=h
        ).status_code
        == 403
    )
    bad = {
        "site_id": QP,
        "passed": True,
        "valid_until": "2026-11-30",
        "ts": "2026-11-23T08:00:00+08:00",
        "co_error_pct": 400,
    }
    r = client.post("/api/rsd/v1/calibrations", json=bad, headers=h)
    assert r.status_code == 422 and "co_error_pct" in r.json()["error"]


def test_downtime_endpoint(setup: Any, registry: Any) -> None:
    client, pub, _ = setup
    h = auth(QP, registry)
    ok = {
        "site_id": QP,
        "start": "2026-11-23T09:00:00+08:00",
        "end": "2026-11-23T10:30:00+08:00",
        "reason": "rain",
    }
    assert client.post("/api/rsd/v1/downtime", json=ok, headers=h).status_code == 200
    (d,) = pub.events
    assert isinstance(d, RsdDowntime) and d.weather
    bad = {**ok, "end": "2026-11-23T08:00:00+08:00"}
    r = client.post("/api/rsd/v1/downtime", json=bad, headers=h)
    assert r.status_code == 422 and "end" in r.json()["error"]


def test_gb18030_csv_body(setup: Any, registry: Any) -> None:
    client, pub, _ = setup
    row = rec("GB1", hphm="沪C54321")
    text = ",".join(row) + "\n" + ",".join(str(v) for v in row.values()) + "\n"
    r = client.post(
        "/api/rsd/v1/records?profile=national",
        content=text.encode("gb18030"),
        headers={**auth(QP, registry), "Content-Type": "text/csv; charset=gb18030"},
    )
    assert r.json()["accepted"] == 1
    assert pub.events[0].plate == "沪C54321"


MOB = "RSD-MOB-01"  # a mobile unit registered in Qingpu


def test_mobile_unit_position_and_jurisdiction_come_with_each_record(
    setup: Any, registry: Any
) -> None:
    client, pub, _ = setup
    batch = [
        rec("M1", dwbh=MOB, wd="31.0327", jd="120.8034", xzqh="吴江区"),  # parked in Wujiang
        rec("M2", dwbh=MOB, wd="30.9000", jd="120.9000"),  # position only: Jiashan
        rec("M3", dwbh=MOB, xzqh="310118"),  # jurisdiction only (GB/T 2260): Qingpu
        rec("M4", dwbh=MOB),  # neither: the registry's jurisdiction
        rec("OUT", dwbh=MOB, wd="31.2304", jd="121.4737"),  # central Shanghai: outside the zone
        rec("JUR", dwbh=MOB, wd="31.0327", jd="120.8034", xzqh="浦东新区"),
        rec("HALF", dwbh=MOB, wd="31.0327"),  # latitude without longitude
    ]
    r = client.post("/api/rsd/v1/records", json=batch, headers=auth(MOB, registry))
    assert r.status_code == 200  # some records were taken: the others are answered one by one
    body = r.json()
    assert body["accepted"] == 4 and body["rejected"] == 3
    res = {x["record_id"]: x for x in body["results"]}
    assert res["OUT"]["error"] == "outside_zone" and "121.4737" in res["OUT"]["message"]
    assert res["JUR"]["error"] == "unknown_jurisdiction" and "浦东新区" in res["JUR"]["message"]
    assert res["HALF"]["error"] == "malformed" and "both" in res["HALF"]["message"]
    got = {e.record_id: e for e in pub.events}
    assert set(got) == {"M1", "M2", "M3", "M4"}  # nothing else lost, nothing rejected stored
    assert (got["M1"].jurisdiction, got["M1"].latitude, got["M1"].longitude) == (
        "wujiang",
        31.0327,
        120.8034,
    )
    assert got["M2"].jurisdiction == "jiashan"
    assert (got["M3"].jurisdiction, got["M3"].latitude) == ("qingpu", None)
    assert got["M4"].jurisdiction == registry.rsd_site(MOB).jurisdiction


def test_a_body_whose_every_record_is_rejected_is_a_422_with_the_reasons(
    setup: Any, registry: Any
) -> None:
    client, pub, _ = setup
    out = rec("OUT", dwbh=MOB, wd="31.2304", jd="121.4737")
    r = client.post("/api/rsd/v1/records", json=out, headers=auth(MOB, registry))
    assert r.status_code == 422
    body = r.json()
    assert "outside_zone" in body["error"] and body["rejected"] == 1 and body["accepted"] == 0
    assert "outside the demonstration zone" in body["results"][0]["message"]
    assert pub.events == []
    r = client.post(
        "/api/rsd/v1/records", json=rec("J", dwbh=MOB, xzqh="上海"), headers=auth(MOB, registry)
    )
    assert r.status_code == 422 and "unknown_jurisdiction" in r.json()["error"]
    assert pub.events == []

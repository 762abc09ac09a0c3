"""The fast forms of the named queries return what their plain forms return, on seeded data with
replayed rows: the case lists read from ``case_latest`` + ``case_state`` by key (not every version
of every case), RSD passes by plate from the plate-ordered projection with ``LIMIT 1 BY`` the key
(not ``FINAL``), device health without ``FINAL``. The plain forms are written out here as the
queries read before (the reference)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from core.access import scope_for
from core.scope import Scope
from streams.warehouse.queries import cases, devices, enforcement, rsd, vehicle

pytestmark = [pytest.mark.component]

END = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)
OPEN = ("new", "in_review", "confirmed", "notified", "referred", "reinspected")
STATE_COLS = cases._STATE_COLS
PLAIN_LATEST = (
    f"SELECT {STATE_COLS} FROM case_state FINAL ORDER BY case_id, version DESC LIMIT 1 BY case_id"
)
VISIBLE = cases._VISIBLE
RSD_COLS = (
    "ts, site_id, jurisdiction, record_id, plate, plate_colour, fuel, emission_stage, speed_kmh, "
    "vsp_kw_t, co_pct, hc_ppm, no_ppm, opacity_pct, ringelmann, co_gpkg, hc_gpkg, no_gpkg, valid, "
    "invalid_reasons, quality_flags, images, raw_ref, ruleset_version, event_id"
)


@pytest.fixture(scope="module")
def seeded(chdb_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Two seeded days, then every RSD pass, OBD sample and case version of the first vehicles
    stored a second time (a replay before the merge)."""
    from core.registry import default_registry
    from core.ruleset import default_ruleset
    from streams.seed import Seeder, SeedPlan
    from streams.warehouse.client import connect
    from streams.warehouse.migrator import migrate

    db = f"t_{uuid.uuid4().hex[:12]}"
    client = connect(chdb_dsn, db)
    migrate(client)
    tmp = Path(tmp_path_factory.mktemp("seeded"))
    plan = SeedPlan(days=2, end=END, scale=0.03, seed=5)
    Seeder(
        client,
        plan,
        ruleset=default_ruleset(),
        registry=default_registry(),
        data_dir=tmp,
        real_bundles=0,
    ).run(progress=False)
    plates = [r[0] for r in client.query(
        "SELECT plate FROM rsd_pass WHERE plate != '' GROUP BY plate ORDER BY count() DESC, plate "
        "LIMIT 3").result_rows]  # fmt: skip
    client.command(
        "INSERT INTO rsd_pass SELECT * FROM rsd_pass WHERE plate IN {p:Array(String)}",
        parameters={"p": plates},
    )
    client.command("INSERT INTO obd_sample SELECT * FROM obd_sample WHERE ts > {t:DateTime64(3)}",
                   parameters={"t": END - timedelta(hours=6)})  # fmt: skip
    client.command(
        "INSERT INTO case_state SELECT * FROM case_state WHERE case_id IN "
        "(SELECT case_id FROM case_state ORDER BY case_id LIMIT 5)"
    )
    client.command(
        "INSERT INTO case_finding SELECT * FROM case_finding WHERE subject_id IN "
        "(SELECT subject_id FROM case_state ORDER BY case_id LIMIT 5)"
    )
    yield client
    client.command(f"DROP DATABASE IF EXISTS `{db}`")


def _same(a: pd.DataFrame, b: pd.DataFrame, ordered: bool = False) -> None:
    if a.empty and b.empty:
        return  # an empty result may come without columns
    assert list(a.columns) == list(b.columns)
    x, y = a.astype(str), b.astype(str)
    if not ordered:
        x = x.sort_values(list(x.columns)).reset_index(drop=True)
        y = y.sort_values(list(y.columns)).reset_index(drop=True)
    pd.testing.assert_frame_equal(x.reset_index(drop=True), y.reset_index(drop=True))


def _scopes() -> list[Scope]:
    return [
        Scope.zone(),
        scope_for("o", "officer", ["qingpu"]),
        scope_for("w", "officer", ["wujiang"]),
    ]


def test_seeded_data_has_what_the_forms_are_checked_on(seeded: Any) -> None:
    n_cases = seeded.query("SELECT uniqExact(case_id) FROM case_state").result_rows[0][0]
    versions = seeded.query("SELECT count() FROM case_state").result_rows[0][0]
    assert n_cases > 5 and versions > n_cases  # cases with several versions, some stored twice
    dup = seeded.query(
        "SELECT count() - uniqExact(site_id, ts, event_id) FROM rsd_pass"
    ).result_rows[0][0]
    assert dup > 0  # replayed passes not merged yet


def test_case_queue_is_the_latest_version_of_each_case(seeded: Any) -> None:
    since, until = END - timedelta(days=30), END + timedelta(days=1)
    for scope in _scopes():
        for lim in (500, 3):
            plain = seeded.query_df(
                f"SELECT * FROM ({PLAIN_LATEST}) WHERE {VISIBLE} AND status IN {{st:Array(String)}} "
                "AND opened_at >= {since:DateTime64(3)} AND opened_at < {until:DateTime64(3)} "
                "ORDER BY score DESC, ts DESC, case_id LIMIT {lim:UInt32}",
                parameters={"st": list(OPEN), "since": since, "until": until, "lim": lim,
                            "scope_j": list(scope.all_jurisdictions)},
            )  # fmt: skip
            fast = cases.queue(seeded, scope, OPEN, since, until, limit=lim)
            assert len(plain) > 0 or scope.jurisdictions != Scope.zone().jurisdictions
            _same(plain, fast, ordered=True)
        filtered = cases.queue(
            seeded, scope, OPEN, since, until, jurisdictions=("qingpu",), sources=("obd_gateway",)
        )
        assert all("obd_gateway" in s for s in filtered["sources"]) if len(filtered) else True


def test_cases_of_a_subject_and_of_a_capture(seeded: Any) -> None:
    subjects = seeded.query(
        "SELECT DISTINCT plate, vin, subject_id FROM case_latest WHERE subject_kind = 'vehicle' "
        "ORDER BY subject_id LIMIT 6"
    ).result_rows
    stations = [r[0] for r in seeded.query(
        "SELECT DISTINCT splitByChar(':', subject_id)[1] FROM case_latest "
        "WHERE subject_kind != 'vehicle' LIMIT 2").result_rows]  # fmt: skip
    assert subjects
    for scope in _scopes():
        sj = list(scope.all_jurisdictions)
        for plate, vin, sid in [*subjects, *(("", "", s) for s in stations)]:
            station = sid if not plate and not vin else ""
            plain = seeded.query_df(
                f"SELECT * FROM ({PLAIN_LATEST}) WHERE {VISIBLE} AND ((plate != '' AND plate = "
                "{plate:String}) OR (vin != '' AND vin = {vin:String}) OR subject_id IN "
                "{subj:Array(String)} OR ({station:String} != '' AND startsWith(subject_id, "
                "concat({station:String}, ':')))) ORDER BY ts DESC, case_id",
                parameters={"plate": plate, "vin": vin, "station": station, "scope_j": sj,
                            "subj": [s for s in (plate, vin, station) if s]},
            )  # fmt: skip
            _same(plain, cases.for_subject(seeded, scope, plate, vin, station), ordered=True)
        caps = [
            r[0] for r in seeded.query("SELECT event_id FROM smoke_capture LIMIT 4").result_rows
        ]
        for cap in caps:
            plain = seeded.query_df(
                f"SELECT * FROM ({PLAIN_LATEST}) WHERE {VISIBLE} AND issue = 'smoke' AND "
                "position(state_json, {cap:String}) > 0 ORDER BY ts DESC, case_id LIMIT 1",
                parameters={"cap": cap, "scope_j": sj},
            )
            _same(plain, cases.for_capture(seeded, scope, cap))


def test_rsd_passes_by_plate_drop_replays_like_final(seeded: Any) -> None:
    plates = [r[0] for r in seeded.query(
        "SELECT plate FROM rsd_pass WHERE plate != '' GROUP BY plate ORDER BY count() DESC, plate "
        "LIMIT 4").result_rows]  # fmt: skip
    since, until = END - timedelta(days=3), END + timedelta(days=1)
    for scope in _scopes():
        sj = list(scope.all_jurisdictions)
        for plate in plates:
            fast = rsd.vehicle_history(seeded, scope, plate)
            plain = seeded.query_df(
                f"SELECT {RSD_COLS} FROM rsd_pass FINAL WHERE plate = {{plate:String}} "
                "AND jurisdiction IN {sj:Array(String)} ORDER BY ts DESC LIMIT 500",
                parameters={"plate": plate, "sj": sj},
            )
            _same(plain, fast)
            tl = vehicle.timeline(seeded, scope, plate, "", since, until)
            tl_plain = seeded.query_df(
                "SELECT ts, site_id AS label, toFloat64(ifNull(no_gpkg, nan)) AS value FROM rsd_pass "
                "FINAL WHERE plate = {plate:String} AND ts >= {a:DateTime64(3)} AND ts < "
                "{b:DateTime64(3)} AND jurisdiction IN {sj:Array(String)} ORDER BY ts",
                parameters={"plate": plate, "a": since, "b": until, "sj": sj},
            )
            got = (
                tl[(tl["source"] == "remote_sensing") & (tl["what"] == "reading")][
                    ["ts", "label", "value"]
                ]
                if len(tl.columns)
                else tl
            )
            _same(tl_plain, got)


def test_every_part_of_rsd_pass_has_the_plate_projection(seeded: Any) -> None:
    parts = seeded.query(
        "SELECT name FROM system.parts WHERE active AND database = currentDatabase() "
        "AND table = 'rsd_pass'"
    ).result_rows
    with_projection = seeded.query(
        "SELECT parent_name FROM system.projection_parts WHERE active AND "
        "database = currentDatabase() AND table = 'rsd_pass' AND name = 'rsd_pass_by_plate'"
    ).result_rows
    assert parts and {p[0] for p in parts} == {p[0] for p in with_projection}


def test_device_health_without_final_is_the_same(seeded: Any) -> None:
    since, until = END - timedelta(days=3), END + timedelta(hours=1)
    for scope in _scopes():
        fast = devices.seen(seeded, scope, since, until)
        day = "toDate(ts, 'Asia/Shanghai')"
        ts = "ts >= {since:DateTime64(3)} AND ts < {until:DateTime64(3)}"
        sj = "jurisdiction IN {scope_j:Array(String)}"
        plain = seeded.query_df(
            f"SELECT 'rsd_site' AS kind, toString(site_id) AS device_id, max(ts) AS last_seen, "
            f"uniqExact({day}) AS days FROM rsd_pass FINAL WHERE {ts} AND {sj} GROUP BY site_id "
            f"UNION ALL SELECT 'camera', toString(camera_id), max(ts), uniqExact({day}) "
            f"FROM smoke_capture FINAL WHERE {ts} AND {sj} GROUP BY camera_id "
            f"UNION ALL SELECT 'obd_terminal', vin, max(ts), uniqExact({day}) "
            f"FROM obd_sample FINAL WHERE {ts} AND {sj} GROUP BY vin "
            f"UNION ALL SELECT 'data_logger', unit_id, max(ts), uniqExact({day}) "
            f"FROM vapor_packet FINAL WHERE {ts} AND {sj} GROUP BY unit_id",
            parameters={"since": since, "until": until, "scope_j": list(scope.all_jurisdictions)},
        )
        assert len(plain) > 0
        _same(plain, fast)


def test_case_latest_holds_the_highest_version_of_every_case(seeded: Any) -> None:
    # the replayed versions above were stored out of order: the last one inserted is not the latest
    plain = seeded.query_df(
        "SELECT case_id, max(version) AS version FROM case_state GROUP BY case_id ORDER BY case_id"
    )
    latest = seeded.query_df("SELECT case_id, version FROM case_latest FINAL ORDER BY case_id")
    _same(plain, latest, ordered=True)


def test_versioned_replacing_engine_renders_for_one_server_and_a_cluster() -> None:
    from streams.warehouse.migrator import render

    assert render("ENGINE = {replacing:version}") == "ENGINE = ReplacingMergeTree(version)"
    on_cluster = render("ENGINE = {replacing:version}", cluster="c1")
    assert on_cluster.startswith("ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/")
    assert on_cluster.endswith("'{replica}', version)")
    assert render("ENGINE = {replacing}") == "ENGINE = ReplacingMergeTree"


def test_case_log_reads_only_its_case_versions(seeded: Any) -> None:
    ids = [r[0] for r in seeded.query("SELECT case_id FROM case_latest FINAL LIMIT 6").result_rows]
    assert ids
    for scope in _scopes():
        for case_id in ids:
            plain = seeded.query_df(
                "SELECT ts, seq, entry, action, actor, actor_jurisdiction, status_before, "
                "status_after, reason, payload_json, request_id, hash FROM case_entry FINAL "
                "WHERE case_id = {id:String} AND (jurisdiction IN {scope_j:Array(String)} OR "
                "case_id IN (SELECT case_id FROM case_state FINAL WHERE hasAny(jurisdictions, "
                "{scope_j:Array(String)}))) ORDER BY ts, seq",
                parameters={"id": case_id, "scope_j": list(scope.all_jurisdictions)},
            )
            _same(plain, cases.log(seeded, scope, case_id), ordered=True)


def test_case_findings_by_subject_drop_replays_like_final(seeded: Any) -> None:
    """A case's findings read in its subject's key range with ``LIMIT 1 BY event_id`` are the
    rows ``FINAL`` over every finding returns (the fixture stored the first subjects' findings
    twice)."""
    import json

    doubled = seeded.query(
        "SELECT count() - uniqExact(event_id) FROM case_finding WHERE subject_id IN "
        "(SELECT subject_id FROM case_state ORDER BY case_id LIMIT 5)"
    ).result_rows[0][0]
    assert doubled > 0
    rows = seeded.query(
        "SELECT case_id, subject_kind, subject_id FROM case_latest FINAL ORDER BY case_id LIMIT 8"
    ).result_rows
    assert rows
    for case_id, kind, sid in rows:
        log = cases.log(seeded, Scope.zone(), case_id)
        ids = [
            json.loads(p or "{}").get("finding", "")
            for p, e in zip(log["payload_json"], log["entry"], strict=True)
            if e in ("opened", "evidence")
        ]
        assert ids, case_id
        plain = seeded.query_df(
            f"SELECT {enforcement.CASE_FINDING_COLS} FROM case_finding FINAL "
            "WHERE event_id IN {ids:Array(String)} ORDER BY ts, event_id",
            parameters={"ids": ids},
        )
        fast = enforcement.case_findings(seeded, Scope.zone(), case_id, ids, (kind, sid))
        assert len(fast) == len(set(ids)) == len(plain)
        _same(plain, fast, ordered=True)


def test_station_cases_read_the_latest_rows_by_key(seeded: Any) -> None:
    """``desk.station_cases`` (case_latest, then case_state by key) against every version of
    every case in case_state, for each station, nozzle or sensor with cases, in several scopes."""
    from core.registry import default_registry
    from streams.warehouse.queries import desk

    units = {s.id: s.jurisdiction for s in default_registry().stations}
    with_cases = [r[0] for r in seeded.query(
        "SELECT DISTINCT splitByChar(':', subject_id)[1] FROM case_state "
        "WHERE subject_kind != 'vehicle' ORDER BY 1").result_rows]  # fmt: skip
    stations = sorted({s for s in with_cases if s in units})
    assert stations, "the seeded days open station cases"
    since = END - timedelta(days=1)
    for station in stations:
        sensors = [s.id for s in default_registry().sensors if s.station == station]
        own = scope_for("op", "station_operator", (), [station], station_jurisdiction=units)
        for scope in [*_scopes(), own]:
            plain = seeded.query_df(
                f"SELECT {desk._CASE_COLS}, status IN {{open:Array(String)}} AS is_open FROM ("
                f"SELECT {desk._CASE_COLS} FROM case_state FINAL WHERE subject_id = {{st:String}} "
                "OR startsWith(subject_id, concat({st:String}, ':')) "
                "OR subject_id IN {sens:Array(String)} "
                "ORDER BY case_id, version DESC LIMIT 1 BY case_id) "
                "WHERE jurisdiction IN {scope_j:Array(String)} "
                "AND (status IN {open:Array(String)} OR ts >= {since:DateTime64(3)}) "
                "ORDER BY is_open DESC, opened_at DESC, case_id",
                parameters={"st": station, "sens": sensors, "open": list(desk.OPEN),
                            "since": since, "scope_j": list(scope.all_jurisdictions)},
            )  # fmt: skip
            fast = desk.station_cases(seeded, scope, station, since)
            _same(plain, fast)


ENF_STATE_COLS = "case_id, version, ts, subject_kind, subject_id, plate, vin, vehicle_class, " \
    "jurisdiction, issue, status, opened_at, severity, rules, sources, jurisdictions, findings, " \
    "score, score_terms_json, suggested_measure, measure, head_hash"  # fmt: skip
# One vehicle's history as the API read it before: one query per part, rows through api.records.
_J = "jurisdiction IN {scope_j:Array(String)}"
_SUBJ = (
    "(subject_id = {plate:String} OR startsWith(subject_id, concat({plate:String}, '|')) "
    "OR subject_id IN {vins:Array(String)})"
)
PLAIN_HISTORY = {
    "rsd_pass": "SELECT event_id, ts, site_id, jurisdiction, plate, plate_colour, fuel, valid, "
    "co_pct, hc_ppm, no_ppm, opacity_pct, ringelmann, vsp_kw_t, speed_kmh, raw_ref FROM rsd_pass "
    f"FINAL WHERE plate = {{plate:String}} AND {_J} ORDER BY ts DESC LIMIT {{n:UInt32}}",
    "smoke_capture": "SELECT event_id, ts, camera_id, site_id, jurisdiction, plate, plate_colour, "
    "grade, calibration_status, evidence_uri, evidence_files, evidence_sha256 FROM smoke_capture "
    f"FINAL WHERE plate = {{plate:String}} AND {_J} ORDER BY ts DESC LIMIT {{n:UInt32}}",
    "smoke_review": "SELECT event_id, ts, capture_id, camera_id, jurisdiction, reviewer, decision, "
    f"reason, confirmed_grade FROM smoke_review FINAL WHERE plate = {{plate:String}} AND {_J} "
    "ORDER BY ts DESC LIMIT {n:UInt32}",
    "obd_info": "SELECT * EXCEPT ingested_at FROM obd_info FINAL WHERE vin IN "
    f"{{vins:Array(String)}} AND {_J} ORDER BY ts DESC LIMIT {{n:UInt32}}",
    "obd_status": "SELECT * EXCEPT ingested_at FROM obd_status FINAL WHERE vin IN "
    f"{{vins:Array(String)}} AND {_J} ORDER BY ts DESC LIMIT {{n:UInt32}}",
    "obd_days": "SELECT vin, toDate(ts, 'Asia/Shanghai') AS day, any(jurisdiction) AS jur, "
    "count() AS samples, min(ts) AS first_ts, max(ts) AS last_ts FROM obd_sample WHERE vin IN "
    f"{{vins:Array(String)}} AND {_J} GROUP BY vin, day ORDER BY day DESC LIMIT {{n:UInt32}}",
    "exceedance": "SELECT event_id, ts, source, rule_id, ruleset_version, severity, jurisdiction, "
    "device_id, measured, `limit`, unit, evidence, quality_flags, provisional, detail_json FROM "
    f"exceedance FINAL WHERE subject_kind = 'vehicle' AND {_SUBJ} AND {_J} ORDER BY ts DESC "
    "LIMIT {n:UInt32}",
    "cases": f"SELECT * FROM (SELECT {ENF_STATE_COLS} FROM case_state FINAL ORDER BY case_id, "
    "version DESC LIMIT 1 BY case_id) WHERE subject_kind = 'vehicle' AND "
    f"{_SUBJ} AND (jurisdiction IN {{scope_j:Array(String)}} OR hasAny(jurisdictions, "
    "{scope_j:Array(String)})) ORDER BY opened_at DESC LIMIT {n:UInt32}",
}


def _plain_history(
    client: Any, scope: Scope, plate: str, vins: list[str], n: int
) -> dict[str, list[dict[str, Any]]]:
    from streams.api import records

    p = {"plate": plate, "vins": vins, "n": n, "scope_j": list(scope.all_jurisdictions)}
    out = {}
    for name, sql in PLAIN_HISTORY.items():
        skip = (name.startswith("obd") and not vins) or (name[:3] in ("rsd", "smo") and not plate)
        out[name] = [] if skip else records(client.query_df(sql, parameters=p))
    for r in out["obd_days"]:
        r["day"] = r["day"][:10]  # a Beijing date (the plain form's DataFrame made it a midnight)
    return out


def _history_vehicles(client: Any) -> list[tuple[str, list[str]]]:
    rows = client.query(
        "SELECT plate, groupUniqArray(vin) FROM case_latest FINAL WHERE subject_kind = 'vehicle' "
        "AND plate != '' GROUP BY plate ORDER BY count() DESC, plate LIMIT 6"
    ).result_rows
    out = [(str(p), sorted(v for v in vs if v)) for p, vs in rows]
    busy = client.query(
        "SELECT plate FROM rsd_pass WHERE plate != '' GROUP BY plate ORDER BY count() DESC, plate "
        "LIMIT 2"
    ).result_rows
    for _replay in range(2):  # a review of a plate's capture, stored twice
        client.command(
            "INSERT INTO smoke_review (event_id, ts, capture_id, camera_id, jurisdiction, plate, "
            "reviewer, decision, reason, confirmed_grade) SELECT concat('r-', event_id), "
            "ts + INTERVAL 1 HOUR, event_id, camera_id, jurisdiction, plate, 'officer', 'confirm', "
            "'', 3.0 FROM smoke_capture WHERE plate != '' ORDER BY event_id LIMIT 1"
        )
    reviewed = client.query(
        "SELECT plate FROM smoke_review WHERE plate != '' GROUP BY plate ORDER BY plate LIMIT 1"
    ).result_rows
    vin = client.query("SELECT vin FROM obd_sample GROUP BY vin ORDER BY vin LIMIT 1").result_rows
    return [*out, *((str(r[0]), []) for r in busy + reviewed), ("", [str(vin[0][0])])]


def test_vehicle_history_in_one_query_is_the_plain_history(seeded: Any) -> None:
    from streams.warehouse.queries import enforcement

    vehicles = _history_vehicles(seeded)
    assert any(vs for _p, vs in vehicles)  # some with an OBD terminal
    seen: set[str] = set()
    for scope in _scopes():
        for plate, vins in vehicles:
            fast = enforcement.vehicle_history(seeded, scope, plate, vins)
            plain = _plain_history(seeded, scope, plate, vins, enforcement.HISTORY_LIMIT)
            assert set(fast) == set(plain)
            for part, rows in plain.items():
                seen.update(part for _r in rows)
                key = lambda r: json.dumps(r, sort_keys=True, default=str)  # noqa: E731
                assert sorted(fast[part], key=key) == sorted(rows, key=key), (part, plate, vins)
                # newest first, like the plain form (ties in any order)
                order = "day" if part == "obd_days" else "opened_at" if part == "cases" else "ts"
                assert [r[order] for r in fast[part]] == [r[order] for r in rows]
    assert seen == set(PLAIN_HISTORY)  # every part was compared on rows
    # a limit cuts each part to its newest rows
    plate, vins = vehicles[0]
    fast = enforcement.vehicle_history(seeded, Scope.zone(), plate, vins, limit=2)
    plain = _plain_history(seeded, Scope.zone(), plate, vins, 2)
    for part, rows in plain.items():
        assert [r["ts"] if "ts" in r else r["day"] for r in fast[part]] == [
            r["ts"] if "ts" in r else r["day"] for r in rows
        ]


def test_vehicle_ids_add_the_links_sources_supplied(warehouse: Any) -> None:
    from streams.warehouse.queries import enforcement

    rows = [("l1", "沪A11111", "VIN1"), ("l2", "沪A11111", "VIN2"), ("l3", "沪B22222", "VIN3")]
    for event_id, plate, vin in [*rows, rows[0]]:  # one link stored twice
        warehouse.command(
            "INSERT INTO vehicle_link (event_id, ts, plate, vin, source, source_event_id) VALUES "
            "({e:String}, now64(3), {p:String}, {v:String}, 'obd_gateway', '')",
            parameters={"e": event_id, "p": plate, "v": vin},
        )
    z = Scope.zone()
    assert enforcement.vehicle_ids(warehouse, z, "沪A11111", []) == ("沪A11111", ["VIN1", "VIN2"])
    assert enforcement.vehicle_ids(warehouse, z, "", ["VIN2"]) == ("沪A11111", ["VIN1", "VIN2"])
    assert enforcement.vehicle_ids(warehouse, z, "沪C33333", ["VIN9"]) == ("沪C33333", ["VIN9"])

"""The bulk seeder: a small seed into a fresh warehouse stores what the generator reports, runs the
platform's processors (exceedances present), is deterministic for a given seed, and refuses a
directory seeded before."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from streams.catalog import table_of
from streams.seed import Seeder, SeedError, SeedPlan, encode_streams, prepare_dir, write_marker

pytestmark = [pytest.mark.component]

END = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)  # 12:00 Beijing time: the last day is cut at noon
REPO = Path(__file__).resolve().parents[2]


def _seed(client: Any, tmp: Path, ruleset: Any, registry: Any, seed: int = 3) -> Any:
    plan = SeedPlan(days=1, end=END, scale=0.03, seed=seed)
    seeder = Seeder(client, plan, ruleset=ruleset, registry=registry, data_dir=tmp, real_bundles=1)
    return seeder, seeder.run(progress=False)


def _ids(client: Any, kind: str) -> list[str]:
    rows = client.query(f"SELECT event_id FROM `{table_of(kind)}` FINAL ORDER BY event_id")
    return [r[0] for r in rows.result_rows]


def test_small_seed_stores_what_it_reports_and_judges_it(
    warehouse: Any, tmp_path: Path, ruleset: Any, registry: Any
) -> None:
    seeder, report = _seed(warehouse, tmp_path, ruleset, registry)
    assert report.processor_errors == 0
    for kind in (
        "obd.sample",
        "rsd.pass",
        "vapor.fuelling",
        "vapor.station_reading",
        "vapor.depot_reading",  # a small scale seeds a share of the depots, at least one
    ):
        assert report.rows[kind] > 0, kind
    for kind, n in report.rows.items():
        stored = warehouse.query(f"SELECT count() FROM `{table_of(kind)}` FINAL").result_rows
        assert stored[0][0] == n, kind
    by_source = dict(
        warehouse.query("SELECT source, count() FROM exceedance FINAL GROUP BY source").result_rows
    )
    assert report.rows["exceedance"] == sum(by_source.values())
    assert {"remote_sensing", "obd_gateway", "fuel_vapor"} <= set(by_source)
    vins = {r[0] for r in warehouse.query("SELECT DISTINCT vin FROM obd_sample").result_rows}
    assert vins == {v.vin for v in seeder.cast.vehicles}
    assert {v.jurisdiction for v in seeder.cast.vehicles} == {"qingpu", "wujiang", "jiashan"}
    # a vehicle of the OBD registry passes the roadside under the same plate
    plates = {v.plate for v in seeder.cast.vehicles}
    seen = {r[0] for r in warehouse.query("SELECT DISTINCT plate FROM rsd_pass").result_rows}
    assert plates & seen
    # every capture has real evidence files under the data directory, matching its hashes
    import hashlib

    from smoke_capture.evidence import verify_bundle

    caps = warehouse.query(
        "SELECT evidence_uri, evidence_files, evidence_sha256, clip_seconds FROM smoke_capture FINAL"
    ).result_rows
    assert len(caps) == report.rows["smoke.capture"] == report.evidence_bundles > 0
    for uri, files, hashes, clip in caps:
        folder = tmp_path / uri
        assert not uri.startswith(("seed://", "/")) and verify_bundle(folder) == []
        assert [hashlib.sha256((folder / f).read_bytes()).hexdigest() for f in files] == list(
            hashes
        )
        assert {f.rsplit(".", 1)[0] for f in files} >= {"best_frame", "plate_crop", "clip"}
        assert clip >= 10.0
    # each bundle's manifest carries what the live pipeline's does and a review's label reads
    from smoke_capture.events import SmokeReview
    from smoke_capture.review import label_from_review

    rows = warehouse.query(
        "SELECT event_id, evidence_uri, first_ts, detector_confidence, grade, camera_id "
        "FROM smoke_capture FINAL"
    ).result_rows
    for eid, uri, first, conf, grade, cam in rows:
        m = json.loads((tmp_path / uri / "manifest.json").read_text(encoding="utf-8"))
        assert m["capture_id"] == eid and m["camera_id"] == cam
        stored_first = first.replace(tzinfo=UTC)  # the warehouse keeps milliseconds
        assert abs(datetime.fromisoformat(m["first_ts"]) - stored_first) < timedelta(milliseconds=1)
        assert m["detector_confidence"] == pytest.approx(conf)
        assert m["grade"] == pytest.approx(grade)
        x0, y0, x1, y1 = m["plume_box"]
        assert 0 <= x0 < x1 and 0 <= y0 < y1
        review = SmokeReview(
            event_id=SmokeReview.make_id(eid, "officer.test", END),
            ts=END,
            capture_id=eid,
            camera_id=cam,
            jurisdiction="qingpu",
            plate="",
            reviewer="officer.test",
            decision="confirmed",
            reason="",
            confirmed_grade=2.0,
            note="",
        )
        label = label_from_review(m, review, 384, 288)  # the model's box from the manifest
        assert label.plume_boxes and label.model_confidence == pytest.approx(conf)
    # the evidence export reads them through the reference a BS-CONFIRM carries (path#sha256=…)
    from enforcement.evidence import split_ref
    from streams.api import EnforcementService

    svc = EnforcementService(warehouse, lambda cmd: None, ruleset, registry, tmp_path)
    uri, files, hashes, _ = caps[0]
    for name, h in zip(files, hashes, strict=True):
        path, declared = split_ref(f"{uri}/{name}#sha256={h}")
        data = svc._read_file(path)
        assert data is not None and hashlib.sha256(data).hexdigest() == declared


def test_a_larger_fleet_is_registered_where_the_platform_finds_it(
    tmp_path: Path, ruleset: Any, registry: Any
) -> None:
    from core.registry import load_registry

    seeder = Seeder(
        None, SeedPlan(days=30, end=END), ruleset=ruleset, registry=registry, data_dir=tmp_path
    )
    assert len(seeder.cast.vehicles) > len(registry.obd_vehicles)
    assert len(seeder.cast.offenders) >= 3
    reg_dir = seeder.write_registry()
    assert reg_dir is not None
    loaded = load_registry(reg_dir)
    assert {v.vin for v in loaded.obd_vehicles} == {v.vin for v in seeder.registry.obd_vehicles}
    assert len(loaded.stations) == len(registry.stations)


def test_same_seed_same_data_other_seed_other_data(
    chdb_dsn: str, tmp_path: Path, ruleset: Any, registry: Any
) -> None:
    from streams.warehouse.client import connect
    from streams.warehouse.migrator import migrate

    ids: list[dict[str, list[str]]] = []
    for i, seed in enumerate((3, 3, 4)):
        db = f"t_seed_{os.getpid()}_{i}"
        client = connect(chdb_dsn, db)
        migrate(client)
        try:
            _, _report = _seed(client, tmp_path / str(i), ruleset, registry, seed=seed)
            ids.append({k: _ids(client, k) for k in ("obd.sample", "rsd.pass", "exceedance")})
            vals = client.query(  # exact sums: a float sum depends on the order of the parts
                "SELECT sum(toDecimal128(nox_down_ppm, 6)), sum(toDecimal128(speed_kmh, 6)) "
                "FROM obd_sample"
            )
            ids[-1]["values"] = [str(x) for x in vals.result_rows[0]]
        finally:
            client.command(f"DROP DATABASE IF EXISTS `{db}`")
    assert ids[0] == ids[1]
    assert ids[0]["rsd.pass"] != ids[2]["rsd.pass"]
    assert ids[0]["values"] != ids[2]["values"]


def test_streams_are_encoded_like_the_simulator_encodes_them() -> None:
    from obd_gateway.protocol import DataStream
    from obd_gateway.protocol.bodies import NUMERIC_FIELDS

    rng = np.random.default_rng(5)
    n = 200
    cols = {name: rng.uniform(0, 300, n) for name in NUMERIC_FIELDS}
    cols["lon"] = rng.uniform(120.7, 121.2, n)
    cols["lat"] = rng.uniform(30.8, 31.2, n)
    cols["odometer_km"] = rng.uniform(0, 5e5, n)
    fix = rng.random(n) > 0.2
    raws, body = encode_streams(cols, fix)
    for i in range(n):
        one = DataStream.from_physical(
            fix_valid=bool(fix[i]), **{k: float(v[i]) for k, v in cols.items()}
        )
        assert tuple(raws[i]) == one.raw
        assert body[i * 37 : (i + 1) * 37] == one.encode()


def test_plan_rejects_bad_arguments() -> None:
    with pytest.raises(SeedError, match="--days 0"):
        SeedPlan(days=0, end=END)
    with pytest.raises(SeedError, match="--scale"):
        SeedPlan(days=1, end=END, scale=0)
    with pytest.raises(SeedError, match="--obd-cadence"):
        SeedPlan(days=1, end=END, obd_cadence_s=0)
    slices = SeedPlan(days=2, end=END).days_list()
    assert slices[0][0] == datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
    assert slices[-1][1] == END
    assert all(b == c for (_, b), (c, _) in itertools.pairwise(slices))
    assert len(slices) == 3  # cut at Beijing midnights


def test_a_seeded_directory_is_refused_unless_replaced(tmp_path: Path) -> None:
    plan = SeedPlan(days=1, end=END)
    prepare_dir(tmp_path, replace=False)  # empty: fine
    write_marker(tmp_path, plan, "complete", None)
    (tmp_path / "warehouse").mkdir()
    (tmp_path / "warehouse" / "x").write_text("old")
    with pytest.raises(SeedError, match=r"already seeded.*--replace"):
        prepare_dir(tmp_path, replace=False)
    prepare_dir(tmp_path, replace=True)
    assert not (tmp_path / "warehouse").exists()
    assert not (tmp_path / "seed.json").exists()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("EMW_WAREHOUSE_DSN", None)
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", "seed", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=REPO,
    )


@pytest.mark.slow
def test_cli_seeds_once_refuses_twice_and_replaces(tmp_path: Path) -> None:
    d = str(tmp_path / "d")
    common = ["--days", "1", "--scale", "0.02", "--end", "2026-11-30T12:00", "--data-dir", d]
    first = _cli(*common, "--quiet", "--json")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["rows"]["obd.sample"] > 0 and report["readings"] > 0
    again = _cli(*common, "--quiet")
    assert again.returncode == 2
    assert "already seeded" in again.stderr and "--replace" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    replaced = _cli(*common, "--quiet", "--json", "--replace")
    assert replaced.returncode == 0, replaced.stderr
    assert json.loads(replaced.stdout)["rows"] == report["rows"]
    bad = _cli("--days", "0", "--data-dir", d)
    assert bad.returncode == 2 and "--days 0" in bad.stderr


def test_terminals_that_drop_out_mid_drive_are_reported_offline(
    ruleset: Any, registry: Any
) -> None:
    from core.processing import Context
    from core.registry import Registry
    from core.timeutil import BEIJING
    from streams import catalog
    from streams.bus.inproc import InProcessBus
    from streams.seed import ObdSource, make_cast

    plan = SeedPlan(days=8, end=datetime(2026, 11, 30, 16, 0, tzinfo=UTC), scale=0.2, seed=1)
    cast = make_cast(registry, plan)
    reg = registry.merged(Registry(obd_vehicles=list(cast.synthetic)))
    back = {vin for vin, (first, span) in cast.offline.items() if first + span < plan.days}
    assert back  # a terminal goes offline and comes back within the seeded days
    src = ObdSource(cast, plan)
    bus = InProcessBus(None, catalog.processors(), Context(ruleset, reg))
    offline: set[str] = set()
    for i, (lo, hi) in enumerate(plan.days_list()):
        local = lo.astimezone(BEIJING)
        events = src.day(i, datetime(local.year, local.month, local.day, tzinfo=BEIJING), lo, hi)
        for e in sorted(events, key=lambda e: e.ts):
            offline |= {x.subject_id for x in bus.process_now(e) if x.rule_id == "OBD-OFFLINE"}
    assert back <= offline


def test_every_reading_goes_through_the_platforms_rules(
    warehouse: Any, tmp_path: Path, ruleset: Any, registry: Any
) -> None:
    """The seeder hands every stored reading to the catalogue's processors (the live platform's
    rules), and what they return is what the warehouse holds: counted by wrapping each processor."""
    from core.processing import Processor
    from streams import catalog

    seen: dict[str, int] = {}
    fired: dict[str, int] = {}

    def counting(p: Processor) -> Processor:
        def handle(event: Any, state: Any, ctx: Any) -> Any:
            seen[event.KIND] = seen.get(event.KIND, 0) + (
                len(event) if hasattr(event, "event_ids") else 1
            )
            out = list(p.handle(event, state, ctx))
            for e in out:
                fired[e.KIND] = fired.get(e.KIND, 0) + 1
            return out

        return Processor(p.name, p.inputs, handle)

    procs = [counting(p) for p in catalog.processors()]
    routed = {k for p in procs for k in p.inputs}
    plan = SeedPlan(days=1, end=END, scale=0.03, seed=3)
    report = Seeder(
        warehouse,
        plan,
        ruleset=ruleset,
        registry=registry,
        data_dir=tmp_path,
        processors=procs,
        real_bundles=0,
    ).run(progress=False)
    for kind in ("obd.sample", "rsd.pass", "vapor.fuelling", "vapor.device_alarm"):
        assert kind in routed
        # every record of a routed reading kind reached its processors (once per processor)
        n_proc = sum(1 for p in procs if kind in p.inputs)
        assert seen[kind] == n_proc * (report.rows[kind] + report.repeated[kind]), kind
    stored = dict(
        warehouse.query("SELECT source, count() FROM exceedance FINAL GROUP BY source").result_rows
    )
    assert fired["exceedance"] >= sum(stored.values()) == report.rows["exceedance"] > 0
    assert report.rows["case.state"] > 0  # the enforcement processors opened cases


def test_a_vehicles_rsd_exceedances_are_found_by_its_plate(
    warehouse: Any, tmp_path: Path, ruleset: Any, registry: Any
) -> None:
    """The vehicle page's queries find remote-sensing exceedances (keyed plate|colour) by the
    plate alone: its counts of sources and jurisdictions are not 0 on seeded data."""
    from core.scope import Scope
    from streams.warehouse.queries import vehicle

    _seed(warehouse, tmp_path, ruleset, registry)
    subject, plate = warehouse.query(
        "SELECT subject_id, splitByChar('|', subject_id)[1] FROM exceedance FINAL "
        "WHERE source = 'remote_sensing' AND position(subject_id, '|') > 0 "
        "ORDER BY subject_id LIMIT 1"
    ).result_rows[0]
    ex = vehicle.exceedances(warehouse, Scope.zone(), plate, "")
    assert subject in set(ex["subject_id"])
    assert "remote_sensing" in set(ex["source"]) and ex["jurisdiction"].nunique() >= 1
    since, until = END - timedelta(days=3), END + timedelta(hours=1)
    tl = vehicle.timeline(warehouse, Scope.zone(), plate, "", since, until)
    assert "exceedance" in set(tl["what"])

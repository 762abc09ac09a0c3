"""Named RSD queries on chDB agree with the pure computations and count replays once."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from typing import Any

import pandas as pd
import pytest

from core.processing import Context
from core.scope import Scope
from core.timeutil import beijing
from remote_sensing.assemble import build_passes
from remote_sensing.evaluate import Evaluator
from remote_sensing.events import RsdCalibration, RsdDowntime, examples
from remote_sensing.processors import handle_pass
from remote_sensing.profiles import load_profile
from remote_sensing.rules import site_quality
from remote_sensing.simulator import SimConfig, generate
from streams.warehouse.queries import rsd as q
from streams.warehouse.sink import BatchingSink

ZONE = Scope.zone()  # named queries take the caller's scope

pytestmark = pytest.mark.component

T0 = beijing(2026, 11, 10, 6)


def _passes(registry: Any, ruleset: Any) -> list[Any]:
    ev = Evaluator.from_ruleset(ruleset)
    out: list[Any] = []
    by: dict[str, list[dict[str, Any]]] = {}
    for _, prof, rec in generate(
        registry, 150, T0, SimConfig(seed=12, malformed_share=0.0), interval_s=400
    ):
        by.setdefault(prof, []).append(rec)
    for prof, recs in by.items():
        p = load_profile(prof)
        b = p.canonical_batch(recs)
        events, errors = build_passes(
            b.cols,
            b.rows,
            registry=registry,
            evaluator=ev,
            profile=prof,
            now=T0 + timedelta(days=30),
            present=frozenset(p.fields),
        )
        assert errors == {}
        out.extend(events.values())
    return out


def test_site_quality_matches_pure_computation(warehouse: Any, registry: Any, ruleset: Any) -> None:
    passes = _passes(registry, ruleset)
    down = [
        RsdDowntime(
            RsdDowntime.make_id("RSD-QP-01", T0 + timedelta(hours=2), "rain"),
            T0 + timedelta(hours=2),
            T0 + timedelta(hours=3, minutes=30),
            "RSD-QP-01",
            "qingpu",
            "rain",
            "",
        ),
        RsdDowntime(
            RsdDowntime.make_id("RSD-JS-01", T0 + timedelta(hours=4), "maintenance"),
            T0 + timedelta(hours=4),
            T0 + timedelta(hours=4, minutes=20),
            "RSD-JS-01",
            "jiashan",
            "maintenance",
            "",
        ),
    ]
    cal = dataclasses.replace(
        examples()[1], ts=T0, event_id=RsdCalibration.make_id("RSD-QP-01", "daily", T0)
    )
    sink = BatchingSink(warehouse, write_ingest_log=False)
    sink.put(passes + down + [cal])
    sink.put(passes[:50])  # a replay of some passes
    assert sink.flush()
    got = q.site_quality_daily(warehouse, ZONE, T0 - timedelta(days=1), T0 + timedelta(days=10))
    frame = pd.DataFrame(
        {
            "site_id": [p.site_id for p in passes],
            "ts": [p.ts for p in passes],
            "valid": [p.valid for p in passes],
            "plate": [p.plate for p in passes],
            "invalid_reasons": [p.invalid_reasons for p in passes],
        }
    )
    dframe = pd.DataFrame(
        [{"site_id": d.site_id, "ts": d.ts, "end": d.end, "reason": d.reason} for d in down]
    )
    want = site_quality(frame, dframe)
    merged = want.merge(got, on=["site_id", "day"], suffixes=("_py", "_sql"))
    assert len(merged) == len(want) == len(got)
    for c in ("passes", "valid", "captured", "weather_downtime_s", "other_downtime_s"):
        assert (merged[f"{c}_py"] == merged[f"{c}_sql"]).all(), c
    assert merged["valid_rate_sql"].round(9).equals(merged["valid_rate_py"].round(9))
    row = got[(got.site_id == "RSD-QP-01") & (got.day == date(2026, 11, 10))].iloc[0]
    assert bool(row["calibration_passed"]) and row["weather_downtime_s"] == 5400
    one_site = q.site_quality_daily(
        warehouse, ZONE, T0 - timedelta(days=1), T0 + timedelta(days=10), "RSD-JS-01"
    )
    assert set(one_site["site_id"]) == {"RSD-JS-01"}


def test_history_exceedances_and_calibrations(warehouse: Any, registry: Any, ruleset: Any) -> None:
    passes = sorted(_passes(registry, ruleset), key=lambda p: p.ts)
    ctx = Context(ruleset, registry)
    state: dict[str, Any] = {}
    exc = [e for p in passes for e in handle_pass(p, state, ctx)]
    assert exc, "the simulated fleet should produce exceedances"
    sink = BatchingSink(warehouse, write_ingest_log=False)
    sink.put(passes + exc + exc)
    assert sink.flush()
    plate_counts = pd.Series([p.plate for p in passes if p.plate]).value_counts()
    plate = plate_counts.index[0]
    hist = q.vehicle_history(warehouse, ZONE, plate)
    assert len(hist) == plate_counts.iloc[0] and hist["ts"].is_monotonic_decreasing
    assert len(q.vehicle_history(warehouse, ZONE, plate, "purple")) == 0
    since, until = T0 - timedelta(days=1), T0 + timedelta(days=30)
    allx = q.recent_exceedances(warehouse, ZONE, since, until, limit=100_000)
    assert len(allx) == len(exc)  # stored once despite the replay
    qp = q.recent_exceedances(
        warehouse, ZONE, since, until, jurisdictions=("qingpu",), limit=100_000
    )
    assert set(qp["jurisdiction"]) <= {"qingpu"}
    assert len(qp) == sum(e.jurisdiction == "qingpu" for e in exc)
    reps = q.repeat_offenders(warehouse, ZONE, since, until)
    assert int(reps["cases"].sum() if len(reps) else 0) == sum(
        e.rule_id == "RS-REPEAT" for e in exc
    )
    sink.put([examples()[1]])
    assert sink.flush()
    cals = q.calibrations(warehouse, ZONE, beijing(2026, 11, 1), beijing(2026, 12, 1))
    assert list(cals["check_kind"]) == ["daily"]


def test_view_agrees_with_query(warehouse: Any, registry: Any, ruleset: Any) -> None:
    passes = _passes(registry, ruleset)
    sink = BatchingSink(warehouse, write_ingest_log=False)
    sink.put(passes)
    assert sink.flush()
    view = warehouse.query_df("SELECT * FROM rsd_site_day ORDER BY site_id, day")
    got = q.site_quality_daily(warehouse, ZONE, T0 - timedelta(days=1), T0 + timedelta(days=10))
    view["day"] = pd.to_datetime(view["day"]).dt.date
    m = view.merge(got, on=["site_id", "day"])
    assert len(m) == len(view) == len(got)
    assert (m["valid_passes"] == m["valid"]).all() and (m["captured_x"] == m["captured_y"]).all()

"""Simulator realism (heavy tail, repeats, mix, invalid share) and ``rsd evaluate`` end to end."""

from __future__ import annotations

import argparse
import collections
import dataclasses
import random
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from core.errors import ConfigError
from core.timeutil import beijing
from remote_sensing.assemble import build_passes, canonical_columns
from remote_sensing.cli import evaluate_file, register
from remote_sensing.evaluate import OUTPUT_COLUMNS, Evaluator
from remote_sensing.profiles import load_profile
from remote_sensing.simulator import SimConfig, SiteTraffic, generate, make_fleet, to_vendor

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / "tests" / "data" / "rsd" / "conox_uk_2012_2013_100k.csv.gz"


def test_fleet_mix_and_heavy_tail() -> None:
    cfg = SimConfig(fleet_size=4000, seed=2)
    fleet = make_fleet(random.Random(2), cfg)
    fuels = collections.Counter(v.fuel for v in fleet)
    assert abs(fuels["electric"] / len(fleet) - cfg.nev_share) < 0.03
    assert abs(fuels["diesel"] / len(fleet) - cfg.diesel_share) < 0.03
    assert all(len(v.plate) == 8 for v in fleet if v.fuel == "electric")
    em = np.sort([v.emitter for v in fleet if v.fuel != "electric"])[::-1]
    top10 = em[: len(em) // 10].sum() / em.sum()
    assert top10 > 0.5  # a small share of vehicles emits most


def test_repeat_visits_and_invalid_share(registry: Any, ruleset: Any) -> None:
    site = registry.rsd_sites[0]
    cfg = SimConfig(seed=4, fleet_size=3000, malformed_share=0.0)
    tr = SiteTraffic(site, make_fleet(random.Random(4), cfg), cfg, 11)
    t = beijing(2026, 11, 1, 8)
    canon = [tr.canonical_pass(t) for _ in range(3000)]
    plates = collections.Counter(c["plate"] for c in canon if c["plate"])
    assert plates.most_common(1)[0][1] >= 20  # some plates pass very often
    assert sum(1 for n in plates.values() if n >= 2) > 200
    prof = load_profile(site.vendor_profile)
    items = [prof.canonical(to_vendor(prof, c)) for c in canon]
    events, errors = build_passes(
        canonical_columns(items),
        list(range(len(items))),
        registry=registry,
        evaluator=Evaluator.from_ruleset(ruleset),
        profile=prof.name,
        now=t,
        present=frozenset(prof.fields),
    )
    assert errors == {}
    passes = [events[i] for i in range(len(canon))]
    valid_share = np.mean([p.valid for p in passes])
    assert 0.5 < valid_share < 0.95
    judged = [p for p in passes if p.valid and p.fuel in ("gasoline", "diesel")]
    over = np.mean([(p.no_ppm or 0) > 1500 or (p.co_pct or 0) > 2.5 for p in judged])
    assert 0.002 < over < 0.15  # exceedances exist but are a minority


def test_vendor_round_trip(registry: Any) -> None:
    site = registry.rsd_site("RSD-WJ-01")
    cfg = SimConfig(seed=9, malformed_share=0.0, invalid_share=0.0)
    tr = SiteTraffic(site, make_fleet(random.Random(9), cfg), cfg, 1)
    c = tr.canonical_pass(beijing(2026, 11, 2, 10))
    prof = load_profile("vendor_b")
    back = prof.canonical(to_vendor(prof, c))
    for k in ("record_id", "site_id", "plate", "plate_colour", "fuel", "ts"):
        assert back[k] == c[k], k
    for k in ("ratio_co", "ratio_hc", "ratio_no", "speed_kmh"):
        if c.get(k) is not None:
            assert back[k] == pytest.approx(c[k], rel=1e-6, abs=1e-9), k


def test_generate_skips_rain(registry: Any) -> None:
    cfg = SimConfig(seed=1, rain_chance_per_hour=5.0)  # it rains most of the time
    out = list(generate(registry, 50, beijing(2026, 11, 1), cfg, interval_s=60.0))
    assert len(out) == 50 * len(registry.rsd_sites)
    assert all(r.get("jyzt") in ("0", None) for _, _, r in out)


def test_register_adds_commands() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd")
    sim = sub.add_parser("simulate").add_subparsers(dest="sim")
    groups = {"root": sub, "simulate": sim}
    register(groups)
    a = parser.parse_args(["rsd", "evaluate", "in.csv", "--profile", "conox", "-o", "out.csv"])
    assert (a.input, a.profile, a.output) == ("in.csv", "conox", "out.csv") and callable(a.func)
    b = parser.parse_args(["simulate", "rsd", "--rate", "5"])
    assert b.rate == 5.0 and callable(b.func)


def test_evaluate_missing_input(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="existing CSV"):
        evaluate_file(tmp_path / "nope.csv", tmp_path / "o.csv", "conox", progress=False)


def test_evaluate_national_file(tmp_path: Path, registry: Any) -> None:
    rows = [r for _, p, r in generate(registry, 30, beijing(2026, 11, 1)) if p == "national"]
    src = tmp_path / "in.csv"
    pd.DataFrame(rows).to_csv(src, index=False)
    st = evaluate_file(src, tmp_path / "out.csv", "national", progress=False, chunk_rows=25)
    out = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    assert st.rows == len(rows) == len(out)
    cols = list(pd.DataFrame(rows).columns)
    assert list(out.columns[: len(cols)]) == cols
    assert set(out["judgement"]) <= {"pass", "fail", "provisional", "not_judged"}
    assert (out.loc[out["valid"].astype(str) == "False", "invalid_reason"] != "").all()


def test_evaluate_conox_sample(tmp_path: Path) -> None:
    src = tmp_path / "sample.csv.gz"
    raw = pd.read_csv(DATA, nrows=3000, low_memory=False)
    raw.to_csv(src, index=False)
    dst = tmp_path / "out.csv"
    st = evaluate_file(src, dst, "conox", progress=False, chunk_rows=1000)
    out = pd.read_csv(dst, low_memory=False)
    assert st.rows == 3000 and len(out) == 3000
    for c in raw.columns:
        assert c in out.columns
    for c in (*OUTPUT_COLUMNS, "ruleset_version"):
        assert c in out.columns
    m = out["CO_gpkg"].abs() >= 0.5
    rel = (out.loc[m, "co_gpkg"] - out.loc[m, "CO_gpkg"]).abs() / out.loc[m, "CO_gpkg"].abs()
    assert (rel <= 0.007).mean() > 0.97
    # passes the source flags invalid (SAFlag X) are invalid here too, with reasons
    x = out["SAFlag"] == "X"
    assert x.any() and (~out.loc[x, "valid"]).all()
    assert out.loc[x, "invalid_reason"].str.contains("device_invalid").all()
    electric = out["FuelType"] == "BATTERY ELECTRIC"
    assert (out.loc[electric, "judgement"] == "not_judged").all()
    assert out["quality_flags"].str.contains("co2_estimated").all()


@pytest.mark.parametrize("fuel", ["gasoline", "diesel"])
def test_ratio_shapes_follow_real_data(registry: Any, fuel: str) -> None:
    real = pd.read_csv(DATA, usecols=["FuelType", "Ratio_CO_CO2", "Ratio_HC_CO2", "Ratio_NO_CO2"])
    real = real[real["FuelType"] == {"gasoline": "PETROL", "diesel": "DIESEL"}[fuel]]
    cfg = SimConfig(seed=3, malformed_share=0.0, invalid_share=0.0)
    tr = SiteTraffic(registry.rsd_sites[0], make_fleet(random.Random(3), cfg), cfg, 5)
    sim = [tr.canonical_pass(beijing(2026, 11, 1)) for _ in range(12000)]
    for p in ("co", "hc", "no"):
        r = real[f"Ratio_{p.upper()}_CO2"].dropna().to_numpy()
        s = np.array([x[f"ratio_{p}"] for x in sim if x["fuel"] == fuel])

        def shape(v: np.ndarray) -> tuple[float, float, float, float]:
            pos = np.sort(np.clip(v, 0, None))[::-1]
            top10 = pos[: len(pos) // 10].sum() / pos.sum()
            return float(np.median(v)), float(np.quantile(v, 0.9)), float((v < 0).mean()), top10

        (m_r, q_r, n_r, t_r), (m_s, q_s, n_s, t_s) = shape(r), shape(s)
        assert 1 / 3 < m_s / m_r < 3, (p, m_s, m_r)
        assert 1 / 2 < q_s / q_r < 2, (p, q_s, q_r)
        assert abs(n_s - n_r) < 0.1, (p, n_s, n_r)
        assert abs(t_s - t_r) < 0.15, (p, t_s, t_r)


def test_passes_over_only_a_provisional_limit_are_provisional_not_fail(tmp_path: Path) -> None:
    """Issue 10 §3: RS-G-HC is provisional (confirmed: false); a pass exceeding only it was counted
    as a failure (192 of the 100,000 real passes)."""
    from core.ruleset import load_ruleset

    rs = load_ruleset()
    assert not rs.rule("RS-G-HC").confirmed
    src = tmp_path / "sample.csv.gz"
    pd.read_csv(DATA, nrows=5000, low_memory=False).to_csv(src, index=False)
    dst = tmp_path / "out.csv"
    st = evaluate_file(src, dst, "conox", progress=False, chunk_rows=2000)
    out = pd.read_csv(dst, usecols=["judgement", "exceeded_rules"], keep_default_na=False)
    rules = out["exceeded_rules"].str.split(";")
    provisional = out["judgement"] == "provisional"
    assert provisional.sum() >= 3 and st.provisional == provisional.sum()
    assert st.failed == (out["judgement"] == "fail").sum()
    for ids in rules[provisional]:  # over provisional limits only
        assert ids and all(not rs.rule(r).confirmed for r in ids)
    for ids in rules[out["judgement"] == "fail"]:  # over at least one confirmed limit
        assert any(rs.rule(r).confirmed for r in ids)
    both = out["exceeded_rules"].str.contains("RS-G-HC") & (out["judgement"] == "fail")
    assert both.any()  # HC together with a confirmed limit stays a failure


def test_evaluate_writes_parquet_with_the_same_columns_and_judgements(tmp_path: Path) -> None:
    src = tmp_path / "sample.csv.gz"
    pd.read_csv(DATA, nrows=4000, low_memory=False).to_csv(src, index=False)
    st_csv = evaluate_file(src, tmp_path / "out.csv", "conox", progress=False, chunk_rows=1500)
    st_pq = evaluate_file(src, tmp_path / "out.parquet", "conox", progress=False, chunk_rows=1500)
    csv = pd.read_csv(tmp_path / "out.csv", keep_default_na=False, low_memory=False)
    pq = pd.read_parquet(tmp_path / "out.parquet")
    assert st_csv == dataclasses.replace(st_pq, seconds=st_csv.seconds)
    assert list(pq.columns) == list(csv.columns) and len(pq) == 4000
    for c in ("judgement", "exceeded_rules", "invalid_reason", "quality_flags"):
        assert (pq[c].to_numpy() == csv[c].to_numpy()).all(), c
    assert (pq["valid"].to_numpy() == (csv["valid"].astype(str) == "True").to_numpy()).all()
    assert np.allclose(pq["nox_gpkg"], pd.to_numeric(csv["nox_gpkg"]), equal_nan=True)


def test_evaluate_keeps_input_text_as_written(tmp_path: Path) -> None:
    """Times are not parsed, pandas' missing spellings stay missing, and an empty input gives a
    header with every column."""
    src = tmp_path / "in.csv"
    raw = pd.read_csv(DATA, nrows=3, low_memory=False)
    raw.loc[1, "VehicleMake"] = "NA"
    raw.to_csv(src, index=False)
    evaluate_file(src, tmp_path / "out.csv", "conox", progress=False)
    text = (tmp_path / "out.csv").read_text().splitlines()
    assert '"2012-05-21 01:56:48"' in text[1] and len(text) == 4
    out = pd.read_csv(tmp_path / "out.csv")
    assert out["VehicleMake"].isna()[1]
    empty = tmp_path / "empty.csv"
    empty.write_text(",".join(raw.columns) + "\n")
    st = evaluate_file(empty, tmp_path / "e.csv", "conox", progress=False)
    header = (tmp_path / "e.csv").read_text().splitlines()
    assert st.rows == 0 and len(header) == 1
    assert header[0].replace('"', "").split(",") == [
        *raw.columns,
        *OUTPUT_COLUMNS,
        "ruleset_version",
    ]


def test_evaluate_refuses_a_bad_chunk_size_and_an_unreadable_file(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("a,b\n1,2,3\n")
    with pytest.raises(ConfigError, match="readable CSV"):
        evaluate_file(src, tmp_path / "o.csv", "conox", progress=False)
    with pytest.raises(ConfigError, match="chunk-rows"):
        evaluate_file(src, tmp_path / "o.csv", "conox", progress=False, chunk_rows=0)


def test_the_evaluate_command_loads_no_other_plugins_commands(tmp_path: Path) -> None:
    """``emwatch rsd evaluate`` in a fresh process (as analysts run it): the file is written, and
    of the command modules only remote_sensing's was imported (the others cost start-up only)."""
    import json
    import os
    import subprocess
    import sys

    src = tmp_path / "in.csv"
    pd.read_csv(DATA, nrows=200, low_memory=False).to_csv(src, index=False)
    dst = tmp_path / "out.parquet"
    probe = (
        "import sys, json\nfrom streams import cli\n"
        f"code = cli.main(['rsd', 'evaluate', {str(src)!r}, '-o', {str(dst)!r}, '-q'])\n"
        "print(json.dumps([code, sorted(m for m in sys.modules if m.endswith('cli'))]))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    code, clis = json.loads(done.stdout.strip().splitlines()[-1])
    assert code == 0 and dst.is_file()
    assert clis == ["remote_sensing.cli", "streams.cli"]

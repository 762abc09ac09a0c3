"""Pure RSD decisions: strictest limit, per-pass judgement, repeat window, site quality."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from core.ruleset import DEFAULT_DIR, load_ruleset
from core.timeutil import beijing
from remote_sensing.rules import (
    add_months,
    is_new_energy,
    judge,
    judge_frame,
    limit_rules,
    site_quality,
    update_repeat,
)


def test_limit_table_from_ruleset(ruleset: Any) -> None:
    table = {(lr.rule.id, lr.fuel): lr for lr in limit_rules(ruleset)}
    assert table[("RS-G-CO", "gasoline")].limit.value == 2.5
    assert table[("RS-D-NO", "diesel")].limit.value == 1500
    assert ("RS-D-NO", "gasoline") not in table  # fuel-specific candidates
    assert ("RS-G-CO", "diesel") not in table
    assert not table[("RS-G-HC", "gasoline")].feeds_repeat  # provisional
    assert table[("RS-G-NO", "gasoline")].feeds_repeat


def test_strictest_candidate_wins(tmp_path: Path) -> None:
    """A stricter local candidate (e.g. a DB31 value) replaces the national one for its fuel."""
    d = tmp_path / "rs"
    shutil.copytree(DEFAULT_DIR, d)
    text = (d / "remote_sensing.yaml").read_text(encoding="utf-8")
    marker = "applies: {fuel: diesel}, confidence: medium}\n"
    assert marker in text
    text = text.replace(
        marker,
        marker
        + '      - {value: 1200, unit: ppm, text: "hypothetical local text", applies: {fuel: diesel}, confidence: low}\n',
        1,
    )
    (d / "remote_sensing.yaml").write_text(text, encoding="utf-8")
    rs = load_ruleset(d)
    lr = next(x for x in limit_rules(rs) if x.rule.id == "RS-D-NO")
    assert lr.limit.value == 1200 and lr.limit.text == "hypothetical local text"
    f = judge({"no_ppm": 1300.0}, "diesel", limit_rules(rs))
    assert [x.exceeded for x in f if x.lr.rule.id == "RS-D-NO"] == [True]


def test_judge_per_fuel_and_missing_measures(ruleset: Any) -> None:
    table = limit_rules(ruleset)
    gas = judge({"co_pct": 3.0, "hc_ppm": None, "no_ppm": 1500.0}, "gasoline", table)
    got = {(f.lr.rule.id, f.exceeded) for f in gas}
    assert got == {("RS-G-CO", True), ("RS-G-NO", False)}  # exactly at the limit is not over
    dsl = judge({"opacity_pct": 31.0, "ringelmann": 1.0, "no_ppm": float("nan")}, "diesel", table)
    assert {(f.lr.rule.id, f.exceeded) for f in dsl} == {("RS-D-OPA", True), ("RS-D-RING", False)}
    assert judge({"co_pct": 9.0}, "electric", table) == []


def test_new_energy() -> None:
    assert is_new_energy("green", "", "gasoline")
    assert is_new_energy("blue", "52", "gasoline")
    assert is_new_energy("blue", "02", "electric")
    assert not is_new_energy("yellow", "01", "diesel")


@pytest.mark.parametrize(
    ("d", "n", "want"),
    [
        (date(2026, 1, 15), 6, date(2026, 7, 15)),
        (date(2026, 8, 31), 6, date(2027, 2, 28)),
        (date(2027, 8, 31), 6, date(2028, 2, 29)),
        (date(2026, 12, 1), 1, date(2027, 1, 1)),
    ],
)
def test_add_months(d: date, n: int, want: date) -> None:
    assert add_months(d, n) == want


def _step(st: dict[str, Any], ts: Any, exceeded: bool, pid: str) -> str | None:
    verdict, _ = update_repeat(st, "no", ts, exceeded, {"pass_id": pid})
    return verdict


def test_repeat_window_rules() -> None:
    st: dict[str, Any] = {}
    t0 = beijing(2026, 1, 31, 8)
    assert _step(st, t0, True, "a") == "first"
    # exactly 6 natural months later (31 Jan + 6 months = 31 Jul) is inside
    assert _step(st, beijing(2026, 7, 31, 23), True, "b") == "repeat"
    assert st["cases"] == 1 and "no" not in st["open"]
    # after a case the window is closed: the next exceedance opens a new one
    assert _step(st, beijing(2026, 8, 2), True, "c") == "first"
    # too late: 1 Feb 2027 > 2 Aug 2026 + 6 months -> a new first
    assert _step(st, beijing(2027, 2, 3), True, "d") == "first"
    # a valid pass in between breaks "consecutive"
    assert _step(st, beijing(2027, 2, 4), False, "e") is None
    assert _step(st, beijing(2027, 2, 5), True, "f") == "first"
    # an older pass arriving late is ignored by the window
    assert _step(st, beijing(2027, 2, 1), True, "g") is None
    assert st["open"]["no"]["pass_id"] == "f"


def test_repeat_returns_first_reference() -> None:
    st: dict[str, Any] = {}
    update_repeat(st, "co", beijing(2026, 3, 1), True, {"pass_id": "p1", "site_id": "RSD-QP-01"})
    verdict, first = update_repeat(st, "co", beijing(2026, 4, 1), True, {"pass_id": "p2"})
    assert verdict == "repeat" and first is not None
    assert first["pass_id"] == "p1" and first["site_id"] == "RSD-QP-01"
    # pollutants are independent
    assert update_repeat(st, "no", beijing(2026, 4, 2), True, {"pass_id": "p3"})[0] == "first"


def test_judge_frame_matches_per_pass(ruleset: Any) -> None:
    table = limit_rules(ruleset)
    rng = np.random.default_rng(5)
    n = 400
    fuel = rng.choice(["gasoline", "diesel", "electric", "unknown"], n).astype(object)
    cols = {
        "co_pct": rng.uniform(0, 4, n),
        "hc_ppm": rng.uniform(0, 2000, n),
        "no_ppm": np.where(rng.random(n) < 0.1, np.nan, rng.uniform(0, 3000, n)),
        "opacity_pct": rng.uniform(0, 60, n),
        "ringelmann": rng.integers(0, 3, n).astype(float),
    }
    valid = rng.random(n) < 0.8
    nev = rng.random(n) < 0.1
    res = judge_frame(cols, fuel, valid, nev, table, n)
    for i in range(n):
        f = judge({k: float(v[i]) for k, v in cols.items()}, str(fuel[i]), table)
        if not valid[i] or nev[i] or not f:
            assert res["judgement"][i] == "not_judged"
            continue
        over = sorted(x.lr.rule.id for x in f if x.exceeded)
        assert res["judgement"][i] == ("fail" if over else "pass")
        assert sorted(filter(None, res["exceeded_rules"][i].split(";"))) == over


def test_site_quality() -> None:
    t = beijing(2026, 11, 20, 23, 30)
    passes = pd.DataFrame(
        {
            "site_id": ["A", "A", "A", "A", "B"],
            "ts": [t, t + timedelta(minutes=10), t + timedelta(hours=1), t, t],
            "valid": [True, False, True, False, True],
            "plate": ["沪A1", "", "沪A2", "沪A3", "浙F1"],
            "invalid_reasons": [(), ("plate_unread",), (), ("no_plume_data",), ()],
        }
    )
    down = pd.DataFrame(
        {
            "site_id": ["A", "A"],
            "ts": [t, t],
            "end": [t + timedelta(hours=1), t + timedelta(minutes=5)],
            "reason": ["rain", "maintenance"],
        }
    )
    q = site_quality(passes, down, {("A", date(2026, 11, 20)): True})
    a20 = q[(q.site_id == "A") & (q.day == date(2026, 11, 20))].iloc[0]
    assert (a20.passes, a20.valid, a20.captured) == (3, 1, 1)
    assert a20.valid_rate == pytest.approx(1 / 3) and a20.capture_rate == pytest.approx(1 / 3)
    assert a20.weather_downtime_s == 1800 and a20.other_downtime_s == 300
    assert a20.calibration_ok is True
    a21 = q[(q.site_id == "A") & (q.day == date(2026, 11, 21))].iloc[0]
    assert (a21.passes, a21.valid) == (1, 1) and a21.weather_downtime_s == 1800
    assert site_quality(passes.iloc[0:0]).empty

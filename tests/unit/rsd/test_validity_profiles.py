"""Validity gates (every reason kept) and vendor profiles (codes, scales, errors naming the field)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from core.errors import ConfigError, ValidationError
from remote_sensing import calc
from remote_sensing.profiles import load_profile, profile_names
from remote_sensing.validity import REASONS, Gates, screen, screen_one

G = Gates()


def good(**over: Any) -> dict[str, Any]:
    c = {
        "device_valid": True,
        "speed_kmh": 40.0,
        "accel_ms2": 0.2,
        "vsp_kw_t": 5.0,
        "wind_ms": 2.0,
        "precipitation": False,
        "headway_s": 3.0,
        "plate": "沪A12345",
        "plate_confidence": 95.0,
        "ratio_co": 0.01,
        "ratio_hc": 0.001,
        "ratio_no": 0.002,
        "calibration_ok": True,
    }
    c.update(over)
    return c


@pytest.mark.parametrize(
    ("over", "reasons"),
    [
        ({}, ()),
        ({"device_valid": False}, ("device_invalid",)),
        ({"speed_kmh": None, "vsp_kw_t": None}, ("speed_missing",)),
        ({"speed_kmh": 9.9}, ("speed_low",)),
        ({"accel_ms2": -3.1}, ("accel_out_of_range",)),
        ({"vsp_kw_t": 20.5}, ("vsp_out_of_range",)),
        ({"vsp_kw_t": -0.1}, ("vsp_out_of_range",)),
        ({"wind_ms": 5.1}, ("wind_high",)),
        ({"precipitation": True}, ("precipitation",)),
        ({"headway_s": 0.8}, ("headway_short",)),
        ({"plate": ""}, ("plate_unread",)),
        ({"plate_confidence": 79.9}, ("plate_confidence_low",)),
        ({"ratio_co": None, "ratio_hc": None, "ratio_no": None}, ("no_plume_data",)),
        ({"calibration_ok": False}, ("calibration_expired",)),
        (
            {"speed_kmh": 5.0, "wind_ms": 9.0, "calibration_ok": False},
            ("speed_low", "wind_high", "calibration_expired"),
        ),
    ],
)
def test_each_gate(over: dict[str, Any], reasons: tuple[str, ...]) -> None:
    cols = {
        k: (np.nan if v is None and k not in ("plate",) else v) for k, v in good(**over).items()
    }
    assert screen_one(cols, G) == reasons
    assert all(r in REASONS for r in reasons)


def test_absent_columns_do_not_apply_but_unknown_values_pass() -> None:
    assert screen_one({"speed_kmh": 40.0, "vsp_kw_t": 5.0, "ratio_co": 0.01}, G) == ()
    # a device flag or weather flag that is unknown (None) does not fail its gate
    assert screen_one(good(device_valid=None, precipitation=None, wind_ms=np.nan), G) == ()


def test_vectorised_screen_matches_single() -> None:
    rng = np.random.default_rng(1)
    n = 300
    cols = {
        "speed_kmh": rng.uniform(0, 80, n),
        "accel_ms2": rng.normal(0, 2, n),
        "vsp_kw_t": rng.normal(8, 10, n),
        "wind_ms": rng.uniform(0, 8, n),
        "plate": np.array(rng.choice(["沪A1", ""], n, p=[0.9, 0.1]), dtype=object),
        "plate_confidence": rng.uniform(60, 100, n),
        "device_valid": np.array(rng.choice([True, False, None], n), dtype=object),
    }
    valid, reasons = screen(cols, G, n)
    for i in range(n):
        one = screen_one({k: v[i] for k, v in cols.items()}, G)
        assert reasons[i] == ";".join(one)
        assert valid[i] == (not one)


def test_gates_from_ruleset(ruleset: Any) -> None:
    g = Gates.from_ruleset(ruleset)
    assert (g.vsp_min, g.vsp_max, g.speed_min, g.accel_abs_max, g.plate_confidence_min) == (
        0,
        20,
        10,
        3,
        80,
    )


def test_national_and_vendor_b_codes_differ() -> None:
    a, b = load_profile("national"), load_profile("vendor_b")
    rec = {"jlbh": "1", "dwbh": "S", "jcrq": "2020-10-28 10:15:30", "cpys": "1", "hphm": "京A12345"}
    assert a.canonical(rec)["plate_colour"] == "yellow"
    assert b.canonical(rec)["plate_colour"] == "blue"
    assert {"national", "vendor_b", "conox"} <= set(profile_names())


def test_national_scales_and_time() -> None:
    p = load_profile("national")
    c = p.canonical(
        {
            "jlbh": 7,
            "dwbh": "S",
            "jcrq": "2020-10-28 10:15:30",
            "hcco2": "43.48",
            "noco2": "105.39",
            "coco2": "0.5",
            "pdjg": "2",
        }
    )
    assert c["ratio_hc"] == pytest.approx(43.48e-4) and c["ratio_no"] == pytest.approx(105.39e-4)
    assert c["ratio_co"] == 0.5
    assert c["ts"].utcoffset().total_seconds() == 8 * 3600
    assert c["record_id"] == "7"
    assert c["device_valid"] is False  # pdjg 2 = invalid in vendor software
    assert c["plate"] == ""  # no plate field: unread


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("clsd", "abc", "clsd='abc': expected a number"),
        ("cpys", "7", "cpys='7': expected one of the national codes"),
        ("jcrq", "28/10/2020", "jcrq='28/10/2020': expected a time"),
        ("jlbh", "", "jlbh='': expected a value"),
        ("fs", "inf", "fs='inf': expected a finite number"),
    ],
)
def test_errors_name_the_vendor_field(field: str, value: str, needle: str) -> None:
    rec = {"jlbh": "1", "dwbh": "S", "jcrq": "2020-10-28 10:15:30"}
    rec[field] = value
    with pytest.raises(ValidationError) as ei:
        load_profile("national").canonical(rec)
    assert needle in str(ei.value)


def test_unparsed_plate_is_unread_with_flag() -> None:
    c = load_profile("national").canonical(
        {"jlbh": "1", "dwbh": "S", "jcrq": "2020-10-28 10:15:30", "hphm": "ABC"}
    )
    assert c["plate"] == "" and c["flags"] == ("plate_unparsed",)


def test_unknown_profile() -> None:
    with pytest.raises(ConfigError, match="conox"):
        load_profile("nope")


def test_conox_frame() -> None:
    df = pd.DataFrame(
        {
            "ConoxID": [1.0, 2.0],
            "Site": ["A40", "A40"],
            "FuelType": ["PETROL", "BATTERY ELECTRIC"],
            "SAFlag": ["V", "X"],
            "AccelKPHPerSec": [3.6, np.nan],
            "SpeedKPH": [40.0, "oops"],
        }
    )
    cols = load_profile("conox").frame(df)
    assert list(cols["record_id"]) == ["1", "2"]
    assert list(cols["fuel"]) == ["gasoline", "electric"]
    assert list(cols["device_valid"]) == [True, False]
    assert cols["accel_ms2"][0] == pytest.approx(1.0)
    assert np.isnan(cols["speed_kmh"][1])
    assert "plate" not in cols


def test_concentrations_and_carbon_balance() -> None:
    c = calc.concentrations(0.0121, 43.48e-4, 105.39e-4, 14.46)
    assert float(c["no_ppm"]) == pytest.approx(1523.94, abs=0.01)
    assert float(c["hc_ppm"]) == pytest.approx(628.72, abs=0.01)
    assert not bool(c["co2_estimated"])
    est = calc.concentrations(np.array([0.0, 0.5]), np.array([0.0, 0.0]), np.array([0.0, 0.0]))
    assert est["co2_pct"][0] == pytest.approx(15.06, abs=0.01)
    assert est["co2_pct"][1] < est["co2_pct"][0] and est["co2_estimated"].all()


def test_vsp_grade_units() -> None:
    pct = calc.vsp(50.0, 0.0, np.tan(np.radians(1.0)) * 100, "percent")
    deg = calc.vsp(50.0, 0.0, 1.0, "degree")
    assert float(pct) == pytest.approx(float(deg))
    with pytest.raises(ValueError, match="grade unit"):
        calc.vsp(50.0, 0.0, 1.0, "radian")


def test_batch_path_equals_single_record_path(registry: Any) -> None:
    from core.timeutil import beijing
    from remote_sensing.simulator import SimConfig, generate

    prof = load_profile("national")
    recs: list[Any] = [
        r
        for _, p, r in generate(registry, 60, beijing(2026, 11, 5), SimConfig(seed=8))
        if p == "national"
    ]
    bad = [
        {**recs[0], "clsd": "fast"},
        {**recs[1], "cpys": "8"},
        {**recs[2], "jcrq": "yesterday"},
        {**recs[3], "jlbh": ""},
        {**recs[4], "jcrq": 1763949600000},  # epoch ms is accepted
        {**recs[5], "hphm": "未识别"},
        "junk",
    ]
    allrecs = recs + bad
    batch = prof.canonical_batch(allrecs)
    singles: dict[int, Any] = {}
    for i, r in enumerate(allrecs):
        if not isinstance(r, dict):
            continue
        try:
            singles[i] = prof.canonical(r)
        except ValidationError as exc:
            singles[i] = str(exc)
    assert set(batch.errors) == {i for i, v in singles.items() if isinstance(v, str)} | {
        len(allrecs) - 1
    }
    for i, msg in batch.errors.items():
        if i in singles:
            assert msg == singles[i]
    for k, i in enumerate(batch.rows):
        one = singles[i]
        for name, col in batch.cols.items():
            v, w = col[k], one.get(name)
            if isinstance(v, float) and np.isnan(v):
                assert w is None, (i, name)
            else:
                assert v == w or (w is None and v in ("", None)), (i, name, v, w)
    # content hashes: equal records hash equal whatever the key order, different ones differ
    b2 = prof.canonical_batch([dict(reversed(list(recs[0].items()))), recs[0], recs[1]])
    h = [b2.hashes[i] for i in range(3)]
    assert h[0] == h[1] != h[2]


def test_frame_converts_a_column_only_when_read() -> None:
    import pyarrow as pa

    table = pa.table(
        {
            "ConoxID": pa.array([1.0, 2.0, None]),
            "FuelType": pa.array(["PETROL", None, "NO SUCH"]),
            "SAFlag": pa.array(["V", "X", None]),
            "SpeedKPH": pa.array(["40", "oops", None]),
        }
    )
    cols = load_profile("conox").frame(table)
    assert set(cols) == {"record_id", "fuel", "device_valid", "speed_kmh"}
    assert "record_id" not in cols._cache  # type: ignore[attr-defined]
    assert list(cols["record_id"]) == ["1", "2", ""]
    assert list(cols["fuel"]) == ["gasoline", "unknown", "unknown"]
    assert list(cols["device_valid"]) == [True, False, None]
    assert cols["speed_kmh"][0] == 40.0 and np.isnan(cols["speed_kmh"][1:]).all()
    with pytest.raises(KeyError):
        cols["plate"]

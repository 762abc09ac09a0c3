"""Event validation names field, unit and range; ids are deterministic; keys partition by vehicle."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest

from core.errors import ValidationError
from remote_sensing.events import RsdCalibration, RsdDowntime, RsdPass, examples

PASS, CAL, DOWN = examples()


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("speed_kmh", -1.0, "speed_kmh=-1.0 km/h: expected in [0, 250]"),
        ("accel_ms2", 20.0, "accel_ms2=20.0 m/s²: expected in [-15, 15]"),
        ("ratio_co", 6.0, "ratio_co=6.0 mol/mol: expected in [-0.5, 5]"),
        ("ratio_no", float("nan"), "ratio_no=nan mol/mol: expected a number, not NaN"),
        ("opacity_pct", 101.0, "opacity_pct=101.0 %: expected in [0, 100]"),
        ("ringelmann", 6.0, "ringelmann=6.0 grade: expected in [0, 5]"),
        ("grade", 45.0, "grade=45.0 percent: expected in [-30, 30]"),
        ("headway_s", -0.5, "headway_s=-0.5 s: expected in [0, +inf]"),
        ("plate_colour", "purple", "plate_colour='purple': expected one of"),
        ("fuel", "coal", "fuel='coal': expected one of"),
        ("site_id", "", "site_id='': expected a non-empty site id"),
        ("lane", 99, "lane=99: expected in [0, 20]"),
        ("ts", datetime(2026, 1, 1), "expected a timezone-aware datetime"),
    ],
)
def test_pass_validation_messages(field: str, value: object, needle: str) -> None:
    with pytest.raises(ValidationError) as ei:
        dataclasses.replace(PASS, **{field: value})
    assert needle in str(ei.value)


def test_valid_pass_has_no_reasons() -> None:
    with pytest.raises(ValidationError, match="invalid_reasons"):
        dataclasses.replace(PASS, invalid_reasons=("speed_low",))
    assert dataclasses.replace(PASS, valid=False, invalid_reasons=("speed_low",)).invalid_reasons


def test_ids_and_keys() -> None:
    assert RsdPass.make_id("RSD-QP-01", "A") == RsdPass.make_id("RSD-QP-01", "A")
    assert RsdPass.make_id("RSD-QP-01", "A") != RsdPass.make_id("RSD-JS-01", "A")
    # the same ids as before: deterministic_id over (kind, site, record id)
    from core.events import deterministic_id

    for site, rid in (("RSD-QP-01", "A"), ("RSD-WJ-02", "记录-0001"), ("S", "")):
        assert RsdPass.make_id(site, rid) == deterministic_id(RsdPass.KIND, site, rid)
    assert PASS.key == "vehicle:沪A12345"
    assert dataclasses.replace(PASS, plate="").key == "site:RSD-QP-01:unread"
    assert not PASS.is_new_energy
    assert dataclasses.replace(PASS, plate_type="52").is_new_energy
    assert CAL.key == DOWN.key.replace("WJ", "QP") == "site:RSD-QP-01"


def test_calibration_and_downtime_validation() -> None:
    with pytest.raises(ValidationError, match="check_kind"):
        dataclasses.replace(CAL, check_kind="weekly")
    with pytest.raises(ValidationError, match=r"co_error_pct=150.0 %: expected in \[-100, 100\]"):
        dataclasses.replace(CAL, co_error_pct=150.0)
    with pytest.raises(ValidationError, match="end"):
        dataclasses.replace(DOWN, end=DOWN.ts)
    with pytest.raises(ValidationError, match="at most 7 days"):
        dataclasses.replace(DOWN, end=DOWN.ts + timedelta(days=8))
    with pytest.raises(ValidationError, match="reason"):
        dataclasses.replace(DOWN, reason="aliens")
    assert DOWN.weather and not dataclasses.replace(DOWN, reason="maintenance").weather
    assert isinstance(CAL, RsdCalibration) and isinstance(DOWN, RsdDowntime)

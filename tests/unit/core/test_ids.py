from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import ValidationError
from core.ids import (
    Plate,
    PlateColour,
    is_valid_vin,
    nozzle_id,
    parse_vin,
    split_nozzle_id,
    vin_check_digit,
    with_check_digit,
)


def test_known_vin_check_digit() -> None:
    # 1M8GDM9AXKP042788 is the ISO 3779 worked example (check digit X)
    assert vin_check_digit("1M8GDM9AXKP042788") == "X"
    assert is_valid_vin("1M8GDM9AXKP042788")
    assert not is_valid_vin("1M8GDM9A1KP042788")


def test_parse_vin_errors_name_the_rule() -> None:
    with pytest.raises(ValidationError, match="check digit"):
        parse_vin("1M8GDM9A1KP042788")
    with pytest.raises(ValidationError, match="17 characters"):
        parse_vin("1M8GDM9AXKP04278O")  # letter O is not allowed


@given(st.text(alphabet="ABCDEFGHJKLMNPRSTUVWXYZ0123456789", min_size=17, max_size=17))
def test_with_check_digit_always_valid(raw: str) -> None:
    vin = with_check_digit(raw)
    assert is_valid_vin(vin)
    assert vin[:8] == raw[:8] and vin[9:] == raw[9:]


def test_plate_parse_and_nev() -> None:
    p = Plate.parse(" 沪a·12345 ", "blue")
    assert p.number == "沪A12345" and p.colour is PlateColour.BLUE and p.province == "沪"
    assert not p.is_new_energy
    nev = Plate.parse("苏ED12345")
    assert nev.is_new_energy and nev.colour is PlateColour.GREEN
    assert Plate.parse("浙F1234挂", "yellow").key == "浙F1234挂|yellow"
    with pytest.raises(ValidationError, match="province"):
        Plate.parse("XX12345")


def test_nozzle_ids_round_trip() -> None:
    nid = nozzle_id("QP-ST-0001", 3)
    assert nid == "QP-ST-0001:N03"
    assert split_nozzle_id(nid) == ("QP-ST-0001", 3)
    with pytest.raises(ValidationError):
        nozzle_id("bad", 1)
    with pytest.raises(ValidationError):
        nozzle_id("QP-ST-0001", 0)

"""Plate / VIN search: tolerant of case and separators, clear about what does not parse."""

from __future__ import annotations

import pytest

from core.ids import with_check_digit
from dashboards.search import SearchError, resolve


def test_plate_with_lower_case_spaces_and_dot(registry) -> None:
    assert resolve("  沪a · 123 45 ", registry).plate == "沪A12345"


def test_registered_plate_finds_its_vin(registry) -> None:
    v = registry.obd_vehicles[0]
    found = resolve(v.plate.lower(), registry)
    assert (found.plate, found.vin) == (v.plate, v.vin)


def test_vin_finds_its_plate(registry) -> None:
    v = registry.obd_vehicles[0]
    found = resolve(f"{v.vin[:8].lower()} {v.vin[8:]}", registry)
    assert (found.plate, found.vin) == (v.plate, v.vin)
    assert found.label == f"{v.plate} / {v.vin}"


def test_unknown_vin_is_still_a_vehicle(registry) -> None:
    vin = with_check_digit("LZZ1CCND0KW123456")
    assert resolve(vin, registry).as_state() == {"plate": "", "vin": vin}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "Type a plate"),
        ("ABC123", "is not a plate"),
        ("LZZ1CCND9KW12345I", "is not a valid VIN"),
    ],
)
def test_what_does_not_parse_says_why(registry, text: str, says: str) -> None:
    with pytest.raises(SearchError) as err:
        resolve(text, registry)
    assert says in err.value.message
    assert err.value.text == text.strip()

"""Vehicle identity: plate shapes, VINs, plate↔VIN links, one subject across sources."""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import ValidationError
from core.exceedance import fire
from core.timeutil import beijing
from enforcement.identity import (
    Links,
    parse_identifier,
    parse_plate,
    registry_links,
    subject_of,
    vehicle_class,
    vehicle_subject,
)


def test_plate_shapes_normalise_to_one_number() -> None:
    assert parse_plate("沪a·12345").number == "沪A12345"
    p = parse_plate("沪A12345|yellow")
    assert (p.number, p.colour.value) == ("沪A12345", "yellow")
    assert parse_plate("苏E12345", "黄").colour.value == "yellow"
    nev = parse_plate("浙FD12345")  # 8 characters: new-energy plate
    assert nev.colour.value == "green" and nev.is_new_energy
    with pytest.raises(ValidationError, match="plate_colour"):
        parse_plate("沪A12345|purple")


@pytest.mark.parametrize("bad", ["", "ABC", "沪12345", "XA12345", "LZYCHB3A3PH00000Z"])
def test_malformed_identifier_is_refused(bad: str) -> None:
    with pytest.raises(ValidationError):
        parse_identifier(bad)


def test_identifier_kinds(registry: Any) -> None:
    vin = registry.obd_vehicles[0].vin
    assert parse_identifier(vin.lower()).kind == "vin"
    assert parse_identifier("沪A12345").value == "沪A12345"


def test_registry_links_resolve_vin_to_plate(registry: Any) -> None:
    links = registry_links(registry)
    v = registry.obd_vehicles[0]
    s = vehicle_subject(None, v.vin, links)
    assert s.id == parse_plate(v.plate).number and s.vin == v.vin
    s2 = vehicle_subject(v.plate, None, links)
    assert s2.id == s.id and s2.vin == v.vin


def test_one_vehicle_across_three_sources(registry: Any, ruleset: Any) -> None:
    links = registry_links(registry)
    v = registry.obd_vehicles[0]
    plate = parse_plate(v.plate).number
    ts = beijing(2026, 11, 20, 9)
    common = {"measured": 1.0, "limit": 0.5, "unit": "x"}
    rsd = fire(
        ruleset.rule("RS-D-NO"),
        ts,
        source="remote_sensing",
        subject_kind="vehicle",
        subject_id=f"{plate}|yellow",
        jurisdiction="qingpu",
        device_id="RSD-QP-01",
        detail={"fuel": "diesel", "plate_colour": "yellow"},
        **common,
    )
    smoke = fire(
        ruleset.rule("BS-SCREEN"),
        ts,
        source="smoke_capture",
        subject_kind="vehicle",
        subject_id=plate,
        jurisdiction="wujiang",
        device_id="CAM-WJ-01",
        **common,
    )
    obd = fire(
        ruleset.rule("OBD-SCR"),
        ts,
        source="obd_gateway",
        subject_kind="vehicle",
        subject_id=v.vin,
        jurisdiction="jiashan",
        device_id=v.vin,
        **common,
    )
    ids = {subject_of(e, links).key for e in (rsd, smoke, obd)}
    assert ids == {f"vehicle:{plate}"}
    assert vehicle_class(obd, registry, subject_of(obd, links)) == "heavy_diesel"


def test_unlinked_vin_stays_a_vin_and_a_source_link_is_reported(ruleset: Any) -> None:
    links = Links.build([])
    vin = "LGDCHA1G8MA127733"
    ex = fire(
        ruleset.rule("RS-D-NO"),
        beijing(2026, 11, 20),
        source="remote_sensing",
        subject_kind="vehicle",
        subject_id="沪A99999|yellow",
        jurisdiction="qingpu",
        device_id="RSD-QP-01",
        measured=1600.0,
        limit=1500.0,
        unit="ppm",
        detail={"vin": vin},
    )
    s = subject_of(ex, links)
    assert (s.id, s.vin) == ("沪A99999", vin)
    assert vehicle_subject(None, vin, links).id == vin


def test_nozzle_rolls_up_to_station_and_unread_stays(ruleset: Any) -> None:
    links = Links.build([])
    ex = fire(
        ruleset.rule("FV-AL-WARN"),
        beijing(2026, 11, 20),
        source="fuel_vapor",
        subject_kind="nozzle",
        subject_id="QP-ST-0001:N03",
        jurisdiction="qingpu",
        device_id="MN1",
        measured=0.8,
        limit=1.0,
        unit="ratio",
    )
    assert subject_of(ex, links).key == "station:QP-ST-0001"
    un = fire(
        ruleset.rule("BS-SCREEN"),
        beijing(2026, 11, 20),
        source="smoke_capture",
        subject_kind="vehicle",
        subject_id="unread:CAM-QP-01:7",
        jurisdiction="qingpu",
        device_id="CAM-QP-01",
        measured=3.0,
        limit=1.0,
        unit="grade",
    )
    assert subject_of(un, links).id == "unread:CAM-QP-01:7"

"""Roles become scopes in one place (core.access); the SQL helper refuses a missing scope."""

from __future__ import annotations

import pytest

from core.access import AccessError, aggregates_only, can_act, domains, scope_for
from core.scope import Scope
from streams.warehouse.scope import OutOfScope, ScopeRequired, scope_where, scoped_stations

STATIONS = {"QP-ST-0001": "qingpu", "WJ-ST-0001": "wujiang"}


def test_roles_make_their_scopes() -> None:
    off = scope_for("li", "officer", ["qingpu"])
    assert off.jurisdictions == ("qingpu",) and off.stations is None and can_act(off)
    joint = scope_for("zhang", "joint_team")
    assert set(joint.jurisdictions) == {"qingpu", "wujiang", "jiashan"} and can_act(joint)
    op = scope_for("op", "station_operator", stations=["QP-ST-0001"], station_jurisdiction=STATIONS)
    assert op.stations == ("QP-ST-0001",) and op.jurisdictions == ("qingpu",)
    assert domains(op) == {"vapor"} and not can_act(op)
    an = scope_for("wang", "analyst")
    assert aggregates_only(an) and not can_act(an)


@pytest.mark.parametrize(
    ("role", "jur", "stations", "needle"),
    [
        ("superuser", [], [], "role"),
        ("officer", [], [], "exactly one jurisdiction"),
        ("officer", ["qingpu", "wujiang"], [], "exactly one jurisdiction"),
        ("officer", ["mars"], [], "jurisdiction"),
        ("station_operator", [], [], "at least one station"),
        ("station_operator", [], ["XX-ST-9999"], "station"),
        ("analyst", ["qingpu"], [], "not limited"),
    ],
)
def test_bad_role_input_is_refused(role: str, jur: list, stations: list, needle: str) -> None:
    with pytest.raises(AccessError, match=needle):
        scope_for("u", role, jur, stations, station_jurisdiction=STATIONS)


def test_sql_fragment_and_refusals() -> None:
    off = scope_for("li", "officer", ["wujiang"])
    sql, params = scope_where(off, domain="rsd")
    assert sql == "jurisdiction IN {scope_j:Array(String)}" and params == {"scope_j": ["wujiang"]}
    with pytest.raises(ScopeRequired):
        scope_where(None, domain="rsd")
    with pytest.raises(ScopeRequired):
        scope_where({"user": "forged", "jurisdictions": ["qingpu"]}, domain="rsd")
    op = scope_for("op", "station_operator", stations=["QP-ST-0001"], station_jurisdiction=STATIONS)
    with pytest.raises(OutOfScope):
        scope_where(op, domain="obd")
    with pytest.raises(OutOfScope):  # a station-bound scope on a table without stations
        scope_where(op, domain="vapor")
    sql, params = scope_where(op, domain="vapor", station="station_id")
    assert params["scope_st"] == ["QP-ST-0001"]
    with pytest.raises(OutOfScope):
        scope_where(scope_for("a", "analyst"), domain="rsd")  # single records
    assert scope_where(scope_for("a", "analyst"), domain="rsd", detail=False)[0]


def test_scoped_stations_intersect_what_is_asked(registry) -> None:
    op = Scope("op", ("qingpu",), ("QP-ST-0001",), ("station_operator",))
    assert "QP-ST-0001" in scoped_stations(op, None, registry)
    assert scoped_stations(op, ["QP-ST-0002", "WJ-ST-0001"], registry) == []
    off = scope_for("li", "officer", ["wujiang"])
    got = scoped_stations(off, None, registry)
    assert got and all(s.startswith("WJ-") for s in got)

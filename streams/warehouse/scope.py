"""The caller's scope as SQL: the one helper every named query uses to restrict its rows.

``scope_where(scope, domain=…, jurisdiction=…, station=…)`` returns a WHERE fragment and its
parameters (``scope_j`` / ``scope_st``), built from the ``core.scope.Scope`` the caller was given at
login. A query reached without a scope (``None`` or anything else) raises ``ScopeRequired``; a
domain the scope may not read (a station operator on OBD data), a single-record query for an
aggregates-only scope (analyst), or a station-bound scope on a table without a station column
raise ``OutOfScope``. Both are refusals that name nothing of the data.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from core.access import aggregates_only, domains
from core.errors import EmwError
from core.registry import Depot, Registry, Sensor, Station, default_registry
from core.scope import Scope


class ScopeRequired(EmwError):
    """A named query was called without the caller's scope."""

    def __init__(self, what: str = "query") -> None:
        super().__init__(f"{what}: refused, no caller scope (log in first)")


class OutOfScope(EmwError):
    """The caller's scope does not reach this data (the message names only the query kind)."""

    def __init__(self, what: str = "query") -> None:
        super().__init__(f"{what}: outside the caller's scope")


def require(scope: object, what: str = "query") -> Scope:
    if not isinstance(scope, Scope):
        raise ScopeRequired(what)
    return scope


def require_zone(scope: object, what: str = "query", *, detail: bool = True) -> Scope:
    """A zone-wide scope (all jurisdictions, no station limit): platform internals, dead letters,
    frames of unregistered devices. ``detail`` refuses aggregates-only scopes too."""
    sc = require(scope, what)
    from core.jurisdictions import JURISDICTIONS

    if sc.stations is not None or not set(JURISDICTIONS) <= set(sc.jurisdictions):
        raise OutOfScope(what)
    if "platform" not in domains(sc) or (detail and aggregates_only(sc)):
        raise OutOfScope(what)
    return sc


def scope_where(
    scope: object,
    *,
    domain: str,
    jurisdiction: str | None = "jurisdiction",
    station: str | None = None,
    detail: bool = True,
    what: str = "query",
) -> tuple[str, dict[str, Any]]:
    """``(sql, params)`` restricting rows to ``scope``. ``jurisdiction``/``station`` name the
    columns (or expressions) holding them; ``detail`` is True for queries returning single
    records (refused to aggregates-only scopes). ``sql`` is never empty."""
    sc = require(scope, what)
    if domain not in domains(sc):
        raise OutOfScope(what)
    if detail and aggregates_only(sc):
        raise OutOfScope(what)
    parts: list[str] = []
    params: dict[str, Any] = {}
    if jurisdiction is not None:
        parts.append(f"{jurisdiction} IN {{scope_j:Array(String)}}")
        params["scope_j"] = list(sc.all_jurisdictions)
    if sc.stations is not None:
        if station is None:
            raise OutOfScope(what)
        parts.append(f"{station} IN {{scope_st:Array(String)}}")
        params["scope_st"] = list(sc.stations)
    return (" AND ".join(parts) or "1"), params


def scoped_stations(
    scope: object,
    wanted: Iterable[str] | None = None,
    registry: Registry | None = None,
    what: str = "query",
) -> list[str]:
    """The station ids a vapour query may read: ``wanted`` (default: all) ∩ the scope."""
    sc = require(scope, what)
    if "vapor" not in domains(sc):
        raise OutOfScope(what)
    reg = registry if registry is not None else default_registry()
    units: tuple[Station | Depot | Sensor, ...] = (*reg.stations, *reg.depots, *reg.sensors)
    allowed = {
        u.id
        for u in units
        if sc.sees(u.jurisdiction) and (sc.stations is None or _station_of(u) in sc.stations)
    }
    pick = allowed if wanted is None else allowed & set(wanted)
    return sorted(pick)


def _station_of(unit: Any) -> str:
    return str(getattr(unit, "station", None) or unit.id)

"""Roles of the platform's people and the ``Scope`` each one gets (pure: no IO, no clock).

==================  =============================================  ==============================
role                sees                                           may
==================  =============================================  ==============================
officer             every source, one jurisdiction                 act on cases of it
joint_team          every source, all three jurisdictions          act on cases, hand over
station_operator    vapour recovery of its own stations only       read
analyst             aggregates (counts, rates) of the whole zone;  read, never a plate, VIN,
                    never records that name a vehicle or evidence  image or single record
admin               everything, the audit trail, accounts          manage accounts and devices
==================  =============================================  ==============================

``scope_for`` is the one place a role becomes a ``core.scope.Scope``; the warehouse applies that
scope in SQL (``streams.warehouse.scope``) and the API checks it before any write. Partners get
exports, never a login.
"""

from __future__ import annotations

from collections.abc import Iterable

from core.jurisdictions import JURISDICTIONS
from core.scope import Scope

ROLES = ("officer", "joint_team", "station_operator", "analyst", "admin")
ROLE_LABELS = {
    "officer": "执法人员",
    "joint_team": "联合执法组",
    "station_operator": "加油站运营方",
    "analyst": "分析人员",
    "admin": "系统管理员",
}
DOMAINS = ("platform", "enforcement", "rsd", "smoke", "obd", "vapor")


class AccessError(ValueError):
    """A role, jurisdiction or station that cannot make a scope (the message names which)."""


def scope_for(
    user: str,
    role: str,
    jurisdictions: Iterable[str] = (),
    stations: Iterable[str] = (),
    *,
    station_jurisdiction: dict[str, str] | None = None,
) -> Scope:
    """The scope of ``user`` with ``role``. ``station_jurisdiction`` maps the registry's station
    ids to their jurisdiction (needed for station operators)."""
    js = tuple(dict.fromkeys(jurisdictions))
    sts = tuple(dict.fromkeys(stations))
    if role not in ROLES:
        raise AccessError(f"role: one of {', '.join(ROLES)}")
    for j in js:
        if j not in JURISDICTIONS:
            raise AccessError(f"jurisdiction: one of {', '.join(JURISDICTIONS)}")
    if role == "officer":
        if len(js) != 1:
            raise AccessError("an officer has exactly one jurisdiction (--jurisdiction)")
        return Scope(user, js, None, ("officer",))
    if role == "station_operator":
        if not sts:
            raise AccessError("a station operator has at least one station (--station)")
        known = station_jurisdiction or {}
        unknown = [s for s in sts if s not in known]
        if unknown:
            raise AccessError("station: a station id of the registry")
        own = tuple(dict.fromkeys(known[s] for s in sts))
        return Scope(user, own, sts, ("station_operator",))
    if js or sts:
        raise AccessError(f"a {role} is not limited to a jurisdiction or station")
    return Scope(user, tuple(JURISDICTIONS), None, (role,))


def system_scope(user: str = "system") -> Scope:
    """The platform itself (replay, reports on a schedule) or the data directory's owner at the
    command line: zone-wide, administrator. Never given to a login."""
    return Scope(user, tuple(JURISDICTIONS), None, ("admin",))


def domains(scope: Scope) -> frozenset[str]:
    """The sources/areas whose data a scope may read."""
    if "station_operator" in scope.roles and not _any(scope, "officer", "joint_team", "admin"):
        return frozenset({"vapor"})
    return frozenset(DOMAINS)


def aggregates_only(scope: Scope) -> bool:
    """True for a scope that may see counts and rates but no single record."""
    return "analyst" in scope.roles and not _any(scope, "officer", "joint_team", "admin", "lead")


def is_admin(scope: Scope) -> bool:
    return "admin" in scope.roles


def can_act(scope: Scope) -> bool:
    """May take case actions (officers in their jurisdiction, the joint team, administrators)."""
    return _any(scope, "officer", "joint_team", "admin", "lead")


def _any(scope: Scope, *roles: str) -> bool:
    return any(r in scope.roles for r in roles)

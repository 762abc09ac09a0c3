"""Who may see and do what: the scope every query and API handler takes.

A ``Scope`` names the jurisdictions (and, for station operators, the stations) a caller may see and
the roles it holds. Login and role assignment (issue 15) build one per request; until then the CLI
and tests use ``Scope.zone()``, the zone-wide officer scope. Scope is applied in SQL
(``streams.warehouse.queries``) and checked before any write (``streams.api``).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.jurisdictions import JURISDICTIONS

ROLES = ("officer", "lead", "operator", "partner", "admin", "joint_team")
ACT_ROLES = ("officer", "lead", "admin", "joint_team")  # core.access names who holds which


@dataclass(frozen=True, slots=True)
class Scope:
    user: str
    jurisdictions: tuple[str, ...]  # allowed jurisdiction codes
    stations: tuple[str, ...] | None = None  # None: every station of those jurisdictions
    roles: tuple[str, ...] = ("officer",)

    @classmethod
    def zone(cls, user: str = "system") -> Scope:
        """Every jurisdiction of the zone, officer role (CLI and tests until login exists)."""
        return cls(user, tuple(JURISDICTIONS), None, ("officer", "lead"))

    def sees(self, jurisdiction: str) -> bool:
        return jurisdiction in self.jurisdictions or (
            jurisdiction in ("zone", "unknown") and len(self.jurisdictions) == len(JURISDICTIONS)
        )

    @property
    def all_jurisdictions(self) -> tuple[str, ...]:
        """The jurisdiction values a query may return (zone-wide rows only for a zone scope)."""
        if set(JURISDICTIONS) <= set(self.jurisdictions):
            return (*self.jurisdictions, "zone", "unknown")
        return self.jurisdictions

    @property
    def can_act(self) -> bool:
        return any(r in ACT_ROLES for r in self.roles)

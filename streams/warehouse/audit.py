"""Writing the audit trail (``audit_log``, DDL 0600): one INSERT per entry, never an update.

``Auditor.record(...)`` is what login, the API and the pages call. A failed write is logged and
counted but never blocks the person (the refusal still happens); entries are small and rare, so
they are inserted one by one rather than through the batching sink.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from core.scope import Scope

log = logging.getLogger(__name__)
COLUMNS = ["ts", "user", "action", "outcome", "scope", "what", "client", "row_sha256"]
ACTIONS = (
    "login",
    "login_failed",
    "login_blocked",
    "logout",
    "session_refused",
    "denied",
    "case_action",
    "evidence_export",
    "report_download",
    "partner_export",
    "user_admin",
)


def scope_json(scope: Scope | None) -> str:
    if scope is None:
        return "{}"
    return json.dumps(
        {
            "user": scope.user,
            "roles": list(scope.roles),
            "jurisdictions": list(scope.jurisdictions),
            "stations": None if scope.stations is None else list(scope.stations),
        },
        ensure_ascii=False,
        sort_keys=True,
    )


class Auditor:
    """Appends audit entries through ``client`` (a callable returning one, so the runner's
    client can be registered after start)."""

    def __init__(
        self, client: Callable[[], Any], now: Callable[[], datetime] | None = None
    ) -> None:
        self._client = client
        self.now = now or (lambda: datetime.now(UTC))
        self.failures = 0

    def record(
        self,
        action: str,
        *,
        user: str = "",
        outcome: str = "ok",
        scope: Scope | None = None,
        what: str = "",
        client: str = "",
    ) -> None:
        if action not in ACTIONS:
            raise ValueError(f"audit action: one of {', '.join(ACTIONS)}")
        ts = self.now()
        row = [ts, user[:128], action, outcome, scope_json(scope), what[:2000], client[:128]]
        digest = hashlib.sha256(
            json.dumps([str(v) for v in row], ensure_ascii=False).encode()
        ).hexdigest()
        try:
            c = self._client()
            if c is None:
                raise RuntimeError("no warehouse client")
            c.insert("audit_log", [[*row, digest]], column_names=COLUMNS)
        except Exception as exc:  # the refusal or action still happens; the gap is visible
            self.failures += 1
            log.error("audit entry not written (%s %s): %s", action, user, exc)

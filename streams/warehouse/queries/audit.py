"""The audit trail for administrators (``audit_log``, append-only)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from clickhouse_connect.driver.client import Client

from core.access import is_admin
from core.scope import Scope
from streams.warehouse.scope import OutOfScope, require


def recent(
    client: Client,
    scope: Scope,
    since: datetime,
    until: datetime,
    action: str | None = None,
    user: str | None = None,
    limit: int = 2000,
) -> pd.DataFrame:
    """Audit entries in [since, until), newest first; administrators only."""
    if not is_admin(require(scope, "audit.recent")):
        raise OutOfScope("audit.recent")
    conds = ["ts >= {since:DateTime64(3)}", "ts < {until:DateTime64(3)}"]
    params: dict[str, object] = {"since": since, "until": until, "lim": limit}
    if action:
        conds.append("action = {action:String}")
        params["action"] = action
    if user:
        conds.append("user = {user:String}")
        params["user"] = user
    return client.query_df(
        "SELECT ts, user, action, outcome, scope, what, client, row_sha256 FROM audit_log "
        f"WHERE {' AND '.join(conds)} ORDER BY ts DESC LIMIT {{lim:UInt32}}",
        parameters=params,
    )

"""Dead-letter queries: what could not be stored, for the status page and ``emwatch deadletter``.

``dead_letter`` is a ReplacingMergeTree keyed by ``dl_id`` (a replay writes a newer row): read it
with ``FINAL``. ``raw`` may hold any bytes, so it travels base64-encoded out of the warehouse.
Raw device bytes: only a zone-wide scope (joint team, administrators, the system) reads them.
"""

from __future__ import annotations

import base64
from datetime import UTC
from typing import Any

import pandas as pd
from clickhouse_connect.driver.client import Client

from core.scope import Scope
from streams.warehouse.scope import require_zone


def open_counts(client: Client, scope: Scope) -> pd.DataFrame:
    """Open dead letters per event kind, stage and device count, with the newest time."""
    require_zone(scope, "deadletter.open_counts", detail=False)
    return client.query_df(
        "SELECT kind, stage, count() AS n, uniqExact(device_id) AS devices, max(ts) AS last_ts "
        "FROM dead_letter FINAL WHERE status = 'open' GROUP BY kind, stage ORDER BY n DESC"
    )


def status_counts(client: Client, scope: Scope) -> dict[str, int]:
    """Dead letters per status (``open``, ``replayed``)."""
    require_zone(scope, "deadletter.status_counts", detail=False)
    rows = client.query("SELECT status, count() FROM dead_letter FINAL GROUP BY status").result_rows
    return {str(s): int(n) for s, n in rows}


def recent(
    client: Client, scope: Scope, status: str | None = "open", limit: int = 100
) -> pd.DataFrame:
    """The newest dead letters (without raw bytes), newest first."""
    require_zone(scope, "deadletter.recent")
    where = "WHERE status = {status:String}" if status else ""
    return client.query_df(
        "SELECT dl_id, ts, stage, kind, device_id, event_id, reason, status, updated_at, "
        f"length(raw) AS raw_bytes FROM dead_letter FINAL {where} "
        "ORDER BY ts DESC LIMIT {lim:UInt32}",
        parameters={"status": status, "lim": limit} if status else {"lim": limit},
    )


def open_letters(
    client: Client, scope: Scope, ids: tuple[str, ...] | None = None, limit: int = 10_000
) -> list[Any]:
    """Open dead letters as ``DeadLetter`` objects with their raw bytes (for replay)."""
    require_zone(scope, "deadletter.open_letters")
    from streams.warehouse.deadletter import DeadLetter

    cond = "status = 'open'"
    params: dict[str, Any] = {"lim": limit}
    if ids is not None:
        cond += " AND dl_id IN {ids:Array(String)}"
        params["ids"] = list(ids)
    rows = client.query(
        "SELECT dl_id, ts, stage, kind, device_id, event_id, reason, base64Encode(raw) "
        f"FROM dead_letter FINAL WHERE {cond} ORDER BY ts LIMIT {{lim:UInt32}}",
        parameters=params,
    ).result_rows
    return [
        DeadLetter(
            dl_id=r[0],
            ts=r[1] if r[1].tzinfo else r[1].replace(tzinfo=UTC),
            stage=r[2],
            kind=r[3],
            device_id=r[4],
            event_id=r[5],
            reason=r[6],
            raw=base64.b64decode(r[7]),
        )
        for r in rows
    ]

"""Platform-status queries: ingest per source and jurisdiction, metrics, warehouse size, exceedances."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from clickhouse_connect.driver.client import Client

from core.scope import Scope
from streams.warehouse.scope import require_zone, scope_where


def ingest_over_time(
    client: Client, scope: Scope, since: datetime, until: datetime, bucket_s: int = 3600
) -> pd.DataFrame:
    """Rows ingested per time bucket (``bucket_s`` seconds), event kind and jurisdiction."""
    sw, sp = scope_where(scope, domain="platform", detail=False)
    return client.query_df(
        "SELECT toStartOfInterval(ts, toIntervalSecond({bucket:UInt32})) AS bucket, kind, "
        "jurisdiction, sum(rows) AS rows "
        "FROM ingest_log WHERE ts >= {since:DateTime64(3)} AND ts < {until:DateTime64(3)} "
        f"AND {sw} GROUP BY bucket, kind, jurisdiction ORDER BY bucket, kind, jurisdiction",
        parameters={"since": since, "until": until, "bucket": bucket_s, **sp},
    )


def ingest_totals(client: Client, scope: Scope) -> pd.DataFrame:
    """Total rows ingested per kind and jurisdiction since the start."""
    sw, sp = scope_where(scope, domain="platform", detail=False)
    return client.query_df(
        "SELECT kind, jurisdiction, sum(rows) AS rows, max(ts) AS last_seen "
        f"FROM ingest_log WHERE {sw} GROUP BY kind, jurisdiction ORDER BY kind, jurisdiction",
        parameters=sp,
    )


def latest_metrics(client: Client, scope: Scope, component: str | None = None) -> pd.DataFrame:
    """The most recent value of every metric (optionally of one component); zone-wide scopes."""
    require_zone(scope, "platform.latest_metrics", detail=False)
    where = "WHERE component = {component:String}" if component else ""
    return client.query_df(
        "SELECT component, name, labels, argMax(value, ts) AS value, max(ts) AS last_ts "
        f"FROM platform_metric {where} GROUP BY component, name, labels "
        "ORDER BY component, name, labels",
        parameters={"component": component} if component else None,
    )


def warehouse_size(client: Client, scope: Scope) -> pd.DataFrame:
    """Rows and bytes on disk per table of the current database; zone-wide scopes."""
    require_zone(scope, "platform.warehouse_size", detail=False)
    return client.query_df(
        "SELECT table, sum(rows) AS rows, sum(bytes_on_disk) AS bytes "
        "FROM system.parts WHERE active AND database = currentDatabase() "
        "GROUP BY table ORDER BY bytes DESC"
    )


def exceedances(
    client: Client,
    scope: Scope,
    since: datetime,
    until: datetime,
    source: str | None = None,
    jurisdictions: tuple[str, ...] | None = None,
    limit: int = 500,
) -> pd.DataFrame:
    """Recent exceedances (deduplicated), newest first."""
    sw, sp = scope_where(scope, domain="enforcement")
    conds = ["ts >= {since:DateTime64(3)}", "ts < {until:DateTime64(3)}", sw]
    params: dict[str, object] = {"since": since, "until": until, "lim": limit, **sp}
    if source:
        conds.append("source = {source:String}")
        params["source"] = source
    if jurisdictions:
        conds.append("jurisdiction IN {jur:Array(String)}")
        params["jur"] = list(jurisdictions)
    return client.query_df(
        "SELECT ts, source, subject_kind, subject_id, jurisdiction, device_id, rule_id, "
        "ruleset_version, severity, measured, `limit`, unit, provisional, evidence "
        f"FROM exceedance FINAL WHERE {' AND '.join(conds)} ORDER BY ts DESC LIMIT {{lim:UInt32}}",
        parameters=params,
    )


def exceedance_counts(
    client: Client, scope: Scope, since: datetime, until: datetime
) -> pd.DataFrame:
    """Exceedances per source, jurisdiction and severity."""
    sw, sp = scope_where(scope, domain="enforcement", detail=False)
    return client.query_df(
        "SELECT source, jurisdiction, severity, count() AS n FROM exceedance FINAL "
        "WHERE ts >= {since:DateTime64(3)} AND ts < {until:DateTime64(3)} "
        f"AND {sw} GROUP BY source, jurisdiction, severity ORDER BY source, jurisdiction, severity",
        parameters={"since": since, "until": until, **sp},
    )

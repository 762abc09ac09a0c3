"""Remote-OBD queries: online rate per fleet and jurisdiction, a vehicle's OBD timeline by VIN,
daily completeness, frames and bad input, quarantine. All event tables are read with ``FINAL`` so
re-sent and back-filled records count once.

Online rate = vehicles with at least one data-stream record in [since, until) / registered
vehicles; the registered fleet comes from the registry (passed in), since the warehouse holds no
vehicle master table.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from clickhouse_connect.driver.client import Client

from core.registry import Registry, default_registry
from core.scope import Scope
from streams.warehouse.scope import require, require_zone, scope_where


def _fleet_frame(registry: Registry) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "vin": v.vin,
                "jurisdiction": v.jurisdiction,
                "fleet": v.fleet,
                "vehicle_class": v.vehicle_class,
            }
            for v in registry.obd_vehicles
        ],
        columns=["vin", "jurisdiction", "fleet", "vehicle_class"],
    )


def vehicles_seen(client: Client, scope: Scope, since: datetime, until: datetime) -> pd.DataFrame:
    """Per VIN: records, back-filled records and the last record time in [since, until)."""
    sw, sp = scope_where(scope, domain="obd")
    return client.query_df(
        "SELECT vin, count() AS records, countIf(backfilled) AS backfilled, max(ts) AS last_ts "
        "FROM obd_sample FINAL WHERE ts >= {since:DateTime64(3)} AND ts < {until:DateTime64(3)} "
        f"AND {sw} GROUP BY vin ORDER BY vin",
        parameters={"since": since, "until": until, **sp},
    )


def online_rate(
    client: Client,
    scope: Scope,
    since: datetime,
    until: datetime,
    by: str = "fleet",
    registry: Registry | None = None,
) -> pd.DataFrame:
    """Online rate per ``by`` ("fleet", "jurisdiction" or "vehicle_class"): registered, online,
    rate (0..1). Vehicles not in the registry are not counted (default: the shipped registry)."""
    if by not in ("fleet", "jurisdiction", "vehicle_class"):
        raise ValueError(f"by={by!r}: expected fleet, jurisdiction or vehicle_class")
    sw, sp = scope_where(scope, domain="obd", detail=False)
    sc = require(scope)
    fleet = _fleet_frame(registry if registry is not None else default_registry())
    fleet = fleet[fleet["jurisdiction"].isin(sc.all_jurisdictions)]
    if fleet.empty:
        return pd.DataFrame()
    seen = client.query_df(
        "SELECT DISTINCT vin FROM obd_sample FINAL WHERE ts >= {since:DateTime64(3)} "
        f"AND ts < {{until:DateTime64(3)}} AND {sw}",
        parameters={"since": since, "until": until, **sp},
    )
    online = set(seen["vin"]) if not seen.empty else set()
    fleet["online"] = fleet["vin"].isin(online)
    keys = ["jurisdiction", "fleet"] if by == "fleet" else [by]
    out = fleet.groupby(keys, as_index=False).agg(
        registered=("vin", "count"), online=("online", "sum")
    )
    out["online"] = out["online"].astype(int)
    out["rate"] = out["online"] / out["registered"]
    return out.sort_values(keys).reset_index(drop=True)


def vehicle_timeline(
    client: Client, scope: Scope, vin: str, since: datetime, until: datetime, bucket_s: int = 60
) -> pd.DataFrame:
    """A vehicle's data stream in buckets of ``bucket_s`` seconds: records, back-filled share,
    mean speed/rpm/torque, NOx up/down, SCR inlet temperature, reagent level, invalid-value records."""
    sw, sp = scope_where(scope, domain="obd")
    return client.query_df(
        "SELECT toStartOfInterval(ts, toIntervalSecond({b:UInt32})) AS bucket, count() AS records, "
        "countIf(backfilled) AS backfilled, avg(speed_kmh) AS speed_kmh, avg(rpm) AS rpm, "
        "avg(torque_pct) AS torque_pct, avg(nox_up_ppm) AS nox_up_ppm, avg(nox_down_ppm) AS nox_down_ppm, "
        "avg(scr_in_c) AS scr_in_c, min(reagent_pct) AS reagent_pct, "
        "countIf(length(quality_flags) > 0) AS flagged, any(lon) AS lon, any(lat) AS lat "
        "FROM obd_sample FINAL WHERE vin = {vin:String} AND ts >= {since:DateTime64(3)} "
        f"AND ts < {{until:DateTime64(3)}} AND {sw} GROUP BY bucket ORDER BY bucket",
        parameters={"vin": vin, "since": since, "until": until, "b": bucket_s, **sp},
    )


def vehicle_samples(
    client: Client, scope: Scope, vin: str, since: datetime, until: datetime, limit: int = 3600
) -> pd.DataFrame:
    """A vehicle's 1 Hz records (evidence view), oldest first."""
    sw, sp = scope_where(scope, domain="obd")
    return client.query_df(
        "SELECT event_id, ts, received_at, backfilled, speed_kmh, rpm, torque_pct, friction_pct, fuel_lph, "
        "air_kgh, nox_up_ppm, nox_down_ppm, scr_in_c, scr_out_c, reagent_pct, coolant_c, lon, lat, "
        "fix_valid, quality_flags, frame_id FROM obd_sample FINAL WHERE vin = {vin:String} "
        "AND ts >= {since:DateTime64(3)} AND ts < {until:DateTime64(3)} "
        f"AND {sw} ORDER BY ts LIMIT {{lim:UInt32}}",
        parameters={"vin": vin, "since": since, "until": until, "lim": limit, **sp},
    )


def vehicle_info_history(client: Client, scope: Scope, vin: str, limit: int = 200) -> pd.DataFrame:
    """OBD information snapshots of a vehicle (MIL, DTCs, calibration id, CVN), newest first."""
    sw, sp = scope_where(scope, domain="obd")
    return client.query_df(
        "SELECT ts, mil_on, dtc_count, dtcs, calibration_id, cvn, obd_protocol, backfilled "
        f"FROM obd_info FINAL WHERE vin = {{vin:String}} AND {sw} ORDER BY ts DESC LIMIT {{lim:UInt32}}",
        parameters={"vin": vin, "lim": limit, **sp},
    )


def vehicle_status_history(
    client: Client, scope: Scope, vin: str, since: datetime, until: datetime
) -> pd.DataFrame:
    """Logins, logouts, disconnects, time calibrations and anti-tamper reports of a vehicle."""
    sw, sp = scope_where(scope, domain="obd")
    return client.query_df(
        "SELECT ts, status, login_serial, clock_offset_s, peer, received_at FROM obd_status FINAL "
        "WHERE vin = {vin:String} AND ts >= {since:DateTime64(3)} AND ts < {until:DateTime64(3)} "
        f"AND {sw} ORDER BY ts",
        parameters={"vin": vin, "since": since, "until": until, **sp},
    )


def vehicle_exceedances(
    client: Client, scope: Scope, vin: str, since: datetime, until: datetime
) -> pd.DataFrame:
    """Fired OBD rules of a vehicle with rule id and rule-set version, newest first."""
    sw, sp = scope_where(scope, domain="obd")
    return client.query_df(
        "SELECT ts, rule_id, ruleset_version, severity, measured, `limit`, unit, provisional, evidence, "
        "detail_json FROM exceedance FINAL WHERE source = 'obd_gateway' AND subject_id = {vin:String} "
        f"AND ts >= {{since:DateTime64(3)}} AND ts < {{until:DateTime64(3)}} AND {sw} ORDER BY ts DESC",
        parameters={"vin": vin, "since": since, "until": until, **sp},
    )


def daily_records(client: Client, scope: Scope, since: datetime, until: datetime) -> pd.DataFrame:
    """Per vehicle and Beijing day: records, running records (rpm > 0), back-filled, flagged."""
    sw, sp = scope_where(scope, domain="obd")
    return client.query_df(
        "SELECT toDate(ts, 'Asia/Shanghai') AS day, jurisdiction, fleet, vin, count() AS records, "
        "countIf(rpm > 0) AS running, countIf(backfilled) AS backfilled, "
        "countIf(length(quality_flags) > 0) AS flagged FROM obd_sample FINAL "
        f"WHERE ts >= {{since:DateTime64(3)}} AND ts < {{until:DateTime64(3)}} AND {sw} "
        "GROUP BY day, jurisdiction, fleet, vin ORDER BY day, jurisdiction, fleet, vin",
        parameters={"since": since, "until": until, **sp},
    )


def frames_summary(client: Client, scope: Scope, since: datetime, until: datetime) -> pd.DataFrame:
    """Accepted frames per jurisdiction, command and decode status (bad bytes are in metrics)."""
    sw, sp = scope_where(scope, domain="obd", detail=False)
    return client.query_df(
        "SELECT jurisdiction, command, decode_status, signature, count() AS frames, "
        "countIf(backfilled) AS backfilled FROM obd_frame FINAL "
        "WHERE received_at >= {since:DateTime64(3)} AND received_at < {until:DateTime64(3)} "
        f"AND {sw} GROUP BY jurisdiction, command, decode_status, signature ORDER BY jurisdiction, command, decode_status",
        parameters={"since": since, "until": until, **sp},
    )


def quarantine_summary(
    client: Client, scope: Scope, since: datetime, until: datetime
) -> pd.DataFrame:
    """Frames from VINs not in the registry, per VIN and reason (no jurisdiction is known for
    them: the zone-wide scopes only)."""
    require_zone(scope, "obd.quarantine_summary")
    return client.query_df(
        "SELECT vin, reason, count() AS frames, min(ts) AS first_seen, max(ts) AS last_seen, any(peer) AS peer "
        "FROM obd_quarantine FINAL WHERE ts >= {since:DateTime64(3)} AND ts < {until:DateTime64(3)} "
        "GROUP BY vin, reason ORDER BY frames DESC",
        parameters={"since": since, "until": until},
    )

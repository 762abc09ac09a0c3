"""Roadside remote-sensing queries: site quality per day, a vehicle's RSD history by plate, recent
exceedances, and calibration records. Event tables are read with ``FINAL`` so that re-sent records
count once. Days are Beijing calendar days (devices and officers work in local time).

Site quality (rules.md / issue 5): passes, valid rate, capture rate (plate read and plume data
present), downtime seconds by weather and other causes (downtime split per day is approximate:
a period is counted on the day it starts), and the calibration state entered by operators.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
from clickhouse_connect.driver.client import Client

from core.scope import Scope
from core.timeutil import BEIJING
from streams.warehouse.scope import scope_where

_DAY = "toDate(ts, 'Asia/Shanghai')"
_TS = "ts >= {since:DateTime64(3)} AND ts < {until:DateTime64(3)}"


def _day_bounds(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    """Beijing midnight of ``since``'s day and the midnight after ``until``'s day (as UTC)."""
    a = since.astimezone(BEIJING).date()
    b = until.astimezone(BEIJING).date() + timedelta(days=1)
    mid = [datetime(d.year, d.month, d.day, tzinfo=BEIJING).astimezone(UTC) for d in (a, b)]
    return mid[0], mid[1]


def site_quality_daily(
    client: Client, scope: Scope, since: datetime, until: datetime, site_id: str | None = None
) -> pd.DataFrame:
    """Per site and local day (the Beijing days of ``since`` … ``until``, whole days): passes,
    valid, valid_rate, captured, capture_rate, passes screened out by weather gates, weather and
    other downtime (s), and whether the day's last operator calibration passed (NaN when none
    was entered). The pass formulas are those of the ``rsd_site_day`` view."""
    sw, sp = scope_where(scope, domain="rsd", detail=False)
    # the pass query aliases any(jurisdiction) AS jurisdiction: name the table's column there
    pw, _ = scope_where(scope, domain="rsd", detail=False, jurisdiction="rsd_pass.jurisdiction")
    site = "AND site_id = {site:String} " if site_id else ""
    where_site = f"{site}AND {sw}"
    start, end = _day_bounds(since, until)
    params = {"since": start, "until": end, "site": site_id or "", **sp}
    # same formulas as the rsd_site_day view (0301), filtered on ts first so the scan stays small
    passes = client.query_df(
        f"SELECT site_id, {_DAY} AS day, any(jurisdiction) AS jurisdiction, count() AS passes, "
        "countIf(valid) AS valid_passes, countIf(valid) / count() AS valid_rate, "
        "countIf(plate != '' AND NOT has(invalid_reasons, 'no_plume_data')) AS captured, "
        "countIf(plate != '' AND NOT has(invalid_reasons, 'no_plume_data')) / count() AS capture_rate, "
        "countIf(hasAny(invalid_reasons, ['wind_high', 'precipitation'])) AS weather_invalid, "
        "countIf(has(invalid_reasons, 'calibration_expired')) AS not_calibrated "
        f"FROM rsd_pass FINAL WHERE {_TS} {site}AND {pw} GROUP BY site_id, day ORDER BY site_id, day",
        parameters=params,
    )
    down = client.query_df(
        f"SELECT site_id, {_DAY} AS day, "
        "sumIf(dateDiff('second', ts, `end`), reason IN ('rain', 'fog', 'wind', 'snow')) AS weather_downtime_s, "
        "sumIf(dateDiff('second', ts, `end`), reason NOT IN ('rain', 'fog', 'wind', 'snow')) AS other_downtime_s "
        f"FROM rsd_downtime FINAL WHERE {_TS} "
        f"{where_site} GROUP BY site_id, day",
        parameters=params,
    )
    cal = client.query_df(
        f"SELECT site_id, {_DAY} AS day, argMax(passed, ts) AS calibration_passed, "
        "argMax(valid_until, ts) AS calibration_valid_until "
        f"FROM rsd_calibration FINAL WHERE {_TS} "
        f"{where_site} GROUP BY site_id, day",
        parameters=params,
    )
    if not passes.empty:
        passes = passes.rename(columns={"valid_passes": "valid"})
    frames = [f for f in (passes, down, cal) if not f.empty]
    for f in frames:
        f["day"] = pd.to_datetime(f["day"]).dt.date
    if not frames:
        return pd.DataFrame()
    out = frames[0]
    for f in frames[1:]:
        out = out.merge(f, on=["site_id", "day"], how="outer")
    for col in ("passes", "valid", "captured", "weather_invalid", "not_calibrated"):
        if col in out:
            out[col] = out[col].fillna(0).astype(int)
    for col in ("weather_downtime_s", "other_downtime_s"):
        if col in out:
            out[col] = out[col].fillna(0).astype(float)
    return out.sort_values(["site_id", "day"]).reset_index(drop=True)


def vehicle_history(
    client: Client, scope: Scope, plate: str, plate_colour: str | None = None, limit: int = 500
) -> pd.DataFrame:
    """Every pass of a plate at any zone site, newest first, with the computed values, validity
    reasons, evidence references and the rule-set version used.

    Read from the plate-ordered projection (``0900_rsd_pass_by_plate.sql``), which FINAL cannot
    use: a re-sent pass is dropped with ``LIMIT 1 BY`` the table's key instead (FINAL's result,
    since a re-sent record carries the same values)."""
    sw, sp = scope_where(scope, domain="rsd")
    where_col = ("AND plate_colour = {colour:String} " if plate_colour else "") + f"AND {sw}"
    return client.query_df(
        "SELECT ts, site_id, jurisdiction, record_id, plate, plate_colour, fuel, emission_stage, "
        "speed_kmh, vsp_kw_t, co_pct, hc_ppm, no_ppm, opacity_pct, ringelmann, co_gpkg, hc_gpkg, "
        "no_gpkg, valid, invalid_reasons, quality_flags, images, raw_ref, ruleset_version, event_id "
        "FROM rsd_pass WHERE plate = {plate:String} "
        f"{where_col} ORDER BY ts DESC LIMIT 1 BY site_id, ts, event_id LIMIT {{limit:UInt32}}",
        parameters={"plate": plate, "colour": plate_colour or "", "limit": limit, **sp},
    )


def recent_exceedances(
    client: Client,
    scope: Scope,
    since: datetime,
    until: datetime,
    jurisdictions: tuple[str, ...] | None = None,
    rule_prefix: str = "RS-",
    limit: int = 500,
) -> pd.DataFrame:
    """RSD exceedances (RS-* rules by default, incl. RS-FIRST and RS-REPEAT) in [since, until),
    newest first; optionally only some jurisdictions."""
    sw, sp = scope_where(scope, domain="rsd")
    where_j = ("AND jurisdiction IN {jur:Array(String)} " if jurisdictions else "") + f"AND {sw}"
    return client.query_df(
        "SELECT ts, rule_id, severity, subject_id, jurisdiction, device_id AS site_id, measured, "
        "`limit`, unit, provisional, evidence, quality_flags, ruleset_version, detail_json, event_id "
        "FROM exceedance FINAL WHERE source = 'remote_sensing' "
        "AND ts >= {since:DateTime64(3)} AND ts < {until:DateTime64(3)} "
        "AND startsWith(rule_id, {prefix:String}) "
        f"{where_j} ORDER BY ts DESC LIMIT {{limit:UInt32}}",
        parameters={
            "since": since,
            "until": until,
            "prefix": rule_prefix,
            "jur": list(jurisdictions or ()),
            "limit": limit,
            **sp,
        },
    )


def repeat_offenders(
    client: Client, scope: Scope, since: datetime, until: datetime
) -> pd.DataFrame:
    """Vehicles with RS-REPEAT case candidates in [since, until): count, pollutants, last time."""
    sw, sp = scope_where(scope, domain="rsd")
    return client.query_df(
        "SELECT subject_id, count() AS cases, groupUniqArray(JSONExtractString(detail_json, 'pollutant')) "
        "AS pollutants, groupUniqArray(jurisdiction) AS jurisdictions, max(ts) AS last_ts "
        "FROM exceedance FINAL WHERE source = 'remote_sensing' AND rule_id = 'RS-REPEAT' "
        f"AND ts >= {{since:DateTime64(3)}} AND ts < {{until:DateTime64(3)}} AND {sw} "
        "GROUP BY subject_id ORDER BY cases DESC, last_ts DESC",
        parameters={"since": since, "until": until, **sp},
    )


def calibrations(client: Client, scope: Scope, since: datetime, until: datetime) -> pd.DataFrame:
    """Operator calibration and audit records in [since, until), newest first."""
    sw, sp = scope_where(scope, domain="rsd")
    return client.query_df(
        "SELECT ts, site_id, jurisdiction, check_kind, passed, valid_until, operator, certificate, "
        "co_error_pct, no_error_pct, hc_error_pct, note "
        "FROM rsd_calibration FINAL WHERE ts >= {since:DateTime64(3)} AND ts < {until:DateTime64(3)} "
        f"AND {sw} ORDER BY ts DESC",
        parameters={"since": since, "until": until, **sp},
    )

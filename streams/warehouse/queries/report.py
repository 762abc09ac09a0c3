"""Weekly-report and partner-export queries: every number of the weekly report comes from here.

Each query takes the ISO week (Beijing time, ``core.isoweek.IsoWeek``), the reporting level
(``qingpu`` / ``wujiang`` / ``jiashan`` or ``zone``) and the caller's ``scope`` (``core.scope.Scope``:
the jurisdictions the caller may see, built by access control; ``ZONE_SCOPE`` sees the zone). The
scope is applied in SQL: a level outside the scope is refused, and no row of a jurisdiction outside
it is returned. Days are Beijing calendar days; event tables are read with ``FINAL`` so replays count
once. Cross-jurisdiction facts (a vehicle also flagged elsewhere) look across the scope, not only
the level, which is the zone's point.

Case sections read the enforcement tables when they exist (``case_tables_present``); the report
says so instead of inventing numbers when they do not.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pandas as pd
from clickhouse_connect.driver.client import Client

from core.isoweek import IsoWeek
from core.jurisdictions import JURISDICTIONS, ZONE
from core.scope import Scope
from streams.warehouse.scope import OutOfScope, require

_DAY = "toDate(ts, 'Asia/Shanghai')"
_WEEK_TS = "ts >= {since:DateTime64(3)} AND ts < {until:DateTime64(3)}"
_IN_J = "jurisdiction IN {jur:Array(String)}"


ZONE_SCOPE = Scope.zone("report")  # until login exists (issue 15): the zone-wide scope


def _jurisdictions_of(level: str, scope: object) -> list[str]:
    """The jurisdictions a report at ``level`` covers, within ``scope``: ``ScopeRequired`` without
    one, ``OutOfScope`` for a level the scope does not reach (the zone needs a zone-wide scope)."""
    sc = require(scope, "report")
    if level == ZONE:
        if not set(JURISDICTIONS) <= set(sc.jurisdictions):
            raise OutOfScope("report")
        return sorted(JURISDICTIONS)
    if level not in JURISDICTIONS:
        raise ValueError(
            f"unknown jurisdiction {level!r} (known: {', '.join(JURISDICTIONS)}, zone)"
        )
    if level not in sc.jurisdictions:
        raise OutOfScope("report")
    return [level]


def _q(client: Client, sql: str, parameters: dict[str, object]) -> pd.DataFrame:
    # ``any(jurisdiction) AS jurisdiction`` must not capture ``WHERE jurisdiction IN …``
    return client.query_df(sql, parameters=parameters, settings={"prefer_column_name_to_alias": 1})


def _params(week: IsoWeek, level: str, scope: Scope, **extra: object) -> dict[str, object]:
    jur = _jurisdictions_of(level, scope)  # the scope check comes before anything else
    since, until = week.bounds_utc()
    return {
        "since": since,
        "until": until,
        "jur": jur,
        "scope": sorted(scope.jurisdictions),
        **extra,
    }


# --- exceedances ---------------------------------------------------------------------------------


def exceedance_counts(client: Client, scope: Scope, week: IsoWeek, level: str) -> pd.DataFrame:
    """Exceedances of the week per jurisdiction, source, rule and severity (column ``n``)."""
    return _q(
        client,
        "SELECT jurisdiction, source, rule_id, severity, count() AS n FROM exceedance FINAL "
        f"WHERE {_WEEK_TS} AND {_IN_J} GROUP BY jurisdiction, source, rule_id, severity "
        "ORDER BY jurisdiction, source, rule_id, severity",
        _params(week, level, scope),
    )


def exceedance_daily(client: Client, scope: Scope, week: IsoWeek, level: str) -> pd.DataFrame:
    """Exceedances per Beijing day, jurisdiction and source (trend chart)."""
    return _q(
        client,
        f"SELECT {_DAY} AS day, jurisdiction, source, count() AS n FROM exceedance FINAL "
        f"WHERE {_WEEK_TS} AND {_IN_J} GROUP BY day, jurisdiction, source ORDER BY day",
        _params(week, level, scope),
    )


def exceedance_weekly_trend(
    client: Client, scope: Scope, week: IsoWeek, level: str, weeks: int = 8
) -> pd.DataFrame:
    """Exceedances per ISO week (Monday, Beijing) and jurisdiction over the ``weeks`` weeks ending
    with ``week`` (trend chart)."""
    require(scope, "report")
    first = week.previous(weeks - 1)
    p = _params(week, level, scope)
    p["since"] = first.bounds_utc()[0]
    return _q(
        client,
        f"SELECT toMonday({_DAY}) AS monday, jurisdiction, count() AS n FROM exceedance FINAL "
        f"WHERE {_WEEK_TS} AND {_IN_J} GROUP BY monday, jurisdiction ORDER BY monday",
        p,
    )


def vehicle_flags(client: Client, scope: Scope, week: IsoWeek, level: str) -> pd.DataFrame:
    """Per vehicle subject (plate or VIN), Beijing day, jurisdiction and source: exceedances in the
    week, over every jurisdiction of the scope, for the vehicles flagged at least once within the
    level. The report joins plates and VINs into one vehicle and derives repeat and
    cross-jurisdiction offenders from these rows."""
    return _q(
        client,
        f"SELECT subject_id, {_DAY} AS day, jurisdiction, source, count() AS n, "
        "groupUniqArray(rule_id) AS rules FROM exceedance FINAL "
        f"WHERE {_WEEK_TS} AND subject_kind = 'vehicle' AND jurisdiction IN {{scope:Array(String)}} "
        "AND subject_id IN (SELECT subject_id FROM exceedance FINAL "
        f"  WHERE {_WEEK_TS} AND subject_kind = 'vehicle' AND {_IN_J}) "
        "GROUP BY subject_id, day, jurisdiction, source ORDER BY subject_id, day",
        _params(week, level, scope),
    )


# --- stations ------------------------------------------------------------------------------------


def station_warnings(client: Client, scope: Scope, week: IsoWeek, level: str) -> pd.DataFrame:
    """Nozzles and station categories whose last state in the week is warning or alarm, with the
    consecutive days in that state (``streak``) and the day it was last judged."""
    require(scope, "report")
    p = _params(week, level, scope, d0=week.monday, d1=week.monday + timedelta(days=7))
    return _q(
        client,
        "SELECT station_id, jurisdiction, subject, level, streak, last_day FROM ("
        "  SELECT station_id, any(jurisdiction) AS jurisdiction, concat('nozzle:', toString(nozzle)) "
        "  AS subject, argMax(level, day) AS level, argMax(streak, day) AS streak, max(day) AS last_day "
        "  FROM vapor_nozzle_day FINAL WHERE day >= {d0:Date} AND day < {d1:Date} AND "
        f"  {_IN_J} GROUP BY station_id, nozzle "
        "  UNION ALL "
        "  SELECT station_id, any(jurisdiction) AS jurisdiction, category AS subject, "
        "  argMax(level, day) AS level, argMax(streak, day) AS streak, max(day) AS last_day "
        "  FROM vapor_station_state FINAL WHERE day >= {d0:Date} AND day < {d1:Date} AND "
        f"  {_IN_J} GROUP BY station_id, category) "
        "WHERE level IN ('warning', 'alarm') ORDER BY level DESC, streak DESC, station_id, subject",
        p,
    )


# --- OBD and data completeness ---------------------------------------------------------------------


def obd_vehicle_days(client: Client, scope: Scope, week: IsoWeek, level: str) -> pd.DataFrame:
    """Per VIN: jurisdiction and Beijing days with at least one record. Registered vehicles come
    from the registry (the warehouse holds no vehicle master), so the rate is computed by the
    caller. No ``FINAL``: distinct days do not change with duplicates, and this is the largest
    table of the week."""
    return _q(
        client,
        f"SELECT vin, any(jurisdiction) AS jurisdiction, groupUniqArray({_DAY}) AS days "
        f"FROM obd_sample WHERE {_WEEK_TS} AND {_IN_J} GROUP BY vin ORDER BY vin",
        _params(week, level, scope),
    )


def rsd_site_health(client: Client, scope: Scope, week: IsoWeek, level: str) -> pd.DataFrame:
    """Per RSD site: passes, valid passes, captured (plate and plume), hours with data, downtime
    seconds by cause, failed calibrations of the week."""
    p = _params(week, level, scope)
    passes = _q(
        client,
        "SELECT site_id, any(jurisdiction) AS jurisdiction, count() AS passes, "
        "countIf(valid) AS valid, "
        "countIf(plate != '' AND NOT has(invalid_reasons, 'no_plume_data')) AS captured, "
        "uniqExact(toStartOfHour(ts)) AS hours "
        f"FROM rsd_pass FINAL WHERE {_WEEK_TS} AND {_IN_J} GROUP BY site_id",
        p,
    )
    down = _q(
        client,
        "SELECT site_id, sum(dateDiff('second', ts, `end`)) AS downtime_s FROM rsd_downtime FINAL "
        f"WHERE {_WEEK_TS} AND {_IN_J} GROUP BY site_id",
        p,
    )
    cal = _q(
        client,
        "SELECT site_id, countIf(NOT passed) AS calibration_failed FROM rsd_calibration FINAL "
        f"WHERE {_WEEK_TS} AND {_IN_J} GROUP BY site_id",
        p,
    )
    return _merge_on("site_id", passes, down, cal)


def camera_health(client: Client, scope: Scope, week: IsoWeek, level: str) -> pd.DataFrame:
    """Per smoke camera: captures, hours with data, captures taken while the site's calibration was
    not valid, captures without a readable plate."""
    return _q(
        client,
        "SELECT camera_id, any(jurisdiction) AS jurisdiction, count() AS captures, "
        "uniqExact(toStartOfHour(ts)) AS hours, "
        "countIf(calibration_status != 'valid') AS uncalibrated, "
        "countIf(plate IN ('', 'unknown')) AS unknown_plate "
        f"FROM smoke_capture FINAL WHERE {_WEEK_TS} AND {_IN_J} GROUP BY camera_id",
        _params(week, level, scope),
    )


def station_data_health(client: Client, scope: Scope, week: IsoWeek, level: str) -> pd.DataFrame:
    """Per station data unit (HJ 212 MN): packets, packets with problems, hours with data, and
    device alarm flags raised in the week."""
    p = _params(week, level, scope)
    packets = _q(
        client,
        "SELECT unit_id AS station_id, any(jurisdiction) AS jurisdiction, count() AS packets, "
        "countIf(length(problems) > 0) AS with_problems, uniqExact(toStartOfHour(ts)) AS hours "
        f"FROM vapor_packet FINAL WHERE {_WEEK_TS} AND {_IN_J} AND unit_kind = 'station' "
        "GROUP BY unit_id",
        p,
    )
    alarms = _q(
        client,
        "SELECT station_id, countIf(state > 0) AS device_alarms FROM vapor_device_alarm FINAL "
        f"WHERE {_WEEK_TS} AND {_IN_J} GROUP BY station_id",
        p,
    )
    return _merge_on("station_id", packets, alarms)


def _merge_on(key: str, *frames: pd.DataFrame) -> pd.DataFrame:
    present = [f for f in frames if not f.empty]
    if not present:
        return pd.DataFrame()
    out = present[0]
    for f in present[1:]:
        cols = [c for c in f.columns if c == key or c not in out.columns]
        out = out.merge(f[cols], on=key, how="outer")
    return out.reset_index(drop=True)


# --- enforcement cases (read when the enforcement tables exist) ------------------------------------

CASE_TABLES = ("case_state", "case_entry", "case_finding")


def tables_present(client: Client, scope: Scope, names: Iterable[str]) -> set[str]:
    """Which of ``names`` exist in the current database."""
    require(scope, "tables_present")
    df = client.query_df(
        "SELECT name FROM system.tables WHERE database = currentDatabase() "
        "AND name IN {names:Array(String)}",
        parameters={"names": list(names)},
    )
    return set(df["name"]) if not df.empty else set()


def case_tables_present(client: Client, scope: Scope) -> bool:
    return tables_present(client, scope, CASE_TABLES) == set(CASE_TABLES)


def case_transitions(client: Client, scope: Scope, week: IsoWeek, level: str) -> pd.DataFrame:
    """Case log entries of the week per jurisdiction: opened, confirmed, dismissed, closed (a
    transition counts when the status changes into it)."""
    return _q(
        client,
        "SELECT jurisdiction, countIf(entry = 'opened') AS opened, "
        "countIf(status_after = 'confirmed' AND status_before != 'confirmed') AS confirmed, "
        "countIf(status_after = 'dismissed' AND status_before != 'dismissed') AS dismissed, "
        "countIf(status_after = 'closed' AND status_before != 'closed') AS closed "
        f"FROM case_entry FINAL WHERE {_WEEK_TS} AND {_IN_J} GROUP BY jurisdiction",
        _params(week, level, scope),
    )


def case_first_actions(client: Client, scope: Scope, week: IsoWeek, level: str) -> pd.DataFrame:
    """Cases opened in the week: jurisdiction, opened_at and the time of the first officer action
    (NULL while none has been taken)."""
    return _q(
        client,
        "SELECT case_id, any(jurisdiction) AS jurisdiction, minIf(ts, entry = 'opened') AS opened_at, "
        "if(countIf(entry = 'action') > 0, minIf(ts, entry = 'action'), NULL) AS first_action_at "
        "FROM case_entry FINAL WHERE case_id IN (SELECT case_id FROM case_entry FINAL "
        f"  WHERE entry = 'opened' AND {_WEEK_TS} AND {_IN_J}) GROUP BY case_id",
        _params(week, level, scope),
    )


def vehicle_links(client: Client, scope: Scope, vins: Iterable[str]) -> pd.DataFrame:
    """Plate ↔ VIN links supplied by sources (``vehicle_link``) for the given VINs."""
    require(scope, "vehicle_links")
    return _q(
        client,
        "SELECT DISTINCT vin, plate FROM vehicle_link FINAL WHERE vin IN {vins:Array(String)} "
        "AND plate != ''",
        {"vins": sorted(set(vins))},
    )


def confirmed_cases(
    client: Client,
    scope: Scope,
    since: datetime,
    until: datetime,
    level: str,
    subject_kinds: tuple[str, ...],
) -> pd.DataFrame:
    """Cases of the given subject kinds confirmed in [since, until) within the scope: the latest
    state of each (plate, VIN, rules, status) with when and by whom it was confirmed and the ids of
    its findings (partner exports)."""
    return _q(
        client,
        "SELECT s.case_id AS case_id, s.subject_kind AS subject_kind, s.subject_id AS subject_id, "
        "s.plate AS plate, s.vin AS vin, s.vehicle_class AS vehicle_class, "
        "s.jurisdiction AS jurisdiction, s.issue AS issue, s.status AS status, s.rules AS rules, "
        "s.jurisdictions AS jurisdictions, s.finding_ids AS finding_ids, "
        "c.confirmed_at AS confirmed_at, c.confirmed_by AS confirmed_by FROM ("
        "  SELECT case_id, argMax(subject_kind, version) AS subject_kind, "
        "  argMax(subject_id, version) AS subject_id, argMax(plate, version) AS plate, "
        "  argMax(vin, version) AS vin, argMax(vehicle_class, version) AS vehicle_class, "
        "  argMax(jurisdiction, version) AS jurisdiction, argMax(issue, version) AS issue, "
        "  argMax(status, version) AS status, argMax(rules, version) AS rules, "
        "  argMax(jurisdictions, version) AS jurisdictions, "
        "  JSONExtract(argMax(state_json, version), 'finding_ids', 'Array(String)') AS finding_ids "
        "  FROM case_state FINAL GROUP BY case_id) AS s "
        "INNER JOIN ("
        "  SELECT case_id, min(ts) AS confirmed_at, argMin(actor, ts) AS confirmed_by "
        "  FROM case_entry FINAL WHERE status_after = 'confirmed' AND status_before != 'confirmed' "
        "  AND ts >= {since:DateTime64(3)} AND ts < {until:DateTime64(3)} GROUP BY case_id) AS c "
        "ON c.case_id = s.case_id "
        "WHERE s.subject_kind IN {kinds:Array(String)} AND s.jurisdiction IN {jur:Array(String)} "
        "ORDER BY c.confirmed_at, s.case_id",
        {
            "since": since.astimezone(UTC),
            "until": until.astimezone(UTC),
            "jur": _jurisdictions_of(level, scope),
            "kinds": list(subject_kinds),
        },
    )


def case_findings(client: Client, scope: Scope, finding_ids: Iterable[str]) -> pd.DataFrame:
    """Findings by id (within the scope's jurisdictions): time, plate and colour, VIN, source,
    rule, device, place, evidence."""
    sc = require(scope, "case_findings")
    return _q(
        client,
        "SELECT event_id, ts, plate, plate_colour, vin, source, rule_id, severity, jurisdiction, "
        "device_id, measured, `limit`, unit, evidence FROM case_finding FINAL "
        "WHERE event_id IN {ids:Array(String)} AND jurisdiction IN {jur:Array(String)} ORDER BY ts",
        {"ids": sorted(set(finding_ids)), "jur": list(sc.all_jurisdictions)},
    )


# --- export log ----------------------------------------------------------------------------------


def export_log(client: Client, scope: Scope, since: datetime, until: datetime) -> pd.DataFrame:
    """Recorded partner exports in [since, until), newest first (audit)."""
    require(scope, "export_log")
    return _q(
        client,
        "SELECT ts, export_id, kind, fmt, user, rows, file_name, sha256, params_json "
        "FROM export_log WHERE ts >= {since:DateTime64(3)} AND ts < {until:DateTime64(3)} "
        "AND hasAny(jurisdictions, {scope:Array(String)}) ORDER BY ts DESC",
        {
            "since": since.astimezone(UTC),
            "until": until.astimezone(UTC),
            "scope": sorted(scope.jurisdictions),
        },
    )

"""Vapour-recovery queries for the station operator page and compliance sheets.

Every function takes the caller's ``scope`` (``core.scope.Scope``) and the stations asked for
(``stations``, a tuple of station ids, or None for all): only the stations of the scope are read
(``streams.warehouse.scope.scoped_stations``); a station outside it is silently not there, a call
without a scope refuses. Scoping is in the query, never a page filter. Event
tables are read with ``FINAL`` so that re-sent packets and replayed events count once. Days are
Beijing days (``vapor_nozzle_day.day`` is already one); times are UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import pandas as pd
from clickhouse_connect.driver.client import Client

from core.scope import Scope
from streams.warehouse.scope import scope_where, scoped_stations


def station_ids(client: Client, scope: Scope) -> pd.DataFrame:
    """The stations of the caller's scope (id, name, jurisdiction) for the station picker."""
    from core.registry import default_registry

    ids = set(scoped_stations(scope))
    rows = [
        {"station_id": s.id, "name": s.name, "jurisdiction": s.jurisdiction}
        for s in default_registry().stations
        if s.id in ids
    ]
    return pd.DataFrame(rows, columns=["station_id", "name", "jurisdiction"])


def _st(stations: Sequence[str]) -> list[str]:
    return sorted(set(stations))


def nozzle_days(
    client: Client, scope: Scope, stations: Sequence[str] | None, since: date, until: date
) -> pd.DataFrame:
    """Daily A/L compliance per nozzle in [since, until): the per-nozzle A/L-over-time series."""
    stations = scoped_stations(scope, stations)
    if not stations:
        return pd.DataFrame()
    return client.query_df(
        "SELECT day, station_id, nozzle, fuellings, valid, under_min, slow_dispenser, pump_fault, "
        "slow_vapour, in_band, above, below, mean_al, pass_rate, pooled_valid, state, streak, level, "
        "isd_daily, isd_weekly, ruleset_version FROM vapor_nozzle_day FINAL "
        "WHERE station_id IN {st:Array(String)} AND day >= {since:Date} AND day < {until:Date} "
        "ORDER BY station_id, nozzle, day",
        parameters={"st": _st(stations), "since": since, "until": until},
    )


def fuelling_al(
    client: Client,
    scope: Scope,
    stations: Sequence[str] | None,
    since: datetime,
    until: datetime,
    limit: int = 20000,
) -> pd.DataFrame:
    """Individual fuellings (A/L, volumes, flows) in [since, until), newest first, capped."""
    scope_where(scope, domain="vapor", jurisdiction=None, station="station_id")  # single records
    stations = scoped_stations(scope, stations)
    if not stations:
        return pd.DataFrame()
    return client.query_df(
        "SELECT ts, station_id, nozzle, al, fuel_volume_l, vapour_volume_l, fuel_flow_lpm, "
        "vapour_flow_lpm, liquid_resistance_pa FROM vapor_fuelling FINAL "
        "WHERE station_id IN {st:Array(String)} AND ts >= {since:DateTime64(3)} "
        "AND ts < {until:DateTime64(3)} ORDER BY ts DESC LIMIT {lim:UInt32}",
        parameters={"st": _st(stations), "since": since, "until": until, "lim": limit},
    )


def pass_rate_live(
    client: Client,
    scope: Scope,
    stations: Sequence[str] | None,
    since: datetime,
    until: datetime,
    *,
    min_volume_l: float = 15.0,
    al_lower: float = 1.0,
    al_upper: float = 1.2,
    slow_fuel_lpm: float = 10.0,
) -> pd.DataFrame:
    """Pass rate per nozzle over fuellings in [since, until) (e.g. today so far, before the day is
    closed by the processor). Valid = volume >= min and A/L present; out-of-band fuellings with a
    fuel flow below ``slow_fuel_lpm`` are not counted (FV-SLOW). Pass the rule-set values."""
    stations = scoped_stations(scope, stations)
    if not stations:
        return pd.DataFrame()
    return client.query_df(
        "SELECT station_id, nozzle, countIf(v) AS valid, countIf(v AND ib) AS in_band, "
        "if(valid > 0, in_band / valid, NULL) AS pass_rate, avgIf(al, v) AS mean_al, "
        "count() AS fuellings FROM ("
        "  SELECT station_id, nozzle, al, (al >= {lo:Float64} AND al <= {hi:Float64}) AS ib, "
        "  (fuel_volume_l >= {minv:Float64} AND al IS NOT NULL "
        "   AND NOT ((NOT ib) AND fuel_flow_lpm < {slow:Float64})) AS v "
        "  FROM vapor_fuelling FINAL WHERE station_id IN {st:Array(String)} "
        "  AND ts >= {since:DateTime64(3)} AND ts < {until:DateTime64(3)}) "
        "GROUP BY station_id, nozzle ORDER BY station_id, nozzle",
        parameters={
            "st": _st(stations),
            "since": since,
            "until": until,
            "lo": al_lower,
            "hi": al_upper,
            "minv": min_volume_l,
            "slow": slow_fuel_lpm,
        },
    )


def nozzle_status(client: Client, scope: Scope, stations: Sequence[str] | None) -> pd.DataFrame:
    """Latest closed day per nozzle: days in warning (streak), level, last pass rate."""
    stations = scoped_stations(scope, stations)
    if not stations:
        return pd.DataFrame()
    return client.query_df(
        "SELECT station_id, nozzle, argMax(day, day) AS last_day, argMax(streak, day) AS streak, "
        "argMax(level, day) AS level, argMax(state, day) AS state, "
        "argMax(pass_rate, day) AS pass_rate FROM vapor_nozzle_day FINAL "
        "WHERE station_id IN {st:Array(String)} GROUP BY station_id, nozzle "
        "ORDER BY station_id, nozzle",
        parameters={"st": _st(stations)},
    )


def alarms(
    client: Client,
    scope: Scope,
    stations: Sequence[str] | None,
    since: datetime,
    until: datetime,
    extra_subjects: Sequence[str] = (),
) -> pd.DataFrame:
    """Vapour exceedances of the stations' nozzles and the stations themselves (plus the given
    sensor/depot ids) in [since, until), newest first, with evidence and detail."""
    stations = scoped_stations(scope, stations)
    extra_subjects = scoped_stations(scope, extra_subjects) if extra_subjects else []
    if not stations and not extra_subjects:
        return pd.DataFrame()
    return client.query_df(
        "SELECT ts, subject_kind, subject_id, splitByChar(':', subject_id)[1] AS station_id, "
        "rule_id, ruleset_version, severity, measured, `limit`, unit, evidence, quality_flags, "
        "provisional, detail_json FROM exceedance FINAL WHERE source = 'fuel_vapor' "
        "AND (splitByChar(':', subject_id)[1] IN {st:Array(String)} OR subject_id IN {ex:Array(String)}) "
        "AND ts >= {since:DateTime64(3)} AND ts < {until:DateTime64(3)} ORDER BY ts DESC",
        parameters={
            "st": _st(stations),
            "ex": sorted(set(extra_subjects)),
            "since": since,
            "until": until,
        },
    )


def station_states(
    client: Client, scope: Scope, stations: Sequence[str] | None, since: date, until: date
) -> pd.DataFrame:
    """Daily station states (zero pressure hours, P/V, processing unit) with the device's own flag."""
    stations = scoped_stations(scope, stations)
    if not stations:
        return pd.DataFrame()
    return client.query_df(
        "SELECT day, station_id, category, level, value, unit, streak, device_state "
        "FROM vapor_station_state FINAL WHERE station_id IN {st:Array(String)} "
        "AND day >= {since:Date} AND day < {until:Date} ORDER BY station_id, category, day",
        parameters={"st": _st(stations), "since": since, "until": until},
    )


def tank_pressure(
    client: Client,
    scope: Scope,
    stations: Sequence[str] | None,
    since: datetime,
    until: datetime,
    bucket_s: int = 600,
) -> pd.DataFrame:
    """Tank pressure and processing-unit outlet per station in buckets of ``bucket_s`` seconds."""
    stations = scoped_stations(scope, stations)
    if not stations:
        return pd.DataFrame()
    return client.query_df(
        "SELECT toStartOfInterval(ts, toIntervalSecond({b:UInt32})) AS bucket, station_id, "
        "avg(tank_pressure_pa) AS tank_pressure_pa, min(tank_pressure_pa) AS p_min, "
        "max(tank_pressure_pa) AS p_max, max(proc_outlet_g_m3) AS proc_outlet_g_m3 "
        "FROM vapor_station_reading FINAL WHERE station_id IN {st:Array(String)} "
        "AND ts >= {since:DateTime64(3)} AND ts < {until:DateTime64(3)} "
        "GROUP BY bucket, station_id ORDER BY station_id, bucket",
        parameters={"st": _st(stations), "since": since, "until": until, "b": bucket_s},
    )


def compliance_monthly(
    client: Client, scope: Scope, stations: Sequence[str] | None, since: date, until: date
) -> pd.DataFrame:
    """Per nozzle over [since, until): judged days, exceedance days, idle/insufficient days, mean
    pass rate, longest streak, alarm days (the monthly compliance sheet)."""
    stations = scoped_stations(scope, stations)
    if not stations:
        return pd.DataFrame()
    return client.query_df(
        "SELECT station_id, nozzle, countIf(state IN ('pass', 'exceed')) AS judged_days, "
        "countIf(state = 'exceed') AS exceed_days, countIf(state = 'pass') AS pass_days, "
        "countIf(state IN ('idle', 'insufficient', 'pooling')) AS no_verdict_days, "
        "sum(valid) AS valid_fuellings, sum(in_band) AS in_band_fuellings, "
        "avgIf(pass_rate, pass_rate IS NOT NULL) AS mean_pass_rate, max(streak) AS max_streak, "
        "countIf(level = 'alarm') AS alarm_days, countIf(level = 'warning') AS warning_days "
        "FROM vapor_nozzle_day FINAL WHERE station_id IN {st:Array(String)} "
        "AND day >= {since:Date} AND day < {until:Date} GROUP BY station_id, nozzle "
        "ORDER BY station_id, nozzle",
        parameters={"st": _st(stations), "since": since, "until": until},
    )


def packet_quality(
    client: Client, scope: Scope, stations: Sequence[str] | None, since: datetime, until: datetime
) -> pd.DataFrame:
    """Accepted packets per unit and command with how many carried problems (data-quality view)."""
    stations = scoped_stations(scope, stations)
    if not stations:
        return pd.DataFrame()
    return client.query_df(
        "SELECT unit_id, cn, count() AS packets, countIf(length(problems) > 0) AS with_problems, "
        "max(ts) AS last_ts FROM vapor_packet FINAL WHERE unit_id IN {st:Array(String)} "
        "AND ts >= {since:DateTime64(3)} AND ts < {until:DateTime64(3)} "
        "GROUP BY unit_id, cn ORDER BY unit_id, cn",
        parameters={"st": _st(stations), "since": since, "until": until},
    )

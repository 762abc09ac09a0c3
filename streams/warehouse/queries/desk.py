"""Named queries of the officer's desk and the operator's view that no other module serves yet:
the smoke review candidates (the queue with the model's confidence, plus a sample of the captures
the rules did not queue), a station's cases (for its operator too), and the readings of oil depots
and of ambient / groundwater sensors.

Every function takes the caller's ``scope`` and restricts rows in SQL (``streams.warehouse.scope``):
a station operator reads its own stations' cases, sensors and nothing else; a depot belongs to no
station, so it is read by jurisdiction scopes only. Event tables are read with ``FINAL``; times are
UTC (pages show them in Beijing time).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd
from clickhouse_connect.driver.client import Client

from core.scope import Scope
from enforcement.vocabulary import STATUSES, TERMINAL
from streams.warehouse.queries.cases import _latest
from streams.warehouse.scope import scope_where, scoped_stations

_QUEUE_COLS = (
    "capture_id, ts, camera_id, site_id, jurisdiction, lane, plate, plate_colour, grade, "
    "grade_confidence, quality_flags, calibration_status, nev_suspect, model_version, "
    "evidence_uri, evidence_files, evidence_sha256, clip_seconds"
)


def smoke_review_candidates(
    client: Client,
    scope: Scope,
    since: datetime,
    until: datetime,
    jurisdiction: str | None = None,
    below_rate: float = 0.1,
    grade_limit: float = 1.0,
    limit: int = 200,
) -> pd.DataFrame:
    """Captures to review: the queue (BS-SCREEN fired, no decision) and a deterministic sample
    (``below_rate``) of unreviewed captures in [since, until) graded at or below ``grade_limit``
    that the rules did not queue (``below_threshold`` true). Each row has the detector's
    confidence and the model ``uncertainty`` (0 sure … 1 a coin toss, ``smoke_capture.review``);
    rows come most uncertain first."""
    from smoke_capture.review import sample_below_threshold, uncertainty

    sw, sp = scope_where(scope, domain="smoke")
    jw = " AND jurisdiction = {j:String}" if jurisdiction else ""
    params = {"j": jurisdiction or "", "n": limit, "since": since, "until": until, **sp}
    queue = client.query_df(
        f"SELECT {_QUEUE_COLS}, false AS below_threshold FROM smoke_review_queue "
        f"WHERE {sw}{jw} ORDER BY ts LIMIT {{n:UInt32}}",
        parameters=params,
    )
    below = client.query_df(
        f"SELECT event_id AS capture_id, ts, camera_id, site_id, jurisdiction, lane, plate, "
        "plate_colour, grade, grade_confidence, quality_flags, calibration_status, "
        "false AS nev_suspect, model_version, evidence_uri, evidence_files, evidence_sha256, "
        "clip_seconds, true AS below_threshold, detector_confidence FROM smoke_capture FINAL "
        "WHERE ts >= {since:DateTime64(3)} AND ts < {until:DateTime64(3)} "
        "AND grade <= {gl:Float64} AND event_id NOT IN (SELECT capture_id FROM smoke_review FINAL) "
        "AND event_id NOT IN (SELECT capture_id FROM smoke_review_queue) "
        f"AND {sw}{jw} ORDER BY ts LIMIT 20000",
        parameters={**params, "gl": grade_limit},
    )
    frames = []
    if not queue.empty:
        conf = client.query_df(
            "SELECT event_id AS capture_id, argMax(detector_confidence, ingested_at) "
            "AS detector_confidence FROM smoke_capture FINAL WHERE event_id IN {ids:Array(String)} "
            "GROUP BY event_id",
            parameters={"ids": list(queue["capture_id"])},
        )
        frames.append(queue.merge(conf, on="capture_id", how="left"))
    if not below.empty and below_rate > 0:
        picked = sample_below_threshold(below.to_dict("records"), below_rate, grade_limit)
        if picked:
            frames.append(pd.DataFrame(picked, columns=below.columns))
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    out["detector_confidence"] = out["detector_confidence"].astype(float).fillna(0.0)
    out["uncertainty"] = [uncertainty(r, grade_limit) for r in out.to_dict("records")]
    out = out.sort_values(["uncertainty", "ts", "capture_id"], ascending=[False, True, True])
    return out.head(limit).reset_index(drop=True)


_CASE_COLS = (
    "case_id, version, ts, subject_kind, subject_id, jurisdiction, issue, status, opened_at, "
    "severity, rules, findings, score, measure, state_json"
)
OPEN = tuple(s for s in STATUSES if s not in TERMINAL)


def station_cases(
    client: Client, scope: Scope, station: str, since: datetime, limit: int = 200
) -> pd.DataFrame:
    """The cases of one station (the station, its nozzles, its sensors): every open one and those
    closed or dismissed since ``since``, open first then newest. A station operator reads its own
    stations' cases here (the enforcement queries are not theirs); another station is empty."""
    from core.registry import default_registry

    # single records: refused to aggregates-only scopes; rows are limited to the scope's stations
    scope_where(scope, domain="vapor", jurisdiction=None, station="subject_id", what="cases")
    if not scoped_stations(scope, [station], what="station cases"):
        return pd.DataFrame()
    sensors = [s.id for s in default_registry().sensors if s.station == station]
    # filtered and sorted on the light latest rows (case_latest), full rows read by their key
    # (queries.cases._latest): not every version of every case with its state
    latest = _latest(
        "(subject_id = {st:String} OR startsWith(subject_id, concat({st:String}, ':')) "
        "OR subject_id IN {sens:Array(String)}) AND jurisdiction IN {scope_j:Array(String)} "
        "AND (status IN {open:Array(String)} OR ts >= {since:DateTime64(3)})"
    )
    return client.query_df(
        f"SELECT {_CASE_COLS}, status IN {{open:Array(String)}} AS is_open FROM ({latest}) "
        "ORDER BY is_open DESC, opened_at DESC LIMIT {n:UInt32}",
        parameters={
            "st": station,
            "sens": sensors,
            "open": list(OPEN),
            "since": since,
            "n": limit,
            "scope_j": list(scope.all_jurisdictions),
        },
    )


def depot_ids(client: Client, scope: Scope) -> pd.DataFrame:
    """The oil depots the caller may read (id, name, operator, jurisdiction). Depots belong to
    no station: a station operator sees none."""
    from core.registry import default_registry

    ids = set(scoped_stations(scope, what="depots"))
    rows = [
        {"depot_id": d.id, "name": d.name, "operator": d.operator, "jurisdiction": d.jurisdiction}
        for d in default_registry().depots
        if d.id in ids and scope.stations is None
    ]
    return pd.DataFrame(rows, columns=["depot_id", "name", "operator", "jurisdiction"])


def depot_readings(
    client: Client,
    scope: Scope,
    depots: Sequence[str],
    since: datetime,
    until: datetime,
    bucket_s: int = 600,
) -> pd.DataFrame:
    """Depot processing unit per bucket of ``bucket_s`` seconds in [since, until): outlet
    concentration (``outlet_mean`` / ``outlet_max``, g/m³), recovery efficiency
    (``efficiency_mean`` / ``efficiency_min``, %), truck-loading pressure (``truck_pressure_max``,
    kPa) and readings."""
    ids = [
        d for d in scoped_stations(scope, depots, what="depot readings") if scope.stations is None
    ]
    if not ids:
        return pd.DataFrame()
    return client.query_df(
        "SELECT toStartOfInterval(ts, toIntervalSecond({b:UInt32})) AS bucket, depot_id, "
        "avg(outlet_g_m3) AS outlet_mean, max(outlet_g_m3) AS outlet_max, "
        "avg(efficiency_pct) AS efficiency_mean, min(efficiency_pct) AS efficiency_min, "
        "max(truck_pressure_kpa) AS truck_pressure_max, count() AS readings "
        "FROM vapor_depot_reading FINAL WHERE depot_id IN {ids:Array(String)} "
        "AND ts >= {since:DateTime64(3)} AND ts < {until:DateTime64(3)} "
        "GROUP BY bucket, depot_id ORDER BY depot_id, bucket",
        parameters={"ids": ids, "since": since, "until": until, "b": bucket_s},
    )


def sensor_ids(client: Client, scope: Scope) -> pd.DataFrame:
    """The ambient and groundwater sensors the caller may read (id, kind, station, jurisdiction):
    a station operator sees its own stations' sensors."""
    from core.registry import default_registry

    ids = set(scoped_stations(scope, what="sensors"))
    rows = [
        {"sensor_id": s.id, "kind": s.kind, "station_id": s.station, "jurisdiction": s.jurisdiction}
        for s in default_registry().sensors
        if s.id in ids
    ]
    return pd.DataFrame(rows, columns=["sensor_id", "kind", "station_id", "jurisdiction"])


def sensor_readings(
    client: Client,
    scope: Scope,
    sensors: Sequence[str],
    since: datetime,
    until: datetime,
    bucket_s: int = 600,
) -> pd.DataFrame:
    """Sensor readings per bucket of ``bucket_s`` seconds, sensor and quantity in [since, until):
    mean and max value (``value_mean`` / ``value_max``) with its unit, readings, and flagged readings (device data flag not N)."""
    ids = scoped_stations(scope, sensors, what="sensor readings")
    if not ids:
        return pd.DataFrame()
    return client.query_df(
        "SELECT toStartOfInterval(ts, toIntervalSecond({b:UInt32})) AS bucket, sensor_id, "
        "any(sensor_kind) AS sensor_kind, any(station_id) AS station_id, quantity, any(unit) AS unit, "
        "avg(value) AS value_mean, max(value) AS value_max, count() AS readings, "
        "countIf(data_flag IS NOT NULL AND data_flag != 'N') AS flagged "
        "FROM vapor_sensor_reading FINAL WHERE sensor_id IN {ids:Array(String)} "
        "AND ts >= {since:DateTime64(3)} AND ts < {until:DateTime64(3)} "
        "GROUP BY bucket, sensor_id, quantity ORDER BY sensor_id, quantity, bucket",
        parameters={"ids": ids, "since": since, "until": until, "b": bucket_s},
    )

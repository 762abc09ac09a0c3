"""One vehicle across every source and jurisdiction: readings and events on one time line, its
exceedances, smoke captures with evidence. A vehicle is named by its plate and/or VIN (the
registry links the two for OBD vehicles; pages resolve that before asking). Event tables are read
with ``FINAL`` so replays count once, except RSD passes by plate: they come from the table's
plate-ordered projection (``0900_rsd_pass_by_plate.sql``), which FINAL cannot use, and a re-sent
pass is dropped with ``LIMIT 1 BY`` the table's key (the same rows: a re-sent record carries the
same values).
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from clickhouse_connect.driver.client import Client

from core.scope import Scope
from streams.warehouse.scope import scope_where

_TS = "ts >= {since:DateTime64(3)} AND ts < {until:DateTime64(3)}"


def _subjects(plate: str, vin: str) -> list[str]:
    """The bare subject ids a vehicle's exceedances may carry (plate, VIN); ``plate|colour``
    keys (RSD and camera plate reads) are matched by prefix (``_SUBJECT``)."""
    return [s for s in (plate, vin) if s]


# a vehicle's exceedances: its plate, ``plate|colour`` (the RSD vehicle is number + colour) or VIN;
# a prefix condition on the table's key, so it reads the subject's granules only
_SUBJECT = (
    "(subject_id IN {subj:Array(String)} OR ({plate:String} != '' AND "
    "startsWith(subject_id, concat({plate:String}, '|'))))"
)


def timeline(
    client: Client,
    scope: Scope,
    plate: str,
    vin: str,
    since: datetime,
    until: datetime,
    limit: int = 5000,
    bucket_minutes: int = 10,
) -> pd.DataFrame:
    """Every reading and event of the vehicle in [since, until), oldest first: ts, source, what
    (``reading`` | ``exceedance`` | ``capture``), label, value, unit, jurisdiction.

    OBD readings come as ``bucket_minutes`` buckets (mean NOx after SCR) so that months stay
    readable (and a month's chart does not carry thousands of points)."""
    parts: list[str] = []
    if plate:
        parts.append(
            "SELECT ts, 'remote_sensing' AS source, 'reading' AS what, site_id AS label, "
            "toFloat64(ifNull(no_gpkg, nan)) AS value, 'g/kg NO' AS unit, toString(jurisdiction) AS jurisdiction "
            f"FROM rsd_pass WHERE plate = {{plate:String}} AND {_TS} "
            "LIMIT 1 BY rsd_pass.site_id, rsd_pass.ts, rsd_pass.event_id"
        )
        parts.append(
            "SELECT ts, 'smoke_capture' AS source, 'capture' AS what, camera_id AS label, grade AS value, "
            "'Ringelmann' AS unit, toString(jurisdiction) AS jurisdiction "
            f"FROM smoke_capture FINAL WHERE plate = {{plate:String}} AND {_TS}"
        )
    if vin:
        parts.append(
            "SELECT toStartOfInterval(ts, toIntervalMinute({bucket:UInt32})) AS ts, "
            "'obd_gateway' AS source, "
            "'reading' AS what, 'NOx' AS label, avg(nox_down_ppm) AS value, 'ppm' AS unit, "
            "any(toString(jurisdiction)) AS jurisdiction "
            f"FROM obd_sample FINAL WHERE vin = {{vin:String}} AND {_TS} GROUP BY ts"
        )
    parts.append(
        "SELECT ts, toString(source) AS source, 'exceedance' AS what, toString(rule_id) AS label, "
        "toFloat64(ifNull(measured, nan)) AS value, toString(unit) AS unit, toString(jurisdiction) AS jurisdiction "
        f"FROM exceedance FINAL WHERE {_SUBJECT} AND {_TS}"
    )
    sql = " UNION ALL ".join(f"({p})" for p in parts)
    sw, sp = scope_where(scope, domain="enforcement", what="vehicle time line")
    return client.query_df(
        f"SELECT * FROM ({sql}) WHERE {sw} ORDER BY ts LIMIT {{lim:UInt32}}",
        parameters={
            "plate": plate,
            "vin": vin,
            "subj": _subjects(plate, vin),
            "since": since,
            "until": until,
            "lim": limit,
            "bucket": max(1, int(bucket_minutes)),
            **sp,
        },
    )


def exceedances(
    client: Client, scope: Scope, plate: str, vin: str, limit: int = 500
) -> pd.DataFrame:
    """The vehicle's exceedances from every source (its plate, ``plate|colour`` and VIN), newest
    first, the columns the vehicle page shows (evidence and detail are in the case and the API);
    ``total``, ``sources`` and ``jurisdictions`` count all of them in scope (``limit`` cuts the
    rows, not the counts)."""
    sw, sp = scope_where(scope, domain="enforcement", what="vehicle exceedances")
    return client.query_df(
        "SELECT ts, source, rule_id, ruleset_version, severity, subject_id, jurisdiction, device_id, "
        "measured, `limit`, unit, provisional, count() OVER () AS total, "
        "uniqExact(source) OVER () AS sources, uniqExact(jurisdiction) OVER () AS jurisdictions "
        f"FROM exceedance FINAL WHERE {_SUBJECT} AND {sw} ORDER BY ts DESC LIMIT {{lim:UInt32}}",
        parameters={"subj": _subjects(plate, vin), "plate": plate, "lim": limit, **sp},
    )


def smoke_captures(client: Client, scope: Scope, plate: str, limit: int = 50) -> pd.DataFrame:
    """The plate's smoke captures with their evidence folder and latest review, newest first."""
    sw, sp = scope_where(
        scope, domain="smoke", jurisdiction="c.jurisdiction", what="smoke captures"
    )
    return client.query_df(
        "SELECT c.event_id AS capture_id, c.ts AS ts, c.camera_id AS camera_id, "
        "c.jurisdiction AS jurisdiction, c.grade AS grade, c.evidence_uri AS evidence_uri, "
        "c.clip_seconds AS clip_seconds, r.decision AS decision, r.reviewer AS reviewer, "
        "r.confirmed_grade AS confirmed_grade FROM smoke_capture AS c FINAL "
        "LEFT JOIN (SELECT capture_id, argMax(decision, ts) AS decision, argMax(reviewer, ts) AS reviewer, "
        "argMax(confirmed_grade, ts) AS confirmed_grade FROM smoke_review FINAL GROUP BY capture_id) AS r "
        f"ON r.capture_id = c.event_id WHERE c.plate = {{plate:String}} AND {sw} "
        "ORDER BY c.ts DESC LIMIT {lim:UInt32}",
        parameters={"plate": plate, "lim": limit, **sp},
    )

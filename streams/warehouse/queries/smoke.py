"""Black-smoke queries: the review queue, captures with their evidence, reviews, and per-camera
daily counts (captures, queued, confirmed, dismissed by reason). Event tables are read with
``FINAL`` so that replayed events count once; days are Beijing calendar days."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from clickhouse_connect.driver.client import Client

from core.scope import Scope
from streams.warehouse.scope import scope_where

_DAY = "toDate(ts, 'Asia/Shanghai')"


def review_queue(
    client: Client, scope: Scope, jurisdiction: str | None = None, limit: int = 200
) -> pd.DataFrame:
    """Captures waiting for review (BS-SCREEN fired, no decision yet), highest grade first."""
    sw, sp = scope_where(scope, domain="smoke")
    where = f"WHERE {sw}" + (" AND jurisdiction = {j:String}" if jurisdiction else "")
    return client.query_df(
        "SELECT capture_id, ts, camera_id, site_id, jurisdiction, lane, plate, plate_colour, grade, "
        "grade_confidence, quality_flags, calibration_status, nev_suspect, model_version, "
        "evidence_uri, evidence_files, evidence_sha256, clip_seconds "
        f"FROM smoke_review_queue {where} ORDER BY nev_suspect ASC, grade DESC, ts ASC "
        "LIMIT {n:UInt32}",
        parameters={"j": jurisdiction or "", "n": limit, **sp},
    )


def captures(
    client: Client, scope: Scope, since: datetime, until: datetime, camera_id: str | None = None
) -> pd.DataFrame:
    """Captures in [since, until) with grade, plate, evidence files and hashes."""
    sw, sp = scope_where(scope, domain="smoke")
    where_cam = ("AND camera_id = {cam:String} " if camera_id else "") + f"AND {sw}"
    return client.query_df(
        "SELECT event_id, ts, camera_id, site_id, jurisdiction, lane, track_id, plate, plate_colour, "
        "plate_type, grade, grade_confidence, opacity, frames, detector_confidence, quality_flags, "
        "model_version, calibration_status, evidence_uri, evidence_files, evidence_sha256, clip_seconds "
        "FROM smoke_capture FINAL WHERE ts >= {since:DateTime64(3)} AND ts < {until:DateTime64(3)} "
        f"{where_cam} ORDER BY ts",
        parameters={"since": since, "until": until, "cam": camera_id or "", **sp},
    )


def capture(client: Client, scope: Scope, capture_id: str) -> pd.DataFrame:
    """One capture by id (zero or one row), with its latest review if any."""
    sw, sp = scope_where(scope, domain="smoke", jurisdiction="c.jurisdiction")
    return client.query_df(
        "SELECT c.*, r.reviewer AS reviewer, r.decision AS decision, r.reason AS reason, "
        "r.confirmed_grade AS confirmed_grade, r.reviewed_ts AS reviewed_at "
        "FROM smoke_capture AS c FINAL "
        "LEFT JOIN (SELECT capture_id, argMax(reviewer, ts) AS reviewer, argMax(decision, ts) AS decision, "
        "argMax(reason, ts) AS reason, argMax(confirmed_grade, ts) AS confirmed_grade, max(ts) AS reviewed_ts "
        "FROM smoke_review FINAL WHERE capture_id = {id:String} GROUP BY capture_id) AS r "
        f"ON r.capture_id = c.event_id WHERE c.event_id = {{id:String}} AND {sw}",
        parameters={"id": capture_id, **sp},
    )


def camera_daily(client: Client, scope: Scope, since: datetime, until: datetime) -> pd.DataFrame:
    """Per camera and local day: captures, mean grade, share with unknown plate, confirmed and
    dismissed reviews (dismissals by reason in ``dismissed_by_reason``)."""
    sw, sp = scope_where(scope, domain="smoke", detail=False)
    cw, _ = scope_where(
        scope, domain="smoke", detail=False, jurisdiction="smoke_capture.jurisdiction"
    )
    caps = client.query_df(
        f"SELECT camera_id, {_DAY} AS day, any(jurisdiction) AS jurisdiction, count() AS captures, "
        "avg(grade) AS mean_grade, countIf(grade > 1) AS above_limit, "
        "countIf(plate = 'unknown') / count() AS unknown_plate_rate "
        "FROM smoke_capture FINAL WHERE ts >= {since:DateTime64(3)} AND ts < {until:DateTime64(3)} "
        f"AND {cw} GROUP BY camera_id, day ORDER BY camera_id, day",
        parameters={"since": since, "until": until, **sp},
    )
    revs = client.query_df(
        f"SELECT camera_id, {_DAY} AS day, countIf(decision = 'confirmed') AS confirmed, "
        "countIf(decision = 'dismissed') AS dismissed, "
        "toJSONString(CAST(sumMap([reason], [toUInt64(decision = 'dismissed')]), 'Map(String, UInt64)')) AS dismissed_by_reason "
        "FROM smoke_review FINAL WHERE ts >= {since:DateTime64(3)} AND ts < {until:DateTime64(3)} "
        f"AND {sw} GROUP BY camera_id, day",
        parameters={"since": since, "until": until, **sp},
    )
    if caps.empty:
        return caps
    if revs.empty:
        caps["confirmed"] = 0
        caps["dismissed"] = 0
        caps["dismissed_by_reason"] = "{}"
        return caps
    out = caps.merge(revs, on=["camera_id", "day"], how="left")
    out[["confirmed", "dismissed"]] = out[["confirmed", "dismissed"]].fillna(0).astype(int)
    out["dismissed_by_reason"] = out["dismissed_by_reason"].fillna("{}")
    return out


def vehicle_smoke_history(client: Client, scope: Scope, plate: str) -> pd.DataFrame:
    """A plate's captures across the zone's cameras in the caller's scope with the review outcome
    ("" when not reviewed)."""
    sw, sp = scope_where(scope, domain="smoke", jurisdiction="c.jurisdiction")
    return client.query_df(
        "SELECT c.event_id AS capture_id, c.ts AS ts, c.camera_id AS camera_id, c.jurisdiction AS jurisdiction, "
        "c.grade AS grade, r.decision AS decision, r.confirmed_grade AS confirmed_grade "
        "FROM smoke_capture AS c FINAL LEFT JOIN (SELECT capture_id, argMax(decision, ts) AS decision, "
        "argMax(confirmed_grade, ts) AS confirmed_grade FROM smoke_review FINAL GROUP BY capture_id) AS r "
        f"ON r.capture_id = c.event_id WHERE c.plate = {{plate:String}} AND {sw} ORDER BY c.ts",
        parameters={"plate": plate, **sp},
    )

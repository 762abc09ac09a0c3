"""Case queries for the officer's desk: the triage queue (latest state of each case), one case,
a subject's cases, the action log, and the outcome of a command by its request id.

``case_state`` holds one row per case version; the case is its highest version. Lists filter and
sort on ``case_latest`` (the highest version of each case, one light row per case, kept by a
materialized view: ``0901_case_latest.sql``) and then read only the chosen versions' full rows
(``state_json`` included, a few kB each) from ``case_state`` by its key, instead of sorting every
version of every case with its state (``_latest``; the result is the same rows). ``case_entry`` is
the hash-chained log (``entry = 'rejected'`` rows answer commands that were not applied: stale
version, action not allowed, bad input). Tables are read with ``FINAL``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from clickhouse_connect.driver.client import Client

from core.scope import Scope
from streams.warehouse.scope import scope_where

# a case is visible when its own jurisdiction or one of its findings' is in the caller's scope
_VISIBLE = (
    "(jurisdiction IN {scope_j:Array(String)} OR hasAny(jurisdictions, {scope_j:Array(String)}))"
)


def _sc(scope: Scope, what: str) -> dict[str, object]:
    scope_where(
        scope, domain="enforcement", jurisdiction=None, what=what
    )  # domain and detail checks
    return {"scope_j": list(scope.all_jurisdictions)}


_STATE_COLS = (
    "case_id, version, ts, subject_kind, subject_id, plate, vin, vehicle_class, jurisdiction, "
    "issue, status, opened_at, severity, rules, sources, jurisdictions, findings, score, "
    "score_terms_json, suggested_measure, measure, state_json"
)


def _latest(conds: str, order: str = "", limit: str = "", state_cond: str = "") -> str:
    """The latest version of each case whose latest version matches ``conds`` (columns of
    ``case_latest``) and ``state_cond`` (any column, e.g. ``state_json``), full rows, ordered by
    ``order`` and cut at ``limit`` (SQL fragments).

    Equal to ``SELECT * FROM (<highest version of each case in case_state>) WHERE conds ORDER BY
    order LIMIT limit``: conditions, order and limit apply to the light rows of ``case_latest``
    (FINAL: the highest version of each case), then ``(case_id, version)`` picks those rows in ``case_state`` (its
    primary key); ``LIMIT 1 BY case_id`` drops a replayed duplicate of a version."""
    head = f"ORDER BY {order} " if order else ""
    cut = f"LIMIT {limit}" if limit else ""
    inner_cut = "" if state_cond else cut  # a condition on the full row comes before the limit
    return (
        f"SELECT {_STATE_COLS} FROM case_state WHERE (case_id, version) IN ("
        f"SELECT case_id, version FROM case_latest FINAL WHERE {conds} {head}{inner_cut}) "
        f"{'AND ' + state_cond + ' ' if state_cond else ''}{head}LIMIT 1 BY case_id {cut}"
    )


def queue(
    client: Client,
    scope: Scope,
    statuses: Sequence[str],
    since: datetime,
    until: datetime,
    jurisdictions: Sequence[str] = (),
    sources: Sequence[str] = (),
    vehicle_classes: Sequence[str] = (),
    limit: int = 500,
) -> pd.DataFrame:
    """Cases in ``statuses`` opened in [since, until), highest triage score first; optional
    filters on jurisdiction (the case's or any finding's), source and vehicle class."""
    sc = _sc(scope, "case queue")
    where, params = _queue_filter(statuses, since, until, jurisdictions, sources, vehicle_classes)
    return client.query_df(
        _latest(where, "score DESC, ts DESC, case_id", "{lim:UInt32}"),
        parameters={**params, "lim": limit, **sc},
    )


def _queue_filter(  # the filter of :func:`queue` and :func:`queue_counts`, and its parameters
    statuses: Sequence[str],
    since: datetime,
    until: datetime,
    jurisdictions: Sequence[str],
    sources: Sequence[str],
    vehicle_classes: Sequence[str],
) -> tuple[str, dict[str, Any]]:
    conds = [
        _VISIBLE,
        "status IN {st:Array(String)}",
        "opened_at >= {since:DateTime64(3)}",
        "opened_at < {until:DateTime64(3)}",
    ]
    if jurisdictions:
        conds.append(
            "(jurisdiction IN {jur:Array(String)} OR hasAny(jurisdictions, {jur:Array(String)}))"
        )
    if sources:
        conds.append("hasAny(sources, {src:Array(String)})")
    if vehicle_classes:
        conds.append("vehicle_class IN {vc:Array(String)}")
    params = {
        "st": list(statuses),
        "since": since,
        "until": until,
        "jur": list(jurisdictions),
        "src": list(sources),
        "vc": list(vehicle_classes),
    }
    return " AND ".join(conds), params


def queue_counts(
    client: Client,
    scope: Scope,
    statuses: Sequence[str],
    since: datetime,
    until: datetime,
    jurisdictions: Sequence[str] = (),
    sources: Sequence[str] = (),
    vehicle_classes: Sequence[str] = (),
) -> pd.DataFrame:
    """How many cases :func:`queue` would list without its row limit, with the same filters: one
    row of ``total``, ``new`` (status new), ``cross_source`` (more than one source) and
    ``heavy_diesel`` (vehicle class), counted on the latest version of each case (``case_latest``
    FINAL, light columns only)."""
    sc = _sc(scope, "case queue counts")
    where, params = _queue_filter(statuses, since, until, jurisdictions, sources, vehicle_classes)
    return client.query_df(
        "SELECT count() AS total, countIf(status = 'new') AS new, "
        "countIf(length(sources) > 1) AS cross_source, "
        "countIf(vehicle_class = 'heavy_diesel') AS heavy_diesel "
        f"FROM case_latest FINAL WHERE {where}",
        parameters={**params, **sc},
    )


def case(client: Client, scope: Scope, case_id: str) -> pd.DataFrame:
    """The current state of one case (zero or one row)."""
    sc = _sc(scope, "case")
    return client.query_df(
        f"SELECT * FROM (SELECT {_STATE_COLS} FROM case_state FINAL WHERE case_id = {{id:String}} "
        f"ORDER BY version DESC LIMIT 1) WHERE {_VISIBLE}",
        parameters={"id": case_id, **sc},
    )


def for_subject(
    client: Client, scope: Scope, plate: str, vin: str, station: str = ""
) -> pd.DataFrame:
    """Every case of a vehicle (by plate or VIN) or a station (its nozzles too), newest first."""
    sc = _sc(scope, "cases of a subject")
    return client.query_df(
        _latest(
            f"{_VISIBLE} AND ((plate != '' AND plate = {{plate:String}}) "
            "OR (vin != '' AND vin = {vin:String}) OR subject_id IN {subj:Array(String)} "
            "OR ({station:String} != '' AND startsWith(subject_id, concat({station:String}, ':'))))",
            "ts DESC, case_id",
        ),
        parameters={
            "plate": plate,
            "vin": vin,
            "station": station,
            "subj": [s for s in (plate, vin, station) if s],
            **sc,
        },
    )


def for_capture(client: Client, scope: Scope, capture_id: str) -> pd.DataFrame:
    """The open case holding a smoke capture (its findings name the capture id)."""
    sc = _sc(scope, "case of a capture")
    return client.query_df(
        _latest(
            f"{_VISIBLE} AND issue = 'smoke'",
            "ts DESC, case_id",
            "1",
            state_cond="position(state_json, {cap:String}) > 0",
        ),
        parameters={"cap": capture_id, **sc},
    )


def log(client: Client, scope: Scope, case_id: str) -> pd.DataFrame:
    """The case's action log, oldest first (rejected commands included, marked ``rejected``).
    Visible when the log's jurisdiction or any version's findings' jurisdictions are in scope
    (the versions of this case only, read by key)."""
    sc = _sc(scope, "case log")
    return client.query_df(
        "SELECT ts, seq, entry, action, actor, actor_jurisdiction, status_before, status_after, "
        "reason, payload_json, request_id, hash FROM case_entry FINAL WHERE case_id = {id:String} "
        "AND (jurisdiction IN {scope_j:Array(String)} OR case_id IN (SELECT case_id FROM case_state "
        "WHERE case_id = {id:String} AND hasAny(jurisdictions, {scope_j:Array(String)}))) "
        "ORDER BY ts, seq",
        parameters={"id": case_id, **sc},
    )


def outcome(client: Client, scope: Scope, request_ids: Sequence[str]) -> pd.DataFrame:
    """What became of commands: one log row per request id that has been handled."""
    sc = _sc(scope, "command outcome")
    return client.query_df(
        "SELECT request_id, entry, status_after, reason FROM case_entry FINAL "
        "WHERE request_id IN {ids:Array(String)}",  # request ids are unguessable hashes
        parameters={"ids": list(request_ids), **sc},
    )

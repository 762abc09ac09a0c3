"""Enforcement queries: the case list with filters, one case with its log, one vehicle's full history
across every source table, and what the API and the case processor need (a command's reply, the
states to restore at start).

Every query visible to a person takes a ``core.scope.Scope`` and applies it in SQL: a case is visible
when its own jurisdiction or one of its findings' jurisdictions is in scope (shared enforcement
information); a reading when its jurisdiction is. Case states are one row per version
(``case_state``); ``case_latest`` holds the highest version of each (materialized view, read with
FINAL; ``0901_case_latest.sql``), the same table the triage queue reads (``queries.cases``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pandas as pd
from clickhouse_connect.driver.client import Client

from core.scope import Scope
from core.timeutil import BEIJING
from streams.warehouse.scope import require_zone, scope_where

STATE_COLS = (
    "case_id, version, ts, subject_kind, subject_id, plate, vin, vehicle_class, jurisdiction, "
    "issue, status, opened_at, severity, rules, sources, jurisdictions, findings, score, "
    "score_terms_json, suggested_measure, measure, head_hash"
)
ENTRY_COLS = (
    "case_id, seq, ts, entry, action, actor, actor_jurisdiction, status_before, status_after, "
    "reason, payload_json, request_id, prev_hash, hash, subject_kind, subject_id, jurisdiction, "
    "event_id"
)
HISTORY_LIMIT = 500


def _scope(scope: Scope, detail: bool = True, what: str = "enforcement") -> dict[str, Any]:
    """The scope's parameters; refuses a missing scope, a role without enforcement data, and
    single records for an aggregates-only scope (``streams.warehouse.scope``)."""
    _, params = scope_where(scope, domain="enforcement", detail=detail, what=what)
    return params


_CASE_SCOPE = (
    "(jurisdiction IN {scope_j:Array(String)} OR hasAny(jurisdictions, {scope_j:Array(String)}))"
)


def _latest(where: str = "") -> str:
    """The current version of each case: its highest version, whatever order versions were stored
    in (``case_latest``; ``case_current`` kept the last one inserted)."""
    return f"SELECT {STATE_COLS} FROM case_latest FINAL {where}"


def case_list(
    client: Client,
    scope: Scope,
    status: str | None = None,
    jurisdiction: str | None = None,
    issue: str | None = None,
    subject: str | None = None,
    limit: int = 200,
) -> pd.DataFrame:
    """Cases in scope, latest version each, highest triage score first."""
    sp = _scope(scope, what="enforcement.case_list")
    inner = [_CASE_SCOPE]
    if jurisdiction:
        inner.append("jurisdiction = {j:String}")
    if issue:
        inner.append("issue = {issue:String}")
    if subject:
        inner.append("subject_id = {subject:String}")
    outer = "WHERE status = {status:String}" if status else ""
    return client.query_df(
        f"SELECT * FROM ({_latest('WHERE ' + ' AND '.join(inner))}) {outer} "
        "ORDER BY score DESC, opened_at ASC LIMIT {n:UInt32}",
        parameters={
            **sp,
            "j": jurisdiction or "",
            "issue": issue or "",
            "subject": subject or "",
            "status": status or "",
            "n": limit,
        },
    )


def case_state(client: Client, scope: Scope, case_id: str) -> pd.DataFrame:
    """The latest state of one case (zero or one row; zero also when out of scope)."""
    sp = _scope(scope, what="enforcement.case_state")
    return client.query_df(
        _latest(f"WHERE case_id = {{id:String}} AND {_CASE_SCOPE}"),
        parameters={**sp, "id": case_id},
    )


def case_full_state(client: Client, scope: Scope, case_id: str) -> pd.DataFrame:
    """The latest ``state_json`` of one case (recovery of the processor state: zone-wide scopes)."""
    require_zone(scope, "enforcement.case_full_state")
    return client.query_df(
        "SELECT case_id, version, subject_kind, subject_id, state_json FROM case_state FINAL "
        "WHERE case_id = {id:String} ORDER BY version DESC LIMIT 1",
        parameters={"id": case_id},
    )


def case_entries(
    client: Client,
    scope: Scope,
    case_id: str,
    include_rejected: bool = True,
    last: int | None = None,
) -> pd.DataFrame:
    """A case's action log in order (accepted entries by ``seq``; rejections where they fell);
    ``last``: only the newest entries (a case that gathered thousands of findings). Empty for a
    case outside the scope."""
    sp = _scope(scope, what="enforcement.case_entries")
    where = "" if include_rejected else "AND entry != 'rejected'"
    where += f" AND case_id IN (SELECT case_id FROM case_latest FINAL WHERE {_CASE_SCOPE})"
    sql = f"SELECT {ENTRY_COLS} FROM case_entry FINAL WHERE case_id = {{id:String}} {where} "
    if last is not None:
        sql = f"SELECT * FROM ({sql} ORDER BY seq DESC, ts DESC LIMIT {{last:UInt32}}) "
    return client.query_df(
        sql + "ORDER BY seq, entry = 'rejected', ts",
        parameters={"id": case_id, "last": last or 0, **sp},
    )


CASE_FINDING_COLS = (
    "event_id, ts, source, source_event_id, rule_id, ruleset_version, severity, jurisdiction, "
    "device_id, measured, `limit`, unit, pollutant, evidence, quality_flags, detail_json"
)


def case_findings(
    client: Client,
    scope: Scope,
    case_id: str,
    finding_ids: Iterable[str],
    subject: tuple[str, str],
) -> pd.DataFrame:
    """The findings (exceedances) attached to a case in scope, with evidence references.
    ``subject``: the case's (subject_kind, subject_id), which every finding of the case shares (the
    cases processor is keyed by it): the read stays in that subject's granules of
    ``case_finding``'s key, and replayed copies (identical rows of one ``event_id``) are dropped
    by ``LIMIT 1 BY`` instead of ``FINAL``, which merges the whole subject's range (a busy vehicle
    holds tens of thousands of findings)."""
    _scope(scope, what="enforcement.case_findings")
    ids = list(finding_ids)
    if not ids:
        return pd.DataFrame()
    return client.query_df(
        f"SELECT {CASE_FINDING_COLS} FROM case_finding WHERE subject_kind = {{sk:String}} AND "
        "subject_id = {sid:String} AND event_id IN {ids:Array(String)} "
        "ORDER BY ts, event_id LIMIT 1 BY event_id",
        parameters={"ids": ids, "sk": subject[0], "sid": subject[1]},
    )


def command_reply(client: Client, scope: Scope, request_id: str) -> pd.DataFrame:
    """The log entry a command produced (accepted or rejected), when the processor has judged it."""
    _scope(scope, what="enforcement.command_reply")
    return client.query_df(
        f"SELECT {ENTRY_COLS} FROM case_entry FINAL WHERE request_id = {{r:String}} "
        "ORDER BY seq DESC LIMIT 1",
        parameters={"r": request_id},
    )


def vehicle_ids(
    client: Client, scope: Scope, plate: str, vins: Iterable[str]
) -> tuple[str, list[str]]:
    """(plate, VINs) of a vehicle after adding the links sources supplied (``vehicle_link``):
    found by a VIN, the vehicle's plate and that plate's other VINs too (a replaced terminal)."""
    _scope(scope, what="enforcement.vehicle_ids")
    vs = sorted(set(vins))
    rows = client.query(  # rows, not a DataFrame: a few pairs at most
        "SELECT DISTINCT plate, vin FROM vehicle_link FINAL "
        "WHERE plate = {p:String} OR vin IN {v:Array(String)} OR plate IN (SELECT plate "
        "FROM vehicle_link WHERE vin IN {v:Array(String)}) ORDER BY plate, vin",
        parameters={"p": plate, "v": vs},
    ).result_rows
    if rows:
        if not plate:
            plate = str(rows[0][0])
        vs = sorted(set(vs) | {str(v) for p, v in rows if p == plate})
    return plate, vs


# One vehicle's history: one branch per part, each read by its table's key (or the plate
# projection of rsd_pass), newest first, at most {n} rows. `s` is the part's order (newest first).
_SUBJECT = (
    "(subject_id = {plate:String} OR startsWith(subject_id, concat({plate:String}, '|')) "
    "OR subject_id IN {vins:Array(String)})"
)
_J = "jurisdiction IN {scope_j:Array(String)}"
HISTORY_PARTS: dict[str, str] = {
    "rsd_pass": (
        "SELECT event_id, ts, site_id, jurisdiction, plate, plate_colour, fuel, valid, co_pct, "
        "hc_ppm, no_ppm, opacity_pct, ringelmann, vsp_kw_t, speed_kmh, raw_ref FROM rsd_pass "
        f"WHERE plate = {{plate:String}} AND {_J} ORDER BY ts DESC LIMIT 1 BY event_id LIMIT {{n:UInt32}}"
    ),
    "smoke_capture": (
        "SELECT event_id, ts, camera_id, site_id, jurisdiction, plate, plate_colour, grade, "
        "calibration_status, evidence_uri, evidence_files, evidence_sha256 FROM smoke_capture "
        f"WHERE plate = {{plate:String}} AND {_J} ORDER BY ts DESC LIMIT 1 BY event_id LIMIT {{n:UInt32}}"
    ),
    "smoke_review": (
        "SELECT event_id, ts, capture_id, camera_id, jurisdiction, reviewer, decision, reason, "
        f"confirmed_grade FROM smoke_review WHERE plate = {{plate:String}} AND {_J} "
        "ORDER BY ts DESC LIMIT 1 BY event_id LIMIT {n:UInt32}"
    ),
    "obd_info": (
        f"SELECT * EXCEPT ingested_at FROM obd_info WHERE vin IN {{vins:Array(String)}} AND {_J} "
        "ORDER BY ts DESC LIMIT 1 BY event_id LIMIT {n:UInt32}"
    ),
    "obd_status": (
        f"SELECT * EXCEPT ingested_at FROM obd_status WHERE vin IN {{vins:Array(String)}} AND {_J} "
        "ORDER BY ts DESC LIMIT 1 BY event_id LIMIT {n:UInt32}"
    ),
    "obd_days": (
        "SELECT vin, toDate(ts, 'Asia/Shanghai') AS day, any(jurisdiction) AS jur, "
        "count() AS samples, min(ts) AS first_ts, max(ts) AS last_ts FROM obd_sample "
        f"WHERE vin IN {{vins:Array(String)}} AND {_J} GROUP BY vin, day "
        "ORDER BY day DESC, vin LIMIT {n:UInt32}"
    ),
    # in two steps: the newest {n} (event_id, ts) from the light columns, then the heavy columns
    # (detail, evidence) of those rows only: a busy vehicle holds tens of thousands of exceedances
    "exceedance": (
        "SELECT event_id, ts, source, rule_id, ruleset_version, severity, jurisdiction, "
        "device_id, measured, `limit`, unit, evidence, quality_flags, provisional, detail_json "
        f"FROM exceedance WHERE subject_kind = 'vehicle' AND {_SUBJECT} AND {_J} "
        "AND (event_id, ts) IN (SELECT event_id, ts FROM exceedance WHERE subject_kind = "
        f"'vehicle' AND {_SUBJECT} AND {_J} ORDER BY ts DESC LIMIT 1 BY event_id "
        "LIMIT {n:UInt32}) ORDER BY ts DESC LIMIT 1 BY event_id LIMIT {n:UInt32}"
    ),
    "cases": (
        f"SELECT * FROM ({_latest('WHERE subject_kind = ' + chr(39) + 'vehicle' + chr(39))} "
        f"AND {_SUBJECT} AND {_CASE_SCOPE}) ORDER BY opened_at DESC, case_id LIMIT {{n:UInt32}}"
    ),
}
# the order of each part (newest first) and its times (sent as Beijing time, like ``api.records``)
_PART_ORDER = {"obd_days": "toDateTime(day)", "cases": "opened_at"}
HISTORY_TIMES: dict[str, tuple[str, ...]] = {
    "obd_info": ("ts", "received_at"),
    "obd_status": ("ts", "received_at"),
    "obd_days": ("first_ts", "last_ts"),
    "cases": ("ts", "opened_at"),
}
# in the statement (a settings argument would cost chDB a SET and a restore per setting)
_JSON_SETTINGS = (
    "SETTINGS date_time_output_format = 'iso', output_format_json_quote_64bit_integers = 0, "
    "output_format_json_quote_denormals = 0 FORMAT TabSeparatedRaw"
)


def _beijing(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(BEIJING).isoformat(timespec="milliseconds")


def vehicle_history(
    client: Client, scope: Scope, plate: str, vins: Iterable[str], limit: int = HISTORY_LIMIT
) -> dict[str, list[dict[str, Any]]]:
    """Everything the platform holds on one vehicle, per source table (newest first, ``limit``
    rows each), scoped by jurisdiction: RSD passes, smoke captures and reviews, OBD information and
    status packets, OBD samples per Beijing day (``day`` a date), exceedances (every source, its
    subject the plate, ``plate|colour`` or a VIN) and cases; rows as JSON-able dicts, times in
    Beijing time with their offset.

    One query (a UNION ALL of one branch per part, each row its part's name and its columns as one
    JSON text): a chDB query has a fixed cost of its own (~15–25 ms CPU), and building a DataFrame
    per part cost as much again. Each branch reads by its table's key (OBD tables by VIN,
    exceedances by subject), RSD passes from the plate projection (``0900``); event tables drop
    replays with ``LIMIT 1 BY event_id`` instead of FINAL (which cannot use the projection)."""
    vs = sorted(set(vins))
    p = {**_scope(scope), "plate": plate, "vins": vs, "n": limit}
    branches = []
    for name, sql in HISTORY_PARTS.items():
        if (name.startswith("obd") and not vs) or (
            name in ("rsd_pass", "smoke_capture", "smoke_review") and not plate
        ):
            continue
        order = _PART_ORDER.get(name, "ts")
        branches.append(
            f"SELECT '{name}' AS part, s, formatRowNoNewline('JSONEachRow', * EXCEPT s) AS j "
            f"FROM (SELECT *, toDateTime64({order}, 3, 'UTC') AS s FROM ({sql}))"
        )
    # each part is put in order here (a stable sort of a few hundred rows by their ISO time text):
    # an outer ORDER BY over the union cost chDB ~15 % of the query on a busy vehicle
    parts: dict[str, list[tuple[str, str]]] = {name: [] for name in HISTORY_PARTS}
    raw = client.raw_query(
        f"SELECT part, s, j FROM ({' UNION ALL '.join(branches)}) " + _JSON_SETTINGS,
        parameters=p,
    )
    for line in raw.decode("utf-8").splitlines():
        name, s, j = line.split("\t", 2)
        parts[name].append((s, j))
    out: dict[str, list[dict[str, Any]]] = {}
    for name, pairs in parts.items():
        pairs.sort(key=lambda x: x[0], reverse=True)
        out[name] = [json.loads(j) for _, j in pairs]
    for name, rows in out.items():
        for col in HISTORY_TIMES.get(name, ("ts",)):
            for r in rows:
                r[col] = _beijing(r[col])
    return out


def restore_rows(client: Client, scope: Scope) -> tuple[list[str], dict[str, int]]:
    """For the case processor at start: the latest ``state_json`` of every open case, and the number
    of cases per subject key (new case ids continue from there). Zone-wide scopes (the system).

    The highest version of each case is found from the light columns first, and only those rows'
    ``state_json`` is read (by the table's key, ``(case_id, version)``); replayed copies of a row
    are dropped by ``LIMIT 1 BY``. ``FINAL`` over the whole table read every version's
    ``state_json`` (233,015 versions for 3,263 cases in a seeded month: 9 s instead of 0.3 s)."""
    require_zone(scope, "enforcement.restore_rows")
    open_ = client.query_df(
        "SELECT state_json FROM case_state WHERE (case_id, version) IN ("
        "SELECT case_id, max(version) FROM case_state GROUP BY case_id) "
        "AND status NOT IN ('closed', 'dismissed') ORDER BY case_id LIMIT 1 BY case_id"
    )
    counts = client.query_df(
        "SELECT concat(subject_kind, ':', subject_id) AS k, uniqExact(case_id) AS n "
        "FROM case_state GROUP BY k"
    )
    states = [] if open_.empty else list(open_["state_json"])
    n = (
        {}
        if counts.empty
        else {str(k): int(v) for k, v in zip(counts["k"], counts["n"], strict=True)}
    )
    return states, n


def subject_cases(client: Client, scope: Scope, subject_kind: str, subject_id: str) -> pd.DataFrame:
    """Latest state_json of every case of one subject (offline CLI: the processor state of a key)."""
    require_zone(scope, "enforcement.subject_cases")
    return client.query_df(
        "SELECT case_id, status, state_json FROM case_state FINAL "
        "WHERE subject_kind = {k:String} AND subject_id = {s:String} "
        "ORDER BY case_id, version DESC LIMIT 1 BY case_id",
        parameters={"k": subject_kind, "s": subject_id},
    )


def case_counts(client: Client, scope: Scope) -> pd.DataFrame:
    """Open and total cases per jurisdiction and status (desk header, weekly report)."""
    sp = _scope(scope, detail=False, what="enforcement.case_counts")
    return client.query_df(
        f"SELECT jurisdiction, status, count() AS cases FROM ({_latest('WHERE ' + _CASE_SCOPE)}) "
        "GROUP BY jurisdiction, status ORDER BY jurisdiction, status",
        parameters=sp,
    )


def captures_awaiting_review(client: Client, scope: Scope, limit: int = 20000) -> pd.DataFrame:
    """Smoke captures in the review queue (full rows): restored into the smoke processor's state at
    start so a confirmation finds its evidence. Zone-wide scopes (the system)."""
    require_zone(scope, "enforcement.captures_awaiting_review")
    return client.query_df(
        "SELECT * EXCEPT ingested_at FROM smoke_capture FINAL WHERE event_id IN "
        "(SELECT capture_id FROM smoke_review_queue) ORDER BY ts DESC LIMIT {n:UInt32}",
        parameters={"n": limit},
    )


# Findings the cross-source rules remember (enforcement.rules): proofs and pairs, sightings, fleet
# marks. ENF-* findings are the rules' own output and feed nothing.
_MEMORY_RULES = (
    "(startsWith(rule_id, 'RS-G-') OR startsWith(rule_id, 'RS-D-') "
    "OR rule_id IN ('BS-CONFIRM', 'OBD-SCR', 'OBD-NOX-WIN'))"
)


# The columns of an RSD pass the memory replay reads (``remote_sensing.processors.clean_pollutants``:
# is the pass judgeable, which measures are within their limit; its key, time and plate colour;
# ``enforcement.processors.PassSeen``). Reading every column of 171,514 passes and making each an
# ``RsdPass`` took seconds of the start-up in a seeded month.
REPLAY_PASS_COLS = (
    "event_id, ts, site_id, plate, plate_colour, plate_type, fuel, valid, "
    "co_pct, hc_ppm, no_ppm, opacity_pct, ringelmann"
)


def _arrow_df(client: Client, sql: str, parameters: dict[str, Any]) -> pd.DataFrame:
    """A large result as a DataFrame through Arrow: for the tens of thousands of rows of the
    start-up replay, about half the CPU of ``query_df`` (which makes every value in Python)."""
    return client.query_arrow(sql, parameters=parameters).to_pandas()


def memory_replay(
    client: Client,
    scope: Scope,
    months: int = 13,
    per_subject: int = 200,
    sightings: int = 50,
    passes: int = 100,
) -> dict[str, pd.DataFrame]:
    """What the case processor's cross-source memory is rebuilt from at start (embedded): the
    last ``months`` before the newest finding (no clock), newest rows per subject only.

    * ``findings``: ``case_finding`` rows (full) of the rules' inputs, ``per_subject`` per subject,
      the last ``sightings`` sightings per subject and every fleet mark;
    * ``passes``: valid RSD passes (``REPLAY_PASS_COLS``) of the plates among those findings
      since their first, ``passes`` per plate (a judged clean pass breaks "consecutive");
    * ``checks``: field-check log entries (``case_entry``) of vehicle cases in the same period.

    Zone-wide scopes (the system)."""
    require_zone(scope, "enforcement.memory_replay")
    since = f"(SELECT max(ts) FROM case_finding) - INTERVAL {int(months)} MONTH"  # literal: a bound
    p = {"n": per_subject, "s": sightings, "np": passes}
    findings = _arrow_df(
        client,
        "SELECT * EXCEPT ingested_at FROM ("
        "SELECT * FROM case_finding FINAL WHERE finding = 'exceedance' AND source != 'enforcement' "
        f"AND {_MEMORY_RULES} AND ts >= {since} ORDER BY ts DESC LIMIT {{n:UInt32}} BY subject_id "
        "UNION ALL SELECT * FROM case_finding FINAL WHERE finding = 'sighting' "
        f"AND ts >= {since} ORDER BY ts DESC LIMIT {{s:UInt32}} BY subject_id "
        "UNION ALL SELECT * FROM case_finding FINAL WHERE finding = 'fleet_mark' "
        f"AND ts >= {since}) ORDER BY ts, event_id",
        parameters=p,
    )
    passes_df = _arrow_df(
        client,
        f"SELECT {REPLAY_PASS_COLS} FROM rsd_pass WHERE valid AND (plate, ts) IN ("
        "SELECT r.plate, r.ts FROM rsd_pass AS r INNER JOIN ("
        "SELECT plate, min(ts) AS first FROM case_finding FINAL WHERE finding = 'exceedance' "
        f"AND source != 'enforcement' AND {_MEMORY_RULES} AND plate != '' AND ts >= {since} "
        "GROUP BY plate) AS f ON r.plate = f.plate WHERE r.valid AND r.ts >= f.first "
        "ORDER BY r.ts DESC LIMIT {np:UInt32} BY r.plate) "
        "ORDER BY ts LIMIT 1 BY event_id",
        parameters=p,
    )
    checks = client.query_df(
        "SELECT ts, case_id, seq, subject_kind, subject_id, jurisdiction, actor_jurisdiction, "
        "request_id, payload_json FROM case_entry FINAL WHERE entry = 'action' AND action = 'check' "
        f"AND subject_kind = 'vehicle' AND ts >= {since} ORDER BY ts",
    )
    return {"findings": findings, "passes": passes_df, "checks": checks}

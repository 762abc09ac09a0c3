"""The embedded restore of the case processor's memory as it was before the per-subject replay
(frozen copy, for the equivalence test and as the anchor of ``bench/bench_restore.py``): every
stored row through a records dict, ``_plain`` and ``serde.from_dict``, and one JSON round trip of
the subject's state per replayed item. Do not edit: it is the reference the new path is held to."""

from __future__ import annotations

import json
from collections.abc import Iterable, MutableMapping
from datetime import datetime
from typing import Any

from core.processing import Context
from enforcement import rules
from enforcement.events import CaseFinding
from enforcement.processors import (
    CHECK_POLLUTANT,
    CheckResult,
    SubjectState,
    _check_proof,
    on_pass,
)
from remote_sensing.events import RsdPass
from streams.pipeline import _plain, _records
from streams.serde import from_dict


def restore_rows(client: Any) -> tuple[list[str], dict[str, int]]:
    """``queries.enforcement.restore_rows`` as it was (open cases read through ``FINAL``)."""
    open_ = client.query_df(
        "SELECT state_json FROM (SELECT case_id, status, state_json FROM case_state FINAL "
        "ORDER BY case_id, version DESC LIMIT 1 BY case_id) WHERE status NOT IN ('closed', 'dismissed')"
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


def memory_replay(client: Any) -> dict[str, Any]:
    """``queries.enforcement.memory_replay`` as it was (every column of the passes)."""
    from streams.warehouse.queries.enforcement import _MEMORY_RULES

    since = "(SELECT max(ts) FROM case_finding) - INTERVAL 13 MONTH"
    p = {"n": 200, "s": 50, "np": 100}
    findings = client.query_df(
        "SELECT * EXCEPT ingested_at FROM ("
        "SELECT * FROM case_finding FINAL WHERE finding = 'exceedance' AND source != 'enforcement' "
        f"AND {_MEMORY_RULES} AND ts >= {since} ORDER BY ts DESC LIMIT {{n:UInt32}} BY subject_id "
        "UNION ALL SELECT * FROM case_finding FINAL WHERE finding = 'sighting' "
        f"AND ts >= {since} ORDER BY ts DESC LIMIT {{s:UInt32}} BY subject_id "
        "UNION ALL SELECT * FROM case_finding FINAL WHERE finding = 'fleet_mark' "
        f"AND ts >= {since}) ORDER BY ts, event_id",
        parameters=p,
    )
    passes_df = client.query_df(
        "SELECT * EXCEPT ingested_at FROM rsd_pass WHERE valid AND (plate, ts) IN ("
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


def items_of(got: dict[str, Any]) -> list[Any]:
    """``Pipeline.restore_memory``'s items from ``memory_replay``'s frames, as it built them."""
    items: list[Any] = []
    for cls, name in ((CaseFinding, "findings"), (RsdPass, "passes")):
        df = got[name]
        if not df.empty:
            items += [from_dict(cls, _plain(r)) for r in _records(df)]
    df = got["checks"]
    for r in [] if df.empty else _records(df):
        row = _plain(r)
        items.append(
            CheckResult(
                ts=datetime.fromisoformat(row["ts"]),
                subject_key=f"{row['subject_kind']}:{row['subject_id']}",
                case_id=row["case_id"],
                seq=int(row["seq"]),
                request_id=row["request_id"],
                jurisdiction=row["actor_jurisdiction"] or row["jurisdiction"],
                payload=json.loads(row["payload_json"] or "{}"),
            )
        )
    return items


def restore_memory(
    states: MutableMapping[str, Any],
    items: Iterable[CaseFinding | RsdPass | CheckResult],
    ctx: Context,
) -> int:
    """Rebuild the cross-source memory (repeat windows, recent proofs, clean observations,
    sightings, fleet marks) by replaying stored inputs, in time order, through the same rule
    functions the processor runs; what they fire now is dropped (it was fired and stored the first
    time). ``states``: the processor's state per subject key, open cases already restored
    (:func:`restore`); updated in place. Returns the number of items replayed."""
    n = 0
    for it in sorted(items, key=lambda x: x.ts):
        n += 1
        if isinstance(it, RsdPass):
            new = on_pass(states.get(it.key), it, ctx)
            if new is not None:
                states[it.key] = new
            continue
        key = it.subject_key if isinstance(it, CheckResult) else it.key
        st = SubjectState.from_dict(states.get(key))
        mem = rules.Memory.from_dict(st.memory)
        if isinstance(it, CheckResult):
            pol = CHECK_POLLUTANT.get(str(it.payload.get("method", "")), "")
            result = it.payload.get("result")
            if not pol or result not in ("failed", "passed"):
                continue
            if result == "failed":
                rules.repeat_proof(mem, ctx.ruleset, _check_proof(it, st, pol, ctx), pol)
            else:
                case = st.cases.get(it.case_id) or {}
                rules.on_clean(
                    mem, pol, it.ts, str(case.get("plate_colour", "")), rules.FIELD_CHECK
                )
        elif it.finding == "fleet_mark":
            rules.on_fleet_mark(mem, ctx.ruleset, it, ctx.registry)
        else:
            rules.on_finding(mem, ctx.ruleset, it)
        st.memory = mem.to_dict()
        states[key] = st.to_dict()
    return n

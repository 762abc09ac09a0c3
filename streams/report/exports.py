"""Partner exports built from confirmed cases: the traffic-police referral file (one row per
confirmed vehicle case) and the zone's serious-violation list for the regional credit platform
(stations and fleet operators with confirmed violations). CSV (UTF-8 with BOM, Chinese header, as
partner staff open it in a spreadsheet) and JSON (stable English keys, with a field catalogue).

Pure: ``referrals(...)`` and ``credit_list(...)`` turn the query results of
``streams.warehouse.queries.report`` (``confirmed_cases``, ``case_findings``) and the registry
into records; ``to_csv`` / ``to_json`` write them; ``export(...)`` is the thin adapter that runs the
queries, writes the files and records each one in ``export_log``.

The violation code is the platform's rule id (the partner maps it to its own 违法代码 table); the
plate type follows the plate colour (GA 36 号牌种类: 01 大型汽车 yellow, 02 小型汽车 blue,
51/52 大型/小型新能源 yellow-green/green).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from core.errors import EmwError
from core.registry import Registry
from core.timeutil import BEIJING
from streams.report import labels as L

EXPORT_KINDS = ("referrals", "credit")
EXPORT_FORMATS = ("csv", "json")
PLATE_TYPE = {
    "yellow": "01 大型汽车号牌",
    "blue": "02 小型汽车号牌",
    "yellow_green": "51 大型新能源汽车号牌",
    "green": "52 小型新能源汽车号牌",
}
_SHA = re.compile(r"sha256[=:]([0-9a-f]{64})")


class CasesUnavailable(EmwError):
    """The warehouse has no case tables: exports of confirmed cases cannot be built."""


@dataclass(frozen=True, slots=True)
class Referral:
    case_id: str
    plate: str
    plate_colour: str
    plate_type: str
    vin: str
    violation_code: str
    violation_text: str
    occurred_at: str  # Beijing time, ISO 8601 with +08:00
    place: str
    jurisdiction: str
    confirmed_at: str
    confirmed_by: str
    evidence_refs: tuple[str, ...]
    evidence_sha256: tuple[str, ...]


REFERRAL_ZH = {
    "case_id": "案件编号",
    "plate": "号牌号码",
    "plate_colour": "号牌颜色",
    "plate_type": "号牌种类",
    "vin": "车辆识别代号（VIN）",
    "violation_code": "违法代码（平台规则编号）",
    "violation_text": "违法内容",
    "occurred_at": "违法时间（北京时间）",
    "place": "违法地点",
    "jurisdiction": "辖区",
    "confirmed_at": "确认时间（北京时间）",
    "confirmed_by": "确认人",
    "evidence_refs": "证据材料",
    "evidence_sha256": "证据SHA-256",
}


@dataclass(frozen=True, slots=True)
class CreditEntry:
    subject_type: str  # 加油站 | 用车大户（车队）
    subject_id: str
    name: str
    operator: str
    credit_code: str
    jurisdiction: str
    confirmed_cases: int
    violations: str
    first_confirmed: str
    last_confirmed: str
    case_ids: tuple[str, ...]


CREDIT_ZH = {
    "subject_type": "主体类型",
    "subject_id": "主体编号",
    "name": "名称",
    "operator": "经营单位",
    "credit_code": "统一社会信用代码",
    "jurisdiction": "辖区",
    "confirmed_cases": "确认违法案件数",
    "violations": "违法内容",
    "first_confirmed": "首次确认（北京时间）",
    "last_confirmed": "最近确认（北京时间）",
    "case_ids": "案件编号",
}


def _bj(ts: Any) -> str:
    if ts is None or (not isinstance(ts, str) and pd.isna(ts)):
        return ""
    t = pd.Timestamp(ts)
    if t.tzinfo is None:
        t = t.tz_localize("UTC")
    return t.tz_convert(BEIJING).isoformat(timespec="seconds")


def _places(registry: Registry) -> dict[str, str]:
    out = {s.id: f"{s.name}（{s.id}）" for s in registry.rsd_sites}
    sites = {s.id: s.name for s in registry.rsd_sites}
    for c in registry.cameras:
        out[c.id] = f"{sites.get(c.site, c.site)} 黑烟抓拍（{c.id}）"
    for s in registry.stations:
        out[s.id] = f"{s.name}（{s.id}）"
    return out


def _hashes(refs: Sequence[str]) -> tuple[str, ...]:
    return tuple(m.group(1) for r in refs for m in [_SHA.search(r)] if m)


def referrals(cases: pd.DataFrame, findings: pd.DataFrame, registry: Registry) -> list[Referral]:
    """One referral per confirmed vehicle case (the earliest finding gives time and place)."""
    if cases is None or cases.empty:
        return []
    places = _places(registry)
    by_id = {r["event_id"]: r for r in findings.to_dict("records")} if not findings.empty else {}
    out = []
    for c in cases.to_dict("records"):
        fs = sorted((by_id[i] for i in c["finding_ids"] if i in by_id), key=lambda f: f["ts"])
        colours = Counter(
            f["plate_colour"] for f in fs if f.get("plate_colour") not in ("", "unknown")
        )
        colour = colours.most_common(1)[0][0] if colours else ""
        rules = list(dict.fromkeys([*(f["rule_id"] for f in fs), *c["rules"]]))
        refs = tuple(dict.fromkeys(e for f in fs for e in f["evidence"]))
        first = fs[0] if fs else {}
        out.append(
            Referral(
                case_id=c["case_id"],
                plate=c["plate"] or next((f["plate"] for f in fs if f["plate"]), ""),
                plate_colour=L.PLATE_COLOUR_ZH.get(colour, colour),
                plate_type=PLATE_TYPE.get(colour, ""),
                vin=c["vin"] or next((f["vin"] for f in fs if f["vin"]), ""),
                violation_code="、".join(rules),
                violation_text="；".join(L.rule_zh(r) for r in rules),
                occurred_at=_bj(first.get("ts")),
                place=places.get(first.get("device_id", ""), first.get("device_id", "")),
                jurisdiction=L.level_zh(first.get("jurisdiction") or c["jurisdiction"]),
                confirmed_at=_bj(c["confirmed_at"]),
                confirmed_by=c["confirmed_by"],
                evidence_refs=refs,
                evidence_sha256=_hashes(refs),
            )
        )
    return out


def credit_list(cases: pd.DataFrame, registry: Registry) -> list[CreditEntry]:
    """Stations (station and nozzle cases) and fleet operators (vehicle cases of registered fleet
    vehicles) with confirmed violations."""
    if cases is None or cases.empty:
        return []
    stations = {s.id: s for s in registry.stations}
    fleet_of = {v.vin: v for v in registry.obd_vehicles}
    fleet_by_plate = {v.plate: v for v in registry.obd_vehicles}
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for c in cases.to_dict("records"):
        if c["subject_kind"] in ("station", "nozzle"):
            groups[("station", str(c["subject_id"]).split(":", 1)[0])].append(c)
        elif c["subject_kind"] == "vehicle":
            v = fleet_of.get(c["vin"]) or fleet_by_plate.get(c["plate"])
            if v is not None:
                groups[("fleet", v.fleet)].append(c)
    out = []
    for (kind, sid), cs in sorted(groups.items()):
        rules = list(dict.fromkeys(r for c in cs for r in c["rules"]))
        times = sorted(pd.Timestamp(c["confirmed_at"]) for c in cs)
        if kind == "station":
            st = stations.get(sid)
            name, operator, code = (st.name, st.operator, st.credit_code) if st else (sid, "", "")
            jur = st.jurisdiction if st else cs[0]["jurisdiction"]
            type_zh = "加油站"
        else:
            jur = next(v.jurisdiction for v in registry.obd_vehicles if v.fleet == sid)
            name, operator, code, type_zh = sid, sid, "", "用车大户（车队）"
        out.append(
            CreditEntry(
                subject_type=type_zh,
                subject_id=sid,
                name=name,
                operator=operator,
                credit_code=code,
                jurisdiction=L.level_zh(jur),
                confirmed_cases=len(cs),
                violations="；".join(f"{r} {L.rule_zh(r)}" for r in rules),
                first_confirmed=_bj(times[0]),
                last_confirmed=_bj(times[-1]),
                case_ids=tuple(c["case_id"] for c in cs),
            )
        )
    return out


def to_csv(records: Sequence[Any], kind: str) -> bytes:
    names = list(REFERRAL_ZH if kind == "referrals" else CREDIT_ZH)
    zh = REFERRAL_ZH if kind == "referrals" else CREDIT_ZH
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([zh[n] for n in names])
    for r in records:
        d = asdict(r)
        w.writerow(["；".join(d[n]) if isinstance(d[n], tuple | list) else d[n] for n in names])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_json(records: Sequence[Any], kind: str, meta: Mapping[str, Any]) -> bytes:
    zh = REFERRAL_ZH if kind == "referrals" else CREDIT_ZH
    doc = {
        "kind": kind,
        **meta,
        "fields": zh,
        "count": len(records),
        "records": [asdict(r) for r in records],
    }
    return json.dumps(doc, ensure_ascii=False, indent=2, default=list).encode("utf-8")


def field_names(kind: str) -> list[str]:
    cls = Referral if kind == "referrals" else CreditEntry
    return [f.name for f in fields(cls)]


def export(
    client: Any,
    kind: str,
    since: datetime,
    until: datetime,
    level: str,
    scope: Any,
    registry: Registry,
    formats: Sequence[str],
    out_dir: Path,
    user: str,
    now: datetime,
) -> list[tuple[Path, int]]:
    """Build one export, write a file per format and record each in ``export_log``."""
    from streams.report.generate import _write_atomic
    from streams.warehouse.export_log import record_export
    from streams.warehouse.queries import report as q

    if not q.case_tables_present(client, scope):
        raise CasesUnavailable(
            f"{L.CASES_UNAVAILABLE}: the warehouse has no case tables (case_state, case_entry, "
            "case_finding); exports need confirmed cases from the enforcement module"
        )
    jurs = q._jurisdictions_of(level, scope)
    if kind == "referrals":
        cases = q.confirmed_cases(client, scope, since, until, level, ("vehicle",))
        ids = [i for lst in cases["finding_ids"] for i in lst] if not cases.empty else []
        findings = q.case_findings(client, scope, ids) if ids else pd.DataFrame()
        records: list[Any] = referrals(cases, findings, registry)
    elif kind == "credit":
        cases = q.confirmed_cases(
            client, scope, since, until, level, ("vehicle", "station", "nozzle")
        )
        records = credit_list(cases, registry)
    else:
        raise EmwError(f"unknown export {kind!r}: expected one of {', '.join(EXPORT_KINDS)}")
    meta = {
        "period": {"since": _bj(since), "until": _bj(until)},
        "jurisdiction": L.level_zh(level),
        "generated_at": _bj(now),
        "generated_by": user,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    last = (until - timedelta(milliseconds=1)).astimezone(BEIJING)  # until is exclusive
    stamp = f"{since.astimezone(BEIJING):%Y%m%d}-{last:%Y%m%d}"
    written = []
    for fmt in formats:
        data = to_csv(records, kind) if fmt == "csv" else to_json(records, kind, meta)
        path = out_dir / f"{kind}-{level}-{stamp}.{fmt}"
        _write_atomic(path, data)
        record_export(
            client,
            kind=kind,
            fmt=fmt,
            user=user,
            jurisdictions=jurs,
            rows=len(records),
            file_name=path.name,
            sha256=hashlib.sha256(data).hexdigest(),
            params={"since": since, "until": until, "level": level},
            ts=now,
        )
        written.append((path, len(records)))
    return written

"""``emwatch vehicle`` / ``case`` / ``evidence``: the officer's commands.

The commands talk to a backend with one interface (list_cases, case, vehicle, act, archive,
verify): the HTTP API while ``emwatch run`` holds the warehouse, or the data directory itself when
no platform runs. ``streams`` supplies the backend factory in ``groups["enforcement_backend"]``
(enforcement never imports streams). ``evidence verify --archive`` needs nothing but the file.

Exit codes: 0 done; 1 evidence does not verify (each mismatch named); 2 bad input, unknown case,
plate or VIN, a stale version or an action not allowed (one line on stderr, nothing changed).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from core.errors import EmwError, RequestError, ValidationError
from enforcement.vocabulary import ACTIONS, LABELS, STATUSES

ISSUES = {
    "emission": "排放超标",
    "smoke": "黑烟抓拍",
    "tamper": "OBD 异常/篡改",
    "vapour": "油气回收",
    "fleet": "车队",
}
JUR = {"qingpu": "青浦区", "wujiang": "吴江区", "jiashan": "嘉善县", "zone": "示范区"}


def _err(msg: str) -> int:
    print(f"emwatch: {msg}", file=sys.stderr)
    return 2


def _backend(args: argparse.Namespace) -> Any:
    return args.backend_factory(args)


def _run(args: argparse.Namespace, fn: Any) -> int:
    try:
        backend = _backend(args)
    except EmwError as exc:
        return _err(str(exc))
    except RuntimeError as exc:  # a locked warehouse while no platform answers
        return _err(str(exc))
    try:
        return int(fn(backend))
    except RequestError as exc:
        return _err(f"{exc.message} [{exc.status} {exc.code}]")
    except ValidationError as exc:
        return _err(str(exc))
    finally:
        backend.close()


def _dump(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=2, default=str))


def _t(s: Any) -> str:
    return str(s or "")[:16].replace("T", " ")


def cmd_case_list(args: argparse.Namespace) -> int:
    if args.status and args.status not in STATUSES:
        by_label = {v: k for k, v in LABELS.items()}
        if args.status not in by_label:
            return _err(f"--status: one of {', '.join(STATUSES)} (或 {', '.join(LABELS.values())})")
        args.status = by_label[args.status]
    if args.jurisdiction:  # officers write 青浦区 / 吴江区 / 嘉善县
        args.jurisdiction = {v: k for k, v in JUR.items()}.get(args.jurisdiction, args.jurisdiction)

    def go(b: Any) -> int:
        out = b.list_cases(args.status, args.jurisdiction, args.limit)
        if args.json:
            _dump(out)
            return 0
        print(
            f"{'案件编号':<20}{'状态':<8}{'问题':<10}{'对象':<20}{'辖区':<8}{'分值':>6}  立案时间（北京时间）"
        )
        for c in out["cases"]:
            print(
                f"{c['case_id']:<22}{LABELS.get(c['status'], c['status']):<8}"
                f"{ISSUES.get(c['issue'], c['issue']):<10}{c['subject_id']:<20}"
                f"{JUR.get(c['jurisdiction'], c['jurisdiction']):<8}{c['score']:>6.1f}  {_t(c['opened_at'])}"
            )
        print(f"共 {out['count']} 件")
        return 0

    return _run(args, go)


def cmd_case_show(args: argparse.Namespace) -> int:
    def go(b: Any) -> int:
        out = b.case(args.case_id)
        if args.json:
            _dump(out)
            return 0
        c = out["case"]
        print(f"案件 {c['case_id']}  第 {c['version']} 版  状态：{c['status_label']}")
        print(
            f"对象：{c['subject_id']} ({c['subject_kind']})  车牌 {c['plate'] or '—'}  VIN {c['vin'] or '—'}"
        )
        print(
            f"问题：{ISSUES.get(c['issue'], c['issue'])}  辖区：{JUR.get(c['jurisdiction'], c['jurisdiction'])}  规则：{', '.join(c['rules'])}"
        )
        terms = ", ".join(f"{k} {v:g}" for k, v in c["score_terms"].items())
        print(f"分值 {c['score']:.1f}（{terms}）")
        print(f"建议措施：{c['suggested_measure'] or '—'}  采用措施：{c['measure'] or '—'}")
        print(f"可执行操作：{', '.join(c['allowed_actions']) or '—'}")
        print("操作记录（北京时间）：")
        for e in out["log"]:
            mark = "✗ 被拒" if e["entry"] == "rejected" else f"#{e['seq']}"
            print(
                f"  {mark:<6} {_t(e['ts'])} {e['actor']:<10} {e['action']:<10} {e['status_before']}→{e['status_after']} {e['reason']}"
            )
        print(f"证据 {len(out['findings'])} 条")
        return 0

    return _run(args, go)


def _payload(args: argparse.Namespace) -> dict[str, Any]:
    p: dict[str, Any] = {}
    if args.payload:
        try:
            p = json.loads(args.payload)
        except ValueError as exc:
            raise ValidationError("--payload", args.payload, f"a JSON object ({exc})") from None
        if not isinstance(p, dict):
            raise ValidationError("--payload", args.payload, "a JSON object")
    for kv in args.set or []:
        k, sep, v = kv.partition("=")
        if not sep or not k:
            raise ValidationError("--set", kv, "KEY=VALUE")
        try:
            p[k] = json.loads(v)
        except ValueError:
            p[k] = v
    return p


def cmd_case_act(args: argparse.Namespace) -> int:
    if args.action not in ACTIONS:
        return _err(f"ACTION: one of {', '.join(ACTIONS)}")
    if not args.as_user:
        return _err("--as USER: a named officer is required for every action")
    try:
        payload = _payload(args)
    except ValidationError as exc:
        return _err(str(exc))

    def go(b: Any) -> int:
        out = b.act(
            args.case_id, args.action, args.as_user, args.reason or "", payload, args.version
        )
        e, c = out["entry"], out["case"]
        print(
            f"{c['case_id']}: {args.action} 已记录（第 {e['seq']} 版），状态 {LABELS.get(c['status'], c['status'])}"
        )
        return 0

    return _run(args, go)


def cmd_vehicle_show(args: argparse.Namespace) -> int:
    def go(b: Any) -> int:
        out = b.vehicle(args.ident)
        if args.json:
            _dump(out)
            return 0
        v = out["vehicle"]
        print(f"车辆 {v['id']}  车牌 {v['plate'] or '—'}  VIN {', '.join(v['vins']) or '—'}")
        for r in v["registered"]:
            print(
                f"  OBD 备案：{r['vin']} {r['fleet']} {r['vehicle_class']} {JUR.get(r['jurisdiction'], r['jurisdiction'])}"
            )
        names = {
            "rsd_pass": "遥感检测",
            "smoke_capture": "黑烟抓拍",
            "smoke_review": "抓拍审核",
            "obd_info": "OBD 信息包",
            "obd_status": "OBD 状态",
            "obd_days": "OBD 数据（日）",
            "exceedance": "超标/预警",
            "cases": "案件",
        }
        for k, label in names.items():
            rows = out["history"].get(k, [])
            print(f"{label}: {len(rows)} 条")
            for r in rows[: args.rows]:
                what = (
                    r.get("rule_id")
                    or r.get("case_id")
                    or r.get("site_id")
                    or r.get("camera_id")
                    or r.get("day")
                    or ""
                )
                print(
                    f"    {_t(r.get('ts') or r.get('opened_at') or r.get('first_ts'))} {JUR.get(r.get('jurisdiction', ''), r.get('jurisdiction', ''))} {what}"
                )
        print(f"案件编号：{', '.join(out['case_ids']) or '—'}")
        return 0

    return _run(args, go)


def cmd_evidence_export(args: argparse.Namespace) -> int:
    def go(b: Any) -> int:
        data = b.archive(args.case_id)
        Path(args.output).write_bytes(data)
        print(f"{args.case_id}: 证据包已导出 {args.output} ({len(data):,} bytes)")
        return 0

    return _run(args, go)


def cmd_evidence_verify(args: argparse.Namespace) -> int:
    if bool(args.archive) == bool(args.case_id):
        return _err("evidence verify: give CASE_ID or --archive FILE (one of them)")
    if args.archive:
        try:
            data = Path(args.archive).read_bytes()
        except OSError as exc:
            return _err(f"--archive {args.archive}: {exc.strerror}")
        try:
            from enforcement import evidence

            problems = evidence.verify_zip(data)
        except ValueError as exc:
            return _err(f"--archive {args.archive}: {exc}")
        return _report(args.archive, problems)

    def go(b: Any) -> int:
        out = b.verify(args.case_id)
        return _report(args.case_id, out["problems"])

    return _run(args, go)


def _report(what: str, problems: list[str]) -> int:
    if not problems:
        print(f"{what}: 证据完整 (intact)")
        return 0
    for p in problems:
        print(f"{what}: MISMATCH {p}")
    return 1


def register(groups: dict[str, Any]) -> None:
    root = groups["root"]
    factory = groups.get("enforcement_backend")

    def common(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--data-dir", help="data directory when no platform runs (default var/)")
        p.set_defaults(backend_factory=factory)
        return p

    vp = root.add_parser(
        "vehicle",
        help="one vehicle across every source",
        description="one vehicle across every source",
    )
    vs = vp.add_subparsers(dest="vehicle_command", metavar="WHAT")
    vp.set_defaults(func=lambda a: (vp.print_help(), 2)[1])
    p = common(
        vs.add_parser("show", help="every reading, event, exceedance and case of a plate or VIN")
    )
    p.add_argument("ident", metavar="PLATE_OR_VIN")
    p.add_argument("--json", action="store_true")
    p.add_argument("--rows", type=int, default=5, help="rows shown per source (text output)")
    p.set_defaults(func=cmd_vehicle_show)

    cp = root.add_parser(
        "case", help="enforcement cases: list, show, act", description="enforcement cases"
    )
    cs = cp.add_subparsers(dest="case_command", metavar="WHAT")
    cp.set_defaults(func=lambda a: (cp.print_help(), 2)[1])
    p = common(cs.add_parser("list", help="cases, highest triage score first"))
    p.add_argument("--status", help=f"one of {', '.join(STATUSES)}")
    p.add_argument("--jurisdiction", help="qingpu, wujiang or jiashan")
    p.add_argument("--limit", type=int, default=200)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_case_list)
    p = common(cs.add_parser("show", help="one case with its action log"))
    p.add_argument("case_id", metavar="ID")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_case_show)
    p = common(cs.add_parser("act", help=f"act on a case ({', '.join(ACTIONS)})"))
    p.add_argument("case_id", metavar="ID")
    p.add_argument("action", metavar="ACTION", help=", ".join(ACTIONS))
    p.add_argument(
        "--reason", help="why (required to dismiss or to depart from the suggested measure)"
    )
    p.add_argument(
        "--as", dest="as_user", help="the officer acting (named, Admin Penalty Law Art. 41)"
    )
    p.add_argument(
        "--version", type=int, help="the case version you saw (default: the current one)"
    )
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="payload field, e.g. method=k value=0.9 to=traffic_police",
    )
    p.add_argument("--payload", help="payload as a JSON object")
    p.set_defaults(func=cmd_case_act)

    ep = root.add_parser(
        "evidence", help="export and verify a case's evidence", description="case evidence"
    )
    es = ep.add_subparsers(dest="evidence_command", metavar="WHAT")
    ep.set_defaults(func=lambda a: (ep.print_help(), 2)[1])
    p = common(
        es.add_parser("export", help="write one archive: manifest, files, log, rules, 证据移送清单")
    )
    p.add_argument("case_id", metavar="CASE_ID")
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    p.set_defaults(func=cmd_evidence_export)
    p = common(es.add_parser("verify", help="verify an archive offline (--archive) or a live case"))
    p.add_argument("case_id", nargs="?", metavar="CASE_ID")
    p.add_argument("--archive", metavar="FILE")
    p.set_defaults(func=cmd_evidence_verify)

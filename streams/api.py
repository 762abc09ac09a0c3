"""The enforcement HTTP API (``/api/v1/``, JSON, OpenAPI at ``/api/v1/openapi.json``) and the one
service behind it, which the CLI also uses directly when no platform runs.

* ``EnforcementService``: vehicles, cases, actions, evidence over a reader client (queries in
  ``streams.warehouse.queries.enforcement``) and a ``submit`` callable that publishes a
  ``case.command`` on the bus. An action's outcome is the ``case.entry`` the case processor wrote for
  that request (accepted, or rejected with the reason): the service waits for it in the warehouse, so
  the same code serves the embedded bus and Kafka + Faust + ClickHouse. Input is checked first
  (``enforcement.cases.validate``): bad input is answered 422 and nothing is published.
* ``routes(get_service, scope_of)``: Starlette routes mounted on the dashboard port by the embedded
  runner, with ``scope_of = streams.auth.http.scope_of_for(...)``: the logged-in caller's scope
  (401 without a login, 403 when the action's ``actor`` is not the caller); the local CLI signs in
  with the run's token (``auth/cli.token``) and names the officer it acts for. ``zone_scope`` is
  left for tests of the handlers alone.
* ``HttpBackend`` (the CLI while ``emwatch run`` holds the warehouse) and ``LocalSession`` (the CLI
  opening the data directory itself: a pipeline of the same processors, without gateways).

Status codes: 400 malformed request, 404 unknown case / vehicle, 409 stale version or an action not
allowed in the case's state, 422 a value out of range or a missing reason, 503 not started yet,
504 no outcome within the wait (the command stays on the bus and is applied once).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.errors import RequestError, ValidationError
from core.registry import Registry
from core.ruleset import RuleSet
from core.scope import Scope
from core.timeutil import BEIJING
from enforcement import evidence
from enforcement.cases import ALLOWED, LABELS, validate
from enforcement.events import ACTIONS, STATUSES, CaseCommand
from enforcement.identity import parse_identifier, registry_links
from streams.warehouse.queries import enforcement as q

REJECTION_STATUS = {"stale": 409, "transition": 409, "unknown_case": 404, "invalid": 422}
WAIT_S = 15.0


ApiError = RequestError


def _val(v: Any) -> Any:
    if isinstance(v, pd.Timestamp):
        v = v.to_pydatetime()
    if isinstance(v, datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=UTC)
        return v.astimezone(BEIJING).isoformat(timespec="milliseconds")
    if isinstance(v, np.ndarray):
        return [_val(x) for x in v.tolist()]
    if isinstance(v, list | tuple):
        return [_val(x) for x in v]
    if isinstance(v, np.generic):  # numpy scalars
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """DataFrame rows as JSON-able dicts; times in Beijing time with their offset. Column by
    column (``Series.tolist``), which boxes values half as slowly as ``to_dict("records")``."""
    if df is None or df.empty:
        return []
    cols = [str(c) for c in df.columns]
    values = [[_val(v) for v in df[c].tolist()] for c in df.columns]
    return [dict(zip(cols, row, strict=True)) for row in zip(*values, strict=True)]


def _json_fields(d: dict[str, Any]) -> dict[str, Any]:
    for k in list(d):
        if k.endswith("_json"):
            d[k[:-5]] = json.loads(d.pop(k) or "{}")
    return d


class EnforcementService:
    def __init__(
        self,
        reader: Any,
        submit: Callable[[CaseCommand], None],
        ruleset: RuleSet,
        registry: Registry,
        data_dir: Path,
        wait_s: float = WAIT_S,
    ) -> None:
        self.reader = reader
        self.submit = submit
        self.ruleset = ruleset
        self.registry = registry
        self.data_dir = data_dir
        self.wait_s = wait_s

    # ------------------------------------------------------------------ reads

    def list_cases(
        self,
        scope: Scope,
        status: str | None = None,
        jurisdiction: str | None = None,
        issue: str | None = None,
        limit: int = 200,
    ) -> dict[str, Any]:
        if status and status not in STATUSES:
            raise ApiError(400, f"status: one of {', '.join(STATUSES)}")
        if jurisdiction and not scope.sees(jurisdiction):
            raise ApiError(400, f"jurisdiction: one of {', '.join(scope.jurisdictions)}")
        if not 1 <= limit <= 5000:
            raise ApiError(400, "limit: in [1, 5000]")
        rows = records(q.case_list(self.reader, scope, status, jurisdiction, issue, limit=limit))
        for r in rows:
            _json_fields(r)
            r["status_label"] = LABELS.get(r["status"], r["status"])
        return {"cases": rows, "count": len(rows)}

    def _state(self, scope: Scope, case_id: str) -> dict[str, Any]:
        rows = records(q.case_state(self.reader, scope, case_id))
        if not rows:
            raise ApiError(404, f"未知案件 {case_id} (unknown case)")
        return _json_fields(rows[0])

    def case(self, scope: Scope, case_id: str, last: int = 500) -> dict[str, Any]:
        """A case with the newest ``last`` log entries (the whole log is in the evidence archive)."""
        st = self._state(scope, case_id)
        log = records(q.case_entries(self.reader, scope, case_id, last=last))
        for e in log:
            e["payload"] = json.loads(e.pop("payload_json") or "{}")
        ids = [e["payload"].get("finding", "") for e in log if e["entry"] in ("opened", "evidence")]
        findings = [
            _json_fields(r)
            for r in records(
                q.case_findings(
                    self.reader, scope, case_id, ids, (st["subject_kind"], st["subject_id"])
                )
            )
        ]
        st["status_label"] = LABELS.get(st["status"], st["status"])
        st["allowed_actions"] = [a for a, frm in ALLOWED.items() if st["status"] in frm]
        return {
            "case": st,
            "log": log,
            "log_complete": int(st["version"]) <= last,
            "findings": findings,
        }

    def vehicle(self, scope: Scope, ident: str) -> dict[str, Any]:
        try:
            idf = parse_identifier(ident)
        except ValidationError as exc:
            raise ApiError(400, str(exc)) from None
        links = registry_links(self.registry)
        if idf.kind == "vin":
            plate, vins = links.plate_of(idf.value) or "", [idf.value]
        else:
            plate, vins = idf.value, list(links.vins_of(idf.value))
        plate, vins = q.vehicle_ids(self.reader, scope, plate, vins)
        out = q.vehicle_history(self.reader, scope, plate, vins)  # one query, rows as JSON
        for r in out["exceedance"]:
            _json_fields(r)
        for r in out["cases"]:
            _json_fields(r)
        if not any(out.values()):
            raise ApiError(404, f"平台无此车辆的记录: {ident} (unknown plate or VIN)")
        reg = [v for v in self.registry.obd_vehicles if v.vin in vins]
        return {
            "vehicle": {
                "id": plate or (vins[0] if vins else idf.value),
                "plate": plate,
                "vins": vins,
                "registered": [v.model_dump() for v in reg],
            },
            "case_ids": [c["case_id"] for c in out["cases"]],
            "history": out,
        }

    # ------------------------------------------------------------------ writes

    def act(
        self,
        scope: Scope,
        case_id: str,
        action: str,
        actor: str,
        reason: str = "",
        payload: dict[str, Any] | None = None,
        version: int | None = None,
        request_id: str = "",
    ) -> dict[str, Any]:
        if action not in ACTIONS:
            raise ApiError(400, f"action: one of {', '.join(ACTIONS)}")
        if not actor or not actor.strip():
            raise ApiError(400, "actor: a named officer (Admin Penalty Law Art. 41)")
        if not scope.can_act:
            raise ApiError(403, "this scope may not act on cases", "forbidden")
        if payload is not None and not isinstance(payload, dict):
            raise ApiError(400, "payload: a JSON object")
        st = self._state(scope, case_id)
        try:
            validate(action, reason, dict(payload or {}), self.ruleset, st["issue"])
        except ValidationError as exc:
            raise ApiError(422, str(exc)) from None
        cmd = CaseCommand.make(
            ts=datetime.now(UTC),
            case_id=case_id,
            subject_key=f"{st['subject_kind']}:{st['subject_id']}",
            action=action,
            actor=actor.strip(),
            actor_jurisdiction=scope.jurisdictions[0] if len(scope.jurisdictions) == 1 else "zone",
            based_on_version=int(st["version"]) if version is None else int(version),
            reason=reason,
            payload=payload or {},
            nonce=f"{time.time_ns()}",
            request_id=request_id,
        )
        self.submit(cmd)
        reply = self._wait(scope, cmd.event_id)
        payload_out = json.loads(reply.pop("payload_json") or "{}")
        if reply["entry"] == "rejected":
            code = payload_out.get("code", "invalid")
            raise ApiError(REJECTION_STATUS.get(code, 409), reply["reason"], code)
        reply["payload"] = payload_out
        # the entry and the state are written by one flush, table by table: wait for the state too
        deadline = time.monotonic() + self.wait_s
        st = self._state(scope, case_id)
        while int(st["version"]) < int(reply["seq"]) and time.monotonic() < deadline:
            time.sleep(0.02)
            st = self._state(scope, case_id)
        return {"entry": reply, "case": st}

    def _wait(self, scope: Scope, request_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.wait_s
        delay = 0.02
        while True:
            rows = records(q.command_reply(self.reader, scope, request_id))
            if rows:
                return rows[0]
            if time.monotonic() > deadline:
                raise ApiError(
                    504, f"no outcome for request {request_id} yet (it stays queued)", "timeout"
                )
            time.sleep(delay)
            delay = min(0.2, delay * 1.5)

    # ------------------------------------------------------------------ evidence

    def _records(self, refs: list[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        ex = [r.split(":", 1)[1] for r in refs if r.startswith("exceedance:")]
        ps = [r.split(":", 1)[1] for r in refs if r.startswith("rsd.pass:")]
        for table, ids, prefix in (
            ("exceedance", ex, "exceedance:"),
            ("rsd_pass", ps, "rsd.pass:"),
        ):
            if not ids:
                continue
            df = self.reader.query_df(
                f"SELECT * EXCEPT ingested_at FROM {table} FINAL WHERE event_id IN {{ids:Array(String)}}",
                parameters={"ids": ids},
            )
            for r in records(df):
                out[prefix + r["event_id"]] = r
        return out

    def _read_file(self, path: str) -> bytes | None:
        p = Path(path)
        if not p.is_absolute():
            p = (
                (self.data_dir.parent / p)
                if path.startswith(self.data_dir.name + "/")
                else (self.data_dir / p)
            )
        try:
            p = p.resolve()
            if not p.is_file():
                return None
            return p.read_bytes()
        except OSError:
            return None

    def bundle(self, scope: Scope, case_id: str) -> evidence.Bundle:
        st = self._state(scope, case_id)
        log = records(q.case_entries(self.reader, scope, case_id))
        refs: list[str] = []
        for e in log:
            if e["entry"] in ("opened", "evidence"):
                p = json.loads(e["payload_json"] or "{}")
                refs += [f"exceedance:{p.get('exceedance', '')}", *p.get("evidence", [])]
        return evidence.build(
            st, log, self._records(refs), self._read_file, self.ruleset, datetime.now(UTC)
        )

    def verify_case(self, scope: Scope, case_id: str) -> dict[str, Any]:
        b = self.bundle(scope, case_id)
        log = [json.loads(x) for x in b.files["log.jsonl"].decode().splitlines() if x]
        problems = evidence.verify_manifest(b.manifest, log, b.files)
        st = self._state(scope, case_id)
        accepted = [e for e in log if e["entry"] != "rejected"]
        if accepted and max(accepted, key=lambda e: int(e["seq"]))["hash"] != st["head_hash"]:
            problems.append("log: the last entry's hash differs from the case's head hash")
        if accepted and len(accepted) != int(st["version"]):
            problems.append(f"log: {len(accepted)} entries for case version {st['version']}")
        return {"case_id": case_id, "intact": not problems, "problems": problems}


# ---------------------------------------------------------------------- HTTP


def openapi() -> dict[str, Any]:
    err = {
        "description": "error",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    ok = {"description": "ok", "content": {"application/json": {"schema": {"type": "object"}}}}
    case_id = {"name": "case_id", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "YRD Emissions Watch enforcement API", "version": "1"},
        "paths": {
            "/api/v1/vehicles/{ident}": {
                "get": {
                    "summary": "One vehicle's full history across every source (plate or VIN)",
                    "description": "history: rsd_pass, smoke_capture, smoke_review, obd_info, "
                    "obd_status, obd_days (one row per VIN and Beijing day, day as YYYY-MM-DD), "
                    "exceedance (subject plate, plate|colour or VIN) and cases, newest first, "
                    "at most 500 rows each; times in Beijing time with their offset.",
                    "parameters": [
                        {
                            "name": "ident",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {"200": ok, "400": err, "404": err},
                }
            },
            "/api/v1/cases": {
                "get": {
                    "summary": "Cases in the caller's scope, highest triage score first",
                    "parameters": [
                        {
                            "name": "status",
                            "in": "query",
                            "schema": {"type": "string", "enum": list(STATUSES)},
                        },
                        {"name": "jurisdiction", "in": "query", "schema": {"type": "string"}},
                        {"name": "issue", "in": "query", "schema": {"type": "string"}},
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 5000},
                        },
                    ],
                    "responses": {"200": ok, "400": err},
                }
            },
            "/api/v1/cases/{case_id}": {
                "get": {
                    "summary": "One case with its action log and findings",
                    "parameters": [case_id],
                    "responses": {"200": ok, "404": err},
                }
            },
            "/api/v1/cases/{case_id}/actions": {
                "post": {
                    "summary": "Act on a case (the first of two actions on one version wins)",
                    "parameters": [case_id],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Action"}}
                        },
                    },
                    "responses": {
                        "200": ok,
                        "400": err,
                        "404": err,
                        "409": err,
                        "422": err,
                        "504": err,
                    },
                }
            },
            "/api/v1/cases/{case_id}/evidence": {
                "get": {
                    "summary": "The case's evidence manifest and its verification",
                    "parameters": [case_id],
                    "responses": {"200": ok, "404": err},
                }
            },
            "/api/v1/cases/{case_id}/evidence/archive": {
                "get": {
                    "summary": "The evidence archive (zip: manifest, files, log, rules, 证据移送清单)",
                    "parameters": [case_id],
                    "responses": {
                        "200": {"description": "zip", "content": {"application/zip": {}}},
                        "404": err,
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
                    "required": ["error", "message"],
                },
                "Action": {
                    "type": "object",
                    "properties": {
                        "action": {"type": "string", "enum": list(ACTIONS)},
                        "actor": {"type": "string", "description": "the named officer"},
                        "reason": {"type": "string"},
                        "version": {
                            "type": "integer",
                            "description": "the case version the action is based on",
                        },
                        "request_id": {
                            "type": "string",
                            "description": "the caller's id: a retry with the same id is applied once",
                        },
                        "payload": {
                            "type": "object",
                            "description": "check: {method: k|ringelmann|obd_scan|photo, value, mil, dtc, photos}; "
                            "reinspect: {maintenance_record, retest}; refer: {to}; notify: {channel}; "
                            "confirm: {grade (smoke), measure}; dismiss: {dismiss_code}",
                        },
                    },
                    "required": ["action", "actor"],
                },
            }
        },
    }


def zone_scope(request: Any, actor: str = "") -> Scope:
    """The caller's scope until login exists (issue 15): zone-wide, named by header or actor."""
    user = urllib.parse.unquote(request.headers.get("x-emw-user", ""))
    return Scope.zone(user or actor or "anonymous")


def routes(
    get_service: Callable[[], EnforcementService | None],
    scope_of: Callable[..., Scope] = zone_scope,
) -> list[Any]:
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    def _svc() -> EnforcementService:
        s = get_service()
        if s is None:
            raise ApiError(503, "the platform is starting", "starting")
        return s

    def _guard(fn: Callable[..., Any]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            try:
                out = await fn(request)
            except ApiError as exc:
                return JSONResponse(exc.body(), status_code=exc.status)
            if isinstance(out, Response):
                return out
            return JSONResponse(out)

        return endpoint

    async def doc(_r: Request) -> Any:
        return openapi()

    async def vehicle(r: Request) -> Any:
        return await asyncio.to_thread(_svc().vehicle, scope_of(r), r.path_params["ident"])

    async def cases(r: Request) -> Any:
        qp = r.query_params
        try:
            limit = int(qp.get("limit", "200"))
        except ValueError:
            raise ApiError(400, "limit: an integer") from None
        return await asyncio.to_thread(
            _svc().list_cases,
            scope_of(r),
            qp.get("status"),
            qp.get("jurisdiction"),
            qp.get("issue"),
            limit,
        )

    async def case(r: Request) -> Any:
        return await asyncio.to_thread(_svc().case, scope_of(r), r.path_params["case_id"])

    async def act(r: Request) -> Any:
        try:
            body = await r.json()
        except ValueError:
            raise ApiError(400, "body: a JSON object") from None
        if not isinstance(body, dict):
            raise ApiError(400, "body: a JSON object")
        version = body.get("version")
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
            raise ApiError(400, "version: an integer")
        reason = body.get("reason") or ""
        if not isinstance(reason, str):
            raise ApiError(400, "reason: text")
        actor = str(body.get("actor") or "")
        request_id = body.get("request_id") or ""
        if not isinstance(request_id, str) or len(request_id) > 128:
            raise ApiError(400, "request_id: text of at most 128 characters")
        return await asyncio.to_thread(
            _svc().act,
            scope_of(r, actor),
            r.path_params["case_id"],
            str(body.get("action") or ""),
            actor,
            reason,
            body.get("payload") or {},
            version,
            request_id,
        )

    async def ev(r: Request) -> Any:
        svc, cid = _svc(), r.path_params["case_id"]
        b = await asyncio.to_thread(svc.bundle, scope_of(r), cid)
        check = await asyncio.to_thread(svc.verify_case, scope_of(r), cid)
        return {"manifest": b.manifest, **check}

    async def archive(r: Request) -> Any:
        cid = r.path_params["case_id"]
        b = await asyncio.to_thread(_svc().bundle, scope_of(r), cid)
        return Response(
            evidence.to_zip(b),
            media_type="application/zip",
            headers={"content-disposition": f'attachment; filename="{cid}.zip"'},
        )

    return [
        Route("/api/v1/openapi.json", _guard(doc)),
        Route("/api/v1/vehicles/{ident}", _guard(vehicle)),
        Route("/api/v1/cases", _guard(cases)),
        Route("/api/v1/cases/{case_id}", _guard(case)),
        Route("/api/v1/cases/{case_id}/actions", _guard(act), methods=["POST"]),
        Route("/api/v1/cases/{case_id}/evidence", _guard(ev)),
        Route("/api/v1/cases/{case_id}/evidence/archive", _guard(archive)),
    ]


# ---------------------------------------------------------------------- CLI backends


class HttpBackend:
    """The CLI's way in while ``emwatch run`` holds the warehouse: the API over loopback."""

    def __init__(
        self, base: str, user: str = "", timeout: float = 30.0, token: str | None = None
    ) -> None:
        self.base = base.rstrip("/")
        self.user = user
        self.timeout = timeout
        self.token = token  # the running platform's local command-line token (auth/cli.token)

    def _call(self, method: str, path: str, body: Any = None, raw: bool = False) -> Any:
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("content-type", "application/json")
        if self.token:
            req.add_header("authorization", f"Bearer cli:{self.token}")
        if self.user:
            req.add_header("x-emw-user", urllib.parse.quote(self.user))  # headers are latin-1
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # loopback only
                payload = resp.read()
        except urllib.error.HTTPError as exc:
            try:
                err = json.loads(exc.read())
            except ValueError:
                err = {"error": "error", "message": str(exc)}
            raise ApiError(exc.code, err.get("message", ""), err.get("error", "")) from None
        return payload if raw else json.loads(payload)

    def list_cases(self, status: str | None, jurisdiction: str | None, limit: int = 200) -> Any:
        qs = urllib.parse.urlencode(
            {
                k: v
                for k, v in (("status", status), ("jurisdiction", jurisdiction), ("limit", limit))
                if v
            }
        )
        return self._call("GET", f"/api/v1/cases?{qs}")

    def case(self, case_id: str) -> Any:
        return self._call("GET", f"/api/v1/cases/{urllib.parse.quote(case_id)}")

    def vehicle(self, ident: str) -> Any:
        return self._call("GET", f"/api/v1/vehicles/{urllib.parse.quote(ident)}")

    def act(
        self,
        case_id: str,
        action: str,
        actor: str,
        reason: str,
        payload: dict[str, Any],
        version: int | None,
    ) -> Any:
        body = {
            "action": action,
            "actor": actor,
            "reason": reason,
            "payload": payload,
            "version": version,
        }
        return self._call("POST", f"/api/v1/cases/{urllib.parse.quote(case_id)}/actions", body)

    def archive(self, case_id: str) -> bytes:
        return bytes(
            self._call(
                "GET", f"/api/v1/cases/{urllib.parse.quote(case_id)}/evidence/archive", raw=True
            )
        )

    def verify(self, case_id: str) -> Any:
        return self._call("GET", f"/api/v1/cases/{urllib.parse.quote(case_id)}/evidence")

    def close(self) -> None:
        return None


class LocalSession:
    """The CLI's way in without a running platform: it opens the data directory (one process
    only), runs a pipeline of the same processors without gateways, and serves the same calls."""

    def __init__(self, settings: Any, user: str = "") -> None:
        from core.registry import load_registry
        from core.ruleset import load_ruleset
        from streams.pipeline import Pipeline
        from streams.runner import open_warehouse

        self.user = user
        self.scope = Scope.zone(user or "cli")
        writer, reader = open_warehouse(settings)
        rs = load_ruleset(settings.ruleset_dir)
        reg = load_registry(settings.registry_dir)
        self.pipeline = Pipeline(
            writer, rs, reg, settings.data_dir, max_delay_s=0.05, simulate=False
        )
        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(self.pipeline.start(with_services=False))
        self.service = EnforcementService(reader, self._submit, rs, reg, settings.data_dir)

    def _submit(self, cmd: CaseCommand) -> None:
        async def go() -> None:
            await self.pipeline.publish([cmd])
            await self.pipeline.settle()
            await self.pipeline.settle()  # outputs of outputs (smoke review → BS-CONFIRM → case)

        self._loop.run_until_complete(go())

    def list_cases(self, status: str | None, jurisdiction: str | None, limit: int = 200) -> Any:
        return self.service.list_cases(self.scope, status, jurisdiction, None, limit)

    def case(self, case_id: str) -> Any:
        return self.service.case(self.scope, case_id)

    def vehicle(self, ident: str) -> Any:
        return self.service.vehicle(self.scope, ident)

    def act(
        self,
        case_id: str,
        action: str,
        actor: str,
        reason: str,
        payload: dict[str, Any],
        version: int | None,
    ) -> Any:
        return self.service.act(self.scope, case_id, action, actor, reason, payload, version)

    def archive(self, case_id: str) -> bytes:
        return evidence.to_zip(self.service.bundle(self.scope, case_id))

    def verify(self, case_id: str) -> Any:
        return self.service.verify_case(self.scope, case_id)

    def close(self) -> None:
        self._loop.run_until_complete(self.pipeline.stop())
        self._loop.close()


def cli_backend(args: Any) -> Any:
    """The backend for the enforcement CLI: the API when a platform answers, else the data dir."""
    from streams.cli import _settings
    from streams.runner import status_json

    s = _settings(args)
    user = getattr(args, "as_user", "") or ""
    if status_json(s, timeout=1.0) is not None:
        from streams.auth.http import read_cli_token

        return HttpBackend(
            f"http://{s.host}:{s.dashboard_port}", user, token=read_cli_token(s.data_dir)
        )
    return LocalSession(s, user)

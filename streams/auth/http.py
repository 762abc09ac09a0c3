"""HTTP side of login for the runner's API on the dashboard port (Starlette).

- ``POST /api/login`` ``{"name", "password"}`` → 200 ``{"token", "expires_in"}`` and an
  ``emw_session`` cookie (HttpOnly, SameSite=Strict); 401 ``bad_credentials``; 429 ``rate_limited``.
- ``POST /api/logout`` clears the cookie.
- ``caller(request)`` → the caller's ``Scope`` from ``Authorization: Bearer <token>`` or the
  cookie, or ``None``; ``guard(request, check)`` answers 401 without a login and 403 when
  ``check(scope)`` is false (audited as ``denied``), revealing nothing about the data.
- The local command line (``emwatch deadletter``, ``emwatch status``) authenticates with the
  runner's own token in ``<data_dir>/auth/cli.token`` (0600, new at every start): whoever can
  read the data directory administers the platform anyway.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from core.access import system_scope
from core.credentials import _write_private
from core.scope import Scope
from streams.auth.service import COOKIE, AuthService, bearer

CLI_TOKEN = "cli.token"


def new_cli_token(auth_dir: Path) -> str:
    token = secrets.token_urlsafe(32)
    Path(auth_dir).mkdir(parents=True, exist_ok=True)
    _write_private(Path(auth_dir) / CLI_TOKEN, {"token": token})
    return token


def read_cli_token(data_dir: Path) -> str | None:
    from core.credentials import _read_json

    try:
        tok = _read_json(Path(data_dir) / "auth" / CLI_TOKEN).get("token")
    except Exception:
        return None
    return tok if isinstance(tok, str) else None


class ApiAuth:
    def __init__(self, service: AuthService, cli_token: str | None = None) -> None:
        self.service = service
        self.cli_token = cli_token

    def _client(self, request: Request) -> str:
        return request.client.host if request.client else ""

    def caller(self, request: Request) -> Scope | None:
        token = bearer(request.headers) or request.cookies.get(COOKIE)
        if token and self.cli_token and token.startswith("cli:"):
            if hmac.compare_digest(token[4:], self.cli_token):
                return system_scope("cli")
            token = token[:32]  # a wrong CLI token is a tampered token
        return self.service.session(token, client=self._client(request))

    def guard(
        self, request: Request, check: Callable[[Scope], bool] | None = None, what: str = ""
    ) -> Scope | JSONResponse:
        scope = self.caller(request)
        if scope is None:
            return JSONResponse({"error": "login_required"}, status_code=401)
        if check is not None and not check(scope):
            self.service.auditor.record(
                "denied",
                user=scope.user,
                outcome="out_of_scope",
                scope=scope,
                what=what or request.url.path,
                client=self._client(request),
            )
            return JSONResponse({"error": "forbidden"}, status_code=403)
        return scope

    def routes(self) -> list[Route]:
        async def login(request: Request) -> JSONResponse:
            try:
                body = await request.json()
                name, password = body["name"], body["password"]
                if not isinstance(name, str) or not isinstance(password, str):
                    raise TypeError
            except Exception:
                return JSONResponse(
                    {"error": 'body must be {"name": "...", "password": "..."}'}, status_code=400
                )
            import asyncio

            res = await asyncio.to_thread(self.service.login, name, password, self._client(request))
            if res.reason == "rate_limited":
                return JSONResponse({"error": "rate_limited"}, status_code=429)
            if res.token is None:
                return JSONResponse({"error": "bad_credentials"}, status_code=401)
            ttl = int(self.service.ttl_s)
            resp = JSONResponse({"token": res.token, "expires_in": ttl})
            resp.set_cookie(
                COOKIE, res.token, max_age=ttl, httponly=True, samesite="strict", path="/"
            )
            return resp

        async def logout(request: Request) -> JSONResponse:
            self.service.logout(self.caller(request), self._client(request))
            resp = JSONResponse({"status": "logged_out"})
            resp.delete_cookie(COOKIE, path="/")
            return resp

        async def session(request: Request) -> Any:
            """The login form's hand-over: a single-use code becomes the HttpOnly session cookie."""
            from starlette.responses import RedirectResponse

            token = self.service.redeem(request.query_params.get("code", ""))
            resp = RedirectResponse("/", status_code=303)
            if token is not None:
                resp.set_cookie(
                    COOKIE,
                    token,
                    max_age=int(self.service.ttl_s),
                    httponly=True,
                    samesite="strict",
                    path="/",
                )
            return resp

        return [
            Route("/api/login", login, methods=["POST"]),
            Route("/api/logout", logout, methods=["POST"]),
            Route("/api/session", session, methods=["GET"]),
        ]


def zone_wide(scope: Scope) -> bool:
    """Platform internals (detailed status, dead letters): administrators, the joint team and
    the local command line."""
    from streams.warehouse.scope import OutOfScope, require_zone

    try:
        require_zone(scope)
    except OutOfScope:
        return False
    return True


def public_status(detail: dict[str, Any]) -> dict[str, Any]:
    """What ``/api/status`` tells anyone: running, sink healthy, event counts by kind. No device,
    station, camera or vehicle names."""
    sink = detail.get("sink") or {}
    counts: dict[str, float] = {}
    for comp, name, labels, value in detail.get("metrics", []):
        if comp == "sink" and name == "rows_written":
            kind = (
                str(labels).split("kind=", 1)[-1].split(",", 1)[0] if "kind=" in str(labels) else ""
            )
            if kind:
                counts[kind] = counts.get(kind, 0) + float(value)
    return {
        "state": detail.get("state", "starting"),
        "sink_healthy": bool(sink.get("healthy", False)),
        "backpressure": bool(sink.get("backpressure", False)),
        "events_by_kind": {k: int(v) for k, v in sorted(counts.items())},
    }


def scope_of_for(api_auth: ApiAuth) -> Callable[..., Scope]:
    """``scope_of(request, actor="")`` for the enforcement API (``streams.api.routes``): the logged-in
    caller's scope, or a ``RequestError`` 401 (the API answers it as JSON)."""
    from core.errors import RequestError

    def scope_of(request: Request, actor: str = "") -> Scope:
        scope = api_auth.caller(request)
        if scope is None:
            raise RequestError(401, "login required", "login_required")
        if actor and actor != scope.user and scope.user != "cli":
            api_auth.service.auditor.record(
                "denied",
                user=scope.user,
                outcome="actor_mismatch",
                scope=scope,
                what=request.url.path,
                client=api_auth._client(request),
            )
            raise RequestError(403, "actor: must be the logged-in user", "forbidden")
        return scope

    return scope_of


def audited(
    routes: list[Any], api_auth: ApiAuth, actions: Callable[[str, str], str | None]
) -> list[Any]:
    """The same routes, each answer of those that ``actions(method, path_template)`` names
    recorded in the audit trail (user, scope, what = the request path, outcome = HTTP status)."""
    out: list[Any] = []
    for route in routes:
        path = getattr(route, "path", "")
        methods = getattr(route, "methods", None) or {"GET"}
        action = next((a for m in methods if (a := actions(m, path))), None)
        if action is None or not isinstance(route, Route):
            out.append(route)
            continue

        def wrap(endpoint: Any, action: str = action) -> Any:
            async def endpoint_audited(request: Request) -> Any:
                resp = await endpoint(request)
                scope = api_auth.caller(request)
                api_auth.service.auditor.record(
                    action,
                    user=scope.user if scope else "",
                    outcome="ok" if resp.status_code < 400 else f"refused {resp.status_code}",
                    scope=scope,
                    what=request.url.path,
                    client=api_auth._client(request),
                )
                return resp

            return endpoint_audited

        out.append(Route(path, wrap(route.endpoint), methods=list(methods), name=route.name))
    return out

"""The API's login, 401/403 guard and audited routes (Starlette TestClient over the real
AuthService); the runner's own routes are exercised end to end in platform/test_runner.py."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from streams.auth.http import ApiAuth, audited, public_status, scope_of_for, zone_wide
from streams.warehouse import shared

pytestmark = pytest.mark.component


@pytest.fixture
def app(warehouse, accounts):
    shared.set_reader(warehouse)
    api = ApiAuth(accounts.service, cli_token="local-cli-token")
    scope_of = scope_of_for(api)

    async def detail(request: Request) -> Any:
        scope = api.guard(request, zone_wide, "status.detail")
        if isinstance(scope, JSONResponse):
            return scope
        return JSONResponse({"user": scope.user})

    async def act(request: Request) -> Any:
        from core.errors import RequestError

        try:
            scope = scope_of(request, (await request.json()).get("actor", ""))
        except RequestError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        return JSONResponse({"by": scope.user})

    routes = [
        *api.routes(),
        Route("/api/status/detail", detail),
        *audited(
            [Route("/api/v1/cases/{case_id}/actions", act, methods=["POST"])],
            api,
            lambda m, p: "case_action" if m == "POST" and p.endswith("/actions") else None,
        ),
    ]
    yield TestClient(Starlette(routes=routes)), warehouse
    shared.set_reader(None)


def _audit(client: Any, action: str) -> list[tuple[str, str, str]]:
    rows = client.query(
        "SELECT user, outcome, what FROM audit_log WHERE action = {a:String} ORDER BY ts",
        parameters={"a": action},
    ).result_rows
    return [tuple(r) for r in rows]


def test_login_cookie_and_guard(app, accounts) -> None:
    from tests.conftest import ACCOUNT_PASSWORD

    client, wh = app
    assert client.get("/api/status/detail").status_code == 401
    r = client.post("/api/login", json={"name": "officer_qp", "password": "nope-nope-nope"})
    assert r.status_code == 401 and r.json() == {"error": "bad_credentials"}
    r = client.post("/api/login", json={"name": "nobody", "password": "nope-nope-nope"})
    assert r.status_code == 401 and r.json() == {"error": "bad_credentials"}  # same answer
    assert client.post("/api/login", json={"name": 3}).status_code == 400
    r = client.post("/api/login", json={"name": "officer_qp", "password": ACCOUNT_PASSWORD})
    assert r.status_code == 200 and "httponly" in r.headers["set-cookie"].lower()
    officer = r.json()["token"]
    # the cookie alone logs the client in; an officer is outside the detailed status's scope
    assert client.get("/api/status/detail").status_code == 403
    client.cookies.clear()
    hdr = {"Authorization": f"Bearer {accounts.token('admin1')}"}
    assert client.get("/api/status/detail", headers=hdr).json() == {"user": "admin1"}
    cli = {"Authorization": "Bearer cli:local-cli-token"}
    assert client.get("/api/status/detail", headers=cli).status_code == 200
    bad_cli = {"Authorization": "Bearer cli:guessed"}
    assert client.get("/api/status/detail", headers=bad_cli).status_code == 401
    tampered = {"Authorization": f"Bearer {officer[:-4]}AAAA"}
    assert client.get("/api/status/detail", headers=tampered).status_code == 401
    assert ("officer_qp", "out_of_scope", "status.detail") in _audit(wh, "denied")
    assert {u for u, _, _ in _audit(wh, "login_failed")} >= {"officer_qp", "nobody"}


def test_case_actions_are_audited_and_need_the_callers_own_name(app, accounts) -> None:
    client, wh = app
    url = "/api/v1/cases/C-1/actions"
    assert client.post(url, json={"actor": "x"}).status_code == 401
    hdr = {"Authorization": f"Bearer {accounts.token('officer_wj')}"}
    assert client.post(url, json={"actor": "officer_wj"}, headers=hdr).json() == {
        "by": "officer_wj"
    }
    r = client.post(url, json={"actor": "officer_qp"}, headers=hdr)  # acting in another's name
    assert r.status_code == 403
    rows = _audit(wh, "case_action")
    assert [(u, o) for u, o, _ in rows] == [
        ("", "refused 401"),
        ("officer_wj", "ok"),
        ("officer_wj", "refused 403"),
    ]
    assert all(w == url for _, _, w in rows)


def test_public_status_names_no_device() -> None:
    detail = {
        "state": "running",
        "services": {"OBD gateway": "tcp://127.0.0.1:9100"},
        "sink": {"healthy": True, "backpressure": False, "written": 10},
        "metrics": [
            ["sink", "rows_written", "kind=obd.sample", 8.0],
            ["sink", "rows_written", "kind=vapor.fuelling", 2.0],
            ["obd_gateway", "bad_frames", "vin=LGDCHA1G8MA127733", 1.0],
        ],
    }
    pub = public_status(detail)
    assert pub == {
        "state": "running",
        "sink_healthy": True,
        "backpressure": False,
        "events_by_kind": {"obd.sample": 8, "vapor.fuelling": 2},
    }


def test_login_form_hands_its_session_over_as_a_cookie_once(app, accounts) -> None:
    client, _ = app
    code = accounts.service.handover_code(accounts.token("officer_qp"))
    r = client.get(f"/api/session?code={code}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert "httponly" in r.headers["set-cookie"].lower()
    assert client.get("/api/status/detail").status_code == 403  # logged in by the cookie
    client.cookies.clear()
    again = client.get(f"/api/session?code={code}", follow_redirects=False)  # single use
    assert "set-cookie" not in again.headers
    assert client.get("/api/status/detail").status_code == 401

"""The report and export endpoints of the running platform, and the command line going through them
while the platform holds the warehouse."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from core.scope import Scope
from streams.report.api import routes
from streams.warehouse.queries.report import ZONE_SCOPE

pytestmark = pytest.mark.component


def _caller(request):
    """Stand-in for the login: the header names the caller (none → not logged in)."""
    who = request.headers.get("x-test-user")
    if who == "zone" or request.headers.get("authorization") == "Bearer cli:tok-1":
        return ZONE_SCOPE
    return Scope(who, ("wujiang",)) if who else None


@pytest.fixture
def app(warehouse, registry, tmp_path: Path) -> Starlette:
    return Starlette(routes=routes(lambda: warehouse, registry, tmp_path, _caller))


ZONE_USER = {"x-test-user": "zone"}


def test_login_and_scope_are_required(app) -> None:
    with TestClient(app) as c:
        assert c.get("/api/v1/reports/weekly", params={"week": "2026-W49"}).status_code == 401
        assert c.get("/api/v1/exports/credit", params={"week": "2026-W49"}).status_code == 401
        wj = {"x-test-user": "officer_wj"}
        ok = c.get(
            "/api/v1/reports/weekly",
            params={"week": "2026-W49", "jurisdiction": "wujiang", "format": "html"},
            headers=wj,
        )
        assert ok.status_code == 200
        for level in ("qingpu", "zone"):
            got = c.get(
                "/api/v1/reports/weekly",
                params={"week": "2026-W49", "jurisdiction": level},
                headers=wj,
            )
            assert got.status_code == 403, level


def test_weekly_report_over_http(app, tmp_path: Path) -> None:
    with TestClient(app) as c:
        c.headers.update(ZONE_USER)
        r = c.get(
            "/api/v1/reports/weekly",
            params={"week": "2026-W49", "jurisdiction": "wujiang", "format": "pdf"},
        )
        assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
        assert r.content.startswith(b"%PDF")
        assert 'filename="weekly-2026-W49-wujiang.pdf"' in r.headers["content-disposition"]
        assert (tmp_path / "reports" / "weekly-2026-W49-wujiang.pdf").read_bytes() == r.content
        for params, reason in (
            ({"week": "2026-49"}, "malformed week"),
            ({"week": "2099-W01"}, "has not ended"),
            ({"jurisdiction": "minhang"}, "unknown jurisdiction"),
            ({"format": "docx"}, "unknown format"),
        ):
            bad = c.get("/api/v1/reports/weekly", params=params)
            assert bad.status_code == 400 and reason in bad.json()["error"], params


def test_exports_over_http_are_recorded(app, warehouse) -> None:
    with TestClient(app) as c:
        c.headers.update(ZONE_USER)
        r = c.get(
            "/api/v1/exports/credit",
            params={"week": "2026-W49", "format": "json", "user": "partner-sync"},
        )
        assert r.status_code == 200, r.text
        doc = json.loads(r.content)
        assert (
            doc["kind"] == "credit" and doc["count"] == 0 and doc["generated_by"] == "partner-sync"
        )
        # without a user parameter, the logged-in caller is recorded
        assert c.get("/api/v1/exports/credit", params={"week": "2026-W49"}).status_code == 200
        assert c.get("/api/v1/exports/tax", params={"user": "x"}).status_code == 400
    log = warehouse.query_df("SELECT kind, fmt, user, rows FROM export_log ORDER BY ts, user")
    assert sorted(log.values.tolist()) == [
        ["credit", "json", "partner-sync", 0],
        ["credit", "json", "report", 0],
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_goes_through_the_running_platform(app, tmp_path: Path, monkeypatch, capsys) -> None:
    import uvicorn

    import streams.report.cli as rcli
    from streams.cli import main

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        monkeypatch.setenv("EMW_DASHBOARD_PORT", str(port))
        monkeypatch.setattr(rcli, "open_reader", lambda _s: None)  # as if `emwatch run` held it
        monkeypatch.setattr("streams.auth.http.read_cli_token", lambda _d: "tok-1")
        rc = main(
            [
                "report",
                "weekly",
                "--week",
                "2026-W48",
                "--format",
                "html,xlsx",
                "-o",
                str(tmp_path / "o"),
            ]
        )
        out = capsys.readouterr().out.split()
        assert rc == 0 and sorted(Path(p).name for p in out) == [
            "weekly-2026-W48-zone.html",
            "weekly-2026-W48-zone.xlsx",
        ]
        assert (
            (tmp_path / "o" / "weekly-2026-W48-zone.html")
            .read_text(encoding="utf-8")
            .startswith("<!DOCTYPE html>")
        )
        rc = main(
            [
                "export",
                "referrals",
                "--week",
                "2026-W48",
                "--format",
                "csv",
                "--as",
                "lead1",
                "-o",
                str(tmp_path / "e"),
            ]
        )
        assert rc == 0 and (tmp_path / "e" / "referrals-zone-20261123-20261129.csv").is_file()
    finally:
        server.should_exit = True
        t.join(10)

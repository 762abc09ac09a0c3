"""HTTP endpoints of the weekly report and the partner exports on the dashboard port, served by the
embedded runner (which owns the chDB directory): ``emwatch report weekly`` and ``emwatch export``
go through them while the platform runs; partner systems fetch exports here.

- ``GET /api/v1/reports/weekly?week=2026-W49&jurisdiction=zone&format=pdf`` → the file (also kept
  in ``$EMW_DATA_DIR/reports``)
- ``GET /api/v1/exports/{referrals|credit}?week=…|since=…&until=…&jurisdiction=…&format=csv|json&user=…``
  → the file (kept in ``$EMW_DATA_DIR/exports``, recorded in ``export_log``)

Bad input is a 400 with the reason (the same messages as the command line). The caller's scope
comes from the login (``caller(request)``: a session cookie, a bearer token, or the local command
line's token); no login → 401; a level outside the scope → 403.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.errors import EmwError

MIME = {
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
}


def weekly_file(
    client: Any, scope: Any, registry: Any, reports_dir: Path, params: dict[str, str], now: Any
) -> Path:
    from core.isoweek import IsoWeek
    from streams.report.cli import level_of
    from streams.report.generate import generate, parse_formats

    week = IsoWeek.parse(params["week"]) if params.get("week") else IsoWeek.last_full(now)
    level = level_of(params.get("jurisdiction", "zone"))
    (fmt,) = parse_formats(params.get("format", "pdf"))[:1]
    _, paths = generate(client, week, level, scope, registry, (fmt,), reports_dir, now)
    return paths[0]


def export_file(
    client: Any,
    scope: Any,
    registry: Any,
    exports_dir: Path,
    kind: str,
    params: dict[str, str],
    now: Any,
) -> Path:
    from streams.report.cli import level_of, period_of
    from streams.report.exports import EXPORT_FORMATS, EXPORT_KINDS, export

    if kind not in EXPORT_KINDS:
        raise EmwError(f"unknown export {kind!r}: expected one of {', '.join(EXPORT_KINDS)}")
    since, until = period_of(params.get("week"), params.get("since"), params.get("until"), now)
    level = level_of(params.get("jurisdiction", "zone"))
    fmt = params.get("format", "json")
    if fmt not in EXPORT_FORMATS:
        raise EmwError(f"unknown format {fmt!r}: expected csv or json")
    user = (params.get("user") or "").strip() or getattr(scope, "user", "")
    if not user:
        raise EmwError("user: who exports (a user name) is recorded in the export log")
    written = export(
        client, kind, since, until, level, scope, registry, (fmt,), exports_dir, user, now
    )
    return written[0][0]


def routes(
    reader: Callable[[], Any],
    registry: Any,
    data_dir: Path,
    caller: Callable[[Any], Any],
) -> list[Any]:
    """Starlette routes; ``reader()`` gives the warehouse client (the runner's reader),
    ``caller(request)`` the logged-in caller's scope or None."""
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from core.timeutil import utcnow
    from streams.warehouse.scope import OutOfScope

    def _file(path: Path) -> Response:
        return Response(
            path.read_bytes(),
            media_type=MIME[path.suffix.lstrip(".")],
            headers={"Content-Disposition": f'attachment; filename="{path.name}"'},
        )

    async def _answer(request: Request, fn: Callable[..., Path], *args: Any) -> Response:
        scope = caller(request)
        if scope is None:
            return JSONResponse({"error": "login required"}, status_code=401)
        try:
            path = await asyncio.to_thread(fn, reader(), scope, registry, *args, utcnow())
        except OutOfScope as exc:
            return JSONResponse({"error": str(exc)}, status_code=403)
        except (EmwError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return _file(path)

    async def weekly(request: Request) -> Response:
        return await _answer(request, weekly_file, data_dir / "reports", dict(request.query_params))

    async def exports(request: Request) -> Response:
        return await _answer(
            request,
            export_file,
            data_dir / "exports",
            request.path_params["kind"],
            dict(request.query_params),
        )

    return [
        Route("/api/v1/reports/weekly", weekly, methods=["GET"]),
        Route("/api/v1/exports/{kind}", exports, methods=["GET"]),
    ]

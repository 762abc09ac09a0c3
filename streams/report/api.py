"""HTTP endpoints of the weekly report and the partner exports on the dashboard port, served by the
embedded runner (which owns the chDB directory): ``emwatch report weekly`` and ``emwatch export``
go through them while the platform runs; partner systems fetch exports here.

- ``GET /api/v1/reports/weekly?week=2026-W49&jurisdiction=zone&format=pdf`` → the file (also kept
  in ``$EMW_DATA_DIR/reports``)
- ``GET /api/v1/exports/{referrals|credit}?week=…|since=…&until=…&jurisdiction=…&format=csv|json&user=…``
  → the file (kept in ``$EMW_DATA_DIR/exports``, recorded in ``export_log``)

Bad input is a 400 with the reason (the same messages as the command line). Until the access-control
issue adds login, the scope is zone-wide and the endpoints listen where the dashboards do
(127.0.0.1 by default).
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
    client: Any, registry: Any, reports_dir: Path, params: dict[str, str], now: Any
) -> Path:
    from core.isoweek import IsoWeek
    from streams.report.cli import level_of
    from streams.report.generate import generate, parse_formats
    from streams.warehouse.queries.report import ZONE_SCOPE

    week = IsoWeek.parse(params["week"]) if params.get("week") else IsoWeek.last_full(now)
    level = level_of(params.get("jurisdiction", "zone"))
    (fmt,) = parse_formats(params.get("format", "pdf"))[:1]
    _, paths = generate(client, week, level, ZONE_SCOPE, registry, (fmt,), reports_dir, now)
    return paths[0]


def export_file(
    client: Any, registry: Any, exports_dir: Path, kind: str, params: dict[str, str], now: Any
) -> Path:
    from streams.report.cli import level_of, period_of
    from streams.report.exports import EXPORT_FORMATS, EXPORT_KINDS, export
    from streams.warehouse.queries.report import ZONE_SCOPE

    if kind not in EXPORT_KINDS:
        raise EmwError(f"unknown export {kind!r}: expected one of {', '.join(EXPORT_KINDS)}")
    since, until = period_of(params.get("week"), params.get("since"), params.get("until"), now)
    level = level_of(params.get("jurisdiction", "zone"))
    fmt = params.get("format", "json")
    if fmt not in EXPORT_FORMATS:
        raise EmwError(f"unknown format {fmt!r}: expected csv or json")
    user = (params.get("user") or "").strip()
    if not user:
        raise EmwError("user: who exports (a user name) is recorded in the export log")
    written = export(
        client, kind, since, until, level, ZONE_SCOPE, registry, (fmt,), exports_dir, user, now
    )
    return written[0][0]


def routes(reader: Callable[[], Any], registry: Any, data_dir: Path) -> list[Any]:
    """Starlette routes; ``reader()`` gives the warehouse client (the runner's reader)."""
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from core.timeutil import utcnow

    def _file(path: Path) -> Response:
        return Response(
            path.read_bytes(),
            media_type=MIME[path.suffix.lstrip(".")],
            headers={"Content-Disposition": f'attachment; filename="{path.name}"'},
        )

    async def weekly(request: Request) -> Response:
        try:
            path = await asyncio.to_thread(
                weekly_file,
                reader(),
                registry,
                data_dir / "reports",
                dict(request.query_params),
                utcnow(),
            )
        except (EmwError, PermissionError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return _file(path)

    async def exports(request: Request) -> Response:
        kind = request.path_params["kind"]
        try:
            path = await asyncio.to_thread(
                export_file,
                reader(),
                registry,
                data_dir / "exports",
                kind,
                dict(request.query_params),
                utcnow(),
            )
        except (EmwError, PermissionError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return _file(path)

    return [
        Route("/api/v1/reports/weekly", weekly, methods=["GET"]),
        Route("/api/v1/exports/{kind}", exports, methods=["GET"]),
    ]

"""The embedded runner: ONE process owning the chDB warehouse, the gateways, simulators,
processors and the Streamlit dashboards.

A chDB data directory can be opened by one process only, so the dashboards run inside this
process: ``st.App(dashboards/app.py, lifespan=...)``. The lifespan opens the warehouse, migrates it,
starts the pipeline (in its own thread and event loop, so gateway IO never waits on page renders)
and, on shutdown (Ctrl-C / SIGTERM), stops the services and flushes the sink before exit.
``/api/status`` (JSON) lets another process see the platform without touching the data directory;
``/api/v1/`` (``streams.api``) serves vehicles, cases, actions and evidence the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import sys
import threading
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from core.events import Event
from core.gateway import new_event_loop
from core.registry import load_registry
from core.ruleset import load_ruleset
from streams.api import EnforcementService, routes
from streams.pipeline import Pipeline
from streams.settings import Settings
from streams.warehouse import shared
from streams.warehouse.client import WarehouseLocked, connect
from streams.warehouse.migrator import migrate

log = logging.getLogger("emwatch.runner")
APP_PATH = Path(__file__).resolve().parents[1] / "dashboards" / "app.py"


def open_warehouse(settings: Settings) -> tuple[Any, Any]:
    """(writer, reader) clients on the settings' warehouse, migrated. Clear error when locked."""
    writer = connect(settings.resolved_dsn, settings.warehouse_database)
    applied = migrate(writer, cluster=settings.warehouse_cluster or None)
    if applied:
        log.info("warehouse migrated: %s", ", ".join(applied))
    reader = connect(settings.resolved_dsn, settings.warehouse_database)
    return writer, reader


class PipelineThread:
    """Runs a ``Pipeline`` in its own thread and event loop; start/stop are blocking calls."""

    def __init__(self, pipeline: Pipeline, metrics_interval_s: float) -> None:
        self.pipeline = pipeline
        self.metrics_interval_s = metrics_interval_s
        self._loop = new_event_loop()  # uvloop where installed: the gateways' reads and writes
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="emw-pipeline", daemon=True
        )
        self._metrics_task: asyncio.Task[None] | None = None

    def start(
        self, timeout: float = 60.0, restore_timeout: float = 3600.0, report_s: float = 10.0
    ) -> dict[str, str]:
        """Start the pipeline; ``timeout`` bounds the start-up apart from the restore of the case
        processor's state from the warehouse (``Pipeline.restore_states``), which grows with the
        warehouse: that is bounded by ``restore_timeout`` instead, and logged every ``report_s``
        while it goes on. ``TimeoutError`` when either bound is passed."""
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        t0 = time.monotonic()
        while True:
            restoring = self.pipeline.restore_seconds()
            if restoring > restore_timeout:
                raise TimeoutError(f"restoring the case states took over {restore_timeout:.0f} s")
            left = t0 + timeout + restoring - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"the pipeline did not start within {timeout:.0f} s")
            try:
                return fut.result(min(left, report_s))
            except TimeoutError:
                if fut.done():  # the start-up itself failed so
                    raise
                if self.pipeline.restore_phase:
                    log.info(
                        "start-up: restoring the case processor's state for %.0f s (%s)",
                        self.pipeline.restore_seconds(),
                        self.pipeline.restore_phase,
                    )

    async def _start(self) -> dict[str, str]:
        await self.pipeline.start(with_services=True)
        self._metrics_task = asyncio.create_task(self._snapshot_loop())
        return self.pipeline.describe()

    async def _snapshot_loop(self) -> None:
        while True:
            await asyncio.sleep(self.metrics_interval_s)
            sink = self.pipeline.sink
            if sink is not None:
                st = sink.state()
                if not st.healthy or st.backpressure:
                    log.warning(
                        "warehouse not accepting writes: %d events buffered%s; last error: %s",
                        st.buffered,
                        " (backpressure: gateways stop acknowledging)" if st.backpressure else "",
                        st.last_error,
                    )
            try:
                await asyncio.to_thread(self.pipeline.snapshot_metrics)
            except Exception as exc:
                log.warning("could not write metrics snapshot: %s", exc)

    def publish(self, events: Sequence[Event], timeout: float = 10.0) -> None:
        """Publish from another thread (the API's handlers) on the pipeline's loop; blocks until the
        bus accepted the events."""
        fut = asyncio.run_coroutine_threadsafe(self.pipeline.publish(events), self._loop)
        fut.result(timeout)

    def stop(self, timeout: float = 60.0) -> None:
        async def _stop() -> None:
            if self._metrics_task is not None:
                self._metrics_task.cancel()
            await self.pipeline.stop()
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.pipeline.snapshot_metrics)

        fut = asyncio.run_coroutine_threadsafe(_stop(), self._loop)
        try:
            fut.result(timeout)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)


def banner(settings: Settings, where: dict[str, str]) -> str:
    lines = [
        "",
        "YRD Emissions Watch is running (embedded mode: in-process bus, chDB warehouse).",
        f"  Dashboards      http://{settings.host}:{settings.dashboard_port}/",
        f"  Status (JSON)   http://{settings.host}:{settings.dashboard_port}/api/status",
        f"  API (OpenAPI)   http://{settings.host}:{settings.dashboard_port}/api/v1/openapi.json",
    ]
    lines += [f"  {k:<15} {v}" for k, v in where.items()]
    lines += [
        f"  Data directory  {settings.data_dir.resolve()}",
        f"  Warehouse       {settings.masked_dsn} (database {settings.warehouse_database})",
        f"  Demo traffic    {'on (bundled simulators)' if settings.simulate else 'off'}",
        "  Stop            Ctrl-C (flushes everything to disk before exit)",
        "",
    ]
    return "\n".join(lines)


def _start_report_scheduler(settings: Settings, registry: Any) -> Any:
    """Every Monday, last week's weekly reports into ``$EMW_DATA_DIR/reports`` (own reader client;
    first check a minute after start so that start-up stays quick)."""
    if not settings.report_schedule:
        return None
    from streams.report.schedule import ReportScheduler

    client = connect(settings.resolved_dsn, settings.warehouse_database)
    sched = ReportScheduler(client, registry, settings.data_dir / "reports", initial_delay_s=60)
    sched.start()
    return sched


class _QuietCancelledLifespan(logging.Filter):
    """uvicorn logs the lifespan task's cancellation on Ctrl-C as an error although our lifespan
    has already shut down cleanly; drop exactly that record."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (
            str(record.msg).startswith("Exception in 'lifespan'")
            and isinstance(exc, asyncio.CancelledError | KeyboardInterrupt)
        )


def run_embedded(settings: Settings) -> int:
    import streamlit as st
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    ruleset = load_ruleset(settings.ruleset_dir)
    registry = load_registry(settings.registry_dir)
    state: dict[str, Any] = {}
    t0 = time.monotonic()
    try:
        writer, reader = open_warehouse(
            settings
        )  # before the server: a locked warehouse fails fast
    except WarehouseLocked as exc:
        print(f"emwatch run: {exc}", file=sys.stderr)
        return 2

    from streams.auth import service as auth_service
    from streams.auth.http import (
        ApiAuth,
        audited,
        new_cli_token,
        public_status,
        scope_of_for,
        zone_wide,
    )
    from streams.auth.users import ensure_first_admin
    from streams.warehouse.audit import Auditor

    auditor = Auditor(lambda: reader)  # small, rare inserts; the writer belongs to the sink
    auth = auth_service.AuthService(settings.data_dir, auditor, registry)
    env = {"EMW_ADMIN_USER": settings.admin_user}
    if settings.admin_password is not None:
        env["EMW_ADMIN_PASSWORD"] = settings.admin_password.get_secret_value()
    first_password = ensure_first_admin(auth.store, env)
    api_auth = ApiAuth(auth, new_cli_token(auth.store.auth_dir))
    auth.has_http_routes = True  # the login form may hand its session over as a cookie

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        shared.set_reader(reader)
        auth_service.set_service(auth)
        pipeline = Pipeline(
            writer,
            ruleset,
            registry,
            settings.data_dir,
            batch_size=settings.sink_batch_size,
            max_delay_s=settings.sink_max_delay_s,
            max_buffered=settings.sink_max_buffered,
            host=settings.host,
            ports=settings.ports(),
            simulate=settings.simulate,
            sim_scale=settings.sim_scale,
            wal_dir=settings.wal_dir,
            wal_fsync=settings.wal_fsync,
            wal_segment_bytes=settings.wal_segment_mb << 20,
        )
        runner = PipelineThread(pipeline, settings.metrics_interval_s)
        where = await asyncio.to_thread(runner.start)
        state["pipeline"] = pipeline
        shared.set_publisher(runner.publish)
        state["api"] = EnforcementService(
            connect(settings.resolved_dsn, settings.warehouse_database),
            lambda cmd: runner.publish([cmd]),
            ruleset,
            registry,
            settings.data_dir,
        )
        reports = _start_report_scheduler(settings, registry)
        if reports is not None:
            where["Weekly reports"] = str(reports.reports_dir.resolve())
        frozen = settle_heap()
        log.info("%d objects alive at start set aside from garbage collection", frozen)
        print(banner(settings, where), flush=True)
        print(login_hint(settings, first_password), flush=True)
        log.info("started in %.1f s; rule set %s", time.monotonic() - t0, ruleset.version)
        try:
            yield
        finally:
            print("Stopping: closing gateways, flushing the warehouse…", flush=True)
            shared.set_publisher(None)
            state.pop("api", None)
            if reports is not None:
                reports.stop()
            await asyncio.to_thread(runner.stop)
            shared.set_reader(None)
            auth_service.set_service(None)
            st_ = pipeline.sink.state() if pipeline.sink else None
            written = st_.written if st_ else 0
            print(f"Stopped. {written:,} events written this run.", flush=True)

    def _detail() -> dict[str, Any] | None:
        p: Pipeline | None = state.get("pipeline")
        if p is None or p.sink is None:
            return None
        sink = p.sink.state()
        return {
            "state": "running",
            "ruleset": ruleset.version,
            "services": p.describe(),
            "sink": sink.__dict__,
            "wal": p.wal.describe() if p.wal is not None else None,
            "metrics": [list(r) for r in p.metrics.snapshot()],
        }

    async def status(_request: Request) -> JSONResponse:
        """Public health check: running, sink healthy, counts by kind; names no device."""
        detail = _detail()
        if detail is None:
            return JSONResponse({"state": "starting"}, status_code=503)
        return JSONResponse(public_status(detail))

    async def status_detail(request: Request) -> JSONResponse:
        scope = api_auth.guard(request, zone_wide, "status.detail")
        if isinstance(scope, JSONResponse):
            return scope
        detail = _detail()
        if detail is None:
            return JSONResponse({"state": "starting"}, status_code=503)
        return JSONResponse(detail)

    async def deadletter_list(request: Request) -> JSONResponse:
        from streams.deadletter_cli import listing

        scope = api_auth.guard(request, zone_wide, "deadletter.list")
        if isinstance(scope, JSONResponse):
            return scope

        try:
            status_ = request.query_params.get("status", "open")
            limit = int(request.query_params.get("limit", "100"))
            if status_ not in ("open", "replayed", "all") or not 1 <= limit <= 100_000:
                raise ValueError
        except ValueError:
            return JSONResponse(
                {"error": "status must be open|replayed|all, limit 1..100000"}, status_code=400
            )
        rows = await asyncio.to_thread(listing, reader, status_, limit, scope)
        return JSONResponse({"dead_letters": rows})

    async def deadletter_replay(request: Request) -> JSONResponse:
        from streams.warehouse import deadletter

        scope = api_auth.guard(request, zone_wide, "deadletter.replay")
        if isinstance(scope, JSONResponse):
            return scope

        try:
            body = await request.json()
            ids = body.get("ids")
            if not (body.get("all") is True or (isinstance(ids, list) and ids)):
                raise ValueError
            if ids is not None and not all(isinstance(i, str) for i in ids):
                raise ValueError
        except (ValueError, AttributeError):
            return JSONResponse(
                {"error": 'body must be {"all": true} or {"ids": ["dl_id", ...]}'},
                status_code=400,
            )
        result = await asyncio.to_thread(
            deadletter.replay, writer, None if body.get("all") is True else ids
        )
        return JSONResponse(result.as_dict())

    from streams.report.api import routes as report_routes

    logging.getLogger("uvicorn.error").addFilter(_QuietCancelledLifespan())
    app = st.App(
        str(APP_PATH),
        lifespan=lifespan,
        routes=[
            Route("/api/status", status),
            Route("/api/status/detail", status_detail),
            *api_auth.routes(),
            Route("/api/deadletter", deadletter_list, methods=["GET"]),
            Route("/api/deadletter/replay", deadletter_replay, methods=["POST"]),
            *audited(
                [
                    *routes(lambda: state.get("api"), scope_of_for(api_auth)),
                    *report_routes(lambda: reader, registry, settings.data_dir, api_auth.caller),
                ],
                api_auth,
                _audited_action,
            ),
        ],
    )
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises SIGINT after a clean shutdown
        app.run(config=streamlit_options(settings))
    return 0


def streamlit_options(settings: Settings) -> dict[str, Any]:
    """Streamlit's options for the embedded server. ``runner.postScriptGC`` is off: Streamlit
    would otherwise run a full garbage collection after every page run, which walks every object
    of this process (the pipeline's rule and case states included, so it grows with the
    warehouse) while holding the interpreter lock, delaying the page and the gateways' answers.
    Python's own collector still runs, on its thresholds."""
    return {
        "server.port": settings.dashboard_port,
        "server.address": settings.host,
        "server.headless": True,
        "server.fileWatcherType": "none",
        "browser.gatherUsageStats": False,
        "client.toolbarMode": "viewer",
        "server.runOnSave": False,
        "runner.postScriptGC": False,
    }


def settle_heap() -> int:
    """Once started: collect, then move every object alive now (modules, registry, rule set, the
    states restored from the warehouse) out of the collector's sight (``gc.freeze``), so later
    full collections walk only what was made since. Frozen objects are still freed when no longer
    referenced. Returns how many objects were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def _audited_action(method: str, path: str) -> str | None:
    """Which API answers go to the audit trail: case actions, evidence exports, report
    downloads and partner exports."""
    if method == "POST" and path.endswith("/actions"):
        return "case_action"
    if path.endswith("/evidence") or path.endswith("/evidence/archive"):
        return "evidence_export"
    if path.startswith("/api/v1/reports/"):
        return "report_download"
    if path.startswith("/api/v1/exports/"):
        return "partner_export"
    return None


def login_hint(settings: Settings, first_password: str | None) -> str:
    """How to log in: the first administrator's random password, shown once, or where to look."""
    url = f"http://{settings.host}:{settings.dashboard_port}/"
    if first_password:
        return (
            f"  Log in          {url} as '{settings.admin_user}' with password {first_password}\n"
            "                  (shown this once: note it, then add accounts with "
            "`emwatch users add`)\n"
        )
    return (
        f"  Log in          {url} with your account (accounts: `emwatch users list`; "
        "forgotten admin password: `emwatch users add NAME --role admin`)\n"
    )


def status_json(settings: Settings, timeout: float = 2.0) -> dict[str, Any] | None:
    """The running platform's status, or None when nothing answers: the detailed one with the
    local command-line token (same data directory), else the public one."""
    import urllib.error
    import urllib.request

    from streams.auth.http import read_cli_token

    base = f"http://{settings.host}:{settings.dashboard_port}"
    token = read_cli_token(settings.data_dir)
    req = urllib.request.Request(f"{base}/api/status/detail" if token else f"{base}/api/status")
    if token:
        req.add_header("Authorization", f"Bearer cli:{token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # loopback only
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403) and token:  # a stale token from an earlier run
            try:
                with urllib.request.urlopen(f"{base}/api/status", timeout=timeout) as resp:
                    return json.loads(resp.read())
            except OSError:
                return None
        return None
    except OSError:
        return None

"""The embedded pipeline: sink + in-process bus + processors + source services, one event loop.

Used by the embedded runner (``emwatch run``), by gateway commands in embedded mode, and by
component tests (``Pipeline.for_tests``). Production replaces the bus by ``KafkaBus`` at the edge
and Faust workers for processors and storage; the services and processors are the same objects.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.credentials import DeviceCredentials
from core.events import Event
from core.metrics import Metrics
from core.processing import Context, Processor
from core.registry import Registry
from core.ruleset import RuleSet
from core.service import Service, ServiceContext
from streams import catalog
from streams.bus.inproc import InProcessBus
from streams.serde import fields_of
from streams.wal import WriteAheadLog
from streams.warehouse.sink import BatchingSink

log = logging.getLogger(__name__)


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """A warehouse row as the JSON shape ``serde.from_dict`` reads (ISO times, lists)."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, datetime):  # pandas Timestamps too; the warehouse returns naive UTC
            v = (v if v.tzinfo else v.replace(tzinfo=UTC)).isoformat()
        elif hasattr(v, "tolist"):
            v = v.tolist()
        out[k] = v
    return out


def _records(df: Any) -> list[dict[str, Any]]:
    """DataFrame rows with missing values (NaN, NA, NaT) as None, as events expect them."""
    return [
        {k: (None if not isinstance(v, list | tuple) and _missing(v) else v) for k, v in r.items()}
        for r in df.to_dict("records")
    ]


def _events(cls: type, df: Any) -> list[Any]:
    """One event of ``cls`` per DataFrame row, built column by column: the same events as
    ``serde.from_dict(cls, _plain(row))`` over ``_records(df)`` (missing values None, an array's
    missing value ``()``, times aware UTC) without a dict per row; for the many rows of a restore."""
    if df.empty:
        return []
    cols = [_column(spec.base is datetime, spec.array, df[spec.name]) for spec in fields_of(cls)]
    return list(map(cls, *cols))


def _column(is_time: bool, array: bool, s: Any) -> list[Any]:
    if is_time:
        if getattr(s.dt, "tz", None) is not None:
            s = s.dt.tz_convert("UTC").dt.tz_localize(None)
        times = s.to_numpy(dtype="datetime64[us]").tolist()  # NaT: None
        return [None if t is None else t.replace(tzinfo=UTC) for t in times]
    vals = s.tolist()
    if array:
        return [() if v is None else tuple(v.tolist() if hasattr(v, "tolist") else v) for v in vals]
    if s.isna().any():
        return [None if m else v for v, m in zip(vals, s.isna().tolist(), strict=True)]
    return vals


def _missing(v: Any) -> bool:
    try:
        return bool(v is None or v != v)  # NaN and NaT are not equal to themselves
    except (TypeError, ValueError):  # pd.NA and arrays refuse a truth value
        return v is not None and not hasattr(v, "__len__")


def memory_items(got: dict[str, Any], ctx: Context) -> list[Any]:
    """The inputs ``enforcement.processors.restore_memory`` replays, from ``memory_replay``'s
    frames: findings as their events (built column by column), RSD passes as what the replay
    reads of them (``PassSeen``: judged all at once), field checks as ``CheckResult``."""
    from enforcement.events import CaseFinding
    from enforcement.processors import CheckResult, passes_seen

    items: list[Any] = _events(CaseFinding, got["findings"])
    df = got["passes"]
    if not df.empty:
        cols = {str(c): df[c].tolist() for c in df.columns if c != "ts"}
        cols["ts"] = _column(True, False, df["ts"])
        items += passes_seen(cols, ctx)
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


@dataclass
class Pipeline:
    client: Any  # writer client
    ruleset: RuleSet
    registry: Registry
    data_dir: Path
    processors: Sequence[Processor] | None = None
    metrics: Metrics = field(default_factory=Metrics)
    batch_size: int = 50_000
    max_delay_s: float = 0.5
    max_buffered: int = 500_000
    host: str = "127.0.0.1"
    ports: dict[str, int] = field(default_factory=dict)
    simulate: bool = True
    sim_scale: float = 1.0
    credentials: DeviceCredentials | None = None  # default: registry + <data_dir>/auth store
    services: list[Service] = field(default_factory=list)
    bus: InProcessBus | None = None
    sink: BatchingSink | None = None
    wal_enabled: bool = True
    wal_dir: Path | None = None  # default: data_dir / "wal"
    wal_fsync: bool = True
    wal_segment_bytes: int = 16 << 20
    wal: WriteAheadLog | None = None
    # start-up restore (embedded): what it is doing ("" when not restoring) and since when (a
    # ``time.monotonic``), read by ``runner.PipelineThread.start`` from another thread
    restore_phase: str = ""
    restore_started: float | None = None
    restore_ended: float | None = None

    def restore_seconds(self) -> float:
        """Seconds spent restoring the case processor's state so far (0 before it started)."""
        if self.restore_started is None:
            return 0.0
        return (self.restore_ended or time.monotonic()) - self.restore_started

    async def start(self, with_services: bool = True, only: Sequence[str] | None = None) -> None:
        """Start the write-ahead log, sink and bus, replay what the log held (records acknowledged
        before a crash), then, if asked, every source service (or those named in ``only``)."""
        recovered = []
        if self.wal_enabled:
            self.wal = WriteAheadLog(
                self.wal_dir or self.data_dir / "wal",
                fsync=self.wal_fsync,
                segment_bytes=self.wal_segment_bytes,
            )
            recovered = await asyncio.to_thread(self.wal.open)
        self.sink = BatchingSink(
            self.client,
            batch_size=self.batch_size,
            max_delay_s=self.max_delay_s,
            max_buffered=self.max_buffered,
            on_written=lambda kind, n: self.metrics.inc("sink", "rows_written", n, {"kind": kind}),
            on_stored=self.wal.release if self.wal is not None else None,
        ).start()
        catalog.load_all()  # every plugin's parts import, or start-up fails here, naming the part
        procs = catalog.processors() if self.processors is None else self.processors
        self.bus = InProcessBus(
            self.sink,
            procs,
            Context(self.ruleset, self.registry),
            metrics=self.metrics,
            wal=self.wal,
        )
        await self.bus.start()
        self.restore_started, self.restore_phase = time.monotonic(), "starting"
        try:
            await asyncio.to_thread(self.restore_states)
        finally:
            self.restore_ended, self.restore_phase = time.monotonic(), ""
        if recovered:
            n = await self.bus.replay(recovered, catalog.classes_by_kind())
            log.info("replayed %d records from the write-ahead log", n)
        if with_services:
            await self.start_services(only)

    def restore_states(self) -> None:
        """Embedded: the case processor's state (open cases per subject) from the warehouse, so a
        restart neither forgets open cases nor reuses case ids. Production keeps it in Faust tables.
        Logs (INFO) how long it took and how much it restored."""
        from core.access import system_scope
        from enforcement.processors import restore
        from streams.warehouse.queries.enforcement import restore_rows

        assert self.bus is not None
        target = self.bus.states.get("enforcement.cases")
        if target is None:
            return
        t0 = time.perf_counter()
        log.info("restoring the case processor's state from the warehouse")
        self.restore_phase = "open cases"
        try:
            states, counts = restore_rows(self.client, system_scope("restore"))
        except Exception as exc:  # a warehouse without the enforcement tables: nothing to restore
            log.warning("case states not restored: %s", exc)
            return
        target.update(restore([json.loads(s) for s in states], counts))
        log.info(
            "%d open cases of %d subjects restored in %.1f s; replaying the cross-source memory",
            len(states),
            len(counts),
            time.perf_counter() - t0,
        )
        try:
            n = self.restore_memory(target)
            log.info(
                "cross-source memory restored from %d stored inputs; case processor state "
                "restored in %.1f s (%d subject keys)",
                n,
                time.perf_counter() - t0,
                len(target),
            )
        except Exception as exc:
            log.warning("cross-source memory not restored: %s", exc)
        smoke = self.bus.states.get("smoke.rules")
        if smoke is not None:
            self.restore_phase = "smoke review queue"
            from smoke_capture.events import SmokeCapture
            from smoke_capture.processors import restore as restore_smoke
            from streams.serde import from_dict
            from streams.warehouse.queries.enforcement import captures_awaiting_review

            try:
                df = captures_awaiting_review(self.client, system_scope("restore"))
                rows = [] if df.empty else df.to_dict("records")
                smoke.update(restore_smoke([from_dict(SmokeCapture, _plain(r)) for r in rows]))
            except Exception as exc:
                log.warning("smoke review queue not restored: %s", exc)

    def restore_memory(self, target: Any) -> int:
        """Embedded: the case processor's cross-source memory (repeat windows, recent proofs,
        clean passes, sightings, fleet marks), rebuilt by replaying what the warehouse holds of
        its inputs (``enforcement.processors.restore_memory``). Production: Faust tables."""
        from core.access import system_scope
        from enforcement.processors import restore_memory
        from streams.warehouse.queries.enforcement import memory_replay

        ctx = Context(self.ruleset, self.registry)
        self.restore_phase = "cross-source memory: reading stored inputs"
        got = memory_replay(self.client, system_scope("restore"))
        items = memory_items(got, ctx)
        self.restore_phase = f"cross-source memory: replaying {len(items):,} stored inputs"
        return restore_memory(target, items, ctx)

    @property
    def service_context(self) -> ServiceContext:
        assert self.bus is not None, "start() first"
        if self.credentials is None:
            self.credentials = DeviceCredentials.for_registry(self.registry, self.data_dir)
        return ServiceContext(
            publish=self.bus.publish,
            registry=self.registry,
            ruleset=self.ruleset,
            metrics=self.metrics,
            data_dir=self.data_dir,
            host=self.host,
            ports=dict(self.ports),
            simulate=self.simulate,
            sim_scale=self.sim_scale,
            credentials=self.credentials,
        )

    async def start_services(self, only: Sequence[str] | None = None) -> None:
        for mod in catalog.embedded_modules():
            short = mod.__name__.split(".")[0]
            if only is not None and short not in only:
                continue
            try:
                svc = await mod.start(self.service_context)
            except Exception:  # one source failing to start must not take the platform down
                log.exception("service %s failed to start", short)
                self.metrics.inc("runner", "service_start_failures", labels={"service": short})
                continue
            self.services.append(svc)
            log.info("started %s", getattr(svc, "name", short))

    async def publish(self, events: Sequence[Event]) -> None:
        assert self.bus is not None, "start() first"
        await self.bus.publish(events)

    async def settle(self) -> None:
        """Process everything queued and write it to the warehouse (tests, shutdown)."""
        assert self.bus is not None and self.sink is not None
        await self.bus.drain()
        await asyncio.to_thread(self.sink.flush)

    def snapshot_metrics(self) -> None:
        """Write the current metrics into ``platform_metric`` (through the writer client)."""
        rows = self.metrics.snapshot()
        if self.sink is not None:
            st = self.sink.state()
            rows += [
                ("sink", "buffered", "", float(st.buffered)),
                ("sink", "backpressure", "", float(st.backpressure)),
                ("sink", "failed_flushes", "", float(st.failed_flushes)),
                ("sink", "dead_lettered", "", float(st.dead_lettered)),
                ("sink", "healthy", "", float(st.healthy)),
            ]
        if self.wal is not None:
            ws = self.wal.stats
            rows += [
                ("wal", "pending_records", "", float(self.wal.pending_records())),
                ("wal", "fsyncs", "", float(ws.fsyncs)),
                ("wal", "last_fsync_ms", "", ws.last_fsync_ms),
                ("wal", "replayed_at_start", "", float(ws.replayed)),
            ]
        if not rows:
            return
        now = datetime.now(UTC)
        self.client.insert(
            "platform_metric",
            [[now, c, n, lk, float(v)] for c, n, lk, v in rows],
            column_names=["ts", "component", "name", "labels", "value"],
        )

    async def stop(self) -> None:
        for svc in reversed(self.services):
            try:
                await svc.stop()
            except Exception:
                log.exception("service %s failed to stop cleanly", getattr(svc, "name", svc))
        self.services.clear()
        if self.bus is not None:
            await self.bus.stop()
        if self.sink is not None:
            state = await asyncio.to_thread(self.sink.close)
            if state.buffered:
                log.error(
                    "%d events could not be written (kept in the write-ahead log: %s): %s",
                    state.buffered,
                    "yes" if self.wal is not None else "no",
                    state.last_error,
                )
        if self.wal is not None:
            await asyncio.to_thread(self.wal.close)

    def describe(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for svc in self.services:
            out.update(svc.describe())
        return out

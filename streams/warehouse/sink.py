"""Batching sink: events in, large infrequent column-oriented inserts out, backpressure, no drops.

- ``put``/``put_nowait`` add events to per-table buffers. When ``max_buffered`` events are waiting
  (e.g. the warehouse refuses writes), ``put`` blocks (async: awaits) instead of dropping: that is the
  backpressure the bus and gateways feel, and the runner reports it (``state()``).
- A flusher thread writes when a buffer reaches ``batch_size`` or its oldest event is ``max_delay_s``
  old: one insert per table per flush, plus one ``ingest_log`` row per (kind, jurisdiction).
- A failed insert keeps the batch and retries with back-off; ``close()`` flushes everything left
  (SIGINT/SIGTERM path) and reports what could not be written.
- Idempotence: events carry deterministic ids and tables are ReplacingMergeTree, so a replay after a
  crash between insert and acknowledgement is stored once (queries read with FINAL).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from streams import serde
from streams.catalog import table_of

log = logging.getLogger(__name__)


@dataclass
class SinkState:
    buffered: int
    written: int
    failed_flushes: int
    last_error: str
    backpressure: bool
    healthy: bool


class BatchingSink:
    def __init__(
        self,
        client: Any,
        batch_size: int = 50_000,
        max_delay_s: float = 0.5,
        max_buffered: int = 500_000,
        on_written: Callable[[str, int], None] | None = None,
        write_ingest_log: bool = True,
    ) -> None:
        self._client = client
        self.batch_size = batch_size
        self.max_delay_s = max_delay_s
        self.max_buffered = max_buffered
        self._on_written = on_written
        self._write_ingest_log = write_ingest_log
        self._buffers: dict[type, list[Any]] = {}
        self._first_at: dict[type, float] = {}
        self._buffered = 0
        self._written = 0
        self._failed = 0
        self._last_error = ""
        self._cond = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None
        self._flush_lock = threading.Lock()

    # ---- producer side ----
    def put_nowait(self, events: Iterable[Any]) -> bool:
        """Add events if there is room; False means 'full, retry later' (nothing was added)."""
        evs = list(events)
        if not evs:
            return True
        with self._cond:
            if self._closing:
                raise RuntimeError("sink is closed")
            if self._buffered + len(evs) > self.max_buffered and self._buffered > 0:
                return False
            self._add_locked(evs)
            return True

    def put(self, events: Iterable[Any], timeout: float | None = None) -> None:
        """Add events, blocking while the buffer is full (backpressure)."""
        evs = list(events)
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._buffered + len(evs) > self.max_buffered and self._buffered > 0:
                if self._closing:
                    raise RuntimeError("sink is closed")
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError("sink full: warehouse not accepting writes")
                self._cond.notify_all()
                self._cond.wait(remaining if remaining is not None else 0.5)
            self._add_locked(evs)

    async def aput(self, events: Iterable[Any]) -> None:
        evs = list(events)
        delay = 0.001
        while not self.put_nowait(evs):
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)

    def _add_locked(self, evs: list[Any]) -> None:
        now = time.monotonic()
        for e in evs:
            cls = type(e)
            buf = self._buffers.get(cls)
            if buf is None:
                buf = self._buffers[cls] = []
            if not buf:
                self._first_at[cls] = now
            buf.append(e)
        self._buffered += len(evs)
        if self._buffered >= self.batch_size:
            self._cond.notify_all()

    # ---- flushing ----
    def start(self) -> BatchingSink:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="emw-sink", daemon=True)
            self._thread.start()
        return self

    def _due(self) -> bool:
        if self._buffered >= self.batch_size:
            return True
        now = time.monotonic()
        return any(
            buf and now - self._first_at[cls] >= self.max_delay_s
            for cls, buf in self._buffers.items()
        )

    def _run(self) -> None:
        backoff = 0.2
        while True:
            with self._cond:
                while not self._closing and not self._due():
                    self._cond.wait(self.max_delay_s / 2)
                if self._closing:
                    return
            if self.flush():
                backoff = 0.2
            else:
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    def flush(self) -> bool:
        """Write every buffered event now. Returns False if some table failed (kept for retry)."""
        with self._flush_lock:
            with self._cond:
                batches = {cls: buf for cls, buf in self._buffers.items() if buf}
                for cls in batches:
                    self._buffers[cls] = []
            ok = True
            for cls, evs in batches.items():
                try:
                    self._insert(cls, evs)
                except Exception as exc:  # warehouse refused: keep the batch, report, retry later
                    ok = False
                    self._failed += 1
                    self._last_error = f"{table_of(cls.KIND)}: {exc}"[:500]
                    log.warning(
                        "sink: insert into %s failed, will retry: %s", table_of(cls.KIND), exc
                    )
                    with self._cond:
                        self._buffers[cls] = evs + self._buffers.get(cls, [])
                        self._first_at[cls] = time.monotonic()
                    continue
                with self._cond:
                    self._buffered -= len(evs)
                    self._written += len(evs)
                    self._cond.notify_all()
                if self._on_written:
                    self._on_written(cls.KIND, len(evs))
            if ok:
                self._last_error = ""
            return ok

    def _insert(self, cls: type, evs: list[Any]) -> None:
        table = table_of(cls.KIND)
        self._client.insert_arrow(table, serde.to_arrow(evs))
        if self._write_ingest_log:
            counts = Counter(getattr(e, "jurisdiction", "") or "unknown" for e in evs)
            now = datetime.now(UTC)
            rows = [[now, cls.KIND, j, n] for j, n in counts.items()]
            self._client.insert(
                "ingest_log", rows, column_names=["ts", "kind", "jurisdiction", "rows"]
            )

    def write_arrow(self, kind: str, table: Any, jurisdiction: str = "unknown") -> None:
        """Bulk path: insert an already columnar batch (replays, back-fills, analyst loads).

        The caller guarantees the columns follow the event type's contract; the insert is
        synchronous and raises on failure (nothing is buffered, nothing is lost silently).
        """
        self._client.insert_arrow(table_of(kind), table)
        if self._write_ingest_log:
            self._client.insert(
                "ingest_log",
                [[datetime.now(UTC), kind, jurisdiction, table.num_rows]],
                column_names=["ts", "kind", "jurisdiction", "rows"],
            )
        with self._cond:
            self._written += table.num_rows
        if self._on_written:
            self._on_written(kind, table.num_rows)

    def close(self, timeout: float = 30.0) -> SinkState:
        """Stop the flusher and write everything left; retries until ``timeout``."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
        deadline = time.monotonic() + timeout
        while self._buffered and not self.flush() and time.monotonic() < deadline:
            time.sleep(0.2)
        state = self.state()
        if state.buffered:
            log.error("sink closed with %d events unwritten: %s", state.buffered, state.last_error)
        return state

    def state(self) -> SinkState:
        return SinkState(
            buffered=self._buffered,
            written=self._written,
            failed_flushes=self._failed,
            last_error=self._last_error,
            backpressure=self._buffered >= self.max_buffered,
            healthy=not self._last_error,
        )

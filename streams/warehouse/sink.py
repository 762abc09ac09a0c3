"""Batching sink: events in, large infrequent column-oriented inserts out, backpressure, no drops.

- ``put``/``put_nowait`` add events to per-table buffers. When ``max_buffered`` events are waiting
  (e.g. the warehouse refuses writes), ``put`` blocks (async: awaits) instead of dropping: that is the
  backpressure the bus and gateways feel, and the runner reports it (``state()``).
- A flusher thread writes when a buffer reaches ``batch_size`` rows or its oldest event is
  ``max_delay_s`` old: one insert per table per flush. Columnar batches (``serde.is_columnar``, e.g.
  one OBD frame's records) count as their rows and go into the insert column by column, with
  no object per row. Rows stored are counted per (kind, jurisdiction) in memory and written to
  ``ingest_log`` at most every ``ingest_log_every_s`` and at ``close()`` (one insert for all
  kinds; best effort: a failed ``ingest_log`` insert is logged, never retried into a duplicate):
  a one-row insert after every flush cost nearly as much as the data.
- **Poison is isolated at the row.** A batch that cannot be converted (``serde.to_arrow``) or that
  the warehouse refuses while it answers (``EXISTS TABLE`` succeeds) is split in halves, again and
  again, down to the single record (a columnar batch down to its single row); every part that stores is stored, and each record that still
  fails becomes a dead letter (``streams.warehouse.deadletter``: raw bytes, stage, kind, device,
  reason, time) in the ``dead_letter`` table, counted in ``state().dead_lettered``. A record with
  one poison row among 50,000 costs about 2·log2(50,000) ≈ 32 extra inserts, once.
- **An outage is not poison.** When the error is a transport one (connection, timeout,
  ``OperationalError``) or the probe fails (warehouse down, table missing), the batch is kept and
  retried with back-off; ``state().healthy`` is false only while something is stuck, and
  turns true again with the first flush that stores everything.
- ``close()`` flushes everything left (SIGINT/SIGTERM path) and reports what could not be written.
- Idempotence: events carry deterministic ids and tables are ReplacingMergeTree, so a replay after a
  crash between insert and acknowledgement is stored once (queries read with FINAL).
- Tags: ``put(events, tag=n)`` marks events with an integer (the write-ahead log's segment);
  ``on_stored({tag: count})`` is called once they are stored or dead-lettered, so the log knows
  what the warehouse has.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.events import Event
from streams import serde
from streams.catalog import table_of
from streams.warehouse import deadletter
from streams.warehouse.deadletter import DeadLetter

log = logging.getLogger(__name__)


class _Split:
    """The tag of an event split into parts (a columnar batch bisected down to a poison row):
    the event counts as stored when every part is stored or dead-lettered."""

    __slots__ = ("left", "tag")

    def __init__(self, tag: Tag, parts: int) -> None:
        self.tag = tag
        self.left = parts


Tag = int | _Split | None


def _rows(e: Any) -> int:
    """Rows an event stands for: a columnar batch's records, else 1."""
    return len(e) if serde.is_columnar(type(e)) else 1


@dataclass
class SinkState:
    buffered: int
    written: int
    failed_flushes: int
    last_error: str
    backpressure: bool
    healthy: bool
    dead_lettered: int = 0


def _transient(exc: BaseException) -> bool:
    """A refusal that says nothing about the rows: connection lost, timeout, server unavailable."""
    from clickhouse_connect.driver.exceptions import OperationalError, StreamFailureError

    return isinstance(exc, OSError | TimeoutError | OperationalError | StreamFailureError)


class BatchingSink:
    def __init__(
        self,
        client: Any,
        batch_size: int = 50_000,
        max_delay_s: float = 0.5,
        max_buffered: int = 500_000,
        on_written: Callable[[str, int], None] | None = None,
        write_ingest_log: bool = True,
        on_stored: Callable[[Mapping[int, int]], None] | None = None,
        on_dead_letter: Callable[[DeadLetter], None] | None = None,
        ingest_log_every_s: float = 5.0,
    ) -> None:
        self._client = client
        self.batch_size = batch_size
        self.max_delay_s = max_delay_s
        self.max_buffered = max_buffered
        self._on_written = on_written
        self._on_stored = on_stored
        self._on_dead_letter = on_dead_letter
        self._write_ingest_log = write_ingest_log
        self.ingest_log_every_s = ingest_log_every_s
        self._ingest: Counter[tuple[str, str]] = Counter()  # (kind, jurisdiction) -> rows
        self._ingest_at = -float("inf")  # the first flush writes at once, later ones at most
        self._ingest_lock = threading.Lock()  # every ``ingest_log_every_s``
        self._buffers: dict[type, list[Any]] = {}
        self._tags: dict[type, list[Tag]] = {}
        self._first_at: dict[type, float] = {}
        self._letters: list[tuple[DeadLetter, Tag]] = []
        self._buffered = 0
        self._written = 0
        self._dead = 0
        self._failed = 0
        self._last_error = ""
        self._cond = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None
        self._flush_lock = threading.Lock()

    # ---- producer side ----
    def put_nowait(self, events: Iterable[Any], tag: Tag = None) -> bool:
        """Add events if there is room; False means 'full, retry later' (nothing was added)."""
        evs = list(events)
        if not evs:
            return True
        n = sum(map(_rows, evs))
        with self._cond:
            if self._closing:
                raise RuntimeError("sink is closed")
            if self._buffered + n > self.max_buffered and self._buffered > 0:
                return False
            self._add_locked(evs, tag)
            return True

    def put(self, events: Iterable[Any], timeout: float | None = None, tag: Tag = None) -> None:
        """Add events, blocking while the buffer is full (backpressure)."""
        evs = list(events)
        n = sum(map(_rows, evs))
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._buffered + n > self.max_buffered and self._buffered > 0:
                if self._closing:
                    raise RuntimeError("sink is closed")
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError("sink full: warehouse not accepting writes")
                self._cond.notify_all()
                self._cond.wait(remaining if remaining is not None else 0.5)
            self._add_locked(evs, tag)

    async def aput(self, events: Iterable[Any], tag: Tag = None) -> None:
        evs = list(events)
        delay = 0.001
        while not self.put_nowait(evs, tag):
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)

    def dead_letter(self, letters: Sequence[DeadLetter], tags: Sequence[Tag] | None = None) -> None:
        """Queue dead letters made elsewhere (e.g. a record the WAL could not serialise)."""
        if not letters:
            return
        tg: Sequence[Tag] = tags if tags is not None else [None] * len(letters)
        with self._cond:
            self._letters.extend(zip(letters, tg, strict=True))
            self._buffered += len(letters)
            self._cond.notify_all()

    def _add_locked(self, evs: list[Any], tag: Tag) -> None:
        now = time.monotonic()
        n = 0
        is_columnar = serde.is_columnar
        for e in evs:
            cls = type(e)
            n += len(e) if is_columnar(cls) else 1
            buf = self._buffers.get(cls)
            if buf is None:
                buf = self._buffers[cls] = []
                self._tags[cls] = []
            if not buf:
                self._first_at[cls] = now
            buf.append(e)
            self._tags[cls].append(tag)
        self._buffered += n
        if self._buffered >= self.batch_size:
            self._cond.notify_all()

    # ---- flushing ----
    def start(self) -> BatchingSink:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="emw-sink", daemon=True)
            self._thread.start()
        return self

    def _due(self) -> bool:
        if self._buffered >= self.batch_size or self._letters:
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
        """Write every buffered event now. Returns False if something is kept for a retry
        (warehouse not answering); poison records are dead-lettered, not kept."""
        with self._flush_lock:
            with self._cond:
                batches = {cls: (buf, self._tags[cls]) for cls, buf in self._buffers.items() if buf}
                for cls in batches:
                    self._buffers[cls] = []
                    self._tags[cls] = []
            ok = True
            for cls, (evs, tags) in batches.items():
                left_e, left_t = self._write_isolating(cls, evs, tags)
                if left_e:
                    ok = False
                    with self._cond:
                        self._buffers[cls] = left_e + self._buffers.get(cls, [])
                        self._tags[cls] = left_t + self._tags.get(cls, [])
                        self._first_at[cls] = time.monotonic()
            if not self._write_letters():
                ok = False
            if ok:
                self._last_error = ""
            self._log_ingest(force=False)
            return ok

    def _write_isolating(
        self, cls: type[Event], evs: list[Any], tags: list[Tag]
    ) -> tuple[list[Any], list[Tag]]:
        """Store ``evs``, bisecting failing parts down to the record; return what an outage left."""
        stack: list[tuple[list[Any], list[Tag]]] = [(evs, tags)]
        table = table_of(cls.KIND)
        while stack:
            part, ptags = stack.pop()
            stage = "serialise"
            try:
                data = serde.to_arrow(part)
                stage = "insert"
                self._client.insert_arrow(table, data)
            except Exception as exc:
                if stage == "insert" and (_transient(exc) or not self._answers(table)):
                    self._failed += 1
                    self._last_error = f"{table}: {exc}"[:500]
                    log.warning("sink: insert into %s failed, will retry: %s", table, exc)
                    left_e, left_t = list(part), list(ptags)
                    for e, t in reversed(stack):
                        left_e += e
                        left_t += t
                    return left_e, left_t
                if len(part) == 1 and _rows(part[0]) > 1:  # a columnar batch: down to its rows
                    ev, split = part[0], _Split(ptags[0], 2)
                    mid = len(ev) // 2
                    stack.append(([ev.slice(mid, len(ev))], [split]))
                    stack.append(([ev.slice(0, mid)], [split]))
                    continue
                if len(part) == 1:
                    letter = deadletter.of_event(part[0], stage, f"{type(exc).__name__}: {exc}")
                    log.warning(
                        "sink: %s %s from device %r dead-lettered (%s): %s",
                        letter.kind,
                        letter.event_id,
                        letter.device_id,
                        stage,
                        letter.reason,
                    )
                    with self._cond:
                        self._letters.append((letter, ptags[0]))
                    continue
                mid = len(part) // 2
                stack.append((part[mid:], ptags[mid:]))
                stack.append((part[:mid], ptags[:mid]))
                continue
            self._after_insert(cls, part, ptags)
        return [], []

    def _answers(self, table: str) -> bool:
        """True when the warehouse answers and ``table`` exists (a refusal is then the data's)."""
        try:
            return bool(int(self._client.command(f"EXISTS TABLE {table}")))
        except Exception:
            return False

    def _after_insert(self, cls: type[Event], evs: list[Any], tags: list[Tag]) -> None:
        columnar = serde.is_columnar(cls)  # one class per call: rows = its batches' lengths
        if self._write_ingest_log:
            counts: Counter[tuple[str, str]] = Counter()
            kind = cls.KIND
            for e in evs:
                counts[(kind, getattr(e, "jurisdiction", "") or "unknown")] += (
                    len(e) if columnar else 1
                )
            n = sum(counts.values())
            with self._ingest_lock:
                self._ingest.update(counts)
        else:
            n = sum(map(len, evs)) if columnar else len(evs)
        with self._cond:
            self._buffered -= n
            self._written += n
            self._cond.notify_all()
        self._stored(tags)
        if self._on_written:
            self._on_written(cls.KIND, n)

    def _log_ingest(self, force: bool) -> None:
        """Write the rows counted since the last write to ``ingest_log`` (one insert)."""
        if not self._write_ingest_log:
            return
        with self._ingest_lock:
            if not self._ingest or (
                not force and time.monotonic() - self._ingest_at < self.ingest_log_every_s
            ):
                return
            counts, self._ingest = self._ingest, Counter()
            self._ingest_at = time.monotonic()
        now = datetime.now(UTC)
        rows = [[now, kind, j, n] for (kind, j), n in sorted(counts.items())]
        try:
            self._client.insert(
                "ingest_log", rows, column_names=["ts", "kind", "jurisdiction", "rows"]
            )
        except Exception as exc:  # a counter, not data: never re-insert the rows for it
            log.warning("sink: %d ingest_log rows not written: %s", len(rows), exc)

    def _write_letters(self) -> bool:
        with self._cond:
            letters, self._letters = self._letters, []
        if not letters:
            return True
        try:
            deadletter.insert(self._client, [d for d, _ in letters])
        except Exception as exc:
            self._failed += 1
            self._last_error = f"dead_letter: {exc}"[:500]
            log.warning("sink: %d dead letters not written, will retry: %s", len(letters), exc)
            with self._cond:
                self._letters = letters + self._letters
            return False
        with self._cond:
            self._buffered -= len(letters)
            self._dead += len(letters)
            self._cond.notify_all()
        self._stored([t for _, t in letters])
        if self._on_dead_letter:
            for d, _ in letters:
                self._on_dead_letter(d)
        return True

    def _stored(self, tags: Iterable[Tag]) -> None:
        if self._on_stored is None:
            return
        counts: Counter[int] = Counter()
        for t in tags:
            while isinstance(t, _Split):  # a part of a split event: the last part counts it
                t.left -= 1
                if t.left:
                    break
                t = t.tag
            if isinstance(t, int):
                counts[t] += 1
        if counts:
            self._on_stored(counts)

    def write_arrow(self, kind: str, table: Any, jurisdiction: str = "unknown") -> None:
        """Bulk path: insert an already columnar batch (replays, back-fills, analyst loads).

        The caller guarantees the columns follow the event type's contract; the insert is
        synchronous and raises on failure (nothing is buffered, nothing is lost silently).
        """
        self._client.insert_arrow(table_of(kind), table)
        if self._write_ingest_log:
            with self._ingest_lock:
                self._ingest[(kind, jurisdiction)] += table.num_rows
            self._log_ingest(force=False)
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
        self._log_ingest(force=True)
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
            dead_lettered=self._dead,
        )

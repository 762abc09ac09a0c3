"""Write-ahead log of the embedded bus: an acknowledged record is on disk (fsynced) before the
gateway answers the device, and reaches the warehouse even if the process dies right after.

Where it sits: ``InProcessBus.publish`` → ``WriteAheadLog.write`` (returns once the records are
fsynced) → batching sink → warehouse. The sink reports what it stored (or dead-lettered) per
segment (``release``); a closed segment whose records are all stored and processed is deleted. At
start, ``open()`` returns what the segments still hold; the pipeline replays it into the sink and
the processors before any gateway listens. Replays are harmless: every event has a deterministic
``event_id``, the tables are ReplacingMergeTree keyed on it, and queries read with FINAL.

Record format: segment files ``wal-<n:016d>.log``, each starting with the 8-byte magic
``EMWWAL1\\n``, then records framed as ``u32 length | u32 CRC-32 of the payload | payload``
(little-endian). The payload is the event's bus form (``serde.encode``: JSON, or a columnar
batch's binary form; the same bytes the Kafka path carries, self-describing through its ``kind``), or a dead letter (``kind`` ``__dead_letter__``)
for a record that could not be serialised. Why this format:

- **Length + CRC framing** makes the only damage a crash can do, a torn record at the tail of the
  last segment, detectable: recovery stops at the first record whose length runs past the end of
  the file or whose CRC does not match. Such a record was never acknowledged (acks wait for the
  fsync that covers it). CRC-32 (``zlib.crc32``, C speed) is enough to catch torn and zero-filled
  tails; it is not a defence against tampering.
- **Segment files instead of one file truncated in place**: deleting a whole file once the
  warehouse has all its records is one ``unlink``, needs no rewriting or compaction, and the file
  of the segment being written is never touched by cleanup. Segments rotate at
  ``segment_bytes`` and after ``rotate_s`` seconds, so at steady state the log holds only the last
  few seconds of traffic and a restart replays about that much.
- **Bus-form payloads** (JSON, or a columnar batch's compact binary form): one serialiser for the
  bus, the WAL and dead letters; a dead letter's raw bytes are exactly what was in the log.

Group commit: ``write`` queues the framed bytes and waits on a future; one committer thread writes
everything queued, calls ``fdatasync`` once, then resolves every waiting future. While one fsync
runs the next group gathers, so the number of fsyncs follows the disk, not the publish rate (no
fixed window: a group is whatever arrived during the previous fsync). With ``fsync=False``
(``EMW_WAL_FSYNC=false``) records survive the death of the process (page cache) but not a power
loss.

What stays off the acks' path: a rotation finds its next segment already created by a side thread
(``emw-wal-prep``: the file, its header and its directory entry synced), so the group that rotates
pays one ``fdatasync`` like any other instead of three; a closed segment is not synced again (every
group was); the event loop only frames the records and appends them to the queue under a lock
that the committer never holds across a system call.

Ordering rule that makes deletion safe: processor outputs are written without waiting (``durable=
False``) before the processing hold on their input is released, and a segment is deleted only if it
was fully released before the committer took the group it has just fsynced. So an input leaves the
log only after its outputs are on disk in a later (or the same) segment.

Known limits: a corrupt record in the middle of a segment (disk damage, not a crash) ends recovery
of that segment at that point, logged with the number of bytes skipped; processor state (windows,
counters) is in memory and not in the log, so replayed records are processed with the state rebuilt
so far.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import struct
import threading
import time
import zlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import EmwError

log = logging.getLogger(__name__)

MAGIC = b"EMWWAL1\n"
FRAME = struct.Struct("<II")  # payload length, CRC-32 of the payload
MAX_RECORD = 64 << 20  # a length field above this is damage, not a record


class WalError(EmwError, OSError):
    """The log could not be written (disk full, I/O error): nothing was acknowledged."""


@dataclass(frozen=True, slots=True)
class Recovered:
    segment: int
    payloads: list[bytes]
    skipped_bytes: int = 0  # torn or damaged tail


@dataclass
class WalStats:
    records: int = 0
    bytes: int = 0
    fsyncs: int = 0
    groups: int = 0
    max_group: int = 0
    last_fsync_ms: float = 0.0
    max_fsync_ms: float = 0.0
    segments_deleted: int = 0
    segments_made_ahead: int = 0  # rotations that found their segment file ready
    replayed: int = 0
    skipped_bytes: int = 0


def segment_name(n: int) -> str:
    return f"wal-{n:016d}.log"


def frame(payload: bytes) -> bytes:
    return FRAME.pack(len(payload), zlib.crc32(payload)) + payload


def read_segment(path: Path) -> tuple[list[bytes], int]:
    """The valid records of one segment and the number of bytes after the last valid one."""
    data = path.read_bytes()
    if not data.startswith(MAGIC):
        return [], len(data)  # created, header not yet on disk: nothing was acknowledged in it
    out: list[bytes] = []
    off = len(MAGIC)
    while off + FRAME.size <= len(data):
        length, crc = FRAME.unpack_from(data, off)
        end = off + FRAME.size + length
        if length > MAX_RECORD or end > len(data):
            break
        payload = data[off + FRAME.size : end]
        if zlib.crc32(payload) != crc:
            break
        out.append(payload)
        off = end
    return out, len(data) - off


class WriteAheadLog:
    def __init__(
        self,
        directory: Path,
        *,
        fsync: bool = True,
        segment_bytes: int = 16 << 20,
        rotate_s: float = 5.0,
        reap_interval_s: float = 10.0,
    ) -> None:
        if segment_bytes < 4096:
            raise ValueError(f"segment_bytes={segment_bytes} B: expected >= 4096 B")
        self.directory = Path(directory)
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        self.rotate_s = rotate_s
        self.reap_interval_s = reap_interval_s
        self.stats = WalStats()
        self._cond = threading.Condition()
        self._pending: list[tuple[int, bytes, Any, Any]] = []  # (segment, data, future, loop)
        self._refs: dict[int, int] = defaultdict(int)
        self._cur = 0  # segment new records go to
        self._cur_bytes = 0
        self._cur_started = 0.0
        self._closed_upto = 0  # every segment below this number is closed and synced
        self._fd: int | None = None
        self._fd_seg = -1
        self._dirty = False  # bytes written to ``_fd`` since its last fdatasync
        self._spare: tuple[int, int] | None = None  # (segment, fd): created, header synced
        self._spare_lock = threading.Lock()
        self._spare_thread: threading.Thread | None = None
        self._closing = False
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._reap_q: queue.SimpleQueue[list[int] | None] = queue.SimpleQueue()
        self._reaper: threading.Thread | None = None
        self._reap_stop = threading.Event()

    # ---- start-up ----
    def open(self) -> list[Recovered]:
        """Read what the segments hold (oldest first), then start the committer."""
        self.directory.mkdir(parents=True, exist_ok=True)
        found: list[Recovered] = []
        last = -1
        for path in sorted(self.directory.glob("wal-*.log")):
            try:
                n = int(path.stem.split("-")[1])
            except (IndexError, ValueError):
                continue
            last = max(last, n)
            payloads, skipped = read_segment(path)
            if skipped:
                log.warning(
                    "wal: %s: %d bytes after the last valid record skipped (torn tail)",
                    path.name,
                    skipped,
                )
            if not payloads:
                path.unlink()
                continue
            found.append(Recovered(n, payloads, skipped))
            self._refs[n] = len(payloads)
            self.stats.replayed += len(payloads)
            self.stats.skipped_bytes += skipped
        self._cur = last + 1
        self._closed_upto = self._cur
        self._cur_started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="emw-wal", daemon=True)
        self._thread.start()
        self._reaper = threading.Thread(target=self._reap, name="emw-wal-reaper", daemon=True)
        self._reaper.start()
        if found:
            log.info("wal: %d records in %d segments to replay", self.stats.replayed, len(found))
        return found

    # ---- writers ----
    async def write(
        self, payloads: Sequence[bytes], extra_refs: int = 0, durable: bool = True
    ) -> int:
        """Append ``payloads``; with ``durable`` return once they are fsynced. Returns the segment
        (to ``release`` later: one per payload plus ``extra_refs``)."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future() if durable else None
        seg = self._enqueue(payloads, extra_refs, fut, loop)
        if fut is not None:
            await fut
        return seg

    def _enqueue(self, payloads: Sequence[bytes], extra_refs: int, fut: Any, loop: Any) -> int:
        data = b"".join(frame(p) for p in payloads)
        with self._cond:
            if self._closing or self._thread is None:
                raise WalError("write-ahead log is not open")
            if self._error is not None:
                raise WalError(f"write-ahead log failed: {self._error}")
            now = time.monotonic()
            if self._cur_bytes and (
                self._cur_bytes + len(data) > self.segment_bytes
                or now - self._cur_started >= self.rotate_s
            ):
                self._cur += 1
                self._cur_bytes = 0
            if not self._cur_bytes:
                self._cur_started = now
            seg = self._cur
            self._refs[seg] += len(payloads) + extra_refs
            self._cur_bytes += len(data)
            self._pending.append((seg, data, fut, loop))
            self.stats.records += len(payloads)
            self.stats.bytes += len(data)
            self._cond.notify()
        return seg

    def hold(self, segment: int, n: int) -> None:
        """Keep ``segment`` ``n`` more releases (records replayed at start awaiting processing)."""
        if n:
            with self._cond:
                self._refs[segment] += n

    def release(self, counts: Mapping[int, int]) -> None:
        """``counts[segment]`` records of that segment are stored (or processed)."""
        with self._cond:
            for seg, n in counts.items():
                if seg in self._refs:
                    self._refs[seg] -= n

    def pending_records(self) -> int:
        with self._cond:
            return sum(max(0, v) for v in self._refs.values())

    def segments(self) -> list[str]:
        """The segment files holding records (not the empty spare made ahead of rotation)."""
        with self._spare_lock:
            spare = segment_name(self._spare[0]) if self._spare is not None else None
        return sorted(p.name for p in self.directory.glob("wal-*.log") if p.name != spare)

    # ---- committer ----
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait(max(0.05, self.rotate_s / 2))
                    if not self._pending:
                        self._rotate_idle_locked()
                        break
                batch, self._pending = self._pending, []
                releasable = {s for s, r in self._refs.items() if r <= 0}
                closing = self._closing
            if batch:
                self._commit(batch)
            self._cleanup(releasable)
            if closing and not batch:
                return

    def _rotate_idle_locked(self) -> None:
        if self._cur_bytes and time.monotonic() - self._cur_started >= self.rotate_s:
            self._cur += 1
            self._cur_bytes = 0
        if self._fd is not None and self._fd_seg < self._cur:
            self._close_fd()  # under the lock: only a close, its records are synced already
            self._closed_upto = self._cur

    def _commit(self, batch: list[tuple[int, bytes, Any, Any]]) -> None:
        t = time.perf_counter()
        error: BaseException | None = None
        try:
            for seg, data, _f, _l in batch:
                if seg != self._fd_seg:
                    self._switch(seg)
                assert self._fd is not None
                view = memoryview(data)
                self._dirty = True
                while view:
                    view = view[os.write(self._fd, view) :]
            if self.fsync and self._fd is not None:
                os.fdatasync(self._fd)
                self._dirty = False
        except OSError as exc:
            error = exc
            log.error("wal: write failed, nothing of this group acknowledged: %s", exc)
            with self._cond:
                self._error = exc
        self.stats.fsyncs += 1
        self.stats.groups += 1
        self.stats.max_group = max(self.stats.max_group, len(batch))
        self.stats.last_fsync_ms = (time.perf_counter() - t) * 1000
        self.stats.max_fsync_ms = max(self.stats.max_fsync_ms, self.stats.last_fsync_ms)
        by_loop: dict[Any, list[Any]] = defaultdict(list)
        for _s, _d, fut, loop in batch:
            if fut is not None:
                by_loop[loop].append(fut)
        for loop, futs in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                loop.call_soon_threadsafe(_resolve_all, futs, error)

    def _switch(self, seg: int) -> None:
        self._close_fd()
        if self._spare_thread is not None:
            # still making the spare (rotations faster than two fsyncs): wait for it, or both
            # would create the same file and its header would land among the records
            self._spare_thread.join()
        with self._spare_lock:
            spare, self._spare = self._spare, None
        if spare is not None and spare[0] == seg:
            fd = spare[1]  # made ahead: no fsync on the path of the acks waiting for this group
            self.stats.segments_made_ahead += 1
        else:
            if spare is not None:  # not the segment wanted (cannot happen in order): drop it
                self._drop(spare)
            fd = self._create(seg)
        self._fd, self._fd_seg = fd, seg
        with self._cond:
            self._closed_upto = max(self._closed_upto, seg)
        self._prepare_async(seg + 1)

    def _create(self, seg: int) -> int:
        """A new segment file with its header, both the data and its directory entry synced."""
        fd = os.open(
            self.directory / segment_name(seg), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644
        )
        os.write(fd, MAGIC)
        if self.fsync:
            os.fdatasync(fd)
            dfd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dfd)  # the new file's directory entry
            finally:
                os.close(dfd)
        return fd

    def _prepare_async(self, seg: int) -> None:
        """Create the next segment in a side thread, so that a rotation costs the committer no
        fsync (creating a file costs two: its header and its directory entry)."""
        if self._spare_thread is not None and self._spare_thread.is_alive():
            return

        def prepare() -> None:
            try:
                fd = self._create(seg)
            except OSError as exc:  # the committer will try inline and report it
                log.warning("wal: could not create segment %d ahead: %s", seg, exc)
                return
            with self._spare_lock:
                if self._spare is None and not self._closing:
                    self._spare = (seg, fd)
                    return
            self._drop((seg, fd))

        self._spare_thread = threading.Thread(target=prepare, name="emw-wal-prep", daemon=True)
        self._spare_thread.start()

    def _drop(self, spare: tuple[int, int]) -> None:
        seg, fd = spare
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            (self.directory / segment_name(seg)).unlink()

    def _close_fd(self) -> None:
        if self._fd is not None:
            if self.fsync and self._dirty:  # every group is synced; only a failed write is not
                with contextlib.suppress(OSError):
                    os.fdatasync(self._fd)
            os.close(self._fd)
            self._fd, self._fd_seg = None, -1
            self._dirty = False

    def _cleanup(self, releasable: set[int], inline: bool = False) -> None:
        with self._cond:
            done = [s for s in releasable if s < self._closed_upto and self._refs.get(s, 1) <= 0]
            for s in done:
                del self._refs[s]
        if not done:
            return
        if self.fsync and not inline:  # the sync may take a while: never in the committer's way
            self._reap_q.put(sorted(done))
        else:
            self._delete(sorted(done))

    def _delete(self, segs: list[int]) -> None:
        if self.fsync:
            # the warehouse wrote these records through the page cache: make them durable before
            # the log forgets them (chDB does not fsync its parts by default)
            os.sync()
        for s in segs:
            with contextlib.suppress(FileNotFoundError):
                (self.directory / segment_name(s)).unlink()
            self.stats.segments_deleted += 1

    def _reap(self) -> None:
        """Delete released segments in batches, one ``os.sync()`` per batch and at most one batch
        per ``reap_interval_s``: a system-wide sync competes with the committer's fsyncs."""
        while True:
            segs = self._reap_q.get()
            if segs is None:
                return
            self._reap_stop.wait(self.reap_interval_s)
            stop = False
            while True:
                try:
                    more = self._reap_q.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                segs += more
            self._delete(sorted(segs))
            if stop:
                return

    # ---- shutdown ----
    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then delete every fully released segment, this one included."""
        with self._cond:
            if self._thread is None:
                return
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)
        self._thread = None
        self._reap_stop.set()
        self._reap_q.put(None)
        if self._reaper is not None:
            self._reaper.join(timeout)
        self._close_fd()
        if self._spare_thread is not None:
            self._spare_thread.join(timeout)
        with self._spare_lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            self._drop(spare)  # empty: only its header
        with self._cond:
            self._closed_upto = self._cur + 1
            releasable = {s for s, r in self._refs.items() if r <= 0}
        self._cleanup(releasable, inline=True)
        left = self.pending_records()
        if left:
            log.warning("wal: %d records not yet in the warehouse stay for the next start", left)

    def describe(self) -> dict[str, Any]:
        return {
            "dir": str(self.directory),
            "fsync": self.fsync,
            "segments": len(self.segments()),
            "pending_records": self.pending_records(),
            **self.stats.__dict__,
        }


def _resolve_all(futs: list[Any], error: BaseException | None) -> None:
    for fut in futs:
        if fut.done():
            continue
        if error is None:
            fut.set_result(None)
        else:
            fut.set_exception(WalError(f"write-ahead log write failed: {error}"))

"""The write-ahead log: framed records survive a reopen, a torn tail is cut at the last valid
record, concurrent writes share fsyncs (group commit), released segments are deleted, a rotation
finds its next segment made ahead (no fsync on the acks' path) and leaves no empty file behind."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from streams.wal import FRAME, MAGIC, WriteAheadLog, read_segment

pytestmark = pytest.mark.component


def _payloads(prefix: str, n: int) -> list[bytes]:
    return [f'{{"kind":"t","i":"{prefix}{i}"}}'.encode() for i in range(n)]


async def test_records_survive_a_reopen_in_order(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path, segment_bytes=4096)
    assert wal.open() == []
    written = []
    for g in range(20):  # ~20 × 10 × 26 B: several segments of 4 KiB
        batch = _payloads(f"g{g}-", 10)
        await wal.write(batch)
        written += batch
    assert len(wal.segments()) > 1
    wal.close()  # nothing released: everything stays
    again = WriteAheadLog(tmp_path, segment_bytes=4096)
    recovered = again.open()
    assert [p for r in recovered for p in r.payloads] == written
    assert [r.segment for r in recovered] == sorted(r.segment for r in recovered)
    seg = await again.write(_payloads("new", 1))
    assert seg > recovered[-1].segment  # new records never go into a recovered segment
    again.close()


async def test_a_torn_tail_is_cut_at_the_last_valid_record(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path)
    wal.open()
    await wal.write(_payloads("a", 5))
    wal.close()
    (seg,) = tmp_path.glob("wal-*.log")
    good = seg.read_bytes()
    # a crash mid-write: a frame header promising more bytes than made it to disk
    seg.write_bytes(good + FRAME.pack(100, 0) + b"x" * 10)
    payloads, skipped = read_segment(seg)
    assert payloads == _payloads("a", 5) and skipped == FRAME.size + 10
    # a damaged record (CRC mismatch) ends the segment too
    bad = bytearray(good)
    bad[-1] ^= 0xFF
    seg.write_bytes(bytes(bad))
    payloads, skipped = read_segment(seg)
    assert payloads == _payloads("a", 4) and skipped > 0
    # a file created but without its header: nothing in it was ever acknowledged
    seg.write_bytes(MAGIC[:3])
    again = WriteAheadLog(tmp_path)
    assert again.open() == []
    again.close()
    assert not list(tmp_path.glob("wal-*.log"))


async def test_concurrent_writes_share_fsyncs(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path)
    wal.open()
    n = 200
    await asyncio.gather(*(wal.write(_payloads(f"w{i}-", 3)) for i in range(n)))
    assert wal.stats.records == 3 * n
    assert wal.stats.groups < n / 4  # group commit: many publishes per fsync
    assert wal.stats.max_group > 1
    wal.close()


async def test_released_segments_are_deleted_and_only_those(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path, segment_bytes=4096, rotate_s=0.05, reap_interval_s=0)
    wal.open()
    segs = []
    for g in range(6):
        segs.append(await wal.write(_payloads(f"g{g}-", 150), extra_refs=2))
    assert len(set(segs)) == 6  # each group filled a 4 KiB segment
    wal.release({segs[0]: 150})  # stored, but its processing hold is still there
    wal.release({s: 152 for s in segs[1:3]})  # stored and processed
    await wal.write(_payloads("tail", 1))  # another group: the committer cleans up after it
    for _ in range(100):
        if len(wal.segments()) == 5:  # 6 - 2 released + the tail's
            break
        await asyncio.sleep(0.05)
    names = wal.segments()
    assert all(f"{s:016d}" not in " ".join(names) for s in segs[1:3])
    assert any(f"{segs[0]:016d}" in n for n in names)
    wal.release({segs[0]: 2, **{s: 152 for s in segs[3:]}})
    wal.close()
    recovered = WriteAheadLog(tmp_path).open()
    assert [p for r in recovered for p in r.payloads] == _payloads("tail", 1)


async def test_rotation_uses_a_segment_made_ahead_and_leaves_no_empty_file(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path, segment_bytes=4096)
    wal.open()
    written = []
    for g in range(12):  # 150 × ~30 B per group: every group rotates
        batch = _payloads(f"g{g}-", 150)
        await wal.write(batch)
        written += batch
        for _ in range(100):  # give the side thread its two fsyncs (bounded: 5 s)
            if len(list(tmp_path.glob("wal-*.log"))) > len(wal.segments()):
                break
            await asyncio.sleep(0.05)
    assert len(wal.segments()) == 12
    assert wal.stats.segments_made_ahead >= 10  # the first segment is made inline
    wal.close()
    assert len(list(tmp_path.glob("wal-*.log"))) == 12  # the unused spare is gone
    again = WriteAheadLog(tmp_path)
    assert [p for r in again.open() for p in r.payloads] == written
    again.close()


async def test_fast_rotations_never_write_two_headers_into_one_segment(tmp_path: Path) -> None:
    """Rotations faster than the side thread: the committer waits for the spare instead of
    creating the same file beside it (a second header among the records would cut recovery)."""
    wal = WriteAheadLog(tmp_path, segment_bytes=4096)
    wal.open()
    batches = [_payloads(f"f{g}-", 150) for g in range(30)]
    await asyncio.gather(*(wal.write(b) for b in batches))
    wal.close()
    for path in tmp_path.glob("wal-*.log"):
        data = path.read_bytes()
        assert data.count(MAGIC) == 1, path.name
        _payloads_read, skipped = read_segment(path)
        assert skipped == 0, path.name
    again = WriteAheadLog(tmp_path)
    assert sorted(p for r in again.open() for p in r.payloads) == sorted(
        p for b in batches for p in b
    )
    again.close()


async def test_obd_sample_batches_replay_from_the_log_to_the_warehouse_and_the_rules(
    tmp_path: Path, warehouse: Any
) -> None:
    """A columnar batch is logged in its binary form; after a restart the log's records reach
    the warehouse row by row and the rules batch by batch, and the segment is released."""
    from core.processing import Context
    from core.registry import default_registry
    from core.ruleset import default_ruleset
    from obd_gateway.processors import PROCESSORS
    from obd_gateway.protocol import DataStream
    from obd_gateway.session import samples_of
    from streams import catalog, serde
    from streams.bus.inproc import InProcessBus
    from streams.warehouse.sink import BatchingSink

    reg = default_registry()
    v = reg.obd_vehicles[0]
    base = 1_795_000_000_000
    batches = [
        samples_of(
            v.vin,
            v,
            [base + 10_000 * k + 1000 * i for i in range(10)],
            bytes(10),
            b"".join(
                DataStream.from_physical(speed_kmh=20.0 + i, rpm=1200.0).encode() for i in range(10)
            ),
            received_at=datetime.fromtimestamp((base + 10_000 * k + 9_500) / 1000, UTC),
            backfilled=False,
            signature="absent",
            frame_id=f"{k:032x}",
        )
        for k in range(5)
    ]
    wal = WriteAheadLog(tmp_path)
    wal.open()
    await wal.write([serde.encode(b) for b in batches])
    wal.close()  # "killed" before the warehouse had them

    wal = WriteAheadLog(tmp_path)
    recovered = wal.open()
    sink = BatchingSink(warehouse, max_delay_s=60, on_stored=wal.release)
    bus = InProcessBus(sink, PROCESSORS, Context(default_ruleset(), reg), wal=wal)
    await bus.start()
    assert await bus.replay(recovered, catalog.classes_by_kind()) == 5
    await bus.drain()
    assert sink.flush()
    stored = {r[0] for r in warehouse.query("SELECT event_id FROM obd_sample FINAL").result_rows}
    assert stored == {i for b in batches for i in b.event_ids}
    st = bus.states["obd.analytics"][v.vin]
    assert st["d"]["n"] == 50 and st["last_ts"] == (base + 40_000 + 9000) / 1000
    await bus.stop()
    await asyncio.sleep(0.2)
    assert wal.pending_records() == 0
    wal.close()

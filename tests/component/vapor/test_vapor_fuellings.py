"""A packet's fuellings as one columnar batch (``fuel_vapor.events.Fuellings``): the rows it stores
are the rows the per-row path stored, and its bus form carries it whole.

``tests/data/vapor/fuelling_rows_v1.json.gz`` holds HJ 212 frames (a station simulator's Guangzhou
and Chongqing packets with faults, plus hand-built Guangzhou packets with several nozzles, an
unknown nozzle, an A/L out of range and no DataTime) and the rows of every table (``vapor_packet``,
``vapor_fuelling``, ``vapor_station_reading``, ``vapor_device_alarm``, ``exceedance``) that the
per-row intake (one ``Fuelling`` dataclass per nozzle, commit 27c0fd7) stored for them, read back
from chDB.
"""

from __future__ import annotations

import gzip
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from core.registry import default_registry
from core.ruleset import default_ruleset
from fuel_vapor.codemaps import default_codemaps
from fuel_vapor.events import Fuelling, Fuellings
from fuel_vapor.intake import from_hj212
from fuel_vapor.protocol.framing import Frame, FrameDecoder
from fuel_vapor.protocol.packet import parse_segment
from streams import catalog, serde
from streams.warehouse import deadletter
from streams.warehouse.sink import BatchingSink

pytestmark = pytest.mark.component
FIXTURE = Path(__file__).resolve().parents[2] / "data" / "vapor" / "fuelling_rows_v1.json.gz"


def _fixture() -> dict[str, Any]:
    with gzip.open(FIXTURE, "rt", encoding="utf-8") as f:
        return json.load(f)


def _events(fx: dict[str, Any]) -> list[Any]:
    reg, cms, rs = default_registry(), default_codemaps(), default_ruleset()
    dec = FrameDecoder(
        extra_chars="".join(sorted({m.profile.extra_char for m in cms.values()})).encode(),
        accept_modbus=any(m.profile.modbus_crc for m in cms.values()),
    )
    out: list[Any] = []
    for item in fx["frames"]:
        rx = datetime.fromisoformat(item["received_at"])
        for frame in dec.feed(item["frame"].encode("utf-8", "surrogateescape")):
            assert isinstance(frame, Frame), frame
            packet = parse_segment(frame.segment.decode("utf-8", "surrogateescape"))
            unit = reg.unit_by_mn(packet.mn)
            res = from_hj212(
                packet,
                frame.raw,
                unit,
                cms[unit.code_map],
                rx,
                crc_variant=frame.crc_variant,
                ruleset=rs,
            )
            out += res.all_events
    return out


def _rows(client: Any, table: str, columns: list[str]) -> list[list[Any]]:
    r = client.query(f"SELECT {', '.join(columns)} FROM {table} ORDER BY event_id")
    return [[v.isoformat() if hasattr(v, "isoformat") else v for v in row] for row in r.result_rows]


def test_batches_store_the_rows_the_per_row_path_stored(warehouse):
    fx = _fixture()
    events = _events(fx)
    batches = [e for e in events if isinstance(e, Fuellings)]
    assert max(map(len, batches)) == 3  # the hand-built packets carry several nozzles
    sink = BatchingSink(warehouse, batch_size=1_000_000, max_delay_s=60)
    sink.put(events)
    assert sink.flush() and sink.state().dead_lettered == 0
    for table, want in fx["tables"].items():
        assert _rows(warehouse, table, want["columns"]) == want["rows"], table
    assert sum(map(len, batches)) == len(fx["tables"]["vapor_fuelling"]["rows"]) == 662


def test_rows_of_a_batch_are_the_rows_it_stores(warehouse):
    fx = _fixture()
    batches = [e for e in _events(fx) if isinstance(e, Fuellings)]
    rows = [r for b in batches for r in b.rows()]
    warehouse.insert_arrow("vapor_fuelling", serde.to_arrow(rows))  # the row dataclass's own path
    want = fx["tables"]["vapor_fuelling"]
    assert _rows(warehouse, "vapor_fuelling", want["columns"]) == want["rows"]


def test_bus_form_round_trips_every_batch_and_is_compact():
    classes = catalog.classes_by_kind()
    assert classes["vapor.fuelling"] is Fuellings
    batches = [e for e in _events(_fixture()) if isinstance(e, Fuellings)]
    for b in batches:
        raw = serde.encode(b)
        back = serde.decode(raw, classes)
        assert back == b and back.rows() == b.rows() and back.event_ids == b.event_ids
        assert len(raw) < len(serde.to_json(b.rows()[0])) * len(b)
    multi = next(b for b in batches if len(b) == 3)
    assert [None in getattr(multi, n) for n in ("al", "vapour_volume_l")] == [False, True]
    assert serde.decode(serde.encode(multi), classes).vapour_volume_l == multi.vapour_volume_l


def test_a_row_splits_out_and_comes_back_as_a_dead_letter_would():
    classes = catalog.classes_by_kind()
    multi = next(e for e in _events(_fixture()) if isinstance(e, Fuellings) and len(e) == 3)
    parts = [multi.slice(i, i + 1) for i in range(3)]
    assert [r for p in parts for r in p.rows()] == multi.rows()
    letter = deadletter.of_event(parts[1], "insert", "refused")
    assert letter.event_id == multi.event_ids[1] and letter.device_id == multi.mn
    back = deadletter.decode_raw(letter.raw, classes)
    assert back == parts[1] and isinstance(back.rows()[0], Fuelling)
    with pytest.raises(ValueError, match="empty slice"):
        multi.slice(2, 2)

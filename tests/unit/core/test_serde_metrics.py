from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

import pytest

from core.metrics import Metrics
from core.timeutil import BEIJING
from streams import serde


@dataclass(frozen=True, slots=True)
class _Ev:
    KIND: ClassVar[str] = "test.ev"
    event_id: str
    ts: datetime
    value: float | None
    tags: tuple[str, ...]
    n: int


def test_serde_round_trip_and_columns() -> None:
    e = _Ev("id1", datetime(2026, 1, 1, 8, tzinfo=BEIJING), None, ("a", "b"), 3)
    back = serde.from_json(serde.to_json(e), {"test.ev": _Ev})
    assert back == e
    names, cols = serde.to_columns([e])
    assert names == ["event_id", "ts", "value", "tags", "n"]
    assert cols[1][0] == datetime(2026, 1, 1, 0, tzinfo=UTC)
    assert [s.column_type for s in serde.fields_of(_Ev)] == [
        "String",
        "DateTime64(3, 'UTC')",
        "Nullable(Float64)",
        "Array(String)",
        "Int64",
    ]
    with pytest.raises(ValueError, match="unknown event kind"):
        serde.from_json(b'{"kind": "nope"}', {"test.ev": _Ev})


def test_disallowed_field_type_is_named() -> None:
    @dataclass(frozen=True)
    class Bad:
        KIND: ClassVar[str] = "bad"
        event_id: str
        payload: dict

    with pytest.raises(TypeError, match="payload"):
        serde.fields_of(Bad)


def test_metrics_counters_and_summaries() -> None:
    m = Metrics()
    m.inc("gw", "bad_frames", labels={"reason": "bcc"})
    m.inc("gw", "bad_frames", 2, labels={"reason": "length"})
    for v in range(100):
        m.observe("gw", "ack_latency_s", v / 1000)
    assert m.counters("gw", "bad_frames") == {"reason=bcc": 1.0, "reason=length": 2.0}
    snap = {(c, n): v for c, n, _lk, v in m.snapshot()}
    assert snap[("gw", "ack_latency_s.p50")] == pytest.approx(0.05)
    assert snap[("gw", "ack_latency_s.p99")] == pytest.approx(0.099)

"""Faust agents as thin shells over the processors: ``agent.test_context()`` (no broker).

A small test-only event type and processor stand in for the domain ones: a running total per device
kept in the processor's Faust table, emitted as a ``test.total`` event per reading.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from core.events import deterministic_id
from core.exceedance import Exceedance
from core.processing import Context, Processor
from streams import catalog, serde
from streams.catalog import EventType
from streams.faust_app import KeyedState, build
from streams.settings import load_settings

pytestmark = pytest.mark.component

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Reading:
    KIND: ClassVar[str] = "test.reading"
    event_id: str
    ts: datetime
    device: str
    value: float

    @property
    def key(self) -> str:
        return self.device


@dataclass(frozen=True, slots=True)
class Total:
    KIND: ClassVar[str] = "test.total"
    event_id: str
    ts: datetime
    device: str
    n: int
    total: float

    @property
    def key(self) -> str:
        return self.device


def reading(device: str, i: int, value: float) -> Reading:
    return Reading(
        deterministic_id(Reading.KIND, device, i), T0 + timedelta(seconds=i), device, value
    )


def running_total(event: Reading, state: Any, ctx: Context) -> list[Total]:
    if event.value < 0:
        raise RuntimeError("negative reading: a processor bug stand-in")
    s = state.setdefault(event.key, {"n": 0, "total": 0.0})
    s["n"] += 1  # mutated in place: KeyedState must still persist it
    s["total"] += event.value
    return [
        Total(
            deterministic_id(Total.KIND, event.event_id), event.ts, event.device, s["n"], s["total"]
        )
    ]


ETS = {
    "test.reading": EventType("test.reading", Reading, "emw.test.reading", "test_reading", 3),
    "test.total": EventType("test.total", Total, "emw.test.total", "test_total", 3),
}
PROCS = [Processor("totals", ("test.reading",), running_total)]
CTX = Context(ruleset=None, registry=None)  # type: ignore[arg-type]


def _settings(**kw: Any) -> Any:
    kw.setdefault("data_dir", Path(tempfile.gettempdir()) / "emw-test-faust-agents")
    return load_settings(kafka_bootstrap="127.0.0.1:9", **kw)


def _prepare(wiring: Any) -> None:
    app = wiring.app
    app.finalize()
    app.conf.store = "memory://"
    app.flow_control.resume()


@pytest.fixture
def wiring() -> Any:
    w = build(
        _settings(),
        event_types=ETS,
        processors=PROCS,
        ctx=CTX,
        app_id="test-agents",
        with_sink=False,
        web_enabled=False,
    )
    _prepare(w)
    return w


async def test_processor_agent_emits_outputs_and_keeps_state_per_key(wiring: Any) -> None:
    emitted: list[Any] = []

    async def emit(events: Any) -> None:
        emitted.extend(events)

    wiring.emit = emit
    agent = wiring.processor_agents[("totals", "test.reading")]
    inputs = [
        reading("a", 0, 1.5),
        reading("b", 1, 10.0),
        reading("a", 2, 2.5),
        reading("a", 3, 4.0),
    ]
    async with agent.test_context() as tagent:
        for ev in inputs:
            await tagent.put(value=serde.to_json(ev), key=ev.key.encode())

    assert [(t.device, t.n, t.total) for t in emitted] == [
        ("a", 1, 1.5),
        ("b", 1, 10.0),
        ("a", 2, 4.0),
        ("a", 3, 8.0),
    ]
    assert [t.event_id for t in emitted] == [
        deterministic_id(Total.KIND, ev.event_id) for ev in inputs
    ]
    table = wiring.tables["totals"]
    assert table["a"] == {"n": 3, "total": 8.0}
    assert table["b"] == {"n": 1, "total": 10.0}


async def test_bad_input_and_processor_errors_are_skipped_without_touching_state(
    wiring: Any,
) -> None:
    emitted: list[Any] = []

    async def emit(events: Any) -> None:
        emitted.extend(events)

    wiring.emit = emit
    agent = wiring.processor_agents[("totals", "test.reading")]
    shell = wiring.shells["totals"]
    async with agent.test_context() as tagent:
        await tagent.put(value=serde.to_json(reading("a", 0, 1.0)), key=b"a")
        await tagent.put(value=b"\x00not json", key=b"a")
        await tagent.put(value=b'{"kind":"nope.kind"}', key=b"a")
        await tagent.put(value=serde.to_json(reading("a", 1, -5.0)), key=b"a")  # raises
        await tagent.put(value=serde.to_json(reading("a", 2, 2.0)), key=b"a")

    assert shell.stats.bad_input == 2
    assert shell.stats.processor_errors == 1
    assert shell.stats.handled == 2
    assert [(t.n, t.total) for t in emitted] == [(1, 1.0), (2, 3.0)]
    assert wiring.tables["totals"]["a"] == {"n": 2, "total": 3.0}


async def test_outputs_are_sent_to_the_topic_of_their_kind_keyed_by_subject(wiring: Any) -> None:
    sent: list[tuple[str, bytes, bytes]] = []

    class FakeTopic:
        def __init__(self, name: str) -> None:
            self.name = name

        async def send(self, *, key: bytes, value: bytes) -> asyncio.Future[None]:
            sent.append((self.name, key, value))
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            fut.set_result(None)
            return fut

    wiring.topics = {kind: FakeTopic(et.topic) for kind, et in ETS.items()}
    out = Total("x1", T0, "沪A12345", 2, 3.0)
    await wiring.send_confirmed([out])
    assert sent == [("emw.test.total", "沪A12345".encode(), serde.to_json(out))]
    with pytest.raises(ValueError, match="not in the catalogue"):
        await wiring.send_confirmed([Exceedance.__new__(Exceedance)])


def test_keyed_state_writes_back_changes_only_and_refuses_non_json() -> None:
    writes: list[str] = []

    class Table(dict[str, Any]):
        def __setitem__(self, key: str, value: Any) -> None:
            writes.append(key)
            super().__setitem__(key, value)

    table = Table()
    dict.__setitem__(table, "a", {"n": 1})
    dict.__setitem__(table, "b", [1, 2])
    view = KeyedState(table)
    view["a"]["n"] += 1  # in place
    assert view["b"] == [1, 2]  # read, unchanged
    assert "zzz" not in view
    view["c"] = 3
    assert view.commit() == 2
    assert sorted(writes) == ["a", "c"]
    assert dict(table) == {"a": {"n": 2}, "b": [1, 2], "c": 3}

    view = KeyedState(table)
    del view["b"]
    assert "b" not in view
    with pytest.raises(KeyError):
        view["b"]
    view.commit()
    assert "b" not in table

    view = KeyedState(table)
    view["d"] = {"when": datetime(2026, 1, 1, tzinfo=UTC)}
    with pytest.raises(TypeError, match=r"state\['d'\] is not JSON-serialisable"):
        view.commit()


async def test_an_input_with_another_partition_count_is_repartitioned_by_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ets = dict(ETS)
    ets["test.other"] = EventType("test.other", Reading, "emw.test.other", "test_other", 12)
    proc = Processor("mixed", ("test.reading", "test.other"), running_total)
    w = build(
        _settings(), event_types=ets, processors=[proc], ctx=CTX, app_id="rp", with_sink=False
    )
    assert w.tables["mixed"].partitions == 12
    assert set(w.repartition_topics) == {("mixed", "test.reading")}  # 3 partitions, not 12
    repart = w.repartition_topics[("mixed", "test.reading")]
    assert repart.get_topic_name() == "rp-repartition-mixed-test.reading"
    assert repart.partitions == 12
    assert w.processor_agents[("mixed", "test.reading")].channel.get_topic_name() == (
        "rp-repartition-mixed-test.reading"
    )
    assert w.processor_agents[("mixed", "test.other")].channel.get_topic_name() == "emw.test.other"

    sent: list[tuple[bytes, bytes]] = []

    async def fake_send(*, key: bytes, value: bytes) -> asyncio.Future[None]:
        sent.append((key, value))
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut

    monkeypatch.setattr(repart, "send", fake_send)
    _prepare(w)
    inputs = [reading("a", 0, 1.0), reading("b", 1, 2.0)]
    async with w.forward_agents[("mixed", "test.reading")].test_context() as tagent:
        for ev in inputs:
            await tagent.put(value=serde.to_json(ev), key=ev.key.encode())
        for _ in range(100):
            if len(sent) == 2:
                break
            await asyncio.sleep(0.02)
    assert sent == [(ev.key.encode(), serde.to_json(ev)) for ev in inputs]

    ghost = Processor("ghost", ("test.missing",), running_total)
    with pytest.raises(ValueError, match=r"processor ghost: input kinds not in the catalogue"):
        build(_settings(), event_types=ETS, processors=[ghost], ctx=CTX, with_sink=False)


def test_catalogue_defaults_give_one_topic_per_kind_with_catalogue_partitions() -> None:
    w = build(_settings(), ctx=CTX, app_id="test-catalogue", web_enabled=False)
    ets = catalog.event_types()
    assert set(w.topics) == set(ets)
    for kind, topic in w.topics.items():
        assert topic.get_topic_name() == ets[kind].topic
        assert topic.partitions == ets[kind].partitions
    assert set(w.sink_agents) == set(ets)
    assert {(p.name, k) for p in catalog.processors() for k in p.inputs} == set(w.processor_agents)


async def test_sink_agent_writes_rows_to_the_warehouse_before_acknowledging(warehouse: Any) -> None:
    settings = _settings(sink_max_delay_s=0.05, sink_batch_size=2)
    ets = {"exceedance": catalog.event_types()["exceedance"]}
    w = build(
        settings,
        event_types=ets,
        processors=[],
        ctx=CTX,
        app_id="test-sink",
        warehouse_client=lambda: warehouse,
        web_enabled=False,
    )
    _prepare(w)
    events = [_exceedance(i) for i in range(3)]
    async with w.sink_agents["exceedance"].test_context() as tagent:
        for ev in events:
            await tagent.put(value=serde.to_json(ev), key=ev.key.encode())
        await tagent.put(value=b"garbage", key=b"x")
        for _ in range(100):  # the last event waits at most sink_max_delay_s for its batch
            if w.writer.written == 3:
                break
            await asyncio.sleep(0.05)
    rows = warehouse.query(
        "SELECT event_id, subject_id, measured FROM exceedance FINAL ORDER BY subject_id"
    ).result_rows
    assert rows == [(e.event_id, e.subject_id, e.measured) for e in events]


async def test_sink_agent_holds_the_batch_while_the_warehouse_refuses_writes(
    warehouse: Any,
) -> None:
    class Flaky:
        """The warehouse client, refusing its first two inserts (e.g. a server restarting)."""

        def __init__(self) -> None:
            self.refused = 0

        def __getattr__(self, name: str) -> Any:
            attr = getattr(warehouse, name)
            if not name.startswith("insert"):
                return attr

            def insert(*args: Any, **kwargs: Any) -> Any:
                if self.refused < 2:
                    self.refused += 1
                    raise ConnectionError("warehouse restarting")
                return attr(*args, **kwargs)

            return insert

    flaky = Flaky()
    settings = _settings(sink_max_delay_s=0.05, sink_batch_size=10)
    ets = {"exceedance": catalog.event_types()["exceedance"]}
    w = build(
        settings,
        event_types=ets,
        processors=[],
        ctx=CTX,
        app_id="test-sink-flaky",
        warehouse_client=lambda: flaky,
        web_enabled=False,
    )
    _prepare(w)
    events = [_exceedance(i) for i in range(2)]
    async with w.sink_agents["exceedance"].test_context() as tagent:
        for ev in events:
            await tagent.put(value=serde.to_json(ev), key=ev.key.encode())
        for _ in range(200):
            if w.writer.written == 2:
                break
            await asyncio.sleep(0.05)
    assert flaky.refused == 2
    assert w.writer.retries >= 1
    rows = warehouse.query("SELECT event_id FROM exceedance FINAL ORDER BY event_id").result_rows
    assert rows == sorted((e.event_id,) for e in events)


def _exceedance(i: int) -> Exceedance:
    return Exceedance(
        event_id=deterministic_id(Exceedance.KIND, "test", i),
        ts=T0 + timedelta(minutes=i),
        source="obd_gateway",
        subject_kind="vehicle",
        subject_id=f"VIN{i:014d}",
        jurisdiction="qingpu",
        device_id="T-1",
        rule_id="TEST-RULE",
        ruleset_version="test",
        severity="warning",
        measured=100.0 + i,
        limit=50.0,
        unit="ppm",
        evidence=(),
        quality_flags=(),
        provisional=True,
        detail_json="{}",
    )


@pytest.mark.parametrize("partitions", [3, 6, 12])
def test_edge_producer_and_faust_put_a_key_on_the_same_partition(partitions: int) -> None:
    """Tables are co-partitioned with topics only if kafka-python (gateways, KafkaBus) and aiokafka
    (Faust: changelog, outputs, repartition topics) map a key to the same partition."""
    from aiokafka.partitioner import DefaultPartitioner as AioPartitioner
    from kafka.partitioner.default import DefaultPartitioner as KafkaPartitioner

    class Cluster:
        def topics(self) -> set[str]:
            return {"t"}

        def partitions_for_topic(self, topic: str) -> set[int]:
            return set(range(partitions))

        def available_partitions_for_topic(self, topic: str) -> set[int]:
            return set(range(partitions))

    edge, faust_side = KafkaPartitioner(), AioPartitioner()
    all_ps = list(range(partitions))
    keys = [f"沪A{i:05d}|blue".encode() for i in range(500)] + [
        f"LSVAU2180N{i:07d}".encode() for i in range(500)
    ]
    edge_ps = [edge.partition("t", None, k, None, None, Cluster()) for k in keys]
    assert edge_ps == [faust_side(k, all_ps, all_ps) for k in keys]
    assert len(set(edge_ps)) == partitions  # the keys actually spread

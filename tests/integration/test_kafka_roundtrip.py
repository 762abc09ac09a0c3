"""A real Kafka-protocol round trip: KafkaBus (kafka-python) → Tansu → Faust worker → chDB.

Topics get a random prefix and the Faust app a random id per run, so nothing is shared with other
runs. A test-only reading type (its table created here from its dataclass) feeds a test-only
processor that keeps per-device state in its Faust table and emits ``core.exceedance.Exceedance``
(the real event type, topic and migrated table); a duplicate publish must be stored once (FINAL).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from core.events import deterministic_id
from core.exceedance import Exceedance
from core.processing import Context, Processor
from streams import catalog, serde
from streams.bus.kafka import BusUnavailableError, KafkaBus
from streams.catalog import EventType
from streams.faust_app import build
from streams.settings import load_settings
from streams.topics import TopicError, TopicSpec, ensure_topics, topic_specs

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
LIMIT = 50.0
DEADLINE_S = 90.0


@dataclass(frozen=True, slots=True)
class Reading:
    KIND: ClassVar[str] = "itest.reading"
    event_id: str
    ts: datetime
    device: str
    value: float

    @property
    def key(self) -> str:
        return self.device


@dataclass(frozen=True, slots=True)
class Pulse:
    """A second input kind on a topic with another partition count (repartitioned by Faust)."""

    KIND: ClassVar[str] = "itest.pulse"
    event_id: str
    ts: datetime
    device: str

    @property
    def key(self) -> str:
        return self.device


def pulse(device: str, i: int) -> Pulse:
    return Pulse(deterministic_id(Pulse.KIND, device, i), T0 + timedelta(seconds=i), device)


def reading(device: str, i: int, value: float) -> Reading:
    return Reading(
        deterministic_id(Reading.KIND, device, i), T0 + timedelta(seconds=i), device, value
    )


def over_limit(event: Reading, state: Any, ctx: Context) -> list[Exceedance]:
    """Counts readings per device (Faust table) and reports each reading above LIMIT."""
    s = state.get(event.key) or {"n": 0}
    s["n"] += 1
    state[event.key] = s
    if event.value <= LIMIT:
        return []
    return [
        Exceedance(
            event_id=deterministic_id(Exceedance.KIND, "itest", event.event_id),
            ts=event.ts,
            source="obd_gateway",
            subject_kind="device",
            subject_id=event.device,
            jurisdiction="qingpu",
            device_id=event.device,
            rule_id="ITEST-LIMIT",
            ruleset_version="itest",
            severity="warning",
            measured=event.value,
            limit=LIMIT,
            unit="ppm",
            evidence=(f"itest.reading:{event.event_id}",),
            quality_flags=(),
            provisional=True,
            detail_json=json.dumps({"nth_reading": s["n"]}),
        )
    ]


def count_all(event: Reading | Pulse, state: Any, ctx: Context) -> list[Exceedance]:
    """Counts readings and pulses per device in one table; reports every count (order-free)."""
    s = state.setdefault(event.key, {"n": 0})
    s["n"] += 1
    return [
        Exceedance(
            event_id=deterministic_id(Exceedance.KIND, "itest-count", event.device, s["n"]),
            ts=event.ts,
            source="obd_gateway",
            subject_kind="device",
            subject_id=event.device,
            jurisdiction="qingpu",
            device_id=event.device,
            rule_id="ITEST-COUNT",
            ruleset_version="itest",
            severity="info",
            measured=float(s["n"]),
            limit=None,
            unit="events",
            evidence=(),
            quality_flags=(),
            provisional=True,
            detail_json="{}",
        )
    ]


def _event_types() -> dict[str, EventType]:
    ets = {"exceedance": catalog.event_types()["exceedance"]}
    for cls, partitions in ((Reading, 3), (Pulse, 1)):
        ets[cls.KIND] = EventType(
            cls.KIND, cls, catalog.topic_of(cls.KIND), catalog.table_of(cls.KIND), partitions
        )
    return ets


def _create_table(client: Any, cls: type) -> None:
    cols = ", ".join(f"`{s.name}` {s.column_type}" for s in serde.fields_of(cls))
    client.command(
        f"CREATE TABLE {catalog.table_of(cls.KIND)} ({cols}) "
        "ENGINE = ReplacingMergeTree ORDER BY (device, event_id)"
    )


def _partitions(bootstrap: str, topic: str) -> int:
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="itest")
    try:
        (meta,) = admin.describe_topics([topic])
        return len(meta["partitions"])
    finally:
        admin.close()


def _wait_rows(client: Any, sql: str, n: int, deadline: float) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    while time.monotonic() < deadline:
        rows = [tuple(r) for r in client.query(sql).result_rows]
        if len(rows) >= n:
            return rows
        time.sleep(0.25)
    pytest.fail(
        f"round trip incomplete after {DEADLINE_S:.0f}s: wanted {n} rows from «{sql}», got {rows}"
    )


@pytest.mark.timeout(180)  # hard stop; the waits below fail with a message after DEADLINE_S
def test_kafka_bus_to_faust_worker_to_chdb(
    tansu: Any, faust_thread: Any, warehouse: Any, tmp_path: Path
) -> None:
    deadline = time.monotonic() + DEADLINE_S
    prefix = f"it{uuid.uuid4().hex[:8]}."
    ets = _event_types()
    _create_table(warehouse, Reading)
    _create_table(warehouse, Pulse)
    database = warehouse.query("SELECT currentDatabase()").result_rows[0][0]

    created = ensure_topics(tansu.bootstrap, topic_specs(ets, prefix))
    assert created == {
        f"{prefix}emw.exceedance": "created",
        f"{prefix}emw.itest.reading": "created",
        f"{prefix}emw.itest.pulse": "created",
    }

    settings = load_settings(
        kafka_bootstrap=tansu.bootstrap,
        data_dir=tmp_path,  # Faust's datadir goes under it
        warehouse_database=database,
        sink_max_delay_s=0.2,
        sink_batch_size=1000,
    )
    started = time.monotonic()
    worker = faust_thread(
        lambda: build(
            settings,
            event_types=ets,
            processors=[
                Processor("itest-limit", (Reading.KIND,), over_limit),
                Processor("itest-count", (Reading.KIND, Pulse.KIND), count_all),
            ],
            ctx=Context(ruleset=None, registry=None),  # type: ignore[arg-type]
            app_id=f"{prefix}worker",
            topic_prefix=prefix,
            warehouse_client=lambda: warehouse,
            web_enabled=False,
            broker_session_timeout=6,
            broker_heartbeat_interval=1,
            broker_rebalance_timeout=6,
            broker_commit_every=100,
            broker_commit_interval=0.5,
        )
    )
    worker_start_s = time.monotonic() - started

    readings = [
        reading("dev-a", 0, 10.0),
        reading("dev-b", 1, 70.0),
        reading("dev-a", 2, 55.0),
        reading("dev-b", 3, 5.0),
        reading("dev-a", 4, 60.0),
        reading("dev-b", 5, 80.0),
    ]

    async def produce() -> float:
        bus = KafkaBus(tansu.bootstrap, event_types=ets, topic_prefix=prefix, confirm_timeout_s=20)
        await bus.start()
        try:
            t = time.monotonic()
            await bus.publish(
                [*readings, pulse("dev-a", 10), pulse("dev-b", 11), pulse("dev-a", 12)]
            )
            await bus.publish([readings[3]])  # a device re-sent: same event, same id
            return time.monotonic() - t
        finally:
            await bus.stop()

    publish_s = asyncio.run(produce())
    published_at = time.monotonic()

    got_readings = _wait_rows(
        warehouse,
        "SELECT event_id, device, value FROM itest_reading FINAL ORDER BY device, ts",
        len(readings),
        deadline,
    )
    want = sorted(readings, key=lambda r: (r.device, r.ts))
    assert got_readings == [(r.event_id, r.device, r.value) for r in want]

    got_exc = _wait_rows(
        warehouse,
        "SELECT event_id, subject_id, measured, limit, detail_json, evidence "
        "FROM exceedance FINAL WHERE rule_id = 'ITEST-LIMIT' ORDER BY subject_id, ts",
        4,
        deadline,
    )
    end_to_end_s = time.monotonic() - published_at
    expected = [  # nth_reading proves the per-device state kept in the Faust table
        ("dev-a", 2, 55.0, 2),
        ("dev-a", 4, 60.0, 3),
        ("dev-b", 1, 70.0, 1),
        ("dev-b", 5, 80.0, 3),
    ]
    assert got_exc == [
        (
            deterministic_id(Exceedance.KIND, "itest", deterministic_id(Reading.KIND, dev, i)),
            dev,
            value,
            LIMIT,
            json.dumps({"nth_reading": nth}),
            [f"itest.reading:{deterministic_id(Reading.KIND, dev, i)}"],
        )
        for dev, i, value, nth in expected
    ]
    # one state per device across two input topics (the pulse topic went through a repartition
    # topic with the table's 3 partitions): every count 1..5 once per device, whatever the order
    counts = _wait_rows(
        warehouse,
        "SELECT subject_id, measured FROM exceedance FINAL WHERE rule_id = 'ITEST-COUNT' "
        "ORDER BY subject_id, measured",
        10,
        deadline,
    )
    assert counts == [(dev, float(n)) for dev in ("dev-a", "dev-b") for n in range(1, 6)]
    assert warehouse.query("SELECT count() FROM itest_pulse FINAL").result_rows == [(3,)]
    repartition = f"{prefix}worker-repartition-itest-count-itest.pulse"
    assert _partitions(tansu.bootstrap, repartition) == 3  # created by Faust with the table's count
    # the re-sent reading is stored once, however many raw rows the merge has not yet folded
    dup = readings[3].event_id
    assert warehouse.query(
        f"SELECT count() FROM itest_reading FINAL WHERE event_id = '{dup}'"
    ).result_rows == [(1,)]
    print(
        f"\n[tansu round trip] worker start {worker_start_s:.2f}s, publish+confirm 10 events "
        f"{publish_s * 1000:.1f}ms, publish→rows in chDB {end_to_end_s:.2f}s"
    )
    worker.stop()


async def test_publish_fails_clearly_when_broker_goes_away(tansu_factory: Any) -> None:
    broker = tansu_factory()
    prefix = f"it{uuid.uuid4().hex[:8]}."
    ets = _event_types()
    ensure_topics(broker.bootstrap, topic_specs(ets, prefix))
    bus = KafkaBus(broker.bootstrap, event_types=ets, topic_prefix=prefix, confirm_timeout_s=4)
    await bus.start()
    try:
        await bus.publish([reading("dev-a", 0, 1.0)])  # confirmed while the broker is up
        assert bus.published == 1
        broker.stop(crash=True)
        t = time.monotonic()
        with pytest.raises(
            BusUnavailableError, match=rf"Kafka at {broker.bootstrap} did not confirm"
        ):
            await bus.publish([reading("dev-a", 1, 2.0)])
        assert time.monotonic() - t < 15
        assert bus.published == 1
    finally:
        await bus.stop(timeout_s=1)


async def test_start_fails_clearly_when_no_broker_listens() -> None:
    with socket.socket() as s:  # a port nobody listens on once closed
        s.bind(("127.0.0.1", 0))
        bootstrap = f"127.0.0.1:{s.getsockname()[1]}"
    bus = KafkaBus(bootstrap, connect_timeout_s=2)
    t = time.monotonic()
    with pytest.raises(BusUnavailableError, match=rf"Kafka at {bootstrap} is unavailable"):
        await bus.start()
    assert time.monotonic() - t < 10


async def test_publish_refuses_kinds_outside_the_catalogue(tansu: Any) -> None:
    settings = load_settings(kafka_bootstrap=tansu.bootstrap, kafka_client_id="itest-gw")
    bus = KafkaBus(settings, event_types={}, confirm_timeout_s=5)  # as `emwatch gateway` builds it
    assert bus.bootstrap == tansu.bootstrap
    await bus.start()
    try:
        with pytest.raises(ValueError, match=r"event kind 'itest.reading' is not in the catalogue"):
            await bus.publish([reading("dev-a", 0, 1.0)])
    finally:
        await bus.stop()


def test_ensure_topics_is_idempotent_and_refuses_a_wrong_partition_count(tansu: Any) -> None:
    prefix = f"it{uuid.uuid4().hex[:8]}."
    specs = [TopicSpec(f"{prefix}a", 3, "a"), TopicSpec(f"{prefix}b", 2, "b")]
    assert ensure_topics(tansu.bootstrap, specs) == {
        f"{prefix}a": "created",
        f"{prefix}b": "created",
    }
    assert ensure_topics(tansu.bootstrap, specs) == {f"{prefix}a": "exists", f"{prefix}b": "exists"}
    with pytest.raises(
        TopicError, match=rf"topic {prefix}b has 2 partitions, the catalogue says 4"
    ):
        ensure_topics(tansu.bootstrap, [TopicSpec(f"{prefix}b", 4, "b")])


WORKER_SCRIPT = """
import sys
from streams.faust_app import run_worker
from streams.settings import Settings

class WorkerSettings(Settings):
    worker_web_port: int = 6066  # proposed Settings field (EMW_WORKER_WEB_PORT)

sys.exit(run_worker(WorkerSettings(), broker_session_timeout=6, broker_heartbeat_interval=1))
"""


@pytest.mark.timeout(150)
def test_emwatch_worker_creates_topics_runs_the_catalogue_and_stops_on_sigterm(
    tansu_factory: Any, tmp_path: Path
) -> None:
    """``run_worker`` as ``emwatch worker`` runs it: own process (own chDB), real catalogue."""
    broker = tansu_factory()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        web_port = s.getsockname()[1]
    env = {
        **os.environ,
        "EMW_KAFKA_BOOTSTRAP": broker.bootstrap,
        "EMW_BUS": "kafka",
        "EMW_DATA_DIR": str(tmp_path),
        "EMW_WAREHOUSE_DSN": f"chdb://{tmp_path / 'warehouse'}",
        "EMW_WORKER_WEB_PORT": str(web_port),
        "EMW_LOG_LEVEL": "INFO",
    }
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", WORKER_SCRIPT], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        serving = ready = False
        while time.monotonic() < deadline and proc.poll() is None and not ready:
            if not serving:
                with contextlib.suppress(OSError):
                    socket.create_connection(("127.0.0.1", web_port), 0.5).close()
                    serving = True
            # Faust's recovery service logs this once partitions are assigned and tables restored
            ready = serving and "Worker ready" in log_path.read_text(errors="replace")
            time.sleep(0.2)
        tail = log_path.read_text(errors="replace")[-3000:]
        assert serving and ready, f"worker not ready (web port {web_port} open: {serving}): {tail}"
        for spec in topic_specs():
            assert _partitions(broker.bootstrap, spec.name) == spec.partitions, spec.name
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=30)
        assert rc == 0, log_path.read_text(errors="replace")[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


@pytest.mark.timeout(150)
def test_emwatch_gateway_publishes_keyed_catalogue_events_to_kafka(
    tansu_factory: Any, tmp_path: Path
) -> None:
    """``emwatch gateway hj212 --simulate`` as compose runs it (EMW_BUS=kafka), against Tansu.

    Topics are created first: Tansu auto-creates a topic on a metadata request (4 partitions) even
    when the producer asks it not to, which would break the catalogue's partition counts.
    """
    from kafka import KafkaConsumer, TopicPartition

    broker = tansu_factory()
    ensure_topics(broker.bootstrap, topic_specs())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "EMW_BUS": "kafka",
        "EMW_KAFKA_BOOTSTRAP": broker.bootstrap,
        "EMW_HJ212_PORT": str(port),
        "EMW_DATA_DIR": str(tmp_path),
    }
    log_path = tmp_path / "gateway.log"
    argv = [sys.executable, "-m", "streams.cli", "gateway", "hj212", "--simulate"]
    argv += ["--host", "127.0.0.1"]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            argv,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    ets = catalog.event_types()
    by_topic = {et.topic: et for et in ets.values()}
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest")
    try:
        consumer.assign(
            [
                TopicPartition(et.topic, p)
                for et in ets.values()
                if et.kind.startswith("vapor.")
                for p in range(et.partitions)
            ]
        )
        messages: list[Any] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(messages) < 50 and proc.poll() is None:
            for batch in consumer.poll(timeout_ms=500, max_records=200).values():
                messages.extend(batch)
        tail = log_path.read_text(errors="replace")[-3000:]
        assert len(messages) >= 50, f"gateway published {len(messages)} events in 60 s: {tail}"
        classes = catalog.classes_by_kind()
        for msg in messages:
            event = serde.decode(msg.value, classes)
            assert by_topic[msg.topic].kind == event.KIND
            assert msg.key == event.key.encode("utf-8")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0, log_path.read_text(errors="replace")[-3000:]
    finally:
        consumer.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)

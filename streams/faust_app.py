"""The Faust app of the production path: thin agents around the same processors the in-process bus
runs, plus one storage agent per event topic that writes through the batching sink.

Shape (built by ``build``/``make_app`` from the catalogue, or from explicit event types/processors):

- one ``faust.Topic`` per event kind (``emw.<KIND>``, explicit partition count from the catalogue,
  raw bytes: the value is ``streams.serde.encode(event)`` (JSON, or a columnar batch's binary form), the key is ``event.key`` in UTF-8);
- per processor, one Faust ``Table`` (its state, JSON values, changelog topic
  ``<app id>-state-<name>-changelog``) and one agent per input kind. The agent decodes the event,
  calls ``processor.handle(event, state, ctx)`` with a ``KeyedState`` view of the table, and sends
  what it returns to the topics of their kinds, keyed by ``.key``. The input is acknowledged only
  after the outputs are confirmed by the broker (at-least-once);
- per event kind, one storage agent: it takes batches (``sink_batch_size`` or ``sink_max_delay_s``),
  puts them into a ``BatchingSink`` and flushes it; the batch is acknowledged only after the insert
  succeeded, so a crash replays rather than loses (deterministic ids store the replay once). While
  the warehouse refuses writes the agent retries with back-off and stops consuming: backpressure.
  Faust's ``take_events`` acknowledges a batch in a ``finally`` even when the agent leaves it with
  an exception (a crash, the cancellation of a stop); ``hold_unacked`` keeps such a batch's
  offsets uncommitted.

Shutdown order (``WorkerApp``): the consumer stops fetching, the agents stop, the consumer commits
what was acknowledged, the producer flushes, and only then is the sink closed (``after_stop``):
no agent can write into a closed sink.

Co-partitioning: a table is partitioned like its input topics. Table changelog writes go to the
partition of the event being processed, and the producers' murmur2 partitioner (kafka-python and
aiokafka agree) puts one key on one partition, so a key's state lives where its events arrive. The
table gets the partition count of the processor's most partitioned input; an input topic with another
count is first re-published, same key and value, through an internal topic
``<app id>-repartition-<processor>-<kind>`` with the table's count (one extra hop; give the inputs of
one processor equal counts in ``streams.catalog.PARTITIONS`` to avoid it).

Poison input: an event that does not decode, or a processor that raises, is logged with the topic,
partition and offset, counted (``ShellStats``), and skipped by the processor (the state of that call
is discarded), as the in-process bus does; one bad event must not stall a partition. The storage
agent of that topic writes an undecodable message to ``dead_letter`` (stage ``decode``, raw bytes),
and the sink isolates rows the warehouse refuses, so every message is either stored or
dead-lettered before its offset is committed.

``run_worker(settings)`` is the ``emwatch worker`` entry point: it creates the topics (explicit
partitions) and runs a Faust worker until SIGINT/SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faust
from faust.tables import TableManager
from faust.tables.recovery import Recovery

from core.processing import Context, Processor
from streams import catalog, serde
from streams.catalog import EventType
from streams.warehouse.deadletter import DeadLetter, undecodable
from streams.warehouse.sink import BatchingSink

log = logging.getLogger(__name__)

_MISSING = object()


class KeyedState(MutableMapping[str, Any]):
    """The state mapping a processor sees for one event, over a Faust table.

    Reads come from the table; writes are collected and written back by ``commit()`` after the
    processor returned, so values mutated in place (``state[k]["n"] += 1``) reach the changelog too,
    and a processor that raises leaves the table untouched. Values must be JSON-serialisable or
    typed state objects with ``to_dict()``; they are stored as a JSON round-trip copy (of that dict),
    so the processor reads the stored dict back.
    """

    def __init__(self, table: MutableMapping[str, Any]) -> None:
        self._table = table
        self._live: dict[str, Any] = {}  # values handed out or assigned in this call
        self._before: dict[str, str | None] = {}  # JSON as read from the table (None: absent)
        self._deleted: set[str] = set()

    def _load(self, key: str) -> Any:
        if key in self._live:
            return self._live[key]
        if key in self._deleted:
            return _MISSING
        try:
            stored = self._table[key]
        except KeyError:
            self._before.setdefault(key, None)
            return _MISSING
        value = json.loads(json.dumps(stored))  # a private copy the processor may mutate
        self._before.setdefault(key, _dumps(value))
        self._live[key] = value
        return value

    def __getitem__(self, key: str) -> Any:
        value = self._load(key)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        self._load(key)
        self._deleted.discard(key)
        self._live[key] = value

    def __delitem__(self, key: str) -> None:
        if self._load(key) is _MISSING:
            raise KeyError(key)
        self._live.pop(key, None)
        self._deleted.add(key)

    def __iter__(self) -> Iterator[str]:
        seen = set(self._deleted)
        for k in self._live:
            seen.add(k)
            yield k
        for k in list(self._table.keys()):
            if k not in seen:
                yield k

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._load(key) is not _MISSING

    def commit(self) -> int:
        """Write changed values back to the table; returns how many keys were written/deleted."""
        n = 0
        for key, value in self._live.items():
            try:
                text = _dumps(value)
            except (TypeError, ValueError) as exc:
                raise TypeError(
                    f"state[{key!r}] is not JSON-serialisable ({exc}); processor state values must "
                    "be plain dicts/lists/numbers/strings or objects with to_dict()"
                ) from None
            if text != self._before.get(key):
                self._table[key] = json.loads(text)
                n += 1
        for key in self._deleted:
            if self._before.get(key) is not None:
                del self._table[key]
                n += 1
        return n


def _dumps(value: Any) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), allow_nan=False, default=_stored_form
    )


def _stored_form(value: Any) -> Any:
    """The state-store boundary: a processor's typed state object is kept as its ``to_dict()``."""
    to_dict = getattr(value, "to_dict", None)
    if to_dict is None:
        raise TypeError(f"{type(value).__name__} has no to_dict()")
    return to_dict()


@dataclass
class ShellStats:
    handled: int = 0
    emitted: int = 0
    bad_input: int = 0
    processor_errors: int = 0


@dataclass
class ProcessorShell:
    """Decode → ``processor.handle`` with a ``KeyedState`` → outputs. Holds no Faust code: the agent
    around it only moves bytes in and confirmed outputs out."""

    processor: Processor
    table: MutableMapping[str, Any]
    ctx: Context
    classes: dict[str, type]
    stats: ShellStats = field(default_factory=ShellStats)

    def run(self, raw: bytes | str, where: str = "") -> list[Any]:
        try:
            event = serde.decode(raw, self.classes)
        except Exception as exc:  # a peer's bad bytes: count, log, skip
            self.stats.bad_input += 1
            log.warning("processor %s: undecodable message %s: %s", self.processor.name, where, exc)
            return []
        state = KeyedState(self.table)
        try:
            outputs = list(self.processor.handle(event, state, self.ctx))
            state.commit()
        except Exception:  # our bug: count, log, skip this event (state left as it was)
            self.stats.processor_errors += 1
            log.exception(
                "processor %s failed on %s %s %s",
                self.processor.name,
                event.KIND,
                event.event_id,
                where,
            )
            return []
        self.stats.handled += 1
        self.stats.emitted += len(outputs)
        return outputs


class WarehouseWriter:
    """The storage agents' shared ``BatchingSink``; ``write`` returns once the rows are inserted."""

    def __init__(
        self,
        client_factory: Callable[[], Any],
        batch_size: int = 50_000,
        max_delay_s: float = 0.5,
        max_buffered: int = 500_000,
        max_backoff_s: float = 5.0,
    ) -> None:
        self._client_factory = client_factory
        self._batch_size = batch_size
        self._max_delay_s = max_delay_s
        self._max_buffered = max_buffered
        self._max_backoff_s = max_backoff_s
        self._sink: BatchingSink | None = None
        self._lock = asyncio.Lock()
        self.written = 0
        self.retries = 0

    async def _get_sink(self) -> BatchingSink:
        async with self._lock:
            if self._sink is None:
                client = await asyncio.to_thread(self._client_factory)
                # no flusher thread: the agent flushes itself, then acknowledges the batch
                self._sink = BatchingSink(
                    client,
                    batch_size=self._batch_size,
                    max_delay_s=self._max_delay_s,
                    max_buffered=self._max_buffered,
                )
            return self._sink

    async def write(self, events: Sequence[Any], letters: Sequence[DeadLetter] = ()) -> None:
        """Insert ``events`` (poison rows are dead-lettered by the sink) and ``letters``; return
        once everything is in the warehouse."""
        if not events and not letters:
            return
        sink = await self._get_sink()
        await sink.aput(events)
        sink.dead_letter(list(letters))
        backoff = 0.2
        while not await asyncio.to_thread(sink.flush):
            self.retries += 1
            log.warning(
                "warehouse refuses writes (%s); holding %d events, retry in %.1fs",
                sink.state().last_error,
                sink.state().buffered,
                backoff,
            )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff_s)
        self.written += len(events)

    def close(self) -> None:
        """Write what is left and close the sink (bounded, 10 s). Called once every agent stopped:
        a write after this raises ``RuntimeError('sink is closed')``."""
        if self._sink is not None:
            self._sink.close(timeout=10)


Emit = Callable[[Sequence[Any]], Any]


@dataclass
class FaustWiring:
    """Everything ``build`` made, for the worker and for tests."""

    app: faust.App
    event_types: dict[str, EventType]
    topics: dict[str, Any]  # kind -> faust Topic
    tables: dict[str, Any]  # processor name -> faust Table
    shells: dict[str, ProcessorShell]
    processor_agents: dict[tuple[str, str], Any]  # (processor, kind) -> agent
    sink_agents: dict[str, Any]  # kind -> agent
    forward_agents: dict[tuple[str, str], Any] = field(default_factory=dict)
    repartition_topics: dict[tuple[str, str], Any] = field(default_factory=dict)
    writer: WarehouseWriter | None = None
    emit: Emit = field(init=False)

    def __post_init__(self) -> None:
        self.emit = self.send_confirmed

    async def send_confirmed(self, events: Sequence[Any]) -> None:
        """Send events to the topics of their kinds, keyed, and wait for the broker's confirmation."""
        pending = []
        for e in events:
            topic = self.topics.get(e.KIND)
            if topic is None:
                raise ValueError(f"processor output kind {e.KIND!r} is not in the catalogue")
            pending.append(await topic.send(key=e.key.encode("utf-8"), value=serde.encode(e)))
        if pending:
            await asyncio.gather(*pending)


class WorkerApp(faust.App):
    """``faust.App`` that runs ``after_stop`` callbacks once every agent, the consumer (its last
    commit) and the producer have stopped: the storage agents' sink is closed only when no agent
    can write to it any more (closing it from ``on_before_shutdown``, which Faust sends while the
    agents still run, made a storage agent crash with "sink is closed", its supervisor restart
    it, and the stop slow)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.after_stop: list[Callable[[], Any]] = []

    async def on_shutdown(self) -> None:
        await super().on_shutdown()
        for callback in self.after_stop:
            try:
                await callback()
            except Exception:  # one failing close must not keep the others from running
                log.exception("worker: shutdown step failed")


class SeekFirstRecovery(Recovery):
    """Faust's table recovery, with stream partitions resumed only once they are seeked.

    After the changelogs are read (the enforcement tables have state, so a restarted worker always
    reads them), Faust's ``on_recovery_completed`` resumes the stream partitions and then seeks them
    to their committed offsets, while the flow it resumed for reading the changelogs is still
    running. Records fetched in between were processed, acknowledged and committed concurrently
    with that seek; the seek then put the consumer's committed and read offsets back to the value
    it had fetched, the fetcher went on with the batch it held (moving its read offset past the
    re-fetched records, which it then drops as already read), and the offsets popped by the
    concurrent commit left a hole at the head of the acknowledged offsets. Faust commits only a
    contiguous run from the committed offset, so that partition never committed again: the worker
    reported "Worker ready" and then committed nothing (faust-streaming issue #596 describes the
    same race). Stopping the flow first closes the window: nothing of a stream partition is
    delivered until the seek is done; Faust's own ``on_recovery_completed`` resumes the flow after
    it.
    """

    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        self.app.consumer.stop_flow()
        self.app.flow_control.suspend()
        await super().on_recovery_completed(generation_id)


class SeekFirstTableManager(TableManager):
    """Faust's table manager with ``SeekFirstRecovery`` (Faust builds its recovery lazily here)."""

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = SeekFirstRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery


def faust_config(settings: Any, **overrides: Any) -> dict[str, Any]:
    """The Faust settings of the worker; ``overrides`` win (tests shorten the timeouts)."""
    servers = [b.strip() for b in settings.kafka_bootstrap.split(",") if b.strip()]
    conf: dict[str, Any] = {
        "broker": [f"kafka://{s}" for s in servers],
        "store": "memory://",  # state is rebuilt from the changelog topics on start
        "datadir": str(Path(settings.data_dir) / "faust"),  # not the CWD (Faust's default)
        "autodiscover": False,
        "topic_partitions": catalog.DEFAULT_PARTITIONS,
        "topic_replication_factor": getattr(settings, "kafka_replication_factor", 1),
        "consumer_auto_offset_reset": "earliest",
        "producer_acks": -1,
        "stream_wait_empty": False,  # do not wait for buffers to drain on rebalance
        "TableManager": SeekFirstTableManager,  # no stream record before the seek (see there)
        "web_enabled": True,
        "web_bind": "0.0.0.0",
        "web_port": getattr(settings, "worker_web_port", 6066),  # the healthcheck probes it
    }
    conf.update(overrides)
    return conf


def _table_partitions(p: Processor, ets: Mapping[str, EventType]) -> int:
    """The partition count of a processor's table: that of its busiest (most partitioned) input."""
    missing = [k for k in p.inputs if k not in ets]
    if missing:
        raise ValueError(f"processor {p.name}: input kinds not in the catalogue: {missing}")
    if not p.inputs:
        raise ValueError(f"processor {p.name}: no input kinds")
    return max(ets[k].partitions for k in p.inputs)


def build(
    settings: Any,
    *,
    event_types: Mapping[str, EventType] | None = None,
    processors: Sequence[Processor] | None = None,
    ctx: Context | None = None,
    app_id: str | None = None,
    topic_prefix: str | None = None,
    warehouse_client: Callable[[], Any] | None = None,
    with_sink: bool = True,
    **faust_overrides: Any,
) -> FaustWiring:
    """Build the app; defaults come from the catalogue and ``settings``."""
    ets = dict(catalog.event_types() if event_types is None else event_types)
    procs = tuple(catalog.processors() if processors is None else processors)
    if ctx is None:
        from core.registry import load_registry
        from core.ruleset import load_ruleset

        ctx = Context(load_ruleset(settings.ruleset_dir), load_registry(settings.registry_dir))
    prefix = getattr(settings, "kafka_topic_prefix", "") if topic_prefix is None else topic_prefix
    conf = faust_config(settings, **faust_overrides)
    Path(conf["datadir"]).mkdir(parents=True, exist_ok=True)  # Faust makes only the last level
    app = WorkerApp(app_id or f"{settings.kafka_client_id}-worker", **conf)
    classes = {k: et.cls for k, et in ets.items()}
    topics = {
        kind: app.topic(
            f"{prefix}{et.topic}",
            partitions=et.partitions,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )
        for kind, et in ets.items()
    }

    writer: WarehouseWriter | None = None
    if with_sink:

        def _connect() -> Any:
            if warehouse_client is not None:
                return warehouse_client()
            from streams.warehouse.client import connect

            return connect(settings.resolved_dsn, settings.warehouse_database)

        writer = WarehouseWriter(
            _connect,
            batch_size=settings.sink_batch_size,
            max_delay_s=settings.sink_max_delay_s,
            max_buffered=settings.sink_max_buffered,
        )

    wiring = FaustWiring(app, ets, topics, {}, {}, {}, {}, writer=writer)

    for p in procs:
        partitions = _table_partitions(p, ets)
        table = app.Table(
            f"state-{p.name}",
            default=None,
            partitions=partitions,
            schema=faust.Schema(key_type=str, key_serializer="raw", value_serializer="json"),
        )
        shell = ProcessorShell(p, table, ctx, classes)
        wiring.tables[p.name] = table
        wiring.shells[p.name] = shell
        for kind in p.inputs:
            source = topics[kind]
            if ets[kind].partitions != partitions:
                # not co-partitioned with the table: re-publish through a topic that is
                source = app.topic(
                    f"{app.conf.id}-repartition-{p.name}-{kind}",
                    partitions=partitions,
                    internal=True,
                    key_type=bytes,
                    value_type=bytes,
                    key_serializer="raw",
                    value_serializer="raw",
                )
                wiring.repartition_topics[(p.name, kind)] = source
                wiring.forward_agents[(p.name, kind)] = app.agent(
                    topics[kind], name=f"repartition.{p.name}.{kind}"
                )(_forward_agent(source))
            agent = app.agent(source, name=f"proc.{p.name}.{kind}")(_processor_agent(wiring, shell))
            wiring.processor_agents[(p.name, kind)] = agent

    if writer is not None:
        for kind in ets:
            agent = app.agent(topics[kind], name=f"sink.{kind}")(
                _sink_agent(writer, classes, settings.sink_batch_size, settings.sink_max_delay_s)
            )
            wiring.sink_agents[kind] = agent

        app.after_stop.append(lambda: asyncio.to_thread(writer.close))

    return wiring


def _processor_agent(wiring: FaustWiring, shell: ProcessorShell) -> Callable[[Any], Any]:
    async def process(stream: Any) -> Any:
        async for event in stream.events():
            msg = event.message
            outputs = shell.run(event.value, f"({msg.topic}[{msg.partition}]@{msg.offset})")
            if outputs:
                await wiring.emit(outputs)
            yield len(outputs)

    return process


def _forward_agent(target: Any, batch: int = 1000, within: float = 0.05) -> Callable[[Any], Any]:
    async def forward(stream: Any) -> Any:
        async for events in stream.take_events(batch, within=within):
            pending = [await target.send(key=ev.key, value=ev.value) for ev in events]
            await asyncio.gather(*pending)  # acknowledged only once re-published
            yield len(pending)

    return forward


def _sink_agent(
    writer: WarehouseWriter, classes: dict[str, type], batch: int, within: float
) -> Callable[[Any], Any]:
    async def store(stream: Any) -> Any:
        async for batch_events in stream.take_events(batch, within=within):
            events = []
            letters = []
            for ev in batch_events:
                try:
                    events.append(serde.decode(ev.value, classes))
                except Exception as exc:  # a bad message must not block the topic: dead letter
                    log.warning("sink: undecodable message dead-lettered: %s", exc)
                    letters.append(undecodable(ev.value, exc, stage="decode"))
            try:
                await writer.write(events, letters)
            except BaseException:
                hold_unacked(batch_events)
                raise
            yield len(events)

    return store


def hold_unacked(events: Sequence[Any]) -> None:
    """Keep the messages of a batch that did not reach the warehouse from being committed.

    Faust's ``take``/``take_events`` acknowledge every event of the batch in a ``finally`` once
    the agent leaves the ``yield``, also when it leaves with an exception (a crash, the
    cancellation of a stop): the consumer would then commit offsets of records that were never
    stored, and a restart would skip them. One extra reference per message makes that ``ack``
    a decrement, not the last one, so the offsets stay uncommitted and the records are
    delivered again after a restart (stored once by their deterministic ids). Known limit: after a
    crash that is not a stop (a bug: the writer retries outages and dead-letters poison itself),
    the partitions of that batch commit nothing more until the worker restarts; safe, and
    visible as consumer lag."""
    for ev in events:
        ev.message.incref()


def make_app(settings: Any, **kwargs: Any) -> faust.App:
    """The Faust app (see ``build`` for the keyword arguments)."""
    return build(settings, **kwargs).app


def run_worker(settings: Any, **faust_overrides: Any) -> int:
    """``emwatch worker``: create the topics, then run a Faust worker until SIGINT/SIGTERM.

    ``faust_overrides`` are Faust settings (tests pass short ``broker_session_timeout``s: a
    broker may hold the first JoinGroup for up to half the session timeout, Tansu does).
    """
    from streams.topics import ensure_topics, topic_specs

    prefix = getattr(settings, "kafka_topic_prefix", "")
    ensure_topics(
        settings.kafka_bootstrap,
        topic_specs(prefix=prefix),
        replication_factor=getattr(settings, "kafka_replication_factor", 1),
    )
    app = make_app(settings, **faust_overrides)
    worker = faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0

"""Kafka bus for the edge (gateways, intakes): kafka-python producer, confirmed publishes.

Guarantees
----------
- **Confirmed or raised.** ``publish(events)`` returns only when the broker has acknowledged every
  event with ``acks='all'`` (all in-sync replicas have it). If any event is not confirmed within
  ``confirm_timeout_s`` (broker down, partition without leader, topic missing), it raises
  ``BusUnavailableError`` naming the broker, the topic and the cause; the caller must then not
  acknowledge its device (the device re-sends or back-fills). Some events of a failed batch may
  have been stored anyway: at-least-once, and the deterministic ``event_id`` makes the replay land
  once in the warehouse (ReplacingMergeTree, read with FINAL).
- **No duplicates from producer retries, order per key.** ``enable_idempotence=True`` (kafka-python
  3.x; older releases reject the option): the broker drops retried batches it already has, and
  with at most 5 requests in flight per connection the order within a partition is kept. Key = ``event.key`` (UTF-8), so one
  subject's events go to one partition, in publish order. kafka-python's default partitioner is the
  Java client's murmur2, the same one aiokafka (Faust) uses, so processors' state partitions agree.
- **Never blocks the event loop.** ``KafkaProducer.send`` may block (metadata of a new topic), so
  serialisation and sends run on one dedicated thread (which also keeps publish order); the
  producer's I/O thread counts the confirmations of a publish and resolves its asyncio future once,
  through ``loop.call_soon_threadsafe`` (one loop wake-up per publish, not per event).
- **Explicit topics.** ``allow_auto_create_topics=False``: topics are created with their catalogue
  partition counts by ``streams.topics.ensure_topics`` (``emwatch topics``). Before a producer is
  built (at start and after every fault) the bus reads the metadata of *all* topics (a request that
  names no topic, which no broker answers by creating one) and refuses to publish while a catalogue
  topic is missing or has another partition count, saying which and that ``emwatch topics``
  creates it. So a client never names a missing topic to the broker: Tansu (the test broker)
  auto-creates any topic a metadata request names, whatever the client asks.
- **Recovers by itself.** A publish that fails (broker restarted or unreachable, partition
  without leader past the delivery timeout, producer id unknown or fenced after a broker lost its
  state: ``InitProducerId … UnknownError``) throws the producer away (closed on a side thread) and
  the next publish builds a new one (new connection, new producer id; one build at a time, the
  concurrent publishes wait for it), at most once per
  ``rebuild_backoff_s``; while the broker is away each publish fails fast with
  ``BusUnavailableError`` (the gateways do not acknowledge and the devices re-send). Publishing
  resumes with the first publish after the broker is back, well within 10 s.

Tuning: ``linger_ms=5`` and 256 KiB batches let a busy gateway fill batches while a lone event waits
at most 5 ms; ``compression_type='gzip'`` is off by default (JSON events compress well, turn it on
when the network, not the CPU, is the limit).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from core.errors import EmwError
from streams import catalog, serde
from streams.catalog import EventType

log = logging.getLogger(__name__)


class BusUnavailableError(EmwError, ConnectionError):
    """The bus did not confirm a publish (broker unreachable, timed out, or refused)."""


class KafkaBus:
    """``streams.bus.base.Bus`` over Kafka: one idempotent producer, confirmed publishes."""

    def __init__(
        self,
        bootstrap: str | Any,
        *,
        client_id: str | None = None,
        event_types: Mapping[str, EventType] | None = None,
        topic_prefix: str | None = None,
        confirm_timeout_s: float = 30.0,
        connect_timeout_s: float = 10.0,
        rebuild_backoff_s: float = 1.0,
        linger_ms: int = 5,
        batch_size: int = 256 * 1024,
        compression_type: str | None = None,
        **producer_config: Any,
    ) -> None:
        if not isinstance(bootstrap, str):  # a streams.settings.Settings
            settings = bootstrap
            bootstrap = settings.kafka_bootstrap
            client_id = client_id or settings.kafka_client_id
            if topic_prefix is None:
                topic_prefix = getattr(settings, "kafka_topic_prefix", "")
        client_id = client_id or "emwatch"
        topic_prefix = topic_prefix or ""
        self.bootstrap = bootstrap
        self._servers = [b.strip() for b in bootstrap.split(",") if b.strip()]
        ets = catalog.event_types() if event_types is None else event_types
        self._topics: dict[str, str] = {k: f"{topic_prefix}{et.topic}" for k, et in ets.items()}
        self._partitions: dict[str, int] = {
            f"{topic_prefix}{et.topic}": et.partitions for et in ets.values()
        }
        self.confirm_timeout_s = confirm_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.rebuild_backoff_s = rebuild_backoff_s
        self._config: dict[str, Any] = {
            "bootstrap_servers": self._servers,
            "client_id": client_id,
            "acks": "all",
            "enable_idempotence": True,
            "max_in_flight_requests_per_connection": 5,
            "linger_ms": linger_ms,
            "batch_size": batch_size,
            "compression_type": compression_type,
            "allow_auto_create_topics": False,
            # a send waits at most this long for metadata (e.g. a missing topic)
            "max_block_ms": int(min(confirm_timeout_s, 10.0) * 1000),
            # a record not confirmed after this long fails instead of retrying forever
            "delivery_timeout_ms": int(confirm_timeout_s * 1000),
            # kafka-python requires delivery_timeout_ms > linger_ms + request_timeout_ms
            "request_timeout_ms": int(min(confirm_timeout_s / 2, 30.0) * 1000),
            "bootstrap_timeout_ms": int(connect_timeout_s * 1000),
            "reconnect_backoff_max_ms": 2000,
        }
        self._config.update(producer_config)
        self._producer: Any = None
        self._executor: ThreadPoolExecutor | None = None
        self._next_build_at = 0.0
        self._build_lock: asyncio.Lock | None = None  # one rebuild at a time (made in start())
        self._last_error = ""
        self.published = 0
        self.rebuilds = 0  # producers built after a fault (the first one is not counted)
        self._generation = 0  # bumped with every producer built
        self.failures = 0

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> KafkaBus:
        """Build from ``streams.settings.Settings`` (``EMW_KAFKA_BOOTSTRAP``, ``EMW_KAFKA_CLIENT_ID``,
        ``EMW_KAFKA_TOPIC_PREFIX`` when the settings have it); ``KafkaBus(settings)`` does the same."""
        return cls(settings, **kwargs)

    def topic_for(self, kind: str) -> str:
        try:
            return self._topics[kind]
        except KeyError:
            raise ValueError(
                f"event kind {kind!r} is not in the catalogue (its plugin in streams.catalog.PLUGINS)"
            ) from None

    async def start(self) -> None:
        """Connect the producer; raises ``BusUnavailableError`` when no broker answers or a
        catalogue topic is missing (``emwatch topics`` creates them)."""
        from kafka.errors import KafkaConfigurationError

        self._executor = ThreadPoolExecutor(1, thread_name_prefix="emw-kafka-send")
        self._build_lock = asyncio.Lock()
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._build, False)
        except KafkaConfigurationError:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise
        except BusUnavailableError:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise

    def _build(self, rebuild: bool) -> None:
        """On the send thread: check the topics, then build a producer (raises
        ``BusUnavailableError``)."""
        from kafka import KafkaProducer
        from kafka.errors import KafkaConfigurationError, KafkaError

        try:
            self._check_topics()
            self._producer = KafkaProducer(**self._config)
            self._generation += 1
        except (KafkaConfigurationError, BusUnavailableError):
            raise
        except (KafkaError, OSError) as exc:
            raise BusUnavailableError(f"Kafka at {self.bootstrap} is unavailable: {exc}") from exc
        if rebuild:
            self.rebuilds += 1
            log.warning("kafka bus: producer rebuilt after a fault (%s)", self._last_error)

    def _check_topics(self) -> None:
        """Every catalogue topic exists with its partition count (metadata of all topics: names
        no topic, so no broker creates one)."""
        if not self._partitions:
            return
        from kafka.admin import KafkaAdminClient

        admin = KafkaAdminClient(
            bootstrap_servers=self._servers,
            client_id=f"{self._config['client_id']}-check",
            request_timeout_ms=int(self.connect_timeout_s * 1000),
            # after a fault, try often and fail fast: the gateways wait on this
            bootstrap_timeout_ms=int(min(self.connect_timeout_s, 3.0) * 1000),
        )
        try:
            meta = admin.describe_topics()
        finally:
            admin.close()
        have = {t["name"]: len(t["partitions"]) for t in meta if not t.get("error_code")}
        wrong = [
            f"{name} ({'missing' if name not in have else f'{have[name]} partitions, not {n}'})"
            for name, n in sorted(self._partitions.items())
            if have.get(name) != n
        ]
        if wrong:
            raise BusUnavailableError(
                f"Kafka at {self.bootstrap}: topics not as the catalogue says: "
                f"{', '.join(wrong[:5])}{' …' if len(wrong) > 5 else ''}; "
                "create them with `emwatch topics` (clients never auto-create topics)"
            )

    def _discard_producer(self, cause: BaseException, generation: int) -> None:
        """Forget the producer after a fault; close it on a side thread (it may hang on a dead
        broker) so the next publish builds a fresh one. A failure of an older producer (publishes
        still in flight when it was replaced) leaves the current one alone."""
        if generation != self._generation:
            return
        producer, self._producer = self._producer, None
        self._last_error = f"{type(cause).__name__}: {cause}"[:300]
        self.failures += 1
        if producer is not None:
            threading.Thread(
                target=_close_quietly, args=(producer,), name="emw-kafka-close", daemon=True
            ).start()

    async def _ensure_producer(self) -> None:
        """Build a producer if there is none. Single flight: the publishes of every connection
        find the producer gone at once after a fault; only the first builds one, the others wait
        for it (or for its failure, then fail fast until ``rebuild_backoff_s`` has passed).
        Without the lock each of them queued its own build on the send thread: a gateway with
        2,000 terminals built hundreds of producers in a row (each replacing, and leaking, the
        previous one) before the first publish could go through."""
        if self._producer is not None:
            return
        assert self._executor is not None and self._build_lock is not None
        async with self._build_lock:
            if self._producer is not None:  # built while this publish waited
                return
            if time.monotonic() < self._next_build_at:
                raise BusUnavailableError(
                    f"Kafka at {self.bootstrap} unavailable, reconnecting (last error: "
                    f"{self._last_error})"
                )
            loop = asyncio.get_running_loop()
            try:
                await loop.run_in_executor(self._executor, self._build, True)
            except BusUnavailableError as exc:
                self._next_build_at = time.monotonic() + self.rebuild_backoff_s
                self._last_error = str(exc)[:300]
                raise

    async def publish(self, events: Sequence[Any]) -> None:
        """Send every event and return once all are confirmed (acks=all); raise if any is not."""
        if not events:
            return
        if self._executor is None:
            raise RuntimeError("KafkaBus.publish before start()")
        # resolve topics and serialise first (off the loop: ~12 µs an event), so that a bad event
        # fails the whole call, as itself, before anything is sent
        loop = asyncio.get_running_loop()
        records = await loop.run_in_executor(self._executor, self._encode, events)
        await self._ensure_producer()
        generation = self._generation
        confirmed = _Confirmation(loop, len(records))
        started = time.monotonic()
        try:
            await loop.run_in_executor(self._executor, self._send_all, records, confirmed)
            await asyncio.wait_for(confirmed.future, timeout=self.confirm_timeout_s + 5)
        except Exception as exc:
            self._discard_producer(exc, generation)
            raise BusUnavailableError(
                f"Kafka at {self.bootstrap} did not confirm {len(records)} events "
                f"(first topic {records[0][0]}) within {time.monotonic() - started:.1f}s: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        self.published += len(records)

    def _encode(self, events: Sequence[Any]) -> list[tuple[str, bytes, bytes]]:
        return [(self.topic_for(e.KIND), e.key.encode("utf-8"), serde.encode(e)) for e in events]

    def _send_all(self, records: list[tuple[str, bytes, bytes]], confirmed: _Confirmation) -> None:
        """Runs on the send thread: enqueue every record, count its confirmation."""
        producer = self._producer
        if producer is None:
            confirmed.fail(BusUnavailableError("producer discarded after a fault"))
            return
        for topic, key, value in records:
            try:
                fut = producer.send(topic, key=key, value=value)
            except Exception as exc:  # metadata timeout, closed producer, record too large
                confirmed.fail(exc)
                return
            fut.add_callback(confirmed.ok)
            fut.add_errback(confirmed.fail)

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Deliver what was accepted (bounded by ``timeout_s``), then close the producer."""
        producer, executor = self._producer, self._executor
        self._producer = self._executor = None
        if executor is None:
            return
        if producer is None:  # discarded after a fault: nothing confirmed is left to deliver
            executor.shutdown(wait=True)
            return
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(executor, producer.flush, timeout_s)
        except Exception as exc:  # broker gone: what is unconfirmed was never acknowledged
            log.warning("kafka bus: flush on stop failed: %s", exc)
        await loop.run_in_executor(executor, lambda: producer.close(timeout=timeout_s))
        executor.shutdown(wait=True)


def _close_quietly(producer: Any) -> None:
    try:
        producer.close(timeout=1)
    except Exception as exc:  # a broken producer: nothing to save, it confirmed nothing more
        log.debug("kafka bus: closing a discarded producer: %s", exc)


class _Confirmation:
    """Counts a publish's confirmations on the producer's I/O thread and wakes the event loop once:
    when the last record is acknowledged, or at the first failure."""

    def __init__(self, loop: asyncio.AbstractEventLoop, n: int) -> None:
        self.future: asyncio.Future[None] = loop.create_future()
        self._loop = loop
        self._pending = n
        self._lock = threading.Lock()
        self._done = False

    def ok(self, _metadata: Any) -> None:
        with self._lock:
            self._pending -= 1
            if self._pending or self._done:
                return
            self._done = True
        self._loop.call_soon_threadsafe(_resolve, self.future, None)

    def fail(self, exc: BaseException) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        self._loop.call_soon_threadsafe(_resolve, self.future, exc)


def _resolve(fut: asyncio.Future[None], exc: BaseException | None) -> None:
    if fut.done():
        return
    if exc is None:
        fut.set_result(None)
    else:
        fut.set_exception(exc)

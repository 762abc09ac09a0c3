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
  partition counts by ``streams.topics.ensure_topics``; publishing to a missing topic fails within
  ``max_block_ms`` instead of creating a topic with the broker's default partition count.

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
        self.confirm_timeout_s = confirm_timeout_s
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
        self.published = 0

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
        """Connect the producer; raises ``BusUnavailableError`` when no broker answers."""
        from kafka import KafkaProducer
        from kafka.errors import KafkaConfigurationError, KafkaError

        self._executor = ThreadPoolExecutor(1, thread_name_prefix="emw-kafka-send")
        loop = asyncio.get_running_loop()
        try:
            self._producer = await loop.run_in_executor(
                self._executor, lambda: KafkaProducer(**self._config)
            )
        except KafkaConfigurationError:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise
        except KafkaError as exc:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise BusUnavailableError(f"Kafka at {self.bootstrap} is unavailable: {exc}") from exc

    async def publish(self, events: Sequence[Any]) -> None:
        """Send every event and return once all are confirmed (acks=all); raise if any is not."""
        if not events:
            return
        if self._producer is None or self._executor is None:
            raise RuntimeError("KafkaBus.publish before start()")
        # resolve topics and serialise first (off the loop: ~12 µs an event), so that a bad event
        # fails the whole call, as itself, before anything is sent
        loop = asyncio.get_running_loop()
        records = await loop.run_in_executor(self._executor, self._encode, events)
        confirmed = _Confirmation(loop, len(records))
        started = time.monotonic()
        try:
            await loop.run_in_executor(self._executor, self._send_all, records, confirmed)
            await asyncio.wait_for(confirmed.future, timeout=self.confirm_timeout_s + 5)
        except Exception as exc:
            raise BusUnavailableError(
                f"Kafka at {self.bootstrap} did not confirm {len(records)} events "
                f"(first topic {records[0][0]}) within {time.monotonic() - started:.1f}s: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        self.published += len(records)

    def _encode(self, events: Sequence[Any]) -> list[tuple[str, bytes, bytes]]:
        return [(self.topic_for(e.KIND), e.key.encode("utf-8"), serde.to_json(e)) for e in events]

    def _send_all(self, records: list[tuple[str, bytes, bytes]], confirmed: _Confirmation) -> None:
        """Runs on the send thread: enqueue every record, count its confirmation."""
        for topic, key, value in records:
            try:
                fut = self._producer.send(topic, key=key, value=value)
            except Exception as exc:  # metadata timeout, closed producer, record too large
                confirmed.fail(exc)
                return
            fut.add_callback(confirmed.ok)
            fut.add_errback(confirmed.fail)

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Deliver what was accepted (bounded by ``timeout_s``), then close the producer."""
        producer, executor = self._producer, self._executor
        self._producer = self._executor = None
        if producer is None or executor is None:
            return
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(executor, producer.flush, timeout_s)
        except Exception as exc:  # broker gone: what is unconfirmed was never acknowledged
            log.warning("kafka bus: flush on stop failed: %s", exc)
        await loop.run_in_executor(executor, lambda: producer.close(timeout=timeout_s))
        executor.shutdown(wait=True)


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

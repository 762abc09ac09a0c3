"""Topic registry: one Kafka topic per event type, created with its explicit partition count.

The catalogue (``streams.catalog.event_types()``) is the single source of names and partition
counts: topic ``emw.<KIND>`` (optionally behind a prefix, e.g. a random one per test run), keyed by
the event's subject key so that one subject's events stay ordered on one partition.

Why create topics here instead of letting clients auto-create them: an auto-created topic gets the
broker's default partition count, and Faust tables are co-partitioned with their input topics; a
wrong count silently splits one subject's state. So producers run with
``allow_auto_create_topics=False``, and ``ensure_topics`` runs before gateways and workers start
(``emwatch worker`` calls it; it is idempotent). An existing topic with a different partition
count is an error that names the topic and both counts: Kafka can only grow partitions, and growing
them re-maps keys, which is an operator decision, not something to do on start-up.

Tansu (the broker of the integration tests) auto-creates a missing topic with 4 partitions on any
metadata request, whatever the producer asks: there too, create the topics first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from streams import catalog
from streams.catalog import EventType

log = logging.getLogger(__name__)


class TopicError(RuntimeError):
    """A topic exists with the wrong shape, or the broker refused to create it."""


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    kind: str


def topic_name(event_type: EventType, prefix: str = "") -> str:
    return f"{prefix}{event_type.topic}"


def topic_specs(
    event_types: Mapping[str, EventType] | None = None, prefix: str = ""
) -> list[TopicSpec]:
    """The topics of every catalogued event type (or of ``event_types``), sorted by name."""
    ets = catalog.event_types() if event_types is None else event_types
    return sorted(
        (TopicSpec(topic_name(et, prefix), et.partitions, et.kind) for et in ets.values()),
        key=lambda s: s.name,
    )


def _bootstrap_list(bootstrap: str) -> list[str]:
    return [b.strip() for b in bootstrap.split(",") if b.strip()]


def ensure_topics(
    bootstrap: str,
    specs: list[TopicSpec] | None = None,
    *,
    replication_factor: int = 1,
    client_id: str = "emwatch-topics",
    timeout_s: float = 30.0,
) -> dict[str, str]:
    """Create the missing topics with their partition counts; check the existing ones.

    Returns ``{topic: "created" | "exists"}``. Raises ``TopicError`` when an existing topic has a
    different partition count or the broker refuses a creation, and ``kafka.errors.KafkaError``
    (e.g. ``NoBrokersAvailable``) when the broker cannot be reached.
    """
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    wanted = topic_specs() if specs is None else specs
    admin = KafkaAdminClient(
        bootstrap_servers=_bootstrap_list(bootstrap),
        client_id=client_id,
        request_timeout_ms=int(timeout_s * 1000),
    )
    try:
        existing = set(admin.list_topics())
        result: dict[str, str] = {}
        missing = [s for s in wanted if s.name not in existing]
        for spec in missing:
            try:
                admin.create_topics(
                    [NewTopic(spec.name, spec.partitions, replication_factor)],
                    timeout_ms=int(timeout_s * 1000),
                )
                result[spec.name] = "created"
            except TopicAlreadyExistsError:  # another worker won the race: check it below
                result[spec.name] = "exists"
            except KafkaError as exc:
                raise TopicError(f"broker refused to create topic {spec.name}: {exc}") from exc
        for spec in wanted:
            result.setdefault(spec.name, "exists")
        counts = _partition_counts(admin, [s.name for s in wanted], timeout_s)
        for spec in wanted:
            have = counts.get(spec.name)
            if have != spec.partitions:
                raise TopicError(
                    f"topic {spec.name} has {have} partitions, the catalogue says "
                    f"{spec.partitions}: fix the topic or streams.catalog.PARTITIONS"
                )
        created = [n for n, s in result.items() if s == "created"]
        if created:
            log.info("created %d topics: %s", len(created), ", ".join(created))
        return result
    finally:
        admin.close()


def _partition_counts(admin: object, names: list[str], timeout_s: float) -> dict[str, int]:
    """Partition count per topic; waits briefly for metadata of just-created topics."""
    deadline = time.monotonic() + timeout_s
    while True:
        meta = admin.describe_topics(names)  # type: ignore[attr-defined]
        counts = {
            t["name"]: len(t["partitions"])
            for t in meta
            if not t.get("error_code") and t["partitions"]
        }
        if len(counts) == len(names) or time.monotonic() >= deadline:
            return counts
        time.sleep(0.2)

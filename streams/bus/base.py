"""The bus protocol: publish events (confirmed), and run processors over them.

Two implementations chosen by configuration (``EMW_BUS``): ``inproc`` (embedded default, one
process) and ``kafka`` (kafka-python producers at the edge, Faust workers running the processors).
Both call the same pure processors (``core.processing.Processor``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class Bus(Protocol):
    async def start(self) -> None: ...

    async def publish(self, events: Sequence[Any]) -> None:
        """Return only when the events are durably accepted (Kafka: acks=all)."""
        ...

    async def stop(self) -> None:
        """Deliver/flush what was accepted, then release resources."""
        ...

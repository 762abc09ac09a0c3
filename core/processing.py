"""The processor contract shared by the in-process runner and the Faust agents.

A processor is a pure function over one event and the state of that event's key. It never reads
the clock (``event.ts`` is "now") and never does IO; what it returns is published and stored.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.events import Event
from core.registry import Registry
from core.ruleset import RuleSet

Publish = Callable[[Sequence[Event]], Awaitable[None]]
"""Injected into gateways/intakes: returns once the bus has confirmed the events."""


@dataclass(frozen=True, slots=True)
class Context:
    ruleset: RuleSet
    registry: Registry


Handler = Callable[[Any, MutableMapping[str, Any], Context], Iterable[Event]]


@dataclass(frozen=True, slots=True)
class Processor:
    name: str
    inputs: tuple[str, ...]  # event KINDs consumed
    handle: Handler

"""Shared fixtures: a fresh, migrated chDB warehouse per test (session-wide engine, one database
per test), the shipped rule set and registry, and a collecting publish callable."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"


@pytest.fixture(scope="session")
def chdb_dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One chDB data directory for the whole session (chDB allows one path per process)."""
    return f"chdb://{tmp_path_factory.mktemp('chdb')}"


@pytest.fixture
def warehouse(chdb_dsn: str) -> Iterator[Any]:
    """A clickhouse-connect client on a new, fully migrated database (random name per test)."""
    from streams.warehouse.client import connect
    from streams.warehouse.migrator import migrate

    db = f"t_{uuid.uuid4().hex[:12]}"
    client = connect(chdb_dsn, db)
    migrate(client)
    yield client
    client.command(f"DROP DATABASE IF EXISTS `{db}`")


@pytest.fixture(scope="session")
def ruleset() -> Any:
    from core.ruleset import default_ruleset

    return default_ruleset()


@pytest.fixture(scope="session")
def registry() -> Any:
    from core.registry import default_registry

    return default_registry()


class Collector:
    """A publish callable that records what it was given (confirms at once)."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    async def __call__(self, events: Any) -> None:
        self.events.extend(events)

    def of_kind(self, kind: str) -> list[Any]:
        return [e for e in self.events if kind == e.KIND]


@pytest.fixture
def collector() -> Collector:
    return Collector()


@pytest.fixture
async def pipeline(warehouse: Any, ruleset: Any, registry: Any, tmp_path: Path) -> Any:
    """An embedded pipeline (sink + in-process bus + all catalogued processors) on ``warehouse``,
    without source services; start a service yourself with ``await p.start_services(["obd_gateway"])``
    or call its ``embedded.start(p.service_context)``. Use ``await p.settle()`` before asserting."""
    from streams.pipeline import Pipeline

    p = Pipeline(warehouse, ruleset, registry, tmp_path, max_delay_s=0.05, simulate=False)
    await p.start(with_services=False)
    yield p
    await p.stop()

"""How a source package runs inside a process (the embedded runner or its own container).

Each source package exposes ``<package>/embedded.py`` with::

    async def start(ctx: ServiceContext) -> Service

which starts its gateway/intake (and, when ``ctx.simulate`` is true, its simulator feeding that
gateway over real loopback sockets/HTTP) and returns a handle. The runner calls ``stop()`` on
shutdown (before the sink's final flush) and prints ``describe()`` under "where to look".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from core.credentials import DeviceCredentials
from core.metrics import Metrics
from core.processing import Publish
from core.registry import Registry
from core.ruleset import RuleSet


@dataclass(frozen=True, slots=True)
class ServiceContext:
    publish: Publish
    registry: Registry
    ruleset: RuleSet
    metrics: Metrics
    data_dir: Path  # per-service files go under data_dir / <package>
    host: str = "127.0.0.1"
    ports: dict[str, int] = field(default_factory=dict)  # e.g. {"obd": 9100}
    simulate: bool = True
    sim_scale: float = 1.0  # multiplies simulator fleet sizes / rates
    credentials: DeviceCredentials | None = None  # device secrets (the runner passes its store)

    def device_credentials(self) -> DeviceCredentials:
        """The device credentials to check: the runner's, else the registry's plus the store
        under ``data_dir`` (demo secrets of the simulators are generated there)."""
        if self.credentials is not None:
            return self.credentials
        return DeviceCredentials.for_registry(self.registry, self.data_dir)


class Service(Protocol):
    name: str

    async def stop(self) -> None: ...

    def describe(self) -> dict[str, str]:
        """Human-readable 'where to look' lines, e.g. {"OBD gateway": "tcp://127.0.0.1:9100"}."""
        ...

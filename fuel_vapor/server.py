"""The asyncio HJ 212 gateway for gas stations, oil depots and station sensors.

The shell (``core.gateway``: sockets, connection limit, idle sweep, partial-packet timeout,
publish-then-ack, one write of the answers per read, metric names) with one
:class:`~fuel_vapor.session.Hj212Session` per connection; bytes are decoded by the sans-IO codec
(``fuel_vapor.protocol``), values by the unit's code map, events built by ``fuel_vapor.intake``.
A good upload is answered 9014 only after ``publish`` returned; when the publish fails or times
out its acknowledgements are dropped (the device re-sends after its OverTime), the 9011 refusals
of the same read are written all the same, and the connection stays open.

Metrics (component ``fuel_vapor``): the shell's (``core.gateway``) and the session's
``bad_packets{reason}``, ``packets_ok``, ``records``, ``bad_values{reason}``,
``modbus_crc_accepted``, ``answers_received``, ``split_joined``, ``split_expired``,
``split_parts_unjoined``, ``session_moved``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime

from core.credentials import DeviceCredentials
from core.gateway import Gateway, GatewaySettings
from core.metrics import Metrics
from core.processing import Publish
from core.registry import Registry
from core.ruleset import RuleSet
from core.timeutil import utcnow
from fuel_vapor.codemaps import CodeMap, default_codemaps
from fuel_vapor.intake import raw_hash
from fuel_vapor.session import DEFAULT_MAX_SEGMENT, Hj212Session, Hj212Units, UnitSession

COMPONENT = "fuel_vapor"


class VaporGateway(Gateway):
    def __init__(
        self,
        publish: Publish,
        registry: Registry,
        metrics: Metrics,
        settings: GatewaySettings | None = None,
        *,
        codemaps: Mapping[str, CodeMap] | None = None,
        ruleset: RuleSet | None = None,
        split_timeout_s: float = 120.0,
        answer_bad_crc_uploads: bool = False,
        modbus_mns: frozenset[str] = frozenset(),  # per-device opt-in for CRC-16/MODBUS
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utcnow,
        credentials: DeviceCredentials | None = None,
    ) -> None:
        settings = settings or GatewaySettings()
        self.registry = registry
        # PW per data unit: the registry's digests unless the runner passes the managed store
        self.credentials = credentials or DeviceCredentials.for_registry(registry, None)
        self.units = Hj212Units(
            registry,
            self.credentials,
            codemaps or default_codemaps(),
            ruleset=ruleset,
            split_timeout_s=split_timeout_s,
            answer_bad_crc_uploads=answer_bad_crc_uploads,
            modbus_mns=modbus_mns,
            max_segment=settings.max_frame or DEFAULT_MAX_SEGMENT,
            clock=clock,
        )
        super().__init__(publish, metrics, COMPONENT, self._session, settings, now)

    def _session(self, peer: str) -> Hj212Session:
        return self.units.session(peer)

    @property
    def sessions(self) -> dict[str, UnitSession]:
        """Data units seen, by MN."""
        return self.units.sessions

    def describe(self) -> dict[str, str]:
        return {"Vapour-recovery HJ 212 gateway": f"tcp://{self.host}:{self.port}"}

    def bad_counts(self) -> dict[str, float]:
        self.flush_metrics()
        return self.metrics.counters(COMPONENT, "bad_packets")


__all__ = ["COMPONENT", "GatewaySettings", "UnitSession", "VaporGateway", "raw_hash"]

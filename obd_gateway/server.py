"""The asyncio TCP gateway for HJ 1239 / GB 17691 terminals: the only IO of the OBD source.

The shell (``core.gateway``: sockets, connection limit, idle sweep, partial-frame timeout,
publish-then-ack, batching of answers per read, metric names) with one
:class:`~obd_gateway.session.Session` per connection, which owns the frame decoder and what a
frame means. A failed publish closes the connection without acknowledgements, so the terminal
re-sends or back-fills.

Metrics (component ``obd_gateway``): the shell's (``core.gateway``) and the session's ``frames``
by command, ``bad_frames`` by reason, ``samples`` by kind, ``time_unset``, ``skipped_blocks``,
``variant_switch``, ``data_before_login``.

Known limits: TLS is not done here; one process serves all connections (scale out with replicas
behind a TCP load balancer).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from core.credentials import DeviceCredentials
from core.gateway import Gateway, GatewaySettings
from core.metrics import Metrics
from core.processing import Publish
from core.registry import Registry
from core.timeutil import utcnow
from obd_gateway.protocol import Layout
from obd_gateway.session import DEFAULT_MAX_DATA_LEN, Session

COMPONENT = "obd_gateway"
DEFAULT_SETTINGS = GatewaySettings(idle_timeout_s=180.0)


class ObdGateway(Gateway):
    """``await gw.start()`` binds ``settings.host:port`` (port 0 = any free port, see :attr:`port`)."""

    def __init__(
        self,
        publish: Publish,
        registry: Registry,
        metrics: Metrics,
        settings: GatewaySettings | None = None,
        *,
        layout: Layout | None = None,
        clock: Callable[[], datetime] = utcnow,
        credentials: DeviceCredentials | None = None,
    ) -> None:
        self.registry = registry
        self.layout = layout
        # terminal registrations (VIN + ICCID); by default the registry's, where it has one
        self.credentials = credentials or DeviceCredentials.for_registry(
            registry, None, required=False
        )
        settings = settings or DEFAULT_SETTINGS
        self.max_data_len = settings.max_frame or DEFAULT_MAX_DATA_LEN
        super().__init__(publish, metrics, COMPONENT, self._session, settings, clock)

    def _session(self, peer: str) -> Session:
        return Session(self.registry, peer, self.layout, self.credentials, self.max_data_len)


__all__ = ["COMPONENT", "ObdGateway"]

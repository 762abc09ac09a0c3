"""OBD processors: the pure analytics of :mod:`obd_gateway.rules` with per-VIN state.

One processor consumes the vehicle's samples (one frame's records per event, as columns), OBD information snapshots and status events, so
that one key's state (``state[vin]``) sees them in publish order. Events of VINs missing from
the registry are ignored (the gateway quarantines them before they reach the bus). The state is a
JSON-serialisable dict; the processor writes it back with ``state[key] = ...`` so a Faust table
records the change.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any

from core.processing import Context, Processor
from obd_gateway import rules
from obd_gateway.events import ObdInfoSnapshot, ObdSamples, ObdStatus


def handle(event: Any, state: MutableMapping[str, Any], ctx: Context) -> Iterable[Any]:
    vehicle = ctx.registry.vehicle(event.vin)
    if vehicle is None:
        return []
    st = state.get(event.key)
    if st is None:
        st = rules.new_state()
    c = rules.Ctx(ctx.ruleset, vehicle)
    if isinstance(event, ObdSamples):
        out = rules.on_samples(st, event, c)
    elif isinstance(event, ObdInfoSnapshot):
        out = rules.on_info(st, event, c)
    elif isinstance(event, ObdStatus):
        out = rules.on_status(st, event, c)
    else:
        return []
    state[event.key] = st
    return out


PROCESSORS: list[Processor] = [
    Processor("obd.analytics", (ObdSamples.KIND, ObdInfoSnapshot.KIND, ObdStatus.KIND), handle),
]

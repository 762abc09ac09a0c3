"""Names that mean the same thing in every source package (docs/CONTRACTS.md): a record reference
in an exceedance's evidence is ``<KIND>:<event_id>`` (as ``exceedance:<id>`` and ``rsd.pass:<id>``),
a nozzle's subject id is its state key (``station:Nnn``: a fuelling row's ``nozzle_key``, a device
flag's ``nozzle_key``), any other subject's its event key, the device is the data unit's MN."""

from __future__ import annotations

from typing import Any

from core.exceedance import Exceedance
from core.processing import Context
from core.registry import load_registry
from core.ruleset import load_ruleset
from fuel_vapor.events import DeviceAlarm, Fuellings
from fuel_vapor.processors import PROCESSORS
from tests.unit.vapor.vapor_state_scenario import events

CTX = Context(load_ruleset(), load_registry())


def run() -> tuple[list[Any], list[Any]]:
    states: dict[str, dict[str, Any]] = {p.name: {} for p in PROCESSORS}
    inputs = events()
    out: list[Any] = []
    for e in inputs:
        for p in PROCESSORS:
            if e.KIND in p.inputs:
                out += p.handle(e, states[p.name], CTX)
    return inputs, out


def test_evidence_references_name_the_kind_and_id_of_a_record_that_exists():
    inputs, out = run()
    ids = [(e.KIND, i) for e in inputs if isinstance(e, Fuellings) for i in e.event_ids]
    known = {f"{e.KIND}:{e.event_id}" for e in [*inputs, *out]} | {f"{k}:{i}" for k, i in ids}
    refs = [r for x in out if isinstance(x, Exceedance) for r in x.evidence]
    kinds = {r.partition(":")[0] for r in refs}
    assert {"vapor.fuelling", "vapor.nozzle_day", "vapor.station_reading"} <= kinds
    assert {"vapor.depot_reading"} <= kinds
    assert [r for r in refs if r not in known] == []


def test_subjects_devices_and_jurisdictions_are_named_as_the_events_name_them():
    inputs, out = run()
    keys = {e.key for e in inputs} | {e.nozzle_key for e in inputs if isinstance(e, DeviceAlarm)}
    keys |= {e.nozzle_key(i) for e in inputs if isinstance(e, Fuellings) for i in range(len(e))}
    assert {"QP-ST-0001:N01", "QP-ST-0001:N02"} <= keys
    mns = {e.mn for e in inputs}
    for x in out:
        if isinstance(x, Exceedance):
            assert x.subject_id in keys, x
            assert x.device_id in mns and x.jurisdiction == "qingpu"
            assert x.source == "fuel_vapor"

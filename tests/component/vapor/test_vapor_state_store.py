"""The vapour processors over a Faust table view (``streams.faust_app.KeyedState``): the table keeps
the plain stored form, byte for byte the first release's, and the results equal the embedded
store's, which keeps the typed state objects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.processing import Context
from core.registry import load_registry
from core.ruleset import load_ruleset
from fuel_vapor.processors import PROCESSORS
from fuel_vapor.rules import NozzleTrack
from streams.faust_app import KeyedState
from tests.unit.vapor.vapor_state_scenario import after_save, before_save

pytestmark = pytest.mark.component

CTX = Context(load_ruleset(), load_registry())
SAVED = Path(__file__).parents[2] / "data" / "vapor" / "state_first_release.json"


def feed(evs: list[Any], tables: dict[str, dict[str, Any]], *, faust: bool) -> list[Any]:
    out: list[Any] = []
    for e in evs:
        for p in PROCESSORS:
            if e.KIND not in p.inputs:
                continue
            if faust:
                view = KeyedState(tables[p.name])
                out += p.handle(e, view, CTX)
                view.commit()
            else:
                out += p.handle(e, tables[p.name], CTX)
    return out


def test_a_faust_table_keeps_the_first_release_form_and_gives_the_same_results():
    embedded: dict[str, dict[str, Any]] = {p.name: {} for p in PROCESSORS}
    tables: dict[str, dict[str, Any]] = {p.name: {} for p in PROCESSORS}
    assert feed(before_save(), tables, faust=True) == feed(before_save(), embedded, faust=False)
    assert isinstance(embedded["vapor.nozzle"]["QP-ST-0001:N01"], NozzleTrack)
    assert all(type(v) is dict for t in tables.values() for v in t.values())
    assert tables == json.loads(SAVED.read_text(encoding="utf-8"))
    assert feed(after_save(), tables, faust=True) == feed(after_save(), embedded, faust=False)
    assert tables == {n: {k: v.to_dict() for k, v in t.items()} for n, t in embedded.items()}

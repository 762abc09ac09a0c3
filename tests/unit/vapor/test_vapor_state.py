"""Typed processor state of the vapour rules: state → stored dict → state is equal, the stored form
is the one the first release wrote, and state that release saved loads and carries on as if the
processor had never stopped.

``tests/data/vapor/state_first_release.json`` holds the state dicts that the first release's
``fuel_vapor/rules.py`` (the single module, before the split; commit 4ababcc) kept after the events
of ``vapor_state_scenario.before_save()``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.processing import Context
from core.registry import load_registry
from core.ruleset import load_ruleset
from core.timeutil import BEIJING
from fuel_vapor.processors import PROCESSORS
from fuel_vapor.rules import (
    DayTally,
    DepotTrack,
    NozzleTrack,
    QuantityTrack,
    SensorTrack,
    StationTrack,
    WeekDay,
)
from tests.unit.vapor.vapor_state_scenario import after_save, before_save, events

CTX = Context(load_ruleset(), load_registry())
SAVED = Path(__file__).parents[2] / "data" / "vapor" / "state_first_release.json"
TRACKS = (NozzleTrack, StationTrack, SensorTrack, DepotTrack)


def feed(evs: list[Any], states: dict[str, dict[str, Any]]) -> list[Any]:
    out: list[Any] = []
    for e in evs:
        for p in PROCESSORS:
            if e.KIND in p.inputs:
                out += p.handle(e, states[p.name], CTX)
    return out


def fresh() -> dict[str, dict[str, Any]]:
    return {p.name: {} for p in PROCESSORS}


def stored(states: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: {k: v.to_dict() for k, v in st.items()} for name, st in states.items()}


def snapshots() -> list[Any]:
    """Copies of every subject's typed state at many points of the scenario."""
    states = fresh()
    snaps: list[Any] = []
    for i, e in enumerate(events()):
        feed([e], states)
        if i % 7 == 0:
            snaps += [copy.deepcopy(v) for st in states.values() for v in st.values()]
    return snaps


def test_state_to_dict_to_state_is_equal_and_survives_json():
    snaps = snapshots()
    assert {type(s) for s in snaps} == set(TRACKS)
    for s in snaps:
        d = s.to_dict()
        assert type(s).from_dict(d) == s
        assert type(s).from_dict(json.loads(json.dumps(d, allow_nan=False))) == s
        assert d == type(s).from_dict(d).to_dict()  # the stored form is stable


def test_the_scenario_sets_the_optional_fields_the_round_trip_must_carry():
    snaps = snapshots()
    seen = {
        (type(s).__name__, f.name)
        for s in snaps
        for f in dataclasses.fields(s)
        if getattr(s, f.name) not in (None, [], {}, 0, 0.0, False, "normal")
    }
    nozzle = "open streak last_fuel_day week recent exact_run prev_oob pump_run pump_level"
    nozzle += " lr_start lr_alarmed mismatch late"
    station = "day zp_run_start last_ts zp_longest_h pv_start pv_alarmed pv_level_day proc_run"
    station += " proc_warned proc_hour proc_n dev"
    wanted = {("NozzleTrack", n) for n in nozzle.split()}
    wanted |= {("StationTrack", n) for n in station.split()}
    wanted |= {("SensorTrack", "quantities"), ("SensorTrack", "events"), ("DepotTrack", "truck")}
    assert wanted <= seen, wanted - seen


def test_datetimes_stay_datetimes_inside_the_state():
    states = fresh()
    feed(before_save(), states)
    nozzle = states["vapor.nozzle"]["QP-ST-0001:N01"]
    station = states["vapor.station"]["QP-ST-0001"]
    sensor = states["vapor.sensor"]["QP-AM-0001"]
    assert isinstance(nozzle, NozzleTrack) and isinstance(nozzle.open, DayTally)
    assert isinstance(nozzle.lr_start, datetime) and isinstance(nozzle.last_fuel_day, date)
    assert all(isinstance(w, WeekDay) and isinstance(w.day, date) for w in nozzle.week)
    assert isinstance(station.last_ts, datetime) and isinstance(station.proc_hour, datetime)
    q = sensor.quantities["nmhc_mg_m3"]
    assert isinstance(q, QuantityTrack) and isinstance(q.bucket, datetime)
    assert all(isinstance(e, datetime) for e in sensor.events)
    ground = states["vapor.sensor"]["QP-GW-0001"].quantities["voc_mg_l"].bucket
    assert type(ground) is date


def test_a_field_the_scenario_leaves_empty_round_trips_too():
    st = NozzleTrack("QP-ST-0001", 4, "qingpu", "MN1", shield_last=date(2026, 11, 3))
    st.open = DayTally(date(2026, 11, 4), dev_max=1)
    st.lr_start = datetime(2026, 11, 4, 9, 30, 15, 123000, tzinfo=BEIJING)
    back = NozzleTrack.from_dict(json.loads(json.dumps(st.to_dict())))
    assert back == st and back.lr_start is not None
    assert back.lr_start.utcoffset() == timedelta(hours=8)


def test_the_stored_form_is_the_one_the_first_release_wrote():
    states = fresh()
    feed(before_save(), states)
    assert stored(states) == json.loads(SAVED.read_text(encoding="utf-8"))


def test_state_saved_by_the_first_release_loads_and_carries_on():
    straight = fresh()
    feed(before_save(), straight)
    expected = feed(after_save(), straight)
    assert any(getattr(e, "rule_id", "") == "GW-SENSOR" for e in expected)  # after the save, too

    saved = json.loads(SAVED.read_text(encoding="utf-8"))  # dicts, as a Faust table hands them
    restarted = {name: dict(st) for name, st in saved.items()}
    assert feed(after_save(), restarted) == expected
    assert stored(restarted) == stored(straight)
    assert restarted["vapor.nozzle"]["QP-ST-0001:N01"].late == 1  # the late fuelling after the save


@pytest.mark.parametrize("cls", TRACKS)
def test_a_stored_dict_missing_a_field_is_refused_naming_it(cls):
    states = fresh()
    feed(before_save(), states)
    d = next(v for st in states.values() for v in st.values() if isinstance(v, cls)).to_dict()
    del d["mn"]
    with pytest.raises(KeyError, match="mn"):
        cls.from_dict(d)

"""The start-up memory replay (``enforcement.processors.restore_memory``, one ``SubjectState`` and
``Memory`` held per subject, passes judged all at once as ``PassSeen``) ends in exactly the state
the replay as it was (``_restore_before``: a JSON round trip of the subject's state per item, each
pass an ``RsdPass`` judged alone) reaches, on mixed random inputs: findings of every rule the
memory reads, sightings, fleet marks, judged and unjudgeable passes (before and after a subject's
first finding), field checks, equal times, states with and without a memory to start from."""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import random
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from core.processing import Context
from core.timeutil import beijing
from enforcement.events import CaseFinding
from enforcement.processors import (
    CheckResult,
    PassSeen,
    handle_cases,
    passes_seen,
    restore_memory,
)
from enforcement.rules import Memory, on_clean
from remote_sensing.events import RsdPass
from remote_sensing.events import examples as rsd_examples
from remote_sensing.processors import clean_pollutants, clean_pollutants_frame

PLATES = ("沪A10001", "沪A10002", "苏E20003", "浙F30004", "沪B40005")
COLOURS = ("yellow", "blue", "")
RULES = (
    ("RS-D-NO", "remote_sensing", "no", False),
    ("RS-D-RING", "remote_sensing", "ringelmann", False),
    ("RS-G-CO", "remote_sensing", "co", False),
    ("RS-G-HC", "remote_sensing", "hc", True),  # provisional: proves nothing
    ("BS-CONFIRM", "smoke_capture", "ringelmann", False),
    ("OBD-SCR", "obd_gateway", "", False),
    ("OBD-NOX-WIN", "obd_gateway", "", False),
    ("OBD-OFFLINE", "obd_gateway", "", False),
    ("ENF-REPEAT", "enforcement", "no", False),  # the rules' own output: feeds nothing
)
MEASURES = ("co_pct", "hc_ppm", "no_ppm", "opacity_pct", "ringelmann")
PASS_COLS = ("ts", "site_id", "plate", "plate_colour", "plate_type", "fuel", "valid", *MEASURES)


def _before() -> ModuleType:
    path = Path(__file__).with_name("_restore_before.py")
    spec = importlib.util.spec_from_file_location("enforcement_restore_before", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def before() -> ModuleType:
    return _before()


@pytest.fixture
def ctx(ruleset: Any, registry: Any) -> Context:
    return Context(ruleset, registry)


def finding(rng: random.Random, i: int, ts: datetime, plate: str) -> CaseFinding:
    rule, source, pollutant, provisional = rng.choice(RULES)
    detail = ""
    if rule == "OBD-OFFLINE":
        detail = f'{{"since": "{(ts - timedelta(days=rng.randint(1, 20))).isoformat()}"}}'
    return CaseFinding(
        event_id=f"f{i}",
        ts=ts,
        finding="exceedance",
        subject_kind="vehicle",
        subject_id=plate,
        plate=plate,
        plate_colour=rng.choice(COLOURS),
        vin="",
        vehicle_class="heavy_diesel",
        source=source,
        source_event_id=f"src{i % 997}",  # some ids repeat: a replayed proof
        rule_id=rule,
        ruleset_version="t",
        severity=rng.choice(("notice", "warning", "case")),
        jurisdiction=rng.choice(("qingpu", "wujiang", "jiashan")),
        device_id="DEV",
        measured=rng.choice((None, 2.5)),
        limit=None,
        unit="",
        pollutant=pollutant,
        provisional=provisional,
        evidence=(f"e:{i}",),
        quality_flags=(),
        detail_json=detail,
    )


def rsd_pass(rng: random.Random, i: int, ts: datetime, plate: str) -> RsdPass:
    valid = rng.random() < 0.85
    return dataclasses.replace(
        rsd_examples()[0],  # type: ignore[arg-type]
        event_id=f"p{i}",
        record_id=f"r{i}",
        ts=ts,
        plate=plate if rng.random() < 0.95 else "",
        plate_colour=rng.choice(("yellow", "blue", "green")),
        plate_type=rng.choice(("", "01", "52")),
        fuel=rng.choice(("diesel", "gasoline", "electric")),
        valid=valid,
        invalid_reasons=() if valid else ("speed",),
        co_pct=rng.choice((None, 0.1, 2.0, 9.0)),
        hc_ppm=rng.choice((None, 50.0, 900.0)),
        no_ppm=rng.choice((None, 300.0, 1600.0, 4000.0)),
        opacity_pct=rng.choice((None, 5.0, 60.0)),
        ringelmann=rng.choice((None, 0.0, 1.0, 3.0)),
    )


def items(rng: random.Random, registry: Any, n: int, cases: dict[str, list[str]]) -> list[Any]:
    t0 = beijing(2026, 3, 1, 8)
    vehicles = [v for v in registry.obd_vehicles if v.fleet][:8]
    out: list[Any] = []
    for i in range(n):
        ts = t0 + timedelta(hours=rng.randint(0, 24 * 240))
        plate = rng.choice(PLATES)
        r = rng.random()
        if r < 0.35:
            out.append(finding(rng, i, ts, plate))
        elif r < 0.45:
            f = finding(rng, i, ts, plate)
            out.append(dataclasses.replace(f, finding="sighting", rule_id="", severity="info"))
        elif r < 0.5:
            v = rng.choice(vehicles)
            f = finding(rng, i, ts, v.fleet)
            out.append(
                dataclasses.replace(
                    f, finding="fleet_mark", subject_kind="fleet", vin=v.vin, severity="info"
                )
            )
        elif r < 0.92:
            out.append(rsd_pass(rng, i, ts, plate))
        else:
            key = f"vehicle:{plate}"
            out.append(
                CheckResult(
                    ts=ts,
                    subject_key=key,
                    case_id=rng.choice([*cases.get(key, []), "QP-20260301-000000"]),
                    seq=3,
                    request_id=f"req{i}",
                    jurisdiction="qingpu",
                    payload={
                        "method": rng.choice(("k", "ringelmann", "lug_down")),
                        "result": rng.choice(("failed", "passed", "pending")),
                        "value": 3.0,
                    },
                )
            )
    for i, plate in enumerate(PLATES * 8):  # before any finding: on a state without memory, no-op
        p = rsd_pass(rng, n + i, t0 - timedelta(hours=rng.randint(1, 400)), plate)
        out.append(dataclasses.replace(p, valid=True, invalid_reasons=(), fuel="diesel"))
    for j in range(0, len(out) - 1, 17):  # equal times across kinds: order of the input decides
        out[j + 1] = dataclasses.replace(out[j + 1], ts=out[j].ts)
    return out


def start_states(rng: random.Random, ctx: Context, with_memory: bool) -> dict[str, Any]:
    """Cases opened by the processor for some plates (as ``restore`` gives them: no memory, or
    with the memory the processor built)."""
    states: dict[str, Any] = {}
    t0 = beijing(2026, 2, 1, 8)
    for i, plate in enumerate(PLATES[:3]):
        f = dataclasses.replace(
            finding(rng, 10_000 + i, t0 + timedelta(days=i), plate),
            rule_id="RS-D-NO",
            source="remote_sensing",
            pollutant="no",
            provisional=False,
            severity="warning",
        )
        handle_cases(f, states, ctx)
    if not with_memory:
        for st in states.values():
            st["memory"] = {}
    return states


def as_seen(xs: list[Any], ctx: Context) -> list[Any]:
    """The same items with every pass as the pipeline hands it over (``passes_seen``)."""
    ps = [x for x in xs if isinstance(x, RsdPass)]
    cols = {c: [getattr(p, c) for p in ps] for c in PASS_COLS}
    seen = iter(passes_seen(cols, ctx))
    return [next(seen) if isinstance(x, RsdPass) else x for x in xs]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize("with_memory", [False, True])
def test_replay_ends_in_the_state_the_per_item_replay_reached(
    before: ModuleType, ctx: Context, registry: Any, seed: int, with_memory: bool
) -> None:
    rng = random.Random(seed)
    states = start_states(rng, ctx, with_memory)
    cases = {k: list(v["cases"]) for k, v in states.items()}
    xs = items(rng, registry, 1500, cases)

    old = copy.deepcopy(states)
    n = before.restore_memory(old, xs, ctx)
    now = copy.deepcopy(states)
    assert restore_memory(now, xs, ctx) == n == len(xs) > 1500
    seen = copy.deepcopy(states)
    assert restore_memory(seen, as_seen(xs, ctx), ctx) == n
    assert now == old
    assert seen == old
    # the inputs reached every part of the memory: not an empty comparison
    mems = [Memory.from_dict(s["memory"]) for s in old.values() if s.get("memory")]
    assert any(m.clean for m in mems) and any(m.recent for m in mems)
    assert any(m.repeat for m in mems) and any(m.sightings for m in mems)
    assert any(m.fleet for m in mems)
    assert old != states


def test_passes_judged_at_once_as_one_by_one(ctx: Context) -> None:
    rng = random.Random(7)
    ps = [rsd_pass(rng, i, beijing(2026, 5, 1, 9), rng.choice(PLATES)) for i in range(3000)]
    cols = {c: [getattr(p, c) for p in ps] for c in PASS_COLS}
    got = clean_pollutants_frame(cols, ctx)
    want = [tuple(clean_pollutants(p, ctx)) for p in ps]
    assert got == want
    assert sum(map(bool, want)) > 100 and sum(not w for w in want) > 100
    seen = passes_seen(cols, ctx)
    assert [s.key for s in seen] == [p.key for p in ps]
    assert seen[0] == PassSeen(ps[0].ts, ps[0].key, ps[0].plate_colour, want[0])


def test_clean_observations_stay_in_time_order_whatever_order_they_arrive() -> None:
    rng = random.Random(5)
    t0 = beijing(2026, 5, 1, 9)
    times = [t0 + timedelta(minutes=rng.randint(0, 5000)) for _ in range(60)]
    mem = Memory()
    for t in times:
        on_clean(mem, "no", t, "yellow", "remote_sensing")
    kept = [datetime.fromisoformat(c["ts"]) for c in mem.clean["no"]]
    assert kept == sorted(times)[-len(kept) :]
    assert len(kept) == 10

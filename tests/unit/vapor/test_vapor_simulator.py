"""Simulator: healthy stations stay quiet; every injectable fault makes its rule fire."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import pytest

from core.processing import Context
from core.registry import load_registry
from core.ruleset import load_ruleset
from core.timeutil import BEIJING
from fuel_vapor.codemaps import default_codemaps
from fuel_vapor.intake import from_hj212
from fuel_vapor.processors import PROCESSORS
from fuel_vapor.protocol import FrameDecoder, parse_segment
from fuel_vapor.simulator import FAULTS, Fault, Simulation

REG = load_registry()
CTX = Context(load_ruleset(), REG)
T0 = datetime(2026, 11, 2, 0, 0, tzinfo=BEIJING)


def run(
    station: str, faults=(), days: float = 3, period: float = 300
) -> tuple[Counter, list, Counter]:
    sim = Simulation(
        REG, T0, faults=list(faults), seed=9, stations=[station], station_period_s=period
    )
    dec = FrameDecoder(extra_chars=b"0")
    cms = default_codemaps()
    states = {p.name: {} for p in PROCESSORS}
    fired: Counter = Counter()
    kinds: Counter = Counter()
    out = []
    for o in sim.packets(T0 + timedelta(days=days)):
        (frame,) = dec.feed(o.frame)
        p = parse_segment(frame.segment.decode())
        unit = REG.unit_by_mn(p.mn)
        res = from_hj212(p, frame.raw, unit, cms[unit.code_map], o.ts)
        assert not res.problems
        for e in res.events:
            kinds[e.KIND] += 1
            for proc in PROCESSORS:
                if e.KIND in proc.inputs:
                    for x in proc.handle(e, states[proc.name], CTX):
                        out.append(x)
                        if x.KIND == "exceedance":
                            fired[(x.rule_id, x.severity)] += 1
    return fired, out, kinds


def test_healthy_station_raises_nothing_above_info():
    fired, out, kinds = run("QP-ST-0002", days=4)
    assert kinds["vapor.fuelling"] > 8 * 4 * 40  # ~60-70 fuellings per nozzle per day
    assert kinds["vapor.sensor_reading"] > 0 and kinds["vapor.station_reading"] > 0
    assert {k for k in fired if k[1] not in ("info", "notice")} == set(), fired
    days = [e for e in out if e.KIND == "vapor.nozzle_day"]
    assert days and all(d.state == "pass" for d in days)


@pytest.mark.parametrize(
    ("fault", "station", "expect"),
    [
        (Fault("QP-ST-0002", "pump", 2), "QP-ST-0002", ("FV-PUMP", "alarm")),
        (Fault("QP-ST-0002", "blocked_vapour", 2), "QP-ST-0002", ("FV-AL-WARN", "warning")),
        (Fault("QP-ST-0002", "zero_pressure"), "QP-ST-0002", ("FV-ZP", "warning")),
        (Fault("QP-ST-0001", "pv_stuck"), "QP-ST-0001", ("FV-PV", "alarm")),
        (Fault("QP-ST-0002", "liquid_resistance", 4), "QP-ST-0002", ("FV-LR", "alarm")),
        (Fault("QP-ST-0002", "slow_dispenser", 4), "QP-ST-0002", ("FV-SLOW", "info")),
        (
            Fault("QP-ST-0002", "voc_spike", None, T0 + timedelta(days=1, hours=12)),
            "QP-ST-0002",
            ("AMB-VOC", "notice"),
        ),
        (Fault("QP-ST-0002", "drift", 1), "QP-ST-0002", ("FV-AL-DAY", "info")),
    ],
    ids=lambda x: getattr(x, "kind", None) or str(x),
)
def test_each_fault_makes_its_rule_fire(fault, station, expect):
    fired, _out, _ = run(station, [fault])
    assert fired[expect] >= 1, fired
    if fault.kind == "slow_dispenser":  # slow dispensing is not an A/L failure
        assert not any(k[0] == "FV-AL-DAY" for k in fired)


def test_shield_rewrites_flags_and_a_drift_is_only_caught_by_fraud_checks():
    fired, out, _ = run(
        "QP-ST-0002", [Fault("QP-ST-0002", "shield"), Fault("QP-ST-0002", "drift", 1)], days=6
    )
    flags = [e for e in out if e.KIND == "vapor.nozzle_day"]
    assert flags and not any(k[0] in ("FV-AL-ALARM", "FV-AL-WARN") for k in fired)
    assert fired[("FV-SHIELD", "alarm")] >= 1


def test_fault_parsing():
    assert Fault.parse("QP-ST-0001:drift:3") == Fault("QP-ST-0001", "drift", 3)
    with pytest.raises(ValueError, match="KIND one of"):
        Fault.parse("QP-ST-0001:melt")
    assert len(FAULTS) == 9

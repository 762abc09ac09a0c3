"""rsd.judge processor: exceedances with evidence, first/repeat across sites, who is never judged."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import pytest

from core.exceedance import Exceedance
from core.processing import Context
from core.timeutil import beijing
from remote_sensing import events
from remote_sensing.events import RsdPass
from remote_sensing.processors import PROCESSORS, handle, handle_pass


@pytest.fixture
def ctx(ruleset: Any, registry: Any) -> Context:
    return Context(ruleset, registry)


def make(ts: datetime, site: str = "RSD-QP-01", rid: str = "r", **over: Any) -> RsdPass:
    base = events.examples()[0]
    p = dataclasses.replace(
        base,
        event_id=RsdPass.make_id(site, rid),
        ts=ts,
        site_id=site,
        record_id=rid,
        jurisdiction={"RSD-QP-01": "qingpu", "RSD-JS-01": "jiashan"}.get(site, "wujiang"),
    )
    return dataclasses.replace(p, **over)


def rules_of(out: list[Exceedance]) -> list[str]:
    return sorted(e.rule_id for e in out)


def test_processor_registered() -> None:
    (p,) = PROCESSORS
    assert p.inputs == ("rsd.pass",) and p.handle is handle


def test_exceedances_are_not_an_input(ctx: Context) -> None:
    """A source never reads exceedances (its own or another source's): cross-source is enforcement's."""
    state: dict[str, Any] = {}
    ours = list(handle(make(beijing(2026, 3, 1), rid="a", no_ppm=1600.0), state, ctx))
    before = dict(state)
    for e in ours:
        assert list(handle(e, state, ctx)) == []
    assert state == before


def test_a_blue_and_a_yellow_plate_of_one_number_are_two_rsd_vehicles(ctx: Context) -> None:
    """The pass partitions by plate number (the cross-source vehicle key); the RSD vehicle is
    number + colour, so a yellow 沪A12345 does not complete a blue 沪A12345's repeat window."""
    state: dict[str, Any] = {}
    blue = make(beijing(2026, 3, 1, 9), rid="a", no_ppm=1600.0)
    yellow = make(beijing(2026, 3, 2, 9), rid="b", no_ppm=1600.0, plate_colour="yellow")
    assert blue.key == yellow.key == "vehicle:沪A12345"
    assert "RS-FIRST" in rules_of(list(handle_pass(blue, state, ctx)))
    out = list(handle_pass(yellow, state, ctx))
    assert "RS-FIRST" in rules_of(out) and "RS-REPEAT" not in rules_of(out)
    assert {e.subject_id for e in out} == {"沪A12345|yellow"}
    again = make(beijing(2026, 3, 3, 9), rid="c", no_ppm=1600.0)
    assert "RS-REPEAT" in rules_of(list(handle_pass(again, state, ctx)))


def test_first_then_repeat_at_another_site(ctx: Context) -> None:
    state: dict[str, Any] = {}
    p1 = make(beijing(2026, 3, 1, 9), rid="a", no_ppm=1600.0)
    out1 = list(handle_pass(p1, state, ctx))
    assert rules_of(out1) == ["RS-FIRST", "RS-G-NO"]
    no = next(e for e in out1 if e.rule_id == "RS-G-NO")
    assert (no.measured, no.limit, no.unit) == (1600.0, 1500, "ppm")
    assert no.subject_id == "沪A12345|blue" and no.subject_kind == "vehicle"
    assert no.ruleset_version == ctx.ruleset.version
    assert f"rsd.pass:{p1.event_id}" in no.evidence and p1.raw_ref in no.evidence
    assert all(img in no.evidence for img in p1.images)
    assert next(e for e in out1 if e.rule_id == "RS-FIRST").severity == "notice"

    p2 = make(beijing(2026, 8, 20, 9), site="RSD-JS-01", rid="b", no_ppm=1700.0)
    out2 = list(handle_pass(p2, state, ctx))
    assert rules_of(out2) == ["RS-G-NO", "RS-REPEAT"]
    rep = next(e for e in out2 if e.rule_id == "RS-REPEAT")
    assert rep.severity == "case" and rep.jurisdiction == "jiashan"
    assert f"rsd.pass:{p1.event_id}" in rep.evidence and f"rsd.pass:{p2.event_id}" in rep.evidence
    assert rep.detail["first"]["site_id"] == "RSD-QP-01"
    # replaying the same pass gives the same ids (stored once downstream)
    assert [e.event_id for e in handle_pass(p2, {}, ctx) if e.rule_id == "RS-G-NO"] == [
        e.event_id for e in out2 if e.rule_id == "RS-G-NO"
    ]


def test_pass_in_between_breaks_the_repeat(ctx: Context) -> None:
    state: dict[str, Any] = {}
    list(handle_pass(make(beijing(2026, 3, 1), rid="a", no_ppm=1600.0), state, ctx))
    assert list(handle_pass(make(beijing(2026, 3, 2), rid="b", no_ppm=800.0), state, ctx)) == []
    out = list(handle_pass(make(beijing(2026, 3, 3), rid="c", no_ppm=1600.0), state, ctx))
    assert rules_of(out) == ["RS-FIRST", "RS-G-NO"]


def test_provisional_hc_does_not_feed_repeat(ctx: Context) -> None:
    state: dict[str, Any] = {}
    for i in range(3):
        out = list(
            handle_pass(
                make(beijing(2026, 3, 1 + i), rid=str(i), hc_ppm=1500.0, no_ppm=900.0), state, ctx
            )
        )
        assert rules_of(out) == ["RS-G-HC"]
        assert out[0].provisional and out[0].severity == "info"


@pytest.mark.parametrize(
    "over",
    [
        {"plate_colour": "green"},
        {"plate_type": "51"},
        {"fuel": "electric"},
        {"valid": False, "invalid_reasons": ("speed_low",)},
        {"plate": ""},
        {"fuel": "unknown"},
    ],
)
def test_not_judged(ctx: Context, over: dict[str, Any]) -> None:
    p = make(beijing(2026, 3, 1), no_ppm=5000.0, co_pct=9.0, **over)
    state: dict[str, Any] = {}
    assert list(handle_pass(p, state, ctx)) == []
    assert state == {}


def test_diesel_opacity_and_ringelmann(ctx: Context) -> None:
    p = make(
        beijing(2026, 3, 1),
        fuel="diesel",
        plate_colour="yellow",
        opacity_pct=45.0,
        ringelmann=2.0,
        no_ppm=900.0,
    )
    out = list(handle_pass(p, {}, ctx))
    assert rules_of(out) == ["RS-D-OPA", "RS-D-RING", "RS-FIRST", "RS-FIRST"]
    assert {e.detail["pollutant"] for e in out if e.rule_id == "RS-FIRST"} == {
        "opacity",
        "ringelmann",
    }

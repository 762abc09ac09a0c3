"""rsd.judge processor: exceedances with evidence, first/repeat across sites, who is never judged."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import pytest

from core.processing import Context
from core.timeutil import beijing
from enforcement.events import Exceedance
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
    assert p.inputs == ("rsd.pass", "exceedance") and p.handle is handle


def smoke_confirmed(
    ctx: Context, ts: datetime, subject: str = "沪A12345|yellow", cid: str = "c1"
) -> Exceedance:
    return Exceedance.make(
        rule=ctx.ruleset.rule("BS-CONFIRM"),
        ts=ts,
        source="smoke_capture",
        subject_kind="vehicle",
        subject_id=subject,
        jurisdiction="wujiang",
        device_id="CAM-WJ-01",
        measured=3.0,
        limit=1.0,
        unit="grade",
        evidence=("file:evidence/c1/plate.jpg#sha256=ab", "file:evidence/c1/clip.mp4#sha256=cd"),
        detail={"capture_id": cid, "pollutant": "ringelmann"},
        window=cid,
    )


def test_smoke_confirmation_feeds_ringelmann_window(ctx: Context) -> None:
    state: dict[str, Any] = {}
    diesel = {"fuel": "diesel", "plate_colour": "yellow", "no_ppm": 900.0, "opacity_pct": 10.0}
    p1 = make(beijing(2026, 3, 1, 9), rid="a", ringelmann=2.0, **diesel)
    assert p1.key == "vehicle:沪A12345|yellow"
    out1 = list(handle(p1, state, ctx))
    assert rules_of(out1) == ["RS-D-RING", "RS-FIRST"]
    conf = smoke_confirmed(ctx, beijing(2026, 4, 2, 10))
    assert conf.key == p1.key  # same partition and state as the RSD passes
    out2 = list(handle(conf, state, ctx))
    assert rules_of(out2) == ["RS-REPEAT"]
    rep = out2[0]
    assert rep.subject_id == "沪A12345|yellow" and rep.device_id == "CAM-WJ-01"
    assert (
        f"exceedance:{conf.event_id}" in rep.evidence and f"rsd.pass:{p1.event_id}" in rep.evidence
    )
    assert "file:evidence/c1/clip.mp4#sha256=cd" in rep.evidence
    # a confirmation first, then an RSD Ringelmann exceedance
    st2: dict[str, Any] = {}
    assert rules_of(
        list(handle(smoke_confirmed(ctx, beijing(2026, 5, 1), cid="c2"), st2, ctx))
    ) == ["RS-FIRST"]
    out3 = list(handle(make(beijing(2026, 5, 3), rid="b", ringelmann=2.0, **diesel), st2, ctx))
    assert rules_of(out3) == ["RS-D-RING", "RS-REPEAT"]
    assert any(e.startswith("exceedance:") for e in out3[1].evidence)


def test_other_exceedances_are_ignored(ctx: Context) -> None:
    state: dict[str, Any] = {}
    ours = list(handle(make(beijing(2026, 3, 1), rid="a", no_ppm=1600.0), state, ctx))
    before = dict(state)
    for e in ours:  # our own output comes back on the exceedance topic
        assert list(handle(e, state, ctx)) == []
    assert (
        list(
            handle(
                smoke_confirmed(ctx, beijing(2026, 3, 2), subject="unread:CAM-QP-01:7"), state, ctx
            )
        )
        == []
    )
    assert state == before


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

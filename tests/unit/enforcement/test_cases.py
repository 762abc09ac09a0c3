"""Cases: exceedance → case by rule, life cycle with a hash-chained log, field checks, discretion,
concurrency (first of two commands on one version wins), smoke review as a case, cross-source rules.

A tiny driver routes every output back into the catalogued processors, as the bus does."""

from __future__ import annotations

import dataclasses
from collections import defaultdict, deque
from datetime import datetime, timedelta
from typing import Any

import pytest

from core.exceedance import Exceedance, fire
from core.processing import Context
from core.timeutil import beijing
from enforcement.cases import GENESIS, canonical, entry_body, entry_hash
from enforcement.events import CaseCommand, CaseEntry, CaseState
from streams import catalog

PLATE = "沪A12345"


class Driver:
    def __init__(self, ruleset: Any, registry: Any) -> None:
        self.ctx = Context(ruleset, registry)
        self.rs = ruleset
        self.routes: dict[str, list[Any]] = defaultdict(list)
        for p in catalog.processors():
            for k in p.inputs:
                self.routes[k].append(p)
        self.states: dict[str, dict[str, Any]] = defaultdict(dict)
        self.seen: list[Any] = []

    def send(self, *events: Any) -> list[Any]:
        q = deque(events)
        out: list[Any] = []
        while q:
            e = q.popleft()
            out.append(e)
            self.seen.append(e)
            for p in self.routes.get(e.KIND, ()):
                q.extend(p.handle(e, self.states[p.name], self.ctx))
        return out

    def entries(self, case_id: str) -> list[CaseEntry]:
        return [e for e in self.seen if isinstance(e, CaseEntry) and e.case_id == case_id]

    def state(self, case_id: str) -> CaseState:
        return [e for e in self.seen if isinstance(e, CaseState) and e.case_id == case_id][-1]

    def cases(self) -> list[str]:
        return sorted({e.case_id for e in self.seen if isinstance(e, CaseState)})

    def act(
        self,
        case_id: str,
        action: str,
        ts: datetime,
        *,
        version: int | None = None,
        reason: str = "",
        actor: str = "张伟",
        **payload: Any,
    ) -> CaseEntry:
        st = self.state(case_id)
        cmd = CaseCommand.make(
            ts=ts,
            case_id=case_id,
            subject_key=f"{st.subject_kind}:{st.subject_id}",
            action=action,
            actor=actor,
            actor_jurisdiction="qingpu",
            based_on_version=st.version if version is None else version,
            reason=reason,
            payload=payload,
        )
        out = self.send(cmd)
        (reply,) = [e for e in out if isinstance(e, CaseEntry) and e.request_id == cmd.event_id]
        return reply


@pytest.fixture
def d(ruleset: Any, registry: Any) -> Driver:
    return Driver(ruleset, registry)


def rsd(
    rs: Any, rule: str, ts: datetime, measured: float, plate: str = PLATE, rid: str = "r"
) -> Exceedance:
    lim = {"RS-D-NO": 1500.0, "RS-D-RING": 1.0, "RS-REPEAT": 1500.0}.get(rule, 1.0)
    return fire(
        rs.rule(rule),
        ts,
        source="remote_sensing",
        subject_kind="vehicle",
        subject_id=f"{plate}|yellow",
        jurisdiction="qingpu",
        device_id="RSD-QP-01",
        measured=measured,
        limit=lim,
        unit="ppm",
        evidence=[f"rsd.pass:{rid}"],
        detail={
            "fuel": "diesel",
            "plate_colour": "yellow",
            "pollutant": {"RS-D-RING": "ringelmann"}.get(rule, "no"),
        },
        window=rid,
    )


def chain_ok(entries: list[CaseEntry]) -> bool:
    prev = GENESIS
    for e in sorted((x for x in entries if x.entry != "rejected"), key=lambda x: x.seq):
        body = entry_body(
            e.ts,
            e.entry,
            e.action,
            e.actor,
            e.actor_jurisdiction,
            e.status_before,
            e.status_after,
            e.reason,
            e.payload_json,
        )
        if e.prev_hash != prev or entry_hash(prev, e.case_id, e.seq, body) != e.hash:
            return False
        prev = e.hash
    return True


def test_repeat_opens_one_case_and_evidence_attaches(d: Driver) -> None:
    t = beijing(2026, 11, 20, 9)
    d.send(rsd(d.rs, "RS-D-NO", t, 1600, rid="a"))  # notice: a lead, no case
    assert d.cases() == []
    d.send(rsd(d.rs, "RS-REPEAT", t + timedelta(days=3), 1650, rid="b"))
    (cid,) = d.cases()
    assert cid.startswith("QP-20261123-")
    d.send(rsd(d.rs, "RS-D-NO", t + timedelta(days=4), 1700, rid="c"))
    d.send(rsd(d.rs, "RS-D-NO", t + timedelta(days=4), 1700, rid="c"))  # replay: attached once
    assert d.cases() == [cid]
    st = d.state(cid)
    assert (st.version, st.status, st.findings) == (2, "new", 2)
    assert [e.entry for e in d.entries(cid)] == ["opened", "evidence"]
    assert chain_ok(d.entries(cid))
    terms = __import__("json").loads(st.score_terms_json)
    assert set(terms) == {
        "severity",
        "repetition",
        "evidence",
        "cross_source",
        "vehicle_class",
        "recency",
    }
    assert st.score == pytest.approx(sum(terms.values()))


def test_life_cycle_to_closed_and_bad_input(d: Driver) -> None:
    t = beijing(2026, 11, 20, 9)
    d.send(rsd(d.rs, "RS-REPEAT", t, 1650, rid="b"))
    (cid,) = d.cases()
    h = t + timedelta(hours=1)
    bad = d.act(cid, "confirm", h)  # before a review: not allowed
    assert bad.entry == "rejected" and "allowed from" in bad.reason
    assert d.act(cid, "dismiss", h).payload_json.find("invalid") > 0  # reason required
    assert d.act(cid, "review", h).status_after == "in_review"
    stale = d.act(cid, "confirm", h, version=1)
    assert stale.entry == "rejected" and "stale" in stale.reason
    ok = d.act(cid, "confirm", h + timedelta(minutes=5))
    assert ok.status_after == "confirmed"
    st = d.state(cid)
    assert st.suggested_measure == st.measure == "reminder"  # first, heavy diesel row
    assert "D-V-FIRST-HD" in ok.payload_json and "ENF-REVIEW" in ok.payload_json
    assert d.act(cid, "notify", h + timedelta(hours=1), channel="sms").status_after == "notified"
    assert d.act(cid, "refer", h + timedelta(hours=2), to="nowhere").entry == "rejected"
    assert (
        d.act(cid, "refer", h + timedelta(hours=2), to="traffic_police").status_after == "referred"
    )
    failing = d.act(
        cid,
        "reinspect",
        h + timedelta(days=5),
        maintenance_record="WX-1",
        retest={"method": "k", "value": 1.4},
    )
    assert failing.entry == "rejected" and "retest" in failing.reason
    assert (
        d.act(
            cid,
            "reinspect",
            h + timedelta(days=6),
            maintenance_record="WX-1",
            retest={"method": "k", "value": 0.4},
        ).status_after
        == "reinspected"
    )
    assert d.act(cid, "close", h + timedelta(days=6, hours=1)).status_after == "closed"
    assert d.act(cid, "review", h + timedelta(days=7)).entry == "rejected"
    assert chain_ok(d.entries(cid))
    assert d.state(cid).version == 7  # opened, review, confirm, notify, refer, reinspect, close
    # a new finding after closing opens a new case
    d.send(rsd(d.rs, "RS-REPEAT", t + timedelta(days=10), 1650, rid="z"))
    assert len(d.cases()) == 2


def test_two_officers_on_one_version_first_wins(d: Driver) -> None:
    d.send(rsd(d.rs, "RS-REPEAT", beijing(2026, 11, 20, 9), 1650))
    (cid,) = d.cases()
    t = beijing(2026, 11, 20, 10)
    a = d.act(cid, "review", t, actor="张伟")
    b = d.act(cid, "dismiss", t, actor="李娜", version=1, reason="重复")
    assert a.entry == "action" and b.entry == "rejected" and "stale" in b.reason
    assert d.state(cid).status == "in_review"


def test_field_checks_confirm_or_close_and_validate(d: Driver) -> None:
    d.send(rsd(d.rs, "RS-REPEAT", beijing(2026, 11, 20, 9), 1650))
    (cid,) = d.cases()
    t = beijing(2026, 11, 21, 9)
    assert "method" in d.act(cid, "check", t, method="laser").reason
    out = d.act(cid, "check", t, method="k", value=42.0)  # out of range
    assert out.entry == "rejected" and "value" in out.reason
    failed = d.act(cid, "check", t, method="k", value=1.6, instrument="NHT-6 #3")
    assert failed.status_after == "confirmed" and '"result":"failed"' in failed.payload_json
    assert d.state(cid).measure == "reminder"
    passed = d.act(cid, "check", t + timedelta(days=3), method="ringelmann", value=0.0)
    assert passed.status_after == "closed"


def test_discretion_override_needs_reason(d: Driver) -> None:
    d.send(rsd(d.rs, "RS-REPEAT", beijing(2026, 11, 20, 9), 1650))
    (cid,) = d.cases()
    t = beijing(2026, 11, 20, 10)
    d.act(cid, "review", t)
    assert "ENF-DISCRETION" in d.act(cid, "confirm", t, measure="fine").reason
    ok = d.act(cid, "confirm", t, measure="fine", reason="车主拒不改正")
    assert ok.entry == "action" and '"override":' not in ok.payload_json
    st = d.state(cid)
    assert (st.suggested_measure, st.measure) == ("reminder", "fine")


def test_smoke_case_confirm_fires_bs_confirm_and_cross_source(d: Driver) -> None:
    from smoke_capture.events import examples as smoke_examples

    cap = dataclasses.replace(smoke_examples()[0], plate=PLATE)
    t0 = cap.ts - timedelta(days=2)
    d.send(rsd(d.rs, "RS-D-RING", t0, 2.0, rid="ring1"))
    d.send(cap)  # BS-SCREEN → smoke case
    (cid,) = d.cases()
    st = d.state(cid)
    assert st.issue == "smoke" and st.subject_id == PLATE
    t = cap.ts + timedelta(hours=1)
    d.act(cid, "review", t, actor="officer.wang")
    assert d.act(cid, "confirm", t, actor="officer.wang").entry == "rejected"  # grade required
    ok = d.act(cid, "confirm", t, actor="officer.wang", grade=3.0)
    assert ok.status_after == "confirmed"
    fired = {e.rule_id for e in d.seen if isinstance(e, Exceedance)}
    assert {"BS-CONFIRM", "ENF-REPEAT", "ENF-X-SMOKE-RSD"} <= fired
    rep = next(e for e in d.seen if isinstance(e, Exceedance) and e.rule_id == "ENF-REPEAT")
    assert rep.source == "enforcement" and rep.subject_id == PLATE
    # the cross-source findings land in the vehicle's cases, not a new subject
    assert all(d.state(c).subject_id == PLATE for c in d.cases())


def test_obd_offline_while_seen_on_the_road(d: Driver, registry: Any) -> None:
    from remote_sensing.events import examples as rsd_examples

    v = registry.obd_vehicles[0]
    seen_at = beijing(2026, 11, 20, 9)
    p = dataclasses.replace(
        rsd_examples()[0], plate=v.plate, plate_colour="yellow", ts=seen_at, event_id="pass-1"
    )
    d.send(p)
    other = dataclasses.replace(p, plate_colour="blue", event_id="pass-2")  # another vehicle
    assert not [e for e in d.send(other) if getattr(e, "finding", "") == "sighting"]
    off = fire(
        d.rs.rule("OBD-OFFLINE"),
        seen_at + timedelta(days=2),
        source="obd_gateway",
        subject_kind="vehicle",
        subject_id=v.vin,
        jurisdiction=v.jurisdiction,
        device_id=v.vin,
        measured=48.0,
        limit=24.0,
        unit="h",
        detail={"since": (seen_at - timedelta(hours=5)).isoformat()},
    )
    d.send(off)
    seen = [e for e in d.seen if isinstance(e, Exceedance) and e.rule_id == "ENF-X-OBD-SEEN"]
    assert len(seen) == 1 and "exceedance:" + off.event_id in seen[0].evidence
    (cid,) = d.cases()  # OBD-OFFLINE and the tamper lead: one tamper case
    st = d.state(cid)
    assert st.issue == "tamper" and st.vin == v.vin and st.vehicle_class == "heavy_diesel"
    assert set(st.rules) == {"OBD-OFFLINE", "ENF-X-OBD-SEEN"}


def test_canonical_is_stable() -> None:
    assert canonical({"b": 1, "a": "青浦"}) == '{"a":"青浦","b":1}'


def test_obd_nox_high_and_rsd_fail(d: Driver, registry: Any) -> None:
    v = registry.obd_vehicles[0]
    t = beijing(2026, 11, 1, 9)
    scr = fire(
        d.rs.rule("OBD-SCR"),
        t,
        source="obd_gateway",
        subject_kind="vehicle",
        subject_id=v.vin,
        jurisdiction=v.jurisdiction,
        device_id=v.vin,
        measured=0.3,
        limit=0.6,
        unit="ratio",
    )
    d.send(scr)
    plate = v.plate
    far = rsd(d.rs, "RS-D-NO", t + timedelta(days=45), 1800, plate=plate, rid="far")
    d.send(far)
    assert not [e for e in d.seen if isinstance(e, Exceedance) and e.rule_id == "ENF-X-NOX"]
    d.send(rsd(d.rs, "RS-D-NO", t + timedelta(days=10), 1800, plate=plate, rid="near"))
    (x,) = [e for e in d.seen if isinstance(e, Exceedance) and e.rule_id == "ENF-X-NOX"]
    assert f"exceedance:{scr.event_id}" in x.evidence and x.source == "enforcement"


def test_fleet_share_of_confirmed_vehicles(d: Driver, registry: Any) -> None:
    fleet = [v for v in registry.obd_vehicles if v.fleet == "qingpu-bus"]
    t = beijing(2026, 11, 20, 9)
    for i, v in enumerate(fleet[:1]):
        d.send(rsd(d.rs, "RS-REPEAT", t, 1650, plate=v.plate, rid=f"f{i}"))
        (cid,) = [c for c in d.cases() if d.state(c).subject_id == v.plate]
        d.act(cid, "review", t + timedelta(hours=1))
        d.act(cid, "confirm", t + timedelta(hours=2))
    (f,) = [e for e in d.seen if isinstance(e, Exceedance) and e.rule_id == "ENF-FLEET"]
    assert f.subject_kind == "fleet" and f.subject_id == "qingpu-bus"
    assert f.measured == pytest.approx(1 / len(fleet))
    assert any(d.state(c).subject_kind == "fleet" for c in d.cases())  # a fleet case for the desk


# ---------------------------------------------------------------- the repeat rule across sources


def confirmed_smoke(rs: Any, ts: datetime, colour: str = "yellow", cap: str = "c1") -> Exceedance:
    """BS-CONFIRM as smoke_capture fires it (offence time = capture time)."""
    return fire(
        rs.rule("BS-CONFIRM"),
        ts,
        source="smoke_capture",
        subject_kind="vehicle",
        subject_id=PLATE,
        jurisdiction="wujiang",
        device_id="CAM-WJ-01",
        measured=3.0,
        limit=1.0,
        unit="grade",
        detail={"capture_id": cap, "pollutant": "ringelmann", "plate_colour": colour},
        window=cap,
    )


def clean_pass(ts: datetime, rid: str, colour: str = "yellow") -> Any:
    from remote_sensing.events import RsdPass
    from remote_sensing.events import examples as rsd_examples

    return dataclasses.replace(
        rsd_examples()[0],
        event_id=RsdPass.make_id("RSD-QP-01", rid),
        record_id=rid,
        ts=ts,
        plate=PLATE,
        plate_colour=colour,
        fuel="diesel",
        no_ppm=600.0,
        ringelmann=0.0,
        opacity_pct=None,
    )


def repeats(d: Driver) -> list[Exceedance]:
    return [e for e in d.seen if isinstance(e, Exceedance) and e.rule_id == "ENF-REPEAT"]


def test_repeat_counts_consecutive_proofs_across_sources(d: Driver) -> None:
    t0 = beijing(2026, 5, 1, 9)
    d.send(rsd(d.rs, "RS-D-RING", t0, 2.0, rid="ring1"))
    d.send(confirmed_smoke(d.rs, t0 + timedelta(days=10)))
    (rep,) = repeats(d)
    assert rep.detail["pollutant"] == "ringelmann"
    assert {rep.detail["trigger"]["source"], rep.detail["with"][0]["source"]} == {
        "smoke_capture",
        "remote_sensing",
    }


def test_a_clean_rsd_pass_in_between_is_not_consecutive(d: Driver) -> None:
    t0 = beijing(2026, 5, 1, 9)
    d.send(rsd(d.rs, "RS-D-RING", t0, 2.0, rid="ring1"))
    d.send(clean_pass(t0 + timedelta(days=2), "clean1"))  # valid, Ringelmann 0: run ends
    d.send(confirmed_smoke(d.rs, t0 + timedelta(days=10)))
    assert repeats(d) == []
    # the smoke capture opened a new window: the next proof pairs with it
    d.send(rsd(d.rs, "RS-D-RING", t0 + timedelta(days=20), 2.0, rid="ring2"))
    (rep,) = repeats(d)
    assert rep.detail["with"][0]["source"] == "smoke_capture"


def test_a_clean_pass_of_another_colour_or_pollutant_does_not_break_the_run(d: Driver) -> None:
    t0 = beijing(2026, 5, 1, 9)
    d.send(rsd(d.rs, "RS-D-RING", t0, 2.0, rid="ring1"))
    d.send(clean_pass(t0 + timedelta(days=2), "blue1", colour="blue"))  # another vehicle
    d.send(confirmed_smoke(d.rs, t0 + timedelta(days=10)))
    assert len(repeats(d)) == 1


def test_a_late_confirmation_pairs_by_offence_time(d: Driver) -> None:
    """A capture taken on day 3 and confirmed after the RSD proof of day 5 still pairs with it;
    a clean pass between the two offences breaks it even though it arrived before."""
    t0 = beijing(2026, 5, 1, 9)
    d.send(rsd(d.rs, "RS-D-RING", t0 + timedelta(days=5), 2.0, rid="ring5"))
    d.send(confirmed_smoke(d.rs, t0 + timedelta(days=3), cap="c3"))
    assert len(repeats(d)) == 1

    d2 = Driver(d.rs, d.ctx.registry)
    d2.send(rsd(d2.rs, "RS-D-RING", t0 + timedelta(days=5), 2.0, rid="ring5"))
    d2.send(clean_pass(t0 + timedelta(days=4), "clean4"))  # between the two offences
    d2.send(confirmed_smoke(d2.rs, t0 + timedelta(days=3), cap="c3"))
    assert repeats(d2) == []


def test_repeat_window_is_six_calendar_months(d: Driver) -> None:
    t0 = beijing(2026, 2, 28, 9)
    d.send(rsd(d.rs, "RS-D-RING", t0, 2.0, rid="ring1"))
    d.send(confirmed_smoke(d.rs, beijing(2026, 8, 29, 9)))  # 28 Feb + 6 months = 28 Aug
    assert repeats(d) == []
    d.send(rsd(d.rs, "RS-D-RING", beijing(2027, 2, 28, 9), 2.0, rid="ring2"))  # ≤ 29 Feb → 28 Feb
    assert len(repeats(d)) == 1


def test_smoke_of_another_plate_colour_is_another_vehicle(d: Driver) -> None:
    t0 = beijing(2026, 5, 1, 9)
    d.send(rsd(d.rs, "RS-D-RING", t0, 2.0, rid="ring1"))
    d.send(confirmed_smoke(d.rs, t0 + timedelta(days=1), colour="blue"))
    assert repeats(d) == []


def test_field_checks_prove_or_break_the_repeat(d: Driver) -> None:
    t0 = beijing(2026, 5, 1, 9)
    d.send(rsd(d.rs, "RS-REPEAT", t0, 1600.0, rid="no1"))  # opens an emission case
    (cid,) = d.cases()
    d.send(rsd(d.rs, "RS-D-RING", t0, 2.0, rid="ring1"))
    d.act(cid, "check", t0 + timedelta(days=1), method="ringelmann", value=0.0)  # passed
    d.send(confirmed_smoke(d.rs, t0 + timedelta(days=3)))
    assert repeats(d) == []  # the passed reading broke the run; the smoke opened a window

    d.send(rsd(d.rs, "RS-REPEAT", t0 + timedelta(days=4), 1600.0, rid="no2"))  # a new case
    cid2 = next(c for c in d.cases() if d.state(c).status != "closed")
    d.act(cid2, "check", t0 + timedelta(days=5), method="ringelmann", value=3.0)  # failed
    (rep,) = repeats(d)
    assert rep.detail["trigger"]["source"] == "field_check"
    assert rep.detail["with"][0]["source"] == "smoke_capture"


def test_restore_memory_replays_proofs_clean_checks_and_failed_checks(d: Driver) -> None:
    from enforcement.processors import CheckResult, finding_of, restore_memory

    t0 = beijing(2026, 5, 1, 9)
    proof = finding_of(rsd(d.rs, "RS-D-RING", t0, 2.0, rid="ring1"), d.ctx)
    passed = CheckResult(
        ts=t0 + timedelta(days=1),
        subject_key=f"vehicle:{PLATE}",
        case_id="QP-20260501-ABCDEF",
        seq=3,
        request_id="req-1",
        jurisdiction="qingpu",
        payload={"method": "ringelmann", "result": "passed", "value": 0.0},
    )
    assert restore_memory(d.states["enforcement.cases"], [passed, proof], d.ctx) == 2
    d.send(confirmed_smoke(d.rs, t0 + timedelta(days=3)))
    assert repeats(d) == []  # the replayed passed check (after the proof by time) broke the run

    d2 = Driver(d.rs, d.ctx.registry)
    failed = dataclasses.replace(
        passed, payload={"method": "ringelmann", "result": "failed", "value": 3.0}
    )
    restore_memory(d2.states["enforcement.cases"], [failed], d2.ctx)
    d2.send(confirmed_smoke(d2.rs, t0 + timedelta(days=3)))
    (rep,) = repeats(d2)
    assert rep.detail["with"][0]["source"] == "field_check"

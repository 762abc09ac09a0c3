"""The case processor as a Faust agent (production shape, ``agent.test_context()``, no broker): the
same code as embedded; two officers acting on one version, the first wins and the second is told."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

from core.exceedance import fire
from core.processing import Context
from core.timeutil import beijing
from enforcement.events import CaseCommand, CaseEntry, CaseState
from enforcement.processors import PROCESSORS, finding_of
from streams import catalog, serde
from streams.faust_app import build
from streams.settings import load_settings

pytestmark = pytest.mark.component


async def test_first_of_two_commands_wins_in_faust(ruleset: Any, registry: Any) -> None:
    ctx = Context(ruleset, registry)
    cases = next(p for p in PROCESSORS if p.name == "enforcement.cases")
    ets = {k: et for k, et in catalog.event_types().items() if k in cases.inputs}
    w = build(
        load_settings(
            kafka_bootstrap="127.0.0.1:9",
            data_dir=Path(tempfile.gettempdir()) / "emw-test-faust-cases",
        ),
        event_types=ets,
        processors=[cases],
        ctx=ctx,
        app_id="test-cases",
        with_sink=False,
        web_enabled=False,
    )
    w.app.finalize()
    w.app.conf.store = "memory://"
    w.app.flow_control.resume()
    emitted: list[Any] = []

    async def emit(events: Any) -> None:
        emitted.extend(events)

    w.emit = emit
    ex = fire(
        ruleset.rule("RS-REPEAT"),
        beijing(2026, 11, 20, 9),
        source="remote_sensing",
        subject_kind="vehicle",
        subject_id="沪A12345|yellow",
        jurisdiction="qingpu",
        device_id="RSD-QP-01",
        measured=1650.0,
        limit=1500.0,
        unit="ppm",
        detail={"fuel": "diesel", "pollutant": "no"},
    )
    finding = finding_of(ex, ctx)
    async with w.processor_agents[("enforcement.cases", "case.finding")].test_context() as t:
        await t.put(value=serde.to_json(finding), key=finding.key.encode())
    (state,) = [e for e in emitted if isinstance(e, CaseState)]
    cmds = [
        CaseCommand.make(
            ts=beijing(2026, 11, 20, 10),
            case_id=state.case_id,
            subject_key=finding.key,
            action=action,
            actor=actor,
            actor_jurisdiction="qingpu",
            based_on_version=state.version,
            reason="重复线索",
        )
        for action, actor in (("review", "张伟"), ("dismiss", "李娜"))
    ]
    async with w.processor_agents[("enforcement.cases", "case.command")].test_context() as t:
        for c in cmds:
            await t.put(value=serde.to_json(c), key=c.key.encode())
    replies = {e.request_id: e for e in emitted if isinstance(e, CaseEntry) and e.request_id}
    assert replies[cmds[0].event_id].entry == "action"
    assert replies[cmds[1].event_id].entry == "rejected"
    assert "stale" in replies[cmds[1].event_id].reason
    stored = w.tables["enforcement.cases"][finding.key]
    assert stored["cases"][state.case_id]["status"] == "in_review"

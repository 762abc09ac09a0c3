"""Poison isolation at the row: good records all stored, each poison record dead-lettered with its
raw bytes, stage, device and reason; an outage is retried, not dead-lettered; health recovers;
dead letters replay once the cause is fixed."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.exceedance import Exceedance, fire
from core.scope import Scope
from core.timeutil import BEIJING
from streams.warehouse import deadletter
from streams.warehouse.queries import deadletter as dq
from streams.warehouse.sink import BatchingSink

ZONE = Scope.zone()  # named queries take the caller's scope

pytestmark = pytest.mark.component


def _exc(ruleset: Any, i: int) -> Exceedance:
    return fire(
        rule=ruleset.rule("ENF-FLEET"),
        ts=datetime(2026, 11, 20, 8, 0, tzinfo=BEIJING) + timedelta(seconds=i),
        source="remote_sensing",
        subject_kind="vehicle",
        subject_id=f"沪A{i:05d}|yellow",
        jurisdiction="qingpu",
        device_id=f"QP-RSD-{i:03d}",
        measured=40.0 + i,
        limit=30.0,
        unit="%",
        evidence=("rsd:pass:1",),
        quality_flags=(),
    )


def _stored_ids(client: Any) -> set[str]:
    return {r[0] for r in client.query("SELECT event_id FROM exceedance FINAL").result_rows}


def test_poison_rows_among_good_ones(warehouse: Any, ruleset: Any) -> None:
    # the warehouse refuses rows that break a constraint (an insert-stage poison) ...
    warehouse.command("ALTER TABLE exceedance ADD CONSTRAINT sane CHECK measured < 1000000")
    good = [_exc(ruleset, i) for i in range(300)]
    # ... and a string holding an undecodable device byte cannot even be serialised
    unserialisable = [
        dataclasses.replace(_exc(ruleset, 1000 + i), detail_json="flag=\udcff") for i in range(3)
    ]
    refused = [dataclasses.replace(_exc(ruleset, 2000 + i), measured=5e6) for i in range(2)]
    mixed = good[:100] + unserialisable[:1] + good[100:200] + refused + unserialisable[1:]
    mixed += good[200:]
    sink = BatchingSink(warehouse, batch_size=10_000, max_delay_s=60)
    sink.put(mixed)
    assert sink.flush()  # nothing stuck: every record either stored or dead-lettered

    assert _stored_ids(warehouse) == {e.event_id for e in good}
    st = sink.state()
    assert st.healthy and st.buffered == 0 and st.dead_lettered == 5 and st.written == 300

    letters = {d.event_id: d for d in dq.open_letters(warehouse, ZONE)}
    assert set(letters) == {e.event_id for e in unserialisable + refused}
    for e in unserialisable:
        d = letters[e.event_id]
        assert d.stage == "serialise" and d.kind == "exceedance" and d.device_id == e.device_id
        assert "surrogates not allowed" in d.reason
        assert b'"detail_json":"flag=\xff"' in d.raw  # the device's byte, as it came in
    for e in refused:
        d = letters[e.event_id]
        assert d.stage == "insert" and "sane" in d.reason and d.device_id == e.device_id
    counts = dq.open_counts(warehouse, ZONE)
    assert dict(zip(counts["stage"], counts["n"], strict=True)) == {"serialise": 3, "insert": 2}

    # the cause of the insert refusals is fixed: replay stores them; the others stay open
    warehouse.command("ALTER TABLE exceedance DROP CONSTRAINT sane")
    result = deadletter.replay(warehouse)
    assert sorted(result.replayed) == sorted(letters[e.event_id].dl_id for e in refused)
    assert set(result.failed) == {letters[e.event_id].dl_id for e in unserialisable}
    assert _stored_ids(warehouse) == {e.event_id for e in good + refused}
    assert dq.status_counts(warehouse, ZONE) == {"open": 3, "replayed": 2}


class _Outage:
    """A warehouse that is down until ``up`` is set: inserts and probes fail."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.up = False

    def __getattr__(self, name: str) -> Any:
        if not self.up and name in ("insert", "insert_arrow", "command"):
            raise ConnectionError("warehouse down")
        return getattr(self.client, name)


def test_an_outage_is_retried_not_dead_lettered_and_health_recovers(
    warehouse: Any, ruleset: Any
) -> None:
    client = _Outage(warehouse)
    events = [_exc(ruleset, i) for i in range(50)]
    sink = BatchingSink(client, batch_size=10_000, max_delay_s=60)
    sink.put(events)
    assert not sink.flush()
    st = sink.state()
    assert not st.healthy and st.buffered == 50 and st.dead_lettered == 0
    assert "warehouse down" in st.last_error
    client.up = True
    assert sink.flush()
    st = sink.state()
    assert st.healthy and st.buffered == 0 and st.dead_lettered == 0
    assert _stored_ids(warehouse) == {e.event_id for e in events}
    assert dq.status_counts(warehouse, ZONE) == {}


def test_tags_are_reported_once_stored_or_dead_lettered(warehouse: Any, ruleset: Any) -> None:
    stored: list[dict[int, int]] = []
    sink = BatchingSink(warehouse, max_delay_s=60, on_stored=lambda c: stored.append(dict(c)))
    sink.put([_exc(ruleset, i) for i in range(4)], tag=7)
    bad = dataclasses.replace(_exc(ruleset, 9), detail_json="\udcfe")
    sink.put([bad], tag=8)
    sink.put([_exc(ruleset, 10)])  # untracked
    assert sink.flush()
    total: dict[int, int] = {}
    for c in stored:
        for k, v in c.items():
            total[k] = total.get(k, 0) + v
    assert total == {7: 4, 8: 1}
    assert datetime.now(UTC) - dq.open_letters(warehouse, ZONE)[0].ts < timedelta(minutes=5)


def _obd_batches(n_frames: int, poison_at: set[int]) -> list[Any]:
    """``n_frames`` OBD frames of 10 records; the records numbered in ``poison_at`` run at
    8,010 rpm (within the codec's range, refused by the constraint the test adds)."""
    from core.registry import default_registry
    from obd_gateway.protocol import DataStream
    from obd_gateway.session import samples_of

    v = default_registry().obd_vehicles[0]
    t0 = datetime(2026, 11, 20, 8, 0, tzinfo=BEIJING)
    out = []
    for k in range(n_frames):
        bodies = [
            DataStream.from_physical(
                speed_kmh=30.0, rpm=8010.0 if 10 * k + i in poison_at else 1500.0
            ).encode()
            for i in range(10)
        ]
        rx = t0 + timedelta(seconds=10 * k + 10)
        out.append(
            samples_of(
                v.vin,
                v,
                [round((t0 + timedelta(seconds=10 * k + i)).timestamp() * 1000) for i in range(10)],
                bytes(10),
                b"".join(bodies),
                received_at=rx,
                backfilled=False,
                signature="absent",
                frame_id=f"{k:032x}",
            )
        )
    return out


def test_poison_row_in_a_columnar_batch_is_isolated_to_the_row(warehouse: Any) -> None:
    warehouse.command("ALTER TABLE obd_sample ADD CONSTRAINT sane CHECK rpm IS NULL OR rpm < 8000")
    batches = _obd_batches(20, poison_at={57, 58, 133})
    stored: list[dict[int, int]] = []
    sink = BatchingSink(
        warehouse, batch_size=10_000, max_delay_s=60, on_stored=lambda c: stored.append(dict(c))
    )
    for k, b in enumerate(batches):
        sink.put([b], tag=k % 3)
    assert sink.flush()
    poison = {batches[5].event_ids[7], batches[5].event_ids[8], batches[13].event_ids[3]}
    every = {eid for b in batches for eid in b.event_ids}
    got = {r[0] for r in warehouse.query("SELECT event_id FROM obd_sample FINAL").result_rows}
    assert got == every - poison  # the other 197 rows, the poison frames' good rows included
    st = sink.state()
    assert st.healthy and st.buffered == 0 and st.written == 197 and st.dead_lettered == 3
    letters = {d.event_id: d for d in dq.open_letters(warehouse, ZONE)}
    assert set(letters) == poison
    for d in letters.values():
        assert d.stage == "insert" and d.kind == "obd.sample" and d.device_id == batches[0].vin
        assert b'"rpm":8010.0' in d.raw
    total: dict[int, int] = {}
    for c in stored:
        for t, n in c.items():
            total[t] = total.get(t, 0) + n
    assert total == {0: 7, 1: 7, 2: 6}  # each frame reported once, poison frames included
    warehouse.command("ALTER TABLE obd_sample DROP CONSTRAINT sane")
    result = deadletter.replay(warehouse)
    assert len(result.replayed) == 3 and not result.failed
    got = {r[0] for r in warehouse.query("SELECT event_id FROM obd_sample FINAL").result_rows}
    assert got == every


def test_status_page_shows_open_dead_letters(accounts, warehouse: Any, ruleset: Any) -> None:

    from dashboards.app import PAGES_DIR
    from dashboards.data import refresh
    from streams.warehouse import shared

    sink = BatchingSink(warehouse, max_delay_s=60)
    sink.put([_exc(ruleset, 1), dataclasses.replace(_exc(ruleset, 2), detail_json="\udcff")])
    assert sink.flush()
    shared.set_reader(warehouse)
    refresh()  # every query cache (10 s and 60 s)
    try:
        at = accounts.app(str(PAGES_DIR / "platform_status.py")).run()
    finally:
        shared.set_reader(None)
    assert not at.exception, [e.value for e in at.exception]
    labels = {m.label: m.value for m in at.metric}
    assert labels["待处理死信"] == "1"


CLI_SETUP = """
import dataclasses, sys
from datetime import datetime, timedelta
from core.ruleset import default_ruleset
from core.timeutil import BEIJING
from core.exceedance import fire
from streams.warehouse.client import connect
from streams.warehouse.migrator import migrate
from streams.warehouse.sink import BatchingSink


rs = default_ruleset()
def exc(i, **kw):
    e = fire(rule=rs.rule("ENF-FLEET"),
        ts=datetime(2026, 11, 20, 8, 0, tzinfo=BEIJING) + timedelta(seconds=i),
        source="remote_sensing", subject_kind="vehicle", subject_id=f"沪A{i:05d}|yellow",
        jurisdiction="qingpu", device_id="QP-RSD-01", measured=40.0 + i, limit=30.0, unit="%",
        evidence=(), quality_flags=())
    return dataclasses.replace(e, **kw)
c = connect(sys.argv[1], "emw")
migrate(c)
c.command("ALTER TABLE exceedance ADD CONSTRAINT sane CHECK measured < 1000000")
sink = BatchingSink(c, max_delay_s=60)
sink.put([exc(1), exc(2, measured=5e6), exc(3, detail_json="\\udcff")])
assert sink.flush()
c.command("ALTER TABLE exceedance DROP CONSTRAINT sane")
"""


@pytest.mark.slow
def test_deadletter_cli_without_a_running_platform(tmp_path: Any) -> None:
    """Nothing listens on the dashboard port: the command opens the data directory itself."""
    import json
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    env = {**os.environ, "EMW_DATA_DIR": str(tmp_path), "EMW_DASHBOARD_PORT": port}
    dsn = f"chdb://{tmp_path / 'warehouse'}"
    setup = subprocess.run(
        [sys.executable, "-c", CLI_SETUP, dsn], env=env, capture_output=True, text=True, timeout=120
    )
    assert setup.returncode == 0, setup.stderr[-2000:]

    def emwatch(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "streams.cli", "deadletter", *argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    listed = emwatch("list", "--json")
    assert listed.returncode == 0, listed.stderr[-2000:]
    rows = json.loads(listed.stdout)
    assert sorted(r["stage"] for r in rows) == ["insert", "serialise"]
    bad = emwatch("replay")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--all" in bad.stderr
    replayed = emwatch("replay", "--all")  # the insert refusal replays; the bad byte still fails
    assert replayed.returncode == 1, replayed.stderr[-2000:]
    assert "1 replayed, 1 still failing" in replayed.stdout
    still = json.loads(emwatch("list", "--json").stdout)
    assert [r["stage"] for r in still] == ["serialise"]
    done = json.loads(emwatch("list", "--status", "replayed", "--json").stdout)
    assert [r["stage"] for r in done] == ["insert"]


async def test_faust_storage_agent_dead_letters_what_does_not_decode(
    warehouse: Any, ruleset: Any, tmp_path: Any
) -> None:
    import asyncio

    from core.processing import Context
    from streams import catalog, serde
    from streams.faust_app import build
    from streams.settings import load_settings

    settings = load_settings(
        kafka_bootstrap="127.0.0.1:9", data_dir=tmp_path, sink_max_delay_s=0.05, sink_batch_size=3
    )
    w = build(
        settings,
        event_types={"exceedance": catalog.event_types()["exceedance"]},
        processors=[],
        ctx=Context(ruleset=None, registry=None),  # type: ignore[arg-type]
        app_id="test-deadletter",
        warehouse_client=lambda: warehouse,
        web_enabled=False,
    )
    w.app.finalize()
    w.app.conf.store = "memory://"
    w.app.flow_control.resume()
    good = [_exc(ruleset, i) for i in range(2)]
    async with w.sink_agents["exceedance"].test_context() as tagent:
        for ev in good:
            await tagent.put(value=serde.to_json(ev), key=ev.key.encode())
        await tagent.put(value=b'{"kind":"exceedance","ts":\xff', key=b"x")
        for _ in range(200):
            if (
                dq.status_counts(warehouse, ZONE).get("open") == 1
                and len(_stored_ids(warehouse)) == 2
            ):
                break
            await asyncio.sleep(0.05)
    assert _stored_ids(warehouse) == {e.event_id for e in good}
    (letter,) = dq.open_letters(warehouse, ZONE)
    assert letter.stage == "decode" and letter.raw == b'{"kind":"exceedance","ts":\xff'

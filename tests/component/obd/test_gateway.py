"""The gateway over real sockets on 127.0.0.1: malformed input, registry check, limits, ack only
after publish, and the whole path into chDB through the embedded pipeline."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.gateway import GatewaySettings
from core.metrics import Metrics
from core.registry import Registry, default_registry
from core.scope import Scope
from core.timeutil import BEIJING
from obd_gateway.events import ObdQuarantine, ObdSample, sample_rows
from obd_gateway.protocol import Command, Frame, FrameDecoder, HeaderVariant, bcc
from obd_gateway.protocol.frame import RESP_ERROR, RESP_SUCCESS
from obd_gateway.server import ObdGateway
from obd_gateway.simulator import Terminal, VehicleModel, build_packet, login_frame, terminal_iccid

ZONE = Scope.zone()  # named queries take the caller's scope

pytestmark = pytest.mark.component
T0 = datetime(2026, 11, 20, 8, 0, 0, tzinfo=BEIJING)


class Collect:
    def __init__(self) -> None:
        self.events: list[Any] = []

    async def __call__(self, events: Any) -> None:
        self.events.extend(events)

    def samples(self) -> list[ObdSample]:
        return sample_rows(self.events)


def valid_packets(vin: str, model: VehicleModel, start: datetime, n: int) -> list[bytes]:
    out = []
    for k in range(n):
        recs = [(start + timedelta(seconds=10 * k + i), model.record()) for i in range(10)]
        out.append(
            build_packet(vin, recs, k + 1, info=model.obd_info() if k == 0 else None).encode()
        )
    return out


def malformed(rng: random.Random, good: bytes, vin: str) -> bytes:
    """One malformed frame of a random kind (never containing a complete valid frame)."""
    kind = rng.randrange(6)
    if kind == 0:  # truncated
        return good[: rng.randrange(3, len(good) - 1)]
    if kind == 1:  # corrupted data byte (BCC fails)
        b = bytearray(good)
        i = rng.randrange(24, len(b) - 1)
        b[i] ^= 1 << rng.randrange(8)
        return bytes(b)
    if kind == 2:  # oversized: length field beyond the gateway's limit
        b = bytearray(good[:24])
        b[22:24] = (60000).to_bytes(2, "big")
        return bytes(b) + bytes(rng.randrange(0, 64))
    if kind == 3:  # wrong checksum
        return good[:-1] + bytes(((good[-1] + 1 + rng.randrange(254)) % 256,))
    if kind == 4:  # unknown command, valid BCC
        return Frame(HeaderVariant.TERMINAL, 0x3A, vin, 1, 1, bytes(rng.randrange(0, 40))).encode()
    # garbage (may contain '#')
    return bytes(rng.choice(b"#\x00\xff\x01ABC") for _ in range(rng.randrange(1, 40)))


async def send_stream(port: int, stream: bytes, rng: random.Random) -> list[Frame]:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    answers: list[Frame] = []
    dec = FrameDecoder()

    async def read_all() -> None:
        while True:
            data = await r.read(65536)
            if not data:
                return
            answers.extend(f for f, _ in (x for x in dec.feed(data) if isinstance(x, tuple)))

    reader = asyncio.create_task(read_all())
    i = 0
    while i < len(stream):
        n = rng.randrange(1, 3000)
        w.write(stream[i : i + n])
        i += n
        if rng.random() < 0.1:
            await w.drain()
    await w.drain()
    w.write_eof()
    await asyncio.wait_for(reader, 60)
    w.close()
    return answers


async def test_10000_malformed_frames_interleaved_every_valid_sample_stored_once(
    pipeline: Any,
) -> None:
    """4 terminals, 600 valid packets (6,000 samples) and 10,000 malformed frames of six kinds,
    sent in random chunks over real sockets → gateway → in-process bus → chDB."""
    reg = default_registry()
    vehicles = reg.obd_vehicles[:4]
    seen: list[Any] = []

    async def publish(events: Any) -> None:
        seen.extend(events)
        await pipeline.publish(events)

    metrics = Metrics()
    gw = ObdGateway(publish, reg, metrics, GatewaySettings(max_frame=4096, partial_timeout_s=2.0))
    await gw.start()
    rng = random.Random(1239)
    expected: set[str] = set()
    streams = []
    n_bad = 0
    for ci, v in enumerate(vehicles):
        goods = valid_packets(v.vin, VehicleModel(v, seed=ci), T0, 150)
        parts = []
        for g in goods:
            for _ in range(rng.randrange(15, 20)):
                if n_bad < 10_000:
                    parts.append(malformed(rng, goods[rng.randrange(len(goods))], v.vin))
                    n_bad += 1
            parts.append(g)
        streams.append(b"".join(parts))
        for k in range(150):
            for i in range(10):
                expected.add(
                    ObdSample.make_id(v.vin, (T0 + timedelta(seconds=10 * k + i)).astimezone(UTC))
                )
    assert n_bad == 10_000 and len(expected) == 6000
    try:
        answers = await asyncio.gather(
            *(send_stream(gw.port, s, random.Random(i)) for i, s in enumerate(streams))
        )
    finally:
        await gw.stop()
    await pipeline.settle()
    # no sample invented from malformed bytes, none lost
    assert {e.event_id for e in sample_rows(seen)} == expected
    c = pipeline.client
    stored = c.query("SELECT event_id FROM obd_sample FINAL").result_rows
    assert len(stored) == 6000 and {r[0] for r in stored} == expected
    per_ts = c.query(
        "SELECT max(n) FROM (SELECT vin, ts, count() AS n FROM obd_sample FINAL GROUP BY vin, ts)"
    )
    assert per_ts.result_rows[0][0] == 1
    ok = sum(
        1
        for a in answers
        for f in a
        if f.command == Command.REALTIME and f.data[-1] == RESP_SUCCESS
    )
    assert ok >= 600
    bad = metrics.counters("obd_gateway", "bad_frames")
    assert sum(bad.values()) >= 10_000
    for reason in ("reason=bcc", "reason=bad_length", "reason=garbage", "reason=unknown_command"):
        assert bad.get(reason, 0) > 0, reason
    assert gw.active_connections == 0


async def test_unknown_vin_quarantined_and_answered() -> None:
    pub = Collect()
    gw = ObdGateway(pub, default_registry(), Metrics())
    await gw.start()
    try:
        r, w = await asyncio.open_connection("127.0.0.1", gw.port)
        f = login_frame("LUNKNOWN0RE000001", T0, 1, HeaderVariant.RESPONSE_FLAG)
        w.write(f.encode())
        await w.drain()
        ans = [
            x
            for x in FrameDecoder().feed(await asyncio.wait_for(r.read(4096), 5))
            if isinstance(x, tuple)
        ]
        assert ans[0][0].response_flag == RESP_ERROR and ans[0][0].vin == "LUNKNOWN0RE000001"
        w.close()
    finally:
        await gw.stop()
    assert [type(e) for e in pub.events] == [ObdQuarantine]


async def test_answer_only_after_publish_returns() -> None:
    gate = asyncio.Event()
    published: list[Any] = []

    async def slow_publish(events: Any) -> None:
        await gate.wait()
        published.extend(events)

    reg = default_registry()
    v = reg.obd_vehicles[0]
    gw = ObdGateway(slow_publish, reg, Metrics())
    await gw.start()
    try:
        r, w = await asyncio.open_connection("127.0.0.1", gw.port)
        w.write(login_frame(v.vin, T0, 1).encode())
        await w.drain()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(r.read(4096), 0.3)
        assert published == []
        gate.set()
        data = await asyncio.wait_for(r.read(4096), 5)
        assert published and next(f for f, _ in FrameDecoder().feed(data)).command == Command.LOGIN
        w.close()
    finally:
        await gw.stop()


async def test_failed_publish_closes_without_answer() -> None:
    async def broken(events: Any) -> None:
        raise ConnectionError("bus down")

    reg = default_registry()
    metrics = Metrics()
    gw = ObdGateway(broken, reg, metrics)
    await gw.start()
    try:
        r, w = await asyncio.open_connection("127.0.0.1", gw.port)
        w.write(login_frame(reg.obd_vehicles[0].vin, T0, 1).encode())
        await w.drain()
        assert await asyncio.wait_for(r.read(4096), 5) == b""
    finally:
        await gw.stop()
    # the login's events, then the ``disconnected`` status of the closed connection
    assert metrics.counters("obd_gateway", "publish_failures") == {"reason=ConnectionError": 2}


async def test_idle_timeout_and_connection_limit() -> None:
    metrics = Metrics()
    gw = ObdGateway(
        Collect(),
        default_registry(),
        metrics,
        GatewaySettings(max_connections=2, idle_timeout_s=0.5),
    )
    await gw.start()
    try:
        conns = [await asyncio.open_connection("127.0.0.1", gw.port) for _ in range(2)]
        await asyncio.sleep(0.05)
        r3, _w3 = await asyncio.open_connection("127.0.0.1", gw.port)
        assert await asyncio.wait_for(r3.read(10), 5) == b""  # over the limit: closed at once
        for r, _w in conns:
            assert await asyncio.wait_for(r.read(10), 5) == b""  # idle: closed by the sweeper
    finally:
        await gw.stop()
    assert metrics.counter("obd_gateway", "connections_rejected") == 1
    assert metrics.counter("obd_gateway", "idle_timeouts") == 2


async def test_bcc_failure_answered_with_error_and_connection_survives() -> None:
    reg = default_registry()
    v = reg.obd_vehicles[0]
    pub = Collect()
    gw = ObdGateway(pub, reg, Metrics(), layout=None)
    await gw.start()
    try:
        r, w = await asyncio.open_connection("127.0.0.1", gw.port)
        good = login_frame(v.vin, T0, 1, HeaderVariant.RESPONSE_FLAG).encode()
        bad = good[:-1] + bytes((good[-1] ^ 0xFF,))
        assert bcc(bad[2:-1]) != bad[-1]
        w.write(bad + good)
        await w.drain()
        frames: list[Frame] = []
        dec = FrameDecoder()
        while len(frames) < 2:
            frames += [
                f
                for f, _ in (
                    x
                    for x in dec.feed(await asyncio.wait_for(r.read(4096), 5))
                    if isinstance(x, tuple)
                )
            ]
        assert [f.response_flag for f in frames] == [RESP_ERROR, RESP_SUCCESS]
        w.close()
    finally:
        await gw.stop()


async def test_offline_terminal_backfills_with_original_times() -> None:
    reg = default_registry()
    v = reg.obd_vehicles[2]
    pub = Collect()
    gw = ObdGateway(pub, reg, Metrics())
    await gw.start()
    try:
        term = Terminal(v, T0, seed=5, speedup=1e6, offline=(3, 4), track_records=True)
        stats = await term.run("127.0.0.1", gw.port, 10)
    finally:
        await gw.stop()
    samples = pub.samples()
    assert stats.reissued == 40 and stats.records == 60
    back = [s for s in samples if s.backfilled]
    assert len(back) == 40
    assert {s.ts for s in back} == {
        (T0 + timedelta(seconds=30 + i)).astimezone(UTC) for i in range(40)
    }
    assert len({s.event_id for s in samples}) == 100 == len(samples)


async def test_pipeline_stores_samples_once_and_queries_see_them(pipeline: Any) -> None:
    from streams.warehouse.queries import obd as q

    pipeline.ports["obd"] = 0
    from obd_gateway import embedded

    svc = await embedded.start(pipeline.service_context)
    reg: Registry = pipeline.service_context.registry
    vs = reg.obd_vehicles[:3]
    pipeline.credentials.demo_secrets([v.vin for v in vs], terminal_iccid)  # VIN + ICCID
    try:
        terms = [Terminal(v, T0, seed=i, speedup=1e6, track_records=True) for i, v in enumerate(vs)]
        await asyncio.gather(*(t.run("127.0.0.1", svc.port, 12) for t in terms))
        # the same data again (a terminal re-sending everything) must not add rows
        again = [Terminal(v, T0, seed=i, speedup=1e6) for i, v in enumerate(vs)]
        await asyncio.gather(*(t.run("127.0.0.1", svc.port, 12) for t in again))
    finally:
        await svc.stop()
    await pipeline.settle()
    c = pipeline.client
    n = c.query("SELECT count() FROM obd_sample FINAL").result_rows[0][0]
    assert n == 3 * 120
    dup = c.query(
        "SELECT count() FROM (SELECT vin, ts, count() c FROM obd_sample FINAL GROUP BY vin, ts HAVING c > 1)"
    ).result_rows[0][0]
    assert dup == 0
    since, until = T0 - timedelta(hours=1), T0 + timedelta(hours=2)
    rate = q.online_rate(c, ZONE, since, until, by="jurisdiction", registry=reg)
    assert int(rate["online"].sum()) == 3 and int(rate["registered"].sum()) == len(reg.obd_vehicles)
    tl = q.vehicle_timeline(c, ZONE, vs[0].vin, since, until)
    assert int(tl["records"].sum()) == 120
    assert not q.vehicle_info_history(c, ZONE, vs[0].vin).empty
    st = q.vehicle_status_history(c, ZONE, vs[0].vin, since, until + timedelta(days=3650))
    assert {"login", "logout"} <= set(st["status"])


async def test_scr_fault_reaches_the_exceedance_table(pipeline: Any) -> None:
    from obd_gateway.simulator import Fault
    from streams.warehouse.queries import obd as q

    reg = default_registry()
    v = reg.obd_vehicles[20]  # a freight truck
    gw = ObdGateway(pipeline.publish, reg, Metrics())
    await gw.start()
    try:
        term = Terminal(v, T0, seed=7, speedup=1e6, faults=[Fault.SCR_DISABLED])
        await term.run("127.0.0.1", gw.port, 360)
    finally:
        await gw.stop()
    await pipeline.settle()
    ex = q.vehicle_exceedances(
        pipeline.client, ZONE, v.vin, T0 - timedelta(days=1), T0 + timedelta(days=1)
    )
    scr = ex[ex["rule_id"] == "OBD-SCR"]
    assert len(scr) == 1
    row = scr.iloc[0]
    assert row["ruleset_version"] == pipeline.service_context.ruleset.version
    assert row["measured"] < 0.5 and bool(row["provisional"])
    assert len(row["evidence"]) == 2


async def test_embedded_service_with_simulator_feeds_the_warehouse(pipeline: Any) -> None:
    import dataclasses

    from obd_gateway import embedded

    pipeline.ports["obd"] = 0
    ctx = dataclasses.replace(pipeline.service_context, simulate=True, sim_scale=0.2)
    svc = await embedded.start(ctx)
    try:
        assert len(svc.sim_tasks) == 6
        assert "tcp://127.0.0.1:" in next(iter(svc.describe().values()))
        for _ in range(100):
            await asyncio.sleep(0.05)
            if svc.gateway.metrics.counter("obd_gateway", "samples", {"kind": "live"}) >= 6:
                break
    finally:
        await svc.stop()
    await pipeline.settle()
    n = pipeline.client.query("SELECT uniqExact(vin), count() FROM obd_sample FINAL").result_rows[0]
    assert n[0] == 6 and n[1] >= 60


async def test_a_length_that_lies_costs_one_frame_not_the_partial_timeout() -> None:
    """Issue 11: a frame whose length field lies, then good frames on the same (still open)
    connection. The good frames are answered, in order, without the partial-frame timeout
    (set far beyond the test's bound): the decoder resyncs on the first complete valid frame."""
    reg = default_registry()
    v = reg.obd_vehicles[0]
    metrics = Metrics()
    pub = Collect()
    gw = ObdGateway(pub, reg, metrics, GatewaySettings(partial_timeout_s=600.0))
    await gw.start()
    try:
        r, w = await asyncio.open_connection("127.0.0.1", gw.port)
        lie = bytearray(login_frame(v.vin, T0, 1).encode())
        lie[22:24] = (3000).to_bytes(2, "big")  # claims 3,025 B; the good frames come first
        goods = valid_packets(v.vin, VehicleModel(v, seed=3), T0, 4)
        w.write(bytes(lie) + b"".join(goods))
        await w.drain()
        dec = FrameDecoder()
        answers: list[Frame] = []
        while len(answers) < 5:  # the lie's error answer + one per good frame
            data = await asyncio.wait_for(r.read(65536), 30)
            assert data, "connection closed before every frame was answered"
            answers += [f for f, _ in (x for x in dec.feed(data) if isinstance(x, tuple))]
        w.close()
    finally:
        await gw.stop()
    assert [a.data[-1] for a in answers] == [RESP_ERROR] + [RESP_SUCCESS] * 4
    assert [a.command for a in answers] == [Command.LOGIN] + [Command.REALTIME] * 4
    bad = metrics.counters("obd_gateway", "bad_frames")
    assert bad.get("reason=bad_length") == 1 and bad.get("reason=truncated", 0) == 0
    assert len(pub.samples()) == 40

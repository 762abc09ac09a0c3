"""HJ 212 gateway over real sockets: answers, ack-after-publish, split packets, bad input at volume."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta

import pytest

from core.credentials import DeviceCredentials
from core.gateway import GatewaySettings
from core.metrics import Metrics
from core.registry import default_registry
from core.timeutil import BEIJING
from fuel_vapor.codemaps import default_codemaps
from fuel_vapor.events import Fuelling
from fuel_vapor.protocol import Frame, FrameDecoder, encode_frame, modbus_crc, parse_segment
from fuel_vapor.protocol.packet import Packet
from fuel_vapor.server import VaporGateway
from fuel_vapor.simulator import Simulation

pytestmark = pytest.mark.component
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=BEIJING)
CREDS, PW = DeviceCredentials.ephemeral(default_registry())  # the registry holds digests only


class Client:
    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer
        self.dec = FrameDecoder()
        self.frames: list[Packet] = []

    @classmethod
    async def open(cls, port):
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, data: bytes):
        self.writer.write(data)
        await self.writer.drain()

    async def read_answers(self, n: int, timeout: float = 5.0) -> list[Packet]:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while len(self.frames) < n and loop.time() < end:
            try:
                data = await asyncio.wait_for(self.reader.read(65536), end - loop.time())
            except TimeoutError:
                break
            if not data:
                break
            self.frames += [
                parse_segment(f.segment.decode())
                for f in self.dec.feed(data)
                if isinstance(f, Frame)
            ]
        return self.frames

    def close(self):
        self.writer.close()


def station(registry, code_map):
    return next(s for s in registry.stations if s.code_map == code_map)


def upload(st, cm_name, *, nozzle=1, ts=T0, qn="20261123080000000", pw=None, al=1.1, mn=None):
    cm = default_codemaps()[cm_name]
    cn = next(c for c in cm.cns if cm.message(c).fuelling)
    return cm.encode(
        cn=cn,
        mn=mn or st.mn,
        pw=pw or PW[st.id],
        ts=ts,
        qn=qn,
        station_id=st.id,
        nozzle=nozzle,
        fuelling={
            "al": al,
            "fuel_volume_l": 31.2,
            "vapour_volume_l": 34.3,
            "fuel_flow_lpm": 35.0,
            "vapour_flow_lpm": 38.5,
        },
    )


@pytest.fixture
async def gateway(collector, registry):
    metrics = Metrics()
    gw = VaporGateway(
        collector, registry, metrics, settings=GatewaySettings(idle_timeout_s=5), credentials=CREDS
    )
    await gw.start()
    yield gw
    await gw.stop()


async def test_upload_is_published_then_answered_9014_echoing_qn(gateway, collector, registry):
    st = station(registry, "chongqing")
    c = await Client.open(gateway.port)
    await c.send(upload(st, "chongqing", nozzle=2))
    (ans,) = await c.read_answers(1)
    assert (ans.cn, ans.qn, ans.st, ans.mn) == ("9014", "20261123080000000", "91", st.mn)
    (b,) = collector.of_kind("vapor.fuelling")
    (f,) = b.rows()
    assert (f.station_id, f.nozzle, f.al, f.key, b.key) == (st.id, 2, 1.1, f"{st.id}:N02", st.id)
    (p,) = collector.of_kind("vapor.packet")
    assert p.records >= 1 and len(p.raw_sha256) == 64 and p.code_map == "chongqing"
    session = gateway.sessions[st.mn]
    assert (session.unit_id, session.packets) == (st.id, 1)
    c.close()


async def test_upload_with_flag_4_is_stored_but_not_answered(gateway, collector, registry):
    st = station(registry, "chongqing")
    cm = default_codemaps()["chongqing"]
    frame = cm.encode(
        cn="3020",
        mn=st.mn,
        pw=PW[st.id],
        ts=T0,
        qn="20261123080000005",
        station_id=st.id,
        nozzle=1,
        fuelling={"al": 1.05, "fuel_volume_l": 20.0},
        flag=4,
    )
    c = await Client.open(gateway.port)
    await c.send(frame + upload(st, "chongqing", ts=T0 + timedelta(seconds=5)))
    answers = await c.read_answers(2, timeout=1.0)
    assert [a.qn for a in answers] == ["20261123080000000"]  # only the Flag=5 upload is answered
    assert len(collector.of_kind("vapor.fuelling")) == 2
    c.close()


async def test_guangzhou_device_without_flag_gets_qnrtn_1(gateway, collector, registry):
    st = station(registry, "guangzhou")
    c = await Client.open(gateway.port)
    await c.send(upload(st, "guangzhou", nozzle=4))
    (ans,) = await c.read_answers(1)
    assert ans.cn == "9014" and ans.get("QnRtn") == "1"
    assert collector.of_kind("vapor.fuelling")[0].nozzle == (4,)
    c.close()


async def test_bad_password_unknown_mn_and_crc_error_answers(gateway, collector, registry):
    st = station(registry, "chongqing")
    c = await Client.open(gateway.port)
    await c.send(upload(st, "chongqing", pw="999999", qn="20261123080000001"))
    await c.send(upload(st, "chongqing", mn="FFFFFFFFFFFFFFFFFFFFFFFF", qn="20261123080000002"))
    request = f"QN=20261123080000003;ST=31;CN=1013;PW={PW[st.id]};MN={st.mn};Flag=5;CP=&&&&"
    bad = bytearray(encode_frame(request))
    bad[-6:-2] = b"0000"
    await c.send(bytes(bad))
    answers = await c.read_answers(3)
    assert [(a.cn, a.qn, a.get("QnRtn")) for a in answers] == [
        ("9011", "20261123080000001", "3"),
        ("9011", "20261123080000002", "4"),
        ("9011", "20261123080000003", "9"),
    ]
    assert not collector.of_kind("vapor.fuelling")
    bad_counts = gateway.bad_counts()
    assert bad_counts == {
        "reason=bad_password": 1,
        "reason=unknown_mn": 1,
        "reason=crc_mismatch": 1,
    }
    c.close()


async def test_ack_only_after_publish_returns_and_not_on_failure(registry):
    gate = asyncio.Event()
    calls = []

    async def slow_publish(events):
        calls.append(len(events))
        await gate.wait()

    gw = VaporGateway(
        slow_publish,
        registry,
        Metrics(),
        settings=GatewaySettings(publish_timeout_s=2),
        credentials=CREDS,
    )
    _, port = await gw.start()
    st = station(registry, "chongqing")
    c = await Client.open(port)
    await c.send(upload(st, "chongqing"))
    assert await c.read_answers(1, timeout=0.5) == []  # publish not confirmed: no answer yet
    gate.set()
    assert [a.cn for a in await c.read_answers(1)] == ["9014"]

    async def failing(events):
        raise RuntimeError("bus down")

    gw.publish = failing
    await c.send(upload(st, "chongqing", qn="20261123080000009", ts=T0 + timedelta(minutes=1)))
    assert len(await c.read_answers(2, timeout=0.5)) == 1  # no answer: the device will resend
    assert gw.metrics.counter("fuel_vapor", "publish_failures", {"reason": "RuntimeError"}) == 1
    gw.publish = slow_publish
    await c.send(upload(st, "chongqing", qn="20261123080000010", ts=T0 + timedelta(minutes=2)))
    assert len(await c.read_answers(2)) == 2  # same connection still served
    c.close()
    await gw.stop()


async def test_split_packet_reassembled_and_each_part_answered(gateway, collector, registry):
    st = station(registry, "chongqing")
    whole = parse_segment(upload(st, "chongqing", nozzle=5)[6:-8].decode())
    groups = list(whole.cp)
    parts = [groups[:2], groups[2:]]
    c = await Client.open(gateway.port)
    for i, g in enumerate(parts, 1):
        part = Packet.build(
            cn=whole.cn, mn=st.mn, st="31", pw=PW[st.id], qn=whole.qn, flag=7, pnum=2, pno=i, cp=g
        )
        await c.send(encode_frame(part.segment))
    answers = await c.read_answers(2)
    assert [a.cn for a in answers] == ["9014", "9014"]
    (f,) = collector.of_kind("vapor.fuelling")
    assert f.nozzle == (5,) and f.al == (1.1,)
    assert len(collector.of_kind("vapor.packet")) == 2  # each part kept as evidence
    c.close()


async def test_idle_connection_is_closed_by_timeout(registry, collector):
    gw = VaporGateway(
        collector,
        registry,
        Metrics(),
        settings=GatewaySettings(idle_timeout_s=0.2),
        credentials=CREDS,
    )
    _, port = await gw.start()
    c = await Client.open(port)
    data = await asyncio.wait_for(c.reader.read(10), 2)
    assert data == b""
    assert gw.metrics.counter("fuel_vapor", "idle_timeouts") == 1
    await gw.stop()


# ---------------------------------------------------------------- volume: 10,000 malformed packets


def _malformed(kind: str, rng: random.Random, template: bytes, st, cm_name: str) -> bytes:
    cm = default_codemaps()[cm_name]
    extra = cm.profile.extra_char.encode()
    body_at = 6 + len(extra)
    length = int(template[2:6])
    seg = template[body_at : body_at + length]
    if kind == "crc":
        wrong = (int(template[body_at + length : body_at + length + 4], 16) + 0x40) & 0xFFFF
        return template[: body_at + length] + b"%04X" % wrong + b"\r\n"
    if kind == "corrupt":
        digits = [i for i, b in enumerate(seg) if 48 <= b <= 57]
        i = rng.choice(digits)
        s2 = bytearray(seg)
        s2[i] = 48 + (s2[i] - 48 + 1 + rng.randrange(8)) % 10
        return template[:body_at] + bytes(s2) + template[body_at + length :]
    if kind == "len_digits":
        return b"##0" + b"x" + template[4:]
    if kind == "short_len":
        return b"##%04d" % (length - 10) + template[6:]
    if kind == "long_len":
        return b"##%04d" % (length + 3) + template[6:]
    if kind == "truncate":
        return template[: rng.randrange(8, len(template) - 6)]
    if kind == "oversize":
        return b"##9999" + bytes(rng.choice(b"abcdef0123;=&") for _ in range(rng.randrange(10, 80)))
    if kind == "unknown_mn":
        return upload(st, cm_name, mn="0" * 23 + "9", qn="20261123090000000")
    if kind == "bad_pw":
        return upload(st, cm_name, pw="000000", qn="20261123090000001")
    if kind == "no_cp":
        return encode_frame(f"QN=20261123090000002;ST=31;CN=2011;PW={PW[st.id]};MN={st.mn};Flag=4")
    if kind == "modbus":
        return b"##%04d" % len(seg) + extra + seg + b"%04X" % modbus_crc(seg) + b"\r\n"
    raise AssertionError(kind)


KINDS = [
    "crc",
    "corrupt",
    "len_digits",
    "short_len",
    "long_len",
    "truncate",
    "oversize",
    "unknown_mn",
    "bad_pw",
    "no_cp",
    "modbus",
]
EXACT = {
    "len_digits": "bad_length_field",
    "oversize": "oversize",
    "unknown_mn": "unknown_mn",
    "bad_pw": "bad_password",
    "no_cp": "malformed",
    "garbage": "garbage",
}


@pytest.mark.slow
async def test_10000_malformed_interleaved_every_valid_fuelling_stored_once(pipeline, registry):
    from fuel_vapor import embedded

    pipeline.ports["hj212"] = 0
    pipeline.credentials = CREDS
    svc = await embedded.start(pipeline.service_context)
    rng = random.Random(20952)
    sim = Simulation(
        registry, T0, seed=4, stations=[s.id for s in registry.stations[:6]], passwords=PW
    )
    valid = list(sim.packets(T0 + timedelta(hours=4)))
    by_mn: dict[str, list] = {}
    for o in valid:
        by_mn.setdefault(o.mn, []).append(o)
    expected_ids = set()
    for o in valid:
        if o.fuellings:
            st = registry.station_by_mn(o.mn)
            expected_ids.add(Fuelling.make_id(st.id, o.nozzle, o.ts))
    n_bad = 10_000
    ks = [n_bad // len(valid) + (i < n_bad % len(valid)) for i in range(len(valid))]
    streams: dict[str, bytearray] = {}
    made: dict[str, int] = {}
    wanted: dict[str, int] = {}
    for o, k in zip(valid, ks, strict=True):
        out = streams.setdefault(o.mn, bytearray())
        wanted[o.mn] = wanted.get(o.mn, 0) + int(o.wants_answer)
        unit = registry.station_by_mn(o.mn) or registry.stations[0]
        template = o.frame if registry.station_by_mn(o.mn) else upload(unit, unit.code_map)
        for j in range(k):  # malformed packets go before each valid one, so a stream ends valid
            if j == 0 and rng.random() < 0.15:  # garbage only right after a valid packet
                out += bytes(
                    rng.choice(b"xyz \t0123456789abc;,=&") for _ in range(rng.randrange(1, 200))
                )
                made["garbage"] = made.get("garbage", 0) + 1
                continue
            kind = rng.choice(KINDS)
            out += _malformed(kind, rng, template, unit, unit.code_map)
            made[kind] = made.get(kind, 0) + 1
        out += o.frame
    assert sum(made.values()) == n_bad

    async def device(mn: str, data: bytes) -> int:
        c = await Client.open(svc.port)
        reader = asyncio.create_task(c.read_answers(10**9, timeout=60))
        i = 0
        while i < len(data):
            n = rng.randrange(1, 4096)
            await c.send(data[i : i + n])
            i += n
        # the connection is still alive: one more packet is answered after all the junk
        await asyncio.sleep(0)
        frames = await asyncio.wait_for(_until(c, wanted[mn]), 60)
        reader.cancel()
        c.close()
        return sum(1 for f in frames if f.cn == "9014")

    async def _until(c: Client, n: int):
        while sum(1 for f in c.frames if f.cn == "9014") < n:
            await asyncio.sleep(0.02)
        return c.frames

    got = await asyncio.gather(*(device(mn, data) for mn, data in streams.items()))
    assert got == [wanted[mn] for mn in streams]  # every valid packet answered, none dropped
    await pipeline.settle()
    m = pipeline.metrics
    bad = {k.removeprefix("reason="): v for k, v in m.counters("fuel_vapor", "bad_packets").items()}
    assert sum(bad.values()) == n_bad, (bad, made)
    for kind, reason in EXACT.items():
        assert bad.get(reason, 0) == made.get(kind, 0), (kind, bad, made)
    assert m.counter("fuel_vapor", "connections_total") == len(streams)
    assert m.counter("fuel_vapor", "connection_errors") == 0
    assert m.counter("fuel_vapor", "internal_errors") == 0
    client = pipeline.client
    rows = client.query("SELECT count(), uniqExact(event_id) FROM vapor_fuelling").result_rows[0]
    final = client.query("SELECT count() FROM vapor_fuelling FINAL").result_rows[0][0]
    ids = {r[0] for r in client.query("SELECT event_id FROM vapor_fuelling FINAL").result_rows}
    assert rows == (len(expected_ids), len(expected_ids)) and final == len(expected_ids)
    assert ids == expected_ids
    await svc.stop()


async def test_a_bug_on_one_packet_does_not_drop_the_connection(
    gateway, collector, registry, monkeypatch
):
    import fuel_vapor.session as server

    real = server.from_hj212
    calls = {"n": 0}

    def flaky(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("simulated bug")
        return real(*a, **kw)

    monkeypatch.setattr(server, "from_hj212", flaky)
    st = station(registry, "chongqing")
    c = await Client.open(gateway.port)
    await c.send(upload(st, "chongqing", qn="20261123080000001"))
    await c.send(upload(st, "chongqing", qn="20261123080000002", ts=T0 + timedelta(seconds=9)))
    answers = await c.read_answers(1)
    assert [a.qn for a in answers] == ["20261123080000002"]
    gateway.flush_metrics()
    assert gateway.metrics.counter("fuel_vapor", "internal_errors") == 1
    c.close()


async def test_publish_timeout_drops_the_answer_and_keeps_the_connection(registry):
    never = asyncio.Event()
    calls = []

    async def stuck_then_fast(events):
        calls.append(len(events))
        if len(calls) == 1:
            await never.wait()  # the bus never confirms the first batch

    gw = VaporGateway(
        stuck_then_fast,
        registry,
        Metrics(),
        settings=GatewaySettings(publish_timeout_s=0.2),
        credentials=CREDS,
    )
    _, port = await gw.start()
    st = station(registry, "chongqing")
    c = await Client.open(port)
    await c.send(upload(st, "chongqing"))
    assert await c.read_answers(1, timeout=0.8) == []  # timed out: not acknowledged
    assert gw.metrics.counter("fuel_vapor", "publish_failures", {"reason": "timeout"}) == 1
    await c.send(upload(st, "chongqing", qn="20261123080000011", ts=T0 + timedelta(minutes=3)))
    (ans,) = await c.read_answers(1)
    assert ans.qn == "20261123080000011"  # same connection, next packet answered
    c.close()
    await gw.stop()


async def test_packets_of_one_read_share_one_publish_and_one_write_in_order(registry):
    batches: list[list] = []
    fail = [False]

    async def publish(events):
        batches.append(list(events))
        if fail[0]:
            raise RuntimeError("bus down")

    gw = VaporGateway(publish, registry, Metrics(), credentials=CREDS)
    _, port = await gw.start()
    st = station(registry, "chongqing")
    ups = [
        upload(
            st, "chongqing", nozzle=1 + k, qn=f"2026112308000002{k}", ts=T0 + timedelta(seconds=k)
        )
        for k in range(3)
    ]
    refused = upload(st, "chongqing", pw="999999", qn="20261123080000029")
    c = await Client.open(port)
    await c.send(ups[0] + refused + ups[1] + ups[2])  # one write: normally one read
    got = await c.read_answers(4)
    assert [(a.cn, a.qn) for a in got] == [
        ("9014", "20261123080000020"),
        ("9011", "20261123080000029"),
        ("9014", "20261123080000021"),
        ("9014", "20261123080000022"),
    ]
    assert sum(len(b) for b in batches) == 6  # 3 packets + 3 fuellings, published before acks
    # a failed publish drops the acknowledgements of its packets, not the 9011 refusals
    fail[0] = True
    more = [
        upload(st, "chongqing", nozzle=5, qn="20261123080000030", ts=T0 + timedelta(minutes=1)),
        upload(st, "chongqing", pw="999999", qn="20261123080000031"),
    ]
    await c.send(b"".join(more))
    got = await c.read_answers(5, timeout=1.0)
    assert [(a.cn, a.qn) for a in got[4:]] == [("9011", "20261123080000031")]
    gw.flush_metrics()
    assert gw.metrics.counter("fuel_vapor", "packets_ok") == 4  # decoded and accepted
    assert gw.metrics.counter("fuel_vapor", "events_published") == 6  # the failed batch not
    assert gw.metrics.counter("fuel_vapor", "answers_sent") == 5  # three 9014, two 9011
    c.close()
    await gw.stop()

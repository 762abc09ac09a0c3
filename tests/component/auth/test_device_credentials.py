"""Device credentials: set and rotated with ``emwatch devices``, stored hashed, checked by the HJ 212
gateway (PW per data unit), the RSD intake (token) and the OBD session (VIN + ICCID) without a
restart; a wrong credential is answered per protocol, counted and not stored."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.credentials import DeviceCredentials, check, digest
from core.gateway import GatewaySettings
from core.metrics import Metrics
from core.timeutil import BEIJING
from fuel_vapor.codemaps import default_codemaps
from fuel_vapor.protocol import Frame, FrameDecoder, parse_segment
from fuel_vapor.server import VaporGateway
from obd_gateway.protocol.frame import RESP_ERROR, RESP_SUCCESS
from obd_gateway.session import Session
from obd_gateway.simulator import VehicleModel, build_packet, login_frame, terminal_iccid
from streams.cli import main

pytestmark = pytest.mark.component
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=BEIJING)


def set_secret(monkeypatch: pytest.MonkeyPatch, data_dir: Path, device: str, secret: str) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(secret + "\n"))
    return main(["devices", "set-secret", device, "--data-dir", str(data_dir)])


def test_set_secret_stores_a_digest_and_refuses_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert set_secret(monkeypatch, tmp_path, "QP-ST-0001", "s3cret-PW") == 0
    raw = (tmp_path / "auth" / "devices.json").read_text()
    assert "s3cret-PW" not in raw
    stored = json.loads(raw)["QP-ST-0001"]["digest"]
    assert check(stored, "s3cret-PW") and not check(stored, "s3cret-pw")
    assert (tmp_path / "auth" / "devices.json").stat().st_mode & 0o077 == 0
    out = capsys.readouterr()
    assert "s3cret-PW" not in out.out + out.err

    assert set_secret(monkeypatch, tmp_path, "NO-SUCH-DEVICE", "x") == 2
    assert set_secret(monkeypatch, tmp_path, "QP-ST-0002", "") == 2  # empty secret
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("emwatch: devices set-secret") for line in err)
    assert "QP-ST-0002" not in (tmp_path / "auth" / "devices.json").read_text()

    assert main(["devices", "list", "--data-dir", str(tmp_path), "--kind", "hj212"]) == 0
    lines = capsys.readouterr().out.splitlines()
    row = next(ln for ln in lines if ln.startswith("QP-ST-0001"))
    assert "store" in row and "s3cret" not in "\n".join(lines)
    assert any(ln.startswith("QP-ST-0002") and "registry" in ln for ln in lines)


class _Client:
    def __init__(self, reader: Any, writer: Any) -> None:
        self.reader, self.writer, self.dec = reader, writer, FrameDecoder()

    async def ask(self, data: bytes) -> Any:
        self.writer.write(data)
        await self.writer.drain()
        while True:
            chunk = await asyncio.wait_for(self.reader.read(65536), 5)
            assert chunk, "connection closed"
            got = [f for f in self.dec.feed(chunk) if isinstance(f, Frame)]
            if got:
                return parse_segment(got[0].segment.decode())


def _upload(st: Any, pw: str, qn: str) -> bytes:
    cm = default_codemaps()["chongqing"]
    cn = next(c for c in cm.cns if cm.message(c).fuelling)
    return cm.encode(
        cn=cn,
        mn=st.mn,
        pw=pw,
        ts=T0,
        qn=qn,
        station_id=st.id,
        nozzle=1,
        fuelling={"al": 1.1, "fuel_volume_l": 30.0, "vapour_volume_l": 33.0},
    )


async def test_hj212_rotation_reaches_a_running_gateway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry: Any, collector: Any
) -> None:
    st = next(s for s in registry.stations if s.code_map == "chongqing")
    creds = DeviceCredentials.for_registry(registry, tmp_path, recheck_s=0.0)
    gw = VaporGateway(collector, registry, Metrics(), settings=GatewaySettings(), credentials=creds)
    _, port = await gw.start()
    try:
        c = _Client(*await asyncio.open_connection("127.0.0.1", port))
        assert (await c.ask(_upload(st, "123456", "20261123080000001"))).get("QnRtn") == "3"
        assert set_secret(monkeypatch, tmp_path, st.id, "483920") == 0
        ok = await c.ask(_upload(st, "483920", "20261123080000002"))
        assert ok.cn == "9014"
        assert set_secret(monkeypatch, tmp_path, st.id, "771004") == 0  # rotate, no restart
        old = await c.ask(_upload(st, "483920", "20261123080000003"))
        assert (old.cn, old.get("QnRtn")) == ("9011", "3")
        new = await c.ask(_upload(st, "771004", "20261123080000004"))
        assert new.cn == "9014"
        c.writer.close()
    finally:
        await gw.stop()
    # only the two accepted uploads were stored; the refused ones were counted
    assert len(collector.of_kind("vapor.fuelling")) == 2
    assert {p.qn for p in collector.of_kind("vapor.packet")} == {
        "20261123080000002",
        "20261123080000004",
    }
    assert gw.bad_counts().get("reason=bad_password") == 2
    # the stored packet text keeps no password (its hash is over the bytes as received)
    raws = [p.raw for p in collector.of_kind("vapor.packet")]
    assert all("PW=******" in r for r in raws) and not any(
        "483920" in r or "771004" in r for r in raws
    )


async def test_rsd_token_rotation_and_refusal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry: Any, ruleset: Any
) -> None:
    from starlette.testclient import TestClient

    from remote_sensing.intake import Intake, create_app

    published: list[Any] = []

    async def pub(events: Any) -> None:
        published.extend(events)

    creds = DeviceCredentials.for_registry(registry, tmp_path, recheck_s=0.0)
    intake = Intake(registry=registry, ruleset=ruleset, publish=pub, credentials=creds)
    client = TestClient(create_app(intake))
    body = {"site_id": "RSD-QP-01", "start": "2026-11-23T08:00:00", "end": "2026-11-23T09:00:00"}
    url = "/api/rsd/v1/downtime"
    assert set_secret(monkeypatch, tmp_path, "RSD-QP-01", "tok-one-" + "a" * 20) == 0
    h1 = {"Authorization": "Bearer tok-one-" + "a" * 20}
    assert client.post(url, json=body, headers=h1).status_code == 200
    assert set_secret(monkeypatch, tmp_path, "RSD-QP-01", "tok-two-" + "b" * 20) == 0
    r = client.post(url, json=body, headers=h1)
    assert r.status_code in (401, 403) and "tok-one" not in r.text
    r = client.post("/api/rsd/v1/records", json=[{"x": 1}], headers=h1)
    assert r.status_code == 401
    h2 = {"Authorization": "Bearer tok-two-" + "b" * 20}
    assert client.post(url, json=body, headers=h2).status_code == 200
    assert len(published) == 2
    assert intake.metrics.counters("rsd_intake", "requests_unauthorised")


def _obd_packet(v: Any) -> Any:
    m = VehicleModel(v, seed=1)
    recs = [(T0 + timedelta(seconds=i), m.record()) for i in range(5)]
    return build_packet(v.vin, recs, 5)


def test_obd_terminal_must_log_in_with_its_registered_iccid(registry: Any) -> None:
    v = registry.obd_vehicles[0]
    devices = {v.vin: ("obd", digest(terminal_iccid(v.vin)))}
    creds = DeviceCredentials(devices, None)
    rx = datetime(2026, 11, 23, 0, 0, tzinfo=BEIJING)

    def run(s: Session, f: Any) -> Any:
        return s.handle(f, f.encode(), rx)

    s = Session(registry, "peer", credentials=creds)
    out = run(s, _obd_packet(v))  # data before any login: refused, not stored
    assert not out.events and out.answer.data[-1] == RESP_ERROR
    assert any(r == "not_authenticated" for _, r in out.counters)
    spoof = login_frame(v.vin, T0, 1)
    spoof = type(spoof)(
        spoof.variant,
        spoof.command,
        spoof.vin,
        spoof.flag,
        spoof.encryption,
        spoof.data[:8] + b"89860000000000000000" + spoof.data[28:],
    )
    out = run(s, spoof)  # right VIN, wrong ICCID
    assert not out.events and out.answer.data[-1] == RESP_ERROR
    assert any(r == "bad_credential" for _, r in out.counters)
    assert not run(s, _obd_packet(v)).events

    out = run(s, login_frame(v.vin, T0, 2))
    assert out.events and out.answer.data[-1] == RESP_SUCCESS
    assert any(e.KIND == "obd.sample" for e in run(s, _obd_packet(v)).events)
    # an unregistered VIN on a platform that requires registration is refused too
    other = registry.obd_vehicles[1]
    s2 = Session(registry, "peer2", credentials=DeviceCredentials({other.vin: ("obd", "")}, None))
    assert not run(s2, login_frame(other.vin, T0, 1)).events

"""SM2 signatures of HJ 1239 units: verified against the terminal's registered key (gmssl),
a forged or altered unit refused and counted, a terminal without a key left ``unverified``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.registry import Registry, default_registry
from core.timeutil import BEIJING
from obd_gateway.protocol import Frame
from obd_gateway.protocol.bodies import Signature
from obd_gateway.protocol.frame import RESP_ERROR, RESP_SUCCESS
from obd_gateway.session import Session
from obd_gateway.signature import keypair, sign, verify
from obd_gateway.simulator import VehicleModel, build_packet

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=BEIJING)
RX = datetime(2026, 11, 20, 1, 0, 5, tzinfo=UTC)


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return keypair()


def test_sign_and_verify_round_trip(keys) -> None:
    private, public = keys
    r, s = sign(private, public, b"unit bytes")
    assert verify(public, b"unit bytes", r, s)
    assert not verify(public, b"unit bytez", r, s)
    assert not verify(public, b"unit bytes", s, r)
    assert not verify(keypair()[1], b"unit bytes", r, s)  # another terminal's key
    assert not verify(public, b"unit bytes", r, s, signer_id_hex="00" * 16)  # another signer id
    assert not verify("zz", b"x", r, s)


def _signed_frame(vehicle, private: str, public: str, tamper: bool = False) -> Frame:
    m = VehicleModel(vehicle, seed=3)
    recs = [(T0 + timedelta(seconds=i), m.record()) for i in range(5)]
    f = build_packet(vehicle.vin, recs, 5)
    r, s = sign(private, public, bytes(f.data))
    data = bytearray(f.data)
    if tamper:
        data[12] ^= 0x01  # a value changed after signing
    return Frame(
        f.variant, f.command, f.vin, f.flag, f.encryption, bytes(data) + Signature(r, s).encode()
    )


def test_session_verifies_units_of_a_terminal_with_a_registered_key(keys) -> None:
    private, public = keys
    reg = default_registry()
    v = reg.obd_vehicles[0].model_copy(update={"sm2_public_key": public})
    data = reg.model_dump()
    data["obd_vehicles"] = [v.model_dump(), *data["obd_vehicles"][1:]]
    reg = Registry.model_validate(data)

    good = _signed_frame(v, private, public)
    out = Session(reg).handle(good, good.encode(), RX)
    assert out.answer.data[-1] == RESP_SUCCESS
    samples = [e for e in out.events if e.KIND == "obd.sample"]
    assert samples and {e.signature for e in samples} == {"valid"}

    bad = _signed_frame(v, private, public, tamper=True)
    out = Session(reg).handle(bad, bad.encode(), RX)
    assert not out.events and out.answer.data[-1] == RESP_ERROR
    assert any(r == "bad_signature" for _, r in out.counters)

    forged = _signed_frame(v, *keypair())  # signed by someone else's key
    assert not Session(reg).handle(forged, forged.encode(), RX).events


def test_without_a_registered_key_signed_data_stays_unverified(keys) -> None:
    private, public = keys
    reg = default_registry()
    f = _signed_frame(reg.obd_vehicles[0], private, public)
    out = Session(reg).handle(f, f.encode(), RX)
    assert {e.signature for e in out.events if e.KIND == "obd.sample"} == {"unverified"}

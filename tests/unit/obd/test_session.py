"""Session logic (sans-IO): registry check, answers, back-fill flag, duplicates, bad units."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.registry import Registry, default_registry
from core.timeutil import BEIJING
from obd_gateway.events import (
    ObdFrame,
    ObdInfoSnapshot,
    ObdQuarantine,
    ObdSamples,
    ObdStatus,
    sample_rows,
)
from obd_gateway.protocol import Command, DataStream, Frame, HeaderVariant, parse_frame
from obd_gateway.protocol.frame import RESP_ERROR, RESP_SUCCESS
from obd_gateway.session import Session
from obd_gateway.simulator import VehicleModel, build_packet, login_frame

RX = datetime(2026, 11, 20, 2, 0, 0, tzinfo=UTC)
VECTORS = json.loads(
    (Path(__file__).resolve().parents[2] / "data" / "vectors" / "obd_frames.json").read_text()
)["vectors"]


@pytest.fixture(scope="module")
def reg() -> Registry:
    return default_registry()


def packet(
    reg: Registry, n: int = 10, command: int = Command.REALTIME, start: datetime | None = None
) -> Frame:
    v = reg.obd_vehicles[0]
    m = VehicleModel(v, seed=1)
    t = start or datetime(2026, 11, 20, 9, 0, 0, tzinfo=BEIJING)
    recs = [(t + timedelta(seconds=i), m.record()) for i in range(n)]
    return build_packet(v.vin, recs, 5, command=command, info=m.obd_info())


def handle(s: Session, f: Frame):
    return s.handle(f, f.encode(), RX)


def test_realtime_packet_gives_frame_samples_and_info(reg: Registry) -> None:
    out = handle(Session(reg), packet(reg))
    kinds = [type(e) for e in out.events]
    assert (
        kinds.count(ObdFrame) == 1
        and kinds.count(ObdSamples) == 1
        and len(sample_rows(out.events)) == 10
        and kinds.count(ObdInfoSnapshot) == 1
    )
    samples = sample_rows(out.events)
    assert [s.ts for s in samples] == [
        datetime(2026, 11, 20, 1, 0, i, tzinfo=UTC) for i in range(10)
    ]
    assert not any(s.backfilled for s in samples)
    assert out.answer is not None and out.answer.command == Command.REALTIME
    assert out.answer.data[-1] == RESP_SUCCESS  # terminal header: time + result byte


def test_reissue_is_flagged_backfilled_and_dedups_with_live(reg: Registry) -> None:
    live = handle(Session(reg), packet(reg))
    again = handle(Session(reg), packet(reg, command=Command.REISSUE))
    ids_live = {e.event_id for e in sample_rows(live.events)}
    re = sample_rows(again.events)
    assert all(e.backfilled for e in re)
    assert {e.event_id for e in re} == ids_live  # same (VIN, time): stored once


def test_unknown_vin_is_quarantined_and_answered_with_error(reg: Registry) -> None:
    f = build_packet(
        "LUNKNOWN0RE000001",
        [(datetime(2026, 11, 20, 9, tzinfo=BEIJING), DataStream.from_physical(rpm=800.0))],
        1,
        variant=HeaderVariant.RESPONSE_FLAG,
    )
    out = handle(Session(reg), f)
    assert [type(e) for e in out.events] == [ObdQuarantine]
    assert out.answer is not None and out.answer.response_flag == RESP_ERROR
    assert ("bad_frames", "unknown_vin") in out.counters


def test_login_status_carries_clock_offset(reg: Registry) -> None:
    v = reg.obd_vehicles[0]
    t = datetime(2026, 11, 20, 9, 59, 50, tzinfo=BEIJING)  # 10 s before RX
    out = handle(Session(reg), login_frame(v.vin, t, 3))
    st = next(e for e in out.events if isinstance(e, ObdStatus))
    assert (st.status, st.login_serial, st.clock_offset_s) == ("login", 3, 10.0)


def test_unknown_command_counted_and_answered_with_error(reg: Registry) -> None:
    v = reg.obd_vehicles[0]
    f = Frame(HeaderVariant.RESPONSE_FLAG, 0x3A, v.vin, 0xFE, 1, b"\x01\x02")
    out = handle(Session(reg), f)
    assert ("bad_frames", "unknown_command") in out.counters
    assert out.answer is not None and out.answer.response_flag == RESP_ERROR
    assert [e.decode_status for e in out.events] == ["raw"]


def test_bad_data_unit_is_recorded_and_answered(reg: Registry) -> None:
    v = reg.obd_vehicles[0]
    f = Frame(HeaderVariant.TERMINAL, Command.LOGIN, v.vin, 1, 1, b"\x1a\x0b\x14")
    out = handle(Session(reg), f)
    assert ("bad_frames", "bad_data_unit") in out.counters
    assert out.events[0].decode_status == "bad_data_unit"
    assert out.answer is not None and out.answer.data[-1] == RESP_ERROR


def test_real_vector_accepted_when_its_vin_is_registered(reg: Registry) -> None:
    raw = bytes.fromhex(next(v["hex"] for v in VECTORS if v["id"] == "O6"))
    f = parse_frame(raw)
    extra = Registry.model_validate(
        {
            "obd_vehicles": [
                {
                    "vin": f.vin,
                    "plate": "沪D12345",
                    "jurisdiction": "qingpu",
                    "fleet": "vectors",
                    "vehicle_class": "freight",
                    "engine_ref_torque_nm": 1500.0,
                    "rated_power_kw": 250.0,
                }
            ]
        }
    )
    out = Session(reg.merged(extra)).handle(f, raw, RX)
    s = sample_rows(out.events)[0]
    assert s.speed_kmh == pytest.approx(51.0) and s.nox_down_ppm == pytest.approx(325.75)
    assert out.answer is not None and out.answer.response_flag == RESP_SUCCESS


def test_disconnect_after_login_gives_status(reg: Registry) -> None:
    v = reg.obd_vehicles[0]
    s = Session(reg)
    handle(s, login_frame(v.vin, datetime(2026, 11, 20, 10, tzinfo=BEIJING), 1))
    gone = s.disconnected(RX + timedelta(minutes=5))
    assert [g.status for g in gone] == ["disconnected"]
    assert s.disconnected(RX) == []


def test_time_calibration_answer_carries_platform_time(reg: Registry) -> None:
    from obd_gateway.protocol import decode_time

    v = reg.obd_vehicles[0]
    out = handle(
        Session(reg), Frame(HeaderVariant.TERMINAL, Command.TIME_CALIBRATION, v.vin, 1, 1, b"")
    )
    assert out.answer is not None
    raw = out.answer.encode()
    assert len(raw) == 31  # 25-byte envelope + time(6)
    assert decode_time(out.answer.data) == RX.astimezone(BEIJING)
    assert [e.status for e in out.events if isinstance(e, ObdStatus)] == ["time_calibration"]


def test_anti_tamper_report_becomes_status_with_position(reg: Registry) -> None:
    from obd_gateway.protocol import AntiTamper, decode_unit

    v = reg.obd_vehicles[0]
    t = datetime(2026, 11, 20, 9, 30, tzinfo=BEIJING)
    unit = AntiTamper(t, 9, 0x00, 121_050_000, 31_100_000)
    f = Frame(HeaderVariant.TERMINAL, Command.ANTI_TAMPER, v.vin, 1, 1, unit.encode())
    assert decode_unit(f) == unit
    out = handle(Session(reg), f)
    st = next(e for e in out.events if isinstance(e, ObdStatus))
    assert st.status == "anti_tamper" and json.loads(st.detail_json)["lon"] == pytest.approx(121.05)


def test_frame_ids_are_the_documented_ids() -> None:
    """The session hashes the frame id in one call: it must stay ``ObdFrame.make_id``
    (``deterministic_id``), which de-duplication depends on."""
    from obd_gateway.session import _frame_id

    for vin in ("LZYCHB3A3PH000001", "LZYCHB3A3PH00000X", "1" * 17):
        for sha in ("0" * 64, "5f" * 32, hashlib.sha256(vin.encode()).hexdigest()):
            assert _frame_id(vin, sha) == ObdFrame.make_id(vin, sha)

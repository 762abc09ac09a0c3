"""`emwatch decode obd HEX`: one JSON object and exit 0, or one stderr line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from obd_gateway.cli import EXIT_INVALID, EXIT_OK, main_decode

VECTORS = json.loads(
    (Path(__file__).resolve().parents[2] / "data" / "vectors" / "obd_frames.json").read_text()
)["vectors"]
HEX = {v["id"]: v["hex"] for v in VECTORS}


@pytest.mark.parametrize("vid", list(HEX))
def test_every_real_vector_decodes_to_one_json_object(
    vid: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main_decode([HEX[vid]]) == EXIT_OK
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert err == ""
    assert doc["checksum"]["ok"] is True
    raw = bytes.fromhex(HEX[vid])
    vin_at = 4 if doc["header"]["variant"] == "response_flag" else 3
    assert doc["header"]["vin"] == raw[vin_at : vin_at + 17].decode("ascii")
    assert doc["frame_length"] == len(HEX[vid]) // 2


def test_physical_units_and_markers_in_the_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main_decode([HEX["O1"].lower()]) == EXIT_OK
    doc = json.loads(capsys.readouterr().out)
    items = doc["unit"]["items"]
    stream = next(it["body"] for it in items if it["info_type"] == "0x02")
    assert stream["nox_up_ppm"] == {"raw": 0, "value": None, "quality": "not_ready", "unit": "ppm"}
    assert stream["scr_in_c"]["quality"] == "error" and stream["scr_in_c"]["value"] is None
    assert stream["coolant_c"]["value"] == 0x3D - 40
    obd = next(it["body"] for it in items if it["info_type"] == "0x01")
    assert obd["dtc_count"] == 7 and obd["calibration_id"] == "YCY30165-60"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (HEX["O4"][:-2] + "00", "bcc"),
        (HEX["O4"][:-10], "truncated"),
        (HEX["O4"][:44] + "FFFF" + HEX["O4"][48:], "bad_length"),
        ("2323" + "04" + "00" * 21 + "00", "bad_header"),
        ("zz", "not_hex"),
    ],
)
def test_invalid_frames_exit_2_with_one_line(
    text: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main_decode([text]) == EXIT_INVALID
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and f": {reason}:" in err


def test_hex_with_spaces_is_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    spaced = " ".join(HEX["O8"][i : i + 2] for i in range(0, len(HEX["O8"]), 2))
    assert main_decode(spaced.split(" ")) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["unit_type"] == "Logout"


def test_register_adds_decode_and_simulate(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from obd_gateway.cli import register

    root = argparse.ArgumentParser()
    sub = root.add_subparsers()
    groups = {
        name: sub.add_parser(name).add_subparsers() for name in ("decode", "simulate", "report")
    }
    groups["root"] = sub
    register(groups)
    args = root.parse_args(["decode", "obd", HEX["O4"]])
    assert args.func(args) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["header"]["command_name"] == "logout"
    args = root.parse_args(["simulate", "obd", "--port", "1", "--packets", "1"])
    assert args.port == 1 and callable(args.func)

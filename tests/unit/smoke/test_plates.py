"""Plate association from ANPR metadata and sidecar files."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from core.errors import ValidationError
from core.timeutil import beijing
from smoke_capture.plates import (
    UNKNOWN,
    PlateIndex,
    from_metadata,
    normalise_colour,
    parse_sidecar_line,
)

T0 = beijing(2026, 11, 23, 9, 0, 0)


def line(dt_s, plate, colour="1", lane=1, cam="CAM-QP-01", **kw):
    return json.dumps(
        {
            "ts": (T0 + timedelta(seconds=dt_s)).isoformat(),
            "camera": cam,
            "plate": plate,
            "plateColor": colour,
            "lane": lane,
            **kw,
        },
        ensure_ascii=False,
    )


def test_metadata_variants_normalise():
    r = from_metadata({"hphm": "沪d·12345", "hpys": "黄色", "hpzl": "1", "confidence": 93}, T0)
    assert (r.plate, r.colour, r.plate_type, r.confidence) == ("沪D12345", "yellow", "01", 0.93)
    assert from_metadata({"plate": "无牌"}, T0) is UNKNOWN
    assert from_metadata({}, T0) is UNKNOWN
    assert normalise_colour("4") == "green" and normalise_colour("渐变绿") == "green"
    assert normalise_colour("purple") == "unknown"


def test_sidecar_match_nearest_in_time_and_lane():
    idx = PlateIndex(tolerance_s=2.0)
    lines = [
        line(-10, "沪A11111"),
        line(0.5, "沪B22222"),
        line(1.0, "沪C33333", lane=2),
        "garbage",
        line(30, "沪E55555"),
    ]
    assert idx.add_sidecar(lines, "CAM-QP-01") == 4
    assert idx.bad_lines == 1
    got = idx.match(T0, T0 + timedelta(seconds=2), lane=1)
    assert got.plate == "沪B22222" and got.source == "anpr_sidecar"
    assert idx.match(T0 + timedelta(seconds=100), T0 + timedelta(seconds=101)) is UNKNOWN


def test_two_reads_in_window_are_flagged_ambiguous():
    idx = PlateIndex()
    idx.add_sidecar([line(0.2, "沪B22222"), line(0.4, "沪F66666")], "CAM-QP-01")
    got = idx.match(T0, T0 + timedelta(seconds=1))
    assert got.known and "plate_ambiguous" in got.flags


def test_sidecar_line_errors_name_the_field():
    with pytest.raises(ValidationError, match="ts"):
        parse_sidecar_line(
            json.dumps({"camera": "c", "ts": "2026-11-23T09:00:00", "plate": "沪A1"})
        )
    with pytest.raises(ValidationError, match="camera"):
        parse_sidecar_line(json.dumps({"ts": T0.isoformat(), "plate": "沪A1"}))
    with pytest.raises(ValidationError, match="sidecar line"):
        parse_sidecar_line("[1, 2]")

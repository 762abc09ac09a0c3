"""``streams.api.records`` (column by column) gives what the row-by-row form gave: Beijing times
with their offset, NaN as null, numpy scalars and arrays as plain JSON values."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from streams.api import _val, records


def _row_by_row(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _val(v) for k, v in row.items()} for row in df.to_dict("records")]


def test_records_match_the_row_by_row_form() -> None:
    df = pd.DataFrame(
        {
            "ts": pd.to_datetime(["2026-11-30 04:00:00.123", "2026-12-01 16:30:00.000"], utc=True),
            "day": pd.to_datetime(["2026-11-30", "2026-12-01"]),  # a Date column comes naive
            "value": [1.5, float("nan")],
            "n": np.array([3, 4], dtype="uint64"),
            "ok": [True, False],
            "tags": [np.array(["a", "b"]), np.array([], dtype=object)],
            "plate": ["沪DD140H", ""],
        }
    )
    got = records(df)
    assert json.dumps(got, ensure_ascii=False) == json.dumps(_row_by_row(df), ensure_ascii=False)
    assert got[0]["ts"] == "2026-11-30T12:00:00.123+08:00"
    assert got[1]["value"] is None and got[0]["tags"] == ["a", "b"] and got[0]["n"] == 3
    assert isinstance(got[0]["n"], int) and isinstance(got[0]["ok"], bool)
    assert records(pd.DataFrame()) == []
    one = pd.DataFrame({"ts": [datetime(2026, 12, 1, tzinfo=UTC)]})
    assert records(one) == [{"ts": "2026-12-01T08:00:00.000+08:00"}]

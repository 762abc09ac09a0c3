"""The intake's content hash (stored beside each record id to tell a changed re-send from a
duplicate) is computed without a DataFrame now; it must give the hashes stored before, bit for bit.

``tests/data/rsd/content_hashes.json`` holds batches and the hashes the pandas-DataFrame formula
gave them when it was the intake's code (simulator records of two profiles, keys reversed, bad values
beside good ones, a CSV body, mixed and missing types); the property test compares with that formula
on arbitrary batches."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remote_sensing.profiles import load_profile
from remote_sensing.records import RecordColumns

STORED = Path(__file__).resolve().parents[2] / "data" / "rsd" / "content_hashes.json"


def dataframe_hashes(recs: list[dict[str, Any]]) -> list[str]:
    """The formula as first written: pandas' hash of the batch's DataFrame, columns by name."""
    df = pd.DataFrame.from_records(recs)
    h = pd.util.hash_pandas_object(df[sorted(df.columns)], index=False)
    return [f"{int(x):016x}" for x in h.to_numpy()]


CASES = json.loads(STORED.read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_stored_hashes_are_given_again(case: dict[str, Any]) -> None:
    batch = load_profile(case["profile"]).canonical_batch(case["records"])
    assert case["hashes"], "the stored case holds hashes"
    assert {str(k): v for k, v in batch.hashes.items()} == case["hashes"]


VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**65), max_value=2**65),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.sampled_from(["0", "1", "沪A12345", " 12 ", "1.0", "", "2026-11-23 10:00:00"]),
)
FIELDS = ["a", "b", "c", "jlbh", "clsd"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(FIELDS), VALUES), min_size=1, max_size=8))
def test_hashes_equal_the_dataframe_formula(recs: list[dict[str, Any]]) -> None:
    recs = [r for r in recs if r] or [{"a": 1}]
    got = RecordColumns(recs).content_hashes(np.arange(len(recs)))
    assert got == dataframe_hashes(recs)


def test_a_changed_value_changes_the_hash_and_key_order_does_not() -> None:
    recs: list[dict[str, Any]] = [{"a": 1.5, "b": "x"}, {"b": "x", "a": 1.5}, {"a": 1.5, "b": "y"}]
    h = RecordColumns(recs).content_hashes(np.arange(3))
    assert h[0] == h[1] != h[2]

"""``parse_body`` reads JSON through orjson where it can: the values must be what ``json.loads``
gives for every body, and what orjson refuses (NaN, 1e400, integers beyond 64 bits, escaped lone
surrogates) must still be read, with ``json``'s error messages for a body that is not JSON."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remote_sensing import intake
from remote_sensing.intake import BodyError, parse_body

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
RECORD = st.dictionaries(st.text(max_size=5), SCALARS, max_size=6)


def same(a: Any, b: Any) -> bool:
    """Equal values and types, NaN equal to NaN, -0.0 apart from 0.0."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        )
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@settings(max_examples=300, deadline=None)
@given(st.lists(RECORD, min_size=1, max_size=5))
def test_values_are_those_of_json(records: list[dict[str, Any]]) -> None:
    text = json.dumps(records, ensure_ascii=False)
    assert same(parse_body(text.encode(), "application/json", 100), json.loads(text))


@pytest.mark.parametrize(
    "text",
    [
        '[{"a": NaN, "b": Infinity}]',
        '[{"a": 1e400}]',
        '[{"a": 123456789012345678901234567890}]',
        '[{"a": -9223372036854775809, "b": 18446744073709551616}]',
        '[{"a": 0.30000000000000004441}]',
        '[{"a": "\\ud800"}]',
        '{"a": 1, "a": 2}',
        '[{"a": -0, "b": -0.0, "c": 2.675, "d": 5e-324}]',
    ],
)
def test_what_orjson_refuses_is_read_as_json_reads_it(text: str) -> None:
    got = parse_body(text.encode(), "application/json", 100)
    data = json.loads(text)
    assert same(got, data if isinstance(data, list) else [data])


def test_a_bad_body_gets_jsons_message(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(BodyError) as fast:
        parse_body(b'[{"a": 1,}]', "application/json", 100)
    monkeypatch.setattr(intake, "_orjson", None)
    with pytest.raises(BodyError) as plain:
        parse_body(b'[{"a": 1,}]', "application/json", 100)
    assert str(fast.value) == str(plain.value)
    assert "line 1 column 10" in str(fast.value)

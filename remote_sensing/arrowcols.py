"""numpy ↔ Arrow column conversions through buffers, for ``rsd evaluate``.

Responsible for moving the evaluation's columns between Arrow (what the CSV reader gives and the
Parquet / CSV writers take) and numpy (what the rules compute on) without pandas. pyarrow's own
``pa.array(numpy)`` and ``Array.to_numpy()`` import pandas on first use when it is installed (its
pandas shim asks whether the input is a Series), about half a second of CPU at the start of a
command that otherwise needs none of it; building the arrays from their buffers does not.

Semantics match ``pa.array(..., from_pandas=True)`` / ``to_numpy(zero_copy_only=False)`` for the
types used here: float64 with null ↔ NaN, bool (no nulls), text (``None`` → null).

Known limits: text columns are built through their distinct values (few per column in RSD data: a
column of all-distinct text costs one dictionary entry per row).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def _valid_mask(arr: pa.Array) -> np.ndarray | None:
    """True where ``arr`` holds a value; None when it has no nulls."""
    if arr.null_count == 0:
        return None
    bitmap = arr.buffers()[0]
    bits = np.unpackbits(np.frombuffer(bitmap, dtype=np.uint8), bitorder="little")
    return bits[arr.offset : arr.offset + len(arr)].astype(bool)


def _one(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(col, pa.ChunkedArray):
        return col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    return col


def to_float64(col: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A numeric, boolean or null column as float64, null → NaN (a new, writable array)."""
    arr = _one(col)
    n = len(arr)
    if pa.types.is_null(arr.type):
        return np.full(n, np.nan)
    if arr.type != pa.float64():
        arr = pc.cast(arr, pa.float64())
    data = arr.buffers()[1]
    out = np.frombuffer(data, dtype=np.float64, count=n, offset=arr.offset * 8).copy()
    valid = _valid_mask(arr)
    if valid is not None:
        out[~valid] = np.nan
    return out


def to_indices(arr: pa.Array, null_index: int) -> np.ndarray:
    """The indices of a dictionary-encoded array as int64, null → ``null_index``."""
    idx = arr.indices
    if idx.type != pa.int64():
        idx = pc.cast(idx, pa.int64())
    n = len(idx)
    out = np.frombuffer(idx.buffers()[1], dtype=np.int64, count=n, offset=idx.offset * 8).copy()
    valid = _valid_mask(idx)
    if valid is not None:
        out[~valid] = null_index
    return out


def _bitmap(mask: np.ndarray) -> pa.Buffer:
    return pa.py_buffer(np.packbits(mask.astype(bool), bitorder="little"))


def from_float64(a: np.ndarray) -> pa.Array:
    """float64 numpy → Arrow float64, NaN → null (as ``pa.array(a, from_pandas=True)``)."""
    a = np.ascontiguousarray(a, dtype=np.float64)
    n = len(a)
    nan = np.isnan(a)
    nulls = int(nan.sum())
    validity = _bitmap(~nan) if nulls else None
    return pa.Array.from_buffers(pa.float64(), n, [validity, pa.py_buffer(a)], null_count=nulls)


def from_bool(a: np.ndarray) -> pa.Array:
    """bool numpy → Arrow bool (no nulls)."""
    return pa.Array.from_buffers(pa.bool_(), len(a), [None, _bitmap(np.asarray(a))], null_count=0)


def _strings(values: list[str | None]) -> pa.Array:
    enc = [b"" if v is None else v.encode("utf-8") for v in values]
    offsets = np.zeros(len(enc) + 1, dtype=np.int32)
    np.cumsum([len(b) for b in enc], out=offsets[1:])
    nulls = np.array([v is None for v in values], dtype=bool)
    validity = _bitmap(~nulls) if nulls.any() else None
    return pa.Array.from_buffers(
        pa.string(),
        len(enc),
        [validity, pa.py_buffer(offsets), pa.py_buffer(b"".join(enc))],
        null_count=int(nulls.sum()),
    )


def from_text(a: Any) -> pa.Array:
    """An object array (or list) of ``str`` / ``None`` → Arrow string, built through its distinct
    values (as ``pa.array(a, pa.string())``)."""
    seen: dict[Any, int] = {}
    codes = np.fromiter((seen.setdefault(v, len(seen)) for v in a), dtype=np.int32, count=len(a))
    values = list(seen)
    for v in values:
        if v is not None and not isinstance(v, str):
            raise TypeError(f"expected text or None, got {type(v).__name__}")
    return pc.take(
        _strings(values), pa.Array.from_buffers(pa.int32(), len(codes), [None, pa.py_buffer(codes)])
    )


def repeat_text(value: str, n: int) -> pa.Array:
    """``value`` ``n`` times as an Arrow string column."""
    idx = np.zeros(n, dtype=np.int32)
    return pc.take(
        _strings([value]), pa.Array.from_buffers(pa.int32(), n, [None, pa.py_buffer(idx)])
    )

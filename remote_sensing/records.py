"""A batch of vendor records (JSON objects, CSV rows) read once into typed columns, and each
record's content hash.

Responsible for the intake's first look at a batch: per vendor field, the values of every record
(``None`` where a record lacks the field) and their kind, which is the dtype that
``pandas.DataFrame.from_records`` gives the column: ``str`` (text, some missing), ``float`` (numbers
with a fraction or a gap), ``int`` (whole numbers, none missing), ``bool``, or ``other`` (anything
else: text beside numbers, booleans beside gaps …). ``Profile.canonical_batch`` converts the first
four itself and asks :meth:`RecordColumns.series` for the pandas column only for ``other``, so a clean
batch builds no DataFrame.

The content hash is stored beside each record id (``IntakeState``) to tell a re-sent record from a
changed one, so it must stay what it was when it was first defined, bit for bit:
``pandas.util.hash_pandas_object(DataFrame.from_records(batch)[sorted(columns)], index=False)``.
That is, per column, a 64-bit hash of each value by the column's dtype, then the columns combined
in name order as CPython once combined tuple hashes (multiplier 1,000,003, stepped by
82,520 + 2·(columns left); start 0x345678; end + 97,531). Value hashes per dtype:

* float64 / int64 / bool: the value's 64 bits (NaN and -0.0 made canonical for floats) through the
  splitmix64 finaliser (shifts 30, 27, 31; multipliers 0xBF58476D1CE4E5B9, 0x94D049BB133111EB);
* text (pandas' ``str`` dtype): SipHash-2-4 of the UTF-8 bytes with the key ``"0123456789123456"``,
  through the same finaliser (``pandas.util.hash_array`` of the distinct values: pandas' C code is
  the one SipHash at hand); a missing value hashes to 2**64 - 1;
* ``other``: ``pandas.util.hash_pandas_object`` of the column as pandas builds it.

Known limits: a record's hash depends on the dtypes of its batch (a text value in a number column
makes the column ``other`` for every record of the batch), as it always did; the text values are
hashed by pandas, so pandas must stay installed for the intake (tests/unit/rsd/test_content_hash.py
pins stored hashes and compares with the DataFrame formula).
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from remote_sensing.arrowcols import to_indices

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

_NONE = type(None)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_U8MAX = np.uint64(2**64 - 1)
_NAN_BITS = np.array(np.nan, dtype=np.float64).view(np.uint64)
_NEG_ZERO_BITS = np.array(-0.0, dtype=np.float64).view(np.uint64)


def _finalise(u: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, in place on uint64 (pandas' spreading of a value's 64 bits)."""
    u ^= u >> np.uint64(30)
    u *= np.uint64(0xBF58476D1CE4E5B9)
    u ^= u >> np.uint64(27)
    u *= np.uint64(0x94D049BB133111EB)
    u ^= u >> np.uint64(31)
    return u


def _kind(values: Sequence[Any], types: set[type]) -> str:
    """The dtype ``DataFrame.from_records`` gives a column of these values (``None``: missing)
    whose value types are ``types``."""
    if types <= {str, _NONE}:
        return "str" if str in types else "other"
    if types == {bool}:
        return "bool"
    if not types <= {int, float, _NONE}:
        return "other"
    if int in types:
        ints = [v for v in values if v.__class__ is int] if len(types) > 1 else values
        if min(ints) < _INT64_MIN or max(ints) > _INT64_MAX:
            return "other"  # uint64 or object in pandas
    return "int" if types == {int} else "float"


class RecordColumns:
    """The records of a batch (flat dicts) as columns, read once."""

    __slots__ = ("_arrays", "_arrow", "_kinds", "_series", "_types", "m", "names", "recs", "values")

    def __init__(self, recs: Sequence[dict[str, Any]]) -> None:
        self.recs = recs
        self.m = len(recs)
        names = list(dict.fromkeys(itertools.chain.from_iterable(recs)))
        self.names = names
        k = len(names)
        cols: list[Sequence[Any]]
        if k == 1:
            cols = [[r.get(names[0]) for r in recs]]
        elif k:
            if set(map(len, recs)) != {k}:  # a record with k fields has every field
                blank = dict.fromkeys(names)
                recs = [r if len(r) == k else {**blank, **r} for r in recs]
            cols = list(zip(*map(operator.itemgetter(*names), recs), strict=True))
        else:
            cols = []
        self.values: dict[str, Sequence[Any]] = dict(zip(names, cols, strict=True))
        self._types = {n: set(map(type, c)) for n, c in self.values.items()}
        self._kinds: dict[str, str] = {}
        self._arrays: dict[str, np.ndarray] = {}
        self._series: dict[str, pd.Series] = {}
        self._arrow: dict[str, pa.Array] = {}

    def __contains__(self, name: object) -> bool:
        return name in self.values

    def rows_holding(self, types: frozenset[type]) -> set[int]:
        """Positions of the records that hold a value of one of ``types`` (exact types)."""
        out: set[int] = set()
        for name, seen in self._types.items():
            if not types.isdisjoint(seen):
                out.update(j for j, v in enumerate(self.values[name]) if v.__class__ in types)
        return out

    def kind(self, name: str) -> str | None:
        """``str`` | ``float`` | ``int`` | ``bool`` | ``other``; ``None`` when no record has it."""
        got = self._kinds.get(name)
        if got is None and name in self.values:
            got = self._kinds[name] = _kind(self.values[name], self._types[name])
        return got

    def array(self, name: str) -> np.ndarray:
        """A ``float`` / ``int`` / ``bool`` column as numpy (float64 with NaN where missing)."""
        got = self._arrays.get(name)
        if got is None:
            kind = self.kind(name)
            dtype = {"float": np.float64, "int": np.int64, "bool": np.bool_}[kind or ""]
            got = self._arrays[name] = np.array(self.values[name], dtype=dtype)
        return got

    def arrow(self, name: str) -> pa.Array:
        """A ``str`` column as an Arrow string array (missing: null)."""
        got = self._arrow.get(name)
        if got is None:
            import pyarrow as pa

            got = self._arrow[name] = pa.array(self.values[name], type=pa.string())
        return got

    def series(self, name: str) -> pd.Series:
        """The column exactly as ``pandas.DataFrame.from_records(recs)[name]`` builds it (each
        column is converted on its own there, so one column's records give the same)."""
        got = self._series.get(name)
        if got is None:
            import pandas as pd

            one = [{name: r[name]} if name in r else {} for r in self.recs]
            got = self._series[name] = pd.DataFrame.from_records(one)[name]
        return got

    def tolist(self, name: str) -> list[Any]:
        """The column's values as ``Series.tolist()`` gives them (NaN for missing text/floats,
        floats for a ``float`` column of whole numbers)."""
        kind = self.kind(name)
        vals = self.values[name]
        if kind == "str":
            nan = float("nan")
            return [nan if v is None else v for v in vals]
        if kind == "float":
            return self.array(name).tolist()
        if kind in ("int", "bool"):
            return list(vals)
        return self.series(name).tolist()

    # ---------------------------------------------------------------- content hash
    def _value_hashes(self, name: str) -> np.ndarray:
        kind = self.kind(name)
        if kind == "float":
            a = self.array(name)
            u = a.view(np.uint64).copy()
            u[np.isnan(a)] = _NAN_BITS
            u[u == _NEG_ZERO_BITS] = 0
            return _finalise(u)
        if kind == "int":
            return _finalise(self.array(name).view(np.uint64).copy())
        if kind == "bool":
            return _finalise(self.array(name).astype(np.uint64))
        if kind == "str":
            from pandas.util import hash_array

            enc = self.arrow(name).dictionary_encode()
            texts = np.array(enc.dictionary.to_pylist(), dtype=object)
            table = np.empty(len(texts) + 1, dtype=np.uint64)
            if len(texts):
                table[:-1] = hash_array(texts, categorize=False)
            table[-1] = _U8MAX  # a missing value
            return table[to_indices(enc, len(texts))]
        from pandas.util import hash_pandas_object

        return hash_pandas_object(self.series(name), index=False).to_numpy(dtype=np.uint64)

    def content_hashes(self, rows: np.ndarray) -> list[str]:
        """The content hash of the records at ``rows`` (16 hex digits each; see the module
        docstring), as computed over the whole batch's columns."""
        names = sorted(self.names)
        left = len(names)
        out = np.full(len(rows), 0x345678, dtype=np.uint64)
        mult = np.uint64(1000003)
        for name in names:
            out ^= self._value_hashes(name)[rows]
            out *= mult
            mult += np.uint64(82520 + 2 * left)
            left -= 1
        out += np.uint64(97531)
        return [f"{x:016x}" for x in out.tolist()]

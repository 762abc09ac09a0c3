"""Serialisation of events: the bus form (JSON or a columnar batch's binary form), Arrow for the
warehouse.

One generic codec for every event dataclass (docs/CONTRACTS.md lists the allowed field types), so a
new event needs no serialiser of its own. Times travel as ISO-8601 with offset and are stored as UTC.

High-rate telemetry travels as **columnar batches** (e.g. ``obd_gateway.events.ObdSamples``: one
frame's records): a class with ``KIND``, ``ROW`` (the row dataclass: its fields are the table's
columns), ``column(name)`` (values as the warehouse takes them, times as UTC epoch ms),
``__len__``, ``slice(start, stop)``, ``rows()``, ``to_bytes()`` / ``from_bytes()``,
``from_row(dict)`` and ``concat(batches)`` (the columns of many batches, see
:func:`_batches_to_arrow`). On the bus (:func:`encode`; Kafka value, WAL payload) a batch is
``NUL + KIND + NUL + to_bytes()``; JSON never starts with NUL, so :func:`decode` tells them apart.
:func:`to_arrow` turns many batches into one table with one conversion per column.
"""

from __future__ import annotations

import binascii
import dataclasses
import functools
import json
import operator
import types
import typing
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from core.events import Event

_SCALARS: dict[type, str] = {
    str: "String",
    int: "Int64",
    float: "Float64",
    bool: "Bool",
    datetime: "DateTime64(3, 'UTC')",
    date: "Date",
}


@dataclasses.dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    base: type  # scalar python type
    optional: bool
    array: bool

    @property
    def column_type(self) -> str:
        t = _SCALARS[self.base]
        if self.array:
            return f"Array({t})"
        return f"Nullable({t})" if self.optional else t


def _analyse(name: str, tp: Any) -> FieldSpec:
    optional = False
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"field {name}: only X | None unions are allowed")
        optional, tp = True, args[0]
        origin = typing.get_origin(tp)
    if origin is tuple:
        items = typing.get_args(tp)
        if len(items) != 2 or items[1] is not Ellipsis or items[0] not in _SCALARS:
            raise TypeError(f"field {name}: tuples must be tuple[scalar, ...]")
        return FieldSpec(name, items[0], optional, True)
    if tp not in _SCALARS:
        raise TypeError(f"field {name}: type {tp!r} is not an allowed event field type")
    return FieldSpec(name, tp, optional, False)


def is_columnar(cls: type) -> bool:
    """A columnar batch class (see the module docstring), not an event dataclass."""
    v = _COLUMNAR.get(cls)
    if v is None:
        v = _COLUMNAR[cls] = isinstance(getattr(cls, "ROW", None), type)
    return v


_COLUMNAR: dict[type, bool] = {}


@functools.cache
def fields_of(cls: type) -> tuple[FieldSpec, ...]:
    """The column specs of an event class (a batch's: its row's), in declaration order."""
    if is_columnar(cls):
        return fields_of(cls.ROW)  # type: ignore[attr-defined]
    hints = typing.get_type_hints(cls)
    return tuple(_analyse(f.name, hints[f.name]) for f in dataclasses.fields(cls))


def _to_jsonable(spec: FieldSpec, value: Any) -> Any:
    if value is None:
        return None
    if spec.array:
        return [_scalar_out(spec.base, v) for v in value]
    return _scalar_out(spec.base, value)


def _scalar_out(base: type, v: Any) -> Any:
    if base is datetime:
        return v.isoformat()
    if base is date:
        return v.isoformat()
    return v


def _scalar_in(base: type, v: Any) -> Any:
    if base is datetime:
        return datetime.fromisoformat(v)
    if base is date:
        return date.fromisoformat(v)
    if base is float and isinstance(v, int):
        return float(v)
    return v


def to_dict(event: Event) -> dict[str, Any]:
    """JSON-able dict of an event (a batch of one record: that row; of more: ``rows``)."""
    cls = type(event)
    if is_columnar(cls):
        rows = [to_dict(r) | {"kind": cls.KIND} for r in event.rows()]  # type: ignore[attr-defined]
        return rows[0] if len(rows) == 1 else {"kind": cls.KIND, "rows": rows}
    out: dict[str, Any] = {"kind": cls.KIND}
    for name, spec in _json_plan(cls):
        v = getattr(event, name)
        out[name] = v if spec is None else _to_jsonable(spec, v)
    return out


@functools.cache
def _json_plan(cls: type) -> tuple[tuple[str, FieldSpec | None], ...]:
    """Each field in order, with its spec where JSON needs a conversion (times, arrays)."""
    return tuple(
        (s.name, s if s.array or s.base in (datetime, date) else None) for s in fields_of(cls)
    )


def to_json(event: Event) -> bytes:
    return _JSON.encode(to_dict(event)).encode()


_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # built once, not per event


def from_dict(cls: type, data: dict[str, Any]) -> Any:
    if is_columnar(cls):
        if "rows" in data:
            raise ValueError(f"{cls.KIND}: a JSON batch of several records is not decoded")  # type: ignore[attr-defined]
        return cls.from_row(data)  # type: ignore[attr-defined]
    kwargs: dict[str, Any] = {}
    for spec in fields_of(cls):
        v = data.get(spec.name)
        if v is None:
            kwargs[spec.name] = () if spec.array else None
        elif spec.array:
            kwargs[spec.name] = tuple(_scalar_in(spec.base, x) for x in v)
        else:
            kwargs[spec.name] = _scalar_in(spec.base, v)
    return cls(**kwargs)


def prepare(events: Sequence[Any]) -> None:
    """Let each columnar class among ``events`` prepare its batches at once (``cls.prepare``,
    where it has one: e.g. decode the records of many batches in one call). Changes no value."""
    by_class: dict[type, list[Any]] = {}
    for e in events:
        cls: type = type(e)
        if is_columnar(cls) and hasattr(cls, "prepare"):
            by_class.setdefault(cls, []).append(e)
    for cls, batches in by_class.items():
        cls.prepare(batches)  # type: ignore[attr-defined]


_BATCH = b"\x00"  # first byte of a batch's bus form (JSON never starts with it)


def encode(event: Any) -> bytes:
    """The bus form of an event: JSON, or a columnar batch's binary form."""
    cls: type = type(event)
    if is_columnar(cls):
        return b"".join((_BATCH, event.KIND.encode(), _BATCH, event.to_bytes()))
    return to_json(event)


def decode(raw: bytes | str, classes: dict[str, type]) -> Any:
    """The event of :func:`encode`'s bytes (``classes``: kind → class)."""
    if isinstance(raw, bytes | bytearray | memoryview) and raw[:1] == _BATCH:
        data = bytes(raw)
        end = data.index(_BATCH, 1)
        kind = data[1:end].decode()
        cls = classes.get(kind)
        if cls is None or not is_columnar(cls):
            raise ValueError(f"unknown columnar event kind {kind!r}")
        return cls.from_bytes(data[end + 1 :])  # type: ignore[attr-defined]
    return from_json(raw, classes)


def from_json(raw: bytes | str, classes: dict[str, type]) -> Any:
    data = json.loads(raw)
    kind = data.get("kind")
    try:
        cls = classes[kind]
    except KeyError:
        raise ValueError(f"unknown event kind {kind!r}") from None
    return from_dict(cls, data)


def _row_value(spec: FieldSpec, v: Any) -> Any:
    if v is None:
        return [] if spec.array else None
    if spec.base is datetime:
        return [x.astimezone(UTC) for x in v] if spec.array else v.astimezone(UTC)
    if spec.array:
        return list(v)
    return v


def to_columns(events: list[Event]) -> tuple[list[str], list[list[Any]]]:
    """Column-oriented data of same-type events, ready for a column-oriented insert."""
    cls = type(events[0])
    specs = fields_of(cls)
    cols: list[list[Any]] = []
    for spec in specs:
        name = spec.name
        cols.append([_row_value(spec, getattr(e, name)) for e in events])
    return [s.name for s in specs], cols


def _arrow_type(spec: FieldSpec) -> Any:
    import pyarrow as pa

    base = {
        str: pa.string(),
        int: pa.int64(),
        float: pa.float64(),
        bool: pa.bool_(),
        datetime: pa.timestamp("ms", tz="UTC"),
        date: pa.date32(),
    }[spec.base]
    return pa.list_(base) if spec.array else base


def to_arrow(events: list[Event]) -> Any:
    """A pyarrow Table of same-type events (the fast insert path: C-level conversion).

    Aware datetimes in any zone are converted to UTC instants by pyarrow. Columnar batches are
    joined column by column (one conversion per column for all of them).
    """
    import pyarrow as pa

    cls = type(events[0])
    specs = fields_of(cls)
    if is_columnar(cls):
        return _batches_to_arrow(events, specs)
    names = [s.name for s in specs]
    if len(names) == 1:
        columns: list[Any] = [[getattr(e, names[0]) for e in events]]
    else:
        columns = list(zip(*map(operator.attrgetter(*names), events), strict=True))
    arrays = [
        pa.array(col, type=_arrow_type(spec)) for spec, col in zip(specs, columns, strict=True)
    ]
    return pa.Table.from_arrays(arrays, names=names)


def _repeated(values: list[Any], counts: Any, t: Any) -> Any:
    """``values[i]`` repeated ``counts[i]`` times: one Arrow ``take`` (no object per row)."""
    import numpy as np
    import pyarrow as pa

    index = np.repeat(np.arange(len(values), dtype=np.int32), counts)
    return pa.array(values, type=t).take(pa.array(index))


def _batches_to_arrow(batches: list[Any], specs: tuple[FieldSpec, ...]) -> Any:
    """One table of many columnar batches: ``cls.concat(batches)`` gives each column as flat
    values, one value per batch (repeated in C), epoch milliseconds, fixed-width bytes shown
    as hex (one ``bytes.hex`` for the column, no string per row in Python) or rows of a float
    array (NaN = null; the values must be finite)."""
    import numpy as np
    import pyarrow as pa

    cols = type(batches[0]).concat(batches)
    counts = np.fromiter((len(b) for b in batches), dtype=np.int64, count=len(batches))
    n = int(counts.sum())
    arrays = []
    for spec in specs:
        how, data = cols[spec.name]
        t = _arrow_type(spec)
        if how == "batch_ms":
            arrays.append(pa.array(np.repeat(np.array(data, np.int64), counts)).cast(t))
        elif how == "batch":
            arrays.append(_repeated(data, counts, t))
        elif how == "ms":
            arrays.append(pa.array(data, type=pa.int64()).cast(t))
        elif how == "hex":
            buf, width = data
            text = binascii.hexlify(buf)
            offsets = np.arange(0, 2 * width * (n + 1), 2 * width, dtype=np.int32)
            arrays.append(pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(text)))
        elif how == "float_columns":  # one row of a float array per column, NaN = null
            matrix, j = data
            col = matrix[j]
            arrays.append(pa.array(col, mask=np.isnan(col)))
        else:
            arrays.append(pa.array(data, type=t))
    return pa.Table.from_arrays(arrays, names=[s.name for s in specs])

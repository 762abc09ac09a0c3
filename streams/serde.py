"""Serialisation of event dataclasses: JSON for the bus, column dicts for the warehouse.

One generic codec for every event type (docs/CONTRACTS.md lists the allowed field types), so a new
event needs no serialiser of its own. Times travel as ISO-8601 with offset and are stored as UTC.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import operator
import types
import typing
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


@functools.cache
def fields_of(cls: type[Any]) -> tuple[FieldSpec, ...]:
    """The column specs of an event class, in declaration order."""
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
    cls = type(event)
    out: dict[str, Any] = {"kind": cls.KIND}
    for spec in fields_of(cls):
        out[spec.name] = _to_jsonable(spec, getattr(event, spec.name))
    return out


def to_json(event: Event) -> bytes:
    return json.dumps(to_dict(event), ensure_ascii=False, separators=(",", ":")).encode()


def from_dict(cls: type, data: dict[str, Any]) -> Any:
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

    Aware datetimes in any zone are converted to UTC instants by pyarrow.
    """
    import pyarrow as pa

    cls = type(events[0])
    specs = fields_of(cls)
    names = [s.name for s in specs]
    if len(names) == 1:
        columns: list[Any] = [[getattr(e, names[0]) for e in events]]
    else:
        columns = list(zip(*map(operator.attrgetter(*names), events), strict=True))
    arrays = [
        pa.array(col, type=_arrow_type(spec)) for spec, col in zip(specs, columns, strict=True)
    ]
    return pa.Table.from_arrays(arrays, names=names)

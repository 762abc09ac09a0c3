"""Contract test: every event type maps onto its table's columns and round-trips through the
bus serialiser and the warehouse (docs/CONTRACTS.md)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from streams import catalog, serde
from streams.warehouse.sink import BatchingSink

pytestmark = pytest.mark.component

_INT = re.compile(r"^U?Int(8|16|32|64)$")


def _strip(t: str) -> str:
    m = re.fullmatch(r"LowCardinality\((.*)\)", t)
    return m.group(1) if m else t


def _compatible(field_type: str, column_type: str) -> bool:
    f, c = field_type, _strip(column_type)
    if f.startswith("Array(") or f.startswith("Nullable("):
        head = f[: f.index("(")]
        if not c.startswith(head + "("):
            return False
        return _compatible(f[len(head) + 1 : -1], c[len(head) + 1 : -1])
    c = _strip(c)
    if f == "Int64":
        return bool(_INT.match(c))
    if f == "Float64":
        return c in ("Float64", "Float32")
    return f == c or (f == "String" and c.startswith("FixedString"))


def _examples() -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for mod in catalog.modules("events"):
        for ev in mod.examples():
            out.setdefault(ev.KIND, []).append(ev)
    return out


KINDS = sorted(catalog.event_types())


@pytest.mark.parametrize("kind", KINDS)
def test_event_maps_onto_table(warehouse, kind: str) -> None:
    et = catalog.event_types()[kind]
    rows = warehouse.query(f"DESCRIBE TABLE `{et.table}`").result_rows
    columns = {r[0]: r[1] for r in rows}
    defaults = {r[0]: r[2] for r in rows}
    for spec in serde.fields_of(et.cls):
        assert spec.name in columns, f"{et.table} has no column {spec.name}"
        assert _compatible(spec.column_type, columns[spec.name]), (
            f"{et.table}.{spec.name}: field {spec.column_type} vs column {columns[spec.name]}"
        )
    field_names = {s.name for s in serde.fields_of(et.cls)}
    for col in set(columns) - field_names:
        assert defaults[col], f"{et.table}.{col} is not an event field and has no default"


@pytest.mark.parametrize("kind", KINDS)
def test_event_round_trips_bus_and_warehouse(warehouse, kind: str) -> None:
    examples = _examples().get(kind)
    assert examples, f"{kind}: its events module must provide examples() covering it"
    classes = catalog.classes_by_kind()
    for ev in examples:
        assert serde.decode(serde.encode(ev), classes) == ev  # the bus / WAL form
        if not serde.is_columnar(type(ev)):
            assert serde.from_json(serde.to_json(ev), classes) == ev
    sink = BatchingSink(warehouse, write_ingest_log=False)
    sink.put(examples + examples)  # a replay is stored once
    assert sink.flush()
    table = catalog.event_types()[kind].table
    n = warehouse.query(f"SELECT count() FROM `{table}` FINAL").result_rows[0][0]
    ids = {i for e in examples for i in (getattr(e, "event_ids", None) or (e.event_id,))}
    assert n == len(ids)

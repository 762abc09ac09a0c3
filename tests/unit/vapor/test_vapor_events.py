"""Vapour events: validation names field, unit and range; ids are deterministic; keys partition."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest

from core.errors import ValidationError
from fuel_vapor.events import EVENT_CLASSES, Fuelling, Fuellings, NozzleDay, examples


def _batch() -> Fuellings:
    return next(e for e in examples() if isinstance(e, Fuellings))


def test_examples_cover_every_class_and_are_valid():
    ex = examples()
    assert {type(e) for e in ex} == set(EVENT_CLASSES)
    for e in ex:
        row = e.rows()[0] if isinstance(e, Fuellings) else e
        assert dataclasses.fields(row)[0].name == "event_id" and e.KIND.startswith("vapor.")
        assert e.ts.tzinfo is not None and e.key


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("al", 3.5, "al=3.5 ratio: expected in [0, 3]"),
        ("fuel_volume_l", -1.0, "fuel_volume_l=-1.0 L: expected in [0, 2000]"),
        ("nozzle", 0, "nozzle=0: expected in [1, 99]"),
        ("al_source_unit", "permille", "al_source_unit='permille'"),
        ("ts", datetime(2026, 11, 23, 10, 0), "ts="),
    ],
)
def test_fuelling_validation_names_field_unit_and_range(field, value, message):
    f = _batch().rows()[0]
    with pytest.raises(ValidationError) as exc:
        dataclasses.replace(f, **{field: value})
    assert str(exc.value).startswith(message)
    row = dataclasses.asdict(f) | {field: value}  # the batch checks its rows the same way
    with pytest.raises(ValidationError) as exc2:
        Fuellings.from_row(row)
    assert str(exc2.value) == str(exc.value)


def test_ids_are_deterministic_and_ignore_ingest_time():
    b = _batch()
    for f, eid in zip(b.rows(), b.event_ids, strict=True):
        assert Fuelling.make_id(f.station_id, f.nozzle, f.ts) == eid == f.event_id
        assert Fuelling.make_id(f.station_id, f.nozzle + 1, f.ts) != eid
    assert b.key == "QP-ST-0001" and b.nozzle_key(0) == "QP-ST-0001:N03" == b.rows()[0].key
    d = next(e for e in examples() if isinstance(e, NozzleDay))
    with pytest.raises(ValidationError, match=r"pass_rate=1\.5 fraction"):
        dataclasses.replace(d, pass_rate=1.5)
    with pytest.raises(ValidationError, match="state='red'"):
        dataclasses.replace(d, state="red")


def test_a_row_in_the_per_row_bus_form_still_decodes_as_a_one_row_batch():
    """WAL segments and Kafka messages written before the batch carried one ``Fuelling`` as JSON
    (``kind: vapor.fuelling``): they decode into the one-row batch that stores the same row."""
    from streams import serde

    b = _batch()
    for i, row in enumerate(b.rows()):
        old = serde.to_json(row)  # the per-row path's bus form
        back = serde.decode(old, {Fuellings.KIND: Fuellings})
        assert isinstance(back, Fuellings) and back == b.slice(i, i + 1)
        assert back.rows() == [row]
        assert serde.decode(serde.encode(back), {Fuellings.KIND: Fuellings}) == back

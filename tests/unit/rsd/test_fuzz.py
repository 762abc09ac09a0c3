"""Property tests: arbitrary vendor records never crash the intake core, and every record is
answered exactly once (accepted, duplicate or rejected with a message)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from core.credentials import DeviceCredentials
from core.registry import default_registry
from core.ruleset import default_ruleset
from core.timeutil import beijing
from remote_sensing.intake import BodyError, Intake
from remote_sensing.profiles import load_profile

FIELDS = [*load_profile("national").fields.values(), "tp1", "sp1", "extra"]
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(
        ["RSD-QP-01", "0", "1", "A", "B", "沪A12345", "2026-11-23 10:00:00", "-5", "1e9", ""]
    ),
    st.lists(st.integers(), max_size=2),
)
RECORD = st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=len(FIELDS))
BASE = {"jlbh": "X", "dwbh": "RSD-QP-01", "jcrq": "2026-11-23 10:00:00"}


CREDS = DeviceCredentials.ephemeral(default_registry())


class Pub:
    def __init__(self) -> None:
        self.n = 0

    async def __call__(self, events: Any) -> None:
        self.n += len(events)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(RECORD, RECORD.map(lambda r: {**BASE, **r}), VALUES), max_size=8))
def test_any_batch_is_answered_per_record(batch: list[Any]) -> None:
    registry, ruleset = default_registry(), default_ruleset()
    pub = Pub()
    creds, tokens = CREDS
    intake = Intake(
        registry=registry,
        ruleset=ruleset,
        publish=pub,
        now=lambda: beijing(2026, 11, 23, 12),
        credentials=creds,
    )
    body = json.dumps({"records": batch}, default=str, allow_nan=True).encode()
    try:
        res = asyncio.run(
            intake.ingest(
                body,
                "application/json",
                token=tokens["RSD-QP-01"],
                profile=load_profile("national"),
            )
        )
    except BodyError:
        return
    assert len(res.results) == len(batch)
    assert [r["index"] for r in res.results] == list(range(len(batch)))
    assert res.accepted + res.duplicates + res.rejected == len(batch)
    assert pub.n == res.accepted
    for r in res.results:
        if r["status"] == "rejected":
            assert r["message"]

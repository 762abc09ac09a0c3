"""Dead letters: one record that cannot be serialised or inserted, kept with what is needed to
understand and replay it, so that it never blocks the others.

A ``DeadLetter`` carries the record's raw bytes (its JSON as the bus would carry it, with any
undecodable bytes restored through ``surrogateescape``; its ``repr`` when even that fails), the
stage that refused it (``serialise``: the WAL or Arrow conversion; ``insert``: the warehouse), the
event kind, device and event id where they can be read, the reason and the time. Rows go to the
``dead_letter`` table (``ddl/0010_deadletter.sql``, one row per deterministic ``dl_id``).

``replay`` decodes the raw bytes back into events and inserts them (after a fix: a corrected
table, a new code release); a row that inserts is marked ``replayed``, one that still fails keeps
``open`` with the new reason. SQL lives in ``streams.warehouse.queries.deadletter``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from core.events import deterministic_id
from streams import serde

log = logging.getLogger(__name__)

STAGES = ("serialise", "insert", "decode", "replay")
_DEVICE_FIELDS = ("device_id", "vin", "mn", "station_id", "camera_id", "site_id", "device")


@dataclass(frozen=True, slots=True)
class DeadLetter:
    dl_id: str
    ts: datetime
    stage: str
    kind: str
    device_id: str
    event_id: str
    reason: str
    raw: bytes
    status: str = "open"
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    COLUMNS = (
        "dl_id",
        "ts",
        "stage",
        "kind",
        "device_id",
        "event_id",
        "reason",
        "raw",
        "status",
        "updated_at",
    )

    def row(self) -> list[Any]:
        return [getattr(self, c) for c in self.COLUMNS]

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form (WAL records, HTTP): raw as latin-1 text is lossless for any bytes."""
        return {
            "dl_id": self.dl_id,
            "ts": self.ts.isoformat(),
            "stage": self.stage,
            "kind": self.kind,
            "device_id": self.device_id,
            "event_id": self.event_id,
            "reason": self.reason,
            "raw_latin1": self.raw.decode("latin-1"),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> DeadLetter:
        return cls(
            dl_id=d["dl_id"],
            ts=datetime.fromisoformat(d["ts"]),
            stage=d["stage"],
            kind=d["kind"],
            device_id=d["device_id"],
            event_id=d["event_id"],
            reason=d["reason"],
            raw=d["raw_latin1"].encode("latin-1"),
        )


def raw_bytes(event: Any) -> bytes:
    """The record's bytes as the bus carries them; undecodable input bytes come back as they were."""
    try:
        text = json.dumps(serde.to_dict(event), ensure_ascii=False, separators=(",", ":"))
    except Exception:  # not even a dict: keep what Python can say about it
        return repr(event).encode("utf-8", "backslashreplace")
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that did not come from a byte
        return text.encode("utf-8", "backslashreplace")


def device_of(event: Any) -> str:
    for name in _DEVICE_FIELDS:
        v = getattr(event, name, None)
        if isinstance(v, str) and v:
            return v.encode("utf-8", "backslashreplace").decode("utf-8")
    return ""


def of_event(event: Any, stage: str, reason: str, now: datetime | None = None) -> DeadLetter:
    kind = str(getattr(event, "KIND", type(event).__name__))
    event_id = str(getattr(event, "event_id", "") or "")
    event_id = event_id.encode("utf-8", "backslashreplace").decode("utf-8")
    raw = raw_bytes(event)
    dl_id = deterministic_id("dead_letter", kind, event_id or raw.hex())
    return DeadLetter(
        dl_id=dl_id,
        ts=now or datetime.now(UTC),
        stage=stage,
        kind=kind,
        device_id=device_of(event),
        event_id=event_id,
        reason=reason.encode("utf-8", "backslashreplace").decode("utf-8")[:2000],
        raw=raw,
    )


def undecodable(raw: bytes | str, exc: BaseException, stage: str = "replay") -> DeadLetter:
    """A dead letter for bytes that do not decode into an event (kind and device unknown)."""
    data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else bytes(raw)
    return DeadLetter(
        dl_id=deterministic_id("dead_letter", stage, data.hex()),
        ts=datetime.now(UTC),
        stage=stage,
        kind="",
        device_id="",
        event_id="",
        reason=f"{type(exc).__name__}: {exc}"[:2000],
        raw=data,
    )


def insert(client: Any, letters: Sequence[DeadLetter]) -> None:
    if letters:
        client.insert("dead_letter", [d.row() for d in letters], column_names=DeadLetter.COLUMNS)


def decode_raw(raw: bytes, classes: dict[str, type]) -> Any:
    """The event a dead letter's raw bytes describe (raises when they no longer decode)."""
    if raw[:1] != b"{":  # a columnar batch's binary form
        return serde.decode(raw, classes)
    return serde.from_json(raw.decode("utf-8", "surrogateescape"), classes)


@dataclass
class ReplayResult:
    replayed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"replayed": self.replayed, "failed": self.failed}


def replay(client: Any, ids: Iterable[str] | None = None, limit: int = 10_000) -> ReplayResult:
    """Re-insert open dead letters (all, or those in ``ids``); mark what now stores as replayed."""
    from core.access import system_scope
    from streams import catalog
    from streams.warehouse.queries import deadletter as q

    classes = catalog.classes_by_kind()
    result = ReplayResult()
    letters = q.open_letters(
        client, system_scope("replay"), tuple(ids) if ids is not None else None, limit
    )
    updated: list[DeadLetter] = []
    now = datetime.now(UTC)
    for d in letters:
        try:
            event = decode_raw(d.raw, classes)
            client.insert_arrow(catalog.table_of(event.KIND), serde.to_arrow([event]))
        except Exception as exc:
            reason = f"replay: {type(exc).__name__}: {exc}"
            result.failed[d.dl_id] = reason
            updated.append(_with(d, reason=reason[:2000], updated_at=now))
            continue
        result.replayed.append(d.dl_id)
        updated.append(_with(d, status="replayed", updated_at=now))
    insert(client, updated)
    if result.replayed:
        log.info(
            "dead letters replayed: %d (still failing: %d)",
            len(result.replayed),
            len(result.failed),
        )
    return result


def _with(d: DeadLetter, **changes: Any) -> DeadLetter:
    import dataclasses

    return dataclasses.replace(d, **changes)

"""The record of every partner export (who, when, what, how many rows, the file's SHA-256) in the
``export_log`` table (DDL 0700), for the access-control issue's audit. Written once per file, after
the file is complete; an export whose record cannot be written is reported as failed."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

COLUMNS = [
    "export_id",
    "ts",
    "kind",
    "fmt",
    "user",
    "jurisdictions",
    "rows",
    "file_name",
    "sha256",
    "params_json",
]


def record_export(
    client: Any,
    *,
    kind: str,
    fmt: str,
    user: str,
    jurisdictions: Sequence[str],
    rows: int,
    file_name: str,
    sha256: str,
    params: dict[str, Any],
    ts: datetime,
) -> str:
    export_id = uuid.uuid4().hex
    client.insert(
        "export_log",
        [
            [
                export_id,
                ts.astimezone(UTC),
                kind,
                fmt,
                user,
                list(jurisdictions),
                rows,
                file_name,
                sha256,
                json.dumps(params, ensure_ascii=False, sort_keys=True, default=str),
            ]
        ],
        column_names=COLUMNS,
    )
    return export_id

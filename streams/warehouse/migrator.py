"""Idempotent DDL migrator: applies ``ddl/NNNN_name.sql`` files in order, each exactly once.

Applied migrations are recorded in ``schema_migrations`` with a checksum; a changed file that was
already applied is refused (write a new migration instead). Files may hold several statements
separated by ``;`` on its own line end. Engine clauses are templates so the same DDL serves chDB,
a single server and a cluster:

- ``{replacing}`` → ``ReplacingMergeTree`` (local) or ``ReplicatedReplacingMergeTree(...)``
- ``{replacing:COL}`` → the same with version column ``COL`` (the row with the highest ``COL``
  of a key is kept)
- ``{merge}``     → ``MergeTree`` or ``ReplicatedMergeTree(...)``
- ``{on_cluster}`` → empty or ``ON CLUSTER <name>``
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from clickhouse_connect.driver.client import Client

DDL_DIR = Path(__file__).parent / "ddl"
_NAME_RE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    number: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()[:16]


def load_migrations(directory: Path = DDL_DIR) -> list[Migration]:
    out = []
    for path in sorted(directory.glob("*.sql")):
        m = _NAME_RE.match(path.name)
        if not m:
            raise ValueError(f"{path}: migration file names must look like 0001_name.sql")
        out.append(Migration(int(m.group(1)), path.name, path.read_text(encoding="utf-8")))
    numbers = [m.number for m in out]
    dup = {n for n in numbers if numbers.count(n) > 1}
    if dup:
        raise ValueError(f"{directory}: migration numbers used twice: {sorted(dup)}")
    return out


_VERSIONED_RE = re.compile(r"\{replacing:([A-Za-z_][A-Za-z0-9_]*)\}")


def render(sql: str, cluster: str | None = None) -> str:
    if cluster:
        sql = _VERSIONED_RE.sub(
            lambda m: (
                "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', "
                f"'{{replica}}', {m.group(1)})"
            ),
            sql,
        )
    else:
        sql = _VERSIONED_RE.sub(lambda m: f"ReplacingMergeTree({m.group(1)})", sql)
    if cluster:
        zk = "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'"
        subs = {
            "{replacing}": f"ReplicatedReplacingMergeTree({zk})",
            "{merge}": f"ReplicatedMergeTree({zk})",
            "{on_cluster}": f"ON CLUSTER {cluster}",
        }
    else:
        subs = {"{replacing}": "ReplacingMergeTree", "{merge}": "MergeTree", "{on_cluster}": ""}
    for k, v in subs.items():
        sql = sql.replace(k, v)
    return sql


def split_statements(sql: str) -> list[str]:
    body = "\n".join(line for line in sql.splitlines() if not line.strip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


def migrate(client: Client, directory: Path = DDL_DIR, cluster: str | None = None) -> list[str]:
    """Apply pending migrations; return the names applied now (empty when up to date)."""
    client.command(
        "CREATE TABLE IF NOT EXISTS schema_migrations (number UInt32, name String, "
        "checksum String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
        "ENGINE = MergeTree ORDER BY number"
    )
    done = {
        int(r[0]): (r[1], r[2])
        for r in client.query("SELECT number, name, checksum FROM schema_migrations").result_rows
    }
    applied = []
    for mig in load_migrations(directory):
        if mig.number in done:
            name, checksum = done[mig.number]
            if checksum != mig.checksum:
                raise RuntimeError(
                    f"migration {mig.name} changed after it was applied as {name}; "
                    "add a new migration instead of editing an applied one"
                )
            continue
        for stmt in split_statements(render(mig.sql, cluster)):
            client.command(stmt)
        client.insert(
            "schema_migrations",
            [[mig.number, mig.name, mig.checksum]],
            column_names=["number", "name", "checksum"],
        )
        applied.append(mig.name)
    return applied

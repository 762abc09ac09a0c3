"""The one way to reach the warehouse: ``connect(dsn)`` over clickhouse-connect.

``chdb:///abs/path`` opens the embedded ClickHouse engine in this process (a chDB data directory can
be opened by ONE process only); ``http(s)://user:pass@host:port/db`` reaches a ClickHouse server.
The database name is part of the settings (``EMW_WAREHOUSE_DATABASE``), never hard-coded in SQL:
queries use unqualified table names and the client's default database.
"""

from __future__ import annotations

import fcntl
import threading
from pathlib import Path
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client

_chdb_lock = threading.Lock()


class WarehouseLocked(RuntimeError):
    """The chDB data directory is open in another process (a chDB directory allows one)."""


def _check_not_locked(path: Path) -> None:
    """ClickHouse holds an exclusive flock on ``<path>/status`` while a process has it open."""
    status = path / "status"
    if not status.exists() or _chdb_clients_by_path.get(str(path)):
        return
    with open(status, "rb") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WarehouseLocked(
                f"the warehouse {path} is open in another process (is `make run` already "
                "running?); stop it, or point EMW_DATA_DIR at another folder"
            ) from None
        fcntl.flock(fh, fcntl.LOCK_UN)


_chdb_clients_by_path: dict[str, int] = {}
_chdb_clients: dict[str, list[Client]] = {}


def connect(dsn: str, database: str = "emw", create: bool = True) -> Client:
    """A client on ``database`` at ``dsn`` (created if missing and ``create`` is true).

    Several clients on the same chDB path in one process are fine (each serialises its own calls;
    give writers their own client). A second *process* on the same path fails at once.
    """
    if dsn.startswith("chdb:"):
        path = dsn.removeprefix("chdb://")
        with _chdb_lock:
            if path.startswith("/"):
                Path(path).mkdir(parents=True, exist_ok=True)
                _check_not_locked(Path(path))
                _chdb_clients_by_path[path] = _chdb_clients_by_path.get(path, 0) + 1
            boot = clickhouse_connect.get_client(dsn=dsn)
            if create:
                boot.command(f"CREATE DATABASE IF NOT EXISTS `{database}`")
            client = clickhouse_connect.get_client(dsn=dsn, database=database)
            _chdb_clients.setdefault(dsn, []).append(client)
        return client
    boot = clickhouse_connect.get_client(dsn=dsn)
    if create:
        boot.command(f"CREATE DATABASE IF NOT EXISTS `{database}`")
    boot.close()
    return clickhouse_connect.get_client(dsn=dsn, database=database)


def server_info(client: Client) -> dict[str, Any]:
    row = client.query("SELECT version(), currentDatabase()").result_rows[0]
    return {"version": row[0], "database": row[1]}

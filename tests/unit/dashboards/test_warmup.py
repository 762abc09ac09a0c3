"""The entry script's background import: one thread per process, and a module that fails to
import does not stop the others (a page that needs it reports the failure itself)."""

from __future__ import annotations

import sys
import threading

import pytest

from dashboards import warmup


def test_start_runs_one_background_thread_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []
    done = threading.Event()

    def fake_load() -> None:
        ran.append(threading.current_thread().name)
        done.set()

    monkeypatch.setattr(warmup, "_load", fake_load)
    warmup.start.cache_clear()
    try:
        warmup.start()
        warmup.start()  # a second run of the entry script starts nothing
        assert done.wait(10)
        for t in threading.enumerate():
            if t.name == "emw-warm-up":
                t.join(10)
        assert ran == ["emw-warm-up"]
    finally:
        warmup.start.cache_clear()


def test_load_skips_what_cannot_be_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(warmup, "MODULES", ("no_such_module_for_emw", "colorsys"))
    sys.modules.pop("colorsys", None)
    warmup._load()
    assert "colorsys" in sys.modules

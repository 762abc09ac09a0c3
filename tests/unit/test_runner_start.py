"""``PipelineThread.start``: the start-up bound leaves out the time the case processor's state takes
to restore from the warehouse (long on a large one), which has its own, larger bound and is logged
while it goes on; a start-up stalled elsewhere still fails at the bound."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

from streams.runner import PipelineThread


class FakePipeline:
    """Sleeps ``restore_s`` in the restore phase and ``other_s`` elsewhere, like ``Pipeline``."""

    def __init__(self, restore_s: float, other_s: float) -> None:
        self.restore_s, self.other_s = restore_s, other_s
        self.restore_phase = ""
        self.restore_started: float | None = None
        self.restore_ended: float | None = None
        self.sink = None

    def restore_seconds(self) -> float:
        if self.restore_started is None:
            return 0.0
        return (self.restore_ended or time.monotonic()) - self.restore_started

    async def start(self, with_services: bool = True) -> None:
        self.restore_started, self.restore_phase = time.monotonic(), "replaying"
        await asyncio.sleep(self.restore_s)
        self.restore_ended, self.restore_phase = time.monotonic(), ""
        await asyncio.sleep(self.other_s)

    def describe(self) -> dict[str, str]:
        return {"fake": "started"}

    async def stop(self) -> None:
        return None

    def snapshot_metrics(self) -> None:
        return None


def _thread(p: Any) -> PipelineThread:
    return PipelineThread(p, metrics_interval_s=3600.0)


def test_a_restore_longer_than_the_bound_does_not_fail_the_start(
    caplog: pytest.LogCaptureFixture,
) -> None:
    t = _thread(FakePipeline(restore_s=1.2, other_s=0.1))
    with caplog.at_level(logging.INFO, logger="emwatch.runner"):
        assert t.start(timeout=0.5, report_s=0.2) == {"fake": "started"}
    t.stop(timeout=5)
    assert any("restoring the case processor's state" in r.message for r in caplog.records)


def test_a_stall_outside_the_restore_still_fails_at_the_bound() -> None:
    t = _thread(FakePipeline(restore_s=0.0, other_s=3.0))
    with pytest.raises(TimeoutError, match="did not start within"):
        t.start(timeout=0.5, report_s=0.2)
    t.stop(timeout=5)


def test_a_restore_past_its_own_bound_fails() -> None:
    t = _thread(FakePipeline(restore_s=3.0, other_s=0.0))
    with pytest.raises(TimeoutError, match="restoring the case states"):
        t.start(timeout=0.2, restore_timeout=0.6, report_s=0.1)
    t.stop(timeout=5)

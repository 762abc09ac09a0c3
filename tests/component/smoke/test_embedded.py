"""The embedded smoke service: simulated camera → shipped model → events in the warehouse; a missing
model leaves the service up and says so."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from smoke_capture import embedded

pytestmark = pytest.mark.component


async def test_missing_model_service_stays_up_and_says_so(pipeline, monkeypatch, tmp_path):
    monkeypatch.setenv("EMW_SMOKE_MODEL", str(tmp_path / "absent.onnx"))
    svc = await embedded.start(pipeline.service_context)
    try:
        assert svc.model_version is None
        (line,) = svc.describe().values()
        assert "idle" in line and "absent.onnx" in line
        snap = {(c, n): v for c, n, _lk, v in pipeline.metrics.snapshot()}
        assert snap[("smoke", "model_present")] == 0.0
    finally:
        await svc.stop()


async def test_simulated_camera_produces_captures(pipeline, monkeypatch):
    monkeypatch.delenv("EMW_SMOKE_MODEL", raising=False)
    reg = pipeline.registry
    one = reg.model_copy(update={"cameras": reg.cameras[:1]})
    ctx = dataclasses.replace(pipeline.service_context, simulate=True, sim_scale=5.0, registry=one)
    svc = await embedded.start(ctx)
    try:
        # the shipped model for this machine (int8 on a CPU, fp32 on a GPU: detector.default_model_path)
        assert svc.model_version and svc.model_version.startswith("smoke_yolov8n")
        for _ in range(120):
            if svc.published:
                break
            await asyncio.sleep(0.5)
    finally:
        await svc.stop()
    assert svc.published >= 1
    await pipeline.settle()
    rows = pipeline.client.query_df(
        "SELECT camera_id, grade, evidence_files, model_version FROM smoke_capture FINAL"
    )
    assert len(rows) >= 1
    assert set(rows["camera_id"]) == {one.cameras[0].id}
    # every capture names the model that graded it
    assert set(rows["model_version"]) == {svc.model_version}
    assert all(len(f) >= 3 for f in rows["evidence_files"])
    frames = pipeline.metrics.counter("smoke", "frames", {"camera": one.cameras[0].id})
    assert frames > 0

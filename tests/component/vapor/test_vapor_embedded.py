"""The embedded service: gateway on an ephemeral port, simulator back-filling into the pipeline."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys

import pytest

from fuel_vapor import embedded

pytestmark = pytest.mark.component


async def test_embedded_service_with_simulator_feeds_the_warehouse(pipeline):
    pipeline.ports["hj212"] = 0
    ctx = dataclasses.replace(pipeline.service_context, simulate=True)  # the fixture runs without
    svc = await embedded.start(ctx, backfill_days=0.05)  # ~72 simulated minutes of history
    try:
        assert (
            svc.port > 0
            and "tcp://127.0.0.1:" in svc.describe()["Vapour-recovery gateway (HJ 212)"]
        )
        for _ in range(200):
            await asyncio.sleep(0.1)
            if pipeline.metrics.counter("fuel_vapor", "packets_ok") > 500:
                break
        assert pipeline.metrics.counter("fuel_vapor", "packets_ok") > 500
    finally:
        await svc.stop()
    await pipeline.settle()
    rows = dict(
        pipeline.client.query(
            "SELECT unit_kind, count() FROM vapor_packet FINAL GROUP BY unit_kind"
        ).result_rows
    )
    assert rows.get("station", 0) > 0 and rows.get("sensor", 0) > 0 and rows.get("depot", 0) > 0
    n = pipeline.client.query("SELECT count() FROM vapor_fuelling FINAL").result_rows[0][0]
    assert n > 0
    assert sum(pipeline.metrics.counters("fuel_vapor", "bad_packets").values()) == 0


def test_emwatch_decode_hj212_exit_codes():
    good = "##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&1C80"
    cmd = [
        sys.executable,
        "-c",
        "import sys; from streams.cli import main; sys.exit(main())",
        "decode",
        "hj212",
    ]
    ok = subprocess.run([*cmd, good], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and '"valid": true' in ok.stdout and ok.stderr == ""
    bad = subprocess.run(
        [*cmd, good.replace("##0101", "##0100")], capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 2
    assert bad.stderr.strip() == "length mismatch: declared 0100, data segment has 101 bytes"

"""An acknowledgement means durable (embedded): ``emwatch run`` SIGKILLed under load from OBD
terminals in lock-step, restarted, and every record a terminal got an answer for is stored, row by
row, exactly once (the write-ahead log replays what the warehouse did not have yet).

Bounded: 10 terminals, at most 400 packets each (10 records a packet), killed after 4 s of load.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.registry import default_registry
from core.timeutil import BEIJING
from obd_gateway.simulator import Terminal

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STORED = """
import json, sys
from streams.warehouse.client import connect
c = connect(sys.argv[1], "emw", create=False)
rows = c.query("SELECT vin, toUnixTimestamp64Milli(ts) FROM obd_sample FINAL").result_rows
raw, ids = c.query("SELECT count(), uniqExact(event_id) FROM obd_sample").result_rows[0]
print(json.dumps({"rows": [[v, int(t)] for v, t in rows], "raw": int(raw), "ids": int(ids)}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(port: int, path: str) -> Any | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return json.loads(r.read())
    except OSError:
        return None


def _start(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "run"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _wait_running(proc: subprocess.Popen[bytes], port: int, log_path: Path) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        st = _get(port, "/api/status")
        if st and st.get("state") == "running":
            return st
        assert proc.poll() is None, log_path.read_text(errors="replace")[-3000:]
        time.sleep(0.3)
    pytest.fail(f"emwatch run not up in 120 s: {log_path.read_text(errors='replace')[-3000:]}")


async def _load(port: int, kill_after_s: float, proc: subprocess.Popen[bytes]) -> list[Terminal]:
    vehicles = list(default_registry().obd_vehicles)[:10]
    start = datetime(2026, 11, 20, 8, 0, tzinfo=BEIJING)
    terms = [
        Terminal(v, start + timedelta(hours=i), seed=i, speedup=400.0, track_records=True)
        for i, v in enumerate(vehicles)
    ]
    tasks = [asyncio.create_task(t.run("127.0.0.1", port, 400)) for t in terms]
    await asyncio.sleep(kill_after_s)
    proc.send_signal(signal.SIGKILL)  # mid-load: answers in flight, sink buffers full
    await asyncio.gather(*tasks, return_exceptions=True)
    return terms


@pytest.mark.timeout(400)
def test_sigkill_mid_load_then_restart_loses_no_acknowledged_record(tmp_path: Path) -> None:
    dash, obd = _free_port(), _free_port()
    env = {
        **os.environ,
        "EMW_DATA_DIR": str(tmp_path),
        "EMW_DASHBOARD_PORT": str(dash),
        "EMW_OBD_PORT": str(obd),
        "EMW_HJ212_PORT": str(_free_port()),
        "EMW_RSD_PORT": str(_free_port()),
        "EMW_SIMULATE": "false",
        "EMW_SINK_MAX_DELAY_S": "1.0",  # a wide window of acked-but-not-inserted records
        "PYTHONUNBUFFERED": "1",
    }
    # the terminals' identities (ICCIDs), as the bundled simulator registers them
    from core.credentials import DeviceCredentials
    from obd_gateway.simulator import terminal_iccid

    vins = [v.vin for v in list(default_registry().obd_vehicles)[:10]]
    DeviceCredentials.for_registry(default_registry(), tmp_path).demo_secrets(vins, terminal_iccid)
    log_path = tmp_path / "run.log"
    proc = _start(env, log_path)
    try:
        _wait_running(proc, dash, log_path)
        terms = asyncio.run(_load(obd, 4.0, proc))
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    acked = {(t.vehicle.vin, int(ts.timestamp() * 1000)) for t in terms for ts in t.sent_records}
    assert len(acked) >= 500, f"too little load before the kill: {len(acked)} acked records"
    wal_left = list((tmp_path / "wal").glob("wal-*.log"))
    assert wal_left, "the kill left nothing in the write-ahead log: the test proves nothing"

    # restart: the log is replayed into the warehouse before the gateways listen
    from streams.runner import status_json
    from streams.settings import load_settings

    settings = load_settings(data_dir=tmp_path, dashboard_port=dash)
    proc = _start(env, log_path)
    try:
        _wait_running(proc, dash, log_path)
        st = status_json(settings, timeout=5)  # the detailed status, with the local CLI token
        assert st is not None and "wal" in st, st
        assert st["wal"]["replayed"] > 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (
            st["wal"]["pending_records"] or st["sink"]["buffered"]
        ):
            time.sleep(0.5)
            st = status_json(settings, timeout=5) or st
        assert st["sink"]["healthy"] and st["sink"]["dead_lettered"] == 0
        # the platform holds the data directory: the CLI goes through its HTTP API
        listed = subprocess.run(
            [sys.executable, "-m", "streams.cli", "deadletter", "list", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert listed.returncode == 0 and json.loads(listed.stdout) == [], listed.stderr
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = subprocess.run(
        [sys.executable, "-c", STORED, f"chdb://{tmp_path / 'warehouse'}"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    stored = {(v, t) for v, t in got["rows"]}
    missing = acked - stored
    assert not missing, (
        f"{len(missing)} of {len(acked)} acknowledged records lost: {sorted(missing)[:5]}"
    )
    assert len(got["rows"]) == len(stored)  # no duplicates visible through FINAL
    with contextlib.suppress(Exception):
        print(
            f"\n[sigkill] acked {len(acked)}, stored {len(stored)}, WAL replayed "
            f"{st['wal']['replayed']}, raw rows {got['raw']} for {got['ids']} ids"
        )

"""The enforcement CLI without a running platform (it opens the data directory itself), in
subprocesses: a chDB data directory belongs to one process, and this one holds the test session's.
Exit codes: 0 done, 1 evidence does not verify, 2 bad input / unknown / refused (nothing changed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.component, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[3]

SEED = """
import asyncio, sys
from pathlib import Path
from core.exceedance import fire
from core.registry import default_registry
from core.ruleset import default_ruleset
from core.timeutil import beijing
from streams.pipeline import Pipeline
from streams.runner import open_warehouse
from streams.settings import load_settings

async def main():
    s = load_settings(data_dir=Path(sys.argv[1]))
    writer, _ = open_warehouse(s)
    rs, reg = default_ruleset(), default_registry()
    v = reg.obd_vehicles[0]
    p = Pipeline(writer, rs, reg, s.data_dir, simulate=False, max_delay_s=0.05)
    await p.start(with_services=False)
    await p.publish([fire(rs.rule("RS-REPEAT"), beijing(2026, 11, 20, 9), source="remote_sensing",
        subject_kind="vehicle", subject_id=v.plate + "|yellow", jurisdiction="qingpu",
        device_id="RSD-QP-01", measured=1650.0, limit=1500.0, unit="ppm",
        detail={"fuel": "diesel", "pollutant": "no"})])
    await p.settle()
    await p.stop()
    print(v.plate, v.vin)

asyncio.run(main())
"""


def emwatch(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "EMW_DASHBOARD_PORT": "1"}  # no platform there
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args, "--data-dir", str(data)]
        if args[0] != "evidence" or "--archive" not in args
        else [sys.executable, "-m", "streams.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )


def test_cli_round_trip(tmp_path: Path) -> None:
    data = tmp_path / "var"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    seeded = subprocess.run(
        [sys.executable, "-c", SEED, str(data)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )
    assert seeded.returncode == 0, seeded.stderr
    plate, vin = seeded.stdout.split()
    assert emwatch(data, "vehicle", "show", plate).returncode == 0

    out = emwatch(data, "case", "list", "--json")
    assert out.returncode == 0, out.stderr
    (case,) = json.loads(out.stdout)["cases"]
    cid = case["case_id"]

    veh = emwatch(data, "vehicle", "show", vin, "--json")
    assert veh.returncode == 0 and json.loads(veh.stdout)["case_ids"] == [cid]
    bad = emwatch(data, "vehicle", "show", "沪1")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "plate" in bad.stderr
    assert emwatch(data, "case", "act", "NO-SUCH", "review", "--as", "张伟").returncode == 2
    assert emwatch(data, "case", "act", cid, "review").returncode == 2  # no named officer
    assert emwatch(data, "case", "act", cid, "dismiss", "--as", "张伟").returncode == 2  # no reason

    ok = emwatch(data, "case", "act", cid, "review", "--as", "张伟", "--version", "1")
    assert ok.returncode == 0, ok.stderr
    stale = emwatch(
        data, "case", "act", cid, "dismiss", "--as", "李娜", "--version", "1", "--reason", "x"
    )
    assert stale.returncode == 2 and "stale" in stale.stderr
    show = json.loads(emwatch(data, "case", "show", cid, "--json").stdout)
    assert show["case"]["status"] == "in_review" and show["case"]["version"] == 2

    archive = tmp_path / "case.zip"
    assert emwatch(data, "evidence", "export", cid, "-o", str(archive)).returncode == 0
    assert emwatch(data, "evidence", "verify", "--archive", str(archive)).returncode == 0
    assert emwatch(data, "evidence", "verify", cid).returncode == 0
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(archive) as zin, zipfile.ZipFile(tampered, "w") as zout:
        for n in zin.namelist():
            b = zin.read(n)
            zout.writestr(n, b.replace("张伟".encode(), "王五".encode()) if n == "log.jsonl" else b)
    res = emwatch(data, "evidence", "verify", "--archive", str(tampered))
    assert res.returncode == 1 and "entry 2" in res.stdout and "altered" in res.stdout
    assert (
        emwatch(data, "evidence", "verify", "--archive", str(tmp_path / "none.zip")).returncode == 2
    )

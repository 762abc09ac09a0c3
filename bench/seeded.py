"""A seeded data directory for the benchmarks, made once and kept under the temporary folder.

``seeded_dir(scale, days)`` returns ``<cache>/scale-<S>-days-<D>`` holding a warehouse filled by
``emwatch seed --days D --scale S`` (scale 0.1 ≈ 1 M readings in 30 days, 1.0 ≈ 10 M). A directory
whose ``seed.json`` says ``complete`` is reused as it is (its month ends when it was seeded); any
other state is seeded again (``--replace``), bounded by ``timeout_s``. Seeding runs in its own
process (a chDB directory belongs to one process), and its time is printed: it is the figure
behind "10 M readings take minutes, not hours" on this machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "emw-bench-seeded"


def marker(data_dir: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads((data_dir / "seed.json").read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def seeded_dir(
    scale: float,
    days: int = 30,
    cache: Path = DEFAULT_CACHE,
    timeout_s: float = 3600.0,
    data_dir: Path | None = None,
) -> Path:
    """A complete seeded directory for (scale, days): reused when present, else seeded now."""
    d = data_dir or cache / f"scale-{scale:g}-days-{days}"
    m = marker(d)
    if m is not None and m.get("status") == "complete":
        rep = m.get("report") or {}
        print(
            f"# seeded data: reusing {d} ({rep.get('readings', 0):,} readings, {days} days ending "
            f"{m.get('end', '?')}, seeded in {rep.get('seconds', 0):,.0f} s)",
            flush=True,
        )
        return d
    d.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "streams.cli",
        "seed",
        "--days",
        str(days),
        "--scale",
        f"{scale:g}",
        "--data-dir",
        str(d),
        "--quiet",
        "--json",
    ]
    if m is not None:
        cmd.append("--replace")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("EMW_WAREHOUSE_DSN", None)
    print(f"# seeding {d}: {' '.join(cmd[2:])} (at most {timeout_s:.0f} s)", flush=True)
    t0 = time.perf_counter()
    done = subprocess.run(
        cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout_s, check=False
    )
    if done.returncode:
        raise RuntimeError(f"emwatch seed failed (exit {done.returncode}): {done.stderr[-2000:]}")
    rep = json.loads(done.stdout)
    print(
        f"# seeded {rep.get('readings', 0):,} readings in {time.perf_counter() - t0:,.0f} s "
        f"(load average {os.getloadavg()[0]:.1f})",
        flush=True,
    )
    return d


def busy_vehicles(client: Any, n: int = 5) -> list[str]:
    """The plates with the most records across a vehicle's tables (RSD passes, smoke captures,
    exceedances, and the OBD samples of the VIN its cases name): the slowest histories to read."""
    df = client.query_df(
        "SELECT plate, sum(c) AS n FROM ("
        "SELECT plate, count() AS c FROM rsd_pass WHERE plate != '' GROUP BY plate "
        "UNION ALL SELECT plate, count() FROM smoke_capture WHERE plate != '' GROUP BY plate "
        "UNION ALL SELECT splitByChar('|', subject_id)[1] AS plate, count() FROM exceedance "
        "WHERE subject_kind = 'vehicle' GROUP BY plate "
        "UNION ALL SELECT l.plate, count() FROM obd_sample AS o INNER JOIN (SELECT DISTINCT "
        "plate, vin FROM case_latest WHERE plate != '' AND vin != '') AS l ON l.vin = o.vin "
        "GROUP BY l.plate) GROUP BY plate ORDER BY n DESC, plate LIMIT {n:UInt32}",
        parameters={"n": n},
    )
    return [str(x) for x in df["plate"]] if not df.empty else []


def busy_vehicles_of(data_dir: Path, n: int = 5) -> list[str]:
    """:func:`busy_vehicles` of a seeded directory, read in a child process (the caller may hand
    the directory to a platform afterwards: a chDB directory stays locked by its process)."""
    code = (
        "import json, sys; from pathlib import Path; from bench.seeded import busy_vehicles; "
        "from streams.warehouse.client import connect; "
        "c = connect('chdb://' + str(Path(sys.argv[1]) / 'warehouse'), 'emw'); "
        "print(json.dumps(busy_vehicles(c, int(sys.argv[2]))))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", code, str(data_dir), str(n)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return list(json.loads(done.stdout.strip().splitlines()[-1]))

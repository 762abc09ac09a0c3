"""Weekly-report generation on a seeded month (printed, never asserted).

Anchor (issue 14): a week of the seeded month (10 M readings) → the zone's report in every format in
under 30 s; report its peak memory.

The project's bulk seeder (``emwatch seed``) was not on main when this was written, so this script
seeds its own warehouse: a month ending with the last full ISO week, readings spread over the
registry's devices (OBD samples 80 %, RSD passes, smoke captures, HJ 212 station packets), ~3,000
exceedances a day with a long-tailed plate distribution (so there are repeat and cross-jurisdiction
offenders), daily nozzle and station states. Seeding runs in one child process, each report in
another (a chDB directory belongs to one process), so the report's peak RSS is its own.

Run: ``.venv/bin/python bench/bench_report.py [--readings 10000000] [--keep DIR [--reuse]]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CHUNK = 1_000_000


def _ts(
    rng: np.random.Generator, n: int, start: datetime, days: int, day_hours: bool
) -> np.ndarray:
    """UTC epoch milliseconds, uniform over ``days`` days (06–20 h Beijing when ``day_hours``)."""
    base = int(start.timestamp() * 1000)
    day = rng.integers(0, days, n) * 86_400_000
    if day_hours:
        within = rng.integers(6 * 3_600_000, 20 * 3_600_000, n)
    else:
        within = rng.integers(0, 86_400_000, n)
    return base + day + within


def _ids(prefix: str, start: int, n: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(start, start + n)]


def seed(data_dir: Path, readings: int, seed_: int = 7) -> dict[str, int]:
    import pyarrow as pa

    from core.isoweek import IsoWeek
    from core.registry import default_registry
    from core.timeutil import utcnow
    from streams.warehouse.client import connect
    from streams.warehouse.migrator import migrate

    rng = np.random.default_rng(seed_)
    reg = default_registry()
    client = connect(f"chdb://{(data_dir / 'warehouse').resolve()}", "emw")
    migrate(client)
    week = IsoWeek.last_full(utcnow())
    end = week.end  # Beijing-aware: the month ends with the last full week
    days = 30
    start = end - timedelta(days=days)
    ms = pa.timestamp("ms", tz="UTC")
    counts: dict[str, int] = {}

    def put(table: str, cols: dict[str, object]) -> None:
        t = pa.table(cols)
        client.insert_arrow(table, t)
        counts[table] = counts.get(table, 0) + t.num_rows

    # OBD samples
    vins = np.array([v.vin for v in reg.obd_vehicles])
    vjur = np.array([v.jurisdiction for v in reg.obd_vehicles])
    vfleet = np.array([v.fleet for v in reg.obd_vehicles])
    n_obd = int(readings * 0.8)
    for off in range(0, n_obd, CHUNK):
        n = min(CHUNK, n_obd - off)
        k = rng.integers(0, len(vins), n)
        put(
            "obd_sample",
            {
                "event_id": pa.array(_ids("o", off, n)),
                "ts": pa.array(_ts(rng, n, start, days, True), ms),
                "vin": pa.array(vins[k]),
                "jurisdiction": pa.array(vjur[k]),
                "fleet": pa.array(vfleet[k]),
                "rpm": pa.array(rng.uniform(600, 2200, n)),
            },
        )
    # RSD passes
    sites = np.array([s.id for s in reg.rsd_sites])
    sjur = np.array([s.jurisdiction for s in reg.rsd_sites])
    plates = np.array([f"沪{chr(65 + i % 26)}{i:05d}" for i in range(20_000)])
    n_rsd = int(readings * 0.08)
    for off in range(0, n_rsd, CHUNK):
        n = min(CHUNK, n_rsd - off)
        k = rng.integers(0, len(sites), n)
        put(
            "rsd_pass",
            {
                "event_id": pa.array(_ids("r", off, n)),
                "ts": pa.array(_ts(rng, n, start, days, True), ms),
                "site_id": pa.array(sites[k]),
                "jurisdiction": pa.array(sjur[k]),
                "plate": pa.array(plates[rng.integers(0, len(plates), n)]),
                "valid": pa.array(rng.random(n) < 0.85),
            },
        )
    # smoke captures
    cams = np.array([c.id for c in reg.cameras])
    cjur = np.array([c.jurisdiction for c in reg.cameras])
    n_cap = int(readings * 0.02)
    k = rng.integers(0, len(cams), n_cap)
    put(
        "smoke_capture",
        {
            "event_id": pa.array(_ids("c", 0, n_cap)),
            "ts": pa.array(_ts(rng, n_cap, start, days, True), ms),
            "camera_id": pa.array(cams[k]),
            "jurisdiction": pa.array(cjur[k]),
            "plate": pa.array(plates[rng.integers(0, len(plates), n_cap)]),
            "calibration_status": pa.array(np.where(rng.random(n_cap) < 0.97, "valid", "overdue")),
            "grade": pa.array(rng.uniform(0, 3, n_cap)),
        },
    )
    # station packets
    st_ids = np.array([s.id for s in reg.stations])
    st_jur = np.array([s.jurisdiction for s in reg.stations])
    n_pk = readings - n_obd - n_rsd - n_cap
    for off in range(0, n_pk, CHUNK):
        n = min(CHUNK, n_pk - off)
        k = rng.integers(0, len(st_ids), n)
        put(
            "vapor_packet",
            {
                "event_id": pa.array(_ids("p", off, n)),
                "ts": pa.array(_ts(rng, n, start, days, False), ms),
                "received_at": pa.array(_ts(rng, n, start, days, False), ms),
                "unit_id": pa.array(st_ids[k]),
                "unit_kind": pa.array(np.full(n, "station")),
                "jurisdiction": pa.array(st_jur[k]),
            },
        )
    # exceedances: long-tailed plates so that some vehicles come back, in several jurisdictions
    n_exc = 3000 * days
    src = rng.choice(
        ["remote_sensing", "smoke_capture", "obd_gateway", "fuel_vapor"],
        n_exc,
        p=[0.45, 0.15, 0.3, 0.1],
    )
    rule = np.select(
        [src == "remote_sensing", src == "smoke_capture", src == "obd_gateway"],
        [
            rng.choice(["RS-D-NO", "RS-G-CO", "RS-D-OPA", "RS-VALID"], n_exc),
            np.full(n_exc, "BS-SCREEN"),
            rng.choice(["OBD-SCR", "OBD-OFFLINE", "OBD-MIL", "OBD-GAP"], n_exc),
        ],
        rng.choice(["FV-AL-DAY", "FV-ZP", "FV-PV"], n_exc),
    )
    zipf = np.minimum(rng.zipf(1.6, n_exc), len(plates)) - 1
    subject = np.where(
        src == "obd_gateway",
        vins[rng.integers(0, len(vins), n_exc)],
        np.where(src == "fuel_vapor", st_ids[rng.integers(0, len(st_ids), n_exc)], plates[zipf]),
    )
    put(
        "exceedance",
        {
            "event_id": pa.array(_ids("x", 0, n_exc)),
            "ts": pa.array(_ts(rng, n_exc, start, days, False), ms),
            "source": pa.array(src),
            "subject_kind": pa.array(np.where(src == "fuel_vapor", "station", "vehicle")),
            "subject_id": pa.array(subject),
            "jurisdiction": pa.array(rng.choice(["qingpu", "wujiang", "jiashan"], n_exc)),
            "rule_id": pa.array(rule),
            "severity": pa.array(
                rng.choice(["info", "notice", "warning", "alarm"], n_exc, p=[0.2, 0.5, 0.2, 0.1])
            ),
            "provisional": pa.array(np.zeros(n_exc, dtype=bool)),
        },
    )
    # daily nozzle states with streaks
    rows = {
        "event_id": [],
        "ts": [],
        "day": [],
        "station_id": [],
        "nozzle": [],
        "jurisdiction": [],
        "state": [],
        "streak": [],
        "level": [],
    }
    for s in reg.stations:
        for nz in s.nozzles:
            streak = 0
            for d in range(days):
                day = (start + timedelta(days=d)).date()
                exceed = rng.random() < (0.35 if nz.number == 1 else 0.05)
                streak = streak + 1 if exceed else 0
                rows["event_id"].append(f"nd{s.id}{nz.number}{d}")
                rows["ts"].append(datetime(day.year, day.month, day.day, tzinfo=UTC))
                rows["day"].append(day)
                rows["station_id"].append(s.id)
                rows["nozzle"].append(nz.number)
                rows["jurisdiction"].append(s.jurisdiction)
                rows["state"].append("exceed" if exceed else "pass")
                rows["streak"].append(streak)
                rows["level"].append("alarm" if streak >= 5 else "warning" if streak else "normal")
    put("vapor_nozzle_day", {k: pa.array(v) for k, v in rows.items()})
    counts["readings"] = readings
    counts["week"] = str(week)  # type: ignore[assignment]
    return counts


_CHILD = """
import json, resource, sys, time
t0 = time.perf_counter()
from streams.cli import main
rc = main(sys.argv[1:])
print(json.dumps({"rc": rc, "s": time.perf_counter() - t0,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def report_run(data_dir: Path, fmt: str, level: str = "zone") -> dict[str, float]:
    out = data_dir / f"out-{fmt.replace(',', '-')}"
    env = {**os.environ, "PYTHONPATH": str(REPO), "EMW_DATA_DIR": str(data_dir)}
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _CHILD,
            "report",
            "weekly",
            "--jurisdiction",
            level,
            "--format",
            fmt,
            "-o",
            str(out),
            "-q",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "{}"
    res = json.loads(last)
    if res.get("rc") != 0:
        raise SystemExit(f"report failed: {proc.stderr.strip()[-2000:]}")
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--readings", type=int, default=10_000_000)
    ap.add_argument("--keep", help="seed into this folder and keep it (default: a temporary one)")
    ap.add_argument("--reuse", action="store_true", help="with --keep: reuse the data seeded there")
    ap.add_argument("--seed-only", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.seed_only:
        print(json.dumps(seed(Path(a.seed_only), a.readings)))
        return
    data_dir = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="emw-bench-report-"))
    t0 = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    seeded = data_dir / "seeded.json"
    if a.reuse and seeded.is_file():
        counts = json.loads(seeded.read_text())
        print(f"reusing {counts['readings']:,} readings seeded in {data_dir}")
    else:
        proc = subprocess.run(
            [sys.executable, __file__, "--seed-only", str(data_dir), "--readings", str(a.readings)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if proc.returncode:
            raise SystemExit(proc.stderr[-2000:])
        counts = json.loads(proc.stdout.strip().splitlines()[-1])
        seeded.write_text(json.dumps(counts))
        print(f"seeded {a.readings:,} readings in {time.perf_counter() - t0:.1f} s: {counts}")
    print(
        f"week {counts['week']} (the last full week of the seeded month), zone, on {os.cpu_count()} CPUs"
    )
    for fmt in ("html,pdf,xlsx", "html", "pdf", "xlsx"):
        r = report_run(data_dir, fmt)
        print(
            f"  zone {fmt:<14} {r['s']:6.1f} s   peak RSS {r['rss_mb']:7.0f} MB   (anchor: < 30 s per format)"
        )
    r = report_run(data_dir, "html,pdf,xlsx", "qingpu")
    print(f"  qingpu {'html,pdf,xlsx':<12} {r['s']:6.1f} s   peak RSS {r['rss_mb']:7.0f} MB")
    print(f"data kept in {data_dir}" if a.keep else "")


if __name__ == "__main__":
    main()

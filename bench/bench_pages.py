"""Benchmark: first and warm page load of every dashboard page in a real browser (headless
Chromium driven by Playwright), against the embedded platform with its simulators running.
Prints figures beside the issue-13 targets; asserts nothing. Optionally saves one screenshot per
page (``--screenshots docs/screenshots``).

What is measured per page: from navigation start until the page's title (``h1``) is shown and
the page's script run has finished (the app root's ``data-test-script-state`` is ``notRunning``,
no status widget) — what a user waits for.
"first" = the page's first load in a fresh browser context, just logged in through the login form
as this run's administrator (the login itself is not timed); "warm" = the same page loaded again
in that context a moment later.

Data: ``emwatch run`` on a fresh data directory with the bundled simulators for ``--warmup-s``
seconds (``--sim-scale`` multiplies fleets and rates), ``--data-dir`` of an existing embedded
warehouse, or ``--seed-scale S``: a month seeded by ``emwatch seed`` (made once and kept under
``$TMPDIR/emw-bench-seeded``, ``bench/seeded.py``; 1.0 ≈ 10 M readings), which is what the issue's
target is stated for. On seeded data the simulators stay off, the weekly-report scheduler too, the
seeded fleet is the registry, and the vehicle page opens the plate with the most records.
On an existing data directory the station page opens the station with the most fuellings and
the sensor page the sensor with the most readings. The
figures printed say which data they were taken on.

Also printed: the CPU seconds the platform process (Streamlit, the pages' scripts, the queries)
spent per load, median (read from ``/proc``; the steadier figure on a shared machine, where wall
time mostly measures the wait for a core), and each page's cold import time (the modules its file imports, in a fresh interpreter),
which the server pays once, at a page's first visit after start. And the CPU seconds the browser
(Chromium's processes, the Playwright driver) spent per load, median: the front end's share.

Needs: the ``playwright`` package (``pip install playwright``; no browser download: it drives the
Chromium given by ``--chromium``, default ``chromium`` on the PATH).

Usage: python bench/bench_pages.py [--warmup-s 60] [--runs 3] [--screenshots docs/screenshots]
       python bench/bench_pages.py --seed-scale 1 --pages triage_queue vehicle_profile ...
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_FIRST_S, TARGET_WARM_S = 2.0, 1.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pages() -> list[str]:
    return sorted(
        p.stem for p in (REPO / "dashboards" / "views").glob("*.py") if not p.name.startswith("_")
    )


ADMIN_USER = "admin"
ADMIN_PASSWORD = secrets.token_urlsafe(16)  # this run's administrator (printed nowhere)


def _admin_password(data_dir: Path) -> str:
    """The bench administrator's password for ``data_dir``: the platform creates the administrator
    once per data directory, so a directory measured before keeps the password of its first run
    (kept beside the data, never printed); a fresh directory gets this run's."""
    keep = data_dir / "bench-admin.secret"
    try:
        return keep.read_text(encoding="utf-8").strip()
    except OSError:
        data_dir.mkdir(parents=True, exist_ok=True)
        keep.write_text(ADMIN_PASSWORD, encoding="utf-8")
        keep.chmod(0o600)
        return ADMIN_PASSWORD


PASSWORD = [ADMIN_PASSWORD]  # the password of the data directory being measured


def _start(
    data_dir: Path, port: int, sim_scale: float, simulate: bool, registry: Path | None = None
) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    if registry is not None:
        env["EMW_REGISTRY_DIR"] = str(registry)
    PASSWORD[0] = _admin_password(data_dir)
    env.update(
        {
            "EMW_ADMIN_USER": ADMIN_USER,
            "EMW_ADMIN_PASSWORD": _admin_password(data_dir),
            "EMW_DATA_DIR": str(data_dir),
            "EMW_DASHBOARD_PORT": str(port),
            "EMW_OBD_PORT": str(_free_port()),
            "EMW_HJ212_PORT": str(_free_port()),
            "EMW_RSD_PORT": str(_free_port()),
            "EMW_SIMULATE": "true" if simulate else "false",
            "EMW_SIM_SCALE": str(sim_scale),
            "EMW_LOG_LEVEL": "WARNING",
            "EMW_REPORT_SCHEDULE": "true" if simulate else "false",
            "PYTHONPATH": str(REPO),
        }
    )
    cmd = [sys.executable, "-m", "streams.cli", "run"]
    return subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def _wait_running(
    port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = 180.0
) -> dict[str, object]:
    """The platform's status once it answers; fails at once, with its last words, if it exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise RuntimeError(f"the platform exited ({proc.returncode}): {err[-2000:]}")
        with (
            contextlib.suppress(OSError, ValueError),
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2) as r,
        ):
            if r.status == 200:
                return dict(json.loads(r.read()))
        time.sleep(1.0)
    raise TimeoutError(f"the platform did not answer on port {port} within {timeout:.0f} s")


def import_times(stems: list[str]) -> dict[str, float]:
    """Seconds to import each page file's modules in a fresh interpreter (what a server pays at a
    page's first visit after start; later visits find them in ``sys.modules``)."""
    import ast

    out: dict[str, float] = {}
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    base = "import time, streamlit, dashboards.widgets, dashboards.data; t = time.perf_counter(); "
    for stem in stems:
        tree = ast.parse((REPO / "dashboards" / "views" / f"{stem}.py").read_text(encoding="utf-8"))
        mods = sorted(
            {
                (n.module if isinstance(n, ast.ImportFrom) else a.name)
                for n in tree.body
                if isinstance(n, ast.Import | ast.ImportFrom)
                for a in n.names
                if not (isinstance(n, ast.ImportFrom) and n.module == "__future__")
            }
            - {None}
        )
        code = base + "".join(f"import {m}; " for m in mods) + "print(time.perf_counter() - t)"
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
        )
        if done.returncode == 0:
            out[stem] = float(done.stdout.strip().splitlines()[-1])
    return out


def _busy_station(data_dir: Path) -> str:
    """The station with the most fuellings in an existing data directory ("" when none), so the
    station page is measured with data (the first station may have none); read in a child
    process, before the platform takes the chDB directory."""
    return _busiest(data_dir, "vapor_fuelling", "station_id")


def _busy_sensor(data_dir: Path) -> str:
    """The ambient / groundwater sensor with the most readings ("" when none), for the sensor
    page (the first sensor may have none)."""
    return _busiest(data_dir, "vapor_sensor_reading", "sensor_id")


def _busiest(data_dir: Path, table: str, column: str) -> str:
    code = (
        "import sys; from streams.warehouse.client import connect; "
        "c = connect('chdb://' + sys.argv[1] + '/warehouse', 'emw', create=False); "
        "t, k = sys.argv[2], sys.argv[3]; "
        "r = c.query(f'SELECT {k} FROM {t} GROUP BY {k} "
        "ORDER BY count() DESC, {k} LIMIT 1').result_rows; print(r[0][0] if r else '')"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", code, str(data_dir), table, column],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = done.stdout.strip().splitlines()
    return lines[-1].strip() if done.returncode == 0 and lines else ""


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process and its threads so far (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _browser_cpu_s(server_pid: int) -> float:
    """CPU seconds so far of the browser: every live process descended from this one (the
    Playwright driver, Chromium and its renderer and GPU processes), the platform's excluded.
    Read before and after a load, the difference is what the front end cost there, a steadier
    figure than wall time on a shared machine (Linux ``/proc``; 0 elsewhere)."""
    parent: dict[int, int] = {}
    cpu: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        parent[pid] = int(fields[1])
        cpu[pid] = (int(fields[11]) + int(fields[12])) / tick
    me, total = os.getpid(), 0.0
    for pid, value in cpu.items():
        p, seen = pid, 0
        while p not in (0, 1, me, server_pid) and seen < 64:
            p, seen = parent.get(p, 0), seen + 1
        if p == me and pid != me:
            total += value
    return total


def _load(page: object, url: str, timeout_ms: int = 240000) -> float:
    t0 = time.perf_counter()
    page.goto(url, wait_until="domcontentloaded", timeout=timeout_ms)  # type: ignore[attr-defined]
    page.wait_for_selector("h1", timeout=timeout_ms)  # type: ignore[attr-defined]
    page.wait_for_function(SCRIPT_DONE, timeout=timeout_ms)  # type: ignore[attr-defined]
    return time.perf_counter() - t0


# the page's script run has finished (the app root says "notRunning" only after a run: "initial"
# before it) and no status widget shows; waiting for the title alone could stop while the rest of
# a long page was still arriving, and its cost then fell on the next load
SCRIPT_DONE = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return app !== null && app.getAttribute('data-test-script-state') === 'notRunning'
    && !document.querySelector('[data-testid="stStatusWidget"]');
}"""


def _login(page: object, base: str, timeout_ms: int = 240000) -> None:
    """Log in through the page's form (the session cookie then serves every page of the context)."""
    page.goto(base + "/", wait_until="domcontentloaded", timeout=timeout_ms)  # type: ignore[attr-defined]
    page.get_by_label("用户名").fill(ADMIN_USER)  # type: ignore[attr-defined]
    page.get_by_label("密码").fill(PASSWORD[0])  # type: ignore[attr-defined]
    page.get_by_role("button", name="登录").click()  # type: ignore[attr-defined]
    page.wait_for_selector(  # type: ignore[attr-defined]
        '[data-testid="stSidebarNav"]', state="attached", timeout=timeout_ms
    )


def _shrink(path: Path) -> None:
    """Quantise a screenshot to 256 colours (a few hundred kB instead of a few MB)."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as img:
        img.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(
            path, optimize=True
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--data-dir", type=Path, help="existing embedded data directory (default: a fresh one)"
    )
    ap.add_argument(
        "--warmup-s", type=float, default=60.0, help="simulated traffic before measuring"
    )
    ap.add_argument("--sim-scale", type=float, default=1.0)
    ap.add_argument(
        "--seed-scale",
        type=float,
        help="a month seeded by `emwatch seed` at this scale (bench/seeded.py; 1.0 ≈ 10 M readings)",
    )
    ap.add_argument("--seed-timeout", type=float, default=3600.0)
    ap.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pages", nargs="*", help="page file stems (default: every page)")
    ap.add_argument("--screenshots", type=Path, help="save one PNG per page into this folder")
    ap.add_argument("--settle-ms", type=int, default=1500, help="wait before a screenshot")
    ap.add_argument("--width", type=int, default=1400)
    ap.add_argument("--height", type=int, default=1600)
    ap.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    ap.add_argument(
        "--vin", help="vehicle for the vehicle page (default: the registry's first OBD vehicle)"
    )
    args = ap.parse_args()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print(
            "bench_pages: skipped, the playwright package is not installed (pip install playwright)"
        )
        return 0
    if not Path(args.chromium).exists() and shutil.which(args.chromium) is None:
        print(f"bench_pages: skipped, no Chromium at {args.chromium!r} (apt-get install chromium)")
        return 0

    tmp = None
    data_dir = args.data_dir
    plates: list[str] = []
    if args.seed_scale:
        from bench.seeded import busy_vehicles_of, seeded_dir

        data_dir = seeded_dir(args.seed_scale, timeout_s=args.seed_timeout)
        args.data_dir = data_dir
        args.warmup_s = 0.0
        plates = busy_vehicles_of(data_dir, 1)
    station = _busy_station(data_dir) if data_dir is not None and data_dir.is_dir() else ""
    sensor = _busy_sensor(data_dir) if data_dir is not None and data_dir.is_dir() else ""
    registry = data_dir / "registry" if data_dir is not None else None
    if data_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="emw-bench-pages-")
        data_dir = Path(tmp.name)
    port = _free_port()
    pages = args.pages or _pages()
    imports = import_times(pages)
    proc = _start(
        data_dir,
        port,
        args.sim_scale,
        simulate=args.data_dir is None or args.warmup_s > 0,
        registry=registry if registry is not None and registry.is_dir() else None,
    )
    results: dict[str, tuple[list[float], list[float]]] = {}
    server_cpu: dict[str, tuple[list[float], list[float]]] = {}  # the platform's CPU per load
    browser_cpu: dict[str, tuple[list[float], list[float]]] = {}  # Chromium's CPU per load
    try:
        status = _wait_running(port, proc)
        time.sleep(args.warmup_s)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=5) as r:
            status = json.loads(r.read())
        written = status.get("sink", {}).get("written", 0) if isinstance(status, dict) else 0
        base = f"http://127.0.0.1:{port}"
        from core.registry import default_registry

        vin = args.vin or default_registry().obd_vehicles[0].vin
        query = {
            "vehicle_profile": f"?plate={plates[0]}" if plates and not args.vin else f"?vin={vin}",
            "vapor_station": f"?station={station}" if station else "",
            "vapor_sensors": f"?sensor={sensor}" if sensor else "",
        }
        paths = {"triage_queue": ""}  # the default page lives at the root
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
            # one unmeasured visit of the root first: the entry script registers the navigation
            # (until it has run once, Streamlit serves files of pages/ directly, without it)
            warm = browser.new_context()
            _login(warm.new_page(), base)
            warm.close()
            for stem in pages:
                firsts, warms = [], []
                cpu_first, cpu_warm = [], []
                b_first, b_warm = [], []
                for run in range(args.runs):
                    ctx = browser.new_context(
                        viewport={"width": args.width, "height": args.height}, locale="zh-CN"
                    )
                    page = ctx.new_page()
                    _login(page, base)  # not timed: a fresh logged-in session per run
                    url = f"{base}/{paths.get(stem, stem)}{query.get(stem, '')}"
                    c0, b0 = _cpu_s(proc.pid), _browser_cpu_s(proc.pid)
                    firsts.append(_load(page, url))
                    c1, b1 = _cpu_s(proc.pid), _browser_cpu_s(proc.pid)
                    warms.append(_load(page, url))
                    cpu_first.append(c1 - c0)
                    cpu_warm.append(_cpu_s(proc.pid) - c1)
                    b_first.append(b1 - b0)
                    b_warm.append(_browser_cpu_s(proc.pid) - b1)
                    if args.screenshots and run == args.runs - 1:
                        args.screenshots.mkdir(parents=True, exist_ok=True)
                        page.wait_for_timeout(
                            args.settle_ms
                        )  # charts and tables draw after the script
                        out = args.screenshots / f"{stem}.png"
                        page.screenshot(path=str(out), full_page=True)
                        _shrink(out)
                    ctx.close()
                results[stem] = (firsts, warms)
                server_cpu[stem] = (cpu_first, cpu_warm)
                browser_cpu[stem] = (b_first, b_warm)
                if args.screenshots and stem == "field_check":  # the officers' phones
                    phone = browser.new_context(
                        viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True
                    )
                    page = phone.new_page()
                    _login(page, base)
                    _load(page, f"{base}/{stem}")
                    page.wait_for_timeout(1000)
                    out = args.screenshots / f"{stem}_phone.png"
                    page.screenshot(path=str(out))
                    _shrink(out)
                    phone.close()
            browser.close()
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        if tmp is not None:
            tmp.cleanup()

    print(f"# bench_pages: {len(results)} pages, {args.runs} runs each, headless Chromium")
    print(
        f"# data: {'existing ' + str(args.data_dir) if args.data_dir else 'fresh'}; simulators "
        f"{args.warmup_s:.0f} s at scale {args.sim_scale}; {written:,} events written before measuring"
    )
    if plates:
        print(f"# vehicle page: plate {plates[0]} (the most records)")
    if station:
        print(f"# station page: {station} (the most fuellings)")
    if sensor:
        print(f"# sensor page: {sensor} (the most readings)")
    print(
        f"{'page':<22} {'first median s':>15} {'first max s':>12} {'warm median s':>14} "
        f"{'warm max s':>11} {'import s':>9} {'server CPU s first':>19} {'warm':>6}"
        f" {'browser CPU s first':>20} {'warm':>6}"
    )
    for stem, (firsts, warms) in results.items():
        print(
            f"{stem:<22} {statistics.median(firsts):>15.2f} {max(firsts):>12.2f} "
            f"{statistics.median(warms):>14.2f} {max(warms):>11.2f} {imports.get(stem, float('nan')):>9.2f}"
            f" {statistics.median(server_cpu[stem][0]):>19.2f} {statistics.median(server_cpu[stem][1]):>6.2f}"
            f" {statistics.median(browser_cpu[stem][0]):>20.2f} {statistics.median(browser_cpu[stem][1]):>6.2f}"
        )
    print(
        f"# load average after: {', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs"
    )
    print(
        f"# anchor (issue 13): first load < {TARGET_FIRST_S:.0f} s, warm < {TARGET_WARM_S:.0f} s "
        "with a month of the zone's data"
    )
    if args.json:
        print(
            json.dumps(
                {
                    "data": str(args.data_dir or "fresh"),
                    "pages": {
                        stem: {
                            "first_median_s": statistics.median(f),
                            "first_max_s": max(f),
                            "warm_median_s": statistics.median(w),
                            "warm_max_s": max(w),
                            "import_s": imports.get(stem),
                            "server_cpu_first_s": statistics.median(server_cpu[stem][0]),
                            "server_cpu_warm_s": statistics.median(server_cpu[stem][1]),
                            "browser_cpu_first_s": statistics.median(browser_cpu[stem][0]),
                            "browser_cpu_warm_s": statistics.median(browser_cpu[stem][1]),
                        }
                        for stem, (f, w) in results.items()
                    },
                }
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

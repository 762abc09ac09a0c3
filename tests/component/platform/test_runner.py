"""The embedded runner end to end, as a user runs it: start, serve, refuse a second owner of the
warehouse, stop on SIGTERM with everything flushed to disk."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.component, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status(port: int, token: str | None = None, path: str = "/api/status") -> dict | None:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=2) as r:
            return json.loads(r.read())
    except OSError:
        return None


def _http_code(port: int, path: str, token: str | None = None, body: dict | None = None) -> int:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _login(port: int, name: str, password: str) -> str:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/login",
        data=json.dumps({"name": name, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        assert "emw_session=" in r.headers.get("Set-Cookie", "")
        return json.loads(r.read())["token"]


def _env(data_dir: Path, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        EMW_DATA_DIR=str(data_dir),
        EMW_DASHBOARD_PORT=str(port),
        EMW_OBD_PORT=str(_free_port()),
        EMW_HJ212_PORT=str(_free_port()),
        EMW_RSD_PORT=str(_free_port()),
        EMW_SIM_SCALE="0.2",
        EMW_METRICS_INTERVAL_S="1",
        PYTHONUNBUFFERED="1",
    )
    return env


def _count_rows(data_dir: Path) -> int:
    """Count stored rows from a fresh process (a chDB directory belongs to one process)."""
    code = (
        "import sys; from streams.warehouse.client import connect; "
        f"c = connect('chdb://{data_dir / 'warehouse'}', 'emw', create=False); "
        "print(c.query('SELECT sum(rows) FROM ingest_log').result_rows[0][0])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return int(out.stdout.strip().splitlines()[-1] or 0)


def test_run_serve_refuse_second_owner_and_flush_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    env = _env(tmp_path, port)
    proc = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        st = None
        while time.monotonic() < deadline:
            st = _status(port)
            if st and st.get("state") == "running":
                break
            assert proc.poll() is None, proc.stdout.read()[-3000:]
            time.sleep(0.5)
        assert st and st["state"] == "running", "runner did not come up in 120 s"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert r.status == 200  # the dashboards answer
        # the public status names no device, station, camera or vehicle
        assert set(st) == {"state", "sink_healthy", "backpressure", "events_by_kind"}
        assert not any(x in json.dumps(st) for x in ("ST-0", "RSD-", "CAM-", "LGD", "tcp://"))
        # the first administrator's random password is printed once; the detail needs a login
        assert _http_code(port, "/api/status/detail") == 401
        assert _http_code(port, "/api/deadletter") == 401
        assert _http_code(port, "/api/login", body={"name": "admin", "password": "x" * 12}) == 401
        banner = ""
        while "Log in" not in banner:  # the banner is printed once the pipeline has started
            line = proc.stdout.readline()
            assert line, f"runner output ended without a login hint: {banner[-2000:]}"
            banner += line
        password = banner.split("with password ")[1].split()[0]
        token = _login(port, "admin", password)
        assert _http_code(port, "/api/status/detail", token) == 200
        assert _http_code(port, "/api/status/detail", token[:-3] + "abc") == 401  # tampered
        subprocess.run(
            [
                sys.executable,
                "-m",
                "streams.cli",
                "users",
                "add",
                "li",
                "--role",
                "officer",
                "--jurisdiction",
                "qingpu",
            ],
            env=env,
            input="officer-password-1\n",
            text=True,
            timeout=60,
            check=True,
        )
        officer = _login(port, "li", "officer-password-1")
        assert _http_code(port, "/api/status/detail", officer) == 403  # outside its scope
        assert _http_code(port, "/api/deadletter", officer) == 403
        # the enforcement API: a login is needed, the officer sees its own scope
        assert _http_code(port, "/api/v1/cases") == 401
        assert _http_code(port, "/api/v1/cases", officer) == 200
        assert _http_code(port, "/api/v1/cases/NO-SUCH/evidence", officer) in (403, 404)
        st = _status(port, token, "/api/status/detail") or st

        # a second owner of the same data directory is refused at once, with one line
        second = subprocess.run(
            [sys.executable, "-m", "streams.cli", "run"],
            env=_env(tmp_path, _free_port()),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 2
        assert "open in another process" in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1

        # with demo traffic on, data flows: wait until the sink has written something
        written = 0
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and st and st["services"]:
            st = _status(port, token, "/api/status/detail") or st
            written = st["sink"]["written"]
            if written > 0:
                break
            time.sleep(1)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode in (0, -signal.SIGTERM), out[-3000:]
    assert "Stopped." in out, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    assert password not in out  # printed once, before this point, never again
    reported = int(out.split("Stopped. ")[1].split(" events")[0].replace(",", ""))
    if st and st["services"]:
        assert reported > 0, "demo traffic produced no stored events"
    # everything the runner reported as written is on disk after exit
    assert _count_rows(tmp_path) >= reported

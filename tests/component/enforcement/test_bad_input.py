"""Bad input per issue 12: an action not allowed in the case's state, a dismissal without reason, an
unknown case, plate or VIN, a malformed plate or VIN, a field-check value out of range — a clear
message (API 4xx with a reason, CLI one line on stderr and exit 2) and nothing changed; a tampered
evidence file and log entry — ``evidence verify`` exits 1 naming each mismatch."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from core.ids import with_check_digit
from streams.pipeline import Pipeline

from .test_api import Harness, exceedances
from .test_cli import REPO, SEED, emwatch

pytestmark = pytest.mark.component

UNKNOWN_VIN = with_check_digit("LGDCHA1G0MA999999")


async def test_api_refuses_bad_input_and_changes_nothing(pipeline: Pipeline) -> None:
    _, _, exs = exceedances(pipeline.ruleset, pipeline.registry)
    await pipeline.publish(exs)
    await pipeline.settle()
    h = Harness(pipeline, asyncio.get_running_loop())
    case = (await h.get("/api/v1/cases")).json()["cases"][0]
    cid, v = case["case_id"], case["version"]
    act = f"/api/v1/cases/{cid}/actions"

    async def refused(path: str, body: Any, status: int, says: str) -> None:
        r = await (h.post(path, body) if body is not None else h.get(path))
        assert r.status_code == status, (path, body, r.status_code, r.text)
        text = json.dumps(r.json(), ensure_ascii=False)
        assert says in text, (says, text)

    await refused(f"/api/v1/vehicles/{UNKNOWN_VIN}", None, 404, UNKNOWN_VIN)
    await refused("/api/v1/vehicles/LZYCHB3A3PH00000Z", None, 400, "check digit")
    await refused("/api/v1/vehicles/沪Z99999", None, 404, "沪Z99999")
    await refused("/api/v1/vehicles/ABC", None, 400, "plate")
    await refused("/api/v1/cases/QP-20260101-000000", None, 404, "QP-20260101-000000")
    await refused(act, {"action": "close", "actor": "张伟", "version": v}, 409, "transition")
    await refused(act, {"action": "dismiss", "actor": "张伟", "version": v}, 422, "reason")
    for payload, field in (
        ({"method": "ringelmann", "value": 6}, "value"),
        ({"method": "k", "value": -1}, "value"),
        ({"method": "obd_scan", "mil": "on"}, "mil"),
        ({"method": "sniff"}, "method"),
    ):
        body = {"action": "check", "actor": "王强", "version": v, "payload": payload}
        await refused(act, body, 422, field)
    after = (await h.get(f"/api/v1/cases/{cid}")).json()
    assert after["case"]["version"] == v and after["case"]["status"] == case["status"]
    assert all(e["entry"] in ("opened", "evidence", "rejected") for e in after["log"])


@pytest.mark.slow
def test_cli_refuses_bad_input_with_exit_2_and_verify_names_each_mismatch(tmp_path: Path) -> None:
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
    (case,) = json.loads(emwatch(data, "case", "list", "--json").stdout)["cases"]
    cid = case["case_id"]

    def refused(*args: str, says: str) -> None:
        r = emwatch(data, *args)
        assert r.returncode == 2, (args, r.returncode, r.stdout, r.stderr)
        assert says in r.stderr, (args, r.stderr)
        if args[0] != "case" or args[1] != "act" or "--payload" not in args:
            assert r.stderr.strip().count("\n") == 0, r.stderr  # one line

    refused("vehicle", "show", "沪Z99999", says="沪Z99999")
    refused("vehicle", "show", UNKNOWN_VIN, says=UNKNOWN_VIN)
    refused("case", "show", "QP-20260101-000000", says="QP-20260101-000000")
    refused("case", "list", "--status", "lost", says="status")
    refused("case", "act", cid, "close", "--as", "张伟", says="transition")
    payload = json.dumps({"method": "k", "value": 99})
    refused("case", "act", cid, "check", "--as", "王强", "--payload", payload, says="value")
    refused("case", "act", cid, "check", "--as", "王强", "--payload", "{not json", says="payload")
    show = json.loads(emwatch(data, "case", "show", cid, "--json").stdout)
    assert show["case"]["version"] == case["version"] and show["case"]["status"] == "new"

    archive = tmp_path / "case.zip"
    assert emwatch(data, "evidence", "export", cid, "-o", str(archive)).returncode == 0
    z = zipfile.ZipFile(archive)
    record = next(n for n in z.namelist() if n.startswith("files/records/"))

    def tamper(n: str, b: bytes) -> bytes:
        if n == record:
            return b.replace(b"1650", b"1450")
        if n == "log.jsonl":
            lines = b.decode().splitlines()
            e = json.loads(lines[0])
            e["actor"] = "someone else"
            lines[0] = json.dumps(e, ensure_ascii=False)
            return ("\n".join(lines) + "\n").encode()
        return b

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as w:
        for n in z.namelist():
            w.writestr(n, tamper(n, z.read(n)))
    bad = tmp_path / "tampered.zip"
    bad.write_bytes(out.getvalue())
    res = emwatch(data, "evidence", "verify", "--archive", str(bad))
    assert res.returncode == 1, (res.stdout, res.stderr)
    assert record in res.stdout and "entry 1" in res.stdout  # each mismatch named

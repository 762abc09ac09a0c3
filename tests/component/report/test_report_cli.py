"""``emwatch report weekly``: files for a week, and one line + exit 2 for bad input."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from streams.cli import main

pytestmark = pytest.mark.component


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--week", "2026-49"], "malformed week"),
        (["--week", "2026-W60"], "does not exist"),
        (["--week", "2099-W10"], "has not ended yet"),
        (["--jurisdiction", "songjiang"], "unknown jurisdiction 'songjiang'"),
        (["--format", "html,docx"], "unknown format docx"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path: Path, capsys) -> None:
    rc = main(
        [
            "report",
            "weekly",
            *args,
            "--data-dir",
            str(tmp_path / "var"),
            "-o",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "out").exists() and not (tmp_path / "var").exists()  # nothing changed


def test_writes_the_three_formats(chdb_dsn: str, tmp_path: Path, capsys, monkeypatch) -> None:
    # chDB allows one data directory per process: use the session's, with a database of our own
    monkeypatch.setenv("EMW_WAREHOUSE_DSN", chdb_dsn)
    monkeypatch.setenv("EMW_WAREHOUSE_DATABASE", f"report_cli_{uuid.uuid4().hex[:8]}")
    rc = main(
        [
            "report",
            "weekly",
            "--week",
            "2026-W40",
            "--jurisdiction",
            "wujiang",
            "--data-dir",
            str(tmp_path / "var"),
            "-o",
            str(tmp_path / "out"),
            "-q",
        ]
    )
    out, err = capsys.readouterr()
    assert rc == 0, err
    names = sorted(Path(p).name for p in out.split())
    assert names == [f"weekly-2026-W40-wujiang.{f}" for f in ("html", "pdf", "xlsx")]
    assert "no data for 2026-W40" in err
